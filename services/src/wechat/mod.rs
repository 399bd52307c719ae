//! The WeChat server API client (reference/wechat.md): login (code2session), the access token
//! shared by every gateway instance, the phone number, the legacy encrypted data, and face
//! verification (`face`).

mod client;
mod error;
pub mod face;
pub mod legacy;
pub mod security;
mod token;

pub use client::{SubscribeMessage, UserPhone, WechatClient, WechatConfig, WxSession};
pub use error::WechatError;
