//! The booking worker: marks no-shows once the check-in window has closed (and bans repeat
//! offenders), reminds citizens the working day before, and cuts slots ahead of their release
//! so the release instant reads slots instead of writing them.
//!
//! Every step is a conditional update or an idempotent insert, so any number of instances may
//! run it at once; a short store lock only saves them from doing the same work twice.

use std::time::Duration;

use anyhow::Context as _;
use chrono::Duration as Span;
use serde_json::json;
use tokio::sync::watch;

use super::rules::n;
use super::{BookingService, BookingStatus, queries};
use crate::notify::NotificationKind;
use crate::store::Lock;
use crate::time::SHANGHAI;

const BATCH: u64 = 500;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerReport {
    pub no_shows: usize,
    pub reminders: usize,
    pub halls_prepared: usize,
}

pub struct BookingWorker {
    service: BookingService,
}

impl BookingWorker {
    pub(super) fn new(service: BookingService) -> Self {
        Self { service }
    }

    /// Runs a round every `every` until `stop` turns true.
    pub async fn run(self, every: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            let lock = Lock::new("booking-worker", every.max(Duration::from_secs(5)));
            match lock.try_acquire(&self.service.store).await {
                Ok(Some(guard)) => {
                    match self.run_once().await {
                        Ok(report) if report.no_shows > 0 || report.reminders > 0 => {
                            tracing::info!(?report, "booking worker round");
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = format!("{e:#}"), "booking worker round failed")
                        }
                    }
                    let _ = guard.release().await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "booking worker lock"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// One round: no-shows, reminders, slots ahead.
    ///
    /// # Errors
    /// The database failed; what was done before stays done.
    pub async fn run_once(&self) -> anyhow::Result<WorkerReport> {
        self.warn_of_missing_calendar().await?;
        Ok(WorkerReport {
            no_shows: self.no_shows().await?,
            reminders: self.reminders().await?,
            halls_prepared: self.prepare_slots().await?,
        })
    }

    /// Logs, once a day for the deployment (a store key decides which round of which instance),
    /// the years whose calendar should be loaded and is not: their days are not released.
    async fn warn_of_missing_calendar(&self) -> anyhow::Result<()> {
        let s = &self.service;
        let today = s.clock.today();
        let missing = s.calendar.calendar().await?.missing_years(today);
        if missing.is_empty() {
            return Ok(());
        }
        let key = format!("calendar-missing-logged:{today}");
        // A store that fails logs on every round rather than never.
        let first = s
            .store
            .set_nx(&key, b"1", Duration::from_secs(26 * 3600))
            .await
            .unwrap_or(true);
        if first {
            tracing::warn!(
                years = ?missing,
                "no working-day calendar loaded for {missing:?}: their days are not released for \
                 booking until an administrator loads them (PUT /staff/v1/calendar/{{year}})"
            );
        }
        Ok(())
    }

    async fn no_shows(&self) -> anyhow::Result<usize> {
        let s = &self.service;
        let now = s.clock.now();
        let mut marked = 0;
        let candidates = queries::started_bookings(&s.db, now, BATCH).await?;
        let mut halls = std::collections::HashMap::new();
        for booking in candidates {
            if let std::collections::hash_map::Entry::Vacant(e) = halls.entry(booking.hall_id) {
                e.insert(crate::halls::queries::model(&s.db, booking.hall_id).await?);
            }
            let Some(Some(ctx)) = halls.get(&booking.hall_id) else {
                continue;
            };
            let rules = ctx.rules;
            if now <= booking.starts_at + Span::minutes(i64::from(n(rules.checkin_after_minutes))) {
                continue;
            }
            let txn = crate::db::write(&s.db).await.context("begin a no-show")?;
            queries::lock_holder(&txn, &booking.identity_index).await?;
            if !queries::retire(&txn, booking.id, BookingStatus::NoShow, now, None).await? {
                continue;
            }
            let since = now - Span::days(i64::from(n(rules.penalty_window_days)));
            let count =
                queries::count_since(&txn, &booking.identity_index, BookingStatus::NoShow, since)
                    .await?;
            let limit = n(rules.no_show_limit);
            let banned = limit > 0 && count >= u64::from(limit);
            let until = now.with_timezone(&SHANGHAI).date_naive()
                + Span::days(i64::from(n(rules.ban_days)));
            if banned {
                queries::ban(&txn, &booking.identity_index, until, "NO_SHOWS", now).await?;
            }
            let item = super::bundle::subject_name(&txn, &booking.item_code).await?;
            let payload = json!({
                "booking_id": booking.id,
                "booking_code": booking.code,
                "hall_name": ctx.hall.name,
                "item_name": item,
                "slot_start": booking.starts_at.to_rfc3339(),
                "no_shows": count,
                "limit": limit,
                "window_days": n(rules.penalty_window_days),
                "ban_days": n(rules.ban_days),
                "banned_until": if banned { until.to_string() } else { String::new() },
            });
            s.notifications
                .notify(
                    &txn,
                    booking.citizen_id,
                    NotificationKind::BookingNoShow,
                    &payload,
                    &format!("booking-no-show:{}", booking.id),
                )
                .await
                .context("notify the no-show")?;
            txn.commit().await.context("commit the no-show")?;
            marked += 1;
        }
        if marked > 0 {
            s.notifications.wake().await;
        }
        Ok(marked)
    }

    /// On a working day, from the reminder time on (18:00 by default), reminds everyone booked
    /// for the next working day: the evening before, when a citizen plans tomorrow, not the
    /// first round after midnight. A round missed that evening is not made up the next morning
    /// (the booking is that day; its citizen has its confirmation).
    async fn reminders(&self) -> anyhow::Result<usize> {
        let s = &self.service;
        let now = s.clock.now();
        let today = now.with_timezone(&SHANGHAI).date_naive();
        if now < super::rules::at_minute(today, s.reminder_minute) {
            return Ok(0);
        }
        let calendar = s.calendar.calendar().await?;
        if !calendar.is_working_day(today) {
            return Ok(0);
        }
        let Ok(next) = calendar.next_working_day(today) else {
            return Ok(0);
        };
        let mut sent = 0;
        for booking in queries::unreminded(&s.db, next, BATCH).await? {
            // Booked today for the next working day: the confirmation just said it all.
            let booked_today = booking.created_at.with_timezone(&SHANGHAI).date_naive() == today;
            let txn = crate::db::write(&s.db).await.context("begin a reminder")?;
            if !queries::mark_reminded(&txn, booking.id, now).await? {
                continue;
            }
            if !booked_today {
                let hall = crate::halls::queries::by_id(&txn, booking.hall_id).await?;
                let item = super::bundle::subject_name(&txn, &booking.item_code).await?;
                let payload = json!({
                    "booking_id": booking.id,
                    "booking_code": booking.code,
                    "hall_name": hall.map(|h| h.name).unwrap_or_default(),
                    "item_name": item,
                    "slot_start": booking.starts_at.to_rfc3339(),
                });
                s.notifications
                    .notify(
                        &txn,
                        booking.citizen_id,
                        NotificationKind::BookingReminder,
                        &payload,
                        &format!("booking-reminder:{}", booking.id),
                    )
                    .await
                    .context("notify the reminder")?;
                sent += 1;
            }
            txn.commit().await.context("commit the reminder")?;
        }
        if sent > 0 {
            s.notifications.wake().await;
        }
        Ok(sent)
    }

    /// Cuts the slots of every day up to the day after the next release, for every hall.
    async fn prepare_slots(&self) -> anyhow::Result<usize> {
        let s = &self.service;
        let today = s.clock.today();
        let halls = crate::halls::queries::active_models(&s.db).await?;
        for ctx in &halls {
            let ahead = i64::from(n(ctx.rules.release_days_ahead)) + 1;
            for offset in 1..=ahead {
                s.ensure_slots(ctx, today + Span::days(offset)).await?;
            }
        }
        Ok(halls.len())
    }
}
