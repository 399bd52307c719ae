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

/// `GET /staff/v1/audit-log` and `…/audit-log/export` query: entries of the operator's audit
/// trail, newest first, `limit` at a time; the next page passes the last entry's id as `before`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditLogQuery {
    /// Only this staff member's actions.
    pub staff_id: Option<i64>,
    /// From this moment (inclusive, RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Until this moment (exclusive, RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this entry id (the previous page's `nextBefore`).
    pub before: Option<i64>,
    /// 1 to 200, default 50 (the list only; the export has every matching entry).
    pub limit: Option<u64>,
}

/// One staff action in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Null for an action taken on the server's command line (`gateway create-staff`).
    pub staff_id: Option<i64>,
    /// The member's username, or `(命令行)`.
    pub actor: String,
    /// The client's address, as the gateway's proxy setting sees it.
    pub address: Option<String>,
    pub method: String,
    /// The route's pattern, e.g. `/staff/v1/halls/{hall_id}/hours`.
    pub route: String,
    /// The path as requested, with its query.
    pub path: String,
    /// The HTTP status the gateway answered: 2xx changed something, others were refused.
    pub status: u16,
    pub request_id: Option<String>,
    /// What was asked: the JSON body with passwords, tokens and scanned QR payloads redacted, a
    /// text body as sent, or a summary (type, length, SHA-256) of anything else.
    pub body: Option<String>,
}

/// A page of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}
