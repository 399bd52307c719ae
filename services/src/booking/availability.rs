//! Which days and slots a citizen can book: the days of a range with their slots cut on first
//! sight (idempotently, on any instance), or why a day cannot be booked now.

use crate::halls::HallModel;
use crate::time::Day;
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use std::sync::PoisonError;

use super::*;

/// The longest date range one availability request may ask for.
pub const MAX_RANGE_DAYS: i64 = 31;

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

impl BookingService {
    /// Cuts the slots of `day` at a hall (every category) unless already cut. Idempotent and
    /// safe to run on many instances at once: a slot is unique by hall, category and start.
    ///
    /// # Errors
    /// The database failed.
    pub(crate) async fn ensure_slots(&self, ctx: &HallModel, day: NaiveDate) -> anyhow::Result<()> {
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

    /// A hall's weekly hours or a date's exception changed: the days already cut (the worker
    /// cuts them up to a week ahead of their release) follow the new hours at once — `day`, or
    /// with `None` every day from today on. Without this an exception saved for a day already
    /// cut (tomorrow, say, opened all day) kept that day's old slots. See
    /// [`queries::recut_day`] for what happens to each slot.
    ///
    /// # Errors
    /// The database failed.
    pub async fn hours_changed(&self, hall_id: i64, day: Option<NaiveDate>) -> anyhow::Result<()> {
        self.halls.forget(hall_id);
        let Some(ctx) = crate::halls::queries::model(&self.db, hall_id).await? else {
            return Ok(());
        };
        let calendar = self.calendar.calendar().await?;
        let days = match day {
            Some(day) => vec![day],
            None => queries::cut_days(&self.db, hall_id, self.clock.today()).await?,
        };
        for day in days {
            if calendar.covers(day.year()) {
                queries::recut_day(&self.db, &ctx, day, ctx.hours_on(day, &calendar)).await?;
            }
        }
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
    #[tracing::instrument(skip_all, fields(hall = hall_code, item = subject.as_str()))]
    pub async fn availability(
        &self,
        hall_code: &str,
        subject: &super::SubjectCode,
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
        // An item, or a 一件事 bundle in the one category that handles all it needs (`bundle.rs`).
        let category_id = match self
            .subject_at(&ctx, subject.as_str(), subject.is_bundle())
            .await?
        {
            super::bundle::AtHall::Unknown => return Err(AvailabilityError::ItemNotFound),
            super::bundle::AtHall::Handled(_, Some(category)) => category,
            _ => return Err(AvailabilityError::ItemNotBookableHere),
        };
        let calendar = self.calendar.calendar().await?;
        let now = self.clock.now();
        let rules = ctx.rules;
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
}
