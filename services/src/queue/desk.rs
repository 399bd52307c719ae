//! What a counter workstation (窗口工作台) shows besides its own ticket: the hall's counters and
//! categories to choose from, and the waiting line of the chosen counter's categories. The line
//! is read fresh from the database on each hall event (one query per socket and event, bounded
//! by [`LINE_LIMIT`]): a hall has tens of counters, not thousands, so the per-socket read the
//! board avoids is affordable here and always exact.

use std::collections::HashSet;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use entities::ticket;

use crate::ids::{CounterId, HallId};

use super::{QueueService, TicketError, TicketSource, TicketState, queries};

/// At most this many waiting tickets are listed to a counter (its next ones).
pub const LINE_LIMIT: u64 = 100;

/// A hall as a clerk's workstation needs it.
#[derive(Debug, Clone)]
pub struct Workstation {
    pub hall_id: i64,
    pub hall_code: String,
    pub hall_name: String,
    /// (id, prefix, name), by id.
    pub categories: Vec<(i64, String, String)>,
    pub counters: Vec<WorkCounter>,
}

#[derive(Debug, Clone)]
pub struct WorkCounter {
    pub id: i64,
    pub number: i32,
    pub name: String,
    pub active: bool,
    pub category_ids: Vec<i64>,
}

/// One waiting ticket of a counter's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTicket {
    pub id: i64,
    pub number: String,
    pub category_id: i64,
    pub green_channel: bool,
    pub source: TicketSource,
    pub booking_id: Option<i64>,
    pub issued_at: DateTime<Utc>,
}

impl QueueService {
    /// The hall's counters (by number) and categories.
    ///
    /// # Errors
    /// The database failed; `Ok(None)` for an unknown hall.
    pub async fn workstation(&self, hall_id: i64) -> anyhow::Result<Option<Workstation>> {
        let Some(hall) = crate::halls::queries::by_id(&self.db, hall_id).await? else {
            return Ok(None);
        };
        let categories = queries::categories(&self.db, hall_id)
            .await?
            .into_iter()
            .map(|c| (c.id, c.prefix, c.name))
            .collect();
        let mut counters = Vec::new();
        for c in queries::counters(&self.db, hall_id).await? {
            let category_ids = queries::counter_categories(&self.db, c.id)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            counters.push(WorkCounter {
                id: c.id,
                number: c.number,
                name: c.name,
                active: c.active,
                category_ids,
            });
        }
        counters.sort_by_key(|c| c.number);
        Ok(Some(Workstation {
            hall_id,
            hall_code: hall.code,
            hall_name: hall.name,
            categories,
            counters,
        }))
    }

    /// The waiting tickets of today in the counter's categories, in calling order within each
    /// category (rank, then original time), categories interleaved by that same order.
    ///
    /// # Errors
    /// [`TicketError::CounterNotFound`] for a counter not of this hall.
    pub async fn counter_line(
        &self,
        hall_id: HallId,
        counter_id: CounterId,
    ) -> Result<Vec<LineTicket>, TicketError> {
        let (hall_id, counter_id) = (hall_id.get(), counter_id.get());
        queries::counter(&self.db, counter_id)
            .await?
            .filter(|c| c.hall_id == hall_id)
            .ok_or(TicketError::CounterNotFound)?;
        let categories: HashSet<i64> = queries::counter_categories(&self.db, counter_id)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        if categories.is_empty() {
            return Ok(Vec::new());
        }
        let rows = ticket::Entity::find()
            .filter(ticket::Column::HallId.eq(hall_id))
            .filter(ticket::Column::Day.eq(self.clock.today()))
            .filter(ticket::Column::State.eq(TicketState::Waiting))
            .filter(ticket::Column::CategoryId.is_in(categories))
            .order_by_asc(ticket::Column::Priority)
            .order_by_asc(ticket::Column::IssuedAt)
            .order_by_asc(ticket::Column::Id)
            .limit(LINE_LIMIT)
            .all(&self.db)
            .await
            .context("read the counter's waiting line")?;
        rows.into_iter()
            .map(|t| {
                Ok(LineTicket {
                    id: t.id,
                    source: t.source,
                    number: t.number,
                    category_id: t.category_id,
                    green_channel: t.green_channel,
                    booking_id: t.booking_id,
                    issued_at: t.issued_at,
                })
            })
            .collect::<anyhow::Result<_>>()
            .map_err(TicketError::Unexpected)
    }
}
