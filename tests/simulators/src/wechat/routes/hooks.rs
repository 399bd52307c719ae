//! The test hooks over HTTP, under `/__sim/`, for whoever cannot call [`WechatSim`]'s methods: a
//! person with curl following the README against `gateway demo`, or the benchmark process. The
//! table of hooks is in the [`wechat`](crate::wechat) module's documentation.
//!
//! [`WechatSim`]: crate::wechat::WechatSim

use std::{fmt, time::Duration};

use actix_web::{HttpResponse, ResponseError, http::StatusCode, web};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::json;

use crate::wechat::{Endpoint, Fault, Shared, template};

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/login-code", web::post().to(login_code))
        .route("/phone-code", web::post().to(phone_code))
        .route("/encrypted-phone", web::post().to(encrypted_phone))
        .route("/faults", web::post().to(faults))
        .route("/latency", web::post().to(latency))
        .route("/omit-errcode", web::post().to(omit_errcode))
        .route("/risky", web::post().to(risky))
        .route("/unionid", web::post().to(unionid))
        .route("/revoke-tokens", web::post().to(revoke_tokens))
        .route("/expire-tokens", web::post().to(expire_tokens))
        .route("/advance-clock", web::post().to(advance_clock))
        .route("/templates", web::post().to(templates))
        .route("/consent", web::post().to(consent))
        .route("/face-result", web::post().to(face_result))
        .route("/sec-check", web::post().to(sec_check))
        .route("/messages", web::get().to(messages))
        .route("/stats", web::get().to(stats));
}

/// Why a hook refused; the only place its status and error body are decided.
#[derive(Debug)]
enum HookError {
    BadBody(serde_json::Error),
    BadTemplate(String),
    UnknownUser(anyhow::Error),
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadBody(error) => write!(f, "unreadable body: {error}"),
            Self::BadTemplate(error) => f.write_str(error),
            Self::UnknownUser(error) => write!(f, "{error:#}"),
        }
    }
}

impl ResponseError for HookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadBody(_) | Self::BadTemplate(_) => StatusCode::BAD_REQUEST,
            Self::UnknownUser(_) => StatusCode::NOT_FOUND,
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
    serde_json::from_slice(body).map_err(HookError::BadBody)
}

fn done() -> HookResult {
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct LoginCodeRequest {
    openid: Option<String>,
}

async fn login_code(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: LoginCodeRequest = parse(&body)?;
    let mut world = shared.world();
    let openid = request.openid.unwrap_or_else(|| world.new_openid());
    let code = world.mint_login_code(&openid);
    Ok(HttpResponse::Ok().json(json!({ "code": code, "openid": openid })))
}

#[derive(Deserialize)]
struct PhoneCodeRequest {
    phone: String,
}

async fn phone_code(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: PhoneCodeRequest = parse(&body)?;
    let code = shared.world().mint_phone_code(&request.phone);
    Ok(HttpResponse::Ok().json(json!({ "code": code })))
}

#[derive(Deserialize)]
struct EncryptedPhoneRequest {
    openid: String,
    phone: String,
}

async fn encrypted_phone(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: EncryptedPhoneRequest = parse(&body)?;
    let (encrypted_data, iv) = shared
        .encrypted_phone(&request.openid, &request.phone)
        .map_err(HookError::UnknownUser)?;
    Ok(HttpResponse::Ok().json(json!({ "encryptedData": encrypted_data, "iv": iv })))
}

#[derive(Deserialize)]
struct FaultRequest {
    endpoint: Endpoint,
    fault: Fault,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

async fn faults(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: FaultRequest = parse(&body)?;
    shared
        .world()
        .inject(request.endpoint, request.fault, request.times);
    done()
}

#[derive(Deserialize)]
struct LatencyRequest {
    endpoint: Endpoint,
    millis: u64,
}

async fn latency(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: LatencyRequest = parse(&body)?;
    let latency = Duration::from_millis(request.millis);
    shared.world().set_latency(request.endpoint, latency);
    done()
}

#[derive(Deserialize)]
struct SwitchRequest {
    on: bool,
}

async fn omit_errcode(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: SwitchRequest = parse(&body)?;
    shared.world().set_omit_errcode(request.on);
    done()
}

#[derive(Deserialize)]
struct UserRequest {
    openid: String,
    unionid: Option<String>,
}

async fn risky(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: UserRequest = parse(&body)?;
    shared.world().mark_risky(&request.openid);
    done()
}

async fn unionid(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: UserRequest = parse(&body)?;
    shared.world().set_unionid(&request.openid, request.unionid);
    done()
}

async fn revoke_tokens(shared: web::Data<Shared>) -> HookResult {
    shared.world().revoke_tokens();
    done()
}

async fn expire_tokens(shared: web::Data<Shared>) -> HookResult {
    shared.world().expire_tokens();
    done()
}

#[derive(Deserialize)]
struct AdvanceClockRequest {
    seconds: u64,
}

async fn advance_clock(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: AdvanceClockRequest = parse(&body)?;
    shared
        .world()
        .advance_clock(Duration::from_secs(request.seconds));
    done()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TemplateRequest {
    template_id: String,
    keys: Vec<String>,
    #[serde(default)]
    long_term: bool,
}

async fn templates(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: TemplateRequest = parse(&body)?;
    template::check_keys(&request.keys).map_err(HookError::BadTemplate)?;
    let keys: Vec<&str> = request.keys.iter().map(String::as_str).collect();
    shared
        .world()
        .register_template(&request.template_id, &keys, request.long_term);
    done()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsentRequest {
    openid: String,
    template_id: String,
    #[serde(default = "one")]
    times: u32,
}

async fn consent(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: ConsentRequest = parse(&body)?;
    let mut world = shared.world();
    world.grant_consent(&request.openid, &request.template_id, request.times);
    let quota = world.quota(&request.openid, &request.template_id);
    Ok(HttpResponse::Ok().json(json!({ "ok": true, "quota": quota })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaceResultRequest {
    verify_id: Option<String>,
    openid: Option<String>,
    verify_ret: i64,
}

/// Sets the outcome of a verify_id, or of the latest one handed out for `openid` (what a curl
/// user following the README knows).
async fn face_result(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: FaceResultRequest = parse(&body)?;
    let mut world = shared.world();
    let verify_id = match (request.verify_id, request.openid) {
        (Some(id), _) => Some(id),
        (None, Some(openid)) => world.verify_ids_of(&openid).pop(),
        (None, None) => None,
    };
    match verify_id {
        Some(id) if world.set_face_result(&id, request.verify_ret) => {
            Ok(HttpResponse::Ok().json(json!({ "ok": true, "verifyId": id })))
        }
        _ => Err(HookError::UnknownUser(anyhow::anyhow!(
            "no such verify_id was handed out"
        ))),
    }
}

#[derive(Deserialize)]
struct MessagesQuery {
    openid: Option<String>,
}

async fn messages(shared: web::Data<Shared>, query: web::Query<MessagesQuery>) -> HttpResponse {
    let openid = query.openid.as_deref().filter(|o| !o.is_empty());
    let messages = shared.world().sent_messages(openid);
    HttpResponse::Ok().json(json!({ "messages": messages }))
}

async fn stats(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(shared.world().stats())
}

#[derive(Deserialize)]
struct SecCheckRequest {
    suggest: String,
    #[serde(default)]
    label: Option<i64>,
}

async fn sec_check(shared: web::Data<Shared>, body: web::Bytes) -> HookResult {
    let request: SecCheckRequest = parse(&body)?;
    let label = request.label.unwrap_or(if request.suggest == "pass" {
        100
    } else {
        20003
    });
    shared.world().set_sec_check(&request.suggest, label);
    done()
}
