//! Electronic licences (电子证照): the citizen's licences, masked; presentations (亮证) as a
//! short-lived signed QR payload; verification by hall staff; the audit of every use.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A licence's status at the provincial licence library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LicenceStatus {
    Valid,
    Suspended,
    Revoked,
    Expired,
}

/// A licence as listed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenceSummary {
    /// GB/T 36904 licence id (`1.2.156.3005.2.…`).
    pub licence_id: String,
    pub type_code: String,
    /// 居民身份证, 机动车驾驶证 …
    pub type_name: String,
    /// Masked: `张*`.
    pub holder_name: String,
    pub issuer: String,
    pub issued_at: DateTime<Utc>,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub status: LicenceStatus,
}

/// `GET /api/v1/licences`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenceList {
    pub licences: Vec<LicenceSummary>,
}

/// One field of a licence; a sensitive one is masked unless revealed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenceField {
    pub key: String,
    pub label: String,
    pub value: String,
    pub sensitive: bool,
}

/// `GET /api/v1/licences/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenceDetail {
    #[serde(flatten)]
    pub summary: LicenceSummary,
    pub fields: Vec<LicenceField>,
    /// Base64 PNG.
    pub face_image: Option<String>,
}

/// `POST /api/v1/licences/{id}/reveal`: the key of the field to show in full (audited).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevealRequest {
    pub field: String,
}

/// `POST /api/v1/licences/{id}/presentations`: what the 亮证 page shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresentationResponse {
    /// The QR content: `base64url(header).base64url(claims).base64url(signature)`, Ed25519.
    pub payload: String,
    /// Overlaid on the page: the time and the masked name.
    pub watermark: String,
    /// Refresh before this (the page refreshes every 30 s).
    pub expires_at: DateTime<Utc>,
}

/// One use of a licence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenceUse {
    /// `DISPLAY`, `REVEAL`, `PRESENT` or `VERIFY`.
    pub action: String,
    /// 用证事由: `HOLDER_DISPLAY`, `REVEAL:<field>`, `VERIFY:<hall code>`.
    pub cause: String,
    pub hall_id: Option<i64>,
    pub staff_id: Option<i64>,
    /// `VALID` or `INVALID` for a verification.
    pub verdict: Option<Verdict>,
    pub at: DateTime<Utc>,
}

/// `GET /api/v1/licences/{id}/uses`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenceUses {
    pub uses: Vec<LicenceUse>,
}

/// `POST /staff/v1/halls/{hallId}/licence-verifications`: the scanned QR content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    pub payload: String,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Valid,
    Invalid,
}

/// What the verifier may see of the licence, masked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedLicence {
    pub licence_id: String,
    pub type_code: String,
    pub type_name: Option<String>,
    /// Masked: `张*`.
    pub holder_name: String,
    pub issuer: Option<String>,
    pub valid_until: Option<NaiveDate>,
    /// The live status at the province, when it was asked.
    pub status: Option<LicenceStatus>,
}

/// The answer to a verification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationResponse {
    pub verdict: Verdict,
    /// `VALID`, `SIGNATURE_INVALID`, `UNKNOWN_KEY`, `EXPIRED`, `ALREADY_SCANNED`, `MALFORMED`,
    /// `LICENCE_NOT_FOUND`, `LICENCE_SUSPENDED`, `LICENCE_REVOKED`, `LICENCE_EXPIRED`.
    pub reason: String,
    /// The reason in Chinese, for the verifier's screen.
    pub message: String,
    /// Absent when the payload could not be trusted at all.
    pub licence: Option<VerifiedLicence>,
    pub checked_at: DateTime<Utc>,
}
