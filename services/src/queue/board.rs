//! What the hall shows: each waiting ticket's position and estimated wait (a snapshot of the
//! line, computed at most once a second per instance), the display board by hall code, and a
//! day's figures per category.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};

use entities::{category, ticket};

use crate::halls::{self, Which};

use super::*;

/// One category's figures for a day.
#[derive(Debug, Clone)]
pub struct CategoryStats {
    pub category_id: i64,
    pub category_name: String,
    pub prefix: String,
    pub issued: u32,
    pub served: u32,
    pub no_shows: u32,
    pub cancelled: u32,
    pub waiting: u32,
    /// Seconds from taking the ticket to its first call.
    pub wait_avg_secs: Option<f64>,
    pub wait_p90_secs: Option<f64>,
    /// Seconds from starting to serve to done.
    pub service_avg_secs: Option<f64>,
    pub service_p90_secs: Option<f64>,
}

/// A hall's display board: the latest calls and who waits.
#[derive(Debug, Clone)]
pub struct Board {
    pub hall_code: String,
    pub hall_name: String,
    pub calls: Vec<BoardCall>,
    pub waiting: Vec<CategoryWaiting>,
}

/// Who waits in one category of a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryWaiting {
    pub category_id: i64,
    pub prefix: String,
    pub name: String,
    pub waiting: u32,
}

#[derive(Debug, Clone)]
pub struct BoardCall {
    /// The id of the event that recorded the call: increasing, one per call and recall.
    pub call_id: i64,
    pub ticket_id: i64,
    pub number: String,
    pub counter_number: i32,
    pub counter_name: String,
    pub announce: String,
    pub at: DateTime<Utc>,
}

impl QueueService {
    /// Mean service seconds and open counters of a category, read at most every 30 s.
    ///
    /// Service times are those measured (serving → done) in the last
    /// [`rules::SERVICE_WINDOW_HOURS`] hours, 5 minutes when fewer than three were measured;
    /// the open counters are the active counters serving the category that called or finished
    /// a ticket in the last hour, or all of its active counters when none did (0 when it has
    /// none).
    pub(super) async fn estimate_inputs(
        &self,
        hall_id: i64,
        category_id: i64,
    ) -> anyhow::Result<(f64, u32)> {
        let key = (hall_id, category_id);
        if let Some(v) = self.estimates.get(&key) {
            return Ok(*v);
        }
        let now = self.clock.now();
        let samples = queries::service_times(
            &self.db,
            hall_id,
            category_id,
            now - chrono::Duration::hours(rules::SERVICE_WINDOW_HOURS),
        )
        .await?;
        let mean = rules::mean_service_secs(&samples);
        let counters = queries::counters_of_category(&self.db, category_id).await?;
        let all = counters.len();
        let open = queries::active_counters(
            &self.db,
            counters,
            now - chrono::Duration::minutes(rules::OPEN_COUNTER_MINUTES),
        )
        .await?;
        // No active counter serves it: 0, and no estimate (see [`rules::estimate_minutes`]).
        let open = u32::try_from(if open == 0 { all } else { open }).unwrap_or(u32::MAX);
        let value = (mean, open);
        // "No counter" is not kept: a counter opened again gives estimates at once.
        if open > 0 {
            self.estimates.put(key, Arc::new(value));
        }
        Ok(value)
    }

    /// The position of someone with `ahead` people before them in a category.
    pub async fn position(
        &self,
        hall_id: i64,
        category_id: i64,
        ahead: u32,
    ) -> anyhow::Result<Position> {
        let (mean, open) = self.estimate_inputs(hall_id, category_id).await?;
        Ok(Position {
            ahead,
            wait_minutes: rules::estimate_minutes(ahead, mean, open),
        })
    }

    /// The positions of every waiting ticket of a hall's day: the snapshot of the last second,
    /// or a fresh one (`fresh`, none recent, or a change made on this instance since). One
    /// computation at a time per line and instance.
    pub(crate) async fn positions(
        &self,
        hall_id: i64,
        day: NaiveDate,
        fresh: bool,
    ) -> anyhow::Result<Arc<Positions>> {
        if !fresh && let Some(positions) = self.snapshots.recent(hall_id, day) {
            return Ok(positions);
        }
        let _computing = self.snapshots.compute(hall_id, day).await;
        // Computed by another caller while this one waited.
        if !fresh && let Some(positions) = self.snapshots.recent(hall_id, day) {
            return Ok(positions);
        }
        let (positions, _) = self.compute_line(hall_id, day).await?;
        Ok(positions)
    }

    /// The positions of every waiting ticket of a hall's day and the count waiting per
    /// category (categories nobody waits in are absent), from one read of the line, fresh;
    /// the positions are kept as this instance's snapshot.
    ///
    /// # Errors
    /// The database failed.
    pub(crate) async fn line_now(
        &self,
        hall_id: i64,
        day: NaiveDate,
    ) -> anyhow::Result<(Arc<Positions>, BTreeMap<i64, u32>)> {
        let _computing = self.snapshots.compute(hall_id, day).await;
        self.compute_line(hall_id, day).await
    }

    /// Reads the line (one query), computes every position, and keeps the result as this
    /// instance's snapshot of (hall, day). Called under `snapshots.compute(hall_id, day)`.
    async fn compute_line(
        &self,
        hall_id: i64,
        day: NaiveDate,
    ) -> anyhow::Result<(Arc<Positions>, BTreeMap<i64, u32>)> {
        let at = Instant::now();
        let line = queries::waiting_line(&self.db, hall_id, day).await?;
        let mut waiting: BTreeMap<i64, u32> = BTreeMap::new();
        let mut out = HashMap::with_capacity(line.len());
        let mut rows = HashMap::with_capacity(line.len());
        let mut current: Option<i64> = None;
        let mut ahead = 0u32;
        let mut inputs: HashMap<i64, (f64, u32)> = HashMap::new();
        for t in line {
            let category_id = t.category_id;
            if current != Some(category_id) {
                current = Some(category_id);
                ahead = 0;
            }
            let (mean, open) = match inputs.get(&category_id) {
                Some(v) => *v,
                None => {
                    let v = self.estimate_inputs(hall_id, category_id).await?;
                    inputs.insert(category_id, v);
                    v
                }
            };
            out.insert(
                t.id,
                Position {
                    ahead,
                    wait_minutes: rules::estimate_minutes(ahead, mean, open),
                },
            );
            rows.insert(t.id, t);
            ahead += 1;
            *waiting.entry(category_id).or_default() += 1;
        }
        let positions = Arc::new(out);
        self.snapshots
            .keep(hall_id, day, at, Arc::clone(&positions), Arc::new(rows));
        self.watch_line(hall_id);
        Ok((positions, waiting))
    }

    /// After a change of `ticket_id` made on this instance: that ticket is no longer answered
    /// from the snapshot, and the next position computed here reads the line again.
    pub(super) fn changed_line(&self, hall_id: i64, ticket_id: i64) {
        self.snapshots.changed(hall_id, ticket_id, true);
    }

    /// A waiting ticket answered from this instance's snapshot of its line, without a query:
    /// `None` when the ticket is not in a recent snapshot (taken since, no longer waiting, or
    /// changed since the snapshot was read). A snapshot that heard of a change since is read
    /// again in the background, one read at a time.
    pub(super) fn snapshot_of(&self, ticket_id: i64) -> Option<(ticket::Model, Position)> {
        let (found, refresh) = self.snapshots.find(ticket_id)?;
        if let Some((hall_id, day)) = refresh {
            let service = self.clone();
            tokio::spawn(async move {
                let _computing = service.snapshots.compute(hall_id, day).await;
                if let Err(e) = service.compute_line(hall_id, day).await {
                    tracing::warn!(error = %format!("{e:#}"), hall_id, "could not refresh the line");
                }
                service.snapshots.refreshed(hall_id, day);
            });
        }
        Some(found)
    }

    /// Hears the hall's changes made on other instances through this instance's hub
    /// ([`QueueHub::events`]: the one store subscription of the hall), once per hall and
    /// instance, so that a ticket changed elsewhere is no longer answered from this instance's
    /// snapshot. Events possibly missed (the receiver lagged, or the subscription was lost and
    /// made again) drop the hall's snapshots; otherwise missing an event costs at most the
    /// snapshot's age ([`SNAPSHOT_FOR`]).
    fn watch_line(&self, hall_id: i64) {
        if !self.snapshots.watch(hall_id) {
            return;
        }
        let (hub, snapshots) = (self.hub(), Arc::clone(&self.snapshots));
        // Lives as long as the instance, like the hub's forwarding of the hall it reads from.
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match hub.events(hall_id).await {
                    // A snapshot read before this receiver existed may have missed a change.
                    Ok(mut events) => {
                        snapshots.forget_hall(hall_id);
                        loop {
                            match events.recv().await {
                                Ok(event) => snapshots.changed(hall_id, event.ticket_id, false),
                                Err(RecvError::Lagged(_)) => snapshots.forget_hall(hall_id),
                                Err(RecvError::Closed) => {
                                    snapshots.forget_hall(hall_id);
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, hall_id, "could not hear the line's changes");
                        snapshots.forget_hall(hall_id);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
    }

    /// A hall's display board by its code: the latest ten calls and who waits per category.
    ///
    /// # Errors
    /// The database failed; `Ok(None)` for an unknown hall.
    pub async fn board(&self, hall_code: &str) -> anyhow::Result<Option<Board>> {
        let Some(hall) = halls::queries::by_code(&self.db, hall_code, Which::Active).await? else {
            return Ok(None);
        };
        let names = self.names(hall.id).await?.context("the hall vanished")?;
        let day = self.clock.today();
        let tickets: HashMap<i64, ticket::Model> = queries::tickets_of_day(&self.db, hall.id, day)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let calls = queries::recent_calls(&self.db, &tickets, 10)
            .await?
            .into_iter()
            .filter_map(|e| {
                let t = tickets.get(&e.ticket_id)?;
                let c = names.counters.get(&e.counter_id?)?;
                Some(BoardCall {
                    call_id: e.id,
                    ticket_id: t.id,
                    number: t.number.clone(),
                    counter_number: c.number,
                    counter_name: c.name.clone(),
                    announce: call_text(&t.number, c),
                    at: e.at,
                })
            })
            .collect();
        let mut categories: Vec<&category::Model> = names.categories.values().collect();
        categories.sort_by_key(|c| c.id);
        let waiting = categories
            .into_iter()
            .map(|c| {
                let n = tickets
                    .values()
                    .filter(|t| t.category_id == c.id && t.state == TicketState::Waiting)
                    .count();
                CategoryWaiting {
                    category_id: c.id,
                    prefix: c.prefix.clone(),
                    name: c.name.clone(),
                    waiting: u32::try_from(n).unwrap_or(u32::MAX),
                }
            })
            .collect();
        Ok(Some(Board {
            hall_code: hall.code,
            hall_name: hall.name,
            calls,
            waiting,
        }))
    }

    /// The id of an active hall by its code.
    ///
    /// # Errors
    /// The database failed.
    pub async fn hall_id(&self, hall_code: &str) -> anyhow::Result<Option<i64>> {
        Ok(halls::queries::by_code(&self.db, hall_code, Which::Active)
            .await?
            .map(|h| h.id))
    }

    /// A hall's figures of a day per category: tickets issued, served, no-shows, cancelled,
    /// still waiting, and the average and 90th percentile of the wait (taken → first call) and
    /// of the service (serving → done), all measured from the recorded times.
    ///
    /// # Errors
    /// The database failed; `Ok(None)` for an unknown hall.
    pub async fn stats(
        &self,
        hall_id: i64,
        day: crate::time::Day,
    ) -> anyhow::Result<Option<Vec<CategoryStats>>> {
        let Some(names) = self.names(hall_id).await? else {
            return Ok(None);
        };
        let tickets = queries::tickets_of_day(&self.db, hall_id, day.date()).await?;
        let mut categories: Vec<&category::Model> = names.categories.values().collect();
        categories.sort_by_key(|c| c.id);
        let count = |it: usize| u32::try_from(it).unwrap_or(u32::MAX);
        Ok(Some(
            categories
                .into_iter()
                .map(|c| {
                    let mine: Vec<&ticket::Model> =
                        tickets.iter().filter(|t| t.category_id == c.id).collect();
                    let of = |s: TicketState| mine.iter().filter(|t| t.state == s).count();
                    let mut waits: Vec<f64> = mine
                        .iter()
                        .filter_map(|t| Some(queries::secs(t.first_called_at? - t.issued_at)))
                        .collect();
                    let mut services: Vec<f64> = mine
                        .iter()
                        .filter(|t| t.state == TicketState::Done)
                        .filter_map(|t| Some(queries::secs(t.finished_at? - t.serving_at?)))
                        .collect();
                    let wait = rules::avg_p90(&mut waits);
                    let service = rules::avg_p90(&mut services);
                    CategoryStats {
                        category_id: c.id,
                        category_name: c.name.clone(),
                        prefix: c.prefix.clone(),
                        issued: count(mine.len()),
                        served: count(of(TicketState::Done)),
                        no_shows: count(of(TicketState::NoShow)),
                        cancelled: count(of(TicketState::Cancelled)),
                        waiting: count(of(TicketState::Waiting)),
                        wait_avg_secs: wait.map(|w| w.0),
                        wait_p90_secs: wait.map(|w| w.1),
                        service_avg_secs: service.map(|s| s.0),
                        service_p90_secs: service.map(|s| s.1),
                    }
                })
                .collect(),
        ))
    }
}
