//! The gateway under test and the calls every test makes: they live in the `support` crate,
//! shared with the bench and the fault harness; re-exported here under their old path.

pub use support::*;
