//! The current citizen: `GET /api/v1/me`, `POST /api/v1/me/phone`, and the real-name identity,
//! proven by face verification (`POST /api/v1/me/identity/verifications`, then
//! `…/{id}/complete`); `PUT /api/v1/me/identity` is gone (410).

use actix_web::{HttpResponse, web};
use miniprogram_api::me::{
    BindIdentityRequest, BindPhoneRequest, IdentityNoticeKind as WireNoticeKind,
    IdentityNoticeView, IdentityView, Me, VerificationStarted,
};
use miniprogram_api::{ErrorBody, ErrorCode};
use services::identity::{
    BindPhoneError, CitizenProfile, CompleteVerificationError, FaceFailure, IdentityNoticeKind,
    PhoneProof, StartVerificationError, StartedVerification,
};

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
            verified: i.verified_at.is_some(),
            verified_at: i.verified_at,
        }),
        identity_notice: profile.identity_notice.map(|n| IdentityNoticeView {
            kind: match n.kind {
                IdentityNoticeKind::VerifiedElsewhere => WireNoticeKind::VerifiedElsewhere,
                IdentityNoticeKind::Moved => WireNoticeKind::Moved,
            },
            message: match n.kind {
                IdentityNoticeKind::VerifiedElsewhere => {
                    "您此前填写的实名信息已由本人在其他微信账号通过人脸核验，已从本账号解除；如为本人，请重新进行人脸核验"
                }
                IdentityNoticeKind::Moved => {
                    "您的实名身份已在其他微信账号重新通过人脸核验，已从本账号解除；如非本人操作，请重新进行人脸核验"
                }
            }
            .to_owned(),
            at: n.at,
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

/// Gone: a declared identity is no longer bound. Answers 410 `FACE_VERIFICATION_REQUIRED`,
/// pointing to `POST /api/v1/me/identity/verifications`; nothing is stored.
#[utoipa::path(
    put, path = "/api/v1/me/identity", tag = "me",
    request_body = BindIdentityRequest,
    responses(
        (status = 410, description = "FACE_VERIFICATION_REQUIRED: use POST /api/v1/me/identity/verifications", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn bind_identity(
    CurrentCitizen(_session): CurrentCitizen,
) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::FaceVerificationRequired))
}

/// Start proving a real-name identity by face verification (人脸核身): names the person, asks
/// WeChat for a verify_id for `wx.requestFacialVerify`. Limited per account and per ID number a
/// day.
#[utoipa::path(
    post, path = "/api/v1/me/identity/verifications", tag = "me",
    request_body = BindIdentityRequest,
    responses(
        (status = 201, body = VerificationStarted),
        (status = 409, description = "IDENTITY_ALREADY_BOUND: the account holds another verified identity", body = ErrorBody),
        (status = 422, description = "INVALID_NAME, INVALID_ID_CARD_NO (WeChat is not asked)", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED: too many verifications today", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn start_verification(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    body: web::Json<BindIdentityRequest>,
) -> Result<HttpResponse, ApiError> {
    let started = state
        .identity
        .start_verification(&session, &body.name, &body.id_card_no)
        .await
        .map_err(start_error)?;
    Ok(HttpResponse::Created().json(started_to_wire(started)))
}

pub(crate) fn started_to_wire(started: StartedVerification) -> VerificationStarted {
    VerificationStarted {
        id: started.id,
        verify_id: started.verify_id,
        expires_at: started.expires_at,
    }
}

/// A verification that could not start, whichever person it was for.
pub(crate) fn start_error(e: StartVerificationError) -> ApiError {
    match e {
        StartVerificationError::Name(e) => ApiError::new(ErrorCode::InvalidName)
            .with_message(e.to_string())
            .with_field("name", e.to_string()),
        StartVerificationError::IdCardNo(e) => ApiError::new(ErrorCode::InvalidIdCardNo)
            .with_message(e.to_string())
            .with_field("idCardNo", e.to_string()),
        StartVerificationError::AlreadyBound => ApiError::new(ErrorCode::IdentityAlreadyBound),
        StartVerificationError::RateLimited(l) => ApiError::rate_limited(l),
        StartVerificationError::UpstreamBusy(e) => {
            ApiError::new(ErrorCode::UpstreamUnavailable).caused_by(e)
        }
        StartVerificationError::Unexpected(e) => ApiError::unexpected(e),
    }
}

/// A verification that did not complete, whichever person it was for.
pub(crate) fn complete_error(e: CompleteVerificationError) -> ApiError {
    match e {
        CompleteVerificationError::NotFound => ApiError::new(ErrorCode::VerificationNotFound),
        CompleteVerificationError::Finished => ApiError::new(ErrorCode::VerificationFinished),
        CompleteVerificationError::Expired => ApiError::new(ErrorCode::VerificationExpired),
        CompleteVerificationError::Failed(failure) => ApiError::new(match failure {
            FaceFailure::Cancelled => ErrorCode::FaceVerifyCancelled,
            FaceFailure::PermissionDenied => ErrorCode::FaceCameraNotAllowed,
            FaceFailure::FaceMismatch => ErrorCode::FaceNotMatched,
            FaceFailure::TimedOut => ErrorCode::FaceVerifyTimeout,
            FaceFailure::DeviceUnsupported => ErrorCode::FaceDeviceUnsupported,
            FaceFailure::System => ErrorCode::FaceVerifySystemError,
        }),
        CompleteVerificationError::Refused(e) => {
            ApiError::new(ErrorCode::FaceVerifyRefused).caused_by(e)
        }
        CompleteVerificationError::AlreadyBound => ApiError::new(ErrorCode::IdentityAlreadyBound),
        CompleteVerificationError::UpstreamBusy(e) => {
            ApiError::new(ErrorCode::UpstreamUnavailable).caused_by(e)
        }
        CompleteVerificationError::Unexpected(e) => ApiError::unexpected(e),
    }
}

/// After `wx.requestFacialVerify` finished: asks WeChat for the result and binds the identity
/// only when the face passed (`verify_ret` 10000). Every other outcome has its own code and
/// binds nothing. A passed verification takes the identity from any other account, which is
/// told through `identityNotice` on its `GET /api/v1/me`.
#[utoipa::path(
    post, path = "/api/v1/me/identity/verifications/{id}/complete", tag = "me",
    params(("id" = String, Path, description = "The verification's id")),
    responses(
        (status = 200, body = Me),
        (status = 404, description = "VERIFICATION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "VERIFICATION_FINISHED, IDENTITY_ALREADY_BOUND", body = ErrorBody),
        (status = 422, description = "FACE_VERIFY_CANCELLED, FACE_CAMERA_NOT_ALLOWED, FACE_NOT_MATCHED, FACE_VERIFY_TIMEOUT, FACE_DEVICE_UNSUPPORTED, FACE_VERIFY_SYSTEM_ERROR, FACE_VERIFY_REFUSED, VERIFICATION_EXPIRED", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE: ask again", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn complete_verification(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
) -> Result<web::Json<Me>, ApiError> {
    let profile = state
        .identity
        .complete_verification(&session, &path.into_inner())
        .await
        .map_err(complete_error)?;
    Ok(web::Json(to_wire(&profile)))
}
