//! The working-day calendar (工作日历): which dates the halls work, and the "N working days" rules
//! counted on it — booking windows, promised time limits (承诺时限) paused during supplement and
//! special procedures, rectification deadlines of 差评.
//!
//! China moves working days around public holidays (调休): a Saturday can be a working day and a
//! Tuesday a holiday. So a date is looked up in the loaded data first, and only where the data
//! says nothing does its weekday decide. The data is the State Council's notice, pasted by an
//! administrator each year ([`YearData::parse`]); a date in a year that was never loaded falls
//! back on the weekdays, so a caller that must not guess asks [`WorkingCalendar::covers`] first.
//!
//! Counting is over half-open ranges: "N working days after a date" never counts the date itself,
//! as a case accepted today has tomorrow for its first day. No search walks more than
//! [`SEARCH_LIMIT_DAYS`] past its start, so every function ends whatever the data (a run of
//! holidays could leave no working day at all); a search that finds nothing within that bound is
//! [`CalendarError::OutOfRange`], never a guess.

mod demo;
mod stored;
mod year;

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{Datelike, NaiveDate, Weekday};

pub use demo::{DEMO_2026, DEMO_2027};
pub use stored::{CalendarStore, LoadYearError};
pub use year::{DayKind, Entry, LineError, YearData};

/// How far a search walks past its starting date: 3660 days, ten years and some. Any real rule
/// (a booking window, a time limit of a few dozen working days, a pause of some months) ends well
/// inside it.
pub const SEARCH_LIMIT_DAYS: u32 = 3660;

/// How long before a year starts its data is needed: from 1 November, when the State Council's
/// notice is normally out and booking windows (up to 60 working days) begin to reach into it.
pub const NEEDED_AHEAD_DAYS: u64 = 61;

/// Why a calendar or a year's data could not be built, or why a search found no date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A line of a year's data could not be read; `line` counts from 1.
    #[error("第{line}行：{reason}")]
    BadLine { line: usize, reason: LineError },
    /// The date is both a holiday and a make-up working day.
    #[error("{0} 不能既是放假日又是调休上班日")]
    Conflict(NaiveDate),
    /// The year's data lists no date at all.
    #[error("没有任何日期：每行应写一个日期，如 2026-10-01 holiday 国庆节")]
    Empty,
    /// The default working weekdays are empty, so no date could ever be a working day.
    #[error("默认工作日不能为空")]
    NoWorkingDays,
    /// A search found no date within [`SEARCH_LIMIT_DAYS`] (or before the last date chrono knows).
    #[error("{SEARCH_LIMIT_DAYS}天内找不到符合条件的工作日")]
    OutOfRange,
}

/// Which dates are working days: the default working weekdays, overridden by holidays (days off,
/// even on a weekday) and make-up working days (调休上班, even on a weekend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    /// Indexed by [`Weekday::num_days_from_monday`].
    weekdays: [bool; 7],
    /// The exceptions given to [`WorkingCalendar::new`], kept apart from the years' so that a
    /// year loaded again replaces its earlier data instead of adding to it.
    base: BTreeMap<NaiveDate, DayKind>,
    years: BTreeMap<i32, YearData>,
    /// `base` and every year's entries together: what lookups read.
    exceptions: BTreeMap<NaiveDate, DayKind>,
}

impl Default for WorkingCalendar {
    fn default() -> Self {
        Self::mainland_default()
    }
}

impl WorkingCalendar {
    /// A calendar working on `default_weekdays`, except on `holidays` and additionally on
    /// `makeup_days`. It covers no year until year data is added with
    /// [`with_year`](Self::with_year).
    ///
    /// # Errors
    /// - [`CalendarError::NoWorkingDays`] if `default_weekdays` is empty;
    /// - [`CalendarError::Conflict`] with the earliest date that is both a holiday and a make-up day.
    pub fn new(
        default_weekdays: impl IntoIterator<Item = Weekday>,
        holidays: impl IntoIterator<Item = NaiveDate>,
        makeup_days: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        let mut weekdays = [false; 7];
        for day in default_weekdays {
            weekdays[day.num_days_from_monday() as usize] = true;
        }
        if !weekdays.contains(&true) {
            return Err(CalendarError::NoWorkingDays);
        }
        let mut base: BTreeMap<NaiveDate, DayKind> = holidays
            .into_iter()
            .map(|date| (date, DayKind::Holiday))
            .collect();
        let mut makeup_days: Vec<NaiveDate> = makeup_days.into_iter().collect();
        makeup_days.sort_unstable();
        for date in makeup_days {
            if base.insert(date, DayKind::Workday) == Some(DayKind::Holiday) {
                return Err(CalendarError::Conflict(date));
            }
        }
        Ok(Self {
            weekdays,
            exceptions: base.clone(),
            base,
            years: BTreeMap::new(),
        })
    }

    /// Monday to Friday, no exceptions, no year covered: mainland China before any year's data
    /// is loaded.
    pub fn mainland_default() -> Self {
        Self {
            weekdays: [true, true, true, true, true, false, false],
            base: BTreeMap::new(),
            years: BTreeMap::new(),
            exceptions: BTreeMap::new(),
        }
    }

    /// Adds a year's data, replacing any data loaded earlier for the same year (an administrator
    /// correcting a typo loads the year again). The year then counts as covered.
    ///
    /// # Errors
    /// [`CalendarError::Conflict`] if a date of `data` is a holiday where another year's data (a
    /// notice may reach into the neighbouring year) or the constructor's exceptions make it a
    /// working day, or the other way round. The calendar is consumed either way: keep a clone to
    /// go on with the old one.
    pub fn with_year(mut self, data: YearData) -> Result<Self, CalendarError> {
        self.years.insert(data.year(), data);
        self.exceptions = merge(&self.base, &self.years)?;
        Ok(self)
    }

    /// What the loaded data says of `date` (holiday or make-up day, with its note), if any
    /// year's data lists it.
    pub fn entry(&self, date: NaiveDate) -> Option<&Entry> {
        self.years
            .values()
            .flat_map(YearData::entries)
            .find(|e| e.date == date)
    }

    /// Whether a year's data was loaded for `year`. Outside covered years, only the default
    /// weekdays (and the constructor's exceptions) decide, which is a guess for any year whose
    /// notice exists.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// The years whose data was loaded, in order.
    pub fn covered_years(&self) -> impl Iterator<Item = i32> {
        self.years.keys().copied()
    }

    /// The years that should be loaded by `today` and are not: today's, and the next one from
    /// [`NEEDED_AHEAD_DAYS`] before it starts. Days of a missing year are not released for
    /// booking, so an operator is told (`/readyz`, and the log once a day).
    pub fn missing_years(&self, today: NaiveDate) -> Vec<i32> {
        let ahead = today
            .checked_add_days(chrono::Days::new(NEEDED_AHEAD_DAYS))
            .unwrap_or(today);
        (today.year()..=ahead.year())
            .filter(|year| !self.covers(*year))
            .collect()
    }

    /// Whether the halls work on `date`: a listed holiday never, a listed make-up day always,
    /// any other date by its weekday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.exceptions.get(&date) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => self.works_on(date.weekday()),
        }
    }

    /// The first working day strictly after `date`.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if there is none within [`SEARCH_LIMIT_DAYS`] after `date`.
    pub fn next_working_day(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        self.working_days_from(date)
            .next()
            .ok_or(CalendarError::OutOfRange)
    }

    /// The `n`-th working day after `date`, not counting `date` itself: with `n` = 1 the next
    /// working day, so the booking window "from 1 up to 5 working days ahead" runs from
    /// `add_working_days(today, 1)` to `add_working_days(today, 5)`.
    ///
    /// `n` = 0 means "no working day to wait": `date` itself if it is a working day, else the
    /// next one. So for `n` ≥ 1, [`working_days_between`](Self::working_days_between)`(date,
    /// result)` is `n`; for `n` = 0 it is 0 or 1.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if the result would lie more than [`SEARCH_LIMIT_DAYS`]
    /// after `date`.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        match n.checked_sub(1) {
            None if self.is_working_day(date) => Ok(date),
            None => self.next_working_day(date),
            Some(skip) => self
                .working_days_from(date)
                .nth(skip as usize)
                .ok_or(CalendarError::OutOfRange),
        }
    }

    /// How many working days lie in the half-open range (`from`, `to`]: `from` does not count,
    /// `to` does. Zero when `to` is not after `from`.
    ///
    /// Computed from whole weeks and the listed exceptions, not day by day, so any range is
    /// cheap; this is the one function not bound by [`SEARCH_LIMIT_DAYS`].
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let days = to.signed_duration_since(from).num_days();
        if days <= 0 {
            return 0;
        }
        let per_week = self.weekdays.iter().filter(|works| **works).count() as i64;
        let mut count = days / 7 * per_week;
        // The days past the whole weeks follow `from`'s weekday round the week.
        let first = from.weekday().num_days_from_monday() as usize;
        count += (1..=(days % 7) as usize)
            .filter(|offset| self.weekdays[(first + offset) % 7])
            .count() as i64;
        let range = (Bound::Excluded(from), Bound::Included(to));
        for (date, kind) in self.exceptions.range(range) {
            match (kind, self.works_on(date.weekday())) {
                (DayKind::Holiday, true) => count -= 1,
                (DayKind::Workday, false) => count += 1,
                _ => {}
            }
        }
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// The working days strictly after `date`, in order: the first is
    /// [`next_working_day`](Self::next_working_day)`(date)`, the k-th
    /// [`add_working_days`](Self::add_working_days)`(date, k)`. The booking window is
    /// `working_days_from(today).take(5)`.
    ///
    /// The iterator ends after [`SEARCH_LIMIT_DAYS`] days past `date`, so it is always finite.
    pub fn working_days_from(&self, date: NaiveDate) -> impl Iterator<Item = NaiveDate> {
        days_after(date).filter(move |day| self.is_working_day(*day))
    }

    /// The promised deadline (承诺时限) of a case accepted on `start` with a time limit of
    /// `working_days`: the `working_days`-th counted day after `start`, where a counted day is a
    /// working day outside every pause. Each pause is an inclusive range of dates (supplement
    /// required, special procedure) during which the clock stands still; a pause whose end is
    /// before its start is empty. For a pause still running, pass today as its end and read the
    /// result as provisional.
    ///
    /// `working_days` = 0 (即办件) follows [`add_working_days`](Self::add_working_days): `start`
    /// itself if it counts, else the next counted day. Without pauses the result is
    /// `add_working_days(start, working_days)`.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if the deadline would lie more than [`SEARCH_LIMIT_DAYS`]
    /// after `start` (pauses included).
    pub fn deadline(
        &self,
        start: NaiveDate,
        working_days: u32,
        pauses: &[(NaiveDate, NaiveDate)],
    ) -> Result<NaiveDate, CalendarError> {
        let counts = |day: NaiveDate| {
            self.is_working_day(day) && !pauses.iter().any(|&(from, to)| from <= day && day <= to)
        };
        let found = match working_days.checked_sub(1) {
            None if counts(start) => Some(start),
            None => days_after(start).find(|day| counts(*day)),
            Some(skip) => days_after(start)
                .filter(|day| counts(*day))
                .nth(skip as usize),
        };
        found.ok_or(CalendarError::OutOfRange)
    }

    fn works_on(&self, weekday: Weekday) -> bool {
        self.weekdays[weekday.num_days_from_monday() as usize]
    }
}

/// The dates after `date`, at most [`SEARCH_LIMIT_DAYS`] of them, stopping early at chrono's last
/// date rather than overflowing.
fn days_after(date: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    std::iter::successors(date.succ_opt(), |day| day.succ_opt()).take(SEARCH_LIMIT_DAYS as usize)
}

fn merge(
    base: &BTreeMap<NaiveDate, DayKind>,
    years: &BTreeMap<i32, YearData>,
) -> Result<BTreeMap<NaiveDate, DayKind>, CalendarError> {
    let mut all = base.clone();
    for entry in years.values().flat_map(YearData::entries) {
        if let Some(kind) = all.insert(entry.date, entry.kind)
            && kind != entry.kind
        {
            return Err(CalendarError::Conflict(entry.date));
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn china_2026() -> WorkingCalendar {
        WorkingCalendar::mainland_default()
            .with_year(YearData::parse(DEMO_2026).unwrap())
            .unwrap()
    }

    #[test]
    fn the_next_year_is_missing_from_november_and_this_year_always() {
        let calendar = china_2026();
        assert_eq!(
            calendar.missing_years(date(2026, 10, 31)),
            Vec::<i32>::new()
        );
        assert_eq!(calendar.missing_years(date(2026, 11, 1)), vec![2027]);
        assert_eq!(calendar.missing_years(date(2027, 3, 1)), vec![2027]);
        let both = calendar
            .with_year(YearData::parse(DEMO_2027).unwrap())
            .unwrap();
        assert_eq!(both.missing_years(date(2026, 12, 28)), Vec::<i32>::new());
        assert_eq!(both.missing_years(date(2027, 11, 1)), vec![2028]);
        assert_eq!(
            WorkingCalendar::mainland_default().missing_years(date(2026, 6, 1)),
            vec![2026]
        );
    }

    #[test]
    fn the_demo_2027_holds_new_year_and_follows_2026_without_conflict() {
        let both = china_2026()
            .with_year(YearData::parse(DEMO_2027).unwrap())
            .unwrap();
        assert!(both.covers(2027));
        // 元旦 2027 is a Friday: off, though a weekday.
        assert!(!both.is_working_day(date(2027, 1, 1)));
        assert!(both.is_working_day(date(2027, 1, 31)), "a make-up Sunday");
        assert_eq!(
            both.next_working_day(date(2026, 12, 31)).unwrap(),
            date(2027, 1, 4)
        );
    }

    #[test]
    fn a_makeup_saturday_is_a_working_day() {
        let calendar = china_2026();
        let saturday = date(2026, 10, 10);
        assert_eq!(saturday.weekday(), Weekday::Sat);
        assert!(calendar.is_working_day(saturday));
        assert!(!WorkingCalendar::mainland_default().is_working_day(saturday));
        assert!(
            !calendar.is_working_day(date(2026, 10, 17)),
            "a plain Saturday"
        );
    }

    #[test]
    fn a_holiday_tuesday_is_not_a_working_day() {
        let calendar = china_2026();
        let tuesday = date(2026, 10, 6);
        assert_eq!(tuesday.weekday(), Weekday::Tue);
        assert!(!calendar.is_working_day(tuesday));
        assert!(
            calendar.is_working_day(date(2026, 10, 13)),
            "a plain Tuesday"
        );
    }

    #[test]
    fn the_booking_window_across_national_day_skips_the_holiday_and_takes_the_makeup_saturday() {
        let calendar = china_2026();
        let today = date(2026, 9, 29);

        let window: Vec<NaiveDate> = calendar.working_days_from(today).take(5).collect();

        let expected = vec![
            date(2026, 9, 30),
            date(2026, 10, 8),
            date(2026, 10, 9),
            date(2026, 10, 10),
            date(2026, 10, 12),
        ];
        assert_eq!(window, expected);
        assert_eq!(calendar.add_working_days(today, 1), Ok(date(2026, 9, 30)));
        assert_eq!(calendar.add_working_days(today, 5), Ok(date(2026, 10, 12)));
    }

    #[test]
    fn booking_on_the_eve_of_national_day_opens_after_the_holiday() {
        let calendar = china_2026();

        let window: Vec<NaiveDate> = calendar
            .working_days_from(date(2026, 9, 30))
            .take(5)
            .collect();

        assert_eq!(window.first(), Some(&date(2026, 10, 8)));
        assert_eq!(window.last(), Some(&date(2026, 10, 13)));
        assert_eq!(
            calendar.next_working_day(date(2026, 10, 1)),
            Ok(date(2026, 10, 8))
        );
    }

    #[test]
    fn a_deadline_does_not_count_the_working_days_of_a_pause() {
        let calendar = china_2026();
        let accepted = date(2026, 9, 21);
        // 22, 23, 24, (25 中秋), 28, 29, 30, (国庆), 8, 9, 10 (调休), 12.
        assert_eq!(calendar.deadline(accepted, 10, &[]), Ok(date(2026, 10, 12)));

        // Supplement required from the 23rd to the 29th: four working days (23, 24, 28, 29)
        // stand still, so the deadline moves four working days on.
        let supplement = (date(2026, 9, 23), date(2026, 9, 29));
        let deadline = calendar.deadline(accepted, 10, &[supplement]);

        assert_eq!(deadline, Ok(date(2026, 10, 16)));
        assert_eq!(
            calendar.working_days_between(accepted, date(2026, 10, 16)),
            14
        );
    }

    #[test]
    fn overlapping_and_empty_pauses_count_once_and_not_at_all() {
        let calendar = china_2026();
        let accepted = date(2026, 3, 2);
        let pauses = [
            (date(2026, 3, 4), date(2026, 3, 5)),
            (date(2026, 3, 5), date(2026, 3, 5)),
            (date(2026, 3, 20), date(2026, 3, 10)),
        ];
        // 3, (4, 5 paused), 6, 9, 10, 11.
        assert_eq!(
            calendar.deadline(accepted, 5, &pauses),
            Ok(date(2026, 3, 11))
        );
    }

    #[test]
    fn zero_working_days_is_today_if_it_works_else_the_next_working_day() {
        let calendar = china_2026();
        assert_eq!(
            calendar.add_working_days(date(2026, 9, 30), 0),
            Ok(date(2026, 9, 30))
        );
        assert_eq!(
            calendar.add_working_days(date(2026, 10, 3), 0),
            Ok(date(2026, 10, 8))
        );
        assert_eq!(
            calendar.deadline(
                date(2026, 9, 30),
                0,
                &[(date(2026, 9, 30), date(2026, 9, 30))]
            ),
            Ok(date(2026, 10, 8))
        );
    }

    #[test]
    fn a_bad_review_is_rectified_within_five_or_fifteen_working_days() {
        let calendar = china_2026();
        let graded = date(2026, 4, 30);
        // 5 月 1–5 日放假, 9 日（周六）上班.
        assert_eq!(calendar.add_working_days(graded, 1), Ok(date(2026, 5, 6)));
        assert_eq!(calendar.add_working_days(graded, 5), Ok(date(2026, 5, 11)));
        assert_eq!(calendar.add_working_days(graded, 15), Ok(date(2026, 5, 25)));
    }

    #[test]
    fn the_demo_year_has_248_working_days() {
        let calendar = china_2026();
        assert_eq!(
            calendar.working_days_between(date(2025, 12, 31), date(2026, 12, 31)),
            248
        );
        assert_eq!(
            WorkingCalendar::mainland_default()
                .working_days_between(date(2025, 12, 31), date(2026, 12, 31)),
            261
        );
    }

    #[test]
    fn no_default_weekday_is_refused() {
        assert_eq!(
            WorkingCalendar::new([], [], []),
            Err(CalendarError::NoWorkingDays)
        );
    }

    #[test]
    fn a_date_both_holiday_and_makeup_day_is_refused() {
        let result = WorkingCalendar::new(
            [Weekday::Mon],
            [date(2026, 1, 3), date(2026, 1, 1)],
            [date(2026, 1, 3), date(2026, 1, 1)],
        );
        assert_eq!(result, Err(CalendarError::Conflict(date(2026, 1, 1))));
    }

    #[test]
    fn a_year_loaded_again_replaces_its_earlier_data() {
        let first = YearData::parse("2026-10-09 holiday 误填\n2026-10-01 holiday 国庆节").unwrap();
        let corrected = YearData::parse("2026-10-01 holiday 国庆节").unwrap();

        let calendar = WorkingCalendar::mainland_default()
            .with_year(first)
            .unwrap()
            .with_year(corrected)
            .unwrap();

        assert!(calendar.is_working_day(date(2026, 10, 9)));
        assert!(!calendar.is_working_day(date(2026, 10, 1)));
        assert!(calendar.covers(2026));
        assert!(!calendar.covers(2027));
        assert_eq!(calendar.covered_years().collect::<Vec<_>>(), vec![2026]);
    }

    #[test]
    fn neighbouring_years_that_disagree_on_a_date_conflict() {
        let year_2025 = YearData::parse("2025-10-01 holiday\n2025-12-31 holiday").unwrap();
        let year_2026 = YearData::parse("2025-12-31 workday\n2026-01-01 holiday").unwrap();

        let result = WorkingCalendar::mainland_default()
            .with_year(year_2025)
            .unwrap()
            .with_year(year_2026);

        assert_eq!(result, Err(CalendarError::Conflict(date(2025, 12, 31))));
    }

    #[test]
    fn a_search_past_the_limit_is_out_of_range_not_endless() {
        let start = date(2026, 1, 1);
        let holidays = (1..=u64::from(SEARCH_LIMIT_DAYS)).map(|n| start + chrono::Days::new(n));
        let every_day = (0..7u8).map(|bit| Weekday::try_from(bit).unwrap());
        let calendar = WorkingCalendar::new(every_day, holidays, []).unwrap();

        assert_eq!(
            calendar.next_working_day(start),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            calendar.add_working_days(start, u32::MAX),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            calendar.deadline(start, 1, &[]),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(calendar.working_days_from(start).count(), 0);
        assert!(
            calendar
                .next_working_day(start + chrono::Days::new(1))
                .is_ok()
        );
    }

    #[test]
    fn the_end_of_time_is_out_of_range_not_a_panic() {
        let calendar = WorkingCalendar::mainland_default();
        assert_eq!(
            calendar.next_working_day(NaiveDate::MAX),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            calendar.working_days_between(NaiveDate::MAX, NaiveDate::MIN),
            0
        );
        assert!(calendar.working_days_between(NaiveDate::MIN, NaiveDate::MAX) > 100_000_000);
    }

    /// Mask of default weekdays (never empty) and exceptions as day offsets from 2024-01-01.
    fn calendars() -> impl Strategy<Value = WorkingCalendar> {
        (
            1u8..128,
            proptest::collection::btree_map(0u64..1500, any::<bool>(), 0..200),
        )
            .prop_map(|(mask, exceptions)| {
                let origin = date(2024, 1, 1);
                let weekdays = (0..7u8)
                    .filter(|bit| mask & (1 << bit) != 0)
                    .map(|bit| Weekday::try_from(bit).unwrap());
                let pick = |holiday: bool| {
                    exceptions
                        .iter()
                        .filter(move |(_, is_holiday)| **is_holiday == holiday)
                        .map(move |(offset, _)| origin + chrono::Days::new(*offset))
                };
                WorkingCalendar::new(weekdays, pick(true), pick(false)).unwrap()
            })
    }

    fn dates() -> impl Strategy<Value = NaiveDate> {
        (0u64..1600).prop_map(|offset| date(2023, 12, 1) + chrono::Days::new(offset))
    }

    fn brute_force_between(calendar: &WorkingCalendar, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut count = 0;
        let mut day = from;
        while day < to {
            day = day.succ_opt().unwrap();
            count += u32::from(calendar.is_working_day(day));
        }
        count
    }

    proptest! {
        #[test]
        fn the_nth_working_day_is_a_working_day_n_working_days_on(
            calendar in prop_oneof![
                Just(WorkingCalendar::mainland_default()),
                Just(china_2026()),
                calendars(),
            ],
            start in dates(),
            n in 1u32..300,
        ) {
            match calendar.add_working_days(start, n) {
                Ok(day) => {
                    prop_assert!(day > start);
                    prop_assert!(calendar.is_working_day(day));
                    prop_assert_eq!(calendar.working_days_between(start, day), n);
                    prop_assert_eq!(calendar.deadline(start, n, &[]), Ok(day));
                }
                Err(error) => {
                    prop_assert_eq!(error, CalendarError::OutOfRange);
                    let limit = start + chrono::Days::new(u64::from(SEARCH_LIMIT_DAYS));
                    prop_assert!(calendar.working_days_between(start, limit) < n);
                }
            }
        }

        #[test]
        fn later_counts_give_strictly_later_days(
            calendar in calendars(),
            start in dates(),
            n in 0u32..200,
        ) {
            let this = calendar.add_working_days(start, n);
            let next = calendar.add_working_days(start, n + 1);
            match (this, next) {
                (Ok(this), Ok(next)) if n == 0 => {
                    prop_assert!(start <= this && this <= next);
                }
                (Ok(this), Ok(next)) => {
                    prop_assert!(start < this && this < next);
                    prop_assert_eq!(calendar.next_working_day(this), Ok(next));
                }
                (Ok(_), Err(_)) => {}
                (Err(_), next) => {
                    prop_assert!(next.is_err(), "a later day found where an earlier one is not");
                }
            }
        }

        #[test]
        fn the_iterator_lists_the_nth_working_days(
            calendar in calendars(),
            start in dates(),
            take in 0usize..40,
        ) {
            let listed: Vec<NaiveDate> = calendar.working_days_from(start).take(take).collect();
            for (index, day) in listed.iter().enumerate() {
                prop_assert_eq!(calendar.add_working_days(start, index as u32 + 1), Ok(*day));
            }
        }

        #[test]
        fn counting_by_weeks_agrees_with_counting_day_by_day(
            calendar in calendars(),
            from in dates(),
            to in dates(),
        ) {
            prop_assert_eq!(
                calendar.working_days_between(from, to),
                brute_force_between(&calendar, from, to)
            );
        }

        #[test]
        fn a_deadline_counts_exactly_the_unpaused_working_days(
            calendar in calendars(),
            start in dates(),
            n in 1u32..60,
            pauses in proptest::collection::vec((0u64..200, 0u64..40), 0..4),
        ) {
            let pauses: Vec<(NaiveDate, NaiveDate)> = pauses
                .into_iter()
                .map(|(offset, length)| {
                    let from = start + chrono::Days::new(offset);
                    (from, from + chrono::Days::new(length))
                })
                .collect();
            let paused = |day: NaiveDate| pauses.iter().any(|&(a, b)| a <= day && day <= b);
            if let Ok(deadline) = calendar.deadline(start, n, &pauses) {
                prop_assert!(calendar.is_working_day(deadline) && !paused(deadline));
                let mut counted = 0;
                let mut day = start;
                while day < deadline {
                    day = day.succ_opt().unwrap();
                    counted += u32::from(calendar.is_working_day(day) && !paused(day));
                }
                prop_assert_eq!(counted, n);
                let unpaused = calendar.add_working_days(start, n).unwrap();
                prop_assert!(unpaused <= deadline);
            }
        }
    }
}
