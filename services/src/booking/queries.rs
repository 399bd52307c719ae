//! The booking service's storage: every query it makes, in one place.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use entities::{
    booking, booking_ban, booking_holder, category, citizen, hall, hall_exception, idempotency_key,
    slot,
};

use super::rules;
use super::{BookingStatus, BookingView, COUNTED, SlotStatus, checkin_qr};
use crate::halls::{DayHours, HallModel, HallRules};

pub async fn insert_slots(
    conn: &impl ConnectionTrait,
    ctx: &HallModel,
    day: NaiveDate,
    hours: DayHours,
) -> anyhow::Result<()> {
    let cut = rules::cut_slots(hours, rules::n(ctx.rules.slot_minutes));
    let rows: Vec<slot::ActiveModel> = ctx
        .seats()
        .iter()
        .filter(|(_, seats)| *seats > 0)
        .flat_map(|&(category_id, seats)| {
            cut.iter().map(move |&(start, end)| slot::ActiveModel {
                hall_id: Set(ctx.hall.id),
                category_id: Set(category_id),
                day: Set(day),
                starts_at: Set(rules::at_minute(day, start)),
                ends_at: Set(rules::at_minute(day, end)),
                capacity: Set(seats),
                booked: Set(0),
                status: Set(SlotStatus::Open),
                ..Default::default()
            })
        })
        .collect();
    // Bounded batches: a large hall has hundreds of slots a day.
    for chunk in rows.chunks(200) {
        slot::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    slot::Column::HallId,
                    slot::Column::CategoryId,
                    slot::Column::StartsAt,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(conn)
            .await
            .context("insert the day's slots")?;
    }
    Ok(())
}

/// The days of a hall from `from` on whose slots are cut already.
pub async fn cut_days(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    from: NaiveDate,
) -> anyhow::Result<Vec<NaiveDate>> {
    slot::Entity::find()
        .select_only()
        .column(slot::Column::Day)
        .distinct()
        .filter(slot::Column::HallId.eq(hall_id))
        .filter(slot::Column::Day.gte(from))
        .into_tuple()
        .all(conn)
        .await
        .context("read the days cut")
}

/// Makes the slots already cut for `day` follow the hours the hall now keeps (`None`: closed):
/// a slot the hours no longer hold stops taking bookings (CLOSED; a booking made in it stands,
/// as the hall cancels bookings only by closing the day, with a notice), one they hold is
/// opened again, and the ones missing are cut. A day not cut yet is left to be cut on first
/// sight. Returns whether the day had been cut.
pub async fn recut_day(
    conn: &impl ConnectionTrait,
    ctx: &HallModel,
    day: NaiveDate,
    hours: Option<DayHours>,
) -> anyhow::Result<bool> {
    let cut = slot::Entity::find()
        .filter(slot::Column::HallId.eq(ctx.hall.id))
        .filter(slot::Column::Day.eq(day))
        .count(conn)
        .await
        .context("count the day's slots")?;
    if cut == 0 {
        return Ok(false);
    }
    let starts: Vec<DateTime<Utc>> = hours
        .map(|h| rules::cut_slots(h, rules::n(ctx.rules.slot_minutes)))
        .unwrap_or_default()
        .into_iter()
        .map(|(start, _)| rules::at_minute(day, start))
        .collect();
    slot::Entity::update_many()
        .col_expr(slot::Column::Status, Expr::value("CLOSED"))
        .filter(slot::Column::HallId.eq(ctx.hall.id))
        .filter(slot::Column::Day.eq(day))
        .filter(slot::Column::Status.eq("OPEN"))
        .filter(slot::Column::StartsAt.is_not_in(starts.clone()))
        .exec(conn)
        .await
        .context("close the slots outside the new hours")?;
    if let Some(hours) = hours {
        slot::Entity::update_many()
            .col_expr(slot::Column::Status, Expr::value("OPEN"))
            .filter(slot::Column::HallId.eq(ctx.hall.id))
            .filter(slot::Column::Day.eq(day))
            .filter(slot::Column::Status.eq("CLOSED"))
            .filter(slot::Column::StartsAt.is_in(starts))
            .exec(conn)
            .await
            .context("open the slots inside the new hours")?;
        insert_slots(conn, ctx, day, hours).await?;
    }
    Ok(true)
}

pub async fn open_slots(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    category_id: i64,
    first: NaiveDate,
    last: NaiveDate,
) -> anyhow::Result<Vec<slot::Model>> {
    slot::Entity::find()
        .filter(slot::Column::HallId.eq(hall_id))
        .filter(slot::Column::Day.between(first, last))
        .filter(slot::Column::CategoryId.eq(category_id))
        .filter(slot::Column::Status.eq(SlotStatus::Open))
        .order_by_asc(slot::Column::StartsAt)
        .all(conn)
        .await
        .context("read the slots")
}

pub async fn slot(conn: &impl ConnectionTrait, id: i64) -> anyhow::Result<Option<slot::Model>> {
    slot::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("read the slot")
}

/// Every slot of a hall's day: at opening time a hall's slots fill together, so one read
/// answers every booking of the day in flight and flags the full ones (`day_read.rs`).
pub async fn slots_of_day(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
) -> anyhow::Result<Vec<slot::Model>> {
    slot::Entity::find()
        .filter(slot::Column::HallId.eq(hall_id))
        .filter(slot::Column::Day.eq(day))
        .all(conn)
        .await
        .context("read the slots of the day")
}

/// Every slot of the hall's day of slot `slot_id` (none when there is no such slot): the read of
/// a slot whose day this instance does not know yet.
pub async fn slots_of_day_of(
    conn: &impl ConnectionTrait,
    slot_id: i64,
) -> anyhow::Result<Vec<slot::Model>> {
    let of = |column: slot::Column| {
        Expr::col(column).in_subquery(
            sea_orm::sea_query::Query::select()
                .column(column)
                .from(slot::Entity)
                .and_where(Expr::col(slot::Column::Id).eq(slot_id))
                .to_owned(),
        )
    };
    slot::Entity::find()
        .filter(of(slot::Column::HallId))
        .filter(of(slot::Column::Day))
        .all(conn)
        .await
        .context("read the slots of the slot's day")
}

/// The blind index of the citizen's identity, when it is proven by face verification; why not
/// otherwise.
pub async fn identity_index(
    conn: &impl ConnectionTrait,
    citizen_id: i64,
) -> anyhow::Result<Result<String, crate::identity::IdentityGate>> {
    let row = citizen::Entity::find_by_id(citizen_id)
        .one(conn)
        .await
        .context("read the citizen's identity")?;
    Ok(match &row {
        Some(row) => crate::identity::proven(row).map(|p| p.index.to_owned()),
        None => Err(crate::identity::IdentityGate::Missing),
    })
}

pub async fn lock_holder(conn: &impl ConnectionTrait, identity: &str) -> anyhow::Result<()> {
    booking_holder::Entity::insert(booking_holder::ActiveModel {
        identity_index: Set(identity.to_owned()),
    })
    .on_conflict(
        OnConflict::column(booking_holder::Column::IdentityIndex)
            .update_column(booking_holder::Column::IdentityIndex)
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await
    .context("lock the booking holder")?;
    Ok(())
}

pub async fn banned_until(
    conn: &impl ConnectionTrait,
    identity: &str,
    today: NaiveDate,
) -> anyhow::Result<Option<NaiveDate>> {
    Ok(booking_ban::Entity::find()
        .filter(booking_ban::Column::IdentityIndex.eq(identity))
        .filter(booking_ban::Column::Until.gte(today))
        .order_by_desc(booking_ban::Column::Until)
        .one(conn)
        .await
        .context("read bans")?
        .map(|b| b.until))
}

pub async fn ban(
    conn: &impl ConnectionTrait,
    identity: &str,
    until: NaiveDate,
    reason: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let today = until - chrono::Duration::days(1);
    if banned_until(conn, identity, today)
        .await?
        .is_some_and(|u| u >= until)
    {
        return Ok(());
    }
    booking_ban::Entity::insert(booking_ban::ActiveModel {
        identity_index: Set(identity.to_owned()),
        until: Set(until),
        reason: Set(reason.to_owned()),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await
    .context("insert a ban")?;
    Ok(())
}

/// The days of the person's counted bookings (booked, checked in, missed) from `from` to `to`.
pub async fn counted_days(
    conn: &impl ConnectionTrait,
    identity: &str,
    from: NaiveDate,
    to: NaiveDate,
    except: Option<i64>,
) -> anyhow::Result<Vec<NaiveDate>> {
    let mut query = booking::Entity::find()
        .filter(booking::Column::IdentityIndex.eq(identity))
        .filter(booking::Column::Day.between(from, to))
        .filter(booking::Column::Status.is_in(COUNTED));
    if let Some(id) = except {
        query = query.filter(booking::Column::Id.ne(id));
    }
    query
        .select_only()
        .column(booking::Column::Day)
        .into_tuple()
        .all(conn)
        .await
        .context("read the person's booked days")
}

pub async fn count_since(
    conn: &impl ConnectionTrait,
    identity: &str,
    status: BookingStatus,
    since: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let at = match status {
        BookingStatus::NoShow => booking::Column::NoShowAt,
        _ => booking::Column::CancelledAt,
    };
    booking::Entity::find()
        .filter(booking::Column::IdentityIndex.eq(identity))
        .filter(booking::Column::Status.eq(status))
        .filter(at.gte(since))
        .count(conn)
        .await
        .context("count past bookings")
}

/// Ends a live booking (`BOOKED` only); `false` if it was not live any more.
pub async fn retire(
    conn: &impl ConnectionTrait,
    id: i64,
    status: BookingStatus,
    now: DateTime<Utc>,
    reason: Option<&str>,
) -> anyhow::Result<bool> {
    let mut update = booking::Entity::update_many()
        .col_expr(booking::Column::Status, Expr::value(status))
        .col_expr(
            booking::Column::ActiveKey,
            Expr::value(Option::<String>::None),
        );
    update = match status {
        BookingStatus::NoShow => update.col_expr(booking::Column::NoShowAt, Expr::value(now)),
        _ => update
            .col_expr(booking::Column::CancelledAt, Expr::value(now))
            .col_expr(
                booking::Column::CancelReason,
                Expr::value(reason.map(str::to_owned)),
            ),
    };
    let result = update
        .filter(booking::Column::Id.eq(id))
        .filter(booking::Column::Status.eq(BookingStatus::Booked))
        .exec(conn)
        .await
        .context("end the booking")?;
    Ok(result.rows_affected == 1)
}

/// Takes a seat if one is left: the conditional update that makes overselling impossible.
pub async fn take_seat(conn: &impl ConnectionTrait, slot_id: i64) -> anyhow::Result<bool> {
    let result = slot::Entity::update_many()
        .col_expr(slot::Column::Booked, Expr::col(slot::Column::Booked).add(1))
        .filter(slot::Column::Id.eq(slot_id))
        .filter(slot::Column::Status.eq(SlotStatus::Open))
        .filter(Expr::col(slot::Column::Booked).lt(Expr::col(slot::Column::Capacity)))
        .exec(conn)
        .await
        .context("take a seat")?;
    Ok(result.rows_affected == 1)
}

pub async fn release_seat(conn: &impl ConnectionTrait, slot_id: i64) -> anyhow::Result<()> {
    slot::Entity::update_many()
        .col_expr(slot::Column::Booked, Expr::col(slot::Column::Booked).sub(1))
        .filter(slot::Column::Id.eq(slot_id))
        .filter(slot::Column::Booked.gt(0))
        .exec(conn)
        .await
        .context("give a seat back")?;
    Ok(())
}

pub struct NewBooking<'a> {
    pub code: &'a str,
    pub citizen_id: i64,
    /// The family member booked for, if any (`family_members.id`).
    pub member_id: Option<i64>,
    pub identity_index: &'a str,
    pub slot: &'a slot::Model,
    pub item_code: &'a str,
    pub now: DateTime<Utc>,
}

pub async fn insert_booking(
    conn: &impl ConnectionTrait,
    new: NewBooking<'_>,
) -> Result<i64, DbErr> {
    let active_key = format!("{}:{}:{}", new.identity_index, new.item_code, new.slot.day);
    let inserted = booking::Entity::insert(booking::ActiveModel {
        code: Set(new.code.to_owned()),
        citizen_id: Set(new.citizen_id),
        member_id: Set(new.member_id),
        identity_index: Set(new.identity_index.to_owned()),
        hall_id: Set(new.slot.hall_id),
        category_id: Set(new.slot.category_id),
        slot_id: Set(new.slot.id),
        item_code: Set(new.item_code.to_owned()),
        day: Set(new.slot.day),
        starts_at: Set(new.slot.starts_at),
        status: Set(BookingStatus::Booked),
        active_key: Set(Some(active_key)),
        created_at: Set(new.now),
        ..Default::default()
    })
    .exec(conn)
    .await?;
    Ok(inserted.last_insert_id)
}

pub async fn set_rescheduled_to(
    conn: &impl ConnectionTrait,
    old: i64,
    new: i64,
) -> anyhow::Result<()> {
    booking::Entity::update_many()
        .col_expr(booking::Column::RescheduledTo, Expr::value(new))
        .filter(booking::Column::Id.eq(old))
        .exec(conn)
        .await
        .context("link the moved booking")?;
    Ok(())
}

pub async fn mark_checked_in(
    conn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
    staff_id: Option<i64>,
) -> anyhow::Result<bool> {
    let result = booking::Entity::update_many()
        .col_expr(
            booking::Column::Status,
            Expr::value(BookingStatus::CheckedIn),
        )
        .col_expr(booking::Column::CheckedInAt, Expr::value(now))
        .col_expr(booking::Column::CheckedInBy, Expr::value(staff_id))
        .filter(booking::Column::Id.eq(id))
        .filter(booking::Column::Status.eq(BookingStatus::Booked))
        .exec(conn)
        .await
        .context("check in")?;
    Ok(result.rows_affected == 1)
}

pub async fn idempotency(
    conn: &impl ConnectionTrait,
    citizen_id: i64,
    key: &str,
) -> anyhow::Result<Option<idempotency_key::Model>> {
    idempotency_key::Entity::find_by_id((citizen_id, key.to_owned()))
        .one(conn)
        .await
        .context("read the idempotency key")
}

pub async fn remember_booking(
    conn: &impl ConnectionTrait,
    citizen_id: i64,
    key: &str,
    fingerprint: &str,
    booking_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        citizen_id: Set(citizen_id),
        key: Set(key.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        booking_id: Set(Some(booking_id)),
        error_code: Set(None),
        error_detail: Set(None),
        created_at: Set(now),
    })
    .exec_without_returning(conn)
    .await
    .map(|_| ())
}

pub async fn remember_refusal(
    conn: &impl ConnectionTrait,
    citizen_id: i64,
    key: &str,
    fingerprint: &str,
    code: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        citizen_id: Set(citizen_id),
        key: Set(key.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        booking_id: Set(None),
        error_code: Set(Some(code.to_owned())),
        error_detail: Set(Some(detail.to_owned())),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            idempotency_key::Column::CitizenId,
            idempotency_key::Column::Key,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await
    .context("remember the refusal")?;
    Ok(())
}

pub async fn booking_of(
    conn: &impl ConnectionTrait,
    citizen_id: i64,
    id: i64,
) -> anyhow::Result<Option<booking::Model>> {
    Ok(booking::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("read the booking")?
        .filter(|b| b.citizen_id == citizen_id))
}

pub async fn booking_of_hall(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    id: i64,
) -> anyhow::Result<Option<booking::Model>> {
    Ok(booking::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("read the hall's booking")?
        .filter(|b| b.hall_id == hall_id))
}

pub async fn booking_by_code(
    conn: &impl ConnectionTrait,
    code: &str,
) -> anyhow::Result<Option<booking::Model>> {
    booking::Entity::find()
        .filter(booking::Column::Code.eq(code))
        .one(conn)
        .await
        .context("read the booking by code")
}

pub async fn bookings_of(
    conn: &impl ConnectionTrait,
    citizen_id: i64,
    before: Option<i64>,
    limit: u64,
) -> anyhow::Result<Vec<booking::Model>> {
    let mut query = booking::Entity::find().filter(booking::Column::CitizenId.eq(citizen_id));
    if let Some(before) = before {
        query = query.filter(booking::Column::Id.lt(before));
    }
    query
        .order_by_desc(booking::Column::Id)
        .limit(limit)
        .all(conn)
        .await
        .context("read the citizen's bookings")
}

pub async fn bookings_of_hall_day(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
) -> anyhow::Result<Vec<booking::Model>> {
    booking::Entity::find()
        .filter(booking::Column::HallId.eq(hall_id))
        .filter(booking::Column::Day.eq(day))
        .order_by_asc(booking::Column::StartsAt)
        .order_by_asc(booking::Column::Id)
        .all(conn)
        .await
        .context("read the hall's bookings")
}

pub async fn live_bookings_of_day(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
) -> anyhow::Result<Vec<booking::Model>> {
    booking::Entity::find()
        .filter(booking::Column::HallId.eq(hall_id))
        .filter(booking::Column::Day.eq(day))
        .filter(booking::Column::Status.eq(BookingStatus::Booked))
        .all(conn)
        .await
        .context("read the day's live bookings")
}

pub async fn close_day(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
    reason: &str,
) -> anyhow::Result<()> {
    hall_exception::Entity::insert(hall_exception::ActiveModel {
        hall_id: Set(hall_id),
        day: Set(day),
        closed: Set(true),
        opens_minute: Set(None),
        closes_minute: Set(None),
        note: Set(reason.to_owned()),
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
    .exec_without_returning(conn)
    .await
    .context("close the day")?;
    // Slot rows locked in id order, the order a move takes its two seats in, so closing a day
    // and moving a booking between two of its slots cannot deadlock.
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        slot::Entity::find()
            .filter(slot::Column::HallId.eq(hall_id))
            .filter(slot::Column::Day.eq(day))
            .order_by_asc(slot::Column::Id)
            .lock_exclusive()
            .all(conn)
            .await
            .context("lock the day's slots")?;
    }
    slot::Entity::update_many()
        .col_expr(slot::Column::Status, Expr::value(SlotStatus::Closed))
        .filter(slot::Column::HallId.eq(hall_id))
        .filter(slot::Column::Day.eq(day))
        .exec(conn)
        .await
        .context("close the day's slots")?;
    Ok(())
}

/// The ids of a hall's slots of a day.
pub async fn slot_ids_of_day(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
) -> anyhow::Result<Vec<i64>> {
    slot::Entity::find()
        .filter(slot::Column::HallId.eq(hall_id))
        .filter(slot::Column::Day.eq(day))
        .select_only()
        .column(slot::Column::Id)
        .into_tuple()
        .all(conn)
        .await
        .context("read the day's slot ids")
}

/// Live bookings whose start is before `before`: candidates for a no-show.
pub async fn started_bookings(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> anyhow::Result<Vec<booking::Model>> {
    booking::Entity::find()
        .filter(booking::Column::Status.eq(BookingStatus::Booked))
        .filter(booking::Column::StartsAt.lt(before))
        .order_by_asc(booking::Column::StartsAt)
        .limit(limit)
        .all(conn)
        .await
        .context("read started bookings")
}

/// Live bookings of `day` not yet reminded.
pub async fn unreminded(
    conn: &impl ConnectionTrait,
    day: NaiveDate,
    limit: u64,
) -> anyhow::Result<Vec<booking::Model>> {
    booking::Entity::find()
        .filter(booking::Column::Status.eq(BookingStatus::Booked))
        .filter(booking::Column::Day.eq(day))
        .filter(booking::Column::RemindedAt.is_null())
        .order_by_asc(booking::Column::Id)
        .limit(limit)
        .all(conn)
        .await
        .context("read bookings to remind")
}

pub async fn mark_reminded(
    conn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let result = booking::Entity::update_many()
        .col_expr(booking::Column::RemindedAt, Expr::value(now))
        .filter(booking::Column::Id.eq(id))
        .filter(booking::Column::RemindedAt.is_null())
        .exec(conn)
        .await
        .context("mark reminded")?;
    Ok(result.rows_affected == 1)
}

/// Bookings as shown: with their hall, item, category and slot.
pub async fn views(
    conn: &impl ConnectionTrait,
    rows: Vec<booking::Model>,
) -> anyhow::Result<Vec<BookingView>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = |f: fn(&booking::Model) -> i64| {
        let mut v: Vec<i64> = rows.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let halls: HashMap<i64, hall::Model> = hall::Entity::find()
        .filter(hall::Column::Id.is_in(ids(|b| b.hall_id)))
        .all(conn)
        .await
        .context("read halls")?
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    let categories: HashMap<i64, String> = category::Entity::find()
        .filter(category::Column::Id.is_in(ids(|b| b.category_id)))
        .all(conn)
        .await
        .context("read categories")?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let slots: HashMap<i64, DateTime<Utc>> = slot::Entity::find()
        .filter(slot::Column::Id.is_in(ids(|b| b.slot_id)))
        .all(conn)
        .await
        .context("read slots")?
        .into_iter()
        .map(|s| (s.id, s.ends_at))
        .collect();
    let mut codes: Vec<String> = rows.iter().map(|b| b.item_code.clone()).collect();
    codes.sort_unstable();
    codes.dedup();
    let items = crate::catalogue::queries::names(conn, codes.clone()).await?;
    // A booking's subject is an item, or a 一件事 bundle (`bundle.rs`).
    let bundles = crate::bundles::names(conn, codes).await?;
    let checked_in: Vec<i64> = rows
        .iter()
        .filter(|b| b.status == BookingStatus::CheckedIn)
        .map(|b| b.id)
        .collect();
    let mut tickets = if checked_in.is_empty() {
        HashMap::new()
    } else {
        crate::queue::briefs_of_bookings(conn, checked_in).await?
    };
    rows.into_iter()
        .map(|b| {
            let ticket = tickets.remove(&b.id);
            let hall = halls.get(&b.hall_id).context("a booking's hall vanished")?;
            let category = categories
                .get(&b.category_id)
                .map_or("", String::as_str)
                .to_owned();
            let ends_at = slots.get(&b.slot_id).copied().unwrap_or(b.starts_at);
            let bundle = bundles
                .get(&b.item_code)
                .filter(|_| !items.contains_key(&b.item_code));
            let item_name = items
                .get(&b.item_code)
                .or(bundle)
                .cloned()
                .unwrap_or_default();
            let mut view = view_of(b, hall, &category, ends_at, &item_name)?;
            view.bundle = bundle.is_some();
            view.ticket = ticket;
            Ok(view)
        })
        .collect()
}

/// A booking as shown, from its row and what it refers to.
pub fn view_of(
    b: booking::Model,
    hall: &hall::Model,
    category_name: &str,
    ends_at: DateTime<Utc>,
    item_name: &str,
) -> anyhow::Result<BookingView> {
    let rules = HallRules::of(hall);
    let minutes = |m: i32| chrono::Duration::minutes(i64::from(rules::n(m)));
    Ok(BookingView {
        id: b.id,
        status: b.status,
        checkin_qr: checkin_qr(&b.code),
        code: b.code,
        hall_code: hall.code.clone(),
        hall_name: hall.name.clone(),
        hall_address: hall.address.clone(),
        item_name: item_name.to_owned(),
        item_code: b.item_code,
        category_name: category_name.to_owned(),
        slot_id: b.slot_id,
        day: b.day,
        starts_at: b.starts_at,
        ends_at,
        created_at: b.created_at,
        cancel_deadline: b.starts_at - minutes(rules.cancel_cutoff_minutes),
        checkin_opens_at: b.starts_at - minutes(rules.checkin_before_minutes),
        checkin_closes_at: b.starts_at + minutes(rules.checkin_after_minutes),
        cancelled_at: b.cancelled_at,
        cancel_reason: b.cancel_reason,
        checked_in_at: b.checked_in_at,
        rescheduled_to: b.rescheduled_to,
        member_id: b.member_id,
        bundle: false,
        ticket: None,
    })
}
