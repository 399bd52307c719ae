//! This instance's snapshots of the waiting lines, one per (hall, day): every waiting ticket's
//! row and position as one read of the line found them, so that a citizen polling their ticket
//! is answered from memory (issue 16: "a poll is a read of a snapshot, not a query per
//! citizen").
//!
//! The bound: a snapshot answers for at most [`SNAPSHOT_FOR`] after the read that made it. A
//! ticket changed since (here at once; on another instance as soon as its event arrives
//! through the store's `queue:{hall_id}` channel) is no longer answered from it but read from
//! the database, so its own state is right as soon as this instance knows of the change; the
//! others' `ahead` may lag by the changes of the last moment, and a change heard makes the
//! next poll read the line again in the background (one read at a time per instance).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use entities::ticket;

use super::{Position, Positions};

/// How long a snapshot of a line answers polls: the bound on a poll's staleness.
pub const SNAPSHOT_FOR: Duration = Duration::from_secs(1);

/// How long an unused snapshot is kept.
const KEEP_FOR: Duration = Duration::from_secs(60);

struct Line {
    at: Instant,
    positions: Arc<Positions>,
    rows: Arc<HashMap<i64, ticket::Model>>,
    /// Tickets changed since `at`, and when it was heard: not answered from `rows`.
    changed: HashMap<i64, Instant>,
    /// A change was made on this instance since `at`: positions are read again.
    changed_here: bool,
    /// A background read of the line is under way.
    refreshing: bool,
}

#[derive(Default)]
pub(super) struct Snapshots {
    lines: Mutex<HashMap<(i64, NaiveDate), Line>>,
    /// Halls whose channel this instance listens to for changes made elsewhere.
    watched: Mutex<HashSet<i64>>,
    /// One read of a line at a time per instance.
    pub(super) compute: tokio::sync::Mutex<()>,
}

impl Snapshots {
    fn lines(&self) -> MutexGuard<'_, HashMap<(i64, NaiveDate), Line>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The positions of a recent snapshot with no change made here since.
    pub(super) fn recent(&self, hall_id: i64, day: NaiveDate) -> Option<Arc<Positions>> {
        self.lines()
            .get(&(hall_id, day))
            .filter(|l| l.at.elapsed() < SNAPSHOT_FOR && !l.changed_here)
            .map(|l| Arc::clone(&l.positions))
    }

    /// Keeps a line read at `at` (a read older than the kept one is dropped).
    pub(super) fn keep(
        &self,
        hall_id: i64,
        day: NaiveDate,
        at: Instant,
        positions: Arc<Positions>,
        rows: Arc<HashMap<i64, ticket::Model>>,
    ) {
        let mut lines = self.lines();
        lines.retain(|_, l| l.at.elapsed() < KEEP_FOR);
        if lines.get(&(hall_id, day)).is_some_and(|l| l.at > at) {
            return;
        }
        // Changes heard while the line was being read may have come too late for it.
        let (changed, changed_here, refreshing) = lines
            .get(&(hall_id, day))
            .map(|l| {
                let late: HashMap<i64, Instant> = l
                    .changed
                    .iter()
                    .filter(|&(_, &heard)| heard >= at)
                    .map(|(&id, &heard)| (id, heard))
                    .collect();
                let here = l.changed_here && !late.is_empty();
                (late, here, l.refreshing)
            })
            .unwrap_or_default();
        lines.insert(
            (hall_id, day),
            Line {
                at,
                positions,
                rows,
                changed,
                changed_here,
                refreshing,
            },
        );
    }

    /// A ticket of the hall changed (`here`: on this instance). Only a ticket the snapshot
    /// holds matters: a new normal-rank ticket changes nobody's place (a green-channel one is
    /// within the bound).
    pub(super) fn changed(&self, hall_id: i64, ticket_id: i64, here: bool) {
        for ((hall, _), line) in self.lines().iter_mut() {
            if *hall == hall_id && (here || line.rows.contains_key(&ticket_id)) {
                line.changed.insert(ticket_id, Instant::now());
                line.changed_here |= here;
            }
        }
    }

    /// Drops every snapshot of a hall (its change events may have been missed).
    pub(super) fn forget_hall(&self, hall_id: i64) {
        self.lines().retain(|(hall, _), _| *hall != hall_id);
    }

    /// A waiting ticket in a recent snapshot, unchanged since, and — when the snapshot heard
    /// of a change and nobody reads the line yet — its (hall, day), to read it again.
    #[allow(clippy::type_complexity)]
    pub(super) fn find(
        &self,
        ticket_id: i64,
    ) -> Option<((ticket::Model, Position), Option<(i64, NaiveDate)>)> {
        let mut lines = self.lines();
        let (key, line) = lines.iter_mut().find(|(_, l)| {
            l.at.elapsed() < SNAPSHOT_FOR
                && l.rows.contains_key(&ticket_id)
                && !l.changed.contains_key(&ticket_id)
        })?;
        let row = line.rows.get(&ticket_id)?.clone();
        let position = *line.positions.get(&ticket_id)?;
        let stale = !line.changed.is_empty() || line.at.elapsed() > SNAPSHOT_FOR / 2;
        let refresh = (stale && !line.refreshing).then(|| {
            line.refreshing = true;
            *key
        });
        Some(((row, position), refresh))
    }

    /// A background read of the line ended.
    pub(super) fn refreshed(&self, hall_id: i64, day: NaiveDate) {
        if let Some(line) = self.lines().get_mut(&(hall_id, day)) {
            line.refreshing = false;
        }
    }

    /// `true` the first time a hall is asked for: its channel is to be listened to.
    pub(super) fn watch(&self, hall_id: i64) -> bool {
        self.watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hall_id)
    }
}
