//! Queue numbers (取号 / 叫号): taking a ticket (remote, walk-in, or a booking's check-in),
//! calling it at a counter, its position and estimated wait, live updates and statistics.
//!
//! The one decision to know: the database alone decides. A number comes from a sequence row
//! incremented inside the ticket's transaction, and a unique `(hall, day, number)` index is the
//! last word (no Redis counter: a flushed Redis cannot make a number come back). Calling next
//! claims the counter's desk row, picks the category by smooth weighted round-robin, takes the
//! first waiting ticket of it with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one writer
//! at a time), and moves it with a compare-and-set on its state and version; so two counters on
//! any number of gateway instances never call the same ticket. Every change appends a
//! `ticket_events` row (who, when, which counter), from which waits, service times and the
//! statistics are measured. After the commit a small event goes out on the store's
//! `queue:{hall_id}` channel, which every instance's [`QueueHub`] turns into live updates.

mod board;
pub mod citizen_code;
mod counter;
pub mod desk;
mod live;
mod numbers;
pub(crate) mod queries;
pub mod rules;
mod snapshot;
mod sweep;
mod take;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, SimpleExpr};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, EntityTrait as _, QueryFilter as _,
};
use serde::{Deserialize, Serialize};

use entities::ticket;

use crate::cache::TtlCache;
use crate::calendar::CalendarStore;
use crate::halls::{HallDirectory, HallModel};
use crate::notify::Notifications;
use crate::store::Store;
use crate::time::{Clock, SHANGHAI};

pub use board::{Board, BoardCall, CategoryStats, CategoryWaiting};
pub use counter::{CallError, CounterAction};
pub use live::{HallUpdate, Position, QueueHub};
pub use snapshot::SNAPSHOT_FOR;
pub use take::{IssueError, TakeError};
pub(crate) use take::{briefs_of_bookings, issue_for_booking};

pub use entities::status::{TicketSource, TicketState};

/// A ticket as its citizen (or the hall's staff) sees it.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub id: i64,
    pub number: String,
    pub state: TicketState,
    pub source: TicketSource,
    pub green_channel: bool,
    pub hall_id: i64,
    pub hall_code: String,
    pub hall_name: String,
    pub category_id: i64,
    pub category_name: String,
    pub day: NaiveDate,
    pub issued_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    pub calls: i32,
    pub counter_number: Option<i32>,
    pub counter_name: Option<String>,
    /// While waiting: people ahead in its category, and the estimated wait in minutes.
    pub position: Option<Position>,
    pub booking_id: Option<i64>,
    /// The family member it is for, when the account took it for one.
    pub member_id: Option<i64>,
}

/// A ticket's number and id, as a booking's check-in answer carries it.
#[derive(Debug, Clone)]
pub struct TicketBrief {
    pub id: i64,
    pub number: String,
    pub state: TicketState,
}

/// What every instance hears on `queue:{hall_id}` after a ticket changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueEvent {
    pub hall_id: i64,
    pub ticket_id: i64,
    pub number: String,
    pub category_id: i64,
    pub state: TicketState,
    pub counter_number: Option<i32>,
    pub counter_name: Option<String>,
    pub calls: i32,
    /// For a call: the text the hall's display reads out.
    pub announce: Option<String>,
    pub at: DateTime<Utc>,
    /// For a call or recall: the id of the event that recorded it, the board's `callId`.
    /// Absent in events from an instance that predates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
}

pub(crate) fn channel(hall_id: i64) -> String {
    format!("queue:{hall_id}")
}

/// Publishes an event after its change was committed. Best effort: a listener that misses it
/// catches up at the next event or poll.
pub(crate) async fn announce(store: &dyn Store, event: &QueueEvent) {
    let Ok(bytes) = serde_json::to_vec(event) else {
        return;
    };
    if let Err(e) = store.publish(&channel(event.hall_id), &bytes).await {
        tracing::warn!(error = %e, hall_id = event.hall_id, "could not publish a queue event");
    }
}

/// What the board reads out for a call: `请A001号到1号窗口办理`. The counter is named by its
/// spoken name if its administrator set one, else by its number, never by its full name
/// (`2号窗口 公安户政` reads badly aloud).
pub fn call_text(ticket_number: &str, counter: &entities::counter::Model) -> String {
    let spoken = counter
        .spoken_name
        .clone()
        .unwrap_or_else(|| format!("{}号窗口", counter.number));
    format!("请{ticket_number}号到{spoken}办理")
}

pub(crate) fn event_of(
    t: &ticket::Model,
    counter: Option<&entities::counter::Model>,
    at: DateTime<Utc>,
) -> QueueEvent {
    let state = t.state;
    let announce = (state == TicketState::Called)
        .then(|| counter.map(|c| call_text(&t.number, c)))
        .flatten();
    QueueEvent {
        hall_id: t.hall_id,
        ticket_id: t.id,
        number: t.number.clone(),
        category_id: t.category_id,
        state,
        counter_number: counter.map(|c| c.number),
        counter_name: counter.map(|c| c.name.clone()),
        calls: t.calls,
        announce,
        at,
        event_id: None,
    }
}

/// Why a change to one ticket was refused.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("no such ticket")]
    NotFound,
    #[error("no such counter at this hall")]
    CounterNotFound,
    #[error("no such category at this hall")]
    CategoryNotFound,
    /// The ticket is not (any more) in a state that allows the change, or not at this counter:
    /// someone else changed it first.
    #[error("the ticket's state changed")]
    StateChanged { state: TicketState },
    /// Called three times already (the first call and two recalls).
    #[error("recall limit reached")]
    RecallLimit,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

const ESTIMATE_FOR: Duration = Duration::from_secs(30);

/// The queue service; cheap to clone.
#[derive(Clone)]
pub struct QueueService {
    db: DatabaseConnection,
    store: Arc<dyn Store>,
    calendar: CalendarStore,
    notifications: Notifications,
    clock: Clock,
    /// The halls' read models, shared with the other capabilities of this instance.
    halls: HallDirectory,
    /// (hall, category) → (mean service seconds, open counters).
    estimates: TtlCache<(i64, i64), (f64, u32)>,
    /// (hall, day) → every waiting ticket's row and position, read at most once a second per
    /// instance (and again after a change): a thousand citizens polling cost one query a
    /// second, not a thousand (see [`snapshot`]).
    snapshots: Arc<snapshot::Snapshots>,
    /// The halls this instance listens to: one store subscription per hall, whichever hub
    /// or snapshot listens.
    hub_halls: live::HubHalls,
    /// This instance's blocks of queue numbers.
    numbers: numbers::Numbers,
    /// Active halls' ids by code and items known to the catalogue, as read a moment ago
    /// (`HALL_CACHE_FOR`): what a take checks besides the hall's read model.
    hall_ids: TtlCache<String, i64>,
    items: TtlCache<String, ()>,
}

/// Every waiting ticket's position, by ticket id.
pub type Positions = HashMap<i64, Position>;

/// A compare-and-set on a ticket: applies `sets` and `to` only while the ticket still has the
/// version (and so the state) it was read with. `false`: someone changed it first.
async fn cas(
    conn: &impl ConnectionTrait,
    t: &ticket::Model,
    to: TicketState,
    sets: Vec<(ticket::Column, SimpleExpr)>,
) -> anyhow::Result<bool> {
    let mut update = ticket::Entity::update_many()
        .col_expr(ticket::Column::State, Expr::value(to))
        .col_expr(
            ticket::Column::Version,
            Expr::col(ticket::Column::Version).add(1),
        );
    for (col, value) in sets {
        update = update.col_expr(col, value);
    }
    let result = update
        .filter(ticket::Column::Id.eq(t.id))
        .filter(ticket::Column::Version.eq(t.version))
        .filter(ticket::Column::State.eq(t.state))
        .exec(conn)
        .await
        .context("change the ticket's state")?;
    Ok(result.rows_affected == 1)
}

impl QueueService {
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn Store>,
        calendar: CalendarStore,
        notifications: Notifications,
        clock: Clock,
    ) -> Self {
        let halls = HallDirectory::new(db.clone());
        let numbers = numbers::Numbers::new(db.clone());
        Self {
            db,
            store,
            calendar,
            notifications,
            clock,
            halls,
            estimates: TtlCache::new(ESTIMATE_FOR, 10_000),
            snapshots: Arc::default(),
            hub_halls: Arc::default(),
            numbers,
            hall_ids: TtlCache::new(crate::halls::HALL_CACHE_FOR, 10_000),
            items: TtlCache::new(crate::halls::HALL_CACHE_FOR, 10_000),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The live-update hub of this instance (every hub of one service shares its halls'
    /// subscriptions).
    pub fn hub(&self) -> QueueHub {
        QueueHub::new(
            self.clone(),
            Arc::clone(&self.store),
            Arc::clone(&self.hub_halls),
        )
    }

    /// Shares the halls' read models with the other capabilities of this instance (one cache
    /// of them), instead of a directory of its own.
    #[must_use]
    pub fn with_halls(mut self, halls: HallDirectory) -> Self {
        self.halls = halls;
        self
    }

    /// A hall's read model (its names as shown), read at most every few seconds.
    async fn names(&self, hall_id: i64) -> anyhow::Result<Option<Arc<HallModel>>> {
        self.halls.get(hall_id).await
    }

    async fn view(&self, t: ticket::Model) -> anyhow::Result<TicketView> {
        let position = if t.state == TicketState::Waiting {
            match self.positions(t.hall_id, t.day, false).await?.get(&t.id) {
                Some(p) => Some(*p),
                // Taken after the snapshot: counted on its own.
                None => {
                    let ahead = queries::ahead_of(&self.db, &t).await?;
                    let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
                    Some(self.position(t.hall_id, t.category_id, ahead).await?)
                }
            }
        } else {
            None
        };
        self.view_at(t, position).await
    }

    /// A ticket's view with its position (a waiting ticket's) already known.
    async fn view_at(
        &self,
        t: ticket::Model,
        position: Option<Position>,
    ) -> anyhow::Result<TicketView> {
        let names = self
            .names(t.hall_id)
            .await?
            .context("a ticket's hall vanished")?;
        let state = t.state;
        let counter = t.counter_id.and_then(|id| names.counters.get(&id));
        Ok(TicketView {
            id: t.id,
            state,
            source: t.source,
            green_channel: t.green_channel,
            hall_id: t.hall_id,
            hall_code: names.hall.code.clone(),
            hall_name: names.hall.name.clone(),
            category_id: t.category_id,
            category_name: names
                .categories
                .get(&t.category_id)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            day: t.day,
            issued_at: t.issued_at,
            called_at: t.called_at,
            calls: t.calls,
            counter_number: counter.map(|c| c.number),
            counter_name: counter.map(|c| c.name.clone()),
            position,
            booking_id: t.booking_id,
            member_id: t.member_id,
            number: t.number,
        })
    }

    async fn changed(&self, ticket_id: i64) -> TicketError {
        match queries::ticket(&self.db, ticket_id).await {
            Ok(Some(t)) => TicketError::StateChanged { state: t.state },
            Ok(None) => TicketError::NotFound,
            Err(e) => e.into(),
        }
    }
}

/// The hall's day in Asia/Shanghai for an instant.
pub fn service_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&SHANGHAI).date_naive()
}
