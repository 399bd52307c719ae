//! A year's data as an administrator pastes it from the State Council's notice, one date a line:
//!
//! ```text
//! # 国庆节：10月1日至7日放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
//! 2026-10-01 holiday 国庆节
//! 2026-10-10 workday 国庆节调休
//! ```
//!
//! A line is a date (`YYYY-MM-DD`), a kind — `holiday` (also `休`, `放假`) for a day off even on a
//! weekday, `workday` (also `班`, `上班`) for a working day even on a weekend — and an optional
//! note; `#` starts a comment, blank lines are skipped. The data is for the year most of its dates
//! fall in. A notice may reach into the December before or the January after (the 2012 notice made
//! 2011-12-31 a working day) but no further, so a mistyped year is caught on its own line.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry as MapEntry;
use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::CalendarError;

/// What a listed date is, whatever its weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// A day off (放假), even on a weekday.
    Holiday,
    /// A make-up working day (调休上班), even on a weekend.
    Workday,
}

impl DayKind {
    fn from_word(word: &str) -> Option<Self> {
        if word.eq_ignore_ascii_case("holiday") || matches!(word, "休" | "放假") {
            Some(Self::Holiday)
        } else if word.eq_ignore_ascii_case("workday") || matches!(word, "班" | "上班") {
            Some(Self::Workday)
        } else {
            None
        }
    }

    /// The word the text form writes: `holiday` or `workday`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Holiday => "holiday",
            Self::Workday => "workday",
        }
    }
}

/// One listed date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub date: NaiveDate,
    pub kind: DayKind,
    /// The rest of the line (`国庆节`), possibly empty.
    pub note: String,
}

/// Why a line of a year's data could not be read. The messages are meant for the administrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("日期应写作 年-月-日，如 2026-10-01")]
    BadDate,
    #[error("日期后应写 holiday（放假）或 workday（调休上班）")]
    MissingKind,
    /// The word found where the kind should be, cut to 16 characters.
    #[error("“{0}”应为 holiday（放假）或 workday（调休上班）")]
    UnknownKind(String),
    /// The same date with the same kind was listed on the given earlier line.
    #[error("该日期已在第{0}行列出")]
    Repeated(usize),
    /// The date is neither in the year the data is for nor in the month either side of it.
    #[error("该日期不在{year}年内（也不在前一年12月或后一年1月）")]
    OutsideYear { year: i32 },
}

/// The holidays and make-up working days of one year, read by [`YearData::parse`]. Its dates are
/// distinct, in order, and in the year or the month either side of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearData {
    year: i32,
    entries: Vec<Entry>,
}

impl YearData {
    /// Reads a year's data in the text form described in the module documentation.
    ///
    /// # Errors
    /// - [`CalendarError::BadLine`] for the first line (by line number, from 1) that is not a
    ///   date and a kind, repeats an earlier date, or lies too far from the year of the data;
    /// - [`CalendarError::Conflict`] for a date listed both as holiday and as workday;
    /// - [`CalendarError::Empty`] if the text lists no date at all.
    pub fn parse(text: &str) -> Result<YearData, CalendarError> {
        let mut found: BTreeMap<NaiveDate, (usize, Entry)> = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let bad = |reason| CalendarError::BadLine { line, reason };
            let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            if content.is_empty() {
                continue;
            }
            let (date_word, rest) = split_word(content);
            let (kind_word, note) = split_word(rest);
            let date = NaiveDate::parse_from_str(date_word, "%Y-%m-%d")
                .map_err(|_| bad(LineError::BadDate))?;
            let kind = match DayKind::from_word(kind_word) {
                Some(kind) => kind,
                None if kind_word.is_empty() => return Err(bad(LineError::MissingKind)),
                None => {
                    let word = kind_word.chars().take(16).collect();
                    return Err(bad(LineError::UnknownKind(word)));
                }
            };
            let entry = Entry {
                date,
                kind,
                note: note.to_owned(),
            };
            match found.entry(date) {
                MapEntry::Vacant(slot) => {
                    slot.insert((line, entry));
                }
                MapEntry::Occupied(earlier) if earlier.get().1.kind == kind => {
                    return Err(bad(LineError::Repeated(earlier.get().0)));
                }
                MapEntry::Occupied(_) => return Err(CalendarError::Conflict(date)),
            }
        }

        let mut per_year: BTreeMap<i32, usize> = BTreeMap::new();
        for date in found.keys() {
            *per_year.entry(date.year()).or_default() += 1;
        }
        // `max_by_key` keeps the last of equals: on a tie, the later year.
        let year = per_year
            .into_iter()
            .max_by_key(|(_, count)| *count)
            .map(|(year, _)| year)
            .ok_or(CalendarError::Empty)?;
        let first_outside = found
            .values()
            .filter(|(_, entry)| !near(year, entry.date))
            .map(|(line, _)| *line)
            .min();
        if let Some(line) = first_outside {
            return Err(CalendarError::BadLine {
                line,
                reason: LineError::OutsideYear { year },
            });
        }

        Ok(YearData {
            year,
            entries: found.into_values().map(|(_, entry)| entry).collect(),
        })
    }

    /// The year the data is for.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The listed dates, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// The text form again, one entry a line, which [`YearData::parse`] reads back to the same data;
/// for storing what was loaded and showing it to the administrator.
impl fmt::Display for YearData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            write!(f, "{} {}", entry.date, entry.kind.as_str())?;
            if !entry.note.is_empty() {
                write!(f, " {}", entry.note)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The first word and the rest, trimmed; both empty for an empty string.
fn split_word(s: &str) -> (&str, &str) {
    match s.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (s, ""),
    }
}

/// Whether `date` is in `year`, in the December before it or in the January after it.
fn near(year: i32, date: NaiveDate) -> bool {
    let (y, m) = (i64::from(date.year()), date.month());
    let year = i64::from(year);
    y == year || (y == year - 1 && m == 12) || (y == year + 1 && m == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn bad_line(line: usize, reason: LineError) -> Result<YearData, CalendarError> {
        Err(CalendarError::BadLine { line, reason })
    }

    #[test]
    fn lines_comments_and_notes_are_read() {
        let text = "# 2026 国庆节\n\n2026-10-01 holiday 国庆节 第一天  # 周四\r\n\
                    2026-10-10\t班\n  2026-10-02 放假\u{3000}国庆节\n";

        let data = YearData::parse(text).unwrap();

        assert_eq!(data.year(), 2026);
        let expected = [
            (date(2026, 10, 1), DayKind::Holiday, "国庆节 第一天"),
            (date(2026, 10, 2), DayKind::Holiday, "国庆节"),
            (date(2026, 10, 10), DayKind::Workday, ""),
        ];
        let read: Vec<(NaiveDate, DayKind, &str)> = data
            .entries()
            .iter()
            .map(|entry| (entry.date, entry.kind, entry.note.as_str()))
            .collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        assert_eq!(
            YearData::parse("2026-10-01 holiday\n2026-13-01 holiday"),
            bad_line(2, LineError::BadDate)
        );
        assert_eq!(
            YearData::parse("# x\n2026-10-01"),
            bad_line(2, LineError::MissingKind)
        );
        assert_eq!(
            YearData::parse("2026-10-01 vacation 国庆节"),
            bad_line(1, LineError::UnknownKind("vacation".into()))
        );
        assert_eq!(
            YearData::parse("2026-10-01 holiday\n\n2026-10-01 休"),
            bad_line(3, LineError::Repeated(1))
        );
        assert_eq!(
            YearData::parse("国庆节 2026-10-01 holiday"),
            bad_line(1, LineError::BadDate)
        );
    }

    #[test]
    fn a_date_both_holiday_and_workday_is_a_conflict() {
        assert_eq!(
            YearData::parse("2026-10-10 holiday\n2026-10-10 workday"),
            Err(CalendarError::Conflict(date(2026, 10, 10)))
        );
    }

    #[test]
    fn text_without_dates_is_empty() {
        assert_eq!(YearData::parse(""), Err(CalendarError::Empty));
        assert_eq!(YearData::parse("# 2026\n   \n"), Err(CalendarError::Empty));
    }

    #[test]
    fn a_notice_may_reach_into_the_neighbouring_month_but_a_mistyped_year_is_caught() {
        let data = YearData::parse(
            "2011-12-31 workday 元旦调休\n2012-01-01 holiday\n2012-01-02 holiday\n2012-01-03 holiday",
        )
        .unwrap();
        assert_eq!(data.year(), 2012);

        let typo = "2026-10-01 holiday\n2026-10-02 holiday\n2062-10-03 holiday\n2026-10-04 holiday";
        assert_eq!(
            YearData::parse(typo),
            bad_line(3, LineError::OutsideYear { year: 2026 })
        );
        assert_eq!(
            YearData::parse("2026-10-01 holiday\n2025-11-30 workday\n2026-10-02 holiday"),
            bad_line(2, LineError::OutsideYear { year: 2026 })
        );
    }

    #[test]
    fn the_demo_data_is_the_2026_notice() {
        let data = YearData::parse(super::super::DEMO_2026).unwrap();
        assert_eq!(data.year(), 2026);
        let holidays = data.entries().iter().filter(|e| e.kind == DayKind::Holiday);
        assert_eq!(holidays.count(), 3 + 9 + 3 + 5 + 3 + 3 + 7);
        let workdays: Vec<NaiveDate> = data
            .entries()
            .iter()
            .filter(|e| e.kind == DayKind::Workday)
            .map(|e| e.date)
            .collect();
        assert_eq!(workdays.len(), 6);
        assert!(
            workdays
                .iter()
                .all(|d| matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)),
            "every make-up working day of 2026 is a Saturday or a Sunday"
        );
        assert!(data.entries().iter().all(|e| !e.note.is_empty()));
    }

    fn year_data() -> impl Strategy<Value = YearData> {
        proptest::collection::btree_map(
            0u64..427,
            (any::<bool>(), "([^#\\s]{1,3}( [^#\\s]{1,3}){0,2})?"),
            1..40,
        )
        .prop_filter_map("most dates in the December before", |entries| {
            // December 2025 to January 2027: a year and the month either side of it.
            let text: String = entries
                .into_iter()
                .map(|(offset, (holiday, note))| {
                    let day = date(2025, 12, 1) + chrono::Days::new(offset);
                    let kind = if holiday { "holiday" } else { "workday" };
                    format!("{day} {kind} {note}\n")
                })
                .collect();
            YearData::parse(&text).ok()
        })
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = YearData::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_almost_valid_lines(
            lines in proptest::collection::vec(
                "[0-9+-]{0,12}[ \t\u{3000}]{0,2}(holiday|workday|休|班|x)?[ #]?[^\n]{0,6}",
                0..12,
            ),
        ) {
            let text = lines.join("\n");
            if let Ok(data) = YearData::parse(&text) {
                prop_assert!(!data.entries().is_empty());
                prop_assert!(data.entries().windows(2).all(|w| w[0].date < w[1].date));
            }
        }

        #[test]
        fn the_text_form_reads_back_to_the_same_data(data in year_data()) {
            prop_assert_eq!(YearData::parse(&data.to_string()), Ok(data));
        }
    }
}
