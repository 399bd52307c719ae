//! Request signing for the provincial platform (province-api.md, "Transport and authentication"):
//! `X-Signature` = lowercase hex of HMAC-SHA256(app secret,
//! `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nNONCE\nhex(sha256(body))`), sent beside `X-App-Key`,
//! `X-Timestamp` (Unix milliseconds) and `X-Nonce`.
//!
//! The decision a reader needs: [`Verifier::verify`] records a nonce only once the signature is
//! good, so a forger cannot burn the nonces of requests still in flight; and neither a secret nor
//! an expected signature ever reaches `Debug` output or an error.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

pub const APP_KEY_HEADER: &str = "X-App-Key";
pub const TIMESTAMP_HEADER: &str = "X-Timestamp";
pub const NONCE_HEADER: &str = "X-Nonce";
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// 18 random bytes are 24 URL-safe base64 characters, no padding.
const NONCE_RANDOM_BYTES: usize = 18;
const MIN_NONCE_CHARS: usize = 16;
const MAX_NONCE_CHARS: usize = 64;
const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
const DEFAULT_NONCE_TTL: Duration = Duration::from_secs(600);

/// An app key and its secret. `Debug` shows the key and redacts the secret.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub app_key: String,
    pub app_secret: SecretString,
}

/// The four authentication headers of one signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub app_key: String,
    pub timestamp_ms: i64,
    pub nonce: String,
    pub signature: String,
}

impl SignedHeaders {
    /// The headers as `(name, value)` pairs, ready to put on a request.
    pub fn pairs(&self) -> [(&'static str, String); 4] {
        [
            (APP_KEY_HEADER, self.app_key.clone()),
            (TIMESTAMP_HEADER, self.timestamp_ms.to_string()),
            (NONCE_HEADER, self.nonce.clone()),
            (SIGNATURE_HEADER, self.signature.clone()),
        ]
    }
}

/// The string that is signed: `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nNONCE\nhex(sha256(body))`.
///
/// The method is upper-cased. `path_with_query` is used exactly as sent on the wire — path and
/// query string (`/gov/v1/items?page=2`), percent-encoding untouched, parameters in their order —
/// because the receiver sees only those bytes and cannot re-create any normalisation.
pub fn canonical_string(
    method: &str,
    path_with_query: &str,
    timestamp_ms: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{}\n{path_with_query}\n{timestamp_ms}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        hex::encode(Sha256::digest(body)),
    )
}

/// Signs one request at `now` with a fresh random nonce of 24 URL-safe characters.
pub fn sign(
    creds: &Credentials,
    method: &str,
    path_with_query: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> SignedHeaders {
    let mut random = [0u8; NONCE_RANDOM_BYTES];
    rand::rng().fill_bytes(&mut random);
    let nonce = URL_SAFE_NO_PAD.encode(random);
    sign_with_nonce(
        creds,
        method,
        path_with_query,
        body,
        now.timestamp_millis(),
        nonce,
    )
}

fn sign_with_nonce(
    creds: &Credentials,
    method: &str,
    path_with_query: &str,
    body: &[u8],
    timestamp_ms: i64,
    nonce: String,
) -> SignedHeaders {
    let canonical = canonical_string(method, path_with_query, timestamp_ms, &nonce, body);
    let mut mac = hmac_sha256(creds.app_secret.expose_secret().as_bytes());
    mac.update(canonical.as_bytes());
    SignedHeaders {
        app_key: creds.app_key.clone(),
        timestamp_ms,
        nonce,
        signature: hex::encode(mac.finalize().into_bytes()),
    }
}

/// The authentication headers of a received request, as the framework hands them over: `None`
/// when absent (or not valid text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderInput<'a> {
    pub app_key: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl<'a> HeaderInput<'a> {
    /// Reads the four headers through `get`, called with each header name
    /// (e.g. `|name| req.headers().get(name).and_then(|v| v.to_str().ok())`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self {
            app_key: get(APP_KEY_HEADER),
            timestamp: get(TIMESTAMP_HEADER),
            nonce: get(NONCE_HEADER),
            signature: get(SIGNATURE_HEADER),
        }
    }
}

/// Why a signed request was refused. No variant carries a secret or the expected signature.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The named header is absent.
    #[error("header {0} is missing")]
    Missing(&'static str),
    /// The named header is present but not of its form: a timestamp that is not a decimal
    /// integer, a nonce that is not 16 to 64 printable ASCII characters, a signature that is not
    /// 64 hex digits, an empty app key.
    #[error("header {0} is malformed")]
    Malformed(&'static str),
    /// No credentials are configured for this app key.
    #[error("unknown app key")]
    UnknownAppKey,
    /// The signature does not match the request under any secret of the app key.
    #[error("signature does not match")]
    BadSignature,
    /// The signature is good but the timestamp is further from now than the allowed skew.
    #[error("timestamp outside the allowed skew")]
    StaleRequest,
    /// The signature is good but this nonce was already used within the nonce window.
    #[error("nonce already used")]
    ReplayedNonce,
    /// The nonce cache could not be reached: unexpected, not the caller's fault.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VerifyError {
    /// The stable code for the 401 body (`BAD_SIGNATURE`, `STALE_REQUEST`, `REPLAYED_NONCE`);
    /// missing or malformed headers and unknown app keys are `BAD_SIGNATURE`. `None` for
    /// [`VerifyError::Store`], which is a 500, not a rejection of the request.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Missing(_) | Self::Malformed(_) | Self::UnknownAppKey | Self::BadSignature => {
                Some("BAD_SIGNATURE")
            }
            Self::StaleRequest => Some("STALE_REQUEST"),
            Self::ReplayedNonce => Some("REPLAYED_NONCE"),
            Self::Store(_) => None,
        }
    }
}

/// Checks signed requests against the configured credentials, with a replay cache in the store
/// shared by every gateway instance.
#[derive(Clone)]
pub struct Verifier {
    /// Secrets by app key. More than one secret under a key, or more than one key, lets a
    /// secret be rotated without refusing requests signed with the old one meanwhile.
    secrets: HashMap<String, Vec<SecretString>>,
    store: Arc<dyn Store>,
    max_skew: Duration,
    nonce_ttl: Duration,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut app_keys: Vec<&str> = self.secrets.keys().map(String::as_str).collect();
        app_keys.sort_unstable();
        f.debug_struct("Verifier")
            .field("app_keys", &app_keys)
            .field("max_skew", &self.max_skew)
            .field("nonce_ttl", &self.nonce_ttl)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier accepting any of `creds`, with the platform's windows: 300 s of clock skew and
    /// nonces remembered for 600 s.
    pub fn new(creds: impl IntoIterator<Item = Credentials>, store: Arc<dyn Store>) -> Self {
        let mut secrets: HashMap<String, Vec<SecretString>> = HashMap::new();
        for c in creds {
            secrets.entry(c.app_key).or_default().push(c.app_secret);
        }
        Self {
            secrets,
            store,
            max_skew: DEFAULT_MAX_SKEW,
            nonce_ttl: DEFAULT_NONCE_TTL,
        }
    }

    /// Replaces the allowed clock skew and the nonce window. Keep `nonce_ttl` at least twice
    /// `max_skew`: a request stays acceptable for `max_skew` either side of its timestamp, and
    /// its nonce must be remembered for all of that.
    pub fn with_windows(mut self, max_skew: Duration, nonce_ttl: Duration) -> Self {
        self.max_skew = max_skew;
        self.nonce_ttl = nonce_ttl;
        self
    }

    /// Gives a verified request's nonce back, when the request could not be handled (its
    /// handler failed before storing anything): the sender's resend of the very same signed
    /// request is then accepted instead of refused as a replay.
    ///
    /// # Errors
    /// The nonce cache cannot be reached.
    pub async fn release_nonce(&self, headers: &HeaderInput<'_>) -> Result<(), StoreError> {
        if let (Some(app_key), Some(nonce)) = (headers.app_key, headers.nonce) {
            self.store
                .delete(&format!("province:nonce:{app_key}:{nonce}"))
                .await?;
        }
        Ok(())
    }

    /// Checks one received request, in this order: the headers are present and well formed, the
    /// app key is known, the signature matches (compared in constant time), the timestamp is
    /// within the skew of `now`, and the nonce was not seen in the nonce window. The nonce is
    /// recorded only after the signature is good.
    ///
    /// # Errors
    /// [`VerifyError::Missing`] / [`VerifyError::Malformed`] naming the first bad header;
    /// [`VerifyError::UnknownAppKey`]; [`VerifyError::BadSignature`] when no secret of the app key
    /// produces the signature; [`VerifyError::StaleRequest`] when the timestamp is more than
    /// `max_skew` away from `now` either way; [`VerifyError::ReplayedNonce`] when the nonce was
    /// already used for this app key; [`VerifyError::Store`] when the nonce cache is unreachable.
    #[tracing::instrument(skip_all, fields(app_key = headers.app_key))]
    pub async fn verify(
        &self,
        method: &str,
        path_with_query: &str,
        headers: &HeaderInput<'_>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let app_key = required(headers.app_key, APP_KEY_HEADER)?;
        if app_key.is_empty() {
            return Err(VerifyError::Malformed(APP_KEY_HEADER));
        }
        let timestamp = required(headers.timestamp, TIMESTAMP_HEADER)?;
        let nonce = required(headers.nonce, NONCE_HEADER)?;
        let signature = required(headers.signature, SIGNATURE_HEADER)?;
        let timestamp_ms = parse_timestamp(timestamp)?;
        check_nonce(nonce)?;
        let signature = parse_signature(signature)?;

        let secrets = self
            .secrets
            .get(app_key)
            .ok_or(VerifyError::UnknownAppKey)?;
        let canonical = canonical_string(method, path_with_query, timestamp_ms, nonce, body);
        let matches = secrets.iter().any(|secret| {
            let mut mac = hmac_sha256(secret.expose_secret().as_bytes());
            mac.update(canonical.as_bytes());
            mac.verify_slice(&signature).is_ok()
        });
        if !matches {
            return Err(VerifyError::BadSignature);
        }

        let skew = now.timestamp_millis().abs_diff(timestamp_ms);
        if u128::from(skew) > self.max_skew.as_millis() {
            return Err(VerifyError::StaleRequest);
        }

        let fresh = self
            .store
            .set_nx(
                &format!("province:nonce:{app_key}:{nonce}"),
                b"1",
                self.nonce_ttl,
            )
            .await?;
        if !fresh {
            return Err(VerifyError::ReplayedNonce);
        }
        Ok(())
    }
}

fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, VerifyError> {
    value.ok_or(VerifyError::Missing(name))
}

/// Decimal digits only: `i64::from_str` would also take a sign.
fn parse_timestamp(raw: &str) -> Result<i64, VerifyError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed(TIMESTAMP_HEADER));
    }
    raw.parse()
        .map_err(|_| VerifyError::Malformed(TIMESTAMP_HEADER))
}

/// Printable ASCII without space, so the nonce cannot break the canonical string's lines.
fn check_nonce(nonce: &str) -> Result<(), VerifyError> {
    let ok = (MIN_NONCE_CHARS..=MAX_NONCE_CHARS).contains(&nonce.len())
        && nonce.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Malformed(NONCE_HEADER))
    }
}

fn parse_signature(raw: &str) -> Result<[u8; 32], VerifyError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(raw, &mut out).map_err(|_| VerifyError::Malformed(SIGNATURE_HEADER))?;
    Ok(out)
}

/// HMAC-SHA256 keyed with `key` of any length, through the infallible fixed-size constructor
/// (as in `wechat::legacy`): HMAC hashes a key longer than the block and zero-pads a shorter one.
fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <Hmac<Sha256> as Mac>::new(&block.into())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use proptest::prelude::*;

    use super::*;
    use crate::store::MemoryStore;

    fn creds(key: &str, secret: &str) -> Credentials {
        Credentials {
            app_key: key.to_owned(),
            app_secret: SecretString::from(secret),
        }
    }

    fn at_ms(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap()
    }

    fn verifier(creds: Vec<Credentials>) -> Verifier {
        Verifier::new(creds, Arc::new(MemoryStore::new("t:")))
    }

    /// Verifies `h` as received on `method path` with `body` at `now`.
    async fn check(
        v: &Verifier,
        h: &SignedHeaders,
        method: &str,
        path: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let ts = h.timestamp_ms.to_string();
        let headers = HeaderInput {
            app_key: Some(&h.app_key),
            timestamp: Some(&ts),
            nonce: Some(&h.nonce),
            signature: Some(&h.signature),
        };
        v.verify(method, path, &headers, body, now).await
    }

    const NOW_MS: i64 = 1_700_000_000_000;
    const PATH: &str = "/gov/v1/applications?dryRun=1";
    const BODY: &[u8] = br#"{"a":1}"#;

    // Computed independently:
    // python3 -c "import hmac,hashlib;s=b'POST\n/gov/v1/applications?dryRun=1\n1700000000000\nAbCdEfGhIjKlMnOpQrStUvWx\n'+hashlib.sha256(b'{\"a\":1}').hexdigest().encode();print(hmac.new(b'test-secret',s,hashlib.sha256).hexdigest())"
    const VECTOR_SIGNATURE: &str =
        "59e263e5dca61f4cc5752c2b58f329aa15f7c3528ea499fc1450a1e71d1c98a6";

    #[test]
    fn the_fixed_vector_signs_as_computed_independently() {
        let h = sign_with_nonce(
            &creds("gw", "test-secret"),
            "post",
            PATH,
            BODY,
            NOW_MS,
            "AbCdEfGhIjKlMnOpQrStUvWx".to_owned(),
        );
        assert_eq!(h.signature, VECTOR_SIGNATURE);
        assert_eq!(
            canonical_string("post", PATH, NOW_MS, "AbCdEfGhIjKlMnOpQrStUvWx", BODY),
            "POST\n/gov/v1/applications?dryRun=1\n1700000000000\nAbCdEfGhIjKlMnOpQrStUvWx\n\
             015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }

    #[test]
    fn sign_uses_a_fresh_24_char_url_safe_nonce_and_names_the_headers() {
        let c = creds("gw", "s");
        let a = sign(&c, "GET", "/x", b"", at_ms(NOW_MS));
        let b = sign(&c, "GET", "/x", b"", at_ms(NOW_MS));
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.nonce.len(), 24);
        assert!(
            a.nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(a.timestamp_ms, NOW_MS);
        let names: Vec<_> = a.pairs().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["X-App-Key", "X-Timestamp", "X-Nonce", "X-Signature"]
        );
        assert_eq!(a.pairs()[1].1, "1700000000000");
    }

    #[test]
    fn no_secret_in_debug_output() {
        let c = creds("gw", "very-secret-value");
        assert!(!format!("{c:?}").contains("very-secret-value"));
        let v = verifier(vec![c]);
        let shown = format!("{v:?}");
        assert!(shown.contains("gw") && !shown.contains("very-secret-value"));
    }

    #[tokio::test]
    async fn a_freshly_signed_request_is_accepted() {
        let c = creds("gw", "s3cret");
        let v = verifier(vec![c.clone()]);
        let h = sign(&c, "POST", PATH, BODY, at_ms(NOW_MS));
        check(&v, &h, "post", PATH, BODY, at_ms(NOW_MS + 1_000))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_change_to_body_path_method_or_timestamp_breaks_the_signature() {
        let c = creds("gw", "s3cret");
        let v = verifier(vec![c.clone()]);
        let now = at_ms(NOW_MS);
        let h = sign(&c, "POST", PATH, BODY, now);
        for (method, path, body) in [
            ("POST", PATH, &br#"{"a":2}"#[..]),
            ("POST", "/gov/v1/applications?dryRun=0", BODY),
            ("POST", "/gov/v1/applications", BODY),
            ("PUT", PATH, BODY),
        ] {
            let err = check(&v, &h, method, path, body, now).await.unwrap_err();
            assert!(matches!(err, VerifyError::BadSignature), "{err:?}");
        }
        let moved = SignedHeaders {
            timestamp_ms: NOW_MS + 1,
            ..h.clone()
        };
        let err = check(&v, &moved, "POST", PATH, BODY, now)
            .await
            .unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature));
        // None of those burnt the nonce.
        check(&v, &h, "POST", PATH, BODY, now).await.unwrap();
    }

    #[tokio::test]
    async fn a_timestamp_301_s_off_either_way_is_stale_and_300_s_is_not() {
        let c = creds("gw", "s3cret");
        let v = verifier(vec![c.clone()]);
        let now = at_ms(NOW_MS);
        for offset_s in [-301, 301] {
            let h = sign(&c, "GET", "/x", b"", at_ms(NOW_MS + offset_s * 1000));
            let err = check(&v, &h, "GET", "/x", b"", now).await.unwrap_err();
            assert!(matches!(err, VerifyError::StaleRequest), "{offset_s}");
            assert_eq!(err.code(), Some("STALE_REQUEST"));
        }
        for offset_s in [-300, 300] {
            let h = sign(&c, "GET", "/x", b"", at_ms(NOW_MS + offset_s * 1000));
            check(&v, &h, "GET", "/x", b"", now).await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_same_nonce_twice_is_a_replay() {
        let c = creds("gw", "s3cret");
        let v = verifier(vec![c.clone()]);
        let h = sign(&c, "POST", PATH, BODY, at_ms(NOW_MS));
        check(&v, &h, "POST", PATH, BODY, at_ms(NOW_MS))
            .await
            .unwrap();
        let err = check(&v, &h, "POST", PATH, BODY, at_ms(NOW_MS + 5))
            .await
            .unwrap_err();
        assert!(matches!(err, VerifyError::ReplayedNonce));
        assert_eq!(err.code(), Some("REPLAYED_NONCE"));
    }

    #[tokio::test]
    async fn a_released_nonce_lets_the_same_request_through_once_more() {
        let c = creds("gw", "s3cret");
        let v = verifier(vec![c.clone()]);
        let h = sign(&c, "POST", PATH, BODY, at_ms(NOW_MS));
        check(&v, &h, "POST", PATH, BODY, at_ms(NOW_MS))
            .await
            .unwrap();
        let input = HeaderInput {
            app_key: Some(&h.app_key),
            timestamp: None,
            nonce: Some(&h.nonce),
            signature: None,
        };
        v.release_nonce(&input).await.unwrap();
        check(&v, &h, "POST", PATH, BODY, at_ms(NOW_MS + 5))
            .await
            .unwrap();
        let again = check(&v, &h, "POST", PATH, BODY, at_ms(NOW_MS + 10)).await;
        assert!(matches!(again, Err(VerifyError::ReplayedNonce)));
    }

    #[tokio::test]
    async fn a_forged_request_does_not_burn_the_nonce() {
        let c = creds("gw", "s3cret");
        let v = verifier(vec![c.clone()]);
        let genuine = sign(&c, "POST", PATH, BODY, at_ms(NOW_MS));
        let forged = SignedHeaders {
            signature: "0".repeat(64),
            ..genuine.clone()
        };
        let err = check(&v, &forged, "POST", PATH, BODY, at_ms(NOW_MS))
            .await
            .unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature));
        assert_eq!(err.code(), Some("BAD_SIGNATURE"));
        check(&v, &genuine, "POST", PATH, BODY, at_ms(NOW_MS))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_unknown_app_key_is_refused_as_a_bad_signature() {
        let v = verifier(vec![creds("gw", "s3cret")]);
        let h = sign(&creds("other", "s3cret"), "GET", "/x", b"", at_ms(NOW_MS));
        let err = check(&v, &h, "GET", "/x", b"", at_ms(NOW_MS))
            .await
            .unwrap_err();
        assert!(matches!(err, VerifyError::UnknownAppKey));
        assert_eq!(err.code(), Some("BAD_SIGNATURE"));
    }

    #[tokio::test]
    async fn missing_or_malformed_headers_are_named() {
        let c = creds("gw", "s3cret");
        let v = verifier(vec![c.clone()]);
        let h = sign(&c, "GET", "/x", b"", at_ms(NOW_MS));
        let ts = h.timestamp_ms.to_string();
        let full = HeaderInput {
            app_key: Some(&h.app_key),
            timestamp: Some(&ts),
            nonce: Some(&h.nonce),
            signature: Some(&h.signature),
        };
        let cases: [(HeaderInput<'_>, &str, bool); 10] = [
            (
                HeaderInput {
                    app_key: None,
                    ..full
                },
                "X-App-Key",
                true,
            ),
            (
                HeaderInput {
                    timestamp: None,
                    ..full
                },
                "X-Timestamp",
                true,
            ),
            (
                HeaderInput {
                    nonce: None,
                    ..full
                },
                "X-Nonce",
                true,
            ),
            (
                HeaderInput {
                    signature: None,
                    ..full
                },
                "X-Signature",
                true,
            ),
            (
                HeaderInput {
                    app_key: Some(""),
                    ..full
                },
                "X-App-Key",
                false,
            ),
            (
                HeaderInput {
                    timestamp: Some("17e11"),
                    ..full
                },
                "X-Timestamp",
                false,
            ),
            (
                HeaderInput {
                    timestamp: Some("+1700000000000"),
                    ..full
                },
                "X-Timestamp",
                false,
            ),
            (
                HeaderInput {
                    nonce: Some("too-short"),
                    ..full
                },
                "X-Nonce",
                false,
            ),
            (
                HeaderInput {
                    nonce: Some("sixteen chars ok"),
                    ..full
                },
                "X-Nonce",
                false,
            ),
            (
                HeaderInput {
                    signature: Some("abc"),
                    ..full
                },
                "X-Signature",
                false,
            ),
        ];
        for (headers, name, missing) in cases {
            let err = v
                .verify("GET", "/x", &headers, b"", at_ms(NOW_MS))
                .await
                .unwrap_err();
            match (&err, missing) {
                (VerifyError::Missing(n), true) | (VerifyError::Malformed(n), false) => {
                    assert_eq!(*n, name);
                }
                _ => panic!("{name}: {err:?}"),
            }
            assert_eq!(err.code(), Some("BAD_SIGNATURE"));
        }
        let long_nonce = "n".repeat(65);
        let err = v
            .verify(
                "GET",
                "/x",
                &HeaderInput {
                    nonce: Some(&long_nonce),
                    ..full
                },
                b"",
                at_ms(NOW_MS),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, VerifyError::Malformed("X-Nonce")));
        v.verify("GET", "/x", &full, b"", at_ms(NOW_MS))
            .await
            .unwrap();
    }

    #[test]
    fn headers_are_read_by_name() {
        let h = HeaderInput::from_lookup(|name| match name {
            "X-App-Key" => Some("gw"),
            "X-Nonce" => Some("n"),
            _ => None,
        });
        assert_eq!(h.app_key, Some("gw"));
        assert_eq!(h.nonce, Some("n"));
        assert_eq!(h.timestamp, None);
    }

    #[tokio::test]
    async fn during_rotation_both_keys_and_both_secrets_of_a_key_verify() {
        let old = creds("gw-2024", "old-secret");
        let new = creds("gw-2025", "new-secret");
        let rotated = creds("gw-2025", "newer-secret");
        let v = verifier(vec![old.clone(), new.clone(), rotated.clone()]);
        for c in [&old, &new, &rotated] {
            let h = sign(c, "POST", PATH, BODY, at_ms(NOW_MS));
            check(&v, &h, "POST", PATH, BODY, at_ms(NOW_MS))
                .await
                .unwrap();
        }
        let wrong = sign(
            &creds("gw-2024", "new-secret"),
            "POST",
            PATH,
            BODY,
            at_ms(NOW_MS),
        );
        let err = check(&v, &wrong, "POST", PATH, BODY, at_ms(NOW_MS))
            .await
            .unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature));
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            path in "/[ -~]{0,100}",
            method in proptest::sample::select(vec!["GET", "post", "Put", "DELETE"]),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let c = creds("gw", "s3cret");
            let v = verifier(vec![c.clone()]);
            let h = sign(&c, method, &path, &body, at_ms(NOW_MS));
            let result = rt.block_on(check(&v, &h, method, &path, &body, at_ms(NOW_MS)));
            prop_assert!(result.is_ok(), "{:?}", result);
        }
    }
}
