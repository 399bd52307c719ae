//! Black-box tests of the gateway: one binary (links once), one module per capability.

// A failed expectation is how a test fails: the helpers panic on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod applications;
mod audit;
mod auth;
mod booking;
mod booking_fixture;
mod booking_flags;
mod booking_race;
mod booking_staff;
mod bundle_booking;
mod bundle_consent;
mod bundle_member;
mod bundles;
mod calendar;
mod catalogue;
mod consent;
mod dates;
mod evaluations;
mod family;
mod halls;
mod helpers;
mod identity;
mod licences;
mod notify;
mod outage;
mod phone;
mod platform;
mod queue;
mod queue_fixture;
mod queue_numbers;
mod queue_race;
mod session_cache;
mod staff;
mod workstation;
