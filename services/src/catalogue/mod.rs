//! The service catalogue (事项目录): items synced from the provincial platform, searched by
//! citizens, and read as a guide (materials, fee, time limits, where to go).
//!
//! The decision a reader needs: a sync asks the platform for items changed since a watermark —
//! the moment the previous successful sync started, less a five-minute overlap for clocks that
//! disagree — and upserts every item it gets, so a repeat is harmless and an item changed during
//! a sync is fetched again next time. One sync runs at a time across every instance (a lock in
//! the shared store); a failed sync keeps the old watermark and records its error.

mod code;
pub mod queries;
mod search;
mod service;
mod worker;

pub(crate) use self::code::code;
pub use self::code::{InvalidCode, ItemCode, MAX_CODE_CHARS};
pub use self::search::{
    ItemPage, ItemSummary, MAX_KEYWORD_CHARS, MAX_PAGE, MAX_PAGE_SIZE, SearchError,
};
pub use self::service::{CatalogueService, ItemGuide, ItemHall, SyncError, SyncReport};
pub use self::worker::SyncWorker;
