//! A hall cancelling a day: the day closed, its slots stop, every live booking cancelled and
//! notified, in one transaction.

use crate::notify::NotificationKind;
use crate::time::{Day, SHANGHAI};
use anyhow::Context as _;
use serde_json::json;
use std::sync::PoisonError;

use super::*;

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

impl BookingService {
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
        let ctx = crate::halls::queries::model(&self.db, hall_id)
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
            let item = super::bundle::subject_name(&txn, &booking.item_code).await?;
            let payload = json!({
                "booking_id": booking.id,
                "booking_code": booking.code,
                "hall_name": ctx.hall.name,
                "item_name": item,
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
        let slots = queries::slot_ids_of_day(&txn, hall_id, day).await?;
        txn.commit().await.context("commit closing the day")?;
        // A slot flagged full anywhere now answers that the hall is closed.
        self.seats_given_back(&slots).await;
        self.materialized
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(hall_id, day));
        self.halls.forget(hall_id);
        self.notifications.wake().await;
        Ok(cancelled)
    }
}
