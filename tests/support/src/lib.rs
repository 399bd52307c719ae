//! What black-box tests, the bench and the fault harness stand on: a gateway to talk to
//! ([`app`]), HTTP calls read as `miniprogram-api` types ([`api`]), fixtures made through the
//! admin API ([`admin`]), and the catalogue published by a simulated province ([`catalogue`]).
//!
//! Database access is kept for what no route can do: bootstrapping the first administrator
//! (as `gateway create-staff` does), and the few helpers marked so.

// A failed expectation is how a test fails: the helpers panic on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod api;
pub mod app;
pub mod catalogue;
pub mod citizens;
pub mod load;

pub use admin::{Admin, HallSpec, SetUpHall};
pub use api::{Api, Reply, received_bodies};
pub use app::*;
