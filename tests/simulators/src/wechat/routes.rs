//! The route table, and what every WeChat API handler does first: count the call, wait the
//! configured latency, answer an injected fault.
//!
//! One file per API family under `routes/`; each API that takes an access token is guarded by
//! [`World::authorize`](super::world::World::authorize).

mod face;
mod hooks;
mod login;
mod phone;
mod security;
mod subscribe;
mod token;

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};

use super::{
    Endpoint, Shared,
    wire::{self, JSON, WxError},
};

type Query = HashMap<String, String>;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sns/jscode2session", web::get().to(login::jscode2session))
        .route("/cgi-bin/token", web::get().to(token::classic))
        .service(
            web::resource("/cgi-bin/stable_token")
                .route(web::post().to(token::stable))
                .default_service(web::to(require_post)),
        )
        .service(
            web::resource("/wxa/business/getuserphonenumber")
                .route(web::post().to(phone::get_user_phone_number))
                .default_service(web::to(require_post)),
        )
        .service(
            web::resource("/cgi-bin/message/subscribe/send")
                .route(web::post().to(subscribe::send))
                .default_service(web::to(require_post)),
        )
        .service(
            web::resource("/cityservice/face/identify/getverifyid")
                .route(web::post().to(face::get_verify_id))
                .default_service(web::to(require_post)),
        )
        .service(
            web::resource("/cityservice/face/identify/queryverifyinfo")
                .route(web::post().to(face::query_verify_info))
                .default_service(web::to(require_post)),
        )
        .service(
            web::resource("/wxa/msg_sec_check")
                .route(web::post().to(security::msg_sec_check))
                .default_service(web::to(require_post)),
        )
        .service(web::scope("/__sim").configure(hooks::configure));
}

/// Counts the call, sleeps the configured latency and returns the answer for a pending fault.
async fn prologue(
    shared: &Shared,
    endpoint: Endpoint,
    content_type: &'static str,
) -> Option<HttpResponse> {
    let (latency, fault) = shared.world().begin_call(endpoint);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    fault.map(|fault| wire::fault(&fault, content_type))
}

/// The query string, percent-decoded; a string that cannot be parsed is 47001.
fn parse_query(request: &HttpRequest) -> Result<Query, WxError> {
    web::Query::<Query>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| WxError::DataFormat)
}

/// The start of every API that takes a JSON body and an access token: the token is checked
/// before the body, as WeChat does (47001 when it was put in the body instead of the query);
/// then the body must be a JSON object (47001 otherwise).
fn authorized_json(
    shared: &Shared,
    request: &HttpRequest,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, WxError> {
    let query = parse_query(request)?;
    let payload = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).ok();
    let token_in_body = payload
        .as_ref()
        .is_some_and(|p| p.contains_key("access_token"));
    shared
        .world()
        .authorize(param(&query, "access_token"), token_in_body)?;
    payload.ok_or(WxError::DataFormat)
}

/// A query parameter, treating an empty value as absent.
fn param<'q>(query: &'q Query, name: &str) -> Option<&'q str> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

async fn require_post() -> HttpResponse {
    wire::reply(Err(WxError::RequirePost), false, JSON)
}
