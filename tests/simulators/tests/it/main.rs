//! Black-box tests of the simulators over HTTP. One binary, one module per simulator.

// The workspace allows unwrap in `#[test]` functions only; the shared helpers here fail a test
// the same way on purpose.
#![allow(clippy::unwrap_used, reason = "test helpers")]

mod province;
mod wechat;
