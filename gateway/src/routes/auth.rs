//! `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`.

use actix_web::{HttpRequest, HttpResponse, web};
use miniprogram_api::auth::{LoginRequest, LoginResponse};
use miniprogram_api::{ErrorBody, ErrorCode};
use secrecy::ExposeSecret as _;
use services::identity::LoginError;

use crate::error::ApiError;
use crate::extract::{CurrentCitizen, client_ip};
use crate::routes::me::to_wire;
use crate::startup::AppState;

/// Log in with the code from `wx.login()`.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, description = "WECHAT_CODE_INVALID, WECHAT_CODE_USED, INVALID_JSON", body = ErrorBody),
        (status = 403, description = "WECHAT_USER_BLOCKED", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE", body = ErrorBody),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    let ip = client_ip(&req, state.trust_forwarded_for);
    let logged_in = state
        .identity
        .login(body.code.trim(), ip)
        .await
        .map_err(|e| match e {
            LoginError::CodeInvalid => ApiError::new(ErrorCode::WechatCodeInvalid),
            LoginError::CodeUsed => ApiError::new(ErrorCode::WechatCodeUsed),
            LoginError::UserBlocked => ApiError::new(ErrorCode::WechatUserBlocked),
            LoginError::RateLimited(l) => ApiError::rate_limited(l),
            LoginError::UpstreamBusy(e) => {
                ApiError::new(ErrorCode::UpstreamUnavailable).caused_by(e)
            }
            LoginError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(LoginResponse {
        token: logged_in.token.expose_secret().to_owned(),
        expires_in: logged_in.idle_ttl.as_secs(),
        user: to_wire(&logged_in.profile),
    }))
}

/// End the current session.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn logout(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<HttpResponse, ApiError> {
    state.identity.logout(&session).await?;
    Ok(HttpResponse::NoContent().finish())
}
