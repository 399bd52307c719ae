//! The 掌上办 gateway: the actix-web service the WeChat mini-program talks to. It authenticates
//! citizens with WeChat, keeps their sessions in the store, and maps between the wire
//! (`miniprogram-api`) and the domain (`services`).

mod audit;
pub mod configuration;
#[cfg(feature = "demo")]
pub mod demo;
pub mod error;
mod extract;
pub mod malformed;
mod middleware;
pub mod openapi;
pub mod request_id;
mod routes;
pub mod startup;
pub mod telemetry;
pub mod verify_qr;
