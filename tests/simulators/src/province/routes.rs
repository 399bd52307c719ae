//! The route table, and what every platform API handler does first: count the request, apply
//! the faults of its group, verify the signature; and last: lose the response on demand.
//!
//! The platform's endpoints are in `routes/gov.rs`, the test hooks in `routes/hooks.rs`.

mod bundles;
mod gov;
mod hooks;

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use super::{
    Group, Shared, signing,
    world::{ApiError, Early, Reply},
};
use actix_web::{
    HttpRequest, HttpResponse,
    body::{BodySize, MessageBody},
    http::StatusCode,
    web::{self, Bytes},
};

/// The largest body read: 32 MiB of materials in base64, with room for the rest.
pub(crate) const MAX_BODY: usize = 64 << 20;
/// How long a lost response keeps the connection waiting: past any client's timeout.
const LOST_FOR: Duration = Duration::from_secs(3600);

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/gov/v1/items", web::get().to(gov::items))
        .route(
            "/gov/v1/applications",
            web::post().to(gov::submit_application),
        )
        .route(
            "/gov/v1/applications/{sblsh}",
            web::get().to(gov::case_state),
        )
        .route(
            "/gov/v1/applications/{sblsh}/supplements",
            web::post().to(gov::submit_supplement),
        )
        .route("/gov/v1/bundles", web::get().to(bundles::bundles))
        .route(
            "/gov/v1/bundle-applications",
            web::post().to(bundles::submit),
        )
        .route(
            "/gov/v1/bundle-applications/{bundle_no}",
            web::get().to(bundles::state),
        )
        .route("/gov/v1/licences", web::get().to(gov::licences))
        .route("/gov/v1/licences/{id}", web::get().to(gov::licence))
        .route(
            "/gov/v1/licences/{id}/status",
            web::get().to(gov::licence_status),
        )
        .route(
            "/gov/v1/evaluations",
            web::post().to(gov::submit_evaluation),
        )
        .service(web::scope("/__sim").configure(hooks::configure));
}

/// Runs `handle` for a request of `group` between the faults and the signature check.
async fn gate(
    shared: &web::Data<Shared>,
    request: &HttpRequest,
    body: &[u8],
    group: Group,
    handle: impl FnOnce(&web::Data<Shared>) -> Result<Reply, ApiError>,
) -> HttpResponse {
    let plan = shared.world().begin(group);
    if plan.down {
        return severed();
    }
    if !plan.slow.is_zero() {
        tokio::time::sleep(plan.slow).await;
    }
    match plan.early {
        Some(Early::Http5xx) => {
            return error(&ApiError::new(503, "UNAVAILABLE", "the platform is busy"));
        }
        Some(Early::TooMany) => {
            let mut response = error(&ApiError::new(429, "TOO_MANY_REQUESTS", "slow down"));
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("1"),
            );
            return response;
        }
        None => {}
    }
    if let Err(refusal) = verify(shared, request, body) {
        shared.world().unauthorised += 1;
        return error(&ApiError::new(
            401,
            refusal.code(),
            "the request is not signed right",
        ));
    }
    let response = match handle(shared) {
        Ok(reply) => respond(reply),
        Err(e) => error(&e),
    };
    if plan.lose_response {
        tokio::time::sleep(LOST_FOR).await;
        return severed();
    }
    response
}

fn verify(shared: &Shared, request: &HttpRequest, body: &[u8]) -> Result<(), signing::Refusal> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let path_with_query = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.path(), |p| p.as_str());
    let received = signing::Received {
        method: request.method().as_str(),
        path_with_query,
        body,
        app_key: header(signing::APP_KEY),
        timestamp: header(signing::TIMESTAMP),
        nonce: header(signing::NONCE),
        signature: header(signing::SIGNATURE),
    };
    let config = &shared.config;
    shared.world().nonces.verify(
        &config.app_key,
        &config.app_secret,
        &received,
        chrono::Utc::now().timestamp_millis(),
    )
}

fn respond(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status).json(reply.body)
}

fn error(e: &ApiError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(e.body())
}

/// Reads a JSON body; 400 when it is not JSON.
fn json_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request("the body is not JSON"))
}

/// A response whose body fails on its first poll: actix-web closes the connection without
/// finishing the response, which is what a client sees of a platform that went away.
fn severed() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(Severed)
}

struct Severed;

impl MessageBody for Severed {
    type Error = io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the simulated platform dropped the connection",
        ))))
    }
}
