//! 人脸核身 2.0 (reference/wechat.md §8): `getverifyid` before the mini-program's
//! `wx.requestFacialVerify`, `queryverifyinfo` after it. The result is known only from the second
//! call, which WeChat answers with a non-zero `errcode` when the `cert_hash` or the `openid` is not
//! the one of the first.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::client::WechatClient;
use super::error::WechatError;

/// The only certificate type the gateway verifies: the resident identity card.
pub const IDENTITY_CARD: &str = "IDENTITY_CARD";

/// `verify_ret` of a passed verification.
pub const PASSED: i64 = 10000;

/// `cert_hash` (§8): standard base64 of each of `cert_type`, `cert_name` (UTF-8) and `cert_no`,
/// joined as `cert_type=…&cert_name=…&cert_no=…`, SHA-256, lower-case hex.
pub fn cert_hash(cert_type: &str, cert_name: &str, cert_no: &str) -> String {
    let joined = format!(
        "cert_type={}&cert_name={}&cert_no={}",
        STANDARD.encode(cert_type),
        STANDARD.encode(cert_name),
        STANDARD.encode(cert_no)
    );
    hex::encode(Sha256::digest(joined.as_bytes()))
}

/// What `getverifyid` hands back for `wx.requestFacialVerify`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VerifyId {
    pub verify_id: String,
    /// Seconds the verify_id lives (3600).
    pub expires_in: i64,
}

/// The person to verify, as the mini-program's user named them.
#[derive(Debug)]
pub struct CertInfo<'a> {
    pub cert_name: &'a str,
    pub cert_no: &'a str,
}

#[derive(Deserialize)]
struct VerifyInfoBody {
    verify_ret: i64,
}

impl WechatClient {
    /// `POST /cityservice/face/identify/getverifyid`: starts a face verification of `cert` by the
    /// user `openid` (who may verify someone else who is present: a family member).
    ///
    /// # Errors
    /// [`WechatError::Api`] with WeChat's errcode (an `out_seq_no` used before, an openid not of
    /// this app, the token errors after one refresh); busy and unreachable after the retries.
    #[tracing::instrument(skip_all, fields(out_seq_no))]
    pub async fn get_verify_id(
        &self,
        out_seq_no: &str,
        cert: &CertInfo<'_>,
        openid: &str,
    ) -> Result<VerifyId, WechatError> {
        let body = serde_json::json!({
            "out_seq_no": out_seq_no,
            "cert_info": {
                "cert_type": IDENTITY_CARD,
                "cert_name": cert.cert_name,
                "cert_no": cert.cert_no,
            },
            "openid": openid,
        });
        let body = &body;
        // Idempotent for WeChat: the same out_seq_no is answered, never charged twice.
        self.with_token(WechatError::is_transient, |token| async move {
            let request = self
                .http()
                .post(self.url("/cityservice/face/identify/getverifyid"))
                .query(&[("access_token", token.as_str())])
                .json(body);
            self.send("getverifyid", request).await
        })
        .await
    }

    /// `POST /cityservice/face/identify/queryverifyinfo`: the outcome of a verification, as
    /// `verify_ret` (10000 passed; see §8 for the others).
    ///
    /// # Errors
    /// [`WechatError::Api`] when WeChat refuses the question itself: a `cert_hash` or `openid`
    /// that is not step 1's, an unknown or expired verify_id, the token errors after one refresh;
    /// busy and unreachable after the retries.
    #[tracing::instrument(skip_all, fields(out_seq_no))]
    pub async fn query_verify_info(
        &self,
        verify_id: &str,
        out_seq_no: &str,
        cert_hash: &str,
        openid: &str,
    ) -> Result<i64, WechatError> {
        let body = serde_json::json!({
            "verify_id": verify_id,
            "out_seq_no": out_seq_no,
            "cert_hash": cert_hash,
            "openid": openid,
        });
        let body = &body;
        let answer: VerifyInfoBody = self
            .with_token(WechatError::is_transient, |token| async move {
                let request = self
                    .http()
                    .post(self.url("/cityservice/face/identify/queryverifyinfo"))
                    .query(&[("access_token", token.as_str())])
                    .json(body);
                self.send("queryverifyinfo", request).await
            })
            .await?;
        Ok(answer.verify_ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_hash_matches_the_documented_vector() {
        // reference/wechat.md §8.
        assert_eq!(
            cert_hash(IDENTITY_CARD, "张三", "310101199801011234"),
            "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
        );
    }

    #[test]
    fn cert_hash_depends_on_every_field() {
        let base = cert_hash(IDENTITY_CARD, "张三", "310101199801011234");
        assert_ne!(base, cert_hash(IDENTITY_CARD, "张四", "310101199801011234"));
        assert_ne!(base, cert_hash(IDENTITY_CARD, "张三", "310101199801011235"));
        assert_ne!(base, cert_hash("PASSPORT", "张三", "310101199801011234"));
    }
}
