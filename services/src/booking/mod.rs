//! Appointments at a hall (预约办): availability, booking, cancelling, rescheduling, check-in,
//! no-shows and bans, and a hall cancelling a day.
//!
//! The one decision to know: the database alone decides who gets a seat. A booking is one
//! transaction that (1) locks the person's row in `booking_holders` (so one identity's limits
//! are counted one booking at a time, whichever WeChat account or gateway instance it comes
//! through), (2) takes a seat with `UPDATE slots SET booked = booked + 1 WHERE booked <
//! capacity`, and (3) inserts the booking, whose unique `active_key` is the last word on "one per
//! identity, item and day". The store only remembers slots found full for a few seconds, so that
//! the rush after a release is turned away without reaching the database; it never grants a
//! seat, and a seat freed by a cancellation clears the mark.

pub(crate) mod queries;
pub mod rules;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Datelike as _, NaiveDate, SubsecRound as _, Utc};
use rand::Rng as _;
use sea_orm::{DatabaseConnection, DbErr, SqlErr};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::calendar::CalendarStore;
use crate::notify::{NotificationKind, Notifications};
use crate::store::Store;
use crate::time::{Clock, Day, SHANGHAI};

pub use rules::{DayHours, DayRefusal, Rules};
pub use worker::{BookingWorker, WorkerReport};

use queries::HallContext;

/// How long the store remembers that a slot was found full. A seat given back (a cancellation,
/// a move) clears the mark at once; the expiry only bounds a mark whose clearing failed.
const FULL_MARK_TTL: Duration = Duration::from_secs(60);
/// The longest date range one availability request may ask for.
pub const MAX_RANGE_DAYS: i64 = 31;

/// A booking's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingStatus {
    Booked,
    CheckedIn,
    Cancelled,
    CancelledByHall,
    Rescheduled,
    NoShow,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "BOOKED",
            Self::CheckedIn => "CHECKED_IN",
            Self::Cancelled => "CANCELLED",
            Self::CancelledByHall => "CANCELLED_BY_HALL",
            Self::Rescheduled => "RESCHEDULED",
            Self::NoShow => "NO_SHOW",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BOOKED" => Self::Booked,
            "CHECKED_IN" => Self::CheckedIn,
            "CANCELLED" => Self::Cancelled,
            "CANCELLED_BY_HALL" => Self::CancelledByHall,
            "RESCHEDULED" => Self::Rescheduled,
            "NO_SHOW" => Self::NoShow,
            _ => return None,
        })
    }
}

/// Statuses that count towards the weekly and monthly limits: what was booked and not given up.
const COUNTED: [&str; 3] = ["BOOKED", "CHECKED_IN", "NO_SHOW"];

/// A slot as a citizen sees it.
#[derive(Debug, Clone)]
pub struct SlotView {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: u32,
    pub left: u32,
}

/// One day of an availability answer.
#[derive(Debug, Clone)]
pub struct DayAvailability {
    pub day: NaiveDate,
    /// `Ok` with the slots when the day can be booked now.
    pub state: Result<Vec<SlotView>, DayRefusal>,
}

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
    /// What the check-in QR code holds (staff scan it).
    pub checkin_qr: String,
    /// The queue ticket the check-in turned the booking into.
    pub ticket: Option<crate::queue::TicketBrief>,
}

/// The QR payload of a booking: the code, which staff may also type.
pub fn checkin_qr(code: &str) -> String {
    format!("ZSBBK:{code}")
}

/// Why availability cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum AvailabilityError {
    #[error("no such hall")]
    HallNotFound,
    #[error("no such item")]
    ItemNotFound,
    #[error("the item is not booked at this hall")]
    ItemNotBookableHere,
    #[error("bad date range")]
    BadRange,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a booking (or a move to another slot) was refused.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// The citizen has not bound a real-name identity.
    #[error("identity required")]
    IdentityRequired,
    /// The bound identity was never proven by face verification.
    #[error("identity not verified")]
    IdentityNotVerified,
    #[error("no such item")]
    ItemNotFound,
    #[error("no such slot")]
    SlotNotFound,
    /// The slot is of another hall, or of a category that does not handle the item there.
    #[error("the slot is not for this item")]
    SlotNotForItem,
    /// The item cannot be booked (not bookable, or not at this hall).
    #[error("the item is not bookable")]
    ItemNotBookable,
    #[error("the slot is in the past")]
    SlotPast,
    #[error("outside the booking window")]
    OutsideWindow,
    #[error("not released yet")]
    NotReleased { at: DateTime<Utc> },
    /// The day's year has no loaded calendar: not released until it has.
    #[error("no calendar for the day's year")]
    NoCalendar { year: i32 },
    /// The slot starts within the cancellation cut-off, which passed at `deadline`: a booking
    /// made now could never be cancelled (and a missed one would count as a no-show), so none
    /// is taken.
    #[error("the slot starts too soon")]
    TooSoon { deadline: DateTime<Utc> },
    /// The hall does not open that day, or cancelled it.
    #[error("the hall is closed")]
    HallClosed,
    #[error("the slot is full")]
    SlotFull,
    /// A live booking of the same person, item and day exists.
    #[error("already booked")]
    AlreadyBooked,
    #[error("weekly limit reached")]
    WeeklyLimit { limit: u32 },
    #[error("monthly limit reached")]
    MonthlyLimit { limit: u32 },
    /// Banned after no-shows or cancellations, through `until` (inclusive).
    #[error("banned")]
    Banned { until: NaiveDate },
    /// The same `Idempotency-Key` came with another request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// (Moving) no such booking of this citizen.
    #[error("no such booking")]
    BookingNotFound,
    /// (Moving) the booking is no longer live, or its cut-off has passed.
    #[error("the booking can no longer be changed")]
    NotChangeable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl BookError {
    /// The refusal as stored for an idempotency key: a code and a detail.
    fn stored(&self) -> Option<(&'static str, String)> {
        Some(match self {
            Self::IdentityRequired => ("IDENTITY_REQUIRED", String::new()),
            Self::IdentityNotVerified => ("IDENTITY_NOT_VERIFIED", String::new()),
            Self::ItemNotFound => ("ITEM_NOT_FOUND", String::new()),
            Self::SlotNotFound => ("SLOT_NOT_FOUND", String::new()),
            Self::SlotNotForItem => ("SLOT_NOT_FOR_ITEM", String::new()),
            Self::ItemNotBookable => ("ITEM_NOT_BOOKABLE", String::new()),
            Self::SlotPast => ("SLOT_PAST", String::new()),
            Self::OutsideWindow => ("OUTSIDE_WINDOW", String::new()),
            Self::NotReleased { at } => ("NOT_RELEASED", at.to_rfc3339()),
            Self::NoCalendar { year } => ("NO_CALENDAR", year.to_string()),
            Self::TooSoon { deadline } => ("TOO_SOON", deadline.to_rfc3339()),
            Self::HallClosed => ("HALL_CLOSED", String::new()),
            Self::SlotFull => ("SLOT_FULL", String::new()),
            Self::AlreadyBooked => ("ALREADY_BOOKED", String::new()),
            Self::WeeklyLimit { limit } => ("WEEKLY_LIMIT", limit.to_string()),
            Self::MonthlyLimit { limit } => ("MONTHLY_LIMIT", limit.to_string()),
            Self::Banned { until } => ("BANNED", until.to_string()),
            Self::IdempotencyKeyReused
            | Self::BookingNotFound
            | Self::NotChangeable
            | Self::Unexpected(_) => return None,
        })
    }

    fn from_stored(code: &str, detail: &str) -> Option<Self> {
        Some(match code {
            "IDENTITY_REQUIRED" => Self::IdentityRequired,
            "IDENTITY_NOT_VERIFIED" => Self::IdentityNotVerified,
            "ITEM_NOT_FOUND" => Self::ItemNotFound,
            "SLOT_NOT_FOUND" => Self::SlotNotFound,
            "SLOT_NOT_FOR_ITEM" => Self::SlotNotForItem,
            "ITEM_NOT_BOOKABLE" => Self::ItemNotBookable,
            "SLOT_PAST" => Self::SlotPast,
            "OUTSIDE_WINDOW" => Self::OutsideWindow,
            "NOT_RELEASED" => Self::NotReleased {
                at: DateTime::parse_from_rfc3339(detail).ok()?.to_utc(),
            },
            "NO_CALENDAR" => Self::NoCalendar {
                year: detail.parse().ok()?,
            },
            "TOO_SOON" => Self::TooSoon {
                deadline: DateTime::parse_from_rfc3339(detail).ok()?.to_utc(),
            },
            "HALL_CLOSED" => Self::HallClosed,
            "SLOT_FULL" => Self::SlotFull,
            "ALREADY_BOOKED" => Self::AlreadyBooked,
            "WEEKLY_LIMIT" => Self::WeeklyLimit {
                limit: detail.parse().ok()?,
            },
            "MONTHLY_LIMIT" => Self::MonthlyLimit {
                limit: detail.parse().ok()?,
            },
            "BANNED" => Self::Banned {
                until: detail.parse().ok()?,
            },
            _ => return None,
        })
    }
}

/// A successful booking; `replayed` when an `Idempotency-Key` returned an earlier answer.
#[derive(Debug, Clone)]
pub struct Booked {
    pub booking: BookingView,
    pub replayed: bool,
}

/// Why a cancellation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no such booking")]
    NotFound,
    /// Already cancelled, checked in, moved or missed.
    #[error("the booking is not live")]
    NotActive,
    #[error("too late to cancel")]
    TooLate { deadline: DateTime<Utc> },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a check-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckInError {
    #[error("no such booking")]
    NotFound,
    /// The booking is for another hall than the one checking in (or whose QR was scanned).
    #[error("the booking is for another hall")]
    WrongHall,
    #[error("the hall QR is not valid")]
    BadHallQr,
    #[error("the booking is not live")]
    NotActive { status: BookingStatus },
    #[error("too early")]
    TooEarly { opens_at: DateTime<Utc> },
    #[error("too late")]
    TooLate,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a hall could not cancel a day.
#[derive(Debug, thiserror::Error)]
pub enum CloseDayError {
    #[error("no such hall")]
    HallNotFound,
    #[error("the day is in the past")]
    Past,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Who books.
#[derive(Debug, Clone, Copy)]
pub struct Booker {
    pub citizen_id: i64,
}

/// A booking request.
#[derive(Debug, Clone)]
pub struct BookRequest {
    pub slot_id: i64,
    pub item_code: String,
    /// The `Idempotency-Key` header, already checked to be 1–64 visible ASCII characters.
    pub idempotency_key: Option<String>,
    /// Booking for a family member rather than for oneself: the booking counts as the member's
    /// (limits, bans, one per item and day) and records both people.
    pub for_member: Option<BookingFor>,
}

/// The family member a booking is for (from `identity::Acting`, where the relation was checked).
#[derive(Debug, Clone)]
pub struct BookingFor {
    /// The relation's id (`family_members.id`).
    pub member_id: i64,
    /// The blind index of the member's ID number.
    pub index: String,
}

impl From<&crate::identity::ActingMember> for BookingFor {
    fn from(m: &crate::identity::ActingMember) -> Self {
        Self {
            member_id: m.id,
            index: m.index.clone(),
        }
    }
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
    halls: Cache<i64, HallContext>,
    items: Cache<String, entities::item::Model>,
    /// When reminders go out on the working day before, minutes after midnight (Shanghai).
    reminder_minute: u32,
}

/// Reminders go out at 18:00 the working day before, unless configured otherwise.
pub const DEFAULT_REMINDER_MINUTE: u32 = 18 * 60;

/// Values read a moment ago, with when they were read.
type Cache<K, V> = Arc<Mutex<HashMap<K, (Instant, Arc<V>)>>>;

/// How long a hall's configuration or an item is trusted once read: an administrator's change
/// reaches every instance within it.
const CONFIG_CACHE_FOR: Duration = Duration::from_secs(5);

fn cached<K: std::hash::Hash + Eq, V>(
    map: &Mutex<HashMap<K, (Instant, Arc<V>)>>,
    key: &K,
) -> Option<Arc<V>> {
    map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
        .filter(|(at, _)| at.elapsed() < CONFIG_CACHE_FOR)
        .map(|(_, v)| Arc::clone(v))
}

fn full_mark(slot_id: i64) -> String {
    format!("slot-full:{slot_id}")
}

/// An 8-character code from an alphabet without look-alikes (no 0/O, 1/I/L), easy to read
/// out at a counter: 32^8 ≈ 10^12, unguessable enough behind a staff login.
fn new_code() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ9";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| char::from(ALPHABET[rng.random_range(0..31)]))
        .collect()
}

/// Which unique index a violation hit.
enum Violation {
    ActiveKey,
    Code,
    IdempotencyKey,
}

fn violation(err: &DbErr) -> Option<Violation> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) => Some(if msg.contains("active_key") {
            Violation::ActiveKey
        } else if msg.contains("idempotency") {
            Violation::IdempotencyKey
        } else {
            Violation::Code
        }),
        _ => None,
    }
}

impl BookingService {
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
            materialized: Arc::default(),
            halls: Arc::default(),
            items: Arc::default(),
            reminder_minute: DEFAULT_REMINDER_MINUTE,
        }
    }

    /// Reminders at `minute` after midnight (Asia/Shanghai) of the working day before the
    /// booking, instead of [`DEFAULT_REMINDER_MINUTE`]; a value past the day counts as 23:59.
    #[must_use]
    pub fn with_reminder_minute(mut self, minute: u32) -> Self {
        self.reminder_minute = minute.min(24 * 60 - 1);
        self
    }

    /// A hall's configuration, read at most every few seconds.
    async fn hall(&self, id: i64) -> anyhow::Result<Option<Arc<HallContext>>> {
        if let Some(ctx) = cached(&self.halls, &id) {
            return Ok(Some(ctx));
        }
        let Some(ctx) = queries::hall_by_id(&self.db, id).await? else {
            return Ok(None);
        };
        let ctx = Arc::new(ctx);
        self.halls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, (Instant::now(), Arc::clone(&ctx)));
        Ok(Some(ctx))
    }

    /// An item of the catalogue, read at most every few seconds.
    async fn item(&self, code: &str) -> anyhow::Result<Option<Arc<entities::item::Model>>> {
        if let Some(item) = cached(&self.items, &code.to_owned()) {
            return Ok(Some(item));
        }
        let Some(item) = queries::item(&self.db, code).await? else {
            return Ok(None);
        };
        let item = Arc::new(item);
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        if items.len() > 10_000 {
            items.clear();
        }
        items.insert(code.to_owned(), (Instant::now(), Arc::clone(&item)));
        Ok(Some(item))
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The worker that marks no-shows, sends reminders and cuts slots ahead of their release.
    pub fn worker(&self) -> BookingWorker {
        BookingWorker::new(self.clone())
    }

    /// Cuts the slots of `day` at a hall (every category) unless already cut. Idempotent and
    /// safe to run on many instances at once: a slot is unique by hall, category and start.
    ///
    /// # Errors
    /// The database failed.
    pub(crate) async fn ensure_slots(
        &self,
        ctx: &HallContext,
        day: NaiveDate,
    ) -> anyhow::Result<()> {
        let key = (ctx.hall.id, day);
        if self
            .materialized
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key)
        {
            return Ok(());
        }
        let calendar = self.calendar.calendar().await?;
        if !calendar.covers(day.year()) {
            // Not cut (nor remembered as cut) until the year is loaded: a make-up Saturday of
            // that year would otherwise stay without slots on this instance.
            return Ok(());
        }
        let hours = ctx.hours_on(day, &calendar);
        if let Some(hours) = hours {
            queries::insert_slots(&self.db, ctx, day, hours).await?;
        }
        self.materialized
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
        Ok(())
    }

    /// Days from `from` to `to` at a hall for an item: for each, its slots with seats left, or
    /// why it cannot be booked now (not released yet, outside the window, closed, past).
    ///
    /// # Errors
    /// [`AvailabilityError::HallNotFound`], [`AvailabilityError::ItemNotFound`],
    /// [`AvailabilityError::ItemNotBookableHere`] (the item is not bookable, or this hall does
    /// not handle it), [`AvailabilityError::BadRange`] (`to` before `from`, or more than
    /// [`MAX_RANGE_DAYS`] days).
    #[tracing::instrument(skip_all, fields(hall = hall_code, item = item_code))]
    pub async fn availability(
        &self,
        hall_code: &str,
        item_code: &str,
        from: Day,
        to: Day,
    ) -> Result<Vec<DayAvailability>, AvailabilityError> {
        if !(0..MAX_RANGE_DAYS).contains(&from.days_until(to)) {
            return Err(AvailabilityError::BadRange);
        }
        let (from, to) = (from.date(), to.date());
        let hall_id = crate::halls::hall_id_by_code(&self.db, hall_code)
            .await?
            .ok_or(AvailabilityError::HallNotFound)?;
        let ctx = self
            .hall(hall_id)
            .await?
            .ok_or(AvailabilityError::HallNotFound)?;
        let item = self
            .item(item_code)
            .await?
            .ok_or(AvailabilityError::ItemNotFound)?;
        let category_id = ctx
            .category_of(item_code)
            .filter(|_| item.bookable && ctx.hall.active)
            .ok_or(AvailabilityError::ItemNotBookableHere)?;
        let calendar = self.calendar.calendar().await?;
        let now = self.clock.now();
        let rules = ctx.rules();
        let mut days = Vec::new();
        let mut open_days = Vec::new();
        let mut day = from;
        while day <= to {
            let state =
                rules::bookable_day(day, now, &calendar, &rules, ctx.hours_on(day, &calendar))
                    .map(|_| Vec::new());
            if state.is_ok() {
                self.ensure_slots(&ctx, day).await?;
                open_days.push(day);
            }
            days.push(DayAvailability { day, state });
            day = day.succ_opt().ok_or(AvailabilityError::BadRange)?;
        }
        if let (Some(first), Some(last)) = (open_days.first(), open_days.last()) {
            let slots =
                queries::open_slots(&self.db, ctx.hall.id, category_id, *first, *last).await?;
            for slot in slots {
                // A slot inside the cancellation cut-off is not offered: it could not be
                // booked (see `BookError::TooSoon`).
                if slot.starts_at <= now || !rules::can_cancel(slot.starts_at, now, &rules) {
                    continue;
                }
                if let Some(DayAvailability {
                    state: Ok(list), ..
                }) = days.iter_mut().find(|d| d.day == slot.day)
                {
                    let capacity = u32::try_from(slot.capacity).unwrap_or(0);
                    let booked = u32::try_from(slot.booked).unwrap_or(0);
                    list.push(SlotView {
                        id: slot.id,
                        starts_at: slot.starts_at,
                        ends_at: slot.ends_at,
                        capacity,
                        left: capacity.saturating_sub(booked),
                    });
                }
            }
        }
        Ok(days)
    }

    /// Books a slot for an item.
    ///
    /// # Errors
    /// Every refusal of [`BookError`]: the request (no identity bound, unknown item or slot, a
    /// slot of another hall or category, a past, unreleased or out-of-window day, a closed hall),
    /// the person (banned, weekly or monthly limit, already booked that item that day), the slot
    /// (full), or the key (reused with another request).
    #[tracing::instrument(skip_all, fields(citizen_id = who.citizen_id, slot_id = request.slot_id))]
    pub async fn book(&self, who: Booker, request: &BookRequest) -> Result<Booked, BookError> {
        let member = request.for_member.as_ref().map(|m| m.member_id);
        let fingerprint = hex::encode(Sha256::digest(
            match member {
                None => format!("book\n{}\n{}", request.slot_id, request.item_code),
                Some(m) => format!("book\n{}\n{}\n{m}", request.slot_id, request.item_code),
            }
            .as_bytes(),
        ));
        if let Some(key) = &request.idempotency_key
            && let Some(answer) = self.replay(who, key, &fingerprint).await?
        {
            return answer;
        }
        let result = self.book_once(who, request, &fingerprint, None).await;
        self.remember(
            who,
            request.idempotency_key.as_deref(),
            &fingerprint,
            result,
        )
        .await
    }

    /// Moves a booking to another slot in one step: the new seat is taken and the old one given
    /// back in one transaction, so the citizen ends with exactly one of the two.
    ///
    /// # Errors
    /// As [`BookingService::book`], plus [`BookError::BookingNotFound`] and
    /// [`BookError::NotChangeable`] (not live, or past its cut-off).
    #[tracing::instrument(skip_all, fields(citizen_id = who.citizen_id, booking_id = booking_id))]
    pub async fn reschedule(
        &self,
        who: Booker,
        booking_id: i64,
        slot_id: i64,
    ) -> Result<Booked, BookError> {
        let old = queries::booking_of(&self.db, who.citizen_id, booking_id)
            .await?
            .ok_or(BookError::BookingNotFound)?;
        let request = BookRequest {
            slot_id,
            item_code: old.item_code.clone(),
            idempotency_key: None,
            // A member's booking moves as the member's.
            for_member: old.member_id.map(|member_id| BookingFor {
                member_id,
                index: old.identity_index.clone(),
            }),
        };
        let booked = self.book_once(who, &request, "", Some(old.clone())).await?;
        self.clear_full_mark(old.slot_id).await;
        Ok(booked)
    }

    async fn replay(
        &self,
        who: Booker,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<Result<Booked, BookError>>, BookError> {
        let Some(row) = queries::idempotency(&self.db, who.citizen_id, key).await? else {
            return Ok(None);
        };
        if row.fingerprint != fingerprint {
            return Ok(Some(Err(BookError::IdempotencyKeyReused)));
        }
        if let Some(id) = row.booking_id {
            let booking = self
                .view(who.citizen_id, id)
                .await?
                .context("a remembered booking vanished")?;
            return Ok(Some(Ok(Booked {
                booking,
                replayed: true,
            })));
        }
        let refusal = row
            .error_code
            .as_deref()
            .and_then(|c| BookError::from_stored(c, row.error_detail.as_deref().unwrap_or("")));
        Ok(refusal.map(Err))
    }

    /// Keeps a refusal for the key (a success was kept in its own transaction), or, when the
    /// key turns out to be taken by a request that ran at the same time, answers as it did.
    async fn remember(
        &self,
        who: Booker,
        key: Option<&str>,
        fingerprint: &str,
        result: Result<Booked, BookError>,
    ) -> Result<Booked, BookError> {
        let Some(key) = key else { return result };
        match &result {
            Ok(_) => result,
            Err(e) => {
                // A request with the same key that ran at the same time may have won.
                if let Some(answer) = self.replay(who, key, fingerprint).await? {
                    return answer;
                }
                if let Some((code, detail)) = e.stored() {
                    queries::remember_refusal(
                        &self.db,
                        who.citizen_id,
                        key,
                        fingerprint,
                        code,
                        &detail,
                        self.clock.now(),
                    )
                    .await?;
                }
                result
            }
        }
    }

    async fn book_once(
        &self,
        who: Booker,
        request: &BookRequest,
        fingerprint: &str,
        moving: Option<entities::booking::Model>,
    ) -> Result<Booked, BookError> {
        // A slot known to be full is refused before anything reaches the database.
        if self.known_full(request.slot_id).await {
            metrics::counter!("booking_slot_full_total", "decided_by" => "store").increment(1);
            return Err(BookError::SlotFull);
        }
        let identity = match &request.for_member {
            Some(member) => member.index.clone(),
            None => match queries::identity_index(&self.db, who.citizen_id).await? {
                Ok(index) => index,
                Err(crate::identity::IdentityGate::Missing) => {
                    return Err(BookError::IdentityRequired);
                }
                Err(crate::identity::IdentityGate::Unverified) => {
                    return Err(BookError::IdentityNotVerified);
                }
            },
        };
        // A booking that can no longer be moved says so, whatever the slot asked for.
        if let Some(old) = &moving {
            let old_hall = self
                .hall(old.hall_id)
                .await?
                .ok_or(BookError::BookingNotFound)?;
            if old.status != BookingStatus::Booked.as_str()
                || !rules::can_cancel(old.starts_at, self.clock.now(), &old_hall.rules())
            {
                return Err(BookError::NotChangeable);
            }
        }
        let slot = queries::slot(&self.db, request.slot_id)
            .await?
            .ok_or(BookError::SlotNotFound)?;
        let ctx = self
            .hall(slot.hall_id)
            .await?
            .ok_or(BookError::SlotNotFound)?;
        let item = self
            .item(&request.item_code)
            .await?
            .ok_or(BookError::ItemNotFound)?;
        match ctx.category_of(&item.item_code) {
            _ if !item.bookable || !ctx.hall.active => return Err(BookError::ItemNotBookable),
            None => return Err(BookError::SlotNotForItem),
            Some(category) if category != slot.category_id => {
                return Err(BookError::SlotNotForItem);
            }
            Some(_) => {}
        }
        // Microseconds: what the database keeps, so the answer reads as the row does later.
        let now = self.clock.now().trunc_subsecs(6);
        let rules = ctx.rules();
        let calendar = self.calendar.calendar().await?;
        if slot.starts_at <= now {
            return Err(BookError::SlotPast);
        }
        rules::bookable_day(
            slot.day,
            now,
            &calendar,
            &rules,
            ctx.hours_on(slot.day, &calendar),
        )
        .map_err(|refusal| match refusal {
            DayRefusal::Past => BookError::SlotPast,
            DayRefusal::OutsideWindow => BookError::OutsideWindow,
            DayRefusal::NotReleased { at } => BookError::NotReleased { at },
            DayRefusal::Closed => BookError::HallClosed,
            DayRefusal::NoCalendar => BookError::NoCalendar {
                year: slot.day.year(),
            },
        })?;
        if !rules::can_cancel(slot.starts_at, now, &rules) {
            return Err(BookError::TooSoon {
                deadline: rules::cancel_deadline(slot.starts_at, &rules),
            });
        }
        if slot.status != "OPEN" {
            return Err(BookError::HallClosed);
        }
        if slot.booked >= slot.capacity {
            metrics::counter!("booking_slot_full_total", "decided_by" => "database").increment(1);
            self.mark_full(slot.id).await;
            return Err(BookError::SlotFull);
        }
        if let Some(old) = &moving
            && old.slot_id == slot.id
        {
            return Err(BookError::AlreadyBooked);
        }

        let today = now.with_timezone(&SHANGHAI).date_naive();
        let txn = crate::db::write(&self.db)
            .await
            .context("begin the booking")?;
        // Serialises this person's bookings (and, on SQLite, takes the write lock first).
        queries::lock_holder(&txn, &identity).await?;
        if let Some(until) = queries::banned_until(&txn, &identity, today).await? {
            return Err(BookError::Banned { until });
        }
        let except = moving.as_ref().map(|b| b.id);
        let (monday, sunday) = rules::week_of(slot.day);
        let (first, last) = rules::month_of(slot.day);
        // One read for both limits: the person's counted days around the slot's day.
        let days =
            queries::counted_days(&txn, &identity, monday.min(first), sunday.max(last), except)
                .await?;
        let within = |from, to| days.iter().filter(|&&d| from <= d && d <= to).count();
        if within(monday, sunday) >= rules.weekly_limit as usize {
            return Err(BookError::WeeklyLimit {
                limit: rules.weekly_limit,
            });
        }
        if within(first, last) >= rules.monthly_limit as usize {
            return Err(BookError::MonthlyLimit {
                limit: rules.monthly_limit,
            });
        }
        // Seats in slot-id order, so two people moving between the same two slots in opposite
        // directions cannot deadlock; and slot rows before booking rows, as in every
        // transaction that touches both (a hall closing a day locks its slots, then its
        // bookings). Should the old booking turn out no longer live, the rollback undoes it all.
        let give_back = moving.as_ref().map(|b| b.slot_id);
        if let Some(old_slot) = give_back.filter(|&o| o < slot.id) {
            queries::release_seat(&txn, old_slot).await?;
        }
        if !queries::take_seat(&txn, slot.id).await? {
            drop(txn);
            // The hall may have closed the day since the slot was read.
            if queries::slot(&self.db, slot.id)
                .await?
                .is_some_and(|s| s.status != "OPEN")
            {
                return Err(BookError::HallClosed);
            }
            metrics::counter!("booking_slot_full_total", "decided_by" => "database").increment(1);
            self.mark_full(slot.id).await;
            return Err(BookError::SlotFull);
        }
        if let Some(old_slot) = give_back.filter(|&o| o > slot.id) {
            queries::release_seat(&txn, old_slot).await?;
        }
        if let Some(old) = &moving
            && !queries::retire(&txn, old.id, BookingStatus::Rescheduled, now, None).await?
        {
            return Err(BookError::NotChangeable);
        }
        let code = new_code();
        let inserted = queries::insert_booking(
            &txn,
            queries::NewBooking {
                code: &code,
                citizen_id: who.citizen_id,
                member_id: request.for_member.as_ref().map(|m| m.member_id),
                identity_index: &identity,
                slot: &slot,
                item_code: &item.item_code,
                now,
            },
        )
        .await;
        let id = match inserted {
            Ok(id) => id,
            Err(e) => {
                return Err(match violation(&e) {
                    Some(Violation::ActiveKey) => BookError::AlreadyBooked,
                    _ => anyhow::Error::new(e).context("insert the booking").into(),
                });
            }
        };
        if let Some(old) = &moving {
            queries::set_rescheduled_to(&txn, old.id, id).await?;
        }
        if let Some(key) = &request.idempotency_key {
            let kept =
                queries::remember_booking(&txn, who.citizen_id, key, fingerprint, id, now).await;
            if let Err(e) = kept {
                return Err(match violation(&e) {
                    Some(Violation::IdempotencyKey) => {
                        anyhow::anyhow!("the idempotency key was taken meanwhile").into()
                    }
                    _ => anyhow::Error::new(e)
                        .context("keep the idempotency key")
                        .into(),
                });
            }
        }
        let payload = json!({
            "booking_id": id,
            "booking_code": code,
            "hall_name": ctx.hall.name,
            "item_name": item.name,
            "slot_start": slot.starts_at.to_rfc3339(),
        });
        self.notifications
            .notify(
                &txn,
                who.citizen_id,
                NotificationKind::BookingConfirmed,
                &payload,
                &format!("booking-confirmed:{id}"),
            )
            .await
            .context("notify the booking")?;
        txn.commit().await.context("commit the booking")?;
        metrics::counter!("bookings_total", "kind" => if moving.is_some() { "moved" } else { "new" })
            .increment(1);
        self.notifications.wake().await;
        let row = entities::booking::Model {
            id,
            code,
            citizen_id: who.citizen_id,
            identity_index: identity,
            hall_id: slot.hall_id,
            category_id: slot.category_id,
            slot_id: slot.id,
            item_code: item.item_code.clone(),
            day: slot.day,
            starts_at: slot.starts_at,
            status: BookingStatus::Booked.as_str().to_owned(),
            active_key: None,
            created_at: now,
            cancelled_at: None,
            cancel_reason: None,
            checked_in_at: None,
            checked_in_by: None,
            no_show_at: None,
            reminded_at: None,
            rescheduled_to: None,
            member_id: request.for_member.as_ref().map(|m| m.member_id),
        };
        let booking = queries::view_of(
            row,
            &ctx.hall,
            ctx.category_name(slot.category_id),
            slot.ends_at,
            &item.name,
        )?;
        Ok(Booked {
            booking,
            replayed: false,
        })
    }

    async fn known_full(&self, slot_id: i64) -> bool {
        // A store that fails only sends the request on to the database.
        matches!(self.store.get(&full_mark(slot_id)).await, Ok(Some(_)))
    }

    async fn mark_full(&self, slot_id: i64) {
        if let Err(e) = self
            .store
            .set(&full_mark(slot_id), b"1", Some(FULL_MARK_TTL))
            .await
        {
            tracing::warn!(error = %e, slot_id, "could not mark the slot full");
        }
    }

    async fn clear_full_mark(&self, slot_id: i64) {
        if let Err(e) = self.store.delete(&full_mark(slot_id)).await {
            tracing::warn!(error = %e, slot_id, "could not clear the slot's full mark");
        }
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

    /// Cancels a live booking before its cut-off and gives its seat back. The cancellation
    /// counts towards the cancellation ban.
    ///
    /// # Errors
    /// [`CancelError::NotFound`] (not this citizen's), [`CancelError::NotActive`],
    /// [`CancelError::TooLate`] with the deadline.
    #[tracing::instrument(skip_all, fields(citizen_id = who.citizen_id, booking_id = booking_id))]
    pub async fn cancel(&self, who: Booker, booking_id: i64) -> Result<BookingView, CancelError> {
        let booking = queries::booking_of(&self.db, who.citizen_id, booking_id)
            .await?
            .ok_or(CancelError::NotFound)?;
        if booking.status != BookingStatus::Booked.as_str() {
            return Err(CancelError::NotActive);
        }
        let ctx = self
            .hall(booking.hall_id)
            .await?
            .ok_or(CancelError::NotFound)?;
        let rules = ctx.rules();
        let now = self.clock.now();
        if !rules::can_cancel(booking.starts_at, now, &rules) {
            return Err(CancelError::TooLate {
                deadline: rules::cancel_deadline(booking.starts_at, &rules),
            });
        }
        let txn = crate::db::write(&self.db)
            .await
            .context("begin the cancellation")?;
        queries::lock_holder(&txn, &booking.identity_index).await?;
        // The slot row before the booking row, the order every transaction locks them in (a
        // hall closing the day takes its slots, then its bookings); if the booking is no longer
        // live, the rollback gives the seat back its count.
        queries::release_seat(&txn, booking.slot_id).await?;
        if !queries::retire(&txn, booking.id, BookingStatus::Cancelled, now, None).await? {
            return Err(CancelError::NotActive);
        }
        let since = now - chrono::Duration::days(i64::from(rules.penalty_window_days));
        let cancellations = queries::count_since(
            &txn,
            &booking.identity_index,
            BookingStatus::Cancelled,
            since,
        )
        .await?;
        if rules.cancel_limit > 0 && cancellations >= u64::from(rules.cancel_limit) {
            let today = now.with_timezone(&SHANGHAI).date_naive();
            let until = today + chrono::Duration::days(i64::from(rules.ban_days));
            queries::ban(&txn, &booking.identity_index, until, "CANCELLATIONS", now).await?;
        }
        txn.commit().await.context("commit the cancellation")?;
        self.clear_full_mark(booking.slot_id).await;
        self.view(who.citizen_id, booking.id)
            .await?
            .ok_or(CancelError::NotFound)
    }

    /// A citizen checks in by scanning the hall's QR code.
    ///
    /// # Errors
    /// See [`CheckInError`].
    pub async fn check_in_by_citizen(
        &self,
        who: Booker,
        booking_id: i64,
        hall_qr: &str,
    ) -> Result<BookingView, CheckInError> {
        let booking = queries::booking_of(&self.db, who.citizen_id, booking_id)
            .await?
            .ok_or(CheckInError::NotFound)?;
        let ctx = queries::hall_by_id(&self.db, booking.hall_id)
            .await?
            .ok_or(CheckInError::NotFound)?;
        let Some((code, secret)) = hall_qr
            .strip_prefix("ZSBHALL:")
            .and_then(|rest| rest.rsplit_once(':'))
        else {
            return Err(CheckInError::BadHallQr);
        };
        if code != ctx.hall.code {
            return Err(CheckInError::WrongHall);
        }
        let expected = ctx.hall.checkin_secret.as_bytes();
        if !bool::from(secret.as_bytes().ct_eq(expected)) {
            return Err(CheckInError::BadHallQr);
        }
        self.check_in(booking, &ctx, None).await
    }

    /// Staff at a hall check a citizen in by the booking's code (scanned or typed).
    ///
    /// # Errors
    /// See [`CheckInError`]; a booking of another hall is [`CheckInError::WrongHall`].
    pub async fn check_in_by_staff(
        &self,
        hall_id: i64,
        code_or_qr: &str,
        staff_id: i64,
    ) -> Result<BookingView, CheckInError> {
        let code = code_or_qr.trim();
        let code = code
            .strip_prefix("ZSBBK:")
            .unwrap_or(code)
            .to_ascii_uppercase();
        let booking = queries::booking_by_code(&self.db, &code)
            .await?
            .ok_or(CheckInError::NotFound)?;
        if booking.hall_id != hall_id {
            return Err(CheckInError::WrongHall);
        }
        let ctx = queries::hall_by_id(&self.db, hall_id)
            .await?
            .ok_or(CheckInError::NotFound)?;
        self.check_in(booking, &ctx, Some(staff_id)).await
    }

    async fn check_in(
        &self,
        booking: entities::booking::Model,
        ctx: &HallContext,
        staff_id: Option<i64>,
    ) -> Result<BookingView, CheckInError> {
        let status = BookingStatus::parse(&booking.status).context("unknown booking status")?;
        if status == BookingStatus::CheckedIn {
            // Scanning twice is not an error: the citizen is in.
            return queries::views(&self.db, vec![booking])
                .await?
                .pop()
                .ok_or(CheckInError::NotFound);
        }
        if status != BookingStatus::Booked {
            return Err(CheckInError::NotActive { status });
        }
        let now = self.clock.now();
        match rules::checkin_time(booking.starts_at, now, &ctx.rules()) {
            rules::CheckinTime::TooEarly { opens_at } => {
                return Err(CheckInError::TooEarly { opens_at });
            }
            rules::CheckinTime::TooLate => return Err(CheckInError::TooLate),
            rules::CheckinTime::Open => {}
        }
        // The check-in and the priority ticket it turns into are one transaction.
        let txn = crate::db::write(&self.db)
            .await
            .context("begin the check-in")?;
        if queries::mark_checked_in(&txn, booking.id, now, staff_id).await? {
            let ticket = crate::queue::issue_for_booking(&txn, &booking, staff_id, now).await?;
            txn.commit().await.context("commit the check-in")?;
            crate::queue::announce(
                self.store.as_ref(),
                &crate::queue::event_of(&ticket, None, now),
            )
            .await;
        } else {
            drop(txn);
            let status = queries::booking_by_code(&self.db, &booking.code)
                .await?
                .and_then(|b| BookingStatus::parse(&b.status))
                .unwrap_or(BookingStatus::Cancelled);
            if status != BookingStatus::CheckedIn {
                return Err(CheckInError::NotActive { status });
            }
        }
        let row = queries::booking_by_code(&self.db, &booking.code)
            .await?
            .ok_or(CheckInError::NotFound)?;
        queries::views(&self.db, vec![row])
            .await?
            .pop()
            .ok_or(CheckInError::NotFound)
    }

    /// The hall cancels a day (a closure): the day is closed, its slots stop taking bookings,
    /// and every live booking of it is cancelled (not counted against the citizen) and
    /// notified, all in one transaction. Returns how many bookings were cancelled.
    ///
    /// # Errors
    /// [`CloseDayError::HallNotFound`], [`CloseDayError::Past`] (today or earlier).
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, day = %day))]
    pub async fn close_day(
        &self,
        hall_id: i64,
        day: Day,
        reason: &str,
    ) -> Result<usize, CloseDayError> {
        let day = day.date();
        let ctx = queries::hall_by_id(&self.db, hall_id)
            .await?
            .ok_or(CloseDayError::HallNotFound)?;
        let now = self.clock.now();
        if day <= now.with_timezone(&SHANGHAI).date_naive() {
            return Err(CloseDayError::Past);
        }
        let txn = crate::db::write(&self.db)
            .await
            .context("begin closing the day")?;
        queries::close_day(&txn, hall_id, day, reason).await?;
        let victims = queries::live_bookings_of_day(&txn, hall_id, day).await?;
        let mut cancelled = 0;
        for booking in &victims {
            if !queries::retire(
                &txn,
                booking.id,
                BookingStatus::CancelledByHall,
                now,
                Some(reason),
            )
            .await?
            {
                continue;
            }
            cancelled += 1;
            let item = queries::item(&txn, &booking.item_code).await?;
            let payload = json!({
                "booking_id": booking.id,
                "booking_code": booking.code,
                "hall_name": ctx.hall.name,
                "item_name": item.map(|i| i.name).unwrap_or_default(),
                "slot_start": booking.starts_at.to_rfc3339(),
                "reason": reason,
            });
            self.notifications
                .notify(
                    &txn,
                    booking.citizen_id,
                    NotificationKind::BookingCancelledByHall,
                    &payload,
                    &format!("booking-cancelled-by-hall:{}", booking.id),
                )
                .await
                .context("notify the cancellation")?;
        }
        txn.commit().await.context("commit closing the day")?;
        self.materialized
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(hall_id, day));
        self.halls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&hall_id);
        self.notifications.wake().await;
        Ok(cancelled)
    }
}
