//! A counter at work: calling the next ticket (green channel first, then the category chosen by
//! smooth weighted round-robin), changing the ticket it holds, and handing back what a
//! deactivated clerk held.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func, SimpleExpr};
use serde_json::json;

use entities::ticket;

use crate::ids::{CounterId, HallId, StaffId};
use crate::notify::NotificationKind;
use crate::time::SHANGHAI;

use super::rules::Action;
use super::*;

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

/// A change of a ticket at a counter.
#[derive(Debug, Clone)]
pub enum CounterAction {
    Recall,
    Serve,
    Done,
    NoShow,
    Transfer { category_id: i64 },
}

impl QueueService {
    /// A counter calls the next ticket: among the categories it serves that have people
    /// waiting, green-channel tickets first (whatever their category); otherwise the category
    /// chosen by smooth weighted round-robin on the counter's weights; within the category,
    /// checked-in bookings before everyone else, then by the original time of the ticket.
    ///
    /// # Errors
    /// [`CallError::CounterNotFound`] (not of this hall), [`CallError::CounterInactive`],
    /// [`CallError::CounterBusy`] (it holds a called or serving ticket),
    /// [`CallError::NoTicketWaiting`].
    #[tracing::instrument(skip_all, fields(hall_id = %hall_id, counter_id = %counter_id))]
    pub async fn call_next(
        &self,
        hall_id: HallId,
        counter_id: CounterId,
        staff_id: StaffId,
    ) -> Result<TicketView, CallError> {
        let (hall_id, counter_id, staff_id) = (hall_id.get(), counter_id.get(), staff_id.get());
        let (counter, serves) = self.counter_of(hall_id, counter_id).await?;
        if !counter.active {
            return Err(CallError::CounterInactive);
        }
        if serves.is_empty() {
            return Err(CallError::NoTicketWaiting);
        }
        let now = self.clock.now();
        let day = now.with_timezone(&SHANGHAI).date_naive();
        let txn = crate::db::write(&self.db).await.context("begin calling")?;
        let Some(desk) = queries::claim_desk(&txn, counter_id, hall_id, now).await? else {
            drop(txn);
            let holding = queries::desk(&self.db, counter_id)
                .await?
                .and_then(|d| d.ticket_id);
            return Err(CallError::CounterBusy { ticket_id: holding });
        };
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
        // In the call's transaction, as the cancel path does: no second BEGIN/COMMIT per call.
        // The head is read without locks and the untold are locked with SKIP LOCKED, so this
        // waits on no other counter; each near ticket's mark makes it once whoever tells it.
        self.tell_the_near(&txn, hall_id, day, t.category_id, now)
            .await?;
        txn.commit().await.context("commit the call")?;
        metrics::counter!("queue_calls_total").increment(1);
        self.notifications.wake().await;
        let row = ticket::Model {
            state: TicketState::Called,
            counter_id: Some(counter_id),
            calls: 1,
            called_at: Some(now),
            first_called_at: t.first_called_at.or(Some(now)),
            version: t.version + 1,
            ..t
        };
        self.changed_line(row.hall_id, row.id);
        let mut event = event_of(&row, Some(&counter), now);
        event.event_id = Some(event_id);
        announce(self.store.as_ref(), &event).await;
        Ok(self.view(row).await?)
    }

    /// A counter of the hall and the categories it serves (with their weights), from the
    /// hall's read model ([`crate::halls::HallDirectory`], trusted for
    /// [`crate::halls::HALL_CACHE_FOR`]: an administrator's change made on another instance
    /// reaches calls here within it, as it reaches bookings). A counter the model does not
    /// know, or knows inactive, is read from the database, so a counter just made or
    /// activated calls at once.
    async fn counter_of(
        &self,
        hall_id: i64,
        counter_id: i64,
    ) -> Result<(entities::counter::Model, Vec<(i64, i32)>), CallError> {
        if let Some(model) = self.names(hall_id).await?
            && let Some(counter) = model.counters.get(&counter_id).filter(|c| c.active)
        {
            return Ok((counter.clone(), model.serves(counter_id).to_vec()));
        }
        let counter = queries::counter(&self.db, counter_id)
            .await?
            .filter(|c| c.hall_id == hall_id)
            .ok_or(CallError::CounterNotFound)?;
        let serves = queries::counter_categories(&self.db, counter_id).await?;
        Ok((counter, serves))
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
    #[tracing::instrument(skip_all, fields(hall_id = %hall_id, counter_id = %counter_id, ticket_id = ticket_id))]
    pub async fn at_counter(
        &self,
        hall_id: HallId,
        counter_id: CounterId,
        ticket_id: i64,
        staff_id: StaffId,
        action: CounterAction,
    ) -> Result<TicketView, TicketError> {
        let (hall_id, counter_id, staff_id) = (hall_id.get(), counter_id.get(), staff_id.get());
        let counter = queries::counter(&self.db, counter_id)
            .await?
            .filter(|c| c.hall_id == hall_id)
            .ok_or(TicketError::CounterNotFound)?;
        let t = queries::ticket(&self.db, ticket_id)
            .await?
            .filter(|t| t.hall_id == hall_id)
            .ok_or(TicketError::NotFound)?;
        let state = t.state;
        if t.counter_id != Some(counter_id) {
            return Err(TicketError::StateChanged { state });
        }
        let now = self.clock.now();
        let step = match &action {
            CounterAction::Recall => Action::Recall,
            CounterAction::Serve => Action::Serve,
            CounterAction::Done => Action::Finish,
            CounterAction::NoShow => Action::NoShow,
            CounterAction::Transfer { .. } => Action::Transfer,
        };
        let to = rules::transition(state, step).ok_or(TicketError::StateChanged { state })?;
        let (sets, frees, detail): (Vec<(ticket::Column, SimpleExpr)>, bool, String) = match &action
        {
            CounterAction::Recall => {
                if t.calls >= rules::MAX_CALLS {
                    return Err(TicketError::RecallLimit);
                }
                (
                    vec![
                        (ticket::Column::Calls, Expr::value(t.calls + 1)),
                        (ticket::Column::CalledAt, Expr::value(now)),
                    ],
                    false,
                    format!("recalled ({} of {})", t.calls + 1, rules::MAX_CALLS),
                )
            }
            CounterAction::Serve => (
                vec![(ticket::Column::ServingAt, Expr::value(now))],
                false,
                "serving".to_owned(),
            ),
            CounterAction::Done => (
                vec![
                    (ticket::Column::FinishedAt, Expr::value(now)),
                    (ticket::Column::LiveKey, Expr::value(Option::<String>::None)),
                ],
                true,
                "done".to_owned(),
            ),
            CounterAction::NoShow => (
                vec![
                    (ticket::Column::FinishedAt, Expr::value(now)),
                    (ticket::Column::LiveKey, Expr::value(Option::<String>::None)),
                ],
                true,
                format!("no-show after {} calls", t.calls),
            ),
            CounterAction::Transfer { category_id } => {
                let target = queries::category(&self.db, *category_id)
                    .await?
                    .filter(|c| c.hall_id == hall_id && c.id != t.category_id)
                    .ok_or(TicketError::CategoryNotFound)?;
                (
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
        self.changed_line(row.hall_id, row.id);
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
            let state = t.state;
            let Some(to) = rules::transition(state, Action::Return) else {
                continue;
            };
            if t.counter_id != Some(counter_id) {
                continue;
            }
            let txn = crate::db::write(&self.db)
                .await
                .context("begin returning a ticket")?;
            let changed = cas(
                &txn,
                &t,
                to,
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
                    to,
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
                self.changed_line(row.hall_id, row.id);
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
        hall_id: HallId,
        counter_id: CounterId,
    ) -> Result<Option<TicketView>, TicketError> {
        let (hall_id, counter_id) = (hall_id.get(), counter_id.get());
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
}
