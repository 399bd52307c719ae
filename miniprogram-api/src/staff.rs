//! The staff side (`/staff/v1/…`): logging in with a username and password, the current member,
//! and managing staff accounts with roles scoped to halls.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a role allows: an admin anything at its halls, a clerk also verifies, a verifier only
/// verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StaffRole {
    Admin,
    Clerk,
    Verifier,
}

/// One role at one hall, or (`hallId` null) at every hall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffRoleGrant {
    pub role: StaffRole,
    /// The hall; null for every hall.
    #[serde(default)]
    pub hall_id: Option<i64>,
}

/// `POST /staff/v1/auth/login`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffLoginRequest {
    pub username: String,
    pub password: String,
}

/// The answer to a successful staff login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffLoginResponse {
    /// Send as `Authorization: Bearer <token>` to `/staff/v1/…`.
    pub token: String,
    /// Seconds the token stays valid without use; each use extends it, up to an absolute limit.
    pub expires_in: u64,
    pub staff: StaffMe,
}

/// `GET /staff/v1/me`: the member as they were at login (roles change only by logging in again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffMe {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<StaffRoleGrant>,
}

/// `POST /staff/v1/staff`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateStaffRequest {
    /// 3 to 64 of `a-z 0-9 . _ -`, starting with a letter; case does not matter.
    pub username: String,
    /// 10 to 128 characters.
    pub password: String,
    pub display_name: String,
    /// At least one. A hall admin may only give roles at their own halls.
    pub roles: Vec<StaffRoleGrant>,
}

/// A staff member as admins see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffMember {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub active: bool,
    pub roles: Vec<StaffRoleGrant>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// `GET /staff/v1/staff`: by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffList {
    pub staff: Vec<StaffMember>,
    pub page: u64,
    pub page_size: u64,
    pub total: u64,
}

/// `POST /staff/v1/me/password`: change one's own password. Every session of the member ends,
/// this one included: log in again with the new password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 10 to 128 characters.
    pub new_password: String,
}

/// `POST /staff/v1/staff/{id}/password`: an administrator sets a member's password (a reset);
/// every session of the member ends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordRequest {
    /// 10 to 128 characters.
    pub password: String,
}

/// `PUT /staff/v1/staff/{id}/roles`: the member's roles from now on (replacing all of them);
/// every session of the member ends, so the next login carries them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetRolesRequest {
    /// At least one. A hall admin may only give roles at their own halls.
    pub roles: Vec<StaffRoleGrant>,
}
