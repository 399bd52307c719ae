//! `POST /wxa/business/getuserphonenumber?access_token=`: trades a getPhoneNumber code for the
//! user's phone number (reference §3).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::{authorized_json, prologue};
use crate::wechat::{
    Endpoint, Shared,
    crypto::pure_phone_number,
    wire::{self, JSON, WxError},
};

pub(super) async fn get_user_phone_number(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(fault) = prologue(&shared, Endpoint::PhoneNumber, JSON).await {
        return fault;
    }
    let outcome = answer(&shared, &request, &body);
    wire::reply(outcome, shared.world().omit_errcode(), JSON)
}

/// The token is checked before the body, as WeChat does; then the body must be a JSON object
/// with a `code` (47001 / 41008 otherwise).
fn answer(
    shared: &Shared,
    request: &HttpRequest,
    body: &[u8],
) -> Result<Map<String, Value>, WxError> {
    let payload = authorized_json(shared, request, body)?;
    let code = payload
        .get("code")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or(WxError::CodeMissing)?;
    let (phone, country_code, timestamp) = {
        let mut world = shared.world();
        let phone = world.redeem_phone_code(code)?;
        let country_code = if world.next_country_code_is_string() {
            json!("86")
        } else {
            json!(86)
        };
        (phone, country_code, world.now().as_secs())
    };

    let mut body = Map::new();
    body.insert(
        "phone_info".into(),
        json!({
            "phoneNumber": phone,
            "purePhoneNumber": pure_phone_number(&phone),
            "countryCode": country_code,
            "watermark": { "timestamp": timestamp, "appid": shared.config.app_id },
        }),
    );
    Ok(body)
}
