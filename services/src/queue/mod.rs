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

pub mod citizen_code;
pub mod desk;
mod live;
pub(crate) mod queries;
pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Timelike as _, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, SimpleExpr};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, EntityTrait as _, QueryFilter as _,
    QuerySelect as _,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use entities::{category, counter, hall, ticket};

use crate::calendar::CalendarStore;
use crate::notify::{NotificationKind, Notifications};
use crate::store::Store;
use crate::time::{Clock, SHANGHAI};

pub use live::{HallUpdate, Position, QueueHub};

/// A ticket's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketState {
    Waiting,
    Called,
    Serving,
    Done,
    NoShow,
    Cancelled,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Called => "CALLED",
            Self::Serving => "SERVING",
            Self::Done => "DONE",
            Self::NoShow => "NO_SHOW",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "WAITING" => Self::Waiting,
            "CALLED" => Self::Called,
            "SERVING" => Self::Serving,
            "DONE" => Self::Done,
            "NO_SHOW" => Self::NoShow,
            "CANCELLED" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Still in the hall's hands: waiting, called or being served.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Waiting | Self::Called | Self::Serving)
    }
}

/// How a ticket was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSource {
    /// By the citizen in the mini-program (线上取号).
    Remote,
    /// At a counter or the kiosk (现场取号).
    WalkIn,
    /// By checking in a booking (预约签到).
    Booking,
}

impl TicketSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Remote => "REMOTE",
            Self::WalkIn => "WALK_IN",
            Self::Booking => "BOOKING",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "REMOTE" => Self::Remote,
            "WALK_IN" => Self::WalkIn,
            "BOOKING" => Self::Booking,
            _ => return None,
        })
    }
}

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
    pub state: String,
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
pub fn call_text(ticket_number: &str, counter: &counter::Model) -> String {
    let spoken = counter
        .spoken_name
        .clone()
        .unwrap_or_else(|| format!("{}号窗口", counter.number));
    format!("请{ticket_number}号到{spoken}办理")
}

pub(crate) fn event_of(
    t: &ticket::Model,
    counter: Option<&counter::Model>,
    at: DateTime<Utc>,
) -> QueueEvent {
    let state = t.state.clone();
    let announce = (state == TicketState::Called.as_str())
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

/// Why a citizen could not take a ticket.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("no such hall")]
    HallNotFound,
    #[error("no such item")]
    ItemNotFound,
    /// The hall has no category that handles the item.
    #[error("the item is not handled at this hall")]
    CategoryNotForItem,
    /// Outside the hall's opening hours today (or the hall is closed today).
    #[error("the hall is not open now")]
    HallNotOpen,
    /// The citizen holds a live ticket at this hall already.
    #[error("already holds a live ticket")]
    AlreadyLive,
    /// No active counter serves the item's category: nobody could call the ticket.
    #[error("no counter open for the category")]
    NoCounterOpen,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why staff could not issue a walk-in ticket.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no such hall")]
    HallNotFound,
    #[error("no such category at this hall")]
    CategoryNotFound,
    /// The citizen code shown is unknown, expired, replaced or used.
    #[error("the citizen code is not valid")]
    CitizenCodeInvalid,
    /// This staff member tried too many citizen codes this minute.
    #[error(transparent)]
    RateLimited(crate::limits::Limited),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a counter could not call the next ticket.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no such counter at this hall")]
    CounterNotFound,
    /// The counter is deactivated.
    #[error("the counter is inactive")]
    CounterInactive,
    /// The counter holds a called or serving ticket: finish it first.
    #[error("the counter is busy")]
    CounterBusy { ticket_id: Option<i64> },
    #[error("nobody is waiting")]
    NoTicketWaiting,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
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

/// One category's figures for a day.
#[derive(Debug, Clone)]
pub struct CategoryStats {
    pub category_id: i64,
    pub category_name: String,
    pub prefix: String,
    pub issued: u32,
    pub served: u32,
    pub no_shows: u32,
    pub cancelled: u32,
    pub waiting: u32,
    /// Seconds from taking the ticket to its first call.
    pub wait_avg_secs: Option<f64>,
    pub wait_p90_secs: Option<f64>,
    /// Seconds from starting to serve to done.
    pub service_avg_secs: Option<f64>,
    pub service_p90_secs: Option<f64>,
}

/// A hall's display board: the latest calls and who waits.
#[derive(Debug, Clone)]
pub struct Board {
    pub hall_code: String,
    pub hall_name: String,
    pub calls: Vec<BoardCall>,
    pub waiting: Vec<CategoryWaiting>,
}

/// Who waits in one category of a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryWaiting {
    pub category_id: i64,
    pub prefix: String,
    pub name: String,
    pub waiting: u32,
}

#[derive(Debug, Clone)]
pub struct BoardCall {
    /// The id of the event that recorded the call: increasing, one per call and recall.
    pub call_id: i64,
    pub ticket_id: i64,
    pub number: String,
    pub counter_number: i32,
    pub counter_name: String,
    pub announce: String,
    pub at: DateTime<Utc>,
}

/// A change of a ticket at a counter.
#[derive(Debug, Clone)]
pub enum CounterAction {
    Recall,
    Serve,
    Done,
    NoShow,
    Transfer { category_id: i64 },
}

/// A hall's names as shown, read a moment ago.
#[derive(Debug)]
struct HallNames {
    hall: hall::Model,
    categories: HashMap<i64, category::Model>,
    counters: HashMap<i64, counter::Model>,
}

const NAMES_FOR: Duration = Duration::from_secs(5);
const ESTIMATE_FOR: Duration = Duration::from_secs(30);

type Cache<K, V> = Arc<Mutex<HashMap<K, (Instant, Arc<V>)>>>;

/// The queue service; cheap to clone.
#[derive(Clone)]
pub struct QueueService {
    db: DatabaseConnection,
    store: Arc<dyn Store>,
    calendar: CalendarStore,
    notifications: Notifications,
    clock: Clock,
    names: Cache<i64, HallNames>,
    /// (hall, category) → (mean service seconds, open counters).
    estimates: Cache<(i64, i64), (f64, u32)>,
    /// (hall, day) → every waiting ticket's position, computed at most once a second per
    /// instance (and at once after a change): a thousand citizens polling cost one query a
    /// second, not a thousand.
    snapshots: Snapshots,
}

/// Every waiting ticket's position, by ticket id.
pub type Positions = HashMap<i64, Position>;

type Snapshots = Arc<tokio::sync::Mutex<HashMap<(i64, NaiveDate), (Instant, Arc<Positions>)>>>;

/// How long a positions snapshot serves polls.
const SNAPSHOT_FOR: Duration = Duration::from_secs(1);

fn ticket_state(t: &ticket::Model) -> anyhow::Result<TicketState> {
    TicketState::parse(&t.state).context("unknown ticket state")
}

/// A compare-and-set on a ticket: applies `sets` and `to` only while the ticket still has the
/// version (and so the state) it was read with. `false`: someone changed it first.
async fn cas(
    conn: &impl ConnectionTrait,
    t: &ticket::Model,
    to: TicketState,
    sets: Vec<(ticket::Column, SimpleExpr)>,
) -> anyhow::Result<bool> {
    let mut update = ticket::Entity::update_many()
        .col_expr(ticket::Column::State, Expr::value(to.as_str()))
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
        .filter(ticket::Column::State.eq(t.state.as_str()))
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
        Self {
            db,
            store,
            calendar,
            notifications,
            clock,
            names: Arc::default(),
            estimates: Arc::default(),
            snapshots: Arc::default(),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The live-update hub of this instance.
    pub fn hub(&self) -> QueueHub {
        QueueHub::new(self.clone(), Arc::clone(&self.store))
    }

    async fn names(&self, hall_id: i64) -> anyhow::Result<Option<Arc<HallNames>>> {
        if let Some((at, names)) = self
            .names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hall_id)
            && at.elapsed() < NAMES_FOR
        {
            return Ok(Some(Arc::clone(names)));
        }
        let Some(hall) = queries::hall(&self.db, hall_id).await? else {
            return Ok(None);
        };
        let categories = queries::categories(&self.db, hall_id)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let counters = queries::counters(&self.db, hall_id)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let names = Arc::new(HallNames {
            hall,
            categories,
            counters,
        });
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hall_id, (Instant::now(), Arc::clone(&names)));
        Ok(Some(names))
    }

    /// Mean service seconds and open counters of a category, read at most every 30 s.
    ///
    /// Service times are those measured (serving → done) in the last
    /// [`rules::SERVICE_WINDOW_HOURS`] hours, 5 minutes when fewer than three were measured;
    /// the open counters are the active counters serving the category that called or finished
    /// a ticket in the last hour, or all of its active counters when none did (0 when it has
    /// none).
    async fn estimate_inputs(&self, hall_id: i64, category_id: i64) -> anyhow::Result<(f64, u32)> {
        let key = (hall_id, category_id);
        if let Some((at, v)) = self
            .estimates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && at.elapsed() < ESTIMATE_FOR
        {
            return Ok(**v);
        }
        let now = self.clock.now();
        let samples = queries::service_times(
            &self.db,
            hall_id,
            category_id,
            now - chrono::Duration::hours(rules::SERVICE_WINDOW_HOURS),
        )
        .await?;
        let mean = rules::mean_service_secs(&samples);
        let counters = queries::counters_of_category(&self.db, category_id).await?;
        let all = counters.len();
        let open = queries::active_counters(
            &self.db,
            counters,
            now - chrono::Duration::minutes(rules::OPEN_COUNTER_MINUTES),
        )
        .await?;
        // No active counter serves it: 0, and no estimate (see [`rules::estimate_minutes`]).
        let open = u32::try_from(if open == 0 { all } else { open }).unwrap_or(u32::MAX);
        let value = (mean, open);
        // "No counter" is not kept: a counter opened again gives estimates at once.
        if open > 0 {
            self.estimates
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, (Instant::now(), Arc::new(value)));
        }
        Ok(value)
    }

    /// The position of someone with `ahead` people before them in a category.
    pub async fn position(
        &self,
        hall_id: i64,
        category_id: i64,
        ahead: u32,
    ) -> anyhow::Result<Position> {
        let (mean, open) = self.estimate_inputs(hall_id, category_id).await?;
        Ok(Position {
            ahead,
            wait_minutes: rules::estimate_minutes(ahead, mean, open),
        })
    }

    /// The positions of every waiting ticket of a hall's day: the snapshot of the last second,
    /// or a fresh one (`fresh`, or none recent). One computation at a time per instance.
    pub(crate) async fn positions(
        &self,
        hall_id: i64,
        day: NaiveDate,
        fresh: bool,
    ) -> anyhow::Result<Arc<Positions>> {
        let mut snapshots = self.snapshots.lock().await;
        if !fresh
            && let Some((at, snapshot)) = snapshots.get(&(hall_id, day))
            && at.elapsed() < SNAPSHOT_FOR
        {
            return Ok(Arc::clone(snapshot));
        }
        let (snapshot, _) = self.compute_line(hall_id, day).await?;
        let snapshot = Arc::new(snapshot);
        snapshots.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(60));
        snapshots.insert((hall_id, day), (Instant::now(), Arc::clone(&snapshot)));
        Ok(snapshot)
    }

    /// The positions of every waiting ticket of a hall's day and the count waiting per
    /// category (categories nobody waits in are absent), from one read of the line, fresh;
    /// the positions are kept as this instance's snapshot.
    ///
    /// # Errors
    /// The database failed.
    pub(crate) async fn line_now(
        &self,
        hall_id: i64,
        day: NaiveDate,
    ) -> anyhow::Result<(Arc<Positions>, BTreeMap<i64, u32>)> {
        let mut snapshots = self.snapshots.lock().await;
        let (positions, waiting) = self.compute_line(hall_id, day).await?;
        let positions = Arc::new(positions);
        snapshots.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(60));
        snapshots.insert((hall_id, day), (Instant::now(), Arc::clone(&positions)));
        Ok((positions, waiting))
    }

    async fn compute_line(
        &self,
        hall_id: i64,
        day: NaiveDate,
    ) -> anyhow::Result<(Positions, BTreeMap<i64, u32>)> {
        let line = queries::waiting_line(&self.db, hall_id, day).await?;
        let mut waiting: BTreeMap<i64, u32> = BTreeMap::new();
        let mut out = HashMap::with_capacity(line.len());
        let mut current: Option<i64> = None;
        let mut ahead = 0u32;
        let mut inputs: HashMap<i64, (f64, u32)> = HashMap::new();
        for (ticket_id, category_id) in line {
            if current != Some(category_id) {
                current = Some(category_id);
                ahead = 0;
            }
            let (mean, open) = match inputs.get(&category_id) {
                Some(v) => *v,
                None => {
                    let v = self.estimate_inputs(hall_id, category_id).await?;
                    inputs.insert(category_id, v);
                    v
                }
            };
            out.insert(
                ticket_id,
                Position {
                    ahead,
                    wait_minutes: rules::estimate_minutes(ahead, mean, open),
                },
            );
            ahead += 1;
            *waiting.entry(category_id).or_default() += 1;
        }
        Ok((out, waiting))
    }

    /// Drops this instance's snapshots of a hall after a change made here.
    async fn forget_positions(&self, hall_id: i64) {
        self.snapshots
            .lock()
            .await
            .retain(|(hall, _), _| *hall != hall_id);
    }

    async fn view(&self, t: ticket::Model) -> anyhow::Result<TicketView> {
        let names = self
            .names(t.hall_id)
            .await?
            .context("a ticket's hall vanished")?;
        let state = ticket_state(&t)?;
        let position = if state == TicketState::Waiting {
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
        let counter = t.counter_id.and_then(|id| names.counters.get(&id));
        Ok(TicketView {
            id: t.id,
            state,
            source: TicketSource::parse(&t.source).context("unknown ticket source")?,
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

    /// A citizen takes a ticket for an item at a hall, from anywhere (线上取号): allowed within
    /// the hall's opening hours today (the lunch break included: the line keeps its place), one
    /// live remote ticket per citizen and hall.
    ///
    /// # Errors
    /// [`TakeError::HallNotFound`], [`TakeError::ItemNotFound`],
    /// [`TakeError::CategoryNotForItem`], [`TakeError::HallNotOpen`],
    /// [`TakeError::NoCounterOpen`] (no active counter serves the item's category),
    /// [`TakeError::AlreadyLive`] (the unique live key decides, across instances).
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, hall = hall_code))]
    pub async fn take(
        &self,
        citizen_id: i64,
        for_member: Option<i64>,
        hall_code: &str,
        item_code: &str,
    ) -> Result<TicketView, TakeError> {
        let hall = queries::hall_by_code(&self.db, hall_code)
            .await?
            .ok_or(TakeError::HallNotFound)?;
        let ctx = crate::booking::queries::hall_by_id(&self.db, hall.id)
            .await?
            .ok_or(TakeError::HallNotFound)?;
        if crate::booking::queries::item(&self.db, item_code)
            .await?
            .is_none()
        {
            return Err(TakeError::ItemNotFound);
        }
        let category_id = ctx
            .category_of(item_code)
            .ok_or(TakeError::CategoryNotForItem)?;
        let category = queries::category(&self.db, category_id)
            .await?
            .ok_or(TakeError::CategoryNotForItem)?;
        if queries::counters_of_category(&self.db, category_id)
            .await?
            .is_empty()
        {
            return Err(TakeError::NoCounterOpen);
        }
        let now = self.clock.now();
        let local = now.with_timezone(&SHANGHAI);
        let day = local.date_naive();
        let calendar = self.calendar.calendar().await?;
        let minute = local.hour() * 60 + local.minute();
        match ctx.hours_on(day, &calendar) {
            Some(hours) if hours.opens <= minute && minute < hours.closes => {}
            _ => return Err(TakeError::HallNotOpen),
        }
        let txn = crate::db::write(&self.db)
            .await
            .context("begin taking a ticket")?;
        let inserted = queries::insert_ticket(
            &txn,
            queries::NewTicket {
                hall_id: hall.id,
                category: &category,
                day,
                source: TicketSource::Remote.as_str(),
                priority: rules::RANK_NORMAL,
                green_channel: false,
                citizen_id: Some(citizen_id),
                member_id: for_member,
                booking_id: None,
                item_code: Some(item_code.to_owned()),
                // One live remote ticket per person and hall: the member's own, apart from the
                // account's.
                live_key: Some(match for_member {
                    None => queries::live_key(citizen_id, hall.id),
                    Some(member) => queries::member_live_key(member, hall.id),
                }),
                issued_by: None,
                now,
            },
        )
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if queries::is_live_key_violation(&e) => return Err(TakeError::AlreadyLive),
            Err(e) => return Err(anyhow::Error::new(e).context("insert the ticket").into()),
        };
        txn.commit().await.context("commit the ticket")?;
        metrics::counter!("queue_tickets_total", "source" => "remote").increment(1);
        self.forget_positions(row.hall_id).await;
        announce(self.store.as_ref(), &event_of(&row, None, now)).await;
        Ok(self.view(row).await?)
    }

    /// A citizen's code (市民码) to show at the counter or kiosk, so that a walk-in ticket
    /// becomes theirs; it voids the code they had (see [`citizen_code`]).
    ///
    /// # Errors
    /// The store cannot be reached.
    pub async fn citizen_code(&self, citizen_id: i64) -> anyhow::Result<citizen_code::IssuedCode> {
        citizen_code::CitizenCodes::new(Arc::clone(&self.store))
            .issue(citizen_id, self.clock.now())
            .await
            .context("issue a citizen code")
    }

    /// Staff issue a walk-in ticket at the counter or the kiosk. It is anonymous unless the
    /// citizen shows their code (scanned or typed: `citizen_code`), which ties it to them and
    /// is then used up; staff can never name a citizen themselves. A green-channel ticket
    /// (elderly, disabled, pregnant) goes before everyone of the counter's categories. Opening
    /// hours are the staff's judgement, not checked.
    ///
    /// # Errors
    /// [`IssueError::HallNotFound`], [`IssueError::CategoryNotFound`] (not of this hall),
    /// [`IssueError::CitizenCodeInvalid`] (unknown, expired, replaced or used: the same answer
    /// whatever the reason), [`IssueError::RateLimited`] (30 codes a minute per staff member).
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, staff_id = staff_id))]
    pub async fn issue_walk_in(
        &self,
        hall_id: i64,
        staff_id: i64,
        category_id: i64,
        green_channel: bool,
        citizen_code: Option<&str>,
    ) -> Result<TicketView, IssueError> {
        queries::hall(&self.db, hall_id)
            .await?
            .ok_or(IssueError::HallNotFound)?;
        let category = queries::category(&self.db, category_id)
            .await?
            .filter(|c| c.hall_id == hall_id)
            .ok_or(IssueError::CategoryNotFound)?;
        let citizen_id = match citizen_code {
            None => None,
            Some(raw) => Some(self.redeem_citizen_code(staff_id, raw).await?),
        };
        let now = self.clock.now();
        let day = now.with_timezone(&SHANGHAI).date_naive();
        let txn = crate::db::write(&self.db)
            .await
            .context("begin issuing a ticket")?;
        let row = queries::insert_ticket(
            &txn,
            queries::NewTicket {
                hall_id,
                category: &category,
                day,
                source: TicketSource::WalkIn.as_str(),
                priority: if green_channel {
                    rules::RANK_GREEN
                } else {
                    rules::RANK_NORMAL
                },
                green_channel,
                citizen_id,
                member_id: None,
                booking_id: None,
                item_code: None,
                live_key: None,
                issued_by: Some(staff_id),
                now,
            },
        )
        .await
        .context("insert the walk-in ticket")?;
        txn.commit().await.context("commit the walk-in ticket")?;
        metrics::counter!("queue_tickets_total", "source" => "walk_in").increment(1);
        self.forget_positions(row.hall_id).await;
        announce(self.store.as_ref(), &event_of(&row, None, now)).await;
        Ok(self.view(row).await?)
    }

    async fn redeem_citizen_code(&self, staff_id: i64, raw: &str) -> Result<i64, IssueError> {
        match crate::limits::RateLimiter::new(Arc::clone(&self.store))
            .hit(
                &format!("citizen-code:staff:{staff_id}"),
                crate::limits::Quota::per_minute(30),
            )
            .await
        {
            Ok(()) => {}
            Err(crate::limits::LimitError::Limited(l)) => return Err(IssueError::RateLimited(l)),
            Err(crate::limits::LimitError::Store(e)) => {
                return Err(anyhow::Error::new(e).context("count citizen codes").into());
            }
        }
        let Some(code) = citizen_code::parse(raw) else {
            return Err(IssueError::CitizenCodeInvalid);
        };
        citizen_code::CitizenCodes::new(Arc::clone(&self.store))
            .redeem(&code)
            .await
            .context("redeem a citizen code")?
            .ok_or(IssueError::CitizenCodeInvalid)
    }

    /// A citizen's tickets, newest first (at most 20).
    ///
    /// # Errors
    /// The database failed.
    pub async fn mine(&self, citizen_id: i64) -> anyhow::Result<Vec<TicketView>> {
        let rows = queries::tickets_of_citizen(&self.db, citizen_id, 20).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.view(row).await?);
        }
        Ok(out)
    }

    /// One ticket of a citizen, with its position while it waits (the polling endpoint).
    ///
    /// # Errors
    /// The database failed.
    pub async fn of_citizen(
        &self,
        citizen_id: i64,
        ticket_id: i64,
    ) -> anyhow::Result<Option<TicketView>> {
        match queries::ticket(&self.db, ticket_id).await? {
            Some(t) if t.citizen_id == Some(citizen_id) => Ok(Some(self.view(t).await?)),
            _ => Ok(None),
        }
    }

    /// The citizen gives up a waiting or called ticket. A called ticket frees its counter.
    ///
    /// # Errors
    /// [`TicketError::NotFound`] (not this citizen's), [`TicketError::StateChanged`] (served,
    /// finished, or changed meanwhile).
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, ticket_id = ticket_id))]
    pub async fn cancel(&self, citizen_id: i64, ticket_id: i64) -> Result<TicketView, TicketError> {
        let t = queries::ticket(&self.db, ticket_id)
            .await?
            .filter(|t| t.citizen_id == Some(citizen_id))
            .ok_or(TicketError::NotFound)?;
        let state = ticket_state(&t)?;
        if !matches!(state, TicketState::Waiting | TicketState::Called) {
            return Err(TicketError::StateChanged { state });
        }
        let now = self.clock.now();
        let txn = crate::db::write(&self.db)
            .await
            .context("begin cancelling a ticket")?;
        let changed = cas(
            &txn,
            &t,
            TicketState::Cancelled,
            vec![
                (ticket::Column::FinishedAt, Expr::value(now)),
                (ticket::Column::LiveKey, Expr::value(Option::<String>::None)),
            ],
        )
        .await?;
        if !changed {
            return Err(self.changed(ticket_id).await);
        }
        if state == TicketState::Called {
            queries::free_desk(&txn, t.id).await?;
        }
        queries::record(
            &txn,
            queries::Event {
                ticket_id: t.id,
                from: Some(state),
                to: TicketState::Cancelled,
                staff_id: None,
                counter_id: t.counter_id,
                at: now,
                detail: "cancelled by the citizen".to_owned(),
            },
        )
        .await?;
        if state == TicketState::Waiting {
            self.tell_the_near(&txn, t.hall_id, t.day, t.category_id, now)
                .await?;
        }
        txn.commit().await.context("commit the cancellation")?;
        self.notifications.wake().await;
        let row = queries::ticket(&self.db, t.id)
            .await?
            .ok_or(TicketError::NotFound)?;
        self.forget_positions(row.hall_id).await;
        announce(self.store.as_ref(), &event_of(&row, None, now)).await;
        Ok(self.view(row).await?)
    }

    /// Closes what earlier days left open: a ticket still waiting or called when its day ended
    /// is cancelled, one still being served is done (its service time unknown, so left out of
    /// the statistics). Each frees its counter and its citizen's live-ticket slot, and is
    /// recorded as an event with no staff member. Returns how many were closed (at most 500 a
    /// round; the next round takes the rest).
    ///
    /// # Errors
    /// The database cannot be reached.
    pub async fn close_past_days(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let stale = ticket::Entity::find()
            .filter(ticket::Column::Day.lt(self.clock.today()))
            .filter(ticket::Column::State.is_in([
                TicketState::Waiting.as_str(),
                TicketState::Called.as_str(),
                TicketState::Serving.as_str(),
            ]))
            .limit(500)
            .all(&self.db)
            .await
            .context("find tickets left open by earlier days")?;
        let mut closed = 0;
        for t in stale {
            let state = ticket_state(&t)?;
            let to = if state == TicketState::Serving {
                TicketState::Done
            } else {
                TicketState::Cancelled
            };
            let txn = crate::db::write(&self.db)
                .await
                .context("begin closing a ticket")?;
            let finished_at = (to == TicketState::Cancelled).then_some(now);
            let changed = cas(
                &txn,
                &t,
                to,
                vec![
                    (ticket::Column::FinishedAt, Expr::value(finished_at)),
                    (ticket::Column::LiveKey, Expr::value(Option::<String>::None)),
                ],
            )
            .await?;
            if !changed {
                continue;
            }
            if state != TicketState::Waiting {
                queries::free_desk(&txn, t.id).await?;
            }
            queries::record(
                &txn,
                queries::Event {
                    ticket_id: t.id,
                    from: Some(state),
                    to,
                    staff_id: None,
                    counter_id: t.counter_id,
                    at: now,
                    detail: "closed at the end of its day".to_owned(),
                },
            )
            .await?;
            txn.commit().await.context("commit closing a ticket")?;
            closed += 1;
        }
        if closed > 0 {
            tracing::info!(closed, "tickets left open by earlier days closed");
        }
        Ok(closed)
    }

    async fn changed(&self, ticket_id: i64) -> TicketError {
        match queries::ticket(&self.db, ticket_id).await {
            Ok(Some(t)) => match ticket_state(&t) {
                Ok(state) => TicketError::StateChanged { state },
                Err(e) => e.into(),
            },
            Ok(None) => TicketError::NotFound,
            Err(e) => e.into(),
        }
    }

    /// Tells the first people of a category's line, once each, that about three are ahead of
    /// them; in the caller's transaction, marked on the ticket with a compare-and-set so two
    /// instances never tell the same ticket twice.
    async fn tell_the_near(
        &self,
        txn: &impl ConnectionTrait,
        hall_id: i64,
        day: NaiveDate,
        category_id: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        // A plain read of the head of the line (no locks: tickets other counters are calling
        // right now stay theirs), then only the untold citizens among the first four are
        // locked, without waiting.
        let head = queries::line_head(
            txn,
            hall_id,
            day,
            category_id,
            u64::try_from(rules::NEAR_AHEAD + 1).unwrap_or(4),
        )
        .await?;
        let candidates: Vec<i64> = head
            .iter()
            .filter(|t| t.citizen_id.is_some() && t.near_notified_at.is_none())
            .map(|t| t.id)
            .collect();
        let lockable = queries::lock_untold(txn, candidates).await?;
        let mut hall_name = None;
        for (ahead, t) in head.iter().enumerate() {
            let Some(citizen_id) = t.citizen_id else {
                continue;
            };
            if !lockable.contains(&t.id) || !queries::mark_near_notified(txn, t.id, now).await? {
                continue;
            }
            if hall_name.is_none() {
                hall_name = Some(
                    queries::hall(txn, hall_id)
                        .await?
                        .map(|h| h.name)
                        .unwrap_or_default(),
                );
            }
            let payload = json!({
                "ticket_id": t.id,
                "ticket_no": t.number,
                "ahead": ahead,
                "hall_name": hall_name.as_deref().unwrap_or_default(),
            });
            self.notifications
                .notify(
                    txn,
                    citizen_id,
                    NotificationKind::TicketNear,
                    &payload,
                    // Once per ticket and category: a transferred ticket is told again.
                    &format!("ticket-near:{}:{category_id}", t.id),
                )
                .await
                .context("notify the near ticket")?;
        }
        Ok(())
    }

    /// A counter calls the next ticket: among the categories it serves that have people
    /// waiting, green-channel tickets first (whatever their category); otherwise the category
    /// chosen by smooth weighted round-robin on the counter's weights; within the category,
    /// checked-in bookings before everyone else, then by the original time of the ticket.
    ///
    /// # Errors
    /// [`CallError::CounterNotFound`] (not of this hall), [`CallError::CounterInactive`],
    /// [`CallError::CounterBusy`] (it holds a called or serving ticket),
    /// [`CallError::NoTicketWaiting`].
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, counter_id = counter_id))]
    pub async fn call_next(
        &self,
        hall_id: i64,
        counter_id: i64,
        staff_id: i64,
    ) -> Result<TicketView, CallError> {
        let counter = queries::counter(&self.db, counter_id)
            .await?
            .filter(|c| c.hall_id == hall_id)
            .ok_or(CallError::CounterNotFound)?;
        if !counter.active {
            return Err(CallError::CounterInactive);
        }
        let serves = queries::counter_categories(&self.db, counter_id).await?;
        if serves.is_empty() {
            return Err(CallError::NoTicketWaiting);
        }
        let now = self.clock.now();
        let day = now.with_timezone(&SHANGHAI).date_naive();
        let txn = crate::db::write(&self.db).await.context("begin calling")?;
        if !queries::claim_desk(&txn, counter_id, hall_id, now).await? {
            drop(txn);
            let holding = queries::desk(&self.db, counter_id)
                .await?
                .and_then(|d| d.ticket_id);
            return Err(CallError::CounterBusy { ticket_id: holding });
        }
        let desk = queries::desk(&txn, counter_id)
            .await?
            .context("the desk just claimed vanished")?;
        let mut wrr = rules::Wrr::parse(&desk.wrr);
        let summary =
            queries::waiting_summary(&txn, hall_id, day, serves.iter().map(|&(c, _)| c).collect())
                .await?;
        let best = summary.iter().map(|&(_, p)| p).min();
        let Some(best) = best else {
            return Err(CallError::NoTicketWaiting);
        };
        let eligible: Vec<(i64, i32)> = serves
            .iter()
            .copied()
            .filter(|(c, _)| {
                summary
                    .iter()
                    .any(|&(s, p)| s == *c && (best != rules::RANK_GREEN || p == rules::RANK_GREEN))
            })
            .collect();
        let chosen = wrr.pick(&eligible).ok_or(CallError::NoTicketWaiting)?;
        // The chosen category first, then the others, in case another counter took the last
        // tickets of it meanwhile.
        let mut order = vec![chosen];
        order.extend(eligible.iter().map(|&(c, _)| c).filter(|&c| c != chosen));
        let mut called = None;
        'categories: for category_id in order {
            // A compare-and-set that loses (possible on SQLite only in theory, on PostgreSQL
            // when a row changed between the snapshot and the lock) just tries the next one.
            for _ in 0..5 {
                let Some(t) = queries::first_waiting(&txn, hall_id, day, category_id).await? else {
                    continue 'categories;
                };
                let won = cas(
                    &txn,
                    &t,
                    TicketState::Called,
                    vec![
                        (ticket::Column::CounterId, Expr::value(counter_id)),
                        (ticket::Column::Calls, Expr::value(1)),
                        (ticket::Column::CalledAt, Expr::value(now)),
                        (
                            ticket::Column::FirstCalledAt,
                            Func::coalesce([
                                Expr::col(ticket::Column::FirstCalledAt),
                                Expr::value(now),
                            ])
                            .into(),
                        ),
                    ],
                )
                .await?;
                if won {
                    called = Some(t);
                    break 'categories;
                }
            }
        }
        let Some(t) = called else {
            return Err(CallError::NoTicketWaiting);
        };
        queries::seat_at_desk(&txn, counter_id, t.id, &wrr.render()).await?;
        let event_id = queries::record(
            &txn,
            queries::Event {
                ticket_id: t.id,
                from: Some(TicketState::Waiting),
                to: TicketState::Called,
                staff_id: Some(staff_id),
                counter_id: Some(counter_id),
                at: now,
                detail: format!("called to {}", counter.name),
            },
        )
        .await?;
        if let Some(citizen_id) = t.citizen_id {
            let payload = json!({
                "ticket_id": t.id,
                "ticket_no": t.number,
                "counter_name": counter.name,
            });
            self.notifications
                .notify(
                    &txn,
                    citizen_id,
                    NotificationKind::TicketCalled,
                    &payload,
                    // Once per ticket and category: a transferred ticket is told again.
                    &format!("ticket-called:{}:{}", t.id, t.category_id),
                )
                .await
                .context("notify the call")?;
        }
        self.tell_the_near(&txn, hall_id, day, t.category_id, now)
            .await?;
        txn.commit().await.context("commit the call")?;
        metrics::counter!("queue_calls_total").increment(1);
        self.notifications.wake().await;
        let row = ticket::Model {
            state: TicketState::Called.as_str().to_owned(),
            counter_id: Some(counter_id),
            calls: 1,
            called_at: Some(now),
            first_called_at: t.first_called_at.or(Some(now)),
            version: t.version + 1,
            ..t
        };
        self.forget_positions(row.hall_id).await;
        let mut event = event_of(&row, Some(&counter), now);
        event.event_id = Some(event_id);
        announce(self.store.as_ref(), &event).await;
        Ok(self.view(row).await?)
    }

    /// A change of the ticket a counter holds: recall (at most two more calls), start serving,
    /// done, no-show, or transfer to another category of the hall (back to waiting, keeping its
    /// original time and number).
    ///
    /// # Errors
    /// [`TicketError::CounterNotFound`], [`TicketError::NotFound`] (not of this hall),
    /// [`TicketError::StateChanged`] (not in a state for the change, or not at this counter,
    /// or changed meanwhile), [`TicketError::RecallLimit`],
    /// [`TicketError::CategoryNotFound`] (a transfer to a category not of this hall).
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, counter_id = counter_id, ticket_id = ticket_id))]
    pub async fn at_counter(
        &self,
        hall_id: i64,
        counter_id: i64,
        ticket_id: i64,
        staff_id: i64,
        action: CounterAction,
    ) -> Result<TicketView, TicketError> {
        let counter = queries::counter(&self.db, counter_id)
            .await?
            .filter(|c| c.hall_id == hall_id)
            .ok_or(TicketError::CounterNotFound)?;
        let t = queries::ticket(&self.db, ticket_id)
            .await?
            .filter(|t| t.hall_id == hall_id)
            .ok_or(TicketError::NotFound)?;
        let state = ticket_state(&t)?;
        if t.counter_id != Some(counter_id) {
            return Err(TicketError::StateChanged { state });
        }
        let now = self.clock.now();
        let (to, sets, frees, detail): (
            TicketState,
            Vec<(ticket::Column, SimpleExpr)>,
            bool,
            String,
        ) = match &action {
            CounterAction::Recall => {
                if state != TicketState::Called {
                    return Err(TicketError::StateChanged { state });
                }
                if t.calls >= rules::MAX_CALLS {
                    return Err(TicketError::RecallLimit);
                }
                (
                    TicketState::Called,
                    vec![
                        (ticket::Column::Calls, Expr::value(t.calls + 1)),
                        (ticket::Column::CalledAt, Expr::value(now)),
                    ],
                    false,
                    format!("recalled ({} of {})", t.calls + 1, rules::MAX_CALLS),
                )
            }
            CounterAction::Serve => {
                if state != TicketState::Called {
                    return Err(TicketError::StateChanged { state });
                }
                (
                    TicketState::Serving,
                    vec![(ticket::Column::ServingAt, Expr::value(now))],
                    false,
                    "serving".to_owned(),
                )
            }
            CounterAction::Done => {
                if state != TicketState::Serving {
                    return Err(TicketError::StateChanged { state });
                }
                (
                    TicketState::Done,
                    vec![
                        (ticket::Column::FinishedAt, Expr::value(now)),
                        (ticket::Column::LiveKey, Expr::value(Option::<String>::None)),
                    ],
                    true,
                    "done".to_owned(),
                )
            }
            CounterAction::NoShow => {
                if state != TicketState::Called {
                    return Err(TicketError::StateChanged { state });
                }
                (
                    TicketState::NoShow,
                    vec![
                        (ticket::Column::FinishedAt, Expr::value(now)),
                        (ticket::Column::LiveKey, Expr::value(Option::<String>::None)),
                    ],
                    true,
                    format!("no-show after {} calls", t.calls),
                )
            }
            CounterAction::Transfer { category_id } => {
                if !matches!(state, TicketState::Called | TicketState::Serving) {
                    return Err(TicketError::StateChanged { state });
                }
                let target = queries::category(&self.db, *category_id)
                    .await?
                    .filter(|c| c.hall_id == hall_id && c.id != t.category_id)
                    .ok_or(TicketError::CategoryNotFound)?;
                (
                    TicketState::Waiting,
                    vec![
                        (ticket::Column::CategoryId, Expr::value(target.id)),
                        (ticket::Column::CounterId, Expr::value(Option::<i64>::None)),
                        (ticket::Column::Calls, Expr::value(0)),
                        (
                            ticket::Column::CalledAt,
                            Expr::value(Option::<DateTime<Utc>>::None),
                        ),
                        (
                            ticket::Column::ServingAt,
                            Expr::value(Option::<DateTime<Utc>>::None),
                        ),
                        (
                            ticket::Column::NearNotifiedAt,
                            Expr::value(Option::<DateTime<Utc>>::None),
                        ),
                    ],
                    true,
                    format!(
                        "transferred from category {} to {}",
                        t.category_id, target.id
                    ),
                )
            }
        };
        let txn = crate::db::write(&self.db)
            .await
            .context("begin the ticket's change")?;
        if !cas(&txn, &t, to, sets).await? {
            drop(txn);
            return Err(self.changed(ticket_id).await);
        }
        if frees {
            queries::free_desk(&txn, t.id).await?;
        }
        let event_id = queries::record(
            &txn,
            queries::Event {
                ticket_id: t.id,
                from: Some(state),
                to,
                staff_id: Some(staff_id),
                counter_id: Some(counter_id),
                at: now,
                detail,
            },
        )
        .await?;
        // 一次一评: the citizen the ticket was issued to is invited to rate the service.
        let invited = if to == TicketState::Done {
            crate::evaluations::invite_ticket(
                &txn,
                &self.notifications,
                &t,
                &counter,
                staff_id,
                now,
            )
            .await?
        } else {
            false
        };
        txn.commit().await.context("commit the ticket's change")?;
        if invited {
            self.notifications.wake().await;
        }
        let row = queries::ticket(&self.db, t.id)
            .await?
            .ok_or(TicketError::NotFound)?;
        let at_counter = (to == TicketState::Called).then_some(&counter);
        self.forget_positions(row.hall_id).await;
        let mut event = event_of(&row, at_counter, now);
        event.event_id = Some(event_id);
        announce(self.store.as_ref(), &event).await;
        Ok(self.view(row).await?)
    }

    /// Returns to the queue every ticket a counter holds for `staff_id` (the member who last
    /// acted on it there), as when that clerk's account is deactivated: a called or serving
    /// ticket waits again in its category, first in its rank since it keeps its original time
    /// and number, and the counter is free to call. Each is recorded as an event. Returns how
    /// many went back.
    ///
    /// # Errors
    /// The database failed.
    #[tracing::instrument(skip(self))]
    pub async fn return_held_by(&self, staff_id: i64) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let mut returned = 0;
        for (counter_id, ticket_id) in queries::desks_held_by(&self.db, staff_id).await? {
            let Some(t) = queries::ticket(&self.db, ticket_id).await? else {
                continue;
            };
            let state = ticket_state(&t)?;
            if !matches!(state, TicketState::Called | TicketState::Serving)
                || t.counter_id != Some(counter_id)
            {
                continue;
            }
            let txn = crate::db::write(&self.db)
                .await
                .context("begin returning a ticket")?;
            let changed = cas(
                &txn,
                &t,
                TicketState::Waiting,
                vec![
                    (ticket::Column::CounterId, Expr::value(Option::<i64>::None)),
                    (ticket::Column::Calls, Expr::value(0)),
                    (
                        ticket::Column::CalledAt,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    ),
                    (
                        ticket::Column::ServingAt,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    ),
                ],
            )
            .await?;
            // Changed meanwhile (the clerk finished it, the citizen cancelled): theirs.
            if !changed {
                continue;
            }
            queries::free_desk(&txn, t.id).await?;
            queries::record(
                &txn,
                queries::Event {
                    ticket_id: t.id,
                    from: Some(state),
                    to: TicketState::Waiting,
                    staff_id: None,
                    counter_id: Some(counter_id),
                    at: now,
                    detail: format!(
                        "returned to the queue: staff member {staff_id} was deactivated"
                    ),
                },
            )
            .await?;
            txn.commit().await.context("commit returning a ticket")?;
            returned += 1;
            if let Some(row) = queries::ticket(&self.db, t.id).await? {
                self.forget_positions(row.hall_id).await;
                announce(self.store.as_ref(), &event_of(&row, None, now)).await;
            }
        }
        if returned > 0 {
            tracing::info!(
                returned,
                "tickets held for a deactivated staff member returned to the queue"
            );
        }
        Ok(returned)
    }

    /// The ticket a counter holds, if any.
    ///
    /// # Errors
    /// [`TicketError::CounterNotFound`].
    pub async fn held_by(
        &self,
        hall_id: i64,
        counter_id: i64,
    ) -> Result<Option<TicketView>, TicketError> {
        queries::counter(&self.db, counter_id)
            .await?
            .filter(|c| c.hall_id == hall_id)
            .ok_or(TicketError::CounterNotFound)?;
        let Some(ticket_id) = queries::desk(&self.db, counter_id)
            .await?
            .and_then(|d| d.ticket_id)
        else {
            return Ok(None);
        };
        match queries::ticket(&self.db, ticket_id).await? {
            Some(t) => Ok(Some(self.view(t).await?)),
            None => Ok(None),
        }
    }

    /// A hall's display board by its code: the latest ten calls and who waits per category.
    ///
    /// # Errors
    /// The database failed; `Ok(None)` for an unknown hall.
    pub async fn board(&self, hall_code: &str) -> anyhow::Result<Option<Board>> {
        let Some(hall) = queries::hall_by_code(&self.db, hall_code).await? else {
            return Ok(None);
        };
        let names = self.names(hall.id).await?.context("the hall vanished")?;
        let day = self.clock.today();
        let tickets: HashMap<i64, ticket::Model> = queries::tickets_of_day(&self.db, hall.id, day)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let calls = queries::recent_calls(&self.db, &tickets, 10)
            .await?
            .into_iter()
            .filter_map(|e| {
                let t = tickets.get(&e.ticket_id)?;
                let c = names.counters.get(&e.counter_id?)?;
                Some(BoardCall {
                    call_id: e.id,
                    ticket_id: t.id,
                    number: t.number.clone(),
                    counter_number: c.number,
                    counter_name: c.name.clone(),
                    announce: call_text(&t.number, c),
                    at: e.at,
                })
            })
            .collect();
        let mut categories: Vec<&category::Model> = names.categories.values().collect();
        categories.sort_by_key(|c| c.id);
        let waiting = categories
            .into_iter()
            .map(|c| {
                let n = tickets
                    .values()
                    .filter(|t| t.category_id == c.id && t.state == TicketState::Waiting.as_str())
                    .count();
                CategoryWaiting {
                    category_id: c.id,
                    prefix: c.prefix.clone(),
                    name: c.name.clone(),
                    waiting: u32::try_from(n).unwrap_or(u32::MAX),
                }
            })
            .collect();
        Ok(Some(Board {
            hall_code: hall.code,
            hall_name: hall.name,
            calls,
            waiting,
        }))
    }

    /// The id of an active hall by its code.
    ///
    /// # Errors
    /// The database failed.
    pub async fn hall_id(&self, hall_code: &str) -> anyhow::Result<Option<i64>> {
        Ok(queries::hall_by_code(&self.db, hall_code)
            .await?
            .map(|h| h.id))
    }

    /// A hall's figures of a day per category: tickets issued, served, no-shows, cancelled,
    /// still waiting, and the average and 90th percentile of the wait (taken → first call) and
    /// of the service (serving → done), all measured from the recorded times.
    ///
    /// # Errors
    /// The database failed; `Ok(None)` for an unknown hall.
    pub async fn stats(
        &self,
        hall_id: i64,
        day: crate::time::Day,
    ) -> anyhow::Result<Option<Vec<CategoryStats>>> {
        let Some(names) = self.names(hall_id).await? else {
            return Ok(None);
        };
        let tickets = queries::tickets_of_day(&self.db, hall_id, day.date()).await?;
        let mut categories: Vec<&category::Model> = names.categories.values().collect();
        categories.sort_by_key(|c| c.id);
        let count = |it: usize| u32::try_from(it).unwrap_or(u32::MAX);
        Ok(Some(
            categories
                .into_iter()
                .map(|c| {
                    let mine: Vec<&ticket::Model> =
                        tickets.iter().filter(|t| t.category_id == c.id).collect();
                    let of = |s: TicketState| mine.iter().filter(|t| t.state == s.as_str()).count();
                    let mut waits: Vec<f64> = mine
                        .iter()
                        .filter_map(|t| Some(queries::secs(t.first_called_at? - t.issued_at)))
                        .collect();
                    let mut services: Vec<f64> = mine
                        .iter()
                        .filter(|t| t.state == TicketState::Done.as_str())
                        .filter_map(|t| Some(queries::secs(t.finished_at? - t.serving_at?)))
                        .collect();
                    let wait = rules::avg_p90(&mut waits);
                    let service = rules::avg_p90(&mut services);
                    CategoryStats {
                        category_id: c.id,
                        category_name: c.name.clone(),
                        prefix: c.prefix.clone(),
                        issued: count(mine.len()),
                        served: count(of(TicketState::Done)),
                        no_shows: count(of(TicketState::NoShow)),
                        cancelled: count(of(TicketState::Cancelled)),
                        waiting: count(of(TicketState::Waiting)),
                        wait_avg_secs: wait.map(|w| w.0),
                        wait_p90_secs: wait.map(|w| w.1),
                        service_avg_secs: service.map(|s| s.0),
                        service_p90_secs: service.map(|s| s.1),
                    }
                })
                .collect(),
        ))
    }
}

/// Creates the priority ticket of a booking being checked in, inside the check-in's
/// transaction; the ticket belongs to the booking's citizen and goes before walk-ins of its
/// category. Call [`announce`] with [`event_of`] after the commit.
pub(crate) async fn issue_for_booking(
    conn: &impl ConnectionTrait,
    booking: &entities::booking::Model,
    staff_id: Option<i64>,
    now: DateTime<Utc>,
) -> anyhow::Result<ticket::Model> {
    let category = queries::category(conn, booking.category_id)
        .await?
        .context("the booking's category vanished")?;
    let day = now.with_timezone(&SHANGHAI).date_naive();
    queries::insert_ticket(
        conn,
        queries::NewTicket {
            hall_id: booking.hall_id,
            category: &category,
            day,
            source: TicketSource::Booking.as_str(),
            priority: rules::RANK_BOOKING,
            green_channel: false,
            citizen_id: Some(booking.citizen_id),
            member_id: booking.member_id,
            booking_id: Some(booking.id),
            item_code: Some(booking.item_code.clone()),
            live_key: None,
            issued_by: staff_id,
            now,
        },
    )
    .await
    .context("issue the booking's ticket")
}

/// The tickets of bookings, by booking id (the latest of each).
pub(crate) async fn briefs_of_bookings(
    conn: &impl ConnectionTrait,
    booking_ids: Vec<i64>,
) -> anyhow::Result<HashMap<i64, TicketBrief>> {
    let mut out: HashMap<i64, (i64, TicketBrief)> = HashMap::new();
    for t in queries::tickets_of_bookings(conn, booking_ids).await? {
        let Some(booking_id) = t.booking_id else {
            continue;
        };
        let brief = TicketBrief {
            id: t.id,
            state: ticket_state(&t)?,
            number: t.number,
        };
        if out.get(&booking_id).is_none_or(|(id, _)| *id < t.id) {
            out.insert(booking_id, (t.id, brief));
        }
    }
    Ok(out.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

/// The hall's day in Asia/Shanghai for an instant.
pub fn service_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&SHANGHAI).date_naive()
}
