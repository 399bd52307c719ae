//! The arithmetic of appointments, pure: cutting slots from opening hours, which days are open,
//! released and inside the booking window, and the check-in and cancellation windows.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};

use crate::calendar::WorkingCalendar;
use crate::halls::{DayHours, HallRules as Rules};
use crate::time::SHANGHAI;

/// A count or length from a hall's rules, as the arithmetic uses it; a negative number
/// (impossible through the admin API) counts as 0.
pub fn n(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// The slots of a day: `[start, end)` in minutes, back to back from opening, none crossing the
/// break or the closing time (a remainder too short for a slot is left unbooked).
pub fn cut_slots(hours: DayHours, slot_minutes: u32) -> Vec<(u32, u32)> {
    let slot = slot_minutes.max(1);
    let (opens, closes) = (hours.opens_minute(), hours.closes_minute());
    let mut spans = Vec::with_capacity(2);
    match hours.pause_minutes() {
        Some((from, to)) if opens <= from && from < to && to <= closes => {
            spans.push((opens, from));
            spans.push((to, closes));
        }
        _ => spans.push((opens, closes)),
    }
    let mut slots = Vec::new();
    for (from, to) in spans {
        let mut start = from;
        while start + slot <= to {
            slots.push((start, start + slot));
            start += slot;
        }
    }
    slots
}

/// The instant (UTC) of `minute` after midnight of `day` in Asia/Shanghai.
pub fn at_minute(day: NaiveDate, minute: u32) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    let local = SHANGHAI
        .from_local_datetime(&midnight)
        .single()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc));
    local + Duration::minutes(i64::from(minute))
}

/// When the slots of `day` are released.
pub fn release_at(day: NaiveDate, rules: &Rules) -> DateTime<Utc> {
    let release_day = day - Duration::days(i64::from(n(rules.release_days_ahead)));
    at_minute(release_day, rules.release_time.minute_of_day())
}

/// The first and last days a citizen may book today: from the `book_min_working_days`-th
/// working day after today to the `book_max_working_days`-th (counted on the calendar, so a
/// holiday week stretches the window and a 调休 Saturday counts). `None` when the calendar finds
/// no such days.
pub fn window(
    today: NaiveDate,
    calendar: &WorkingCalendar,
    rules: &Rules,
) -> Option<(NaiveDate, NaiveDate)> {
    let first = match rules.book_min_working_days {
        0 => today,
        days => calendar.add_working_days(today, n(days)).ok()?,
    };
    let last = calendar
        .add_working_days(today, n(rules.book_max_working_days).max(1))
        .ok()?;
    (first <= last).then_some((first, last))
}

/// Why a day cannot be booked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayRefusal {
    /// Today or earlier.
    Past,
    /// Before the window opens or after it ends.
    OutsideWindow,
    /// Inside the window, but its release time has not come.
    NotReleased { at: DateTime<Utc> },
    /// The hall does not open that day.
    Closed,
    /// No calendar was loaded for the day's year: whether it is a working day is unknown (元旦
    /// on a Friday would otherwise count as one), so it is not released until the year is.
    NoCalendar,
}

/// Whether `day` can be booked at `now`, and the hours the hall keeps that day.
pub fn bookable_day(
    day: NaiveDate,
    now: DateTime<Utc>,
    calendar: &WorkingCalendar,
    rules: &Rules,
    hours: Option<DayHours>,
) -> Result<DayHours, DayRefusal> {
    let today = now.with_timezone(&SHANGHAI).date_naive();
    if day < today || (day == today && rules.book_min_working_days > 0) {
        return Err(DayRefusal::Past);
    }
    if !calendar.covers(day.year()) {
        return Err(DayRefusal::NoCalendar);
    }
    let Some(hours) = hours else {
        return Err(DayRefusal::Closed);
    };
    let Some((first, last)) = window(today, calendar, rules) else {
        return Err(DayRefusal::OutsideWindow);
    };
    if day < first || day > last {
        return Err(DayRefusal::OutsideWindow);
    }
    let release = release_at(day, rules);
    if now < release {
        return Err(DayRefusal::NotReleased { at: release });
    }
    Ok(hours)
}

/// Whether a booking starting at `starts_at` can still be cancelled (or moved) at `now`.
pub fn can_cancel(starts_at: DateTime<Utc>, now: DateTime<Utc>, rules: &Rules) -> bool {
    now <= cancel_deadline(starts_at, rules)
}

/// Until when a booking starting at `starts_at` can be cancelled or moved.
pub fn cancel_deadline(starts_at: DateTime<Utc>, rules: &Rules) -> DateTime<Utc> {
    starts_at - Duration::minutes(i64::from(n(rules.cancel_cutoff_minutes)))
}

/// Where `now` is relative to the check-in window of a slot starting at `starts_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckinTime {
    TooEarly { opens_at: DateTime<Utc> },
    Open,
    TooLate,
}

pub fn checkin_time(starts_at: DateTime<Utc>, now: DateTime<Utc>, rules: &Rules) -> CheckinTime {
    let opens_at = starts_at - Duration::minutes(i64::from(n(rules.checkin_before_minutes)));
    let closes_at = starts_at + Duration::minutes(i64::from(n(rules.checkin_after_minutes)));
    if now < opens_at {
        CheckinTime::TooEarly { opens_at }
    } else if now > closes_at {
        CheckinTime::TooLate
    } else {
        CheckinTime::Open
    }
}

/// The Monday-to-Sunday week and the calendar month of `day`: the spans the weekly and monthly
/// limits count in.
pub fn week_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    (monday, monday + Duration::days(6))
}

pub fn month_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = day.with_day(1).unwrap_or(day);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    (first, next.map_or(first, |n| n - Duration::days(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::YearData;
    use proptest::prelude::*;

    fn rules() -> Rules {
        // domain-rules.md's defaults: 30-minute slots released 7 days ahead at 08:00, booked 1
        // to 5 working days ahead, cancelled up to 120 minutes before, checked in from 15
        // minutes before to 30 after.
        Rules::default()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const NINE_TO_FIVE: DayHours = hours(9 * 60, 17 * 60, Some((12 * 60, 13 * 60 + 30)));

    const fn hours(opens: u32, closes: u32, pause: Option<(u32, u32)>) -> DayHours {
        DayHours::of_minutes(opens, closes, pause)
    }

    #[test]
    fn slots_stop_at_the_break_and_resume_after_it() {
        let slots = cut_slots(NINE_TO_FIVE, 30);
        assert_eq!(slots.first(), Some(&(540, 570)));
        assert!(slots.contains(&(690, 720)));
        assert!(!slots.iter().any(|&(s, e)| s < 810 && e > 720));
        assert!(slots.contains(&(810, 840)));
        assert_eq!(slots.last(), Some(&(990, 1020)));
        assert_eq!(slots.len(), 6 + 7);
    }

    #[test]
    fn stored_hours_until_midnight_cut_a_whole_day() {
        // 0–1440: a hall open all day, as the load harnesses store it (the API's HH:MM cannot).
        let all_day = DayHours::from_minutes(0, 24 * 60, None, None).expect("0–1440 is a day");
        let slots = cut_slots(all_day, 30);
        assert_eq!(slots.len(), 48);
        assert_eq!(slots.last(), Some(&(1410, 1440)));
        assert_eq!(
            at_minute(date("2026-12-09"), 1440),
            at_minute(date("2026-12-10"), 0)
        );
        assert!(DayHours::from_minutes(0, 24 * 60 + 1, None, None).is_none());
    }

    #[test]
    fn a_remainder_shorter_than_a_slot_is_not_offered() {
        let slots = cut_slots(hours(540, 600, None), 40);
        assert_eq!(slots, vec![(540, 580)]);
    }

    #[test]
    fn the_window_counts_working_days_on_the_calendar() {
        // 2026-09-25 is a Friday; the National Day holiday starts on 10-01 and 10-10 (Sat) is
        // a make-up working day in the demo year.
        let cal = WorkingCalendar::mainland_default()
            .with_year(YearData::parse(crate::calendar::DEMO_2026).unwrap())
            .unwrap();
        let (first, last) = window(date("2026-09-25"), &cal, &rules()).unwrap();
        assert_eq!(first, date("2026-09-28"));
        // 28, 29, 30 Sep, then the holiday until 10-07, 10-08, 10-09.
        assert_eq!(last, date("2026-10-09"));
    }

    fn demo_2026() -> WorkingCalendar {
        WorkingCalendar::mainland_default()
            .with_year(YearData::parse(crate::calendar::DEMO_2026).unwrap())
            .unwrap()
    }

    #[test]
    fn a_day_of_a_year_without_calendar_is_not_released_though_its_window_has_come() {
        // Monday 28 December 2026, 2027 not loaded: Friday 1 January 2027 would count as a
        // working day by its weekday. The days of 2026 in the window are bookable; none of 2027.
        let cal = demo_2026();
        let now = at_minute(date("2026-12-28"), 9 * 60);
        assert!(bookable_day(date("2026-12-29"), now, &cal, &rules(), Some(NINE_TO_FIVE)).is_ok());
        for day in ["2027-01-01", "2027-01-04"] {
            assert_eq!(
                bookable_day(date(day), now, &cal, &rules(), Some(NINE_TO_FIVE)),
                Err(DayRefusal::NoCalendar),
                "{day}"
            );
        }
        let cal = cal
            .with_year(YearData::parse(crate::calendar::DEMO_2027).unwrap())
            .unwrap();
        assert!(bookable_day(date("2027-01-04"), now, &cal, &rules(), Some(NINE_TO_FIVE)).is_ok());
    }

    #[test]
    fn a_day_is_released_at_the_release_time_and_not_a_minute_before() {
        let cal = demo_2026();
        let day = date("2026-11-30"); // Monday; released 2026-11-23 08:00 Shanghai
        let before = at_minute(date("2026-11-23"), 8 * 60) - Duration::seconds(1);
        assert!(matches!(
            bookable_day(day, before, &cal, &rules(), Some(NINE_TO_FIVE)),
            Err(DayRefusal::NotReleased { .. })
        ));
        let at = at_minute(date("2026-11-23"), 8 * 60);
        assert!(bookable_day(day, at, &cal, &rules(), Some(NINE_TO_FIVE)).is_ok());
        assert_eq!(
            bookable_day(date("2026-11-23"), at, &cal, &rules(), Some(NINE_TO_FIVE)),
            Err(DayRefusal::Past)
        );
        assert_eq!(
            bookable_day(date("2026-12-01"), at, &cal, &rules(), Some(NINE_TO_FIVE)),
            Err(DayRefusal::OutsideWindow)
        );
    }

    #[test]
    fn checkin_opens_fifteen_minutes_before_and_closes_thirty_after() {
        let start = at_minute(date("2026-11-24"), 600);
        let r = rules();
        assert!(matches!(
            checkin_time(start, start - Duration::minutes(16), &r),
            CheckinTime::TooEarly { .. }
        ));
        assert_eq!(
            checkin_time(start, start - Duration::minutes(15), &r),
            CheckinTime::Open
        );
        assert_eq!(
            checkin_time(start, start + Duration::minutes(30), &r),
            CheckinTime::Open
        );
        assert_eq!(
            checkin_time(start, start + Duration::minutes(31), &r),
            CheckinTime::TooLate
        );
    }

    proptest! {
        #[test]
        fn slots_never_overlap_the_break_nor_each_other(
            opens in 0u32..720, len in 0u32..720, pause_at in 0u32..720, pause_len in 0u32..180,
            slot in 5u32..240,
        ) {
            let hours = hours(opens, opens + len, Some((opens + pause_at, opens + pause_at + pause_len)));
            let (o, c) = (hours.opens_minute(), hours.closes_minute());
            let slots = cut_slots(hours, slot);
            for w in slots.windows(2) {
                prop_assert!(w[0].1 <= w[1].0);
            }
            for &(s, e) in &slots {
                prop_assert_eq!(e - s, slot);
                prop_assert!(s >= o && e <= c);
                if let Some((f, t)) = hours.pause_minutes().filter(|&(f, t)| o <= f && f < t && t <= c) {
                    prop_assert!(e <= f || s >= t);
                }
            }
        }

        #[test]
        fn week_and_month_contain_the_day(days in 0i64..4000) {
            let day = date("2024-01-01") + Duration::days(days);
            let (a, b) = week_of(day);
            prop_assert!(a <= day && day <= b && a.weekday() == chrono::Weekday::Mon);
            let (a, b) = month_of(day);
            prop_assert!(a <= day && day <= b && a.day() == 1 && (b + Duration::days(1)).day() == 1);
        }
    }
}
