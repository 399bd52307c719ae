//! 人脸核身 2.0 (reference §8): `POST /cityservice/face/identify/getverifyid?access_token=` and
//! `POST /cityservice/face/identify/queryverifyinfo?access_token=`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::{authorized_json, prologue};
use crate::wechat::{
    Endpoint, Shared,
    wire::{self, JSON, WxError},
    world::{VerifyQuery, VerifyRequest},
};

fn text(payload: &Map<String, Value>, key: &str) -> Option<String> {
    payload.get(key).and_then(Value::as_str).map(str::to_owned)
}

pub(super) async fn get_verify_id(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(fault) = prologue(&shared, Endpoint::GetVerifyId, JSON).await {
        return fault;
    }
    let outcome = (|| {
        let payload = authorized_json(&shared, &request, &body)?;
        let cert = payload
            .get("cert_info")
            .and_then(Value::as_object)
            .ok_or_else(|| WxError::ArgumentInvalid("cert_info".into()))?;
        let (verify_id, expires_in) = shared.world().get_verify_id(VerifyRequest {
            out_seq_no: text(&payload, "out_seq_no"),
            cert_type: text(cert, "cert_type"),
            cert_name: text(cert, "cert_name"),
            cert_no: text(cert, "cert_no"),
            openid: text(&payload, "openid"),
        })?;
        let mut answer = Map::new();
        answer.insert("verify_id".into(), json!(verify_id));
        answer.insert("expires_in".into(), json!(expires_in));
        Ok::<_, WxError>(answer)
    })();
    wire::reply(outcome, shared.world().omit_errcode(), JSON)
}

pub(super) async fn query_verify_info(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(fault) = prologue(&shared, Endpoint::QueryVerifyInfo, JSON).await {
        return fault;
    }
    let outcome = (|| {
        let payload = authorized_json(&shared, &request, &body)?;
        let verify_ret = shared.world().query_verify_info(VerifyQuery {
            verify_id: text(&payload, "verify_id"),
            out_seq_no: text(&payload, "out_seq_no"),
            cert_hash: text(&payload, "cert_hash"),
            openid: text(&payload, "openid"),
        })?;
        let mut answer = Map::new();
        answer.insert("verify_ret".into(), json!(verify_ret));
        Ok::<_, WxError>(answer)
    })();
    wire::reply(outcome, shared.world().omit_errcode(), JSON)
}
