//! The platform's 一件事 endpoints (province-api.md, "一件事 bundles"): the bundles of the
//! catalogue (fault group `items`) and bundle applications (fault group `applications`).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};

use super::{gate, json_body};
use crate::province::{Group, Shared, callbacks, world::ApiError};

/// `GET /gov/v1/bundles?updatedSince=&page=&pageSize=`
pub(super) async fn bundles(shared: web::Data<Shared>, request: HttpRequest) -> HttpResponse {
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
        let page_size = number("pageSize", 50)?;
        if page == 0 {
            return Err(ApiError::bad_request("page starts at 1"));
        }
        if !(1..=200).contains(&page_size) {
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
        Ok(shared.world().list_bundles(since, page, page_size))
    })
    .await
}

/// `POST /gov/v1/bundle-applications`
pub(super) async fn submit(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    gate(&shared, &request, &body, Group::Applications, |shared| {
        let raw = json_body(&body)?;
        let (reply, new_cases) = shared.world().submit_bundle(&raw)?;
        for sblsh in new_cases {
            callbacks::schedule(shared, sblsh);
        }
        Ok(reply)
    })
    .await
}

/// `GET /gov/v1/bundle-applications/{bundleNo}`
pub(super) async fn state(
    shared: web::Data<Shared>,
    request: HttpRequest,
    bundle_no: web::Path<String>,
) -> HttpResponse {
    gate(&shared, &request, b"", Group::Case, |shared| {
        shared.world().bundle_state(&bundle_no)
    })
    .await
}
