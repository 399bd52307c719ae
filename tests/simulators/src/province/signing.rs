//! The platform's HMAC scheme (province-api.md, "Transport and authentication"), both ways: the
//! simulator verifies the gateway's requests and signs its own callbacks.
//!
//! Re-implemented here rather than imported from `services`: the simulator stands for the
//! outside world, and a shared implementation would hide a mistake both sides made together.
//! The known-answer test below uses the same vector as `services::province::signing`'s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

pub(crate) const APP_KEY: &str = "X-App-Key";
pub(crate) const TIMESTAMP: &str = "X-Timestamp";
pub(crate) const NONCE: &str = "X-Nonce";
pub(crate) const SIGNATURE: &str = "X-Signature";

const MAX_SKEW_MS: u64 = 300_000;
const NONCE_MEMORY: Duration = Duration::from_secs(600);
/// Below this many remembered nonces, sweeping old ones is not worth it.
const SWEEP_FLOOR: usize = 4096;

/// `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nNONCE\nhex(sha256(body))`.
pub(crate) fn canonical(
    method: &str,
    path_with_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{}\n{path_with_query}\n{ts}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        hex::encode(Sha256::digest(body))
    )
}

fn mac(secret: &str, canonical: &str) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(canonical.as_bytes());
    Some(mac)
}

/// Lowercase hex HMAC-SHA256 of the canonical string.
pub(crate) fn signature(secret: &str, canonical: &str) -> String {
    mac(secret, canonical)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// The four headers of a request signed now with a fresh nonce.
pub(crate) fn sign(
    key: &str,
    secret: &str,
    method: &str,
    path_with_query: &str,
    body: &[u8],
) -> [(&'static str, String); 4] {
    let mut random = [0u8; 18];
    rand::rng().fill_bytes(&mut random);
    let nonce = URL_SAFE_NO_PAD.encode(random);
    let ts = chrono::Utc::now().timestamp_millis();
    let sig = signature(
        secret,
        &canonical(method, path_with_query, ts, &nonce, body),
    );
    [
        (APP_KEY, key.to_owned()),
        (TIMESTAMP, ts.to_string()),
        (NONCE, nonce),
        (SIGNATURE, sig),
    ]
}

/// Why a request was refused: the contract's 401 codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    BadSignature,
    Stale,
    Replayed,
}

impl Refusal {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::BadSignature => "BAD_SIGNATURE",
            Self::Stale => "STALE_REQUEST",
            Self::Replayed => "REPLAYED_NONCE",
        }
    }
}

/// A received request: what was signed and the four headers.
pub(crate) struct Received<'a> {
    pub(crate) method: &'a str,
    pub(crate) path_with_query: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) app_key: Option<&'a str>,
    pub(crate) timestamp: Option<&'a str>,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) signature: Option<&'a str>,
}

/// Nonces seen in the last 600 s.
#[derive(Default)]
pub(crate) struct NonceMemory {
    seen: HashMap<String, Instant>,
    sweep_at: usize,
}

impl NonceMemory {
    /// Checks one request; the nonce is remembered only once the signature is good.
    pub(crate) fn verify(
        &mut self,
        key: &str,
        secret: &str,
        headers: &Received<'_>,
        now_ms: i64,
    ) -> Result<(), Refusal> {
        let (Some(app_key), Some(ts), Some(nonce), Some(sig)) = (
            headers.app_key,
            headers.timestamp,
            headers.nonce,
            headers.signature,
        ) else {
            return Err(Refusal::BadSignature);
        };
        if app_key != key || nonce.len() < 16 || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::BadSignature);
        }
        let ts: i64 = ts.parse().map_err(|_| Refusal::BadSignature)?;
        let sig = hex::decode(sig).map_err(|_| Refusal::BadSignature)?;
        let expected = mac(
            secret,
            &canonical(
                headers.method,
                headers.path_with_query,
                ts,
                nonce,
                headers.body,
            ),
        )
        .ok_or(Refusal::BadSignature)?;
        expected
            .verify_slice(&sig)
            .map_err(|_| Refusal::BadSignature)?;
        if now_ms.abs_diff(ts) > MAX_SKEW_MS {
            return Err(Refusal::Stale);
        }
        let now = Instant::now();
        if self.seen.len() >= self.sweep_at.max(SWEEP_FLOOR) {
            self.seen
                .retain(|_, at| now.duration_since(*at) < NONCE_MEMORY);
            self.sweep_at = self.seen.len() * 2;
        }
        match self.seen.get(nonce) {
            Some(at) if now.duration_since(*at) < NONCE_MEMORY => Err(Refusal::Replayed),
            _ => {
                self.seen.insert(nonce.to_owned(), now);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vector of services::province::signing's known-answer test, computed independently:
    // python3 -c "import hmac,hashlib;s=b'POST\n/gov/v1/applications?dryRun=1\n1700000000000\nAbCdEfGhIjKlMnOpQrStUvWx\n'+hashlib.sha256(b'{\"a\":1}').hexdigest().encode();print(hmac.new(b'test-secret',s,hashlib.sha256).hexdigest())"
    const VECTOR_SIGNATURE: &str =
        "59e263e5dca61f4cc5752c2b58f329aa15f7c3528ea499fc1450a1e71d1c98a6";
    const NONCE_V: &str = "AbCdEfGhIjKlMnOpQrStUvWx";
    const PATH: &str = "/gov/v1/applications?dryRun=1";
    const TS: i64 = 1_700_000_000_000;

    #[test]
    fn the_known_answer_vector_matches_the_gateways() {
        let c = canonical("post", PATH, TS, NONCE_V, br#"{"a":1}"#);
        assert_eq!(signature("test-secret", &c), VECTOR_SIGNATURE);
    }

    fn received<'a>(ts: &'a str, nonce: &'a str, sig: &'a str) -> Received<'a> {
        Received {
            method: "POST",
            path_with_query: PATH,
            body: br#"{"a":1}"#,
            app_key: Some("k"),
            timestamp: Some(ts),
            nonce: Some(nonce),
            signature: Some(sig),
        }
    }

    #[test]
    fn verification_refuses_bad_stale_and_replayed_requests() {
        let mut memory = NonceMemory::default();
        let ts = TS.to_string();
        let check = |m: &mut NonceMemory, sig: &str, now: i64| {
            m.verify("k", "test-secret", &received(&ts, NONCE_V, sig), now)
        };
        assert_eq!(
            check(&mut memory, &"0".repeat(64), TS),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            check(&mut memory, VECTOR_SIGNATURE, TS + 300_001),
            Err(Refusal::Stale)
        );
        assert_eq!(check(&mut memory, VECTOR_SIGNATURE, TS + 300_000), Ok(()));
        assert_eq!(
            check(&mut memory, VECTOR_SIGNATURE, TS),
            Err(Refusal::Replayed)
        );
    }

    #[test]
    fn what_sign_produces_verifies() {
        let mut memory = NonceMemory::default();
        let h = sign("k", "s", "GET", "/x?a=1", b"");
        let mut r = Received {
            method: "GET",
            path_with_query: "/x?a=1",
            body: b"",
            app_key: Some(&h[0].1),
            timestamp: Some(&h[1].1),
            nonce: Some(&h[2].1),
            signature: Some(&h[3].1),
        };
        let now = chrono::Utc::now().timestamp_millis();
        r.path_with_query = "/x?a=2";
        assert_eq!(memory.verify("k", "s", &r, now), Err(Refusal::BadSignature));
        r.path_with_query = "/x?a=1";
        assert_eq!(memory.verify("k", "s", &r, now), Ok(()));
        assert_eq!(memory.verify("k", "s", &r, now), Err(Refusal::Replayed));
    }
}
