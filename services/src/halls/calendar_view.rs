//! The working-day calendar as administrators and citizens read it: a loaded year's text with
//! its parsed entries, and a range of dates with whether the halls work and the holiday's name.
//! Loading stays with [`CalendarStore`]; this reads what it stored.

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{DatabaseConnection, EntityTrait as _};

use crate::calendar::{CalendarStore, DayKind, Entry, YearData};
use crate::time::Day;
use entities::calendar_year;

/// The longest range [`CalendarView::days`] lists.
pub const MAX_LISTED_DAYS: i64 = 62;

/// A year as the administrator loaded it.
#[derive(Debug, Clone)]
pub struct StoredYear {
    pub year: i32,
    /// The text as pasted.
    pub source: String,
    pub entries: Vec<Entry>,
    pub loaded_at: DateTime<Utc>,
    /// The staff member who loaded it; `None` for the demo's seed.
    pub loaded_by: Option<i64>,
}

/// One date of a listed range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDay {
    pub date: NaiveDate,
    pub is_working_day: bool,
    /// What the year's data says of the date, if it lists it.
    pub kind: Option<DayKind>,
    /// The note of the listed date (`国庆节`, `国庆节调休`), if any.
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListDaysError {
    /// `to` before `from`, or more than [`MAX_LISTED_DAYS`] dates.
    #[error("the range must run forward over at most {MAX_LISTED_DAYS} days")]
    BadRange,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Reads of the stored calendar.
#[derive(Clone)]
pub struct CalendarView {
    db: DatabaseConnection,
    store: CalendarStore,
}

impl CalendarView {
    pub fn new(db: DatabaseConnection, store: CalendarStore) -> Self {
        Self { db, store }
    }

    /// The year's stored text and entries, if it was loaded.
    ///
    /// # Errors
    /// The database cannot be read, or the stored text no longer parses.
    pub async fn year(&self, year: i32) -> anyhow::Result<Option<StoredYear>> {
        let Some(row) = calendar_year::Entity::find_by_id(year)
            .one(&self.db)
            .await
            .context("read the calendar year")?
        else {
            return Ok(None);
        };
        let data = YearData::parse(&row.source)
            .with_context(|| format!("stored calendar year {year} no longer parses"))?;
        Ok(Some(StoredYear {
            year: row.year,
            entries: data.entries().to_vec(),
            source: row.source,
            loaded_at: row.loaded_at,
            loaded_by: row.loaded_by,
        }))
    }

    /// Every date from `from` to `to`, both included: whether the halls work, and what the
    /// loaded data says of it.
    ///
    /// # Errors
    /// [`ListDaysError::BadRange`] for a backward range or one of more than
    /// [`MAX_LISTED_DAYS`] dates.
    pub async fn days(&self, from: Day, to: Day) -> Result<Vec<ListedDay>, ListDaysError> {
        if !(0..MAX_LISTED_DAYS).contains(&from.days_until(to)) {
            return Err(ListDaysError::BadRange);
        }
        let (from, to) = (from.date(), to.date());
        let calendar = self.store.calendar().await?;
        Ok(from
            .iter_days()
            .take_while(|day| *day <= to)
            .map(|date| {
                let entry = calendar.entry(date);
                ListedDay {
                    date,
                    is_working_day: calendar.is_working_day(date),
                    kind: entry.map(|e| e.kind),
                    note: entry.map(|e| e.note.clone()).filter(|n| !n.is_empty()),
                }
            })
            .collect())
    }
}
