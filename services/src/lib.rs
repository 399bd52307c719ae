//! The domain of 掌上办. Each capability is a folder with its public functions, its storage
//! queries and its error enums; nothing here knows about HTTP servers or the wire format.

pub mod booking;
pub mod calendar;
pub mod crypto;
pub mod identity;
pub mod limits;
pub mod notify;
pub mod province;
pub mod sessions;
pub mod store;
pub mod time;
pub mod wechat;
