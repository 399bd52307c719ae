//! Checking a booking in (the citizen scanning the hall's QR, or staff scanning or typing the
//! booking's code), which turns it into a priority queue ticket in the same transaction.

use crate::halls::HallModel;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq as _;

use super::*;

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

impl BookingService {
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
        let ctx = crate::halls::queries::model(&self.db, booking.hall_id)
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
        let ctx = crate::halls::queries::model(&self.db, hall_id)
            .await?
            .ok_or(CheckInError::NotFound)?;
        self.check_in(booking, &ctx, Some(staff_id)).await
    }

    pub(super) async fn check_in(
        &self,
        booking: entities::booking::Model,
        ctx: &HallModel,
        staff_id: Option<i64>,
    ) -> Result<BookingView, CheckInError> {
        let status = booking.status;
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
        match rules::checkin_time(booking.starts_at, now, &ctx.rules) {
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
                .map(|b| b.status)
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
}
