//! A hall's layout as its administrator sets it: categories of items with their queue
//! prefixes, counters and the categories they serve, and which category handles which item.

use super::input::{CategoryInput, CounterInput};
use anyhow::Context as _;
use entities::{category, counter, counter_category, hall_item};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _,
};
use std::collections::BTreeSet;

use super::service::*;

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

/// No other category of the hall (than `except`) has the input's prefix. There is no unique
/// index on prefixes, so this runs after [`touch`] in the same transaction.
pub(super) async fn prefix_free(
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

pub(super) fn category_of(row: category::Model) -> Category {
    Category {
        id: row.id,
        code: row.code,
        name: row.name,
        prefix: row.prefix,
        seats_per_slot: row.seats_per_slot,
    }
}

impl HallService {
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
        if !touch(&txn, hall_id, self.clock.now()).await? {
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
        self.changed(hall_id);
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
        if !touch(&txn, hall_id, self.clock.now()).await? {
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
        self.changed(hall_id);
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

    pub(super) async fn save_counter(
        &self,
        hall_id: i64,
        id: Option<i64>,
        input: &CounterInput,
    ) -> Result<Counter, CounterError> {
        let txn = crate::db::write(&self.db).await.context("begin")?;
        if !touch(&txn, hall_id, self.clock.now()).await? {
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
        self.changed(hall_id);
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
        crate::catalogue::queries::item(&self.db, item_code)
            .await?
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
        self.changed(hall_id);
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
        self.changed(hall_id);
        Ok(deleted.rows_affected > 0)
    }
}
