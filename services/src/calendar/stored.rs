//! The calendar as the administrator loaded it: one row per year holding the notice's text,
//! parsed into a [`WorkingCalendar`] that every instance caches for a short while.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait as _, QueryOrder as _,
};

use entities::calendar_year;

use super::{CalendarError, WorkingCalendar, YearData};
use crate::time::Clock;

/// How long an instance trusts its cached calendar; another instance's load is seen within it.
const CACHE_FOR: Duration = Duration::from_secs(30);

/// Why a year could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadYearError {
    /// The text does not parse, or contradicts another year's data.
    #[error(transparent)]
    Invalid(#[from] CalendarError),
    /// The text is for another year than the one named.
    #[error("数据是{found}年的，而不是{expected}年的")]
    WrongYear { expected: i32, found: i32 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A calendar and when it was read.
type Cached = (Instant, Arc<WorkingCalendar>);

/// The working-day calendar, stored in the database and cached in memory.
#[derive(Clone)]
pub struct CalendarStore {
    db: DatabaseConnection,
    cached: Arc<Mutex<Option<Cached>>>,
    /// Stamps a loaded year.
    clock: Clock,
}

impl CalendarStore {
    /// On the system clock; a gateway hands in its own with [`CalendarStore::with_clock`].
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cached: Arc::default(),
            clock: Clock::system(),
        }
    }

    /// Stamps loaded years on `clock` (the deployment's, which tests move).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The calendar with every loaded year.
    ///
    /// # Errors
    /// The database cannot be read, or a stored year no longer parses.
    pub async fn calendar(&self) -> anyhow::Result<Arc<WorkingCalendar>> {
        if let Some((at, calendar)) = self
            .cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(Arc::clone(calendar));
        }
        let calendar = Arc::new(read(&self.db).await?);
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&calendar)));
        Ok(calendar)
    }

    /// Loads (or replaces) one year's data, as text [`YearData::parse`] reads.
    ///
    /// # Errors
    /// [`LoadYearError::Invalid`] for text that does not parse or that contradicts another
    /// year; [`LoadYearError::WrongYear`] when its dates are of another year.
    pub async fn load_year(
        &self,
        year: i32,
        text: &str,
        staff_id: Option<i64>,
    ) -> Result<YearData, LoadYearError> {
        let data = YearData::parse(text)?;
        if data.year() != year {
            return Err(LoadYearError::WrongYear {
                expected: year,
                found: data.year(),
            });
        }
        // Checked against the other years before anything is stored.
        let current = read(&self.db).await?;
        current.with_year(data.clone())?;
        calendar_year::Entity::insert(calendar_year::ActiveModel {
            year: Set(year),
            source: Set(text.to_owned()),
            loaded_at: Set(self.clock.now()),
            loaded_by: Set(staff_id),
        })
        .on_conflict(
            OnConflict::column(calendar_year::Column::Year)
                .update_columns([
                    calendar_year::Column::Source,
                    calendar_year::Column::LoadedAt,
                    calendar_year::Column::LoadedBy,
                ])
                .to_owned(),
        )
        .exec(&self.db)
        .await
        .context("store the calendar year")?;
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(data)
    }

    /// Loads `text` for its year unless that year already has data (the demo's first start).
    ///
    /// # Errors
    /// As [`CalendarStore::load_year`].
    pub async fn seed(&self, text: &str) -> Result<bool, LoadYearError> {
        let data = YearData::parse(text)?;
        if self.calendar().await?.covers(data.year()) {
            return Ok(false);
        }
        self.load_year(data.year(), text, None).await?;
        Ok(true)
    }
}

async fn read(db: &impl ConnectionTrait) -> anyhow::Result<WorkingCalendar> {
    let years = calendar_year::Entity::find()
        .order_by_asc(calendar_year::Column::Year)
        .all(db)
        .await
        .context("read the calendar years")?;
    let mut calendar = WorkingCalendar::mainland_default();
    for year in years {
        let data = YearData::parse(&year.source)
            .with_context(|| format!("stored calendar year {} no longer parses", year.year))?;
        calendar = calendar
            .with_year(data)
            .with_context(|| format!("stored calendar year {}", year.year))?;
    }
    Ok(calendar)
}
