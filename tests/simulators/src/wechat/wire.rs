//! How the simulator's answers look on the wire: WeChat's error codes and messages, the success
//! envelope, and the faults (a busy answer, a 502 from a proxy, a cut connection).
//!
//! WeChat answers its own errors with HTTP 200 and `{"errcode","errmsg":"…, rid: …"}`; only a
//! proxy in front of it produces a 5xx. Both are reproduced here because a client must handle both.

use std::{
    borrow::Cow,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::{
    HttpResponse,
    body::{BodySize, MessageBody},
    http::StatusCode,
    web::Bytes,
};
use serde_json::{Map, Value, json};

use super::{Fault, ids};

/// The content type WeChat's JSON APIs answer with.
pub(crate) const JSON: &str = "application/json; encoding=utf-8";
/// `jscode2session` really answers JSON labelled `text/plain`; clients that insist on
/// `application/json` break on it, so the simulator does the same.
pub(crate) const TEXT_PLAIN: &str = "text/plain";

/// A WeChat error answer. Only the codes the simulator produces are listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WxError {
    /// `-1`: system busy, retry later.
    Busy,
    /// `40001`: the access token is invalid or not the latest.
    InvalidCredential,
    /// `40002`: `grant_type` is not the expected value.
    InvalidGrantType,
    /// `40003`: the openid is not a user of this app.
    InvalidOpenid,
    /// `40013`: the appid is not ours.
    InvalidAppId,
    /// `40129`: the scene of a content check is not 1–4.
    BadScene,
    /// `40029`: the code is unknown, expired or of the wrong kind.
    InvalidCode,
    /// `40037`: the template id is not one of the app's templates.
    InvalidTemplateId,
    /// `40125`: the app secret is wrong.
    InvalidSecret,
    /// `40163`: the code was already used.
    CodeUsed,
    /// `40226`: the user is blocked as high-risk.
    RiskyUser,
    /// `41001`: no access token in the query string.
    AccessTokenMissing,
    /// `41002`: no appid.
    AppIdMissing,
    /// `41004`: no secret.
    SecretMissing,
    /// `41008`: no code.
    CodeMissing,
    /// `41030`: the page to open from a message is malformed.
    InvalidPage,
    /// `42001`: the access token expired.
    AccessTokenExpired,
    /// `43002`: the API takes POST only.
    RequirePost,
    /// `43101`: the user refused the message, or has no consent left for its template.
    UserRefused,
    /// `45009`: the daily quota is spent.
    DailyQuota,
    /// `45011`: too many calls this minute (or a force refresh within 30 s of the last).
    MinuteQuota,
    /// `47001`: the body is not the JSON expected (or carries `access_token`).
    DataFormat,
    /// `47003`: an argument is invalid; carries its name, e.g. `data.thing1.value`.
    ArgumentInvalid(String),
}

impl WxError {
    pub(crate) fn code(&self) -> i64 {
        match self {
            Self::Busy => -1,
            Self::InvalidCredential => 40001,
            Self::InvalidGrantType => 40002,
            Self::InvalidOpenid => 40003,
            Self::InvalidAppId => 40013,
            Self::InvalidCode => 40029,
            Self::BadScene => 40129,
            Self::InvalidTemplateId => 40037,
            Self::InvalidSecret => 40125,
            Self::CodeUsed => 40163,
            Self::RiskyUser => 40226,
            Self::AccessTokenMissing => 41001,
            Self::AppIdMissing => 41002,
            Self::SecretMissing => 41004,
            Self::CodeMissing => 41008,
            Self::InvalidPage => 41030,
            Self::AccessTokenExpired => 42001,
            Self::RequirePost => 43002,
            Self::UserRefused => 43101,
            Self::DailyQuota => 45009,
            Self::MinuteQuota => 45011,
            Self::DataFormat => 47001,
            Self::ArgumentInvalid(_) => 47003,
        }
    }

    fn message(&self) -> Cow<'static, str> {
        let text = match self {
            Self::Busy => "system error",
            Self::InvalidCredential => "invalid credential, access_token is invalid or not latest",
            Self::InvalidGrantType => "invalid grant_type",
            Self::InvalidOpenid => "invalid openid",
            Self::InvalidAppId => "invalid appid",
            Self::InvalidCode => "invalid code",
            Self::BadScene => "invalid scene",
            Self::InvalidTemplateId => "invalid template_id",
            Self::InvalidSecret => "invalid appsecret",
            Self::CodeUsed => "code been used",
            Self::RiskyUser => "high risk user, login blocked",
            Self::AccessTokenMissing => "access_token missing",
            Self::AppIdMissing => "appid missing",
            Self::SecretMissing => "appsecret missing",
            Self::CodeMissing => "missing code",
            Self::InvalidPage => "invalid page",
            Self::AccessTokenExpired => "access_token expired",
            Self::RequirePost => "require POST method",
            Self::UserRefused => "user refuse to accept the msg",
            Self::DailyQuota => "reach max api daily quota limit",
            Self::MinuteQuota => "api minute-quota reach limit  mustslower  retry next minute",
            Self::DataFormat => "data format error",
            Self::ArgumentInvalid(argument) => {
                return Cow::Owned(format!("argument invalid! {argument} invalid"));
            }
        };
        Cow::Borrowed(text)
    }

    /// The body WeChat sends for this error, with a fresh request id.
    pub(crate) fn body(&self) -> Value {
        json!({
            "errcode": self.code(),
            "errmsg": format!("{}, rid: {}", self.message(), ids::rid()),
        })
    }
}

/// Turns a handler's outcome into the HTTP answer: always status 200, as WeChat does.
/// A success gets `"errcode":0,"errmsg":"ok"` unless `omit_errcode` asks for the bare form.
pub(crate) fn reply(
    outcome: Result<Map<String, Value>, WxError>,
    omit_errcode: bool,
    content_type: &'static str,
) -> HttpResponse {
    let body = match outcome {
        Ok(mut fields) => {
            if !omit_errcode {
                fields.insert("errcode".into(), 0.into());
                fields.insert("errmsg".into(), "ok".into());
            }
            Value::Object(fields)
        }
        Err(error) => error.body(),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .body(body.to_string())
}

/// The answer for an injected fault.
pub(crate) fn fault(fault: &Fault, content_type: &'static str) -> HttpResponse {
    match fault {
        Fault::Busy => reply(Err(WxError::Busy), false, content_type),
        Fault::MinuteQuota => reply(Err(WxError::MinuteQuota), false, content_type),
        Fault::UserRefused => reply(Err(WxError::UserRefused), false, content_type),
        Fault::Http5xx => HttpResponse::build(StatusCode::BAD_GATEWAY)
            .content_type("text/html")
            .body(BAD_GATEWAY_PAGE),
        Fault::DropConnection => HttpResponse::Ok().content_type(content_type).body(Severed),
    }
}

const BAD_GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n\
<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>stgw</center>\r\n\
</body>\r\n</html>\r\n";

/// A streaming body that fails on its first poll. actix-web reacts to a body error by closing the
/// connection without finishing the response, which is what a client sees when a connection to
/// WeChat is cut mid-flight.
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
            "simulated dropped connection",
        ))))
    }
}
