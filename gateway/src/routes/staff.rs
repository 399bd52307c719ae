//! The staff side, under `/staff/v1`: `POST /auth/login`, `POST /auth/logout`, `GET /me`,
//! `POST /me/password`, and staff accounts (`GET|POST /staff`, `POST /staff/{id}/deactivate`,
//! `…/activate`, `…/password`, `PUT /staff/{id}/roles`). Every route but login takes a staff
//! token (`zst_…`); a citizen's token is 401 here. Managing a member follows one rule: an
//! administrator, never of themselves, and only of members whose every role they could give.

use actix_web::{HttpRequest, HttpResponse, web};
use miniprogram_api::notify::PageQuery;
use miniprogram_api::staff::{
    ChangePasswordRequest, CreateStaffRequest, ResetPasswordRequest, SetRolesRequest, StaffList,
    StaffLoginRequest, StaffLoginResponse, StaffMe, StaffMember, StaffRole, StaffRoleGrant,
};
use miniprogram_api::{ErrorBody, ErrorCode};
use secrecy::{ExposeSecret as _, SecretString};
use services::staff::{
    self as domain, CreateStaffError, Grant, HallScope, Role, RoleChangeError, SetActiveError,
    SetPasswordError, StaffFilter, StaffLoginError, StaffSession,
};

use crate::error::ApiError;
use crate::extract::{CurrentStaff, client_ip};
use crate::routes::resource;
use crate::startup::AppState;

/// The staff routes, to be mounted under `/staff/v1`. Other staff capabilities (halls,
/// bookings at the counter) add their own `configure` beside this one.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/login", [web::post().to(login)]))
        .service(resource("/auth/logout", [web::post().to(logout)]))
        .service(resource("/me", [web::get().to(me)]))
        .service(resource(
            "/me/password",
            [web::post().to(change_own_password)],
        ))
        .service(resource(
            "/staff",
            [web::get().to(list), web::post().to(create)],
        ))
        .service(resource(
            "/staff/{id}/deactivate",
            [web::post().to(deactivate)],
        ))
        .service(resource("/staff/{id}/activate", [web::post().to(activate)]))
        .service(resource(
            "/staff/{id}/password",
            [web::post().to(reset_password)],
        ))
        .service(resource("/staff/{id}/roles", [web::put().to(set_roles)]));
}

fn role_to_wire(role: Role) -> StaffRole {
    match role {
        Role::Admin => StaffRole::Admin,
        Role::Clerk => StaffRole::Clerk,
        Role::Verifier => StaffRole::Verifier,
    }
}

fn role_from_wire(role: StaffRole) -> Role {
    match role {
        StaffRole::Admin => Role::Admin,
        StaffRole::Clerk => Role::Clerk,
        StaffRole::Verifier => Role::Verifier,
    }
}

fn grants_to_wire(grants: &[Grant]) -> Vec<StaffRoleGrant> {
    grants
        .iter()
        .map(|(role, scope)| StaffRoleGrant {
            role: role_to_wire(*role),
            hall_id: scope.hall_id(),
        })
        .collect()
}

fn me_to_wire(session: &StaffSession) -> StaffMe {
    StaffMe {
        id: session.staff_id,
        username: session.username.clone(),
        display_name: session.display_name.clone(),
        roles: grants_to_wire(&session.roles),
    }
}

fn member_to_wire(member: &domain::StaffMember) -> StaffMember {
    StaffMember {
        id: member.id,
        username: member.username.clone(),
        display_name: member.display_name.clone(),
        active: member.active,
        roles: grants_to_wire(&member.roles),
        created_at: member.created_at,
        last_login_at: member.last_login_at,
    }
}

/// Log in with a username and password.
#[utoipa::path(
    post, path = "/staff/v1/auth/login", tag = "staff",
    request_body = StaffLoginRequest,
    responses(
        (status = 200, body = StaffLoginResponse),
        (status = 401, description = "STAFF_LOGIN_FAILED: unknown username or wrong password", body = ErrorBody),
        (status = 403, description = "STAFF_DISABLED", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<StaffLoginRequest>,
) -> Result<web::Json<StaffLoginResponse>, ApiError> {
    let ip = client_ip(&req, state.trust_forwarded_for);
    let StaffLoginRequest { username, password } = body.into_inner();
    let (token, session) = state
        .staff
        .login(&username, SecretString::from(password), ip)
        .await
        .map_err(|e| match e {
            StaffLoginError::BadCredentials => ApiError::new(ErrorCode::StaffLoginFailed),
            StaffLoginError::Disabled => ApiError::new(ErrorCode::StaffDisabled),
            StaffLoginError::RateLimited(l) => ApiError::rate_limited(l),
            StaffLoginError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(StaffLoginResponse {
        token: token.expose_secret().to_owned(),
        expires_in: state.staff.sessions().config().idle_ttl.as_secs(),
        staff: me_to_wire(&session),
    }))
}

/// End the current staff session.
#[utoipa::path(
    post, path = "/staff/v1/auth/logout", tag = "staff",
    responses((status = 204), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn logout(
    state: web::Data<AppState>,
    CurrentStaff(session): CurrentStaff,
) -> Result<HttpResponse, ApiError> {
    state.staff.logout(&session).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The current staff member and their roles, as at login.
#[utoipa::path(
    get, path = "/staff/v1/me", tag = "staff",
    responses((status = 200, body = StaffMe), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn me(CurrentStaff(session): CurrentStaff) -> web::Json<StaffMe> {
    web::Json(me_to_wire(&session))
}

/// Create a staff member. A global admin may give any role; a hall admin only roles at their
/// own halls.
#[utoipa::path(
    post, path = "/staff/v1/staff", tag = "staff",
    request_body = CreateStaffRequest,
    responses(
        (status = 201, body = StaffMember),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: a role the caller may not give", body = ErrorBody),
        (status = 409, description = "USERNAME_TAKEN", body = ErrorBody),
        (status = 422, description = "WEAK_PASSWORD, VALIDATION_FAILED (username, displayName, roles)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    CurrentStaff(session): CurrentStaff,
    body: web::Json<CreateStaffRequest>,
) -> Result<HttpResponse, ApiError> {
    let CreateStaffRequest {
        username,
        password,
        display_name,
        roles,
    } = body.into_inner();
    let grants: Vec<Grant> = roles
        .iter()
        .map(|g| (role_from_wire(g.role), HallScope::from_hall_id(g.hall_id)))
        .collect();
    // Authorisation before validation: a clerk learns nothing about what would be accepted.
    if grants.is_empty() {
        if !session.roles.iter().any(|(role, _)| *role == Role::Admin) {
            return Err(ApiError::new(ErrorCode::Forbidden));
        }
        return Err(
            ApiError::new(ErrorCode::ValidationFailed).with_field("roles", "至少需要一个角色")
        );
    }
    if !grants
        .iter()
        .all(|(role, scope)| session.may_grant(*role, *scope))
    {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    let id = state
        .staff
        .create(
            &username,
            SecretString::from(password),
            &display_name,
            grants,
        )
        .await
        .map_err(|e| match e {
            CreateStaffError::InvalidUsername(e) => ApiError::new(ErrorCode::ValidationFailed)
                .with_message(e.to_string())
                .with_field("username", e.to_string()),
            CreateStaffError::WeakPassword(e) => {
                ApiError::new(ErrorCode::WeakPassword).with_field("password", e.to_string())
            }
            CreateStaffError::InvalidDisplayName(e) => ApiError::new(ErrorCode::ValidationFailed)
                .with_message(e.to_string())
                .with_field("displayName", e.to_string()),
            CreateStaffError::UsernameTaken => ApiError::new(ErrorCode::UsernameTaken),
            CreateStaffError::UnknownHall => ApiError::new(ErrorCode::ValidationFailed)
                .with_message("角色中的办事大厅不存在")
                .with_field("roles", "办事大厅不存在"),
            CreateStaffError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    let member = state
        .staff
        .get(id)
        .await?
        .ok_or_else(|| ApiError::unexpected(anyhow::anyhow!("staff member {id} vanished")))?;
    Ok(HttpResponse::Created().json(member_to_wire(&member)))
}

/// List staff: everyone for a global admin, those with a role at one's halls for a hall admin.
#[utoipa::path(
    get, path = "/staff/v1/staff", tag = "staff",
    params(PageQuery),
    responses(
        (status = 200, body = StaffList),
        (status = 400, description = "BAD_REQUEST: page out of range", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: not an admin", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    CurrentStaff(session): CurrentStaff,
    query: web::Query<PageQuery>,
) -> Result<web::Json<StaffList>, ApiError> {
    let filter = match session.admin_halls() {
        None => StaffFilter::All,
        Some(halls) if halls.is_empty() => return Err(ApiError::new(ErrorCode::Forbidden)),
        Some(halls) => StaffFilter::AtHalls(halls),
    };
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(20);
    if !(1..=10_000).contains(&page) || !(1..=100).contains(&page_size) {
        return Err(ApiError::new(ErrorCode::BadRequest)
            .with_message("分页参数不正确：page 为 1 至 10000，pageSize 为 1 至 100"));
    }
    let found = state.staff.list(&filter, page, page_size).await?;
    Ok(web::Json(StaffList {
        staff: found.members.iter().map(member_to_wire).collect(),
        page,
        page_size,
        total: found.total,
    }))
}

/// Deactivate a staff member: they cannot log in, every session they have ends at once, and a
/// ticket their counter held (called or serving) goes back to the queue, first in line with its
/// number. A hall admin may deactivate only members whose every role is at halls they
/// administer.
#[utoipa::path(
    post, path = "/staff/v1/staff/{id}/deactivate", tag = "staff",
    params(("id" = i64, Path, description = "The staff member")),
    responses(
        (status = 204),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn deactivate(
    state: web::Data<AppState>,
    CurrentStaff(session): CurrentStaff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    managed(&state, &session, id, "不能停用自己的账号").await?;
    state
        .staff
        .set_active(id, false)
        .await
        .map_err(set_active_error)?;
    // Whatever their counter held goes back to the queue, not stuck at a desk nobody works.
    state.queue.return_held_by(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Reactivate a deactivated staff member: they may log in again (with the roles they hold).
#[utoipa::path(
    post, path = "/staff/v1/staff/{id}/activate", tag = "staff",
    params(("id" = i64, Path, description = "The staff member")),
    responses(
        (status = 204),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn activate(
    state: web::Data<AppState>,
    CurrentStaff(session): CurrentStaff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    managed(&state, &session, id, "不能启用自己的账号").await?;
    state
        .staff
        .set_active(id, true)
        .await
        .map_err(set_active_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set a member's password (a reset by an administrator); every session of theirs ends. One's
/// own password is changed at `POST /staff/v1/me/password`.
#[utoipa::path(
    post, path = "/staff/v1/staff/{id}/password", tag = "staff",
    params(("id" = i64, Path, description = "The staff member")),
    request_body = ResetPasswordRequest,
    responses(
        (status = 204),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 422, description = "WEAK_PASSWORD", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reset_password(
    state: web::Data<AppState>,
    CurrentStaff(session): CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    managed(&state, &session, id, "请通过“修改密码”修改自己的密码").await?;
    state
        .staff
        .reset_password(id, SecretString::from(body.into_inner().password))
        .await
        .map_err(set_password_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change one's own password, giving the current one. Every session of the member ends, this
/// one included: log in again with the new password. Wrong current passwords count as failed
/// logins.
#[utoipa::path(
    post, path = "/staff/v1/me/password", tag = "staff",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204),
        (status = 401, body = ErrorBody),
        (status = 403, description = "STAFF_PASSWORD_WRONG", body = ErrorBody),
        (status = 422, description = "WEAK_PASSWORD", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn change_own_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    CurrentStaff(session): CurrentStaff,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req, state.trust_forwarded_for);
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    state
        .staff
        .change_own_password(
            &session,
            SecretString::from(current_password),
            SecretString::from(new_password),
            ip,
        )
        .await
        .map_err(set_password_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace a member's roles; every session of theirs ends, so the next login carries the new
/// ones. The caller must be able to manage the member as they are and to give every new role.
#[utoipa::path(
    put, path = "/staff/v1/staff/{id}/roles", tag = "staff",
    params(("id" = i64, Path, description = "The staff member")),
    request_body = SetRolesRequest,
    responses(
        (status = 200, body = StaffMember),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: not theirs to manage, a role the caller may not give, or one's own roles", body = ErrorBody),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED (roles)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_roles(
    state: web::Data<AppState>,
    CurrentStaff(session): CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<SetRolesRequest>,
) -> Result<web::Json<StaffMember>, ApiError> {
    let id = path.into_inner();
    managed(&state, &session, id, "不能修改自己的角色").await?;
    let grants: Vec<Grant> = body
        .roles
        .iter()
        .map(|g| (role_from_wire(g.role), HallScope::from_hall_id(g.hall_id)))
        .collect();
    if !grants
        .iter()
        .all(|(role, scope)| session.may_grant(*role, *scope))
    {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    if grants.is_empty() {
        return Err(
            ApiError::new(ErrorCode::ValidationFailed).with_field("roles", "至少需要一个角色")
        );
    }
    state
        .staff
        .set_roles(id, grants)
        .await
        .map_err(|e| match e {
            RoleChangeError::UnknownStaff => ApiError::new(ErrorCode::NotFound),
            RoleChangeError::UnknownHall => ApiError::new(ErrorCode::ValidationFailed)
                .with_message("角色中的办事大厅不存在")
                .with_field("roles", "办事大厅不存在"),
            RoleChangeError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    let member = state
        .staff
        .get(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(web::Json(member_to_wire(&member)))
}

/// The member `id`, if the caller may manage them: an administrator (somewhere), not acting on
/// themselves (`oneself` says why not), and able to give every role the member holds.
async fn managed(
    state: &AppState,
    session: &StaffSession,
    id: i64,
    oneself: &str,
) -> Result<domain::StaffMember, ApiError> {
    if !session.roles.iter().any(|(role, _)| *role == Role::Admin) {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    if id == session.staff_id {
        return Err(ApiError::new(ErrorCode::Forbidden).with_message(oneself));
    }
    let member = state
        .staff
        .get(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    if !session.may_manage(&member.roles) {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    Ok(member)
}

fn set_active_error(e: SetActiveError) -> ApiError {
    match e {
        SetActiveError::UnknownStaff => ApiError::new(ErrorCode::NotFound),
        SetActiveError::Unexpected(e) => ApiError::unexpected(e),
    }
}

fn set_password_error(e: SetPasswordError) -> ApiError {
    match e {
        SetPasswordError::UnknownStaff => ApiError::new(ErrorCode::NotFound),
        SetPasswordError::WeakPassword(e) => {
            ApiError::new(ErrorCode::WeakPassword).with_field("password", e.to_string())
        }
        SetPasswordError::WrongPassword => ApiError::new(ErrorCode::StaffPasswordWrong)
            .with_field("currentPassword", "当前密码不正确"),
        SetPasswordError::RateLimited(l) => ApiError::rate_limited(l),
        SetPasswordError::Unexpected(e) => ApiError::unexpected(e),
    }
}
