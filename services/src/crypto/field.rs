//! Encryption of personal-information columns with AES-256-GCM.
//!
//! A stored value reads `v1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id is derived
//! from the key itself (first 8 hex characters of its SHA-256), so a value names the key that can
//! open it and keys rotate without a flag day: encrypt under the current key, decrypt under any
//! configured one, and re-encrypt what [`FieldCipher::needs_rotation`] points at.
//!
//! The decision a reader needs: every value is bound to its place (`table.column#row_id`) as
//! associated data, so a ciphertext copied to another row or column does not decrypt. Callers
//! therefore need the row id before they encrypt.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// The format version that prefixes every stored value.
const VERSION: &str = "v1";
/// Length of a key id in hex characters.
const KEY_ID_LEN: usize = 8;
/// AES-GCM nonce length (96 bits).
const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// Errors of key loading and decryption. Messages never contain key bytes or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The configured key is not base64 of exactly 32 bytes.
    #[error("key material must be base64 of exactly 32 bytes")]
    BadKey,
    /// The stored value names a key that is neither the current nor a previous key.
    #[error("no configured key has id {0}")]
    UnknownKeyId(String),
    /// The stored value is not `v1.<kid>.<base64url>` of a plausible length.
    #[error("stored ciphertext is malformed")]
    Malformed,
    /// Authentication failed: wrong key, wrong context (row, column) or tampered data.
    #[error("decryption failed: wrong key, wrong context or tampered data")]
    Decrypt,
}

/// A 256-bit key. `Debug` shows only its id.
#[derive(Clone)]
pub struct KeyMaterial {
    bytes: [u8; 32],
    id: String,
}

impl KeyMaterial {
    /// Reads a key from standard base64 (surrounding whitespace ignored), e.g. the output of
    /// `openssl rand -base64 32`.
    ///
    /// # Errors
    /// [`CryptoError::BadKey`] if it is not base64 or does not decode to exactly 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| CryptoError::BadKey)?;
        let bytes: [u8; 32] = decoded.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut id = hex::encode(&digest[..KEY_ID_LEN / 2]);
        id.truncate(KEY_ID_LEN);
        Self { bytes, id }
    }

    /// The key's id: the first 8 hex characters of SHA-256 of the key bytes.
    pub fn key_id(&self) -> String {
        self.id.clone()
    }

    /// The raw key bytes, for the other primitives of this module (the blind index).
    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("key_id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Where a value lives; bound into the ciphertext as associated data `"{table}.{column}#{row_id}"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldContext {
    pub table: &'static str,
    pub column: &'static str,
    pub row_id: i64,
}

impl FieldContext {
    fn associated_data(&self) -> Vec<u8> {
        format!("{}.{}#{}", self.table, self.column, self.row_id).into_bytes()
    }
}

#[derive(Clone)]
struct Keyed {
    id: String,
    cipher: Aes256Gcm,
}

impl Keyed {
    fn new(key: &KeyMaterial) -> Self {
        Self {
            id: key.key_id(),
            cipher: Aes256Gcm::new(&key.bytes.into()),
        }
    }
}

/// Encrypts under the current key; decrypts under the current or any previous key.
#[derive(Clone)]
pub struct FieldCipher {
    current: Keyed,
    previous: Vec<Keyed>,
}

impl fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<&str> = self.previous.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("FieldCipher")
            .field("current", &self.current.id)
            .field("previous", &previous)
            .finish()
    }
}

impl FieldCipher {
    /// A cipher that encrypts under `current` and can still decrypt values written under any of
    /// `previous`.
    pub fn new(current: KeyMaterial, previous: Vec<KeyMaterial>) -> Self {
        Self {
            current: Keyed::new(&current),
            previous: previous.iter().map(Keyed::new).collect(),
        }
    }

    /// The id of the key new values are encrypted under.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Encrypts `plaintext` for the place `ctx`, under the current key with a fresh random nonce.
    ///
    /// # Panics
    /// Only if `plaintext` is longer than AES-GCM allows (about 64 GiB), which no field is.
    pub fn encrypt(&self, plaintext: &[u8], ctx: &FieldContext) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = ctx.associated_data();
        let sealed = match self.current.cipher.encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        ) {
            Ok(sealed) => sealed,
            // aes-gcm refuses only plaintexts longer than 2^36 - 32 bytes.
            Err(_) => panic!("field plaintext exceeds the AES-GCM maximum length"),
        };
        let mut payload = Vec::with_capacity(NONCE_LEN + sealed.len());
        payload.extend_from_slice(&nonce);
        payload.extend_from_slice(&sealed);
        format!(
            "{VERSION}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    /// Decrypts a value written by [`FieldCipher::encrypt`] for the same `ctx`.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] if `stored` is not a `v1` value; [`CryptoError::UnknownKeyId`] if
    /// its key is not configured; [`CryptoError::Decrypt`] if authentication fails (wrong context,
    /// tampering, or a different key with a colliding id).
    pub fn decrypt(&self, stored: &str, ctx: &FieldContext) -> Result<Vec<u8>, CryptoError> {
        let (kid, payload) = split(stored)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CryptoError::Malformed)?;
        if payload.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let key = self
            .key(kid)
            .ok_or_else(|| CryptoError::UnknownKeyId(kid.to_owned()))?;
        let (nonce, sealed) = payload.split_at(NONCE_LEN);
        let aad = ctx.associated_data();
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }

    /// [`FieldCipher::encrypt`] for text.
    pub fn encrypt_str(&self, plaintext: &str, ctx: &FieldContext) -> String {
        self.encrypt(plaintext.as_bytes(), ctx)
    }

    /// [`FieldCipher::decrypt`] for text.
    ///
    /// # Errors
    /// As [`FieldCipher::decrypt`], and [`CryptoError::Malformed`] if the plaintext is not UTF-8.
    pub fn decrypt_string(&self, stored: &str, ctx: &FieldContext) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(stored, ctx)?).map_err(|_| CryptoError::Malformed)
    }

    /// Whether `stored` should be re-encrypted: it was not written under the current key (a value
    /// that is not even well formed also answers `true`, so a rotation job reports it).
    pub fn needs_rotation(&self, stored: &str) -> bool {
        split(stored).map_or(true, |(kid, _)| kid != self.current.id)
    }

    /// Decrypts `stored` and encrypts it again under the current key, for a rotation job.
    ///
    /// # Errors
    /// As [`FieldCipher::decrypt`].
    pub fn reencrypt(&self, stored: &str, ctx: &FieldContext) -> Result<String, CryptoError> {
        let plaintext = self.decrypt(stored, ctx)?;
        Ok(self.encrypt(&plaintext, ctx))
    }

    fn key(&self, kid: &str) -> Option<&Keyed> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == kid)
    }
}

/// Splits `v1.<kid>.<payload>` into the key id and the still-encoded payload.
fn split(stored: &str) -> Result<(&str, &str), CryptoError> {
    let mut parts = stored.splitn(3, '.');
    let (Some(VERSION), Some(kid), Some(payload)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(CryptoError::Malformed);
    };
    if kid.len() != KEY_ID_LEN || !kid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(CryptoError::Malformed);
    }
    Ok((kid, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(byte: u8) -> KeyMaterial {
        KeyMaterial::from_bytes([byte; 32])
    }

    fn ctx(row_id: i64) -> FieldContext {
        FieldContext {
            table: "citizens",
            column: "id_card_no",
            row_id,
        }
    }

    #[test]
    fn a_key_is_read_from_base64_of_32_bytes() {
        let encoded = STANDARD.encode([7u8; 32]);
        let key = KeyMaterial::from_base64(&format!(" {encoded}\n")).unwrap();
        assert_eq!(key.bytes(), &[7u8; 32]);
    }

    #[test]
    fn keys_of_the_wrong_length_or_not_base64_are_refused() {
        for encoded in [
            STANDARD.encode([7u8; 31]),
            STANDARD.encode([7u8; 33]),
            STANDARD.encode([7u8; 16]),
            String::new(),
            "not base64!".to_owned(),
        ] {
            assert_eq!(
                KeyMaterial::from_base64(&encoded).unwrap_err(),
                CryptoError::BadKey
            );
        }
    }

    #[test]
    fn the_key_id_is_the_start_of_the_sha256_of_the_key() {
        let key = key(0);
        // sha256 of 32 zero bytes is 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925.
        assert_eq!(key.key_id(), "66687aad");
    }

    #[test]
    fn debug_shows_the_key_id_and_not_the_key() {
        let key = key(0xAB);
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.key_id()));
        assert!(!debug.contains("171, 171"), "{debug}");
        assert!(!debug.to_lowercase().contains("abab"), "{debug}");
        let cipher = FieldCipher::new(key.clone(), vec![]);
        assert!(!format!("{cipher:?}").contains("171, 171"));
    }

    #[test]
    fn a_value_has_the_documented_shape() {
        let cipher = FieldCipher::new(key(1), vec![]);
        let stored = cipher.encrypt_str("11010519491231002X", &ctx(1));
        let parts: Vec<&str> = stored.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "v1");
        assert_eq!(parts[1], key(1).key_id());
        let payload = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(payload.len(), NONCE_LEN + 18 + TAG_LEN);
        assert!(!stored.contains("11010519491231002X"));
    }

    #[test]
    fn the_same_plaintext_encrypts_differently_each_time() {
        let cipher = FieldCipher::new(key(1), vec![]);
        assert_ne!(
            cipher.encrypt_str("张三", &ctx(1)),
            cipher.encrypt_str("张三", &ctx(1))
        );
    }

    #[test]
    fn a_value_moved_to_another_column_or_table_does_not_decrypt() {
        let cipher = FieldCipher::new(key(1), vec![]);
        let stored = cipher.encrypt_str("张三", &ctx(1));
        let other_column = FieldContext {
            column: "name",
            ..ctx(1)
        };
        let other_table = FieldContext {
            table: "staff",
            ..ctx(1)
        };
        assert_eq!(
            cipher.decrypt(&stored, &other_column),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            cipher.decrypt(&stored, &other_table),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(cipher.decrypt_string(&stored, &ctx(1)).unwrap(), "张三");
    }

    #[test]
    fn a_value_under_an_unknown_key_names_the_key_id() {
        let old = FieldCipher::new(key(1), vec![]);
        let stored = old.encrypt_str("张三", &ctx(1));
        let new = FieldCipher::new(key(2), vec![]);
        assert_eq!(
            new.decrypt(&stored, &ctx(1)),
            Err(CryptoError::UnknownKeyId(key(1).key_id()))
        );
    }

    #[test]
    fn malformed_values_are_reported_as_such() {
        let cipher = FieldCipher::new(key(1), vec![]);
        let kid = key(1).key_id();
        for stored in [
            String::new(),
            "plain text".to_owned(),
            format!("v2.{kid}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            format!("v1.{kid}"),
            format!("v1.{kid}.not*base64"),
            format!("v1.{kid}.AAAA"),
            "v1.XYZ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ] {
            assert_eq!(
                cipher.decrypt(&stored, &ctx(1)),
                Err(CryptoError::Malformed),
                "{stored}"
            );
        }
        assert!(cipher.needs_rotation("plain text"));
        assert!(cipher.needs_rotation("v1.XYZ.AAAA"));
    }

    #[test]
    fn a_tampered_value_does_not_decrypt() {
        let cipher = FieldCipher::new(key(1), vec![]);
        let stored = cipher.encrypt_str("13800138000", &ctx(1));
        let (head, payload) = stored.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            cipher.decrypt(&tampered, &ctx(1)),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn error_messages_carry_no_secrets() {
        let cipher = FieldCipher::new(key(1), vec![]);
        let stored = cipher.encrypt_str("11010519491231002X", &ctx(1));
        let error = cipher.decrypt(&stored, &ctx(2)).unwrap_err();
        assert!(!error.to_string().contains("1101"));
    }

    #[test]
    fn reencrypt_moves_a_value_to_the_current_key() {
        let before = FieldCipher::new(key(1), vec![]);
        let stored = before.encrypt_str("张三", &ctx(9));
        let after = FieldCipher::new(key(2), vec![key(1)]);
        assert!(after.needs_rotation(&stored));
        let rotated = after.reencrypt(&stored, &ctx(9)).unwrap();
        assert!(!after.needs_rotation(&rotated));
        assert_eq!(after.current_key_id(), key(2).key_id());
        assert_eq!(after.decrypt_string(&rotated, &ctx(9)).unwrap(), "张三");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_round_trip(
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
            row_id in any::<i64>(),
            key_byte in any::<u8>(),
        ) {
            let cipher = FieldCipher::new(key(key_byte), vec![]);
            let stored = cipher.encrypt(&plaintext, &ctx(row_id));
            prop_assert_eq!(cipher.decrypt(&stored, &ctx(row_id)).unwrap(), plaintext);
            prop_assert!(!cipher.needs_rotation(&stored));
        }

        #[test]
        fn a_value_moved_to_another_row_does_not_decrypt(
            plaintext in proptest::collection::vec(any::<u8>(), 0..64),
            row_id in any::<i64>(),
            other in any::<i64>(),
        ) {
            prop_assume!(row_id != other);
            let cipher = FieldCipher::new(key(1), vec![]);
            let stored = cipher.encrypt(&plaintext, &ctx(row_id));
            prop_assert_eq!(cipher.decrypt(&stored, &ctx(other)), Err(CryptoError::Decrypt));
        }

        #[test]
        fn a_value_under_a_previous_key_still_decrypts_after_rotation(
            plaintext in ".{0,40}",
            row_id in any::<i64>(),
            old_byte in any::<u8>(),
            new_byte in any::<u8>(),
        ) {
            prop_assume!(old_byte != new_byte);
            let before = FieldCipher::new(key(old_byte), vec![]);
            let stored = before.encrypt_str(&plaintext, &ctx(row_id));
            let after = FieldCipher::new(key(new_byte), vec![key(old_byte)]);
            prop_assert!(after.needs_rotation(&stored));
            prop_assert_eq!(after.decrypt_string(&stored, &ctx(row_id)).unwrap(), plaintext.clone());
            let fresh = after.encrypt_str(&plaintext, &ctx(row_id));
            prop_assert!(!after.needs_rotation(&fresh));
            prop_assert!(before.decrypt(&fresh, &ctx(row_id)).is_err());
        }

        #[test]
        fn arbitrary_stored_strings_never_panic(stored in any::<String>(), row_id in any::<i64>()) {
            let cipher = FieldCipher::new(key(1), vec![]);
            prop_assert!(cipher.decrypt(&stored, &ctx(row_id)).is_err());
            let _ = cipher.needs_rotation(&stored);
        }
    }
}
