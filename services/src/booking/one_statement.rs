//! A new booking decided in one round trip on PostgreSQL: the function `book_seat` (migration
//! 000030) does in one statement what the transaction in `book.rs` does in about ten — the
//! holder's lock, the ban, both limits, the seat, the booking, the idempotency key and the
//! confirmation's outbox row — and answers `BOOKED` with the id, or the refusal's code.
//!
//! The one decision: the confirmation's texts are rendered here, before the booking's id is
//! known, with [`ID_MARKER`] where the id goes; the function puts the id in its place. Every
//! error code stays the transaction's: the refusals come back by the codes `BookError` stores,
//! and a unique violation (the `active_key`, the idempotency key) aborts the statement, so that
//! nothing of it stays, and is read as the transaction reads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait as _, DbBackend, Statement, Value};
use serde_json::json;

use super::book::{Violation, violation};
use super::bundle::Subject;
use super::{BookError, BookRequest, Booker, BookingService};
use crate::notify::NotificationKind;

/// Where the booking's id goes in the rendered confirmation (no template has it otherwise).
const ID_MARKER: &str = "@@BOOKING_ID@@";

/// Which way a booking was decided, counted in `booking_decisions_total{path}`: on PostgreSQL a
/// new booking takes the one statement, a move and every booking on SQLite the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    OneStatement,
    Transaction,
}

impl Path {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneStatement => "one_statement",
            Self::Transaction => "transaction",
        }
    }
}

/// The decisions of this instance by path (the test hook that shows a dead path).
#[derive(Debug, Clone, Default)]
pub(super) struct Paths(Arc<[AtomicU64; 2]>);

impl Paths {
    pub(super) fn count(&self, path: Path) {
        metrics::counter!("booking_decisions_total", "path" => path.as_str()).increment(1);
        self.0[path as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn get(&self, path: Path) -> u64 {
        self.0[path as usize].load(Ordering::Relaxed)
    }
}

/// What the one statement needs, all of it checked already (the slot, the rules, the item).
pub(super) struct OneStatement<'a> {
    pub who: Booker,
    pub request: &'a BookRequest,
    pub fingerprint: &'a str,
    pub identity: &'a str,
    pub slot: &'a entities::slot::Model,
    pub hall_name: &'a str,
    pub item: &'a Subject,
    pub code: &'a str,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    /// Monday, Sunday and the weekly limit.
    pub week: (NaiveDate, NaiveDate, u32),
    /// The month's first and last days and the monthly limit.
    pub month: (NaiveDate, NaiveDate, u32),
}

impl BookingService {
    /// Decides a new booking in one statement; the booking's id when it was made.
    ///
    /// # Errors
    /// As the transaction: [`BookError::Banned`], [`BookError::WeeklyLimit`],
    /// [`BookError::MonthlyLimit`], [`BookError::SlotFull`], [`BookError::HallClosed`],
    /// [`BookError::AlreadyBooked`]; unexpected when the database failed.
    pub(super) async fn decide_in_one_statement(
        &self,
        d: OneStatement<'_>,
    ) -> Result<i64, BookError> {
        let payload = json!({
            "booking_id": ID_MARKER,
            "booking_code": d.code,
            "hall_name": d.hall_name,
            "item_name": d.item.name,
            "slot_start": d.slot.starts_at.to_rfc3339(),
        });
        let shown = self
            .notifications
            .render(NotificationKind::BookingConfirmed, &payload)
            .context("render the booking's confirmation")?;
        let (monday, sunday, weekly) = d.week;
        let (first, last, monthly) = d.month;
        let values: Vec<Value> = vec![
            d.identity.into(),
            d.who.citizen_id.into(),
            d.request.for_member.as_ref().map(|m| m.member_id).into(),
            d.slot.id.into(),
            d.item.code.as_str().into(),
            d.code.into(),
            d.now.into(),
            d.today.into(),
            monday.into(),
            sunday.into(),
            i64::from(weekly).into(),
            first.into(),
            last.into(),
            i64::from(monthly).into(),
            d.request.idempotency_key.clone().into(),
            d.fingerprint.into(),
            NotificationKind::BookingConfirmed.as_str().into(),
            "booking-confirmed:".into(),
            ID_MARKER.into(),
            shown.title.into(),
            shown.body.into(),
            shown.page.into(),
            shown.template_id.into(),
            shown.data.into(),
            shown.status.as_str().into(),
        ];
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT o_outcome, o_booking_id, o_until FROM book_seat($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, \
             $25)",
            values,
        );
        let row = match self.db.query_one_raw(statement).await {
            Ok(row) => row.context("book_seat answered no row")?,
            Err(e) => {
                return Err(match violation(&e) {
                    Some(Violation::ActiveKey) => BookError::AlreadyBooked,
                    Some(Violation::IdempotencyKey) => {
                        anyhow::anyhow!("the idempotency key was taken meanwhile").into()
                    }
                    _ => anyhow::Error::new(e)
                        .context("book in one statement")
                        .into(),
                });
            }
        };
        let outcome: String = row.try_get("", "o_outcome").context("read the outcome")?;
        let id: Option<i64> = row.try_get("", "o_booking_id").context("read the id")?;
        let until: Option<NaiveDate> = row.try_get("", "o_until").context("read the ban")?;
        match (outcome.as_str(), id, until) {
            ("BOOKED", Some(id), _) => Ok(id),
            ("BANNED", _, Some(until)) => Err(BookError::Banned { until }),
            ("WEEKLY_LIMIT", ..) => Err(BookError::WeeklyLimit { limit: weekly }),
            ("MONTHLY_LIMIT", ..) => Err(BookError::MonthlyLimit { limit: monthly }),
            ("SLOT_FULL", ..) => Err(BookError::SlotFull),
            ("HALL_CLOSED", ..) => Err(BookError::HallClosed),
            _ => Err(anyhow::anyhow!("book_seat answered {outcome:?}").into()),
        }
    }
}
