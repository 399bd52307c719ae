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

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};

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

/// The wall clock, never moved: for a timestamp another party checks against its own clock,
/// such as the province's `X-Timestamp`, refused more than 300 s off
/// (/work/shared/reference/province-api.md). The domain's [`Clock`] may run ahead or behind
/// (tests move it a day to check a booking in, or set it to an evaluation's month), and the
/// platform's clock does not follow it. Everything the domain decides reads [`Clock::now`].
pub fn wall_now() -> DateTime<Utc> {
    Utc::now()
}

/// A date the service takes from outside (a query, a body, a path, the administrator's calendar):
/// 1 January 2000 to 31 December 2100, Asia/Shanghai. One range for every input date, so no
/// date arithmetic past the edge can overflow (chrono panics on `date + days` beyond year
/// 262 143) and no year the calendar cannot hold reaches the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

/// The first and last years a [`Day`] may fall in.
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2100;

/// A date or year outside [`FIRST_YEAR`]–[`LAST_YEAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("日期应在2000年1月1日至2100年12月31日之间")]
pub struct OutOfRange;

impl Day {
    /// 31 December [`LAST_YEAR`].
    pub const LAST: Day = match NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31) {
        Some(date) => Day(date),
        None => panic!("2100-12-31 is a date"),
    };

    /// The date, if it falls in [`FIRST_YEAR`]–[`LAST_YEAR`].
    ///
    /// # Errors
    /// [`OutOfRange`] for any other date.
    pub fn new(date: NaiveDate) -> Result<Self, OutOfRange> {
        Self::year(date.year()).map(|_| Self(date))
    }

    /// The year, if it is one a [`Day`] may fall in (a calendar year an administrator loads).
    ///
    /// # Errors
    /// [`OutOfRange`] for any other year.
    pub fn year(year: i32) -> Result<i32, OutOfRange> {
        if (FIRST_YEAR..=LAST_YEAR).contains(&year) {
            Ok(year)
        } else {
            Err(OutOfRange)
        }
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// `days` days later, or `None` past 31 December [`LAST_YEAR`].
    pub fn plus_days(self, days: u32) -> Option<Self> {
        self.0
            .checked_add_days(chrono::Days::new(u64::from(days)))
            .and_then(|d| Self::new(d).ok())
    }

    /// Days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Day) -> i64 {
        later.0.signed_duration_since(self.0).num_days()
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_edges_of_the_range_are_days_and_one_past_them_is_not() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(Day::new(d(2000, 1, 1)).is_ok());
        assert!(Day::new(d(2100, 12, 31)).is_ok());
        assert_eq!(Day::new(d(1999, 12, 31)), Err(OutOfRange));
        assert_eq!(Day::new(d(2101, 1, 1)), Err(OutOfRange));
        assert_eq!(Day::new(NaiveDate::MAX), Err(OutOfRange));
        assert_eq!(Day::new(NaiveDate::MIN), Err(OutOfRange));
        let last = Day::new(d(2100, 12, 31)).unwrap();
        assert_eq!(last.plus_days(1), None);
        assert_eq!(last.plus_days(u32::MAX), None);
    }

    proptest! {
        #[test]
        fn any_date_chrono_knows_is_a_day_exactly_when_its_year_is_in_range(
            days in (NaiveDate::MIN.num_days_from_ce())..=(NaiveDate::MAX.num_days_from_ce()),
            add in any::<u32>(),
        ) {
            let date = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            let in_range = (FIRST_YEAR..=LAST_YEAR).contains(&date.year());
            prop_assert_eq!(Day::new(date).is_ok(), in_range);
            if let Ok(day) = Day::new(date) {
                // Never panics; stays in range or says no.
                match day.plus_days(add) {
                    Some(later) => prop_assert!(later >= day && later.date().year() <= LAST_YEAR),
                    None => prop_assert!(date.checked_add_days(chrono::Days::new(u64::from(add))).is_none_or(|d| d.year() > LAST_YEAR)),
                }
            }
        }
    }
}
