//! `gateway verify-qr`: checks a licence presentation exactly as a third party holding only the
//! published keys does — signature against the JWKS, then expiry — without asking the province
//! or the gateway anything else. The live status (revoked? suspended?) and the one-scan rule
//! need the online verification at a hall.

use anyhow::Context as _;
use services::licences::{Jwks, verify_token};

/// The outcome printed by the command.
#[derive(Debug)]
pub struct Offline {
    pub valid: bool,
    pub report: String,
}

/// Reads the JWKS from a file path or an `http(s)://` URL.
///
/// # Errors
/// The file cannot be read, the URL cannot be fetched, or the content is not a JWKS.
pub async fn load_jwks(source: &str) -> anyhow::Result<Jwks> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        reqwest::get(source)
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("fetch {source}"))?
            .text()
            .await
            .with_context(|| format!("read {source}"))?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("read {source}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("{source} is not a JWKS"))
}

/// Checks `payload` against `jwks` at `now` (Unix seconds).
pub fn check(payload: &str, jwks: &Jwks, now: i64) -> Offline {
    match verify_token(payload, jwks, now) {
        Ok(claims) => Offline {
            valid: true,
            report: format!(
                "VALID (signature and expiry; the live status needs an online check)\n\
                 licence: {}\ntype:    {}\nholder:  {}\nissued:  {}\nexpires: {}\njti:     {}",
                claims.licence_id(),
                claims.type_code(),
                claims.hn,
                claims.iat,
                claims.exp,
                claims.jti
            ),
        },
        Err(e) => Offline {
            valid: false,
            report: format!("INVALID: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::LicenceSettings;
    use services::licences::Claims;

    #[test]
    fn without_configured_keys_one_is_made_and_its_payloads_check_offline() {
        let keys = LicenceSettings::default().presentation_keys().unwrap();
        let claims = Claims::new("1.2.156.3005.2.1.2.3.001.X", "张*", 100, 160, "j".into());
        let payload = keys.sign(&claims).unwrap();
        let jwks: Jwks =
            serde_json::from_value(serde_json::to_value(keys.jwks()).unwrap()).unwrap();
        assert!(check(&payload, &jwks, 159).valid);
        let late = check(&payload, &jwks, 160);
        assert!(!late.valid);
        assert!(late.report.starts_with("INVALID"));
    }
}
