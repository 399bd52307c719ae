//! What an administrator may set on a hall, as types whose only constructors check it: a time of
//! day, opening hours with their break, the booking rules with their bounds, a queue prefix, a
//! counter's categories. Past these constructors nothing re-checks; every refusal names the field
//! and says why in Chinese, for the administrator's screen.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{NaiveDate, Weekday};

pub use crate::text::{InvalidInput, Text};

/// A time of day, minutes after midnight in Asia/Shanghai, read from `HH:MM` (`08:30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// # Errors
    /// Anything but `H:MM` or `HH:MM` with hours 0–23 and minutes 0–59.
    pub fn parse(field: &str, raw: &str) -> Result<Self, InvalidInput> {
        let bad = || InvalidInput::new(field, "时间应写作 时:分，如 08:30");
        let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
        let digits = |s: &str, len: std::ops::RangeInclusive<usize>| {
            len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(h, 1..=2) || !digits(m, 2..=2) {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(Self(h * 60 + m))
    }

    /// From stored minutes after midnight; `None` outside 0–1440. 1440 is the end of the day:
    /// a hall open until midnight, as the load harnesses (tests/support `load`) store it, though
    /// the API's `HH:MM` stops at 23:59; the slots it cuts end at the next midnight.
    pub fn from_minutes(minutes: i32) -> Option<Self> {
        u16::try_from(minutes)
            .ok()
            .filter(|m| *m <= 24 * 60)
            .map(Self)
    }

    pub fn minutes(self) -> i32 {
        i32::from(self.0)
    }

    /// Minutes after midnight, for arithmetic.
    pub fn minute_of_day(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A note, possibly empty, of at most 200 characters.
fn note(field: &str, raw: &str) -> Result<String, InvalidInput> {
    if raw.trim().is_empty() {
        Ok(String::new())
    } else {
        Text::parse(field, raw, 200).map(Text::into_string)
    }
}

/// A code of letters, digits, `-` and `_`, `min` to `max` characters long.
fn code(field: &str, raw: &str, min: usize, max: usize) -> Result<String, InvalidInput> {
    let code = raw.trim();
    let ok = (min..=max).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(code.to_owned())
    } else {
        Err(InvalidInput::new(
            field,
            format!("应为{min}至{max}位字母、数字、- 或 _"),
        ))
    }
}

/// A hall's code (`HALL-0571-01`): 2 to 32 letters, digits, `-` or `_`. It appears in the
/// check-in QR (`ZSBHALL:{code}:{secret}`), so it never holds a `:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HallCode(String);

impl HallCode {
    /// # Errors
    /// Not 2 to 32 letters, digits, `-` or `_`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        code("code", raw, 2, 32).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A day's opening hours with an optional break that lies inside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayHours {
    opens: TimeOfDay,
    closes: TimeOfDay,
    pause: Option<(TimeOfDay, TimeOfDay)>,
}

impl DayHours {
    /// `field` prefixes the names of the fields at fault (`days[0]`).
    ///
    /// # Errors
    /// A time that does not parse, closing not after opening, a break given by one end only, or
    /// a break that does not lie strictly inside the opening hours.
    pub fn parse(
        field: &str,
        opens: &str,
        closes: &str,
        break_start: Option<&str>,
        break_end: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        let at = |name: &str| format!("{field}.{name}");
        let opens_at = TimeOfDay::parse(&at("opens"), opens)?;
        let closes_at = TimeOfDay::parse(&at("closes"), closes)?;
        if closes_at <= opens_at {
            return Err(InvalidInput::new(at("closes"), "下班时间应晚于上班时间"));
        }
        let pause = match (break_start, break_end) {
            (None, None) => None,
            (Some(start), Some(end)) => {
                let start = TimeOfDay::parse(&at("breakStart"), start)?;
                let end = TimeOfDay::parse(&at("breakEnd"), end)?;
                if end <= start {
                    return Err(InvalidInput::new(at("breakEnd"), "午休结束应晚于午休开始"));
                }
                if start <= opens_at || closes_at <= end {
                    return Err(InvalidInput::new(at("breakStart"), "午休应在办公时间之内"));
                }
                Some((start, end))
            }
            (Some(_), None) => {
                return Err(InvalidInput::new(
                    at("breakEnd"),
                    "午休应同时填写开始和结束",
                ));
            }
            (None, Some(_)) => {
                return Err(InvalidInput::new(
                    at("breakStart"),
                    "午休应同时填写开始和结束",
                ));
            }
        };
        Ok(Self {
            opens: opens_at,
            closes: closes_at,
            pause,
        })
    }

    /// As stored; `None` for rows that would not parse (never written by this module).
    pub fn from_minutes(
        opens: i32,
        closes: i32,
        break_start: Option<i32>,
        break_end: Option<i32>,
    ) -> Option<Self> {
        let pause = match (break_start, break_end) {
            (Some(s), Some(e)) => Some((TimeOfDay::from_minutes(s)?, TimeOfDay::from_minutes(e)?)),
            _ => None,
        };
        Some(Self {
            opens: TimeOfDay::from_minutes(opens)?,
            closes: TimeOfDay::from_minutes(closes)?,
            pause,
        })
    }

    pub fn opens(&self) -> TimeOfDay {
        self.opens
    }

    pub fn closes(&self) -> TimeOfDay {
        self.closes
    }

    /// The break (午休), start and end.
    pub fn pause(&self) -> Option<(TimeOfDay, TimeOfDay)> {
        self.pause
    }

    /// The same hours with another break (or none): a shortened day keeps the regular break
    /// only where it still fits, which the caller decides.
    pub(crate) fn with_pause(self, pause: Option<(TimeOfDay, TimeOfDay)>) -> Self {
        Self { pause, ..self }
    }

    /// Hours from minutes after midnight, unchecked (tests of the arithmetic).
    #[cfg(test)]
    pub(crate) const fn of_minutes(opens: u32, closes: u32, pause: Option<(u32, u32)>) -> Self {
        Self {
            opens: TimeOfDay(opens as u16),
            closes: TimeOfDay(closes as u16),
            pause: match pause {
                Some((from, to)) => Some((TimeOfDay(from as u16), TimeOfDay(to as u16))),
                None => None,
            },
        }
    }

    /// Opening and closing without a break (a date exception's hours).
    pub(crate) fn between(opens: TimeOfDay, closes: TimeOfDay) -> Self {
        Self {
            opens,
            closes,
            pause: None,
        }
    }

    /// Opening, in minutes after midnight.
    pub fn opens_minute(&self) -> u32 {
        self.opens.minute_of_day()
    }

    /// Closing, in minutes after midnight.
    pub fn closes_minute(&self) -> u32 {
        self.closes.minute_of_day()
    }

    /// The break, in minutes after midnight.
    pub fn pause_minutes(&self) -> Option<(u32, u32)> {
        self.pause
            .map(|(from, to)| (from.minute_of_day(), to.minute_of_day()))
    }
}

/// A weekday from its number, 1 (Monday) to 7 (Sunday).
///
/// # Errors
/// A number outside 1–7.
pub fn weekday(field: &str, number: i64) -> Result<Weekday, InvalidInput> {
    u8::try_from(number)
        .ok()
        .filter(|n| (1..=7).contains(n))
        .and_then(|n| Weekday::try_from(n - 1).ok())
        .ok_or_else(|| InvalidInput::new(field, "星期应为 1（周一）至 7（周日）"))
}

/// A hall's week: the hours of each weekday it opens. A weekday not listed is closed, unless the
/// working-day calendar makes it a make-up working day (调休), when booking takes the hours of
/// the first day listed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeeklyHours(Vec<(Weekday, DayHours)>);

impl WeeklyHours {
    /// # Errors
    /// A weekday listed twice (`field` is then `days[i].weekday`).
    pub fn new(days: Vec<(Weekday, DayHours)>) -> Result<Self, InvalidInput> {
        let mut seen = BTreeSet::new();
        for (i, (day, _)) in days.iter().enumerate() {
            if !seen.insert(day.num_days_from_monday()) {
                return Err(InvalidInput::new(
                    format!("days[{i}].weekday"),
                    "同一天不能重复填写",
                ));
            }
        }
        let mut days = days;
        days.sort_by_key(|(day, _)| day.num_days_from_monday());
        Ok(Self(days))
    }

    /// Monday first.
    pub fn days(&self) -> &[(Weekday, DayHours)] {
        &self.0
    }
}

/// What a date exception does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionKind {
    /// The hall does not open.
    Closed,
    /// The hall opens these hours instead (the regular break is kept where it still fits).
    Hours { opens: TimeOfDay, closes: TimeOfDay },
}

/// A date on which a hall closes or keeps other hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayException {
    pub day: NaiveDate,
    pub kind: ExceptionKind,
    /// Shown to citizens; possibly empty.
    pub note: String,
}

impl DayException {
    /// # Errors
    /// Hours given for a closed day or missing for an open one, times that do not parse or
    /// close before they open, a note over 200 characters.
    pub fn parse(
        day: NaiveDate,
        closed: bool,
        opens: Option<&str>,
        closes: Option<&str>,
        note_text: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        let kind = match (closed, opens, closes) {
            (true, None, None) => ExceptionKind::Closed,
            (true, _, _) => {
                return Err(InvalidInput::new("opens", "闭厅日不应填写办公时间"));
            }
            (false, Some(opens), Some(closes)) => {
                let hours = DayHours::parse("", opens, closes, None, None).map_err(|e| {
                    InvalidInput::new(e.field.trim_start_matches('.').to_owned(), e.reason)
                })?;
                ExceptionKind::Hours {
                    opens: hours.opens,
                    closes: hours.closes,
                }
            }
            (false, _, _) => {
                return Err(InvalidInput::new(
                    "opens",
                    "调整办公时间应同时填写上班和下班时间",
                ));
            }
        };
        Ok(Self {
            day,
            kind,
            note: note("note", note_text.unwrap_or_default())?,
        })
    }
}

/// The booking rules of a hall (domain-rules.md); every one has a default and bounds. A value
/// of this type is only a view: [`HallRules::validate`] makes the [`ValidRules`] the service
/// stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HallRules {
    /// Length of a slot, 5–240 minutes (30).
    pub slot_minutes: i32,
    /// Days ahead a day's slots are released, 1–60 (7).
    pub release_days_ahead: i32,
    /// Time of day of the release (08:00).
    pub release_time: TimeOfDay,
    /// Nearest bookable working day, 0–30 ahead (1).
    pub book_min_working_days: i32,
    /// Furthest bookable working day, the nearest to 60 ahead (5).
    pub book_max_working_days: i32,
    /// Cancelling closes this long before the slot, 0–1440 minutes (120).
    pub cancel_cutoff_minutes: i32,
    /// Check-in opens this long before the slot, 0–240 minutes (15).
    pub checkin_before_minutes: i32,
    /// Check-in closes this long after the slot's start, 0–240 minutes (30).
    pub checkin_after_minutes: i32,
    /// Bookings per person and week, 1–50 (2).
    pub weekly_limit: i32,
    /// Bookings per person and month, the weekly limit to 200 (6).
    pub monthly_limit: i32,
    /// No-shows within the penalty window that ban, 1–30 (2).
    pub no_show_limit: i32,
    /// Cancellations within the penalty window that ban, 1–50 (5).
    pub cancel_limit: i32,
    /// The penalty window, 1–365 days (30).
    pub penalty_window_days: i32,
    /// Length of a ban, 1–365 days (90).
    pub ban_days: i32,
}

impl Default for HallRules {
    fn default() -> Self {
        Self {
            slot_minutes: 30,
            release_days_ahead: 7,
            release_time: TimeOfDay(8 * 60),
            book_min_working_days: 1,
            book_max_working_days: 5,
            cancel_cutoff_minutes: 120,
            checkin_before_minutes: 15,
            checkin_after_minutes: 30,
            weekly_limit: 2,
            monthly_limit: 6,
            no_show_limit: 2,
            cancel_limit: 5,
            penalty_window_days: 30,
            ban_days: 90,
        }
    }
}

/// Changes to some rules; `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RulesPatch {
    pub slot_minutes: Option<i32>,
    pub release_days_ahead: Option<i32>,
    pub release_time: Option<TimeOfDay>,
    pub book_min_working_days: Option<i32>,
    pub book_max_working_days: Option<i32>,
    pub cancel_cutoff_minutes: Option<i32>,
    pub checkin_before_minutes: Option<i32>,
    pub checkin_after_minutes: Option<i32>,
    pub weekly_limit: Option<i32>,
    pub monthly_limit: Option<i32>,
    pub no_show_limit: Option<i32>,
    pub cancel_limit: Option<i32>,
    pub penalty_window_days: Option<i32>,
    pub ban_days: Option<i32>,
}

/// Rules that passed [`HallRules::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidRules(HallRules);

impl ValidRules {
    pub fn get(&self) -> &HallRules {
        &self.0
    }
}

impl HallRules {
    /// These rules with `patch` applied.
    pub fn patched(mut self, patch: &RulesPatch) -> Self {
        macro_rules! apply {
            ($($field:ident),*) => { $( if let Some(v) = patch.$field { self.$field = v; } )* };
        }
        apply!(
            slot_minutes,
            release_days_ahead,
            release_time,
            book_min_working_days,
            book_max_working_days,
            cancel_cutoff_minutes,
            checkin_before_minutes,
            checkin_after_minutes,
            weekly_limit,
            monthly_limit,
            no_show_limit,
            cancel_limit,
            penalty_window_days,
            ban_days
        );
        self
    }

    /// # Errors
    /// The first rule outside its bounds, named as the wire names it (`rules.slotMinutes`).
    pub fn validate(self) -> Result<ValidRules, InvalidInput> {
        let within = |field: &str, value: i32, min: i32, max: i32| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(InvalidInput::new(
                    format!("rules.{field}"),
                    format!("应在{min}至{max}之间"),
                ))
            }
        };
        within("slotMinutes", self.slot_minutes, 5, 240)?;
        within("releaseDaysAhead", self.release_days_ahead, 1, 60)?;
        within("bookMinWorkingDays", self.book_min_working_days, 0, 30)?;
        within(
            "bookMaxWorkingDays",
            self.book_max_working_days,
            self.book_min_working_days.max(1),
            60,
        )?;
        within("cancelCutoffMinutes", self.cancel_cutoff_minutes, 0, 1440)?;
        within("checkinBeforeMinutes", self.checkin_before_minutes, 0, 240)?;
        within("checkinAfterMinutes", self.checkin_after_minutes, 0, 240)?;
        within("weeklyLimit", self.weekly_limit, 1, 50)?;
        within("monthlyLimit", self.monthly_limit, self.weekly_limit, 200)?;
        within("noShowLimit", self.no_show_limit, 1, 30)?;
        within("cancelLimit", self.cancel_limit, 1, 50)?;
        within("penaltyWindowDays", self.penalty_window_days, 1, 365)?;
        within("banDays", self.ban_days, 1, 365)?;
        Ok(ValidRules(self))
    }
}

/// A category's code (`A`, `HUZHENG`): 1 to 16 letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCode(String);

impl CategoryCode {
    /// # Errors
    /// Not 1 to 16 letters, digits, `-` or `_`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        code("code", raw, 1, 16).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A queue prefix: one or two uppercase letters (`A` gives tickets A001, A002 …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePrefix(String);

impl QueuePrefix {
    /// # Errors
    /// Not one or two uppercase ASCII letters.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let p = raw.trim();
        if (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(p.to_owned()))
        } else {
            Err(InvalidInput::new("prefix", "排队号前缀应为1至2个大写字母"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category as the administrator sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryInput {
    pub code: CategoryCode,
    pub name: Text,
    pub prefix: QueuePrefix,
    /// Seats per slot, 1–200; `None`: as many as active counters serve the category.
    pub seats_per_slot: Option<i32>,
}

impl CategoryInput {
    /// # Errors
    /// The first field that does not parse.
    pub fn parse(
        code: &str,
        name: &str,
        prefix: &str,
        seats_per_slot: Option<i64>,
    ) -> Result<Self, InvalidInput> {
        let seats_per_slot = seats_per_slot
            .map(|n| {
                i32::try_from(n)
                    .ok()
                    .filter(|n| (1..=200).contains(n))
                    .ok_or_else(|| {
                        InvalidInput::new("seatsPerSlot", "每个时段的号源数应在1至200之间")
                    })
            })
            .transpose()?;
        Ok(Self {
            code: CategoryCode::parse(code)?,
            name: Text::parse("name", name, 100)?,
            prefix: QueuePrefix::parse(prefix)?,
            seats_per_slot,
        })
    }
}

/// A counter (窗口) as the administrator sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterInput {
    /// 1–999, unique in the hall.
    pub number: i32,
    pub name: Text,
    pub active: bool,
    /// The categories it serves (distinct, at most 20), each with its weight 1–10.
    pub categories: Vec<(i64, i32)>,
    /// What the board reads out after "到", up to 20 characters; `None`: its number (`1号窗口`).
    pub spoken_name: Option<Text>,
}

impl CounterInput {
    /// # Errors
    /// The first field that does not parse.
    pub fn parse(
        number: i64,
        name: &str,
        active: bool,
        categories: &[(i64, i64)],
    ) -> Result<Self, InvalidInput> {
        let number = i32::try_from(number)
            .ok()
            .filter(|n| (1..=999).contains(n))
            .ok_or_else(|| InvalidInput::new("number", "窗口号应在1至999之间"))?;
        if categories.len() > 20 {
            return Err(InvalidInput::new(
                "categories",
                "一个窗口最多服务20个业务类别",
            ));
        }
        let mut seen = BTreeSet::new();
        let mut served = Vec::with_capacity(categories.len());
        for (i, (id, weight)) in categories.iter().enumerate() {
            if !seen.insert(*id) {
                return Err(InvalidInput::new(
                    format!("categories[{i}].categoryId"),
                    "同一业务类别不能重复",
                ));
            }
            let weight = i32::try_from(*weight)
                .ok()
                .filter(|w| (1..=10).contains(w))
                .ok_or_else(|| {
                    InvalidInput::new(format!("categories[{i}].weight"), "权重应在1至10之间")
                })?;
            served.push((*id, weight));
        }
        Ok(Self {
            number,
            name: Text::parse("name", name, 100)?,
            active,
            categories: served,
            spoken_name: None,
        })
    }

    /// The same counter read out as `spoken` (`外事窗口`); blank or `None`: by its number.
    ///
    /// # Errors
    /// `spokenName` longer than 20 characters or holding a control character.
    pub fn with_spoken_name(mut self, spoken: Option<&str>) -> Result<Self, InvalidInput> {
        self.spoken_name = match spoken.map(str::trim).filter(|s| !s.is_empty()) {
            Some(raw) => Some(Text::parse("spokenName", raw, 20)?),
            None => None,
        };
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_read_and_print_as_hours_and_minutes() {
        assert_eq!(TimeOfDay::parse("t", "08:30").unwrap().minutes(), 510);
        assert_eq!(
            TimeOfDay::parse("t", " 9:05 ").unwrap().to_string(),
            "09:05"
        );
        assert_eq!(TimeOfDay::parse("t", "23:59").unwrap().minutes(), 1439);
        for bad in [
            "24:00", "08:60", "0830", "8:5", "-1:00", "08:30:00", "", "a:bc", "+8:30",
        ] {
            assert!(TimeOfDay::parse("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_break_must_lie_inside_the_opening_hours() {
        let ok = DayHours::parse("d", "09:00", "17:00", Some("12:00"), Some("13:30")).unwrap();
        assert_eq!(ok.pause().unwrap().1.minutes(), 13 * 60 + 30);
        let err = DayHours::parse("d", "09:00", "17:00", Some("08:00"), Some("13:30"));
        assert_eq!(err.unwrap_err().field, "d.breakStart");
        let err = DayHours::parse("d", "09:00", "17:00", Some("12:00"), Some("17:00"));
        assert_eq!(err.unwrap_err().field, "d.breakStart");
        let err = DayHours::parse("d", "09:00", "17:00", Some("13:00"), Some("12:00"));
        assert_eq!(err.unwrap_err().field, "d.breakEnd");
        let err = DayHours::parse("d", "09:00", "17:00", Some("12:00"), None);
        assert_eq!(err.unwrap_err().field, "d.breakEnd");
        let err = DayHours::parse("d", "17:00", "09:00", None, None);
        assert_eq!(err.unwrap_err().field, "d.closes");
    }

    #[test]
    fn the_default_rules_are_valid_and_each_bound_is_checked() {
        assert!(HallRules::default().validate().is_ok());
        let bad = |patch: RulesPatch| {
            HallRules::default()
                .patched(&patch)
                .validate()
                .unwrap_err()
                .field
        };
        assert_eq!(
            bad(RulesPatch {
                slot_minutes: Some(4),
                ..RulesPatch::default()
            }),
            "rules.slotMinutes"
        );
        assert_eq!(
            bad(RulesPatch {
                slot_minutes: Some(241),
                ..RulesPatch::default()
            }),
            "rules.slotMinutes"
        );
        assert_eq!(
            bad(RulesPatch {
                book_min_working_days: Some(6),
                ..RulesPatch::default()
            }),
            "rules.bookMaxWorkingDays"
        );
        assert_eq!(
            bad(RulesPatch {
                monthly_limit: Some(1),
                ..RulesPatch::default()
            }),
            "rules.monthlyLimit"
        );
    }

    #[test]
    fn weekdays_are_one_to_seven_and_listed_once() {
        assert_eq!(weekday("w", 1).unwrap(), Weekday::Mon);
        assert_eq!(weekday("w", 7).unwrap(), Weekday::Sun);
        assert!(weekday("w", 0).is_err() && weekday("w", 8).is_err());
        let hours = DayHours::parse("d", "09:00", "17:00", None, None).unwrap();
        let err = WeeklyHours::new(vec![(Weekday::Tue, hours), (Weekday::Tue, hours)]);
        assert_eq!(err.unwrap_err().field, "days[1].weekday");
    }

    #[test]
    fn prefixes_codes_and_counters_are_checked() {
        assert!(QueuePrefix::parse("AB").is_ok());
        for bad in ["", "a", "ABC", "A1", "甲"] {
            assert!(QueuePrefix::parse(bad).is_err(), "{bad}");
        }
        assert!(HallCode::parse("HALL-0571-01").is_ok());
        assert!(HallCode::parse("HALL:01").is_err());
        assert!(CounterInput::parse(1, "1号窗口", true, &[(1, 1), (2, 10)]).is_ok());
        let err = CounterInput::parse(1, "x", true, &[(1, 11)]).unwrap_err();
        assert_eq!(err.field, "categories[0].weight");
        let err = CounterInput::parse(1, "x", true, &[(1, 1), (1, 2)]).unwrap_err();
        assert_eq!(err.field, "categories[1].categoryId");
        assert!(CounterInput::parse(0, "x", true, &[]).is_err());
    }
}
