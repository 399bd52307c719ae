//! Keyed blind indexes: a deterministic HMAC-SHA256 of a value, so an encrypted column can be
//! searched and held unique (`UNIQUE (id_card_bidx)`) without storing the value in clear.
//!
//! The decision a reader needs: each index is computed under a domain (usually `table.column`),
//! so the same value in two columns gives unrelated indexes and one column's index says nothing
//! about another's. Normalise the value first (parse it into its domain type) so one person has one
//! index. The key is not a field-encryption key and does not rotate with them: changing it means
//! recomputing every index.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::KeyMaterial;

/// SHA-256's block size, which is the length of an HMAC-SHA256 key after padding.
const BLOCK_LEN: usize = 64;

/// Computes blind indexes under one key.
#[derive(Clone)]
pub struct BlindIndex {
    /// HMAC state with the key already absorbed; cloned for each value.
    keyed: Hmac<Sha256>,
    key_id: String,
}

impl BlindIndex {
    /// A blind index under `key`.
    pub fn new(key: KeyMaterial) -> Self {
        // HMAC zero-pads a key shorter than the hash's block to the block length, so padding the
        // 32-byte key ourselves gives the same MAC through the infallible, fixed-size constructor.
        let mut block = [0u8; BLOCK_LEN];
        block[..32].copy_from_slice(key.bytes());
        Self {
            keyed: <Hmac<Sha256> as Mac>::new(&block.into()),
            key_id: key.key_id(),
        }
    }

    /// Lower-case hex of HMAC-SHA256(key, `domain` ‖ 0x00 ‖ `value`) — 64 characters.
    ///
    /// The 0x00 separator keeps `("ab", "c")` and `("a", "bc")` apart; a domain must therefore not
    /// contain NUL (ours are compile-time names such as `"citizens.id_card_no"`).
    pub fn compute(&self, domain: &str, value: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlindIndex")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    fn index(byte: u8) -> BlindIndex {
        BlindIndex::new(KeyMaterial::from_base64(&STANDARD.encode([byte; 32])).unwrap())
    }

    #[test]
    fn the_index_is_hmac_sha256_of_domain_nul_value() {
        let key = [7u8; 32];
        let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        reference.update(b"citizens.id_card_no\x0011010519491231002X");
        let expected = hex::encode(reference.finalize().into_bytes());

        let actual = index(7).compute("citizens.id_card_no", "11010519491231002X");

        assert_eq!(actual, expected);
        assert_eq!(actual.len(), 64);
        assert!(
            actual
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
    }

    #[test]
    fn the_index_is_deterministic() {
        assert_eq!(
            index(1).compute("citizens.phone", "13800138000"),
            index(1).compute("citizens.phone", "13800138000")
        );
    }

    #[test]
    fn domains_separate_the_same_value() {
        let index = index(1);
        assert_ne!(
            index.compute("citizens.phone", "13800138000"),
            index.compute("staff.phone", "13800138000")
        );
        assert_ne!(index.compute("ab", "c"), index.compute("a", "bc"));
    }

    #[test]
    fn another_key_gives_another_index() {
        assert_ne!(
            index(1).compute("citizens.phone", "13800138000"),
            index(2).compute("citizens.phone", "13800138000")
        );
    }

    #[test]
    fn debug_shows_no_key() {
        let debug = format!("{:?}", index(0xAB));
        assert!(debug.starts_with("BlindIndex"));
        assert!(!debug.contains("171, 171"));
    }

    proptest! {
        #[test]
        fn distinct_values_get_distinct_indexes(a in ".{0,30}", b in ".{0,30}") {
            prop_assume!(a != b);
            let index = index(3);
            prop_assert_ne!(index.compute("d", &a), index.compute("d", &b));
        }
    }
}
