//! The queue's storage: every query it makes, in one place.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::time::SHANGHAI;
use entities::{
    category, counter, counter_category, counter_desk, ticket, ticket_event, ticket_sequence,
};

use super::{TicketSource, TicketState};

/// A new ticket, before it has a number.
pub struct NewTicket<'a> {
    pub hall_id: i64,
    pub category: &'a category::Model,
    pub day: NaiveDate,
    pub source: TicketSource,
    pub priority: i32,
    pub green_channel: bool,
    pub citizen_id: Option<i64>,
    /// The family member the ticket is for (`family_members.id`), if any.
    pub member_id: Option<i64>,
    pub booking_id: Option<i64>,
    pub item_code: Option<String>,
    /// Set for a citizen's remote ticket: its uniqueness is "one live ticket per hall".
    pub live_key: Option<String>,
    pub issued_by: Option<i64>,
    pub now: DateTime<Utc>,
}

/// Whether a failed insert hit the live-ticket index.
pub fn is_live_key_violation(err: &DbErr) -> bool {
    crate::db::unique_violation(err, Some("live_key"))
}

/// The live key of a citizen's remote ticket at a hall.
pub fn live_key(citizen_id: i64, hall_id: i64) -> String {
    format!("{citizen_id}:{hall_id}")
}

/// The live key of a remote ticket taken for a family member (`family_members.id`).
pub fn member_live_key(member_id: i64, hall_id: i64) -> String {
    format!("m{member_id}:{hall_id}")
}

/// Takes the next number of (hall, day, prefix) in the caller's transaction: an upsert that
/// increments the row, so two transactions never get the same number (the second waits for the
/// first's row lock on PostgreSQL; SQLite has one writer at a time). Used by a booking's
/// check-in; takes and walk-ins use blocks (`super::numbers`), which increment the same row, so
/// the two never overlap.
pub async fn next_seq(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
    prefix: &str,
) -> anyhow::Result<i32> {
    let row = ticket_sequence::Entity::insert(ticket_sequence::ActiveModel {
        hall_id: Set(hall_id),
        day: Set(day),
        prefix: Set(prefix.to_owned()),
        last: Set(1),
    })
    .on_conflict(
        OnConflict::columns([
            ticket_sequence::Column::HallId,
            ticket_sequence::Column::Day,
            ticket_sequence::Column::Prefix,
        ])
        .value(
            ticket_sequence::Column::Last,
            Expr::col((ticket_sequence::Entity, ticket_sequence::Column::Last)).add(1),
        )
        .to_owned(),
    )
    .exec_with_returning(conn)
    .await
    .context("take the next queue number")?;
    Ok(row.last)
}

/// Reserves the next `n` numbers of (hall, day, prefix) in a statement of its own (committed
/// before any is used; see `super::numbers`) and returns the last of them.
pub async fn reserve_numbers(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
    prefix: &str,
    n: i32,
) -> anyhow::Result<i32> {
    let row = ticket_sequence::Entity::insert(ticket_sequence::ActiveModel {
        hall_id: Set(hall_id),
        day: Set(day),
        prefix: Set(prefix.to_owned()),
        last: Set(n),
    })
    .on_conflict(
        OnConflict::columns([
            ticket_sequence::Column::HallId,
            ticket_sequence::Column::Day,
            ticket_sequence::Column::Prefix,
        ])
        .value(
            ticket_sequence::Column::Last,
            Expr::col((ticket_sequence::Entity, ticket_sequence::Column::Last)).add(n),
        )
        .to_owned(),
    )
    .exec_with_returning(conn)
    .await
    .context("reserve queue numbers")?;
    Ok(row.last)
}

/// A ticket's number: given (from this instance's block, see `super::numbers`), or taken from
/// the sequence row inside the ticket's transaction.
#[derive(Debug, Clone, Copy)]
pub enum Seq {
    Given(i32),
    InTransaction,
}

/// Inserts a ticket with its number of its category's prefix, and its first event.
pub async fn insert_ticket(
    conn: &impl ConnectionTrait,
    new: NewTicket<'_>,
    seq: Seq,
) -> Result<ticket::Model, DbErr> {
    let seq = match seq {
        Seq::Given(n) => n,
        Seq::InTransaction => next_seq(conn, new.hall_id, new.day, &new.category.prefix)
            .await
            .map_err(|e| DbErr::Custom(format!("{e:#}")))?,
    };
    let row = ticket::Entity::insert(ticket::ActiveModel {
        hall_id: Set(new.hall_id),
        category_id: Set(new.category.id),
        day: Set(new.day),
        seq: Set(seq),
        number: Set(super::rules::number(&new.category.prefix, seq)),
        source: Set(new.source),
        priority: Set(new.priority),
        green_channel: Set(new.green_channel),
        citizen_id: Set(new.citizen_id),
        member_id: Set(new.member_id),
        booking_id: Set(new.booking_id),
        item_code: Set(new.item_code),
        state: Set(TicketState::Waiting),
        live_key: Set(new.live_key),
        counter_id: Set(None),
        calls: Set(0),
        issued_at: Set(new.now),
        issued_by: Set(new.issued_by),
        first_called_at: Set(None),
        called_at: Set(None),
        serving_at: Set(None),
        finished_at: Set(None),
        near_notified_at: Set(None),
        version: Set(0),
        ..Default::default()
    })
    .exec_with_returning(conn)
    .await?;
    record(
        conn,
        Event {
            ticket_id: row.id,
            from: None,
            to: TicketState::Waiting,
            staff_id: new.issued_by,
            counter_id: None,
            at: new.now,
            detail: format!("issued {} ({})", row.number, new.source),
        },
    )
    .await
    .map_err(|e| DbErr::Custom(format!("{e:#}")))?;
    Ok(row)
}

/// One state change, as recorded.
pub struct Event {
    pub ticket_id: i64,
    pub from: Option<TicketState>,
    pub to: TicketState,
    pub staff_id: Option<i64>,
    pub counter_id: Option<i64>,
    pub at: DateTime<Utc>,
    pub detail: String,
}

/// Returns the event's id: increasing across the hall, a call's id is the `callId` the board
/// announces it by (once, in order).
pub async fn record(conn: &impl ConnectionTrait, event: Event) -> anyhow::Result<i64> {
    let inserted = ticket_event::Entity::insert(ticket_event::ActiveModel {
        ticket_id: Set(event.ticket_id),
        from_state: Set(event.from.map(|s| s.as_str().to_owned())),
        to_state: Set(event.to.as_str().to_owned()),
        staff_id: Set(event.staff_id),
        counter_id: Set(event.counter_id),
        at: Set(event.at),
        detail: Set(event.detail),
        ..Default::default()
    })
    .exec(conn)
    .await
    .context("record the ticket's change")?;
    Ok(inserted.last_insert_id)
}

pub async fn category(
    conn: &impl ConnectionTrait,
    id: i64,
) -> anyhow::Result<Option<category::Model>> {
    category::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("read the category")
}

pub async fn categories(
    conn: &impl ConnectionTrait,
    hall_id: i64,
) -> anyhow::Result<Vec<category::Model>> {
    category::Entity::find()
        .filter(category::Column::HallId.eq(hall_id))
        .order_by_asc(category::Column::Id)
        .all(conn)
        .await
        .context("read the hall's categories")
}

pub async fn counter(
    conn: &impl ConnectionTrait,
    id: i64,
) -> anyhow::Result<Option<counter::Model>> {
    counter::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("read the counter")
}

pub async fn counters(
    conn: &impl ConnectionTrait,
    hall_id: i64,
) -> anyhow::Result<Vec<counter::Model>> {
    counter::Entity::find()
        .filter(counter::Column::HallId.eq(hall_id))
        .all(conn)
        .await
        .context("read the hall's counters")
}

/// The categories a counter serves, with their weights.
pub async fn counter_categories(
    conn: &impl ConnectionTrait,
    counter_id: i64,
) -> anyhow::Result<Vec<(i64, i32)>> {
    counter_category::Entity::find()
        .filter(counter_category::Column::CounterId.eq(counter_id))
        .order_by_asc(counter_category::Column::CategoryId)
        .select_only()
        .column(counter_category::Column::CategoryId)
        .column(counter_category::Column::Weight)
        .into_tuple()
        .all(conn)
        .await
        .context("read the counter's categories")
}

/// The active counters serving a category.
pub async fn counters_of_category(
    conn: &impl ConnectionTrait,
    category_id: i64,
) -> anyhow::Result<Vec<i64>> {
    let ids: Vec<i64> = counter_category::Entity::find()
        .filter(counter_category::Column::CategoryId.eq(category_id))
        .select_only()
        .column(counter_category::Column::CounterId)
        .into_tuple()
        .all(conn)
        .await
        .context("read the category's counters")?;
    counter::Entity::find()
        .filter(counter::Column::Id.is_in(ids))
        .filter(counter::Column::Active.eq(true))
        .select_only()
        .column(counter::Column::Id)
        .into_tuple()
        .all(conn)
        .await
        .context("read the active counters")
}

pub async fn ticket(conn: &impl ConnectionTrait, id: i64) -> anyhow::Result<Option<ticket::Model>> {
    ticket::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("read the ticket")
}

pub async fn tickets_of_bookings(
    conn: &impl ConnectionTrait,
    booking_ids: Vec<i64>,
) -> anyhow::Result<Vec<ticket::Model>> {
    ticket::Entity::find()
        .filter(ticket::Column::BookingId.is_in(booking_ids))
        .all(conn)
        .await
        .context("read the bookings' tickets")
}

pub async fn tickets_of_citizen(
    conn: &impl ConnectionTrait,
    citizen_id: i64,
    limit: u64,
) -> anyhow::Result<Vec<ticket::Model>> {
    ticket::Entity::find()
        .filter(ticket::Column::CitizenId.eq(citizen_id))
        .order_by_desc(ticket::Column::Id)
        .limit(limit)
        .all(conn)
        .await
        .context("read the citizen's tickets")
}

/// Claims the counter's desk if it holds no ticket, making its row the first time, in one
/// statement (`INSERT … ON CONFLICT DO UPDATE … WHERE ticket_id IS NULL RETURNING`), and
/// returns the desk as claimed. The claim is a write: it takes SQLite's write lock at the start
/// of the transaction (no stale reads before it), and on PostgreSQL it locks the desk row, so
/// one counter's calls happen one at a time. `None`: the counter holds a ticket already.
pub async fn claim_desk(
    conn: &impl ConnectionTrait,
    counter_id: i64,
    hall_id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<counter_desk::Model>> {
    let claimed = counter_desk::Entity::insert(counter_desk::ActiveModel {
        counter_id: Set(counter_id),
        hall_id: Set(hall_id),
        ticket_id: Set(None),
        wrr: Set(String::new()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(counter_desk::Column::CounterId)
            .update_column(counter_desk::Column::UpdatedAt)
            .action_and_where(
                Expr::col((counter_desk::Entity, counter_desk::Column::TicketId)).is_null(),
            )
            .to_owned(),
    )
    .exec_with_returning_many(conn)
    .await
    .context("claim the counter's desk")?;
    Ok(claimed.into_iter().next())
}

pub async fn desk(
    conn: &impl ConnectionTrait,
    counter_id: i64,
) -> anyhow::Result<Option<counter_desk::Model>> {
    counter_desk::Entity::find_by_id(counter_id)
        .one(conn)
        .await
        .context("read the counter's desk")
}

pub async fn seat_at_desk(
    conn: &impl ConnectionTrait,
    counter_id: i64,
    ticket_id: i64,
    wrr: &str,
) -> anyhow::Result<()> {
    counter_desk::Entity::update_many()
        .col_expr(counter_desk::Column::TicketId, Expr::value(ticket_id))
        .col_expr(counter_desk::Column::Wrr, Expr::value(wrr))
        .filter(counter_desk::Column::CounterId.eq(counter_id))
        .exec(conn)
        .await
        .context("put the ticket at the desk")?;
    Ok(())
}

/// The desks holding a ticket whose latest change by a staff member was made by `staff_id`:
/// (counter, ticket) pairs.
pub async fn desks_held_by(
    conn: &impl ConnectionTrait,
    staff_id: i64,
) -> anyhow::Result<Vec<(i64, i64)>> {
    let held: Vec<(i64, Option<i64>)> = counter_desk::Entity::find()
        .filter(counter_desk::Column::TicketId.is_not_null())
        .select_only()
        .column(counter_desk::Column::CounterId)
        .column(counter_desk::Column::TicketId)
        .into_tuple()
        .all(conn)
        .await
        .context("read the desks holding tickets")?;
    let held: Vec<(i64, i64)> = held
        .into_iter()
        .filter_map(|(counter, ticket)| Some((counter, ticket?)))
        .collect();
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let events: Vec<(i64, Option<i64>)> = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.is_in(held.iter().map(|&(_, t)| t)))
        .filter(ticket_event::Column::StaffId.is_not_null())
        .order_by_asc(ticket_event::Column::Id)
        .select_only()
        .column(ticket_event::Column::TicketId)
        .column(ticket_event::Column::StaffId)
        .into_tuple()
        .all(conn)
        .await
        .context("read who last acted on the held tickets")?;
    let last: HashMap<i64, Option<i64>> = events.into_iter().collect();
    Ok(held
        .into_iter()
        .filter(|(_, ticket)| last.get(ticket).copied().flatten() == Some(staff_id))
        .collect())
}

/// Frees whichever desk holds the ticket.
pub async fn free_desk(conn: &impl ConnectionTrait, ticket_id: i64) -> anyhow::Result<()> {
    counter_desk::Entity::update_many()
        .col_expr(
            counter_desk::Column::TicketId,
            Expr::value(Option::<i64>::None),
        )
        .filter(counter_desk::Column::TicketId.eq(ticket_id))
        .exec(conn)
        .await
        .context("free the desk")?;
    Ok(())
}

/// The categories among `categories` that have someone waiting, with the best priority rank
/// waiting in each.
pub async fn waiting_summary(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
    categories: Vec<i64>,
) -> anyhow::Result<Vec<(i64, i32)>> {
    ticket::Entity::find()
        .filter(ticket::Column::HallId.eq(hall_id))
        .filter(ticket::Column::Day.eq(day))
        .filter(ticket::Column::State.eq(TicketState::Waiting))
        .filter(ticket::Column::CategoryId.is_in(categories))
        .select_only()
        .column(ticket::Column::CategoryId)
        .column_as(ticket::Column::Priority.min(), "best")
        .group_by(ticket::Column::CategoryId)
        .into_tuple()
        .all(conn)
        .await
        .context("read who is waiting")
}

/// The first waiting ticket of a category in calling order. On PostgreSQL it is locked, and
/// rows other transactions hold are skipped (`FOR UPDATE SKIP LOCKED`), so twenty counters
/// calling at once each get a different ticket without waiting on each other.
pub async fn first_waiting(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
    category_id: i64,
) -> anyhow::Result<Option<ticket::Model>> {
    let mut query = ticket::Entity::find()
        .filter(ticket::Column::HallId.eq(hall_id))
        .filter(ticket::Column::Day.eq(day))
        .filter(ticket::Column::State.eq(TicketState::Waiting))
        .filter(ticket::Column::CategoryId.eq(category_id))
        .order_by_asc(ticket::Column::Priority)
        .order_by_asc(ticket::Column::IssuedAt)
        .order_by_asc(ticket::Column::Id)
        .limit(1);
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    query.one(conn).await.context("find the next ticket")
}

/// The first `n` waiting tickets of a category, in calling order.
pub async fn line_head(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
    category_id: i64,
    n: u64,
) -> anyhow::Result<Vec<ticket::Model>> {
    ticket::Entity::find()
        .filter(ticket::Column::HallId.eq(hall_id))
        .filter(ticket::Column::Day.eq(day))
        .filter(ticket::Column::State.eq(TicketState::Waiting))
        .filter(ticket::Column::CategoryId.eq(category_id))
        .order_by_asc(ticket::Column::Priority)
        .order_by_asc(ticket::Column::IssuedAt)
        .order_by_asc(ticket::Column::Id)
        .limit(n)
        .all(conn)
        .await
        .context("read the head of the line")
}

/// Of `ids`, those not yet told "about 3 ahead" that this transaction can lock without
/// waiting: on PostgreSQL `FOR UPDATE SKIP LOCKED`, so a call never waits on (nor deadlocks
/// with) another counter's call holding one of them; a ticket skipped now is told at the next
/// change of its line if it still waits.
pub async fn lock_untold(conn: &impl ConnectionTrait, ids: Vec<i64>) -> anyhow::Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(ids);
    }
    let mut query = ticket::Entity::find()
        .filter(ticket::Column::Id.is_in(ids))
        .filter(ticket::Column::NearNotifiedAt.is_null())
        .order_by_asc(ticket::Column::Id)
        .select_only()
        .column(ticket::Column::Id);
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    query
        .into_tuple()
        .all(conn)
        .await
        .context("lock the tickets to tell")
}

/// Marks a ticket as told "about 3 ahead"; `false` if it was told already (by any instance).
pub async fn mark_near_notified(
    conn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let result = ticket::Entity::update_many()
        .col_expr(ticket::Column::NearNotifiedAt, Expr::value(now))
        .filter(ticket::Column::Id.eq(id))
        .filter(ticket::Column::NearNotifiedAt.is_null())
        .exec(conn)
        .await
        .context("mark the ticket told")?;
    Ok(result.rows_affected == 1)
}

/// People waiting ahead of `t` in its category.
pub async fn ahead_of(conn: &impl ConnectionTrait, t: &ticket::Model) -> anyhow::Result<u64> {
    use sea_orm::PaginatorTrait as _;
    use sea_orm::sea_query::Condition;
    let before = Condition::any()
        .add(ticket::Column::Priority.lt(t.priority))
        .add(
            Condition::all()
                .add(ticket::Column::Priority.eq(t.priority))
                .add(ticket::Column::IssuedAt.lt(t.issued_at)),
        )
        .add(
            Condition::all()
                .add(ticket::Column::Priority.eq(t.priority))
                .add(ticket::Column::IssuedAt.eq(t.issued_at))
                .add(ticket::Column::Id.lt(t.id)),
        );
    ticket::Entity::find()
        .filter(ticket::Column::HallId.eq(t.hall_id))
        .filter(ticket::Column::Day.eq(t.day))
        .filter(ticket::Column::State.eq(TicketState::Waiting))
        .filter(ticket::Column::CategoryId.eq(t.category_id))
        .filter(before)
        .count(conn)
        .await
        .context("count the people ahead")
}

/// Every waiting ticket of a hall's day, in calling order per category.
pub async fn waiting_line(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
) -> anyhow::Result<Vec<ticket::Model>> {
    ticket::Entity::find()
        .filter(ticket::Column::HallId.eq(hall_id))
        .filter(ticket::Column::Day.eq(day))
        .filter(ticket::Column::State.eq(TicketState::Waiting))
        .order_by_asc(ticket::Column::CategoryId)
        .order_by_asc(ticket::Column::Priority)
        .order_by_asc(ticket::Column::IssuedAt)
        .order_by_asc(ticket::Column::Id)
        .all(conn)
        .await
        .context("read the waiting line")
}

/// Measured service times (seconds) of a category's tickets finished since `since`.
pub async fn service_times(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    category_id: i64,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<f64>> {
    type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let rows: Vec<Span> = ticket::Entity::find()
        .filter(ticket::Column::HallId.eq(hall_id))
        // The days the window touches: the line index's (hall, day) prefix, not the whole history.
        .filter(ticket::Column::Day.gte(since.with_timezone(&SHANGHAI).date_naive()))
        .filter(ticket::Column::CategoryId.eq(category_id))
        .filter(ticket::Column::State.eq(TicketState::Done))
        .filter(ticket::Column::FinishedAt.gte(since))
        .select_only()
        .column(ticket::Column::ServingAt)
        .column(ticket::Column::FinishedAt)
        .into_tuple()
        .all(conn)
        .await
        .context("read measured service times")?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, b)| Some(secs(b? - a?)))
        .filter(|s| *s >= 0.0)
        .collect())
}

/// Seconds of a duration, as a float.
pub fn secs(d: chrono::Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ms = d.num_milliseconds() as f64;
    ms / 1000.0
}

/// Counters among `counters` that called or finished a ticket since `since`.
pub async fn active_counters(
    conn: &impl ConnectionTrait,
    counters: Vec<i64>,
    since: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let ids: Vec<Option<i64>> = ticket_event::Entity::find()
        .filter(ticket_event::Column::CounterId.is_in(counters))
        .filter(ticket_event::Column::At.gte(since))
        .select_only()
        .column(ticket_event::Column::CounterId)
        .distinct()
        .into_tuple()
        .all(conn)
        .await
        .context("read the open counters")?;
    Ok(ids.into_iter().flatten().count())
}

/// A hall's tickets of a day (for the statistics).
pub async fn tickets_of_day(
    conn: &impl ConnectionTrait,
    hall_id: i64,
    day: NaiveDate,
) -> anyhow::Result<Vec<ticket::Model>> {
    ticket::Entity::find()
        .filter(ticket::Column::HallId.eq(hall_id))
        .filter(ticket::Column::Day.eq(day))
        .all(conn)
        .await
        .context("read the day's tickets")
}

/// The latest calls of a hall's day (first calls and recalls), newest first.
pub async fn recent_calls(
    conn: &impl ConnectionTrait,
    ticket_ids_of_day: &HashMap<i64, ticket::Model>,
    limit: u64,
) -> anyhow::Result<Vec<ticket_event::Model>> {
    let ids: Vec<i64> = ticket_ids_of_day.keys().copied().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.is_in(ids))
        .filter(ticket_event::Column::ToState.eq(TicketState::Called))
        .order_by_desc(ticket_event::Column::Id)
        .limit(limit)
        .all(conn)
        .await
        .context("read the latest calls")
}
