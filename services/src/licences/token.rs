//! The presentation token: a JWS-like compact form `base64url(header).base64url(claims).base64url(sig)`
//! signed with Ed25519, small enough for a QR a phone reads at arm's length (about 300
//! characters).
//!
//! The decision a reader needs: the claims are as short as a verifier can still read them
//! without a schema. The licence id is sent without its fixed GB/T 36904 prefix
//! (`1.2.156.3005.2.`), and its first segment then *is* the licence type code, so the type is not
//! sent twice ([`Claims::licence_id`], [`Claims::type_code`] restore both). The header names the
//! `alg` and `kid`, so keys rotate and another algorithm (SM2) can be added beside this one.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The fixed prefix of every GB/T 36904 licence id.
pub const GBT36904_PREFIX: &str = "1.2.156.3005.2.";

/// The only algorithm signed with today.
pub const ALG: &str = "EdDSA";

/// One signing key: its id and the 32-byte Ed25519 seed.
pub struct KeyEntry {
    pub kid: String,
    key: SigningKey,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A key from configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key is configured")]
    Empty,
    #[error("key `{0}` is not base64 of 32 bytes")]
    Malformed(String),
    #[error("key id `{0}` is empty, too long (max 8) or used twice")]
    BadKid(String),
}

impl KeyEntry {
    /// A key from its id and the base64 (standard or URL-safe) of its 32-byte seed.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the seed is not base64 of 32 bytes.
    pub fn from_base64(kid: &str, seed: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(seed.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(seed.trim()))
            .map_err(|_| KeyError::Malformed(kid.to_owned()))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Malformed(kid.to_owned()))?;
        Ok(Self::from_seed(kid, seed))
    }

    /// A key from 32 bytes (random ones for an ephemeral key).
    pub fn from_seed(kid: &str, seed: [u8; 32]) -> Self {
        Self {
            kid: kid.to_owned(),
            key: SigningKey::from_bytes(&seed),
        }
    }
}

/// The keys presentations are signed and checked with: the first signs, every one verifies and is
/// published in the JWKS. Rotation: put the new key first and keep the old one after it until
/// every payload it signed has expired (a presentation's lifetime, 60 s), then remove it.
#[derive(Debug)]
pub struct PresentationKeys {
    keys: Vec<KeyEntry>,
}

impl PresentationKeys {
    /// # Errors
    /// No key, or a key id that is empty, longer than 8 characters or repeated. (Every character
    /// of the kid is in every QR: a kid of at most 4 characters keeps payloads ≤ 300.)
    pub fn new(keys: Vec<KeyEntry>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        for (i, k) in keys.iter().enumerate() {
            if k.kid.is_empty()
                || k.kid.len() > 8
                || keys[..i].iter().any(|other| other.kid == k.kid)
            {
                return Err(KeyError::BadKid(k.kid.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// The published keys, as a third party would load them.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .keys
                .iter()
                .map(|k| Jwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    alg: ALG.into(),
                    use_: "sig".into(),
                    kid: k.kid.clone(),
                    x: URL_SAFE_NO_PAD.encode(k.key.verifying_key().as_bytes()),
                })
                .collect(),
        }
    }

    /// Signs `claims` with the current key.
    ///
    /// # Errors
    /// Only if the claims cannot be serialised (they always can).
    pub fn sign(&self, claims: &Claims) -> Result<String, serde_json::Error> {
        let current = &self.keys[0];
        let header = Header {
            alg: ALG.into(),
            kid: current.kid.clone(),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let signature = current.key.sign(signing_input.as_bytes());
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }
}

/// `GET /.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One OKP/Ed25519 public key (RFC 8037).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    #[serde(default)]
    pub alg: String,
    #[serde(rename = "use", default)]
    pub use_: String,
    pub kid: String,
    /// The public key, base64url.
    pub x: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    kid: String,
}

/// What a presentation says. Short names keep the QR small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The licence id without [`GBT36904_PREFIX`] (an id of another form is sent whole).
    pub lid: String,
    /// The holder's name, masked (`张*`).
    pub hn: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The presentation's unique id: a payload is accepted by one verification only.
    pub jti: String,
}

impl Claims {
    /// Claims for `licence_id` (a full GB/T 36904 id is shortened).
    pub fn new(licence_id: &str, masked_holder: &str, iat: i64, exp: i64, jti: String) -> Self {
        Self {
            lid: licence_id
                .strip_prefix(GBT36904_PREFIX)
                .unwrap_or(licence_id)
                .to_owned(),
            hn: masked_holder.to_owned(),
            iat,
            exp,
            jti,
        }
    }

    /// The full licence id.
    pub fn licence_id(&self) -> String {
        if self.lid.starts_with(GBT36904_PREFIX) || !self.lid.contains('.') {
            self.lid.clone()
        } else {
            format!("{GBT36904_PREFIX}{}", self.lid)
        }
    }

    /// The licence type code: the first segment of the shortened GB/T 36904 id.
    pub fn type_code(&self) -> &str {
        self.lid.split('.').next().unwrap_or_default()
    }
}

/// Why a payload is refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or a header or claims that do not parse.
    #[error("the payload is malformed")]
    Malformed,
    /// The `alg` is not one we know.
    #[error("the payload's algorithm is not supported")]
    UnsupportedAlg,
    /// No published key has this `kid`.
    #[error("the payload was signed with an unknown key")]
    UnknownKey,
    /// The signature does not match: tampered, or signed by someone else.
    #[error("the payload's signature is invalid")]
    BadSignature,
    /// Past `exp`.
    #[error("the payload has expired")]
    Expired,
}

/// Checks a payload's signature against `jwks` and its expiry against `now` (Unix seconds), as
/// any third party holding only the published keys does. Returns the claims.
///
/// # Errors
/// Each [`TokenError`] as documented there; the signature is checked before anything the claims
/// say is believed.
pub fn verify(payload: &str, jwks: &Jwks, now: i64) -> Result<Claims, TokenError> {
    let mut parts = payload.trim().split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if header.alg != ALG {
        return Err(TokenError::UnsupportedAlg);
    }
    let keys: HashMap<&str, &Jwk> = jwks.keys.iter().map(|k| (k.kid.as_str(), k)).collect();
    let jwk = keys
        .get(header.kid.as_str())
        .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
        .ok_or(TokenError::UnknownKey)?;
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&jwk.x)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(TokenError::UnknownKey)?;
    let public = VerifyingKey::from_bytes(&public).map_err(|_| TokenError::UnknownKey)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(TokenError::BadSignature)?;
    let signature = Signature::from_bytes(&signature);
    let signing_input = &payload.trim()[..h.len() + 1 + c.len()];
    public
        .verify_strict(signing_input.as_bytes(), &signature)
        .map_err(|_| TokenError::BadSignature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if now >= claims.exp {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1.2.156.3005.2.111000000000000001.11330106002489836K.000001.001.X";

    fn keys(kids: &[&str]) -> PresentationKeys {
        PresentationKeys::new(
            kids.iter()
                .enumerate()
                .map(|(i, kid)| KeyEntry::from_seed(kid, [u8::try_from(i).unwrap() + 1; 32]))
                .collect(),
        )
        .unwrap()
    }

    fn claims(exp: i64) -> Claims {
        Claims::new(ID, "张*", 1_795_000_000, exp, "AAAAAAAAAAAAAAAA".into())
    }

    #[test]
    fn a_signed_payload_verifies_and_restores_id_and_type() {
        let k = keys(&["k1"]);
        let payload = k.sign(&claims(1_795_000_060)).unwrap();
        let back = verify(&payload, &k.jwks(), 1_795_000_030).unwrap();
        assert_eq!(back.licence_id(), ID);
        assert_eq!(back.type_code(), "111000000000000001");
        assert_eq!(back.hn, "张*");
    }

    #[test]
    fn a_payload_fits_a_qr_read_at_arm_s_length() {
        // A four-character name and kid, a 12-character jti (9 random bytes): the longest usual.
        let claims = Claims::new(ID, "欧***", 1_795_000_000, 1_795_000_060, "A".repeat(12));
        let payload = keys(&["2611"]).sign(&claims).unwrap();
        assert!(payload.len() <= 300, "{} characters", payload.len());
        assert_eq!(payload.split('.').count(), 3);
    }

    #[test]
    fn tampered_expired_and_unknown_key_payloads_are_refused() {
        let k = keys(&["k1"]);
        let payload = k.sign(&claims(1_795_000_060)).unwrap();
        let parts: Vec<&str> = payload.split('.').collect();
        let mut forged = claims(1_795_009_999);
        forged.hn = "李*".into();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(&tampered, &k.jwks(), 1_795_000_000),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(&payload, &k.jwks(), 1_795_000_060),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&payload, &keys(&["other"]).jwks(), 1_795_000_000),
            Err(TokenError::UnknownKey)
        );
        // Same kid, another key: the signature does not match.
        let impostor = PresentationKeys::new(vec![KeyEntry::from_seed("k1", [9; 32])]).unwrap();
        assert_eq!(
            verify(&payload, &impostor.jwks(), 1_795_000_000),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify("a.b", &k.jwks(), 0), Err(TokenError::Malformed));
    }

    #[test]
    fn the_previous_key_still_verifies_after_rotation() {
        let old = keys(&["k1"]);
        let payload = old.sign(&claims(1_795_000_060)).unwrap();
        let rotated = PresentationKeys::new(vec![
            KeyEntry::from_seed("k2", [7; 32]),
            KeyEntry::from_seed("k1", [1; 32]),
        ])
        .unwrap();
        assert_eq!(rotated.jwks().keys.len(), 2);
        assert!(verify(&payload, &rotated.jwks(), 1_795_000_001).is_ok());
        let fresh = rotated.sign(&claims(1_795_000_060)).unwrap();
        assert!(fresh.starts_with(&URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k2"}"#)));
    }

    #[test]
    fn keys_must_be_32_bytes_with_distinct_short_ids() {
        assert!(KeyEntry::from_base64("k", &STANDARD.encode([1u8; 31])).is_err());
        assert!(KeyEntry::from_base64("k", &STANDARD.encode([1u8; 32])).is_ok());
        assert!(matches!(
            PresentationKeys::new(vec![]),
            Err(KeyError::Empty)
        ));
        assert!(
            PresentationKeys::new(vec![
                KeyEntry::from_seed("a", [1; 32]),
                KeyEntry::from_seed("a", [2; 32])
            ])
            .is_err()
        );
    }
}
