//! Staff passwords: argon2id with OWASP's parameters (19 MiB, two passes, one lane), stored as
//! PHC strings. Hashing takes tens of milliseconds of CPU, so it runs on the blocking pool, never
//! on the threads that serve requests.

use std::sync::OnceLock;

use anyhow::{Context as _, anyhow};
use argon2::password_hash::{self, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};

use super::credentials::Password;

/// OWASP Password Storage Cheat Sheet, argon2id: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(
        Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow!("encode salt: {e}"))?;
    let hash = hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow!("hash password: {e}"))?;
    Ok(hash.to_string())
}

/// A hash of a random password with the current parameters: verified against when the username
/// is unknown, so that an unknown name costs as long as a wrong password.
fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let mut random = [0u8; 32];
    rand::rng().fill_bytes(&mut random);
    let hash = hash_blocking(&hex::encode(random))?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
///
/// # Errors
/// Only if the blocking pool is gone or argon2 refuses (neither happens in practice).
pub async fn hash(password: &Password) -> anyhow::Result<String> {
    let secret = password.secret().clone();
    tokio::task::spawn_blocking(move || hash_blocking(secret.expose_secret()))
        .await
        .context("join the password hashing task")?
}

/// Whether `password` matches `stored`; with no stored hash (an unknown username), checks
/// against a dummy hash and answers `false` after the same work.
///
/// # Errors
/// A stored hash that is not a PHC string argon2 understands.
pub async fn verify(password: SecretString, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = match &stored {
            Some(phc) => phc.as_str(),
            None => dummy_hash()?,
        };
        let parsed = PasswordHash::new(phc).map_err(|e| anyhow!("stored password hash: {e}"))?;
        // The parameters come from the stored hash, so hashes made with older ones still verify.
        match hasher()?.verify_password(password.expose_secret().as_bytes(), &parsed) {
            Ok(()) => Ok(known),
            Err(password_hash::Error::Password) => Ok(false),
            Err(e) => Err(anyhow!("verify password: {e}")),
        }
    })
    .await
    .context("join the password verification task")?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(s: &str) -> Password {
        Password::parse(SecretString::from(s.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_with_owasp_parameters_and_verifies_only_its_password() {
        let hashed = hash(&password("correct horse battery")).await.unwrap();
        assert!(
            hashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hashed}"
        );
        assert!(
            verify(
                SecretString::from("correct horse battery"),
                Some(hashed.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !verify(
                SecretString::from("correct horse batterz"),
                Some(hashed.clone())
            )
            .await
            .unwrap()
        );
        let again = hash(&password("correct horse battery")).await.unwrap();
        assert_ne!(hashed, again, "a fresh salt every time");
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(
            !verify(SecretString::from("anything at all"), None)
                .await
                .unwrap()
        );
        assert!(
            dummy_hash()
                .unwrap()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
    }

    #[tokio::test]
    async fn a_garbled_stored_hash_is_an_error_not_a_match() {
        assert!(
            verify(SecretString::from("x"), Some("not a hash".into()))
                .await
                .is_err()
        );
    }
}
