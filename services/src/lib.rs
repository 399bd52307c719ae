//! The domain of 掌上办. Each capability is a folder with its public functions, its storage
//! queries and its error enums; nothing here knows about HTTP servers or the wire format.

pub mod applications;
pub mod audit;
pub mod booking;
pub mod bundles;
pub mod cache;
pub mod calendar;
pub mod catalogue;
pub mod crypto;
pub mod db;
pub mod deps;
pub mod evaluations;
pub mod halls;
pub mod identity;
pub mod ids;
pub mod licences;
pub mod limits;
pub mod notify;
pub mod outage;
pub mod province;
pub mod queue;
pub mod report;
pub mod sessions;
pub mod staff;
pub mod store;
pub mod text;
pub mod time;
pub mod wechat;

pub use deps::Deps;
