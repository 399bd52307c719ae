//! Logging in with WeChat.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::me::Me;

/// `POST /api/v1/auth/login`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    /// The code from `wx.login()`: valid five minutes, usable once.
    pub code: String,
}

/// The answer to a successful login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Seconds the token stays valid without use; each use extends it, up to an absolute limit.
    pub expires_in: u64,
    pub user: Me,
}
