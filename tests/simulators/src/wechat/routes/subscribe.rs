//! `POST /cgi-bin/message/subscribe/send?access_token=`: sends a subscribe message to a user who
//! accepted its template (reference §4).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::{authorized_json, prologue};
use crate::wechat::{
    Endpoint, Shared,
    wire::{self, JSON, WxError},
    world::Outgoing,
};

pub(super) async fn send(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(fault) = prologue(&shared, Endpoint::SubscribeSend, JSON).await {
        return fault;
    }
    let outcome = answer(&shared, &request, &body);
    let stall = shared.world().take_stall();
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    wire::reply(outcome, shared.world().omit_errcode(), JSON)
}

/// The token is checked before the body, as for every API; then the body must be a JSON object
/// whose fields have the right JSON types (47001 otherwise). What the values mean is the world's
/// to judge.
fn answer(
    shared: &Shared,
    request: &HttpRequest,
    body: &[u8],
) -> Result<Map<String, Value>, WxError> {
    let payload = authorized_json(shared, request, body)?;
    let message = Outgoing {
        touser: text(&payload, "touser")?,
        template_id: text(&payload, "template_id")?,
        page: text(&payload, "page")?,
        miniprogram_state: text(&payload, "miniprogram_state")?,
        lang: text(&payload, "lang")?,
        data: data(&payload)?,
    };
    let msgid = shared.world().send_subscribe(message)?;

    let mut body = Map::new();
    body.insert("msgid".into(), msgid.into());
    Ok(body)
}

/// A string field; absent or `null` is `None`, any other JSON type 47001.
fn text(payload: &Map<String, Value>, name: &str) -> Result<Option<String>, WxError> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(WxError::DataFormat),
    }
}

/// `data` as key → value: absent or `null` is empty, anything but an object 47001. An entry that
/// is not `{"value": "<text>"}` keeps its key with no value, for the world to refuse by name.
fn data(payload: &Map<String, Value>) -> Result<BTreeMap<String, Option<String>>, WxError> {
    let entries = match payload.get("data") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(entries)) => entries,
        Some(_) => return Err(WxError::DataFormat),
    };
    Ok(entries
        .iter()
        .map(|(key, entry)| {
            let value = entry
                .get("value")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (key.clone(), value)
        })
        .collect())
}
