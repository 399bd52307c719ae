//! Hall administration and the halls as citizens see them.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use chrono::{DateTime, Days, NaiveDate, Utc, Weekday};
use rand::Rng as _;
use rand::distr::Alphanumeric;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    SqlErr,
};

use super::input::{
    CategoryInput, CounterInput, DayException, DayHours, ExceptionKind, HallCode, HallRules,
    InvalidInput, RulesPatch, Text, TimeOfDay, ValidRules, WeeklyHours,
};
use entities::{
    category, counter, counter_category, hall, hall_exception, hall_hours, hall_item, item,
};

/// How far ahead a citizen sees a hall's date exceptions.
const PUBLIC_EXCEPTIONS_DAYS: u64 = 62;

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

/// A category of items a hall serves (业务类别).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub prefix: String,
    /// `None`: as many seats per slot as active counters serve the category.
    pub seats_per_slot: Option<i32>,
}

/// A counter (窗口) and the categories it serves, with their weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub id: i64,
    pub number: i32,
    pub name: String,
    pub active: bool,
    /// `(category id, weight)`, by category id.
    pub categories: Vec<(i64, i32)>,
    /// What the board reads out after "到"; `None`: its number.
    pub spoken_name: Option<String>,
}

/// An item handled at a hall, and by which category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HallItem {
    pub item_code: String,
    /// The catalogue's name of the item.
    pub item_name: Option<String>,
    pub category_id: i64,
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

/// A hall as citizens see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicHall {
    pub code: String,
    pub name: String,
    pub address: String,
    pub hours: WeeklyHours,
    /// Upcoming closures and changed hours (only for a single hall).
    pub exceptions: Vec<DayException>,
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

#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    #[error("no such hall")]
    HallNotFound,
    /// No such category at this hall.
    #[error("no such category")]
    NotFound,
    /// Another category of the hall has this code.
    #[error("the category code is taken")]
    CodeTaken,
    /// Another category of the hall has this queue prefix.
    #[error("the queue prefix is taken")]
    PrefixTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("no such hall")]
    HallNotFound,
    /// No such counter at this hall.
    #[error("no such counter")]
    NotFound,
    /// Another counter of the hall has this number.
    #[error("the counter number is taken")]
    NumberTaken,
    /// A category to serve is not one of this hall's.
    #[error("no category {0} at this hall")]
    CategoryNotFound(i64),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum MapItemError {
    #[error("no such hall")]
    HallNotFound,
    /// The item is not in the catalogue.
    #[error("no such item")]
    ItemNotFound,
    /// No such category at this hall.
    #[error("no such category")]
    CategoryNotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Halls: their rules, hours, exceptions, categories, counters and items.
#[derive(Clone)]
pub struct HallService {
    db: DatabaseConnection,
}

impl HallService {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Creates a hall with no hours, categories or counters yet, and a fresh check-in secret.
    ///
    /// # Errors
    /// [`CreateHallError::CodeTaken`] when another hall has the code (the unique index decides).
    #[tracing::instrument(skip_all, fields(hall = new.code.as_str()))]
    pub async fn create(&self, new: NewHall) -> Result<HallDetail, CreateHallError> {
        let now = Utc::now();
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
            updated_at: Set(Utc::now()),
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
        let names: BTreeMap<String, String> = item::Entity::find()
            .filter(item::Column::ItemCode.is_in(mapped.iter().map(|m| m.item_code.clone())))
            .all(&self.db)
            .await
            .context("read the items' names")?
            .into_iter()
            .map(|i| (i.item_code, i.name))
            .collect();
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
        if !touch(&txn, id).await? {
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
        if !touch(&self.db, id).await? {
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
        Ok(())
    }

    /// Removes the exception of a date; `false` if there was none.
    ///
    /// # Errors
    /// [`HallEditError::NotFound`].
    #[tracing::instrument(skip_all, fields(hall_id = id, day = %day))]
    pub async fn delete_exception(&self, id: i64, day: NaiveDate) -> Result<bool, HallEditError> {
        if !touch(&self.db, id).await? {
            return Err(HallEditError::NotFound);
        }
        let deleted = hall_exception::Entity::delete_many()
            .filter(hall_exception::Column::HallId.eq(id))
            .filter(hall_exception::Column::Day.eq(day))
            .exec(&self.db)
            .await
            .context("delete the exception")?;
        Ok(deleted.rows_affected > 0)
    }

    /// Adds a category to a hall.
    ///
    /// # Errors
    /// [`CategoryError::HallNotFound`]; [`CategoryError::CodeTaken`] (the unique index decides);
    /// [`CategoryError::PrefixTaken`] (checked with the hall's row locked, so two
    /// administrators cannot both take one prefix).
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, code = input.code.as_str()))]
    pub async fn create_category(
        &self,
        hall_id: i64,
        input: &CategoryInput,
    ) -> Result<Category, CategoryError> {
        let txn = crate::db::write(&self.db).await.context("begin")?;
        if !touch(&txn, hall_id).await? {
            return Err(CategoryError::HallNotFound);
        }
        prefix_free(&txn, hall_id, input, None).await?;
        let inserted = category::Entity::insert(category::ActiveModel {
            hall_id: Set(hall_id),
            code: Set(input.code.as_str().to_owned()),
            name: Set(input.name.as_str().to_owned()),
            prefix: Set(input.prefix.as_str().to_owned()),
            seats_per_slot: Set(input.seats_per_slot),
            ..Default::default()
        })
        .exec(&txn)
        .await;
        let id = match inserted {
            Ok(done) => done.last_insert_id,
            Err(e) if is_unique_violation(&e) => return Err(CategoryError::CodeTaken),
            Err(e) => return Err(anyhow::Error::new(e).context("insert the category").into()),
        };
        txn.commit().await.context("commit the category")?;
        tracing::info!(category_id = id, "category created");
        Ok(Category {
            id,
            code: input.code.as_str().to_owned(),
            name: input.name.as_str().to_owned(),
            prefix: input.prefix.as_str().to_owned(),
            seats_per_slot: input.seats_per_slot,
        })
    }

    /// Replaces a category's code, name, prefix and seats.
    ///
    /// # Errors
    /// As [`HallService::create_category`], and [`CategoryError::NotFound`] for a category that
    /// is not this hall's.
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, category_id = id))]
    pub async fn update_category(
        &self,
        hall_id: i64,
        id: i64,
        input: &CategoryInput,
    ) -> Result<Category, CategoryError> {
        let txn = crate::db::write(&self.db).await.context("begin")?;
        if !touch(&txn, hall_id).await? {
            return Err(CategoryError::HallNotFound);
        }
        category::Entity::find_by_id(id)
            .filter(category::Column::HallId.eq(hall_id))
            .one(&txn)
            .await
            .context("read the category")?
            .ok_or(CategoryError::NotFound)?;
        prefix_free(&txn, hall_id, input, Some(id)).await?;
        let updated = category::Entity::update(category::ActiveModel {
            id: Set(id),
            code: Set(input.code.as_str().to_owned()),
            name: Set(input.name.as_str().to_owned()),
            prefix: Set(input.prefix.as_str().to_owned()),
            seats_per_slot: Set(input.seats_per_slot),
            ..Default::default()
        })
        .exec(&txn)
        .await;
        let row = match updated {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => return Err(CategoryError::CodeTaken),
            Err(e) => return Err(anyhow::Error::new(e).context("update the category").into()),
        };
        txn.commit().await.context("commit the category")?;
        tracing::info!("category updated");
        Ok(category_of(row))
    }

    /// Adds a counter to a hall.
    ///
    /// # Errors
    /// [`CounterError::HallNotFound`]; [`CounterError::NumberTaken`] (the unique index decides);
    /// [`CounterError::CategoryNotFound`] for a category that is not this hall's.
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, number = input.number))]
    pub async fn create_counter(
        &self,
        hall_id: i64,
        input: &CounterInput,
    ) -> Result<Counter, CounterError> {
        self.save_counter(hall_id, None, input).await
    }

    /// Replaces a counter's number, name, standing and categories.
    ///
    /// # Errors
    /// As [`HallService::create_counter`], and [`CounterError::NotFound`] for a counter that is
    /// not this hall's.
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, counter_id = id))]
    pub async fn update_counter(
        &self,
        hall_id: i64,
        id: i64,
        input: &CounterInput,
    ) -> Result<Counter, CounterError> {
        self.save_counter(hall_id, Some(id), input).await
    }

    async fn save_counter(
        &self,
        hall_id: i64,
        id: Option<i64>,
        input: &CounterInput,
    ) -> Result<Counter, CounterError> {
        let txn = crate::db::write(&self.db).await.context("begin")?;
        if !touch(&txn, hall_id).await? {
            return Err(CounterError::HallNotFound);
        }
        let wanted: BTreeSet<i64> = input.categories.iter().map(|(c, _)| *c).collect();
        let found: BTreeSet<i64> = category::Entity::find()
            .filter(category::Column::HallId.eq(hall_id))
            .filter(category::Column::Id.is_in(wanted.iter().copied()))
            .all(&txn)
            .await
            .context("read the categories to serve")?
            .into_iter()
            .map(|c| c.id)
            .collect();
        if let Some(missing) = wanted.difference(&found).next() {
            return Err(CounterError::CategoryNotFound(*missing));
        }
        let model = counter::ActiveModel {
            hall_id: Set(hall_id),
            number: Set(input.number),
            name: Set(input.name.as_str().to_owned()),
            active: Set(input.active),
            spoken_name: Set(input.spoken_name.as_ref().map(|s| s.as_str().to_owned())),
            ..Default::default()
        };
        let saved = match id {
            None => counter::Entity::insert(model)
                .exec(&txn)
                .await
                .map(|done| done.last_insert_id),
            Some(id) => {
                counter::Entity::find_by_id(id)
                    .filter(counter::Column::HallId.eq(hall_id))
                    .one(&txn)
                    .await
                    .context("read the counter")?
                    .ok_or(CounterError::NotFound)?;
                counter::Entity::update(counter::ActiveModel {
                    id: Set(id),
                    ..model
                })
                .exec(&txn)
                .await
                .map(|_| id)
            }
        };
        let id = match saved {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => return Err(CounterError::NumberTaken),
            Err(e) => return Err(anyhow::Error::new(e).context("save the counter").into()),
        };
        counter_category::Entity::delete_many()
            .filter(counter_category::Column::CounterId.eq(id))
            .exec(&txn)
            .await
            .context("delete what the counter served")?;
        if !input.categories.is_empty() {
            counter_category::Entity::insert_many(input.categories.iter().map(
                |(category_id, weight)| counter_category::ActiveModel {
                    counter_id: Set(id),
                    category_id: Set(*category_id),
                    weight: Set(*weight),
                },
            ))
            .exec(&txn)
            .await
            .context("store what the counter serves")?;
        }
        txn.commit().await.context("commit the counter")?;
        tracing::info!(counter_id = id, "counter saved");
        let mut categories = input.categories.clone();
        categories.sort_unstable();
        Ok(Counter {
            id,
            number: input.number,
            name: input.name.as_str().to_owned(),
            active: input.active,
            categories,
            spoken_name: input.spoken_name.as_ref().map(|s| s.as_str().to_owned()),
        })
    }

    /// Says which category of the hall handles an item (replacing an earlier mapping).
    ///
    /// # Errors
    /// [`MapItemError::HallNotFound`]; [`MapItemError::ItemNotFound`] for an item not in the
    /// catalogue; [`MapItemError::CategoryNotFound`] for a category that is not this hall's.
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, item = item_code, category_id = category_id))]
    pub async fn map_item(
        &self,
        hall_id: i64,
        item_code: &str,
        category_id: i64,
    ) -> Result<(), MapItemError> {
        if !self.exists(hall_id).await? {
            return Err(MapItemError::HallNotFound);
        }
        item::Entity::find_by_id(item_code.to_owned())
            .one(&self.db)
            .await
            .context("read the item")?
            .ok_or(MapItemError::ItemNotFound)?;
        category::Entity::find_by_id(category_id)
            .filter(category::Column::HallId.eq(hall_id))
            .one(&self.db)
            .await
            .context("read the category")?
            .ok_or(MapItemError::CategoryNotFound)?;
        hall_item::Entity::insert(hall_item::ActiveModel {
            hall_id: Set(hall_id),
            item_code: Set(item_code.to_owned()),
            category_id: Set(category_id),
        })
        .on_conflict(
            OnConflict::columns([hall_item::Column::HallId, hall_item::Column::ItemCode])
                .update_column(hall_item::Column::CategoryId)
                .to_owned(),
        )
        .exec(&self.db)
        .await
        .context("map the item")?;
        tracing::info!("item mapped to a category");
        Ok(())
    }

    /// Stops handling an item at the hall; `false` if it was not handled there.
    ///
    /// # Errors
    /// [`HallEditError::NotFound`].
    pub async fn unmap_item(&self, hall_id: i64, item_code: &str) -> Result<bool, HallEditError> {
        if !self.exists(hall_id).await? {
            return Err(HallEditError::NotFound);
        }
        let deleted = hall_item::Entity::delete_many()
            .filter(hall_item::Column::HallId.eq(hall_id))
            .filter(hall_item::Column::ItemCode.eq(item_code))
            .exec(&self.db)
            .await
            .context("unmap the item")?;
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

    /// The open halls with their weekly hours, by code.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn public_halls(&self) -> anyhow::Result<Vec<PublicHall>> {
        let halls = hall::Entity::find()
            .filter(hall::Column::Active.eq(true))
            .order_by_asc(hall::Column::Code)
            .all(&self.db)
            .await
            .context("list the open halls")?;
        let mut hours: BTreeMap<i64, Vec<(Weekday, DayHours)>> = BTreeMap::new();
        for row in hall_hours::Entity::find()
            .filter(hall_hours::Column::HallId.is_in(halls.iter().map(|h| h.id)))
            .all(&self.db)
            .await
            .context("read the halls' hours")?
        {
            if let Some(day) = day_of(&row) {
                hours.entry(row.hall_id).or_default().push(day);
            }
        }
        Ok(halls
            .into_iter()
            .map(|h| PublicHall {
                hours: WeeklyHours::new(hours.remove(&h.id).unwrap_or_default())
                    .unwrap_or_default(),
                code: h.code,
                name: h.name,
                address: h.address,
                exceptions: Vec::new(),
            })
            .collect())
    }

    /// An open hall by its code, with its exceptions of the coming two months from `today`.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn public_hall(
        &self,
        code: &str,
        today: NaiveDate,
    ) -> anyhow::Result<Option<PublicHall>> {
        let Some(h) = hall::Entity::find()
            .filter(hall::Column::Code.eq(code))
            .filter(hall::Column::Active.eq(true))
            .one(&self.db)
            .await
            .context("read the hall")?
        else {
            return Ok(None);
        };
        let until = today.checked_add_days(Days::new(PUBLIC_EXCEPTIONS_DAYS));
        Ok(Some(PublicHall {
            hours: weekly_hours(&self.db, h.id).await?,
            exceptions: exceptions(&self.db, h.id, today, until).await?,
            code: h.code,
            name: h.name,
            address: h.address,
        }))
    }

    /// The id of the hall with this code.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn id_by_code(&self, code: &str) -> anyhow::Result<Option<i64>> {
        hall_id_by_code(&self.db, code).await
    }

    async fn exists(&self, id: i64) -> anyhow::Result<bool> {
        Ok(hall::Entity::find_by_id(id)
            .count(&self.db)
            .await
            .context("read the hall")?
            > 0)
    }
}

/// A random check-in secret of 32 letters and digits.
fn new_secret() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Marks the hall changed; `false` when there is no such hall. Inside a transaction this is
/// also its lock: on PostgreSQL the row stays locked, on SQLite the write lock is taken, so
/// checks made after it (a free queue prefix) hold until the commit.
async fn touch(conn: &impl ConnectionTrait, id: i64) -> anyhow::Result<bool> {
    let done = hall::Entity::update_many()
        .col_expr(hall::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(hall::Column::Id.eq(id))
        .exec(conn)
        .await
        .context("lock the hall")?;
    Ok(done.rows_affected > 0)
}

/// No other category of the hall (than `except`) has the input's prefix. There is no unique
/// index on prefixes, so this runs after [`touch`] in the same transaction.
async fn prefix_free(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    input: &CategoryInput,
    except: Option<i64>,
) -> Result<(), CategoryError> {
    let mut query = category::Entity::find()
        .filter(category::Column::HallId.eq(hall_id))
        .filter(category::Column::Prefix.eq(input.prefix.as_str()));
    if let Some(id) = except {
        query = query.filter(category::Column::Id.ne(id));
    }
    let taken = query.count(conn).await.context("check the prefix")?;
    if taken > 0 {
        return Err(CategoryError::PrefixTaken);
    }
    Ok(())
}

fn weekday_number(day: Weekday) -> i32 {
    i32::from(day.number_from_monday() as u8)
}

fn day_of(row: &hall_hours::Model) -> Option<(Weekday, DayHours)> {
    let day = u8::try_from(row.weekday - 1)
        .ok()
        .and_then(|n| Weekday::try_from(n).ok())?;
    let hours = DayHours::from_minutes(
        row.opens_minute,
        row.closes_minute,
        row.break_start_minute,
        row.break_end_minute,
    )?;
    Some((day, hours))
}

async fn weekly_hours(conn: &impl ConnectionTrait, hall_id: i64) -> anyhow::Result<WeeklyHours> {
    let days = hall_hours::Entity::find()
        .filter(hall_hours::Column::HallId.eq(hall_id))
        .all(conn)
        .await
        .context("read the hours")?
        .iter()
        .filter_map(day_of)
        .collect();
    WeeklyHours::new(days).context("stored hours list a weekday twice")
}

async fn exceptions(
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

fn rules_of(row: &hall::Model) -> HallRules {
    HallRules {
        slot_minutes: row.slot_minutes,
        release_days_ahead: row.release_days_ahead,
        release_time: TimeOfDay::from_minutes(row.release_minute)
            .unwrap_or(HallRules::default().release_time),
        book_min_working_days: row.book_min_working_days,
        book_max_working_days: row.book_max_working_days,
        cancel_cutoff_minutes: row.cancel_cutoff_minutes,
        checkin_before_minutes: row.checkin_before_minutes,
        checkin_after_minutes: row.checkin_after_minutes,
        weekly_limit: row.weekly_limit,
        monthly_limit: row.monthly_limit,
        no_show_limit: row.no_show_limit,
        cancel_limit: row.cancel_limit,
        penalty_window_days: row.penalty_window_days,
        ban_days: row.ban_days,
    }
}

/// The rule columns of a hall row.
fn rules_model(rules: &HallRules) -> hall::ActiveModel {
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

fn hall_of(row: hall::Model) -> Hall {
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

fn category_of(row: category::Model) -> Category {
    Category {
        id: row.id,
        code: row.code,
        name: row.name,
        prefix: row.prefix,
        seats_per_slot: row.seats_per_slot,
    }
}

/// The id of the hall with `code`: the one lookup every capability that takes a hall code uses.
///
/// # Errors
/// The database cannot be read.
pub async fn hall_id_by_code(
    conn: &impl ConnectionTrait,
    code: &str,
) -> anyhow::Result<Option<i64>> {
    hall::Entity::find()
        .filter(hall::Column::Code.eq(code))
        .select_only()
        .column(hall::Column::Id)
        .into_tuple()
        .one(conn)
        .await
        .context("read the hall's id by its code")
}
