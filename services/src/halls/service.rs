//! Hall administration: a hall, its rules, weekly hours, date exceptions and check-in QR.

use super::layout::category_of;
pub use super::layout::{Category, CategoryError, Counter, CounterError, HallItem, MapItemError};
pub use super::public::PublicHall;

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc, Weekday};
use rand::Rng as _;
use rand::distr::Alphanumeric;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _,
};

use super::input::{
    DayException, ExceptionKind, HallCode, HallRules, InvalidInput, RulesPatch, Text, TimeOfDay,
    ValidRules, WeeklyHours,
};
use entities::{category, counter, counter_category, hall, hall_exception, hall_hours, hall_item};

/// A hall and its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hall {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub address: String,
    pub rules: HallRules,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Everything an administrator sets on a hall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HallDetail {
    pub hall: Hall,
    pub hours: WeeklyHours,
    /// From the date asked for on.
    pub exceptions: Vec<DayException>,
    pub categories: Vec<Category>,
    pub counters: Vec<Counter>,
    pub items: Vec<HallItem>,
}

/// A new hall.
#[derive(Debug, Clone)]
pub struct NewHall {
    pub code: HallCode,
    pub name: Text,
    pub address: Text,
    pub rules: ValidRules,
}

/// Changes to a hall; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct HallUpdate {
    pub name: Option<Text>,
    pub address: Option<Text>,
    pub rules: RulesPatch,
    pub active: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateHallError {
    /// Another hall has this code.
    #[error("the hall code is taken")]
    CodeTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateHallError {
    #[error("no such hall")]
    NotFound,
    /// The rules, with the changes applied, break a bound.
    #[error(transparent)]
    Invalid(InvalidInput),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a hall's hours or exceptions could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum HallEditError {
    #[error("no such hall")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Halls: their rules, hours, exceptions, categories, counters and items.
#[derive(Clone)]
pub struct HallService {
    pub(super) db: DatabaseConnection,
    pub(super) clock: crate::time::Clock,
    /// The halls' read models the booking and queue services of this instance read (cached for
    /// [`super::HALL_CACHE_FOR`]): every change forgets the hall there, so the instance that
    /// made it applies it at once — rules saved and then a slots request a second later must
    /// not see the old rules (a `bookMinWorkingDays: 0` read as 1 makes today "past").
    pub(super) directory: Option<super::HallDirectory>,
}

impl HallService {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            clock: crate::time::Clock::system(),
            directory: None,
        }
    }

    /// The same service forgetting a changed hall in `directory` (the instance's shared cache
    /// of halls' read models), so the change applies at once on this instance.
    #[must_use]
    pub fn with_directory(mut self, directory: super::HallDirectory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// A hall was changed: read it afresh on its next use here.
    pub(super) fn changed(&self, id: i64) {
        if let Some(directory) = &self.directory {
            directory.forget(id);
        }
    }

    /// The same service reading "now" from `clock` (the application's, which tests move).
    #[must_use]
    pub fn with_clock(mut self, clock: crate::time::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Creates a hall with no hours, categories or counters yet, and a fresh check-in secret.
    ///
    /// # Errors
    /// [`CreateHallError::CodeTaken`] when another hall has the code (the unique index decides).
    #[tracing::instrument(skip_all, fields(hall = new.code.as_str()))]
    pub async fn create(&self, new: NewHall) -> Result<HallDetail, CreateHallError> {
        let now = self.clock.now();
        let rules = new.rules.get();
        let inserted = hall::Entity::insert(hall::ActiveModel {
            code: Set(new.code.as_str().to_owned()),
            name: Set(new.name.as_str().to_owned()),
            address: Set(new.address.as_str().to_owned()),
            checkin_secret: Set(new_secret()),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..rules_model(rules)
        })
        .exec(&self.db)
        .await;
        let id = match inserted {
            Ok(done) => done.last_insert_id,
            Err(e) if is_unique_violation(&e) => return Err(CreateHallError::CodeTaken),
            Err(e) => return Err(anyhow::Error::new(e).context("insert the hall").into()),
        };
        tracing::info!(hall_id = id, "hall created");
        self.detail(id, now.date_naive())
            .await?
            .context("the hall just created is gone")
            .map_err(Into::into)
    }

    /// Changes a hall's name, address, rules or standing.
    ///
    /// # Errors
    /// [`UpdateHallError::NotFound`]; [`UpdateHallError::Invalid`] when the rules with the
    /// changes applied break a bound (`bookMaxWorkingDays` below the new minimum, say).
    #[tracing::instrument(skip_all, fields(hall_id = id))]
    pub async fn update(&self, id: i64, update: HallUpdate) -> Result<Hall, UpdateHallError> {
        let current = hall::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .context("read the hall")?
            .ok_or(UpdateHallError::NotFound)?;
        let rules = rules_of(&current)
            .patched(&update.rules)
            .validate()
            .map_err(UpdateHallError::Invalid)?;
        let mut model = hall::ActiveModel {
            id: Set(id),
            updated_at: Set(self.clock.now()),
            ..rules_model(rules.get())
        };
        if let Some(name) = update.name {
            model.name = Set(name.as_str().to_owned());
        }
        if let Some(address) = update.address {
            model.address = Set(address.as_str().to_owned());
        }
        if let Some(active) = update.active {
            model.active = Set(active);
        }
        let row = hall::Entity::update(model)
            .exec(&self.db)
            .await
            .context("update the hall")?;
        tracing::info!("hall updated");
        self.changed(id);
        Ok(hall_of(row))
    }

    /// A hall with everything set on it; exceptions from `from` on.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn detail(&self, id: i64, from: NaiveDate) -> anyhow::Result<Option<HallDetail>> {
        let Some(row) = hall::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .context("read the hall")?
        else {
            return Ok(None);
        };
        let hours = weekly_hours(&self.db, id).await?;
        let exceptions = exceptions(&self.db, id, from, None).await?;
        let categories = category::Entity::find()
            .filter(category::Column::HallId.eq(id))
            .order_by_asc(category::Column::Code)
            .all(&self.db)
            .await
            .context("read the categories")?
            .into_iter()
            .map(category_of)
            .collect();
        let counter_rows = counter::Entity::find()
            .filter(counter::Column::HallId.eq(id))
            .order_by_asc(counter::Column::Number)
            .all(&self.db)
            .await
            .context("read the counters")?;
        let ids: Vec<i64> = counter_rows.iter().map(|c| c.id).collect();
        let mut served: BTreeMap<i64, Vec<(i64, i32)>> = BTreeMap::new();
        for row in counter_category::Entity::find()
            .filter(counter_category::Column::CounterId.is_in(ids))
            .order_by_asc(counter_category::Column::CategoryId)
            .all(&self.db)
            .await
            .context("read what the counters serve")?
        {
            served
                .entry(row.counter_id)
                .or_default()
                .push((row.category_id, row.weight));
        }
        let counters = counter_rows
            .into_iter()
            .map(|c| Counter {
                categories: served.remove(&c.id).unwrap_or_default(),
                id: c.id,
                number: c.number,
                name: c.name,
                active: c.active,
                spoken_name: c.spoken_name,
            })
            .collect();
        let mapped = hall_item::Entity::find()
            .filter(hall_item::Column::HallId.eq(id))
            .order_by_asc(hall_item::Column::ItemCode)
            .all(&self.db)
            .await
            .context("read the hall's items")?;
        let names =
            crate::catalogue::queries::names(&self.db, mapped.iter().map(|m| m.item_code.clone()))
                .await?;
        let items = mapped
            .into_iter()
            .map(|m| HallItem {
                item_name: names.get(&m.item_code).cloned(),
                item_code: m.item_code,
                category_id: m.category_id,
            })
            .collect();
        Ok(Some(HallDetail {
            hall: hall_of(row),
            hours,
            exceptions,
            categories,
            counters,
            items,
        }))
    }

    /// Halls by code: those with the given ids, or every hall for `None`.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn list(&self, only: Option<&[i64]>) -> anyhow::Result<Vec<Hall>> {
        let mut query = hall::Entity::find().order_by_asc(hall::Column::Code);
        if let Some(ids) = only {
            query = query.filter(hall::Column::Id.is_in(ids.iter().copied()));
        }
        Ok(query
            .all(&self.db)
            .await
            .context("list the halls")?
            .into_iter()
            .map(hall_of)
            .collect())
    }

    /// Replaces the hall's week in one transaction: the weekdays listed open at their hours,
    /// the others are closed.
    ///
    /// # Errors
    /// [`HallEditError::NotFound`].
    #[tracing::instrument(skip_all, fields(hall_id = id))]
    pub async fn set_hours(&self, id: i64, week: &WeeklyHours) -> Result<(), HallEditError> {
        let txn = crate::db::write(&self.db).await.context("begin")?;
        if !touch(&txn, id, self.clock.now()).await? {
            return Err(HallEditError::NotFound);
        }
        hall_hours::Entity::delete_many()
            .filter(hall_hours::Column::HallId.eq(id))
            .exec(&txn)
            .await
            .context("delete the old hours")?;
        if !week.days().is_empty() {
            hall_hours::Entity::insert_many(week.days().iter().map(|(day, hours)| {
                hall_hours::ActiveModel {
                    hall_id: Set(id),
                    weekday: Set(weekday_number(*day)),
                    opens_minute: Set(hours.opens().minutes()),
                    closes_minute: Set(hours.closes().minutes()),
                    break_start_minute: Set(hours.pause().map(|(s, _)| s.minutes())),
                    break_end_minute: Set(hours.pause().map(|(_, e)| e.minutes())),
                }
            }))
            .exec(&txn)
            .await
            .context("insert the hours")?;
        }
        txn.commit().await.context("commit the hours")?;
        tracing::info!("opening hours replaced");
        self.changed(id);
        Ok(())
    }

    /// Sets (or replaces) the exception of a date.
    ///
    /// # Errors
    /// [`HallEditError::NotFound`].
    #[tracing::instrument(skip_all, fields(hall_id = id, day = %exception.day))]
    pub async fn put_exception(
        &self,
        id: i64,
        exception: &DayException,
    ) -> Result<(), HallEditError> {
        if !touch(&self.db, id, self.clock.now()).await? {
            return Err(HallEditError::NotFound);
        }
        let (closed, opens, closes) = match exception.kind {
            ExceptionKind::Closed => (true, None, None),
            ExceptionKind::Hours { opens, closes } => {
                (false, Some(opens.minutes()), Some(closes.minutes()))
            }
        };
        hall_exception::Entity::insert(hall_exception::ActiveModel {
            hall_id: Set(id),
            day: Set(exception.day),
            closed: Set(closed),
            opens_minute: Set(opens),
            closes_minute: Set(closes),
            note: Set(exception.note.clone()),
        })
        .on_conflict(
            OnConflict::columns([hall_exception::Column::HallId, hall_exception::Column::Day])
                .update_columns([
                    hall_exception::Column::Closed,
                    hall_exception::Column::OpensMinute,
                    hall_exception::Column::ClosesMinute,
                    hall_exception::Column::Note,
                ])
                .to_owned(),
        )
        .exec(&self.db)
        .await
        .context("store the exception")?;
        tracing::info!("date exception set");
        self.changed(id);
        Ok(())
    }

    /// Removes the exception of a date; `false` if there was none.
    ///
    /// # Errors
    /// [`HallEditError::NotFound`].
    #[tracing::instrument(skip_all, fields(hall_id = id, day = %day))]
    pub async fn delete_exception(&self, id: i64, day: NaiveDate) -> Result<bool, HallEditError> {
        if !touch(&self.db, id, self.clock.now()).await? {
            return Err(HallEditError::NotFound);
        }
        let deleted = hall_exception::Entity::delete_many()
            .filter(hall_exception::Column::HallId.eq(id))
            .filter(hall_exception::Column::Day.eq(day))
            .exec(&self.db)
            .await
            .context("delete the exception")?;
        self.changed(id);
        Ok(deleted.rows_affected > 0)
    }

    /// The text of the hall's check-in QR, `ZSBHALL:{code}:{secret}`, as printed on its wall.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn check_in_qr(&self, hall_id: i64) -> anyhow::Result<Option<String>> {
        Ok(hall::Entity::find_by_id(hall_id)
            .one(&self.db)
            .await
            .context("read the hall")?
            .map(|h| format!("ZSBHALL:{}:{}", h.code, h.checkin_secret)))
    }

    pub(super) async fn exists(&self, id: i64) -> anyhow::Result<bool> {
        Ok(hall::Entity::find_by_id(id)
            .count(&self.db)
            .await
            .context("read the hall")?
            > 0)
    }
}

/// A random check-in secret of 32 letters and digits.
pub(super) fn new_secret() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

pub(super) fn is_unique_violation(e: &DbErr) -> bool {
    crate::db::unique_violation(e, None)
}

/// Marks the hall changed; `false` when there is no such hall. Inside a transaction this is
/// also its lock: on PostgreSQL the row stays locked, on SQLite the write lock is taken, so
/// checks made after it (a free queue prefix) hold until the commit.
pub(super) async fn touch(
    conn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let done = hall::Entity::update_many()
        .col_expr(hall::Column::UpdatedAt, Expr::value(now))
        .filter(hall::Column::Id.eq(id))
        .exec(conn)
        .await
        .context("lock the hall")?;
    Ok(done.rows_affected > 0)
}

pub(super) fn weekday_number(day: Weekday) -> i32 {
    i32::from(day.number_from_monday() as u8)
}

pub(super) async fn weekly_hours(
    conn: &impl ConnectionTrait,
    hall_id: i64,
) -> anyhow::Result<WeeklyHours> {
    let days = hall_hours::Entity::find()
        .filter(hall_hours::Column::HallId.eq(hall_id))
        .all(conn)
        .await
        .context("read the hours")?
        .iter()
        .filter_map(super::queries::day_of)
        .collect();
    WeeklyHours::new(days).context("stored hours list a weekday twice")
}

pub(super) async fn exceptions(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    from: NaiveDate,
    until: Option<NaiveDate>,
) -> anyhow::Result<Vec<DayException>> {
    let mut query = hall_exception::Entity::find()
        .filter(hall_exception::Column::HallId.eq(hall_id))
        .filter(hall_exception::Column::Day.gte(from))
        .order_by_asc(hall_exception::Column::Day);
    if let Some(until) = until {
        query = query.filter(hall_exception::Column::Day.lte(until));
    }
    Ok(query
        .all(conn)
        .await
        .context("read the exceptions")?
        .into_iter()
        .map(|e| {
            let hours = e
                .opens_minute
                .and_then(TimeOfDay::from_minutes)
                .zip(e.closes_minute.and_then(TimeOfDay::from_minutes));
            let kind = match (e.closed, hours) {
                (false, Some((opens, closes))) => ExceptionKind::Hours { opens, closes },
                _ => ExceptionKind::Closed,
            };
            DayException {
                day: e.day,
                kind,
                note: e.note,
            }
        })
        .collect())
}

pub(super) fn rules_of(row: &hall::Model) -> HallRules {
    HallRules::of(row)
}

/// The rule columns of a hall row.
pub(super) fn rules_model(rules: &HallRules) -> hall::ActiveModel {
    hall::ActiveModel {
        slot_minutes: Set(rules.slot_minutes),
        release_days_ahead: Set(rules.release_days_ahead),
        release_minute: Set(rules.release_time.minutes()),
        book_min_working_days: Set(rules.book_min_working_days),
        book_max_working_days: Set(rules.book_max_working_days),
        cancel_cutoff_minutes: Set(rules.cancel_cutoff_minutes),
        checkin_before_minutes: Set(rules.checkin_before_minutes),
        checkin_after_minutes: Set(rules.checkin_after_minutes),
        weekly_limit: Set(rules.weekly_limit),
        monthly_limit: Set(rules.monthly_limit),
        no_show_limit: Set(rules.no_show_limit),
        cancel_limit: Set(rules.cancel_limit),
        penalty_window_days: Set(rules.penalty_window_days),
        ban_days: Set(rules.ban_days),
        ..Default::default()
    }
}

pub(super) fn hall_of(row: hall::Model) -> Hall {
    Hall {
        rules: rules_of(&row),
        id: row.id,
        code: row.code,
        name: row.name,
        address: row.address,
        active: row.active,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}
