//! Every error the API answers has one body shape and one stable code from [`ErrorCode`].
//! Codes are part of the contract: the mini-program switches on them, so a code is never renamed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `SLOT_FULL`.
    pub code: ErrorCode,
    /// A message for the citizen, in Chinese.
    pub message: String,
    /// The id of the request, also in the `X-Request-Id` header; quote it when asking for help.
    pub request_id: String,
    /// Which fields were wrong, when the error is about the request's content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// One field of a request that could not be accepted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $message:literal; )*) => {
        /// The stable error codes of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum ErrorCode {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        impl ErrorCode {
            /// Every code, for documentation and for tests that check each has a message.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The default message shown to the citizen.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message,)* }
            }
        }
    };
}

error_codes! {
    /// The request is malformed in a way no other code describes.
    BadRequest => "BAD_REQUEST", "请求格式不正确";
    /// The body is not valid JSON or does not have the expected shape.
    InvalidJson => "INVALID_JSON", "请求内容格式不正确，请检查后重试";
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge => "PAYLOAD_TOO_LARGE", "提交的内容过大";
    /// The body's content type is not the one the endpoint accepts.
    UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE", "不支持的内容类型";
    /// No such route or resource.
    NotFound => "NOT_FOUND", "请求的资源不存在";
    /// The route exists but not with this method.
    MethodNotAllowed => "METHOD_NOT_ALLOWED", "不支持该请求方式";
    /// No bearer token, or one that is malformed.
    Unauthenticated => "UNAUTHENTICATED", "请先登录";
    /// The token is unknown, revoked or expired: log in again.
    SessionExpired => "SESSION_EXPIRED", "登录已过期，请重新登录";
    /// Too many requests; retry after the `Retry-After` header's seconds.
    RateLimited => "RATE_LIMITED", "操作过于频繁，请稍后再试";
    /// Content of a field is invalid; `fields` says which.
    ValidationFailed => "VALIDATION_FAILED", "填写的信息有误，请检查后重试";
    /// The wx.login code is unknown or expired.
    WechatCodeInvalid => "WECHAT_CODE_INVALID", "登录凭证无效或已过期，请重新进入小程序";
    /// The wx.login code was used already.
    WechatCodeUsed => "WECHAT_CODE_USED", "登录凭证已使用，请重新进入小程序";
    /// WeChat refuses this user (high-risk account).
    WechatUserBlocked => "WECHAT_USER_BLOCKED", "当前微信账号存在风险，暂无法登录";
    /// The phone-number code is invalid, expired or used.
    PhoneCodeInvalid => "PHONE_CODE_INVALID", "手机号授权已失效，请重新授权";
    /// The legacy encrypted phone data could not be decrypted or is not ours.
    PhoneDataInvalid => "PHONE_DATA_INVALID", "手机号信息解析失败，请重新授权";
    /// The ID number is not a valid resident ID number.
    InvalidIdCardNo => "INVALID_ID_CARD_NO", "身份证号码不正确";
    /// The name is not a valid name.
    InvalidName => "INVALID_NAME", "姓名格式不正确";
    /// This identity is already bound to another WeChat account.
    IdentityTaken => "IDENTITY_TAKEN", "该身份信息已绑定其他微信账号，如有疑问请联系客服";
    /// This account already has another identity bound.
    IdentityAlreadyBound => "IDENTITY_ALREADY_BOUND", "当前账号已完成实名认证，不能更换为其他身份";
    /// An upstream (WeChat, the provincial platform) is busy or down.
    UpstreamUnavailable => "UPSTREAM_UNAVAILABLE", "服务繁忙，请稍后再试";
    /// The service is not ready (database or store unreachable).
    ServiceUnavailable => "SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后再试";
    /// Something unexpected; the cause is in the server log under the request id.
    Internal => "INTERNAL", "系统繁忙，请稍后再试";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_chinese_message_and_round_trips_on_the_wire() {
        for code in ErrorCode::ALL {
            assert!(!code.message().is_empty());
            assert!(
                code.message()
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
            );
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *code);
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
        }
    }
}
