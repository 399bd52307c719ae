//! Content security (reference/wechat.md §5): `msg_sec_check` v2 with the user's openid. Free
//! text from a citizen (an evaluation's comment) passes through it before anyone else sees it.

use serde::Deserialize;

use super::client::WechatClient;
use super::error::WechatError;

/// `scene` 2: a comment (评论).
pub const SCENE_COMMENT: u8 = 2;

/// WeChat's verdict on a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggest {
    /// Fit to show.
    Pass,
    /// Uncertain: a person decides before it is shown.
    Review,
    /// Not to be shown.
    Risky,
}

impl Suggest {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Review => "review",
            Self::Risky => "risky",
        }
    }
}

/// The verdict and its label (100 normal, 20001 politics, 20003 abuse …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub suggest: Suggest,
    pub label: i64,
}

#[derive(Deserialize)]
struct Answer {
    result: AnswerResult,
}

#[derive(Deserialize)]
struct AnswerResult {
    suggest: String,
    #[serde(default)]
    label: i64,
}

impl WechatClient {
    /// `POST /wxa/msg_sec_check` (v2): WeChat's verdict on `content` written by `openid` in
    /// `scene`.
    ///
    /// # Errors
    /// [`WechatError::Api`] with WeChat's errcode (40129 bad scene, 43104 an openid not of this
    /// app, the token errors after one refresh); busy and unreachable after the retries;
    /// [`WechatError::Malformed`] for a suggest WeChat does not document.
    #[tracing::instrument(skip_all, fields(scene))]
    pub async fn msg_sec_check(
        &self,
        openid: &str,
        scene: u8,
        content: &str,
    ) -> Result<Verdict, WechatError> {
        let body = serde_json::json!({
            "version": 2,
            "openid": openid,
            "scene": scene,
            "content": content,
        });
        let body = &body;
        // A question, not an action: safe to ask again.
        let answer: Answer = self
            .with_token(WechatError::is_transient, |token| async move {
                let request = self
                    .http()
                    .post(self.url("/wxa/msg_sec_check"))
                    .query(&[("access_token", token.as_str())])
                    .json(body);
                self.send("msg_sec_check", request).await
            })
            .await?;
        let suggest = match answer.result.suggest.as_str() {
            "pass" => Suggest::Pass,
            "review" => Suggest::Review,
            "risky" => Suggest::Risky,
            other => {
                return Err(WechatError::Malformed(format!(
                    "msg_sec_check suggest {other:?}"
                )));
            }
        };
        Ok(Verdict {
            suggest,
            label: answer.result.label,
        })
    }
}
