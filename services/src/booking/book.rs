//! Booking a slot, and moving a booking to another slot in one step; the `Idempotency-Key`
//! that makes a repeated request answer as the first did.

use crate::notify::NotificationKind;
use crate::time::SHANGHAI;
use anyhow::Context as _;
use chrono::{DateTime, Datelike as _, NaiveDate, SubsecRound as _, Utc};
use rand::Rng as _;
use sea_orm::{DbBackend, DbErr};

use super::one_statement::{OneStatement, Path};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::*;

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

/// The refusals kept for an idempotency key, each with its stored code and (for those that
/// carry one) its detail: the one table both directions are generated from, so a code can
/// never be written that is not read back.
/// A refusal's detail: its one field shown, or nothing.
macro_rules! stored_detail {
    () => {
        String::new()
    };
    ($field:ident) => {
        Detail::show($field)
    };
}

macro_rules! stored_refusals {
    ($($code:literal => $variant:ident $({ $field:ident })?,)*) => {
        impl BookError {
            /// The refusal as stored for an idempotency key: a code and a detail.
            fn stored(&self) -> Option<(&'static str, String)> {
                match self {
                    $(Self::$variant $({ $field })? => {
                        Some(($code, stored_detail!($($field)?)))
                    })*
                    _ => None,
                }
            }

            fn from_stored(code: &str, detail: &str) -> Option<Self> {
                let _ = detail;
                match code {
                    $($code => Some(Self::$variant $({ $field: Detail::read(detail)? })?),)*
                    _ => None,
                }
            }
        }
    };
}

stored_refusals! {
    "IDENTITY_REQUIRED" => IdentityRequired,
    "IDENTITY_NOT_VERIFIED" => IdentityNotVerified,
    "ITEM_NOT_FOUND" => ItemNotFound,
    "SLOT_NOT_FOUND" => SlotNotFound,
    "SLOT_NOT_FOR_ITEM" => SlotNotForItem,
    "ITEM_NOT_BOOKABLE" => ItemNotBookable,
    "SLOT_PAST" => SlotPast,
    "OUTSIDE_WINDOW" => OutsideWindow,
    "NOT_RELEASED" => NotReleased { at },
    "NO_CALENDAR" => NoCalendar { year },
    "TOO_SOON" => TooSoon { deadline },
    "HALL_CLOSED" => HallClosed,
    "SLOT_FULL" => SlotFull,
    "ALREADY_BOOKED" => AlreadyBooked,
    "WEEKLY_LIMIT" => WeeklyLimit { limit },
    "MONTHLY_LIMIT" => MonthlyLimit { limit },
    "BANNED" => Banned { until },
}

/// A refusal's detail as stored beside its code.
trait Detail: Sized {
    fn show(&self) -> String;
    fn read(stored: &str) -> Option<Self>;
}

impl Detail for DateTime<Utc> {
    fn show(&self) -> String {
        self.to_rfc3339()
    }
    fn read(stored: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(stored)
            .ok()
            .map(|t| t.to_utc())
    }
}

macro_rules! detail_by_display {
    ($($t:ty),*) => {$(
        impl Detail for $t {
            fn show(&self) -> String {
                self.to_string()
            }
            fn read(stored: &str) -> Option<Self> {
                stored.parse().ok()
            }
        }
    )*};
}
detail_by_display!(i32, u32, NaiveDate);

/// A successful booking; `replayed` when an `Idempotency-Key` returned an earlier answer.
#[derive(Debug, Clone)]
pub struct Booked {
    pub booking: BookingView,
    pub replayed: bool,
}

/// A booking request.
#[derive(Debug, Clone)]
pub struct BookRequest {
    pub slot_id: i64,
    /// The item, or the 一件事 bundle (see `bundle.rs`).
    pub subject: SubjectCode,
    /// The `Idempotency-Key` header, already checked to be 1–64 visible ASCII characters.
    pub idempotency_key: Option<String>,
    /// Booking for a family member rather than for oneself: the booking counts as the member's
    /// (limits, bans, one per item and day) and records both people.
    pub for_member: Option<BookingFor>,
}

/// What a booking is for, by code, parsed at the route: an item, or a 一件事 bundle (booked as one
/// subject, its code stored in `bookings.item_code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectCode {
    Item(crate::catalogue::ItemCode),
    Bundle(crate::bundles::BundleCode),
}

impl SubjectCode {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Item(code) => code.as_str(),
            Self::Bundle(code) => code.as_str(),
        }
    }

    pub fn is_bundle(&self) -> bool {
        matches!(self, Self::Bundle(_))
    }
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
pub(super) enum Violation {
    ActiveKey,
    Code,
    IdempotencyKey,
}

pub(super) fn violation(err: &DbErr) -> Option<Violation> {
    if !crate::db::unique_violation(err, None) {
        None
    } else if crate::db::unique_violation(err, Some("active_key")) {
        Some(Violation::ActiveKey)
    } else if crate::db::unique_violation(err, Some("idempotency")) {
        Some(Violation::IdempotencyKey)
    } else {
        Some(Violation::Code)
    }
}

impl BookingService {
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
                None => format!("book\n{}\n{}", request.slot_id, request.subject.as_str()),
                Some(m) => format!(
                    "book\n{}\n{}\n{m}",
                    request.slot_id,
                    request.subject.as_str()
                ),
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
            subject: super::bundle::stored_subject(&self.db, &old.item_code).await?,
            idempotency_key: None,
            // A member's booking moves as the member's.
            for_member: old.member_id.map(|member_id| BookingFor {
                member_id,
                index: old.identity_index.clone(),
            }),
        };
        let booked = self.book_once(who, &request, "", Some(old.clone())).await?;
        self.seats_given_back(&[old.slot_id]).await;
        Ok(booked)
    }

    pub(super) async fn replay(
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
    pub(super) async fn remember(
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

    pub(super) async fn book_once(
        &self,
        who: Booker,
        request: &BookRequest,
        fingerprint: &str,
        moving: Option<entities::booking::Model>,
    ) -> Result<Booked, BookError> {
        // A slot this instance found full a moment ago is refused from memory, before any
        // round trip.
        if self.full.is_raised(request.slot_id) {
            metrics::counter!("booking_slot_full_total", "decided_by" => "memory").increment(1);
            return Err(BookError::SlotFull);
        }
        // Otherwise the slot is read with its whole day, one read shared by every booking of
        // the day in flight (which flags the full ones), and a full slot is refused at once:
        // nothing else (the identity, the rules, the person's limits) is needed to refuse it.
        // The ticket, taken after that read began, keeps a seat given back meanwhile from being
        // flagged full again by the reads below.
        let day = self
            .days
            .day_of(&self.db, &self.full, request.slot_id)
            .await?;
        let flag_ticket = self.full.ticket();
        let slot = day
            .get(&request.slot_id)
            .cloned()
            .ok_or(BookError::SlotNotFound)?;
        if day_read::is_full(&slot) {
            metrics::counter!("booking_slot_full_total", "decided_by" => "database").increment(1);
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
            if old.status != BookingStatus::Booked
                || !rules::can_cancel(old.starts_at, self.clock.now(), &old_hall.rules)
            {
                return Err(BookError::NotChangeable);
            }
        }
        let ctx = self
            .hall(slot.hall_id)
            .await?
            .ok_or(BookError::SlotNotFound)?;
        let item = self
            .subject_of_slot(&ctx, request, slot.category_id)
            .await?;
        // Microseconds: what the database keeps, so the answer reads as the row does later.
        let now = self.clock.now().trunc_subsecs(6);
        let rules = ctx.rules;
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
        if slot.status != SlotStatus::Open {
            return Err(BookError::HallClosed);
        }
        if let Some(old) = &moving
            && old.slot_id == slot.id
        {
            return Err(BookError::AlreadyBooked);
        }

        let today = now.with_timezone(&SHANGHAI).date_naive();
        let (monday, sunday) = rules::week_of(slot.day);
        let (first, last) = rules::month_of(slot.day);
        let (weekly, monthly) = (rules::n(rules.weekly_limit), rules::n(rules.monthly_limit));
        let code = new_code();
        // PostgreSQL decides a new booking in one round trip (`book_seat`, migration 000030);
        // a move, and SQLite, take the transaction (a move touches two slots and two bookings).
        let id = if moving.is_none() && self.db.get_database_backend() == DbBackend::Postgres {
            self.paths.count(Path::OneStatement);
            let decided = self
                .decide_in_one_statement(OneStatement {
                    who,
                    request,
                    fingerprint,
                    identity: &identity,
                    slot: &slot,
                    hall_name: &ctx.hall.name,
                    item: &item,
                    code: &code,
                    now,
                    today,
                    week: (monday, sunday, weekly),
                    month: (first, last, monthly),
                })
                .await;
            if matches!(decided, Err(BookError::SlotFull)) {
                metrics::counter!("booking_slot_full_total", "decided_by" => "database")
                    .increment(1);
                self.full.raise(slot.id, flag_ticket);
            }
            decided?
        } else {
            self.paths.count(Path::Transaction);
            let txn = crate::db::write(&self.db)
                .await
                .context("begin the booking")?;
            // Serialises this person's bookings (and, on SQLite, takes the write lock first).
            queries::lock_holder(&txn, &identity).await?;
            if let Some(until) = queries::banned_until(&txn, &identity, today).await? {
                return Err(BookError::Banned { until });
            }
            let except = moving.as_ref().map(|b| b.id);
            // One read for both limits: the person's counted days around the slot's day.
            let days =
                queries::counted_days(&txn, &identity, monday.min(first), sunday.max(last), except)
                    .await?;
            let within = |from, to| days.iter().filter(|&&d| from <= d && d <= to).count();
            if within(monday, sunday) >= weekly as usize {
                return Err(BookError::WeeklyLimit { limit: weekly });
            }
            if within(first, last) >= monthly as usize {
                return Err(BookError::MonthlyLimit { limit: monthly });
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
                    .is_some_and(|s| s.status != SlotStatus::Open)
                {
                    return Err(BookError::HallClosed);
                }
                metrics::counter!("booking_slot_full_total", "decided_by" => "database")
                    .increment(1);
                self.full.raise(slot.id, flag_ticket);
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
            let inserted = queries::insert_booking(
                &txn,
                queries::NewBooking {
                    code: &code,
                    citizen_id: who.citizen_id,
                    member_id: request.for_member.as_ref().map(|m| m.member_id),
                    identity_index: &identity,
                    slot: &slot,
                    item_code: &item.code,
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
                    queries::remember_booking(&txn, who.citizen_id, key, fingerprint, id, now)
                        .await;
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
            id
        };
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
            item_code: item.code.clone(),
            day: slot.day,
            starts_at: slot.starts_at,
            status: BookingStatus::Booked,
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
        let mut booking = queries::view_of(
            row,
            &ctx.hall,
            ctx.category_name(slot.category_id),
            slot.ends_at,
            &item.name,
        )?;
        booking.bundle = item.bundle;
        Ok(Booked {
            booking,
            replayed: false,
        })
    }

    /// Tells every instance that `slot_ids` have a seat again (or closed): their full flags go.
    pub(super) async fn seats_given_back(&self, slot_ids: &[i64]) {
        if let Err(e) = self.full.clear_many(slot_ids).await {
            tracing::warn!(
                error = %e,
                ?slot_ids,
                "could not publish that seats were given back; other instances see them within the flag's ttl"
            );
        }
    }
}

#[cfg(test)]
mod stored_tests {
    use super::*;

    #[test]
    fn every_stored_refusal_reads_back_as_itself() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T00:00:00Z")
            .unwrap()
            .to_utc();
        let refusals = [
            BookError::IdentityRequired,
            BookError::SlotFull,
            BookError::NotReleased { at },
            BookError::NoCalendar { year: 2027 },
            BookError::TooSoon { deadline: at },
            BookError::WeeklyLimit { limit: 2 },
            BookError::MonthlyLimit { limit: 6 },
            BookError::Banned {
                until: "2027-02-01".parse().unwrap(),
            },
        ];
        for refusal in refusals {
            let (code, detail) = refusal.stored().unwrap();
            let back = BookError::from_stored(code, &detail).unwrap();
            assert_eq!(back.stored(), refusal.stored(), "{code}");
        }
        assert!(BookError::NotChangeable.stored().is_none());
        assert!(BookError::from_stored("WEEKLY_LIMIT", "two").is_none());
        assert!(BookError::from_stored("NOPE", "").is_none());
    }
}
