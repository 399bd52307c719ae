//! The WeChat server API client (reference/wechat.md): login (code2session), the access token
//! shared by every gateway instance, the phone number, and the legacy encrypted data.

mod client;
mod error;
pub mod legacy;
mod token;

pub use client::{SubscribeMessage, UserPhone, WechatClient, WechatConfig, WxSession};
pub use error::WechatError;
