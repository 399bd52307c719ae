//! A hall's schedule as every capability reads it: the hours of each weekday and the date
//! exceptions, and which hours the hall keeps on a given day (pure).

use std::collections::HashMap;

use chrono::{Datelike as _, NaiveDate};

use super::input::{DayHours, ExceptionKind};
use crate::calendar::WorkingCalendar;

/// The weekly hours (Monday first) and the date exceptions of a hall.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub weekly: [Option<DayHours>; 7],
    pub exceptions: HashMap<NaiveDate, ExceptionKind>,
}

impl Schedule {
    /// The hours the hall keeps on `day`, if it opens at all. The calendar decides whether the
    /// day is a working day; on a make-up working day (调休) that falls on a weekend the hall
    /// keeps its Monday hours (or those of its first weekday with hours). An exception
    /// overrides both: closed, or open with the hours it gives (even on a day the calendar has
    /// off — the administrator's explicit choice), keeping the regular break where it still
    /// fits.
    pub fn hours_on(&self, day: NaiveDate, calendar: &WorkingCalendar) -> Option<DayHours> {
        let regular = || {
            if !calendar.is_working_day(day) {
                return None;
            }
            self.weekly[day.weekday().num_days_from_monday() as usize]
                .or_else(|| self.weekly.iter().flatten().next().copied())
        };
        match self.exceptions.get(&day) {
            Some(ExceptionKind::Closed) => None,
            Some(&ExceptionKind::Hours { opens, closes }) => {
                let pause = regular().and_then(|r| r.pause());
                Some(
                    DayHours::between(opens, closes)
                        .with_pause(pause.filter(|&(f, t)| opens <= f && t <= closes)),
                )
            }
            None => regular(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_makeup_saturday_opens_with_monday_hours_and_a_holiday_weekday_stays_shut() {
        let nine_to_five =
            DayHours::parse("d", "09:00", "17:00", Some("12:00"), Some("13:30")).unwrap();
        let cal = WorkingCalendar::new(
            [
                chrono::Weekday::Mon,
                chrono::Weekday::Tue,
                chrono::Weekday::Wed,
                chrono::Weekday::Thu,
                chrono::Weekday::Fri,
            ],
            [date("2026-12-01")],
            [date("2026-11-28")],
        )
        .unwrap();
        let mut schedule = Schedule::default();
        for day in schedule.weekly.iter_mut().take(5) {
            *day = Some(nine_to_five);
        }
        assert_eq!(
            schedule.hours_on(date("2026-11-28"), &cal),
            Some(nine_to_five)
        );
        assert_eq!(schedule.hours_on(date("2026-12-01"), &cal), None);
        schedule
            .exceptions
            .insert(date("2026-11-27"), ExceptionKind::Closed);
        assert_eq!(schedule.hours_on(date("2026-11-27"), &cal), None);
        // Shortened hours keep the break that still fits, and only that.
        let (nine, one, three) = (
            crate::halls::TimeOfDay::from_minutes(540).unwrap(),
            crate::halls::TimeOfDay::from_minutes(780).unwrap(),
            crate::halls::TimeOfDay::from_minutes(900).unwrap(),
        );
        schedule.exceptions.insert(
            date("2026-11-26"),
            ExceptionKind::Hours {
                opens: nine,
                closes: three,
            },
        );
        let short = schedule.hours_on(date("2026-11-26"), &cal).unwrap();
        assert_eq!(short.pause_minutes(), Some((720, 810)));
        schedule.exceptions.insert(
            date("2026-11-26"),
            ExceptionKind::Hours {
                opens: nine,
                closes: one,
            },
        );
        let short = schedule.hours_on(date("2026-11-26"), &cal).unwrap();
        assert_eq!(short.pause(), None);
    }
}
