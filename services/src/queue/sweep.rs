//! The end of a day: what earlier days left open is closed.

use anyhow::Context as _;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QuerySelect as _};

use entities::ticket;

use super::rules::Action;
use super::*;

impl QueueService {
    /// Closes what earlier days left open: a ticket still waiting or called when its day ended
    /// is cancelled, one still being served is done (its service time unknown, so left out of
    /// the statistics). Each frees its counter and its citizen's live-ticket slot, and is
    /// recorded as an event with no staff member. Returns how many were closed (at most 500 a
    /// round; the next round takes the rest).
    ///
    /// # Errors
    /// The database cannot be reached.
    pub async fn close_past_days(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let stale = ticket::Entity::find()
            .filter(ticket::Column::Day.lt(self.clock.today()))
            .filter(ticket::Column::State.is_in([
                TicketState::Waiting.as_str(),
                TicketState::Called.as_str(),
                TicketState::Serving.as_str(),
            ]))
            .limit(500)
            .all(&self.db)
            .await
            .context("find tickets left open by earlier days")?;
        let mut closed = 0;
        for t in stale {
            let state = t.state;
            let Some(to) = rules::transition(state, Action::Close) else {
                continue;
            };
            let txn = crate::db::write(&self.db)
                .await
                .context("begin closing a ticket")?;
            let finished_at = (to == TicketState::Cancelled).then_some(now);
            let changed = cas(
                &txn,
                &t,
                to,
                vec![
                    (ticket::Column::FinishedAt, Expr::value(finished_at)),
                    (ticket::Column::LiveKey, Expr::value(Option::<String>::None)),
                ],
            )
            .await?;
            if !changed {
                continue;
            }
            if state != TicketState::Waiting {
                queries::free_desk(&txn, t.id).await?;
            }
            queries::record(
                &txn,
                queries::Event {
                    ticket_id: t.id,
                    from: Some(state),
                    to,
                    staff_id: None,
                    counter_id: t.counter_id,
                    at: now,
                    detail: "closed at the end of its day".to_owned(),
                },
            )
            .await?;
            txn.commit().await.context("commit closing a ticket")?;
            closed += 1;
        }
        if closed > 0 {
            tracing::info!(closed, "tickets left open by earlier days closed");
        }
        Ok(closed)
    }
}
