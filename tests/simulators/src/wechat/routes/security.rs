//! Content security (reference §5): `POST /wxa/msg_sec_check?access_token=`, version 2.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::{authorized_json, prologue};
use crate::wechat::{
    Endpoint, Shared,
    wire::{self, JSON, WxError},
};

pub(super) async fn msg_sec_check(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(fault) = prologue(&shared, Endpoint::MsgSecCheck, JSON).await {
        return fault;
    }
    let outcome = (|| {
        let payload = authorized_json(&shared, &request, &body)?;
        let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_owned);
        let (suggest, label) = shared.world().msg_sec_check(
            payload.get("version").and_then(Value::as_i64),
            text("openid"),
            payload.get("scene").and_then(Value::as_i64),
            text("content"),
        )?;
        let mut answer = Map::new();
        answer.insert(
            "result".into(),
            json!({ "suggest": suggest, "label": label }),
        );
        answer.insert(
            "detail".into(),
            json!([{ "strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90 }]),
        );
        answer.insert("trace_id".into(), json!(uuid_like()));
        Ok::<_, WxError>(answer)
    })();
    wire::reply(outcome, shared.world().omit_errcode(), JSON)
}

fn uuid_like() -> String {
    format!("{:032x}", rand::random::<u128>())
}
