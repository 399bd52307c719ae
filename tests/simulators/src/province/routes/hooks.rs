//! The test hooks over HTTP, under `/__sim/`, for whoever cannot call [`ProvinceSim`]'s methods:
//! a person with curl against `gateway demo`, or the benchmark process. Unsigned. The table of
//! hooks is in the [`province`](crate::province) module's documentation.
//!
//! [`ProvinceSim`]: crate::province::ProvinceSim

use std::{fmt, time::Duration};

use actix_web::{HttpResponse, ResponseError, http::StatusCode, web};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::province::{Fault, Group, LicenceSpec, LicenceStatus, Phase, Shared, callbacks};

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/items", web::post().to(upsert_item))
        .route("/items", web::delete().to(remove_all_items))
        .route("/ledger", web::get().to(ledger))
        .route("/advance", web::post().to(advance))
        .route("/auto-progress", web::post().to(auto_progress))
        .route("/callback-url", web::post().to(callback_url))
        .route("/callbacks/duplicate", web::post().to(duplicate))
        .route("/callbacks/hold", web::post().to(hold))
        .route("/callbacks/release", web::post().to(release))
        .route("/licences", web::post().to(add_licence))
        .route("/licences/status", web::post().to(licence_status))
        .route("/faults", web::post().to(faults))
        .route("/faults/clear", web::post().to(clear_faults))
        .route("/stats", web::get().to(stats));
}

/// Why a hook refused; the only place its status and error body are decided.
#[derive(Debug)]
enum HookError {
    BadBody(String),
    NotFound(anyhow::Error),
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadBody(error) => write!(f, "unreadable body: {error}"),
            Self::NotFound(error) => write!(f, "{error:#}"),
        }
    }
}

impl ResponseError for HookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(json!({ "error": self.to_string() }))
    }
}

type HookResult = Result<HttpResponse, HookError>;

/// Reads a hook's JSON body; an empty body reads as `{}`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, HookError> {
    let body = if body.trim_ascii().is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| HookError::BadBody(e.to_string()))
}

fn done() -> HookResult {
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

async fn upsert_item(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let item: Value = parse(&body)?;
    shared
        .world()
        .upsert_item(item)
        .map_err(|e| HookError::BadBody(e.to_string()))?;
    done()
}

async fn remove_all_items(shared: web::Data<Shared>) -> HookResult {
    shared.world().remove_all_items();
    done()
}

async fn ledger(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "entries": shared.world().ledger() }))
}

#[derive(Deserialize)]
struct AdvanceRequest {
    sblsh: String,
    phase: Phase,
    #[serde(default)]
    detail: Value,
}

async fn advance(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: AdvanceRequest = parse(&body)?;
    let detail = if request.detail.is_null() {
        json!({})
    } else {
        request.detail
    };
    let event = callbacks::advance(&shared, &request.sblsh, request.phase, detail)
        .map_err(HookError::NotFound)?;
    Ok(HttpResponse::Ok().json(event))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    after_millis: u64,
    phase: Phase,
    #[serde(default)]
    detail: Value,
}

#[derive(Deserialize)]
struct AutoProgressRequest {
    steps: Option<Vec<Step>>,
}

async fn auto_progress(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: AutoProgressRequest = parse(&body)?;
    shared.world().auto_progress = request.steps.map(|steps| {
        steps
            .into_iter()
            .map(|s| (Duration::from_millis(s.after_millis), s.phase, s.detail))
            .collect()
    });
    done()
}

#[derive(Deserialize)]
struct UrlRequest {
    url: Option<String>,
}

async fn callback_url(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: UrlRequest = parse(&body)?;
    callbacks::set_url(&shared, request.url);
    done()
}

#[derive(Deserialize)]
struct TimesRequest {
    times: u32,
}

async fn duplicate(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: TimesRequest = parse(&body)?;
    shared.world().callbacks.duplicate_next += request.times;
    done()
}

#[derive(Deserialize)]
struct SwitchRequest {
    on: bool,
}

async fn hold(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: SwitchRequest = parse(&body)?;
    shared.world().callbacks.hold = request.on;
    done()
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ReleaseOrder {
    Reversed,
    Shuffled,
}

#[derive(Deserialize)]
struct ReleaseRequest {
    order: ReleaseOrder,
}

async fn release(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: ReleaseRequest = parse(&body)?;
    let order = match request.order {
        ReleaseOrder::Reversed => callbacks::Order::Reversed,
        ReleaseOrder::Shuffled => callbacks::Order::Shuffled,
    };
    let released = callbacks::release(&shared, order);
    Ok(HttpResponse::Ok().json(json!({ "ok": true, "released": released })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddLicenceRequest {
    holder_cert_no: String,
    #[serde(flatten)]
    spec: LicenceSpec,
}

async fn add_licence(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: AddLicenceRequest = parse(&body)?;
    let id = shared
        .world()
        .add_licence(&request.holder_cert_no, request.spec);
    Ok(HttpResponse::Ok().json(json!({ "licenceId": id })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LicenceStatusRequest {
    licence_id: String,
    status: LicenceStatus,
}

async fn licence_status(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: LicenceStatusRequest = parse(&body)?;
    shared
        .world()
        .set_licence_status(&request.licence_id, request.status)
        .map_err(HookError::NotFound)?;
    done()
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    Down,
    Slow,
    #[serde(alias = "http_5xx")]
    Http5xx,
    TooMany,
    TimeoutAfterAccept,
}

#[derive(Deserialize)]
struct FaultRequest {
    group: Group,
    fault: FaultKind,
    #[serde(default = "one")]
    times: u32,
    #[serde(default)]
    millis: u64,
}

fn one() -> u32 {
    1
}

async fn faults(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: FaultRequest = parse(&body)?;
    let fault = match request.fault {
        FaultKind::Down => Fault::Down,
        FaultKind::Slow => Fault::Slow(Duration::from_millis(request.millis)),
        FaultKind::Http5xx => Fault::Http5xx(request.times),
        FaultKind::TooMany => Fault::TooMany(request.times),
        FaultKind::TimeoutAfterAccept => Fault::TimeoutAfterAccept(request.times),
    };
    shared.world().fault(request.group, fault);
    done()
}

async fn clear_faults(shared: web::Data<Shared>) -> HookResult {
    shared.world().faults.clear();
    done()
}

async fn stats(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(shared.world().stats())
}
