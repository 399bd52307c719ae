//! The current citizen: profile, phone, real-name identity. Personal information is only ever
//! shown masked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/v1/me`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// The citizen's id in this system.
    pub id: i64,
    /// The bound phone number, masked (`138****8000`).
    pub phone: Option<String>,
    /// The bound real-name identity, masked.
    pub identity: Option<IdentityView>,
    /// Set when this account lost its identity to a face verification on another account: the
    /// mini-program tells the citizen (and offers to verify again) until they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_notice: Option<IdentityNoticeView>,
    pub created_at: DateTime<Utc>,
}

/// Why this account no longer holds an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentityNoticeKind {
    /// The identity (unverified here) was proven by face verification on another account.
    VerifiedElsewhere,
    /// The identity was face-verified again, later, on another account.
    Moved,
}

/// What an account that lost its identity is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityNoticeView {
    pub kind: IdentityNoticeKind,
    /// For the citizen, in Chinese.
    pub message: String,
    pub at: DateTime<Utc>,
}

/// A bound identity as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityView {
    /// `张*`
    pub name: String,
    /// `520***********123X`
    pub id_card_no: String,
    pub bound_at: DateTime<Utc>,
    /// Proven by WeChat's face verification. An identity bound before face verification existed
    /// is `false`: it must be verified (`POST /api/v1/me/identity/verifications`) before
    /// licences, applications and bookings accept it (`IDENTITY_NOT_VERIFIED`).
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/me/phone`: either the code of the getPhoneNumber button (current API), or the
/// legacy encrypted data with its iv.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BindPhoneRequest {
    #[serde(rename_all = "camelCase")]
    Code { code: String },
    #[serde(rename_all = "camelCase")]
    Encrypted { encrypted_data: String, iv: String },
}

/// `PUT /api/v1/me/identity` (gone: answered 410 `FACE_VERIFICATION_REQUIRED`), and
/// `POST /api/v1/me/identity/verifications`: the person to verify.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindIdentityRequest {
    pub name: String,
    /// An 18-character resident ID number (GB 11643).
    pub id_card_no: String,
}

/// `POST /api/v1/me/identity/verifications` → pass `verifyId` to `wx.requestFacialVerify`, then
/// `POST /api/v1/me/identity/verifications/{id}/complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationStarted {
    /// The verification's id, for `…/verifications/{id}/complete`.
    pub id: String,
    /// WeChat's verify_id for `wx.requestFacialVerify({verifyId})`.
    pub verify_id: String,
    /// After this the verify_id is dead: start again.
    pub expires_at: DateTime<Utc>,
}
