//! Taking a ticket: remote (线上取号), walk-in at the counter or kiosk (with the citizen's code),
//! or a booking's check-in; a citizen's own tickets, and giving one up.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Timelike as _, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::Expr;
use serde_json::json;

use entities::ticket;

use crate::halls::{self, Which};
use crate::notify::NotificationKind;
use crate::time::SHANGHAI;

use super::rules::Action;
use super::*;

/// Why a citizen could not take a ticket.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("no such hall")]
    HallNotFound,
    #[error("no such item")]
    ItemNotFound,
    /// The hall has no category that handles the item.
    #[error("the item is not handled at this hall")]
    CategoryNotForItem,
    /// Outside the hall's opening hours today (or the hall is closed today).
    #[error("the hall is not open now")]
    HallNotOpen,
    /// The citizen holds a live ticket at this hall already.
    #[error("already holds a live ticket")]
    AlreadyLive,
    /// No active counter serves the item's category: nobody could call the ticket.
    #[error("no counter open for the category")]
    NoCounterOpen,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why staff could not issue a walk-in ticket.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no such hall")]
    HallNotFound,
    #[error("no such category at this hall")]
    CategoryNotFound,
    /// The citizen code shown is unknown, expired, replaced or used.
    #[error("the citizen code is not valid")]
    CitizenCodeInvalid,
    /// This staff member tried too many citizen codes this minute.
    #[error(transparent)]
    RateLimited(crate::limits::Limited),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates the priority ticket of a booking being checked in, inside the check-in's
/// transaction; the ticket belongs to the booking's citizen and goes before walk-ins of its
/// category. Call [`announce`] with [`event_of`] after the commit.
pub(crate) async fn issue_for_booking(
    conn: &impl ConnectionTrait,
    booking: &entities::booking::Model,
    staff_id: Option<i64>,
    now: DateTime<Utc>,
) -> anyhow::Result<ticket::Model> {
    let category = queries::category(conn, booking.category_id)
        .await?
        .context("the booking's category vanished")?;
    let day = now.with_timezone(&SHANGHAI).date_naive();
    queries::insert_ticket(
        conn,
        queries::NewTicket {
            hall_id: booking.hall_id,
            category: &category,
            day,
            source: TicketSource::Booking,
            priority: rules::RANK_BOOKING,
            green_channel: false,
            citizen_id: Some(booking.citizen_id),
            member_id: booking.member_id,
            booking_id: Some(booking.id),
            item_code: Some(booking.item_code.clone()),
            live_key: None,
            issued_by: staff_id,
            now,
        },
        // Inside the check-in's transaction, which holds the booking: not from a block.
        queries::Seq::InTransaction,
    )
    .await
    .context("issue the booking's ticket")
}

/// The tickets of bookings, by booking id (the latest of each).
pub(crate) async fn briefs_of_bookings(
    conn: &impl ConnectionTrait,
    booking_ids: Vec<i64>,
) -> anyhow::Result<HashMap<i64, TicketBrief>> {
    let mut out: HashMap<i64, (i64, TicketBrief)> = HashMap::new();
    for t in queries::tickets_of_bookings(conn, booking_ids).await? {
        let Some(booking_id) = t.booking_id else {
            continue;
        };
        let brief = TicketBrief {
            id: t.id,
            state: t.state,
            number: t.number,
        };
        if out.get(&booking_id).is_none_or(|(id, _)| *id < t.id) {
            out.insert(booking_id, (t.id, brief));
        }
    }
    Ok(out.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

impl QueueService {
    /// A citizen takes a ticket for an item at a hall, from anywhere (线上取号): allowed within
    /// the hall's opening hours today (the lunch break included: the line keeps its place), one
    /// live remote ticket per citizen and hall.
    ///
    /// # Errors
    /// [`TakeError::HallNotFound`], [`TakeError::ItemNotFound`],
    /// [`TakeError::CategoryNotForItem`], [`TakeError::HallNotOpen`],
    /// [`TakeError::NoCounterOpen`] (no active counter serves the item's category),
    /// [`TakeError::AlreadyLive`] (the unique live key decides, across instances).
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, hall = hall_code))]
    pub async fn take(
        &self,
        citizen_id: i64,
        for_member: Option<i64>,
        hall_code: &str,
        item_code: &crate::catalogue::ItemCode,
    ) -> Result<TicketView, TakeError> {
        let item_code = item_code.as_str();
        // The hall, the item and the category's counters as read a moment ago (at most
        // `HALL_CACHE_FOR`): the opening minute reads them a thousand times a second.
        let hall = self
            .active_hall(hall_code)
            .await?
            .ok_or(TakeError::HallNotFound)?;
        if !self.item_exists(item_code).await? {
            return Err(TakeError::ItemNotFound);
        }
        let category_id = hall
            .category_of(item_code)
            .ok_or(TakeError::CategoryNotForItem)?;
        let category = hall
            .categories
            .get(&category_id)
            .cloned()
            .ok_or(TakeError::CategoryNotForItem)?;
        if !self.has_counter(&hall, category_id).await? {
            return Err(TakeError::NoCounterOpen);
        }
        let ctx = &hall;
        let hall = &hall.hall;
        let now = self.clock.now();
        let local = now.with_timezone(&SHANGHAI);
        let day = local.date_naive();
        let calendar = self.calendar.calendar().await?;
        let minute = local.hour() * 60 + local.minute();
        match ctx.hours_on(day, &calendar) {
            Some(hours) if hours.opens_minute() <= minute && minute < hours.closes_minute() => {}
            _ => return Err(TakeError::HallNotOpen),
        }
        let seq = self.numbers.next(hall.id, day, &category.prefix).await?;
        let txn = crate::db::write(&self.db)
            .await
            .context("begin taking a ticket")?;
        let inserted = queries::insert_ticket(
            &txn,
            queries::NewTicket {
                hall_id: hall.id,
                category: &category,
                day,
                source: TicketSource::Remote,
                priority: rules::RANK_NORMAL,
                green_channel: false,
                citizen_id: Some(citizen_id),
                member_id: for_member,
                booking_id: None,
                item_code: Some(item_code.to_owned()),
                // One live remote ticket per person and hall: the member's own, apart from the
                // account's.
                live_key: Some(match for_member {
                    None => queries::live_key(citizen_id, hall.id),
                    Some(member) => queries::member_live_key(member, hall.id),
                }),
                issued_by: None,
                now,
            },
            queries::Seq::Given(seq),
        )
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if queries::is_live_key_violation(&e) => {
                drop(txn);
                self.numbers.give_back(hall.id, day, &category.prefix, seq);
                return Err(TakeError::AlreadyLive);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("insert the ticket").into()),
        };
        txn.commit().await.context("commit the ticket")?;
        metrics::counter!("queue_tickets_total", "source" => "remote").increment(1);
        // A ticket of normal rank goes behind everyone waiting: nobody's position changed, so
        // the positions snapshot stays (the new ticket counts its own, see `view`).
        announce(self.store.as_ref(), &event_of(&row, None, now)).await;
        Ok(self.view(row).await?)
    }

    /// A citizen's code (市民码) to show at the counter or kiosk, so that a walk-in ticket
    /// becomes theirs; it voids the code they had (see [`citizen_code`]).
    ///
    /// # Errors
    /// The store cannot be reached.
    pub async fn citizen_code(&self, citizen_id: i64) -> anyhow::Result<citizen_code::IssuedCode> {
        citizen_code::CitizenCodes::new(Arc::clone(&self.store))
            .issue(citizen_id, self.clock.now())
            .await
            .context("issue a citizen code")
    }

    /// Staff issue a walk-in ticket at the counter or the kiosk. It is anonymous unless the
    /// citizen shows their code (scanned or typed: `citizen_code`), which ties it to them and
    /// is then used up; staff can never name a citizen themselves. A green-channel ticket
    /// (elderly, disabled, pregnant) goes before everyone of the counter's categories. Opening
    /// hours are the staff's judgement, not checked.
    ///
    /// # Errors
    /// [`IssueError::HallNotFound`], [`IssueError::CategoryNotFound`] (not of this hall),
    /// [`IssueError::CitizenCodeInvalid`] (unknown, expired, replaced or used: the same answer
    /// whatever the reason), [`IssueError::RateLimited`] (30 codes a minute per staff member).
    #[tracing::instrument(skip_all, fields(hall_id = hall_id, staff_id = staff_id))]
    pub async fn issue_walk_in(
        &self,
        hall_id: i64,
        staff_id: i64,
        category_id: i64,
        green_channel: bool,
        citizen_code: Option<&str>,
    ) -> Result<TicketView, IssueError> {
        halls::queries::by_id(&self.db, hall_id)
            .await?
            .ok_or(IssueError::HallNotFound)?;
        let category = queries::category(&self.db, category_id)
            .await?
            .filter(|c| c.hall_id == hall_id)
            .ok_or(IssueError::CategoryNotFound)?;
        let citizen_id = match citizen_code {
            None => None,
            Some(raw) => Some(self.redeem_citizen_code(staff_id, raw).await?),
        };
        let now = self.clock.now();
        let day = now.with_timezone(&SHANGHAI).date_naive();
        let seq = self.numbers.next(hall_id, day, &category.prefix).await?;
        let txn = crate::db::write(&self.db)
            .await
            .context("begin issuing a ticket")?;
        let row = queries::insert_ticket(
            &txn,
            queries::NewTicket {
                hall_id,
                category: &category,
                day,
                source: TicketSource::WalkIn,
                priority: if green_channel {
                    rules::RANK_GREEN
                } else {
                    rules::RANK_NORMAL
                },
                green_channel,
                citizen_id,
                member_id: None,
                booking_id: None,
                item_code: None,
                live_key: None,
                issued_by: Some(staff_id),
                now,
            },
            queries::Seq::Given(seq),
        )
        .await
        .context("insert the walk-in ticket")?;
        txn.commit().await.context("commit the walk-in ticket")?;
        metrics::counter!("queue_tickets_total", "source" => "walk_in").increment(1);
        // Only a green-channel ticket goes before others (see `take`).
        if green_channel {
            self.changed_line(row.hall_id, row.id);
        }
        announce(self.store.as_ref(), &event_of(&row, None, now)).await;
        Ok(self.view(row).await?)
    }

    /// The read model of the active hall with `code`, as read at most `HALL_CACHE_FOR` ago.
    async fn active_hall(
        &self,
        code: &str,
    ) -> anyhow::Result<Option<Arc<crate::halls::HallModel>>> {
        let id = match self.hall_ids.get(&code.to_owned()) {
            Some(id) => *id,
            None => {
                let Some(hall) = halls::queries::by_code(&self.db, code, Which::Active).await?
                else {
                    return Ok(None);
                };
                self.hall_ids.put(code.to_owned(), Arc::new(hall.id));
                hall.id
            }
        };
        Ok(self
            .halls
            .get(id)
            .await?
            .filter(|h| h.hall.active && h.hall.code == code))
    }

    /// Whether the catalogue has `code` (a yes is kept for `HALL_CACHE_FOR`).
    async fn item_exists(&self, code: &str) -> anyhow::Result<bool> {
        if self.items.get(&code.to_owned()).is_some() {
            return Ok(true);
        }
        let found = crate::catalogue::queries::item(&self.db, code)
            .await?
            .is_some();
        if found {
            self.items.put(code.to_owned(), Arc::new(()));
        }
        Ok(found)
    }

    /// Whether an active counter serves the category: yes from the hall's read model, no only
    /// from the database (a counter activated on another instance serves at once).
    async fn has_counter(
        &self,
        hall: &crate::halls::HallModel,
        category_id: i64,
    ) -> anyhow::Result<bool> {
        let in_model = hall.counters.values().any(|c| {
            c.active
                && hall
                    .serves(c.id)
                    .iter()
                    .any(|&(category, _)| category == category_id)
        });
        if in_model {
            return Ok(true);
        }
        Ok(!queries::counters_of_category(&self.db, category_id)
            .await?
            .is_empty())
    }

    pub(super) async fn redeem_citizen_code(
        &self,
        staff_id: i64,
        raw: &str,
    ) -> Result<i64, IssueError> {
        match crate::limits::RateLimiter::new(Arc::clone(&self.store))
            .hit(
                &format!("citizen-code:staff:{staff_id}"),
                crate::limits::Quota::per_minute(30),
            )
            .await
        {
            Ok(()) => {}
            Err(crate::limits::LimitError::Limited(l)) => return Err(IssueError::RateLimited(l)),
            Err(crate::limits::LimitError::Store(e)) => {
                return Err(anyhow::Error::new(e).context("count citizen codes").into());
            }
        }
        let Some(code) = citizen_code::parse(raw) else {
            return Err(IssueError::CitizenCodeInvalid);
        };
        citizen_code::CitizenCodes::new(Arc::clone(&self.store))
            .redeem(&code)
            .await
            .context("redeem a citizen code")?
            .ok_or(IssueError::CitizenCodeInvalid)
    }

    /// A citizen's tickets, newest first (at most 20).
    ///
    /// # Errors
    /// The database failed.
    pub async fn mine(&self, citizen_id: i64) -> anyhow::Result<Vec<TicketView>> {
        let rows = queries::tickets_of_citizen(&self.db, citizen_id, 20).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.view(row).await?);
        }
        Ok(out)
    }

    /// One ticket of a citizen, with its position while it waits (the polling endpoint).
    ///
    /// # Errors
    /// The database failed.
    pub async fn of_citizen(
        &self,
        citizen_id: i64,
        ticket_id: i64,
    ) -> anyhow::Result<Option<TicketView>> {
        // A waiting ticket from this instance's snapshot of its line, without a query.
        if let Some((t, position)) = self.snapshot_of(ticket_id) {
            if t.citizen_id != Some(citizen_id) {
                return Ok(None);
            }
            return Ok(Some(self.view_at(t, Some(position)).await?));
        }
        match queries::ticket(&self.db, ticket_id).await? {
            Some(t) if t.citizen_id == Some(citizen_id) => Ok(Some(self.view(t).await?)),
            _ => Ok(None),
        }
    }

    /// The citizen gives up a waiting or called ticket. A called ticket frees its counter.
    ///
    /// # Errors
    /// [`TicketError::NotFound`] (not this citizen's), [`TicketError::StateChanged`] (served,
    /// finished, or changed meanwhile).
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, ticket_id = ticket_id))]
    pub async fn cancel(&self, citizen_id: i64, ticket_id: i64) -> Result<TicketView, TicketError> {
        let t = queries::ticket(&self.db, ticket_id)
            .await?
            .filter(|t| t.citizen_id == Some(citizen_id))
            .ok_or(TicketError::NotFound)?;
        let state = t.state;
        let to =
            rules::transition(state, Action::Cancel).ok_or(TicketError::StateChanged { state })?;
        let now = self.clock.now();
        let txn = crate::db::write(&self.db)
            .await
            .context("begin cancelling a ticket")?;
        let changed = cas(
            &txn,
            &t,
            to,
            vec![
                (ticket::Column::FinishedAt, Expr::value(now)),
                (ticket::Column::LiveKey, Expr::value(Option::<String>::None)),
            ],
        )
        .await?;
        if !changed {
            return Err(self.changed(ticket_id).await);
        }
        if state == TicketState::Called {
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
                detail: "cancelled by the citizen".to_owned(),
            },
        )
        .await?;
        if state == TicketState::Waiting {
            self.tell_the_near(&txn, t.hall_id, t.day, t.category_id, now)
                .await?;
        }
        txn.commit().await.context("commit the cancellation")?;
        self.notifications.wake().await;
        let row = queries::ticket(&self.db, t.id)
            .await?
            .ok_or(TicketError::NotFound)?;
        self.changed_line(row.hall_id, row.id);
        announce(self.store.as_ref(), &event_of(&row, None, now)).await;
        Ok(self.view(row).await?)
    }

    /// Tells the first people of a category's line, once each, that about three are ahead of
    /// them; in the caller's transaction, marked on the ticket with a compare-and-set so two
    /// instances never tell the same ticket twice.
    pub(super) async fn tell_the_near(
        &self,
        txn: &impl ConnectionTrait,
        hall_id: i64,
        day: NaiveDate,
        category_id: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        // A plain read of the head of the line (no locks: tickets other counters are calling
        // right now stay theirs), then only the untold citizens among the first four are
        // locked, without waiting.
        let head = queries::line_head(
            txn,
            hall_id,
            day,
            category_id,
            u64::try_from(rules::NEAR_AHEAD + 1).unwrap_or(4),
        )
        .await?;
        let candidates: Vec<i64> = head
            .iter()
            .filter(|t| t.citizen_id.is_some() && t.near_notified_at.is_none())
            .map(|t| t.id)
            .collect();
        let lockable = queries::lock_untold(txn, candidates).await?;
        let mut hall_name = None;
        for (ahead, t) in head.iter().enumerate() {
            let Some(citizen_id) = t.citizen_id else {
                continue;
            };
            if !lockable.contains(&t.id) || !queries::mark_near_notified(txn, t.id, now).await? {
                continue;
            }
            if hall_name.is_none() {
                hall_name = Some(
                    self.names(hall_id)
                        .await?
                        .map(|h| h.hall.name.clone())
                        .unwrap_or_default(),
                );
            }
            let payload = json!({
                "ticket_id": t.id,
                "ticket_no": t.number,
                "ahead": ahead,
                "hall_name": hall_name.as_deref().unwrap_or_default(),
            });
            self.notifications
                .notify(
                    txn,
                    citizen_id,
                    NotificationKind::TicketNear,
                    &payload,
                    // Once per ticket and category: a transferred ticket is told again.
                    &format!("ticket-near:{}:{category_id}", t.id),
                )
                .await
                .context("notify the near ticket")?;
        }
        Ok(())
    }
}
