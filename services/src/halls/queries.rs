//! Every read of a hall other capabilities make: "hall by code" (once, with a clear meaning of
//! `active`), and the hall's read model ([`HallModel`]) as booking, the queue and the rest read
//! it. The administrator's own reads and writes are in the service.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::Weekday;
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};

use entities::{category, counter, counter_category, hall, hall_exception, hall_hours, hall_item};

use super::input::{DayHours, ExceptionKind, TimeOfDay};
use super::model::HallModel;
use super::schedule::Schedule;

/// Which halls a lookup by code finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Any hall, open to citizens or not (staff and administrators name inactive halls too).
    Any,
    /// Only a hall open to citizens (`active`): what a citizen or a public board may name.
    Active,
}

/// The hall with `code`.
///
/// # Errors
/// The database cannot be read.
pub async fn by_code(
    conn: &impl ConnectionTrait,
    code: &str,
    which: Which,
) -> anyhow::Result<Option<hall::Model>> {
    let mut query = hall::Entity::find().filter(hall::Column::Code.eq(code));
    if which == Which::Active {
        query = query.filter(hall::Column::Active.eq(true));
    }
    query.one(conn).await.context("read the hall by its code")
}

/// The id of the hall with `code`, active or not ([`Which::Any`]).
///
/// # Errors
/// The database cannot be read.
pub async fn hall_id_by_code(
    conn: &impl ConnectionTrait,
    code: &str,
) -> anyhow::Result<Option<i64>> {
    Ok(by_code(conn, code, Which::Any).await?.map(|h| h.id))
}

/// The hall with `id`.
///
/// # Errors
/// The database cannot be read.
pub async fn by_id(conn: &impl ConnectionTrait, id: i64) -> anyhow::Result<Option<hall::Model>> {
    hall::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("read the hall")
}

/// The read model of the hall with `id`, read now (see [`super::HallDirectory`] for the one
/// read a moment ago).
///
/// # Errors
/// The database cannot be read.
pub async fn model(conn: &impl ConnectionTrait, id: i64) -> anyhow::Result<Option<HallModel>> {
    let Some(hall) = by_id(conn, id).await? else {
        return Ok(None);
    };
    Ok(Some(model_of(conn, hall).await?))
}

/// The read models of every hall open to citizens.
///
/// # Errors
/// The database cannot be read.
pub async fn active_models(conn: &impl ConnectionTrait) -> anyhow::Result<Vec<HallModel>> {
    let halls = hall::Entity::find()
        .filter(hall::Column::Active.eq(true))
        .all(conn)
        .await
        .context("read the halls")?;
    let mut out = Vec::with_capacity(halls.len());
    for hall in halls {
        out.push(model_of(conn, hall).await?);
    }
    Ok(out)
}

/// A weekday's hours as stored; `None` for a row that would not parse.
pub(crate) fn day_of(row: &hall_hours::Model) -> Option<(Weekday, DayHours)> {
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

async fn model_of(conn: &impl ConnectionTrait, hall: hall::Model) -> anyhow::Result<HallModel> {
    let mut schedule = Schedule::default();
    for row in hall_hours::Entity::find()
        .filter(hall_hours::Column::HallId.eq(hall.id))
        .all(conn)
        .await
        .context("read opening hours")?
    {
        if let Some((day, hours)) = day_of(&row) {
            schedule.weekly[day.num_days_from_monday() as usize] = Some(hours);
        }
    }
    for e in hall_exception::Entity::find()
        .filter(hall_exception::Column::HallId.eq(hall.id))
        .all(conn)
        .await
        .context("read the hall's exceptions")?
    {
        let hours = e
            .opens_minute
            .and_then(TimeOfDay::from_minutes)
            .zip(e.closes_minute.and_then(TimeOfDay::from_minutes));
        // An open day without hours (never written) keeps the regular hours.
        let kind = match (e.closed, hours) {
            (true, _) => ExceptionKind::Closed,
            (false, Some((opens, closes))) => ExceptionKind::Hours { opens, closes },
            (false, None) => continue,
        };
        schedule.exceptions.insert(e.day, kind);
    }
    let categories: HashMap<i64, category::Model> = category::Entity::find()
        .filter(category::Column::HallId.eq(hall.id))
        .all(conn)
        .await
        .context("read the hall's categories")?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let counters: HashMap<i64, counter::Model> = counter::Entity::find()
        .filter(counter::Column::HallId.eq(hall.id))
        .all(conn)
        .await
        .context("read the hall's counters")?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let ids: Vec<i64> = counters.keys().copied().collect();
    let serving: Vec<(i64, i64, i32)> = counter_category::Entity::find()
        .filter(counter_category::Column::CounterId.is_in(ids))
        .all(conn)
        .await
        .context("read which counters serve which categories")?
        .into_iter()
        .map(|s| (s.counter_id, s.category_id, s.weight))
        .collect();
    let items = hall_item::Entity::find()
        .filter(hall_item::Column::HallId.eq(hall.id))
        .all(conn)
        .await
        .context("read the hall's items")?
        .into_iter()
        .map(|m| (m.item_code, m.category_id))
        .collect();
    Ok(HallModel::new(
        hall, schedule, categories, counters, &serving, items,
    ))
}
