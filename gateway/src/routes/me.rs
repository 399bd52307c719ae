//! The current citizen: `GET /api/v1/me`, `POST /api/v1/me/phone`, `PUT /api/v1/me/identity`.

use actix_web::web;
use miniprogram_api::me::{BindIdentityRequest, BindPhoneRequest, IdentityView, Me};
use miniprogram_api::{ErrorBody, ErrorCode};
use services::identity::{BindIdentityError, BindPhoneError, CitizenProfile, PhoneProof};

use crate::error::ApiError;
use crate::extract::CurrentCitizen;
use crate::startup::AppState;

pub fn to_wire(profile: &CitizenProfile) -> Me {
    Me {
        id: profile.citizen_id,
        phone: profile.phone.clone(),
        identity: profile.identity.as_ref().map(|i| IdentityView {
            name: i.name.clone(),
            id_card_no: i.id_card_no.clone(),
            bound_at: i.bound_at,
        }),
        created_at: profile.created_at,
    }
}

/// The current citizen, with personal information masked.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_me(CurrentCitizen(session): CurrentCitizen) -> web::Json<Me> {
    web::Json(to_wire(&session.profile))
}

/// Bind the phone number from the getPhoneNumber button (or legacy encrypted data).
#[utoipa::path(
    post, path = "/api/v1/me/phone", tag = "me",
    request_body = BindPhoneRequest,
    responses(
        (status = 200, body = Me),
        (status = 400, description = "PHONE_CODE_INVALID, PHONE_DATA_INVALID, INVALID_JSON", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED: not a mainland mobile number", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn bind_phone(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    body: web::Json<BindPhoneRequest>,
) -> Result<web::Json<Me>, ApiError> {
    let proof = match body.into_inner() {
        BindPhoneRequest::Code { code } => PhoneProof::Code(code.trim().to_owned()),
        BindPhoneRequest::Encrypted { encrypted_data, iv } => {
            PhoneProof::Encrypted { encrypted_data, iv }
        }
    };
    let profile = state
        .identity
        .bind_phone(&session, proof)
        .await
        .map_err(|e| match e {
            BindPhoneError::CodeInvalid => ApiError::new(ErrorCode::PhoneCodeInvalid),
            BindPhoneError::DataInvalid => ApiError::new(ErrorCode::PhoneDataInvalid),
            BindPhoneError::Number(e) => ApiError::new(ErrorCode::ValidationFailed)
                .with_message(e.to_string())
                .with_field("phone", e.to_string()),
            BindPhoneError::RateLimited(l) => ApiError::rate_limited(l),
            BindPhoneError::UpstreamBusy(e) => {
                ApiError::new(ErrorCode::UpstreamUnavailable).caused_by(e)
            }
            BindPhoneError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(to_wire(&profile)))
}

/// Bind a real-name identity (name and resident ID number).
#[utoipa::path(
    put, path = "/api/v1/me/identity", tag = "me",
    request_body = BindIdentityRequest,
    responses(
        (status = 200, body = Me),
        (status = 409, description = "IDENTITY_TAKEN, IDENTITY_ALREADY_BOUND", body = ErrorBody),
        (status = 422, description = "INVALID_NAME, INVALID_ID_CARD_NO", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn bind_identity(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    body: web::Json<BindIdentityRequest>,
) -> Result<web::Json<Me>, ApiError> {
    let profile = state
        .identity
        .bind_identity(&session, &body.name, &body.id_card_no)
        .await
        .map_err(|e| match e {
            BindIdentityError::Name(e) => ApiError::new(ErrorCode::InvalidName)
                .with_message(e.to_string())
                .with_field("name", e.to_string()),
            BindIdentityError::IdCardNo(e) => ApiError::new(ErrorCode::InvalidIdCardNo)
                .with_message(e.to_string())
                .with_field("idCardNo", e.to_string()),
            BindIdentityError::IdentityTaken => ApiError::new(ErrorCode::IdentityTaken),
            BindIdentityError::AlreadyBound => ApiError::new(ErrorCode::IdentityAlreadyBound),
            BindIdentityError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(to_wire(&profile)))
}
