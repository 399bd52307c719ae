//! The platform's API (province-api.md): catalogue, applications, cases, supplements, licences,
//! evaluations. Each handler goes through [`gate`] and asks the world one question.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};

use super::{gate, json_body};
use crate::province::{
    Group, LicenceRead, LicenceReadKind, Shared, callbacks,
    world::{ApiError, Reply},
};

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;

/// `GET /gov/v1/items?updatedSince=&page=&pageSize=`
pub(super) async fn items(shared: web::Data<Shared>, request: HttpRequest) -> HttpResponse {
    gate(&shared, &request, b"", Group::Items, |shared| {
        let query = web::Query::<HashMap<String, String>>::from_query(request.query_string())
            .map_err(|_| ApiError::bad_request("unreadable query string"))?;
        let number = |name: &str, default: u32| -> Result<u32, ApiError> {
            query.get(name).map_or(Ok(default), |raw| {
                raw.parse()
                    .map_err(|_| ApiError::bad_request(format!("{name} is not a number")))
            })
        };
        let page = number("page", 1)?;
        let page_size = number("pageSize", DEFAULT_PAGE_SIZE)?;
        if page == 0 {
            return Err(ApiError::bad_request("page starts at 1"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(ApiError::bad_request("pageSize must be 1 to 200"));
        }
        let since = match query.get("updatedSince") {
            None => None,
            Some(raw) => Some(
                DateTime::parse_from_rfc3339(raw)
                    .map_err(|_| ApiError::bad_request("updatedSince is not RFC 3339"))?
                    .with_timezone(&Utc),
            ),
        };
        Ok(shared.world().list_items(since, page, page_size))
    })
    .await
}

/// `POST /gov/v1/applications`
pub(super) async fn submit_application(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    gate(&shared, &request, &body, Group::Applications, |shared| {
        let raw = json_body(&body)?;
        let (reply, new_case) = shared.world().submit_application(&raw)?;
        if let Some(sblsh) = new_case {
            callbacks::schedule(shared, sblsh);
        }
        Ok(reply)
    })
    .await
}

/// `GET /gov/v1/applications/{sblsh}`
pub(super) async fn case_state(
    shared: web::Data<Shared>,
    request: HttpRequest,
    sblsh: web::Path<String>,
) -> HttpResponse {
    gate(&shared, &request, b"", Group::Case, |shared| {
        shared.world().case_state(&sblsh)
    })
    .await
}

/// `POST /gov/v1/applications/{sblsh}/supplements`
pub(super) async fn submit_supplement(
    shared: web::Data<Shared>,
    request: HttpRequest,
    sblsh: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    gate(&shared, &request, &body, Group::Supplements, |shared| {
        let raw = json_body(&body)?;
        let (reply, event) = shared.world().submit_supplement(&sblsh, &raw)?;
        if let Some(event) = event {
            callbacks::dispatch(shared, event);
        }
        Ok(reply)
    })
    .await
}

/// The `X-Use-Cause` header when it is `HOLDER_DISPLAY` or `VERIFY:<hall>`; 400 otherwise.
fn use_cause(request: &HttpRequest) -> Result<String, ApiError> {
    let cause = request
        .headers()
        .get("X-Use-Cause")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let valid = cause == "HOLDER_DISPLAY"
        || cause
            .strip_prefix("VERIFY:")
            .is_some_and(|hall| !hall.trim().is_empty());
    if valid {
        Ok(cause.to_owned())
    } else {
        Err(ApiError::new(
            400,
            "BAD_USE_CAUSE",
            "X-Use-Cause must be HOLDER_DISPLAY or VERIFY:<hall>",
        ))
    }
}

fn record(shared: &Shared, kind: LicenceReadKind, licence_id: Option<&str>, cause: String) {
    shared.world().licence_reads.push(LicenceRead {
        kind,
        licence_id: licence_id.map(str::to_owned),
        cause,
        at: Utc::now(),
    });
}

/// `GET /gov/v1/licences?holderCertType=&holderCertNo=`
pub(super) async fn licences(shared: web::Data<Shared>, request: HttpRequest) -> HttpResponse {
    gate(&shared, &request, b"", Group::Licences, |shared| {
        let query = web::Query::<HashMap<String, String>>::from_query(request.query_string())
            .map_err(|_| ApiError::bad_request("unreadable query string"))?;
        let cert_no = query
            .get("holderCertNo")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_request("holderCertNo is required"))?;
        if query.get("holderCertType").is_none_or(String::is_empty) {
            return Err(ApiError::bad_request("holderCertType is required"));
        }
        let cause = use_cause(&request)?;
        record(shared, LicenceReadKind::List, None, cause);
        Ok(shared.world().licences_of(cert_no))
    })
    .await
}

/// `GET /gov/v1/licences/{id}`
pub(super) async fn licence(
    shared: web::Data<Shared>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    gate(&shared, &request, b"", Group::Licences, |shared| {
        let cause = use_cause(&request)?;
        record(shared, LicenceReadKind::Detail, Some(&id), cause);
        shared.world().licence(&id)
    })
    .await
}

/// `GET /gov/v1/licences/{id}/status`
pub(super) async fn licence_status(
    shared: web::Data<Shared>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    gate(&shared, &request, b"", Group::Licences, |shared| {
        let cause = use_cause(&request)?;
        record(shared, LicenceReadKind::Status, Some(&id), cause);
        shared.world().licence_status(&id)
    })
    .await
}

/// `POST /gov/v1/evaluations`
pub(super) async fn submit_evaluation(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    gate(&shared, &request, &body, Group::Evaluations, |shared| {
        let raw = json_body(&body)?;
        let reply: Reply = shared.world().submit_evaluation(&raw)?;
        Ok(reply)
    })
    .await
}
