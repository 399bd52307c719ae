//! Simulators of the outside services the gateway talks to, speaking their real wire protocols
//! over real HTTP, so that the production clients are what the tests, the demo and the benchmark
//! exercise.

pub mod province;
pub mod redis_cluster;
pub mod wechat;
