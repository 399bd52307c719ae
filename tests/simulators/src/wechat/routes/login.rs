//! `GET /sns/jscode2session`: trades a `wx.login` code for the user's openid and a new
//! `session_key` (reference §1).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::{param, parse_query, prologue};
use crate::wechat::{
    Endpoint, Shared,
    wire::{self, TEXT_PLAIN, WxError},
};

pub(super) async fn jscode2session(
    shared: web::Data<Shared>,
    request: HttpRequest,
) -> HttpResponse {
    if let Some(fault) = prologue(&shared, Endpoint::Code2Session, TEXT_PLAIN).await {
        return fault;
    }
    let outcome = answer(&shared, &request);
    wire::reply(outcome, shared.world().omit_errcode(), TEXT_PLAIN)
}

fn answer(shared: &Shared, request: &HttpRequest) -> Result<Map<String, Value>, WxError> {
    let query = parse_query(request)?;
    shared.check_app(param(&query, "appid"), param(&query, "secret"))?;
    if param(&query, "grant_type") != Some("authorization_code") {
        return Err(WxError::InvalidGrantType);
    }
    let code = param(&query, "js_code").ok_or(WxError::CodeMissing)?;
    let session = shared.world().login(code)?;

    let mut body = Map::new();
    body.insert("openid".into(), session.openid.into());
    body.insert("session_key".into(), session.session_key.into());
    if let Some(unionid) = session.unionid {
        body.insert("unionid".into(), unionid.into());
    }
    Ok(body)
}
