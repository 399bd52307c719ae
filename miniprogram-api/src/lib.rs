//! The wire between the mini-program and the gateway: request and response bodies, the stable
//! error codes with the Chinese message a citizen sees, and the schemas of the OpenAPI document.
//!
//! Nothing here knows about the database or the domain; the gateway maps between these types and
//! the domain types of `services`. Field names are camelCase on the wire, as JavaScript expects.

pub mod applications;
pub mod auth;
pub mod booking;
pub mod calendar;
pub mod catalogue;
pub mod error;
pub mod halls;
pub mod licences;
pub mod me;
pub mod notify;
pub mod queue;
pub mod staff;

pub use error::{ErrorBody, ErrorCode};
