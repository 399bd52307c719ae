//! Appointments at a hall (预约办): availability, booking, cancelling, rescheduling, check-in,
//! no-shows and bans, and a hall cancelling a day.
//!
//! The one decision to know: the database alone decides who gets a seat. A booking is one
//! transaction that (1) locks the person's row in `booking_holders` (so one identity's limits
//! are counted one booking at a time, whichever WeChat account or gateway instance it comes
//! through), (2) takes a seat with `UPDATE slots SET booked = booked + 1 WHERE booked <
//! capacity`, and (3) inserts the booking, whose unique `active_key` is the last word on "one per
//! identity, item and day". Each instance only remembers, in memory, the slots it found full, for
//! at most [`FULL_FLAG_TTL`] (a [`LocalFlags`]), so that the rush after a release is turned
//! away without a round trip to anything; the flag never grants a seat, and every seat given
//! back (a cancellation, a move away, a hall closing the day) clears it on every instance
//! through the store's pub/sub.

mod availability;
mod book;
mod bundle;
mod cancel;
mod checkin;
mod close_day;
mod day_read;
mod one_statement;
pub(crate) mod queries;
pub mod rules;
mod worker;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;

use crate::calendar::CalendarStore;
use crate::notify::Notifications;
use crate::store::{LocalFlags, Store};
use crate::time::{Clock, Day};

pub use availability::{AvailabilityError, DayAvailability, MAX_RANGE_DAYS, SlotView};
pub use book::{BookError, BookRequest, Booked, BookingFor, SubjectCode};
pub use cancel::CancelError;
pub use checkin::CheckInError;
pub use close_day::CloseDayError;
pub use one_statement::Path;
pub use rules::DayRefusal;
pub use worker::{BookingWorker, WorkerReport};

use crate::cache::TtlCache;
use crate::halls::{HALL_CACHE_FOR, HallDirectory, HallModel};

pub use entities::status::{BookingStatus, SlotStatus};

/// Statuses that count towards the weekly and monthly limits: what was booked and not given up.
const COUNTED: [BookingStatus; 3] = [
    BookingStatus::Booked,
    BookingStatus::CheckedIn,
    BookingStatus::NoShow,
];

/// A booking as its citizen (or the hall's staff) sees it.
#[derive(Debug, Clone)]
pub struct BookingView {
    pub id: i64,
    pub code: String,
    pub status: BookingStatus,
    pub hall_code: String,
    pub hall_name: String,
    pub hall_address: String,
    pub item_code: String,
    pub item_name: String,
    pub category_name: String,
    pub slot_id: i64,
    pub day: NaiveDate,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Until when it can be cancelled or moved.
    pub cancel_deadline: DateTime<Utc>,
    pub checkin_opens_at: DateTime<Utc>,
    pub checkin_closes_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub rescheduled_to: Option<i64>,
    /// The family member it is for, when the account booked for one.
    pub member_id: Option<i64>,
    /// `item_code` and `item_name` are a 一件事 bundle's (see `bundle.rs`).
    pub bundle: bool,
    /// What the check-in QR code holds (staff scan it).
    pub checkin_qr: String,
    /// The queue ticket the check-in turned the booking into.
    pub ticket: Option<crate::queue::TicketBrief>,
}

/// The QR payload of a booking: the code, which staff may also type.
pub fn checkin_qr(code: &str) -> String {
    format!("ZSBBK:{code}")
}

/// Who books.
#[derive(Debug, Clone, Copy)]
pub struct Booker {
    pub citizen_id: i64,
}

/// The booking service.
#[derive(Clone)]
pub struct BookingService {
    db: DatabaseConnection,
    store: Arc<dyn Store>,
    calendar: CalendarStore,
    notifications: Notifications,
    clock: Clock,
    /// Days whose slots this instance has cut already.
    materialized: Arc<Mutex<HashSet<(i64, NaiveDate)>>>,
    /// Halls and items as read a moment ago: the rush reads them thousands of times a second.
    halls: HallDirectory,
    items: TtlCache<String, entities::item::Model>,
    /// When reminders go out on the working day before, minutes after midnight (Shanghai).
    reminder_minute: u32,
    /// Slots this instance found full a moment ago (see [`FULL_FLAG_TTL`]).
    full: LocalFlags,
    /// Reads of a hall's day of slots, shared by the bookings in flight (`day_read.rs`).
    days: day_read::DayReads,
    /// This instance's decisions by path.
    paths: one_statement::Paths,
}

/// How long an instance believes, without asking the database, that a slot it found full is
/// still full: the bound within which a seat given back on another instance becomes bookable
/// everywhere when the store's pub/sub message is lost (it usually arrives within
/// milliseconds, and the instance that gave the seat back drops its flag at once).
pub const FULL_FLAG_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The store's channel on which a seat given back clears the slot's flag everywhere.
const FULL_FLAG_CHANNEL: &str = "booking:slot-full";

/// Reminders go out at 18:00 the working day before, unless configured otherwise.
pub const DEFAULT_REMINDER_MINUTE: u32 = 18 * 60;

impl BookingService {
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn Store>,
        calendar: CalendarStore,
        notifications: Notifications,
        clock: Clock,
    ) -> Self {
        let halls = HallDirectory::new(db.clone());
        let full = LocalFlags::new(Arc::clone(&store), FULL_FLAG_CHANNEL, FULL_FLAG_TTL);
        Self {
            db,
            store,
            calendar,
            notifications,
            clock,
            materialized: Arc::default(),
            halls,
            // An item is trusted as long as a hall's configuration.
            items: TtlCache::new(HALL_CACHE_FOR, 10_000),
            reminder_minute: DEFAULT_REMINDER_MINUTE,
            full,
            days: day_read::DayReads::default(),
            paths: one_statement::Paths::default(),
        }
    }

    /// Reminders at `minute` after midnight (Asia/Shanghai) of the working day before the
    /// booking, instead of [`DEFAULT_REMINDER_MINUTE`]; a value past the day counts as 23:59.
    #[must_use]
    pub fn with_reminder_minute(mut self, minute: u32) -> Self {
        self.reminder_minute = minute.min(24 * 60 - 1);
        self
    }

    /// Shares the halls' read models with the other capabilities of this instance (one cache
    /// of them), instead of a directory of its own.
    #[must_use]
    pub fn with_halls(mut self, halls: HallDirectory) -> Self {
        self.halls = halls;
        self
    }

    /// The halls' read models this service reads.
    pub fn halls(&self) -> &HallDirectory {
        &self.halls
    }

    /// A hall's read model, read at most every few seconds.
    async fn hall(&self, id: i64) -> anyhow::Result<Option<Arc<HallModel>>> {
        self.halls.get(id).await
    }

    /// An item of the catalogue, read at most every few seconds.
    async fn item(&self, code: &str) -> anyhow::Result<Option<Arc<entities::item::Model>>> {
        if let Some(item) = self.items.get(&code.to_owned()) {
            return Ok(Some(item));
        }
        let Some(item) = crate::catalogue::queries::item(&self.db, code).await? else {
            return Ok(None);
        };
        let item = Arc::new(item);
        self.items.put(code.to_owned(), Arc::clone(&item));
        Ok(Some(item))
    }

    /// How many reads of a hall's day of slots this instance made for bookings (shared by the
    /// bookings in flight at the same time): a test hook.
    pub fn day_reads(&self) -> u64 {
        self.days.reads()
    }

    /// How many bookings this instance decided by `path` (a test hook: PostgreSQL must take the
    /// one statement for a new booking).
    pub fn decisions(&self, path: Path) -> u64 {
        self.paths.get(path)
    }

    /// Whether this instance keeps full flags yet (it is subscribed to their clears).
    pub fn full_flags_live(&self) -> bool {
        self.full.is_live()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The worker that marks no-shows, sends reminders and cuts slots ahead of their release.
    pub fn worker(&self) -> BookingWorker {
        BookingWorker::new(self.clone())
    }

    /// One booking of a citizen.
    ///
    /// # Errors
    /// The database failed.
    pub async fn view(
        &self,
        citizen_id: i64,
        booking_id: i64,
    ) -> anyhow::Result<Option<BookingView>> {
        let Some(row) = queries::booking_of(&self.db, citizen_id, booking_id).await? else {
            return Ok(None);
        };
        Ok(queries::views(&self.db, vec![row]).await?.pop())
    }

    /// A citizen's bookings, newest first (at most `limit`, before booking id `before`).
    ///
    /// # Errors
    /// The database failed.
    pub async fn mine(
        &self,
        citizen_id: i64,
        before: Option<i64>,
        limit: u64,
    ) -> anyhow::Result<Vec<BookingView>> {
        let rows = queries::bookings_of(&self.db, citizen_id, before, limit).await?;
        queries::views(&self.db, rows).await
    }

    /// One booking of a hall, for its staff, with the citizen who made it (for the counter's
    /// masked brief).
    ///
    /// # Errors
    /// The database failed; `Ok(None)` for a booking not of this hall.
    pub async fn of_hall(
        &self,
        hall_id: i64,
        booking_id: i64,
    ) -> anyhow::Result<Option<(BookingView, i64)>> {
        let Some(row) = queries::booking_of_hall(&self.db, hall_id, booking_id).await? else {
            return Ok(None);
        };
        let citizen_id = row.citizen_id;
        Ok(queries::views(&self.db, vec![row])
            .await?
            .into_iter()
            .next()
            .map(|v| (v, citizen_id)))
    }

    /// A hall's bookings of a day, for its staff.
    ///
    /// # Errors
    /// The database failed.
    pub async fn of_hall_day(&self, hall_id: i64, day: Day) -> anyhow::Result<Vec<BookingView>> {
        let rows = queries::bookings_of_hall_day(&self.db, hall_id, day.date()).await?;
        queries::views(&self.db, rows).await
    }
}
