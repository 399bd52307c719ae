//! What a citizen (and a session) sees of themselves: personal information masked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, FieldCipher};
use entities::citizen;

use super::citizens::{ID_CARD, NAME, PHONE, context};

/// A citizen as shown to themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CitizenProfile {
    pub citizen_id: i64,
    /// Masked: `138****8000`.
    pub phone: Option<String>,
    pub identity: Option<IdentitySummary>,
    /// Set when the account lost its identity to a face verification on another account.
    #[serde(default)]
    pub identity_notice: Option<IdentityNotice>,
    /// Kept as an integer in sessions, which read it on every request.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub created_at: DateTime<Utc>,
}

/// A bound real-name identity, masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentitySummary {
    /// `张*`
    pub name: String,
    /// `520***********123X`
    pub id_card_no: String,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub bound_at: DateTime<Utc>,
    /// When WeChat's face verification proved it; `None` for an identity only declared (bound
    /// before face verification existed), which unlocks nothing until it is verified.
    #[serde(default, with = "chrono::serde::ts_milliseconds_option")]
    pub verified_at: Option<DateTime<Utc>>,
}

/// Why an account no longer holds the identity it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityNoticeKind {
    /// Its unverified identity was face-verified on another account, which now holds it.
    VerifiedElsewhere,
    /// Its verified identity was verified again, later, on another account, which now holds it.
    Moved,
}

impl IdentityNoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifiedElsewhere => "VERIFIED_ELSEWHERE",
            Self::Moved => "MOVED",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "VERIFIED_ELSEWHERE" => Some(Self::VerifiedElsewhere),
            "MOVED" => Some(Self::Moved),
            _ => None,
        }
    }
}

/// What an account is told after losing its identity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdentityNotice {
    pub kind: IdentityNoticeKind,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
}

fn decrypt(
    cipher: &FieldCipher,
    row: &citizen::Model,
    column: &'static str,
    stored: &str,
) -> Result<String, CryptoError> {
    let bytes = cipher.decrypt(stored, &context(column, row.id))?;
    String::from_utf8(bytes).map_err(|_| CryptoError::Malformed)
}

/// Decrypts what the profile shows and masks it.
///
/// # Errors
/// A stored value that does not decrypt (wrong or missing key, tampered row).
pub fn profile_of(
    cipher: &FieldCipher,
    row: &citizen::Model,
) -> Result<CitizenProfile, CryptoError> {
    let phone = match &row.phone_cipher {
        Some(stored) => Some(mask_phone(&decrypt(cipher, row, PHONE, stored)?)),
        None => None,
    };
    let identity = match (&row.name_cipher, &row.id_card_cipher, row.identity_bound_at) {
        (Some(name), Some(id), Some(bound_at)) => Some(IdentitySummary {
            name: mask_name(&decrypt(cipher, row, NAME, name)?),
            id_card_no: mask_id(&decrypt(cipher, row, ID_CARD, id)?),
            bound_at: to_millis(bound_at),
            verified_at: row.identity_verified_at.map(to_millis),
        }),
        _ => None,
    };
    let identity_notice = match (&row.identity_notice, row.identity_notice_at) {
        (Some(kind), Some(at)) => IdentityNoticeKind::parse(kind).map(|kind| IdentityNotice {
            kind,
            at: to_millis(at),
        }),
        _ => None,
    };
    Ok(CitizenProfile {
        citizen_id: row.id,
        phone,
        identity,
        identity_notice,
        created_at: to_millis(row.created_at),
    })
}

/// Profiles carry millisecond times: the precision sessions keep them in, so a profile reads the
/// same from the database and from a session.
fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

// Stored values were parsed before they were stored; if one no longer parses (a rule tightened),
// it is still shown masked rather than failing the whole profile.
fn mask_phone(plain: &str) -> String {
    super::PhoneNumber::parse(plain).map_or_else(|_| mask_generic(plain, 3, 4), |p| p.masked())
}

fn mask_name(plain: &str) -> String {
    super::PersonName::parse(plain).map_or_else(|_| mask_generic(plain, 1, 0), |n| n.masked())
}

fn mask_id(plain: &str) -> String {
    super::IdCardNo::parse(plain).map_or_else(|_| mask_generic(plain, 3, 4), |n| n.masked())
}

fn mask_generic(plain: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = plain.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}
