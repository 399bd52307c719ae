//! The citizen code (市民码): the only way a walk-in ticket is tied to a citizen.
//!
//! A clerk cannot name a citizen: the citizen shows a code from their phone (a QR `ZSBCZ:<code>`
//! the kiosk scans, or the eight characters typed in), and the ticket becomes theirs — in their
//! ticket list, with pushes. The decision: a short random code kept in the shared store, not a
//! signed token. Eight characters of Crockford's base32 (40 bits) are short enough to type and
//! to scan from a small QR, reveal nothing (a signed token would carry the citizen's id or need
//! encrypting), and being stored they can be single-use and replaced: a citizen has at most one
//! live code, a new one voids the old, and redeeming it deletes it (compare-and-delete, so two
//! kiosks never both take it). A code lives 5 minutes; a flushed store only makes citizens
//! refresh theirs. Guessing is hopeless (a few live codes among 2^40) and limited per clerk.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng as _;

use crate::store::{Store, StoreError};

/// How long a citizen code stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);

/// The prefix of the QR payload.
pub const QR_PREFIX: &str = "ZSBCZ:";

/// Crockford's base32: no I, L, O or U, so a code read aloud or typed is not misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LENGTH: usize = 8;

/// A code just issued to a citizen.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// Reads what a clerk scanned or typed: the QR payload or the bare code, in any case, with
/// spaces or dashes, `O` for `0` and `I`/`L` for `1`. `None` when it cannot be a code.
pub fn parse(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw
        .get(..QR_PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(QR_PREFIX))
        .map_or(raw, |_| &raw[QR_PREFIX.len()..]);
    let mut code = String::with_capacity(LENGTH);
    for c in raw.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == LENGTH {
            return None;
        }
        code.push(c);
    }
    (code.len() == LENGTH).then_some(code)
}

fn code_key(code: &str) -> String {
    format!("citizen-code:{code}")
}

fn owner_key(citizen_id: i64) -> String {
    format!("citizen-code:of:{citizen_id}")
}

/// Issuing and redeeming citizen codes; cheap to clone.
#[derive(Clone)]
pub struct CitizenCodes {
    store: Arc<dyn Store>,
}

impl CitizenCodes {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// A fresh code for the citizen, voiding the one they had.
    ///
    /// # Errors
    /// The store cannot be reached.
    pub async fn issue(
        &self,
        citizen_id: i64,
        now: DateTime<Utc>,
    ) -> Result<IssuedCode, StoreError> {
        let owner = citizen_id.to_string();
        let mut code = random_code();
        // A clash with a live code is one in billions; try again rather than overwrite.
        for _ in 0..4 {
            if self
                .store
                .set_nx(&code_key(&code), owner.as_bytes(), CODE_TTL)
                .await?
            {
                break;
            }
            code = random_code();
        }
        if let Some(old) = self.store.get(&owner_key(citizen_id)).await?
            && let Ok(old) = String::from_utf8(old)
            && old != code
        {
            self.store
                .delete_if_eq(&code_key(&old), owner.as_bytes())
                .await?;
        }
        self.store
            .set(&owner_key(citizen_id), code.as_bytes(), Some(CODE_TTL))
            .await?;
        let ttl = chrono::Duration::from_std(CODE_TTL).unwrap_or_default();
        Ok(IssuedCode {
            code,
            expires_at: now + ttl,
        })
    }

    /// The citizen whose live code this is, using it up; `None` for an unknown, expired,
    /// replaced or already used code.
    ///
    /// # Errors
    /// The store cannot be reached.
    pub async fn redeem(&self, code: &str) -> Result<Option<i64>, StoreError> {
        let key = code_key(code);
        let Some(owner) = self.store.get(&key).await? else {
            return Ok(None);
        };
        if !self.store.delete_if_eq(&key, &owner).await? {
            return Ok(None);
        }
        Ok(String::from_utf8(owner)
            .ok()
            .and_then(|o| o.parse::<i64>().ok()))
    }
}

fn random_code() -> String {
    let mut rng = rand::rng();
    (0..LENGTH)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use proptest::prelude::*;

    #[test]
    fn codes_are_read_as_scanned_or_typed() {
        assert_eq!(parse("ZSBCZ:K7M2Q9XH").as_deref(), Some("K7M2Q9XH"));
        assert_eq!(parse(" zsbcz:k7m2-q9xh ").as_deref(), Some("K7M2Q9XH"));
        assert_eq!(parse("K7M2 Q9XH").as_deref(), Some("K7M2Q9XH"));
        assert_eq!(parse("oIl23456").as_deref(), Some("01123456"));
        for bad in [
            "",
            "K7M2Q9X",
            "K7M2Q9XHZ",
            "K7M2Q9XU",
            "ZSBBK:K7M2Q9XH",
            "K7M2Q9Xé",
            "12345678\u{0}",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_code_is_used_once_and_a_new_one_voids_the_old() {
        let codes = CitizenCodes::new(Arc::new(MemoryStore::new("t:")));
        let now = Utc::now();
        let first = codes.issue(7, now).await.unwrap();
        assert_eq!(first.code.len(), 8);
        assert_eq!(parse(&first.code).as_deref(), Some(first.code.as_str()));
        assert_eq!(first.expires_at, now + chrono::Duration::minutes(5));
        let second = codes.issue(7, now).await.unwrap();
        assert_ne!(first.code, second.code);
        assert_eq!(codes.redeem(&first.code).await.unwrap(), None);
        let other = codes.issue(8, now).await.unwrap();
        assert_eq!(codes.redeem(&second.code).await.unwrap(), Some(7));
        assert_eq!(codes.redeem(&second.code).await.unwrap(), None, "once");
        assert_eq!(codes.redeem(&other.code).await.unwrap(), Some(8));
    }

    proptest! {
        #[test]
        fn random_codes_parse_to_themselves(_n in 0..64u8) {
            let code = random_code();
            prop_assert_eq!(parse(&format!("{QR_PREFIX}{code}")), Some(code));
        }

        #[test]
        fn anything_parses_without_panicking(raw in any::<String>()) {
            if let Some(code) = parse(&raw) {
                prop_assert_eq!(code.len(), LENGTH);
            }
        }
    }
}
