//! Consent to 代办: the requests for my consent to applications others made for me, and my
//! answer. Accepting sends the application to the platform; refusing (or not answering in time)
//! means it is never sent.

use actix_web::web;
use miniprogram_api::applications as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::applications::{AnswerError, ConsentRequest};

use super::applications::consent_status_to_wire;
use super::resource;
use crate::error::ApiError;
use crate::extract::CurrentCitizen;
use crate::startup::AppState;

pub fn configure_citizen(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/consents", [web::get().to(list)]))
        .service(resource("/consents/{id}/accept", [web::post().to(accept)]))
        .service(resource("/consents/{id}/refuse", [web::post().to(refuse)]));
}

fn to_wire(c: ConsentRequest) -> wire::ConsentRequest {
    wire::ConsentRequest {
        id: c.id,
        application_id: c.application_id,
        item_code: c.item_code,
        item_name: c.item_name,
        requester_name: c.requester_name,
        status: consent_status_to_wire(c.status),
        created_at: c.created_at,
        expires_at: c.expires_at,
        answered_at: c.answered_at,
    }
}

fn answer_error(e: AnswerError) -> ApiError {
    match e {
        AnswerError::NotFound => ApiError::new(ErrorCode::ConsentNotFound),
        AnswerError::AlreadyAnswered => ApiError::new(ErrorCode::ConsentAlreadyAnswered),
        AnswerError::Expired => ApiError::new(ErrorCode::ConsentExpired),
        AnswerError::Unexpected(e) => ApiError::unexpected(e),
    }
}

/// Requests for my consent that wait for my answer (made to my verified identity).
#[utoipa::path(
    get, path = "/api/v1/consents", tag = "consents",
    responses((status = 200, body = wire::ConsentRequestList)),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<web::Json<wire::ConsentRequestList>, ApiError> {
    let consents = state
        .applications
        .pending_consents(session.citizen_id)
        .await
        .map_err(ApiError::unexpected)?
        .into_iter()
        .map(to_wire)
        .collect();
    Ok(web::Json(wire::ConsentRequestList { consents }))
}

async fn answer(
    state: &AppState,
    citizen_id: i64,
    id: &str,
    accept: bool,
) -> Result<web::Json<wire::ConsentRequest>, ApiError> {
    if id.len() > 36 {
        return Err(ApiError::new(ErrorCode::ConsentNotFound));
    }
    let answered = state
        .applications
        .answer_consent(citizen_id, id, accept)
        .await
        .map_err(answer_error)?;
    Ok(web::Json(to_wire(answered)))
}

/// Accept: the application made for me is sent to the platform, once; the consent and its
/// moment are recorded with it.
#[utoipa::path(
    post, path = "/api/v1/consents/{id}/accept", tag = "consents",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, body = wire::ConsentRequest),
        (status = 404, description = "CONSENT_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "CONSENT_ALREADY_ANSWERED, CONSENT_EXPIRED (never sent)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn accept(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
) -> Result<web::Json<wire::ConsentRequest>, ApiError> {
    answer(&state, session.citizen_id, &path.into_inner(), true).await
}

/// Refuse: the application made for me is never sent.
#[utoipa::path(
    post, path = "/api/v1/consents/{id}/refuse", tag = "consents",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, body = wire::ConsentRequest),
        (status = 404, description = "CONSENT_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "CONSENT_ALREADY_ANSWERED, CONSENT_EXPIRED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn refuse(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
) -> Result<web::Json<wire::ConsentRequest>, ApiError> {
    answer(&state, session.citizen_id, &path.into_inner(), false).await
}
