//! A citizen cancelling a live booking before its cut-off, which counts towards the ban.

use crate::time::SHANGHAI;
use anyhow::Context as _;
use chrono::{DateTime, Utc};

use super::*;

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

impl BookingService {
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
        if booking.status != BookingStatus::Booked {
            return Err(CancelError::NotActive);
        }
        let ctx = self
            .hall(booking.hall_id)
            .await?
            .ok_or(CancelError::NotFound)?;
        let rules = ctx.rules;
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
        let since = now - chrono::Duration::days(i64::from(rules::n(rules.penalty_window_days)));
        let cancellations = queries::count_since(
            &txn,
            &booking.identity_index,
            BookingStatus::Cancelled,
            since,
        )
        .await?;
        let limit = rules::n(rules.cancel_limit);
        if limit > 0 && cancellations >= u64::from(limit) {
            let today = now.with_timezone(&SHANGHAI).date_naive();
            let until = today + chrono::Duration::days(i64::from(rules::n(rules.ban_days)));
            queries::ban(&txn, &booking.identity_index, until, "CANCELLATIONS", now).await?;
        }
        txn.commit().await.context("commit the cancellation")?;
        self.seats_given_back(&[booking.slot_id]).await;
        self.view(who.citizen_id, booking.id)
            .await?
            .ok_or(CancelError::NotFound)
    }
}
