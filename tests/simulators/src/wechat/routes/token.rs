//! `GET /cgi-bin/token` and `POST /cgi-bin/stable_token`: the app's access token (reference §2).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::{param, parse_query, prologue};
use crate::wechat::{
    Endpoint, Shared,
    wire::{self, JSON, WxError},
    world::IssuedToken,
};

pub(super) async fn classic(shared: web::Data<Shared>, request: HttpRequest) -> HttpResponse {
    if let Some(fault) = prologue(&shared, Endpoint::Token, JSON).await {
        return fault;
    }
    let outcome = answer_classic(&shared, &request);
    wire::reply(outcome, shared.world().omit_errcode(), JSON)
}

fn answer_classic(shared: &Shared, request: &HttpRequest) -> Result<Map<String, Value>, WxError> {
    let query = parse_query(request)?;
    if param(&query, "grant_type") != Some("client_credential") {
        return Err(WxError::InvalidGrantType);
    }
    shared.check_app(param(&query, "appid"), param(&query, "secret"))?;
    let issued = shared.world().classic_token()?;
    Ok(body(issued))
}

pub(super) async fn stable(shared: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    if let Some(fault) = prologue(&shared, Endpoint::StableToken, JSON).await {
        return fault;
    }
    let outcome = answer_stable(&shared, &body);
    wire::reply(outcome, shared.world().omit_errcode(), JSON)
}

/// The body must be a JSON object (47001 otherwise) with `grant_type`, `appid`, `secret` and an
/// optional boolean `force_refresh`.
fn answer_stable(shared: &Shared, body: &[u8]) -> Result<Map<String, Value>, WxError> {
    let request: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| WxError::DataFormat)?;
    let text = |name: &str| {
        request
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    if text("grant_type") != Some("client_credential") {
        return Err(WxError::InvalidGrantType);
    }
    shared.check_app(text("appid"), text("secret"))?;
    let force = match request.get("force_refresh") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(force)) => *force,
        Some(_) => return Err(WxError::DataFormat),
    };
    let issued = shared.world().stable_token(force)?;
    Ok(self::body(issued))
}

fn body(issued: IssuedToken) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("access_token".into(), issued.access_token.into());
    body.insert("expires_in".into(), issued.expires_in.into());
    body
}
