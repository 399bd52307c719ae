//! Electronic licences: the citizen's own under `/api/v1/licences`, verification by staff under
//! `/staff/v1/halls/{hallId}/licence-verifications`, and the published keys at
//! `/.well-known/jwks.json`.

use actix_web::{HttpResponse, web};
use miniprogram_api::ErrorBody;
use miniprogram_api::ErrorCode;
use miniprogram_api::licences::{
    LicenceDetail, LicenceField, LicenceList, LicenceStatus, LicenceSummary, LicenceUse,
    LicenceUses, PresentationResponse, RevealRequest, Verdict, VerificationResponse,
    VerifiedLicence, VerifyRequest,
};
use services::licences::{self as domain, LicenceError, VerifyError};
use services::province::LicenceStatus as DomainStatus;
use services::staff::Role;

use crate::error::ApiError;
use crate::extract::{ActingCitizen, CurrentStaff};
use crate::routes::resource;
use crate::startup::AppState;
use miniprogram_api::family::ForMember;

/// The citizen's routes, to be mounted under `/api/v1`.
pub fn configure_citizen(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/licences", [web::get().to(list)]))
        .service(resource("/licences/{id}", [web::get().to(detail)]))
        .service(resource("/licences/{id}/reveal", [web::post().to(reveal)]))
        .service(resource(
            "/licences/{id}/presentations",
            [web::post().to(present)],
        ))
        .service(resource("/licences/{id}/uses", [web::get().to(uses)]));
}

/// The staff routes, to be mounted under `/staff/v1`.
pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/halls/{hall_id}/licence-verifications",
        [web::post().to(verify)],
    ));
}

fn status_to_wire(s: DomainStatus) -> LicenceStatus {
    match s {
        DomainStatus::Valid => LicenceStatus::Valid,
        DomainStatus::Suspended => LicenceStatus::Suspended,
        DomainStatus::Revoked => LicenceStatus::Revoked,
        DomainStatus::Expired => LicenceStatus::Expired,
    }
}

fn verdict_to_wire(v: domain::Verdict) -> Verdict {
    match v {
        domain::Verdict::Valid => Verdict::Valid,
        domain::Verdict::Invalid => Verdict::Invalid,
    }
}

fn summary_to_wire(l: domain::Licence) -> LicenceSummary {
    LicenceSummary {
        licence_id: l.licence_id,
        type_code: l.type_code,
        type_name: l.type_name,
        holder_name: l.holder_name,
        issuer: l.issuer,
        issued_at: l.issued_at,
        valid_from: l.valid_from,
        valid_until: l.valid_until,
        status: status_to_wire(l.status),
    }
}

fn field_to_wire(f: domain::Field) -> LicenceField {
    LicenceField {
        key: f.key,
        label: f.label,
        value: f.value,
        sensitive: f.sensitive,
    }
}

fn licence_error(e: LicenceError) -> ApiError {
    match e {
        LicenceError::IdentityRequired => ApiError::new(ErrorCode::IdentityRequired)
            .with_message("请先完成实名认证后再查看电子证照"),
        LicenceError::IdentityNotVerified => ApiError::new(ErrorCode::IdentityNotVerified),
        LicenceError::HolderMismatch => ApiError::new(ErrorCode::LicenceHolderMismatch),
        LicenceError::NotFound => ApiError::new(ErrorCode::LicenceNotFound),
        LicenceError::HolderOnly => ApiError::new(ErrorCode::LicenceHolderOnly),
        LicenceError::Unavailable(e) => ApiError::new(ErrorCode::UpstreamUnavailable).caused_by(e),
        LicenceError::Unexpected(e) => ApiError::unexpected(e),
    }
}

/// The citizen's licences, from the provincial licence library.
#[utoipa::path(
    get, path = "/api/v1/licences", tag = "licences",
    params(ForMember),
    responses(
        (status = 200, body = LicenceList),
        (status = 403, description = "IDENTITY_REQUIRED, IDENTITY_NOT_VERIFIED", body = ErrorBody),
        (status = 404, description = "FAMILY_MEMBER_NOT_FOUND: memberId is not a live family member", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    ActingCitizen { acting, .. }: ActingCitizen,
) -> Result<web::Json<LicenceList>, ApiError> {
    let licences = state.licences.list(&acting).await.map_err(licence_error)?;
    Ok(web::Json(LicenceList {
        licences: licences.into_iter().map(summary_to_wire).collect(),
    }))
}

/// One of the citizen's licences, sensitive fields masked.
#[utoipa::path(
    get, path = "/api/v1/licences/{id}", tag = "licences",
    params(("id" = String, Path, description = "The licence id"), ForMember),
    responses(
        (status = 200, body = LicenceDetail),
        (status = 403, description = "LICENCE_HOLDER_ONLY: a member's licence of a type only its holder shows", body = ErrorBody),
        (status = 404, description = "LICENCE_NOT_FOUND: not one of the citizen's (or the member's); FAMILY_MEMBER_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn detail(
    state: web::Data<AppState>,
    ActingCitizen { acting, .. }: ActingCitizen,
    path: web::Path<String>,
) -> Result<web::Json<LicenceDetail>, ApiError> {
    let view = state
        .licences
        .detail(&acting, &path)
        .await
        .map_err(licence_error)?;
    Ok(web::Json(LicenceDetail {
        summary: summary_to_wire(view.licence),
        fields: view.fields.into_iter().map(field_to_wire).collect(),
        face_image: view.face_image,
    }))
}

/// Shows one sensitive field in full, at the citizen's explicit request (audited).
#[utoipa::path(
    post, path = "/api/v1/licences/{id}/reveal", tag = "licences",
    params(("id" = String, Path, description = "The licence id"), ForMember),
    request_body = RevealRequest,
    responses(
        (status = 200, body = LicenceField),
        (status = 403, description = "LICENCE_HOLDER_ONLY", body = ErrorBody),
        (status = 404, description = "LICENCE_NOT_FOUND: not the citizen's, or no such field; FAMILY_MEMBER_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reveal(
    state: web::Data<AppState>,
    ActingCitizen { acting, .. }: ActingCitizen,
    path: web::Path<String>,
    body: web::Json<RevealRequest>,
) -> Result<HttpResponse, ApiError> {
    let field = state
        .licences
        .reveal(&acting, &path, &body.field)
        .await
        .map_err(licence_error)?;
    // The plain value must not sit in a cache between the phone and us.
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(field_to_wire(field)))
}

/// A short-lived signed QR payload for showing the licence (亮证).
#[utoipa::path(
    post, path = "/api/v1/licences/{id}/presentations", tag = "licences",
    params(("id" = String, Path, description = "The licence id"), ForMember),
    responses(
        (status = 201, body = PresentationResponse),
        (status = 403, description = "LICENCE_HOLDER_MISMATCH: the licence library names another holder; LICENCE_HOLDER_ONLY: a member's identity card (or another type not shown for members)", body = ErrorBody),
        (status = 404, description = "LICENCE_NOT_FOUND, FAMILY_MEMBER_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn present(
    state: web::Data<AppState>,
    ActingCitizen { acting, .. }: ActingCitizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = state
        .licences
        .present(&acting, &path)
        .await
        .map_err(licence_error)?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(PresentationResponse {
            payload: p.payload,
            watermark: p.watermark,
            expires_at: p.expires_at,
        }))
}

/// Every display, reveal, presentation and verification of the licence, newest first.
#[utoipa::path(
    get, path = "/api/v1/licences/{id}/uses", tag = "licences",
    params(("id" = String, Path, description = "The licence id"), ForMember),
    responses(
        (status = 200, body = LicenceUses),
        (status = 403, description = "LICENCE_HOLDER_ONLY", body = ErrorBody),
        (status = 404, description = "LICENCE_NOT_FOUND, FAMILY_MEMBER_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn uses(
    state: web::Data<AppState>,
    ActingCitizen { acting, .. }: ActingCitizen,
    path: web::Path<String>,
) -> Result<web::Json<LicenceUses>, ApiError> {
    let uses = state
        .licences
        .uses(&acting, &path)
        .await
        .map_err(licence_error)?;
    Ok(web::Json(LicenceUses {
        uses: uses
            .into_iter()
            .map(|u| LicenceUse {
                action: u.action.as_str().to_owned(),
                cause: u.cause,
                hall_id: u.hall_id,
                staff_id: u.staff_id,
                verdict: u.verdict.map(verdict_to_wire),
                at: u.at,
            })
            .collect(),
    }))
}

/// Verifies a scanned licence QR at a hall: signature, expiry, first scan, live status.
#[utoipa::path(
    post, path = "/staff/v1/halls/{hallId}/licence-verifications", tag = "licences",
    params(("hallId" = i64, Path, description = "The hall")),
    request_body = VerifyRequest,
    responses(
        (status = 200, body = VerificationResponse, description = "A verdict, VALID or INVALID with its reason"),
        (status = 401, description = "UNAUTHENTICATED: no staff token (a citizen's is refused)", body = ErrorBody),
        (status = 403, description = "FORBIDDEN: not a verifier, clerk or admin of this hall", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE: the live status could not be read; scan again", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn verify(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<VerifyRequest>,
) -> Result<web::Json<VerificationResponse>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Verifier, hall_id)?;
    if body.payload.len() > 2048 {
        return Err(ApiError::new(ErrorCode::ValidationFailed).with_field("payload", "too long"));
    }
    let verifier = domain::Verifier {
        staff_id: staff.0.staff_id,
        display_name: staff.0.display_name.clone(),
        hall_id,
    };
    let v = state
        .licences
        .verify(&verifier, &body.payload)
        .await
        .map_err(|e| match e {
            VerifyError::HallNotFound => ApiError::new(ErrorCode::HallNotFound),
            VerifyError::Unavailable(e) => {
                ApiError::new(ErrorCode::UpstreamUnavailable).caused_by(e)
            }
            VerifyError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(VerificationResponse {
        verdict: verdict_to_wire(v.verdict),
        reason: v.reason.code().to_owned(),
        message: v.reason.message().to_owned(),
        licence: v.licence.map(|l| VerifiedLicence {
            licence_id: l.licence_id,
            type_code: l.type_code,
            type_name: l.type_name,
            holder_name: l.holder_name,
            issuer: l.issuer,
            valid_until: l.valid_until,
            status: l.status.map(status_to_wire),
        }),
        checked_at: v.checked_at,
    }))
}

/// The public keys licence presentations are signed with (JWKS, OKP/Ed25519).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "licences",
    responses((status = 200, description = "`{\"keys\": [{kty, crv, alg, use, kid, x}]}`"))
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.licences.jwks())
}
