//! Time in the halls' zone. Times are stored in UTC and shown in Asia/Shanghai; China has no
//! daylight saving, so a fixed offset is exact.

use chrono::FixedOffset;

/// UTC+8, China Standard Time.
pub const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};

/// The time the domain runs on: the system clock, plus an offset that only tests move (a slot
/// "tomorrow at 09:00" can then be checked in to without waiting a day). Clones share the offset,
/// so every instance of a multi-gateway test sees the same time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match self.offset_ms.load(Ordering::Relaxed) {
            0 => now,
            ms => now + chrono::Duration::milliseconds(ms),
        }
    }

    /// Today in Asia/Shanghai.
    pub fn today(&self) -> NaiveDate {
        self.now().with_timezone(&SHANGHAI).date_naive()
    }

    /// Moves this clock (and its clones) by `by`; for tests.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }

    /// Sets this clock (and its clones) to `at`; for tests.
    pub fn set(&self, at: DateTime<Utc>) {
        let offset = at - Utc::now();
        self.offset_ms
            .store(offset.num_milliseconds(), Ordering::Relaxed);
    }
}
