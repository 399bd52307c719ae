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
    pub created_at: DateTime<Utc>,
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

/// `PUT /api/v1/me/identity`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindIdentityRequest {
    pub name: String,
    /// An 18-character resident ID number (GB 11643).
    pub id_card_no: String,
}
