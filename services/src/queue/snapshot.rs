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
//! next poll read the line again in the background (one read at a time per line and instance).
//!
//! Locks: a poll takes one short mutex and finds its ticket by id (an index of ticket →
//! line), never a scan of every line; reads of a line are one at a time per (hall, day), so
//! one hall's read of its line never holds up another hall's polls.

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

type Key = (i64, NaiveDate);

#[derive(Default)]
struct Kept {
    lines: HashMap<Key, Line>,
    /// The line each kept ticket is in.
    index: HashMap<i64, Key>,
}

impl Kept {
    /// Drops a line and its tickets' index entries.
    fn drop_line(&mut self, key: Key) {
        if let Some(line) = self.lines.remove(&key) {
            for id in line.rows.keys() {
                if self.index.get(id) == Some(&key) {
                    self.index.remove(id);
                }
            }
        }
    }
}

#[derive(Default)]
pub(super) struct Snapshots {
    kept: Mutex<Kept>,
    /// Halls whose channel this instance listens to for changes made elsewhere.
    watched: Mutex<HashSet<i64>>,
    /// One read of a line at a time per (hall, day) and instance.
    computing: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl Snapshots {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for any read of this (hall, day)'s line under way on this instance, and holds
    /// off the others until the guard is dropped. Other lines are not held up.
    pub(super) async fn compute(
        &self,
        hall_id: i64,
        day: NaiveDate,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut computing = self
                .computing
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Locks nobody holds nor waits for are dropped (a day's line ends).
            computing.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(computing.entry((hall_id, day)).or_default())
        };
        lock.lock_owned().await
    }

    /// The positions of a recent snapshot with no change made here since.
    pub(super) fn recent(&self, hall_id: i64, day: NaiveDate) -> Option<Arc<Positions>> {
        self.kept()
            .lines
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
        let mut kept = self.kept();
        let old: Vec<Key> = kept
            .lines
            .iter()
            .filter(|(_, l)| l.at.elapsed() >= KEEP_FOR)
            .map(|(&k, _)| k)
            .collect();
        for key in old {
            kept.drop_line(key);
        }
        if kept.lines.get(&(hall_id, day)).is_some_and(|l| l.at > at) {
            return;
        }
        // Changes heard while the line was being read may have come too late for it.
        let (changed, changed_here, refreshing) = kept
            .lines
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
        kept.drop_line((hall_id, day));
        for &id in rows.keys() {
            kept.index.insert(id, (hall_id, day));
        }
        kept.lines.insert(
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
        for ((hall, _), line) in &mut self.kept().lines {
            if *hall == hall_id && (here || line.rows.contains_key(&ticket_id)) {
                line.changed.insert(ticket_id, Instant::now());
                line.changed_here |= here;
            }
        }
    }

    /// Drops every snapshot of a hall (its change events may have been missed).
    pub(super) fn forget_hall(&self, hall_id: i64) {
        let mut kept = self.kept();
        let of_hall: Vec<Key> = kept
            .lines
            .keys()
            .filter(|(hall, _)| *hall == hall_id)
            .copied()
            .collect();
        for key in of_hall {
            kept.drop_line(key);
        }
    }

    /// A waiting ticket in a recent snapshot, unchanged since, and — when the snapshot heard
    /// of a change and nobody reads the line yet — its (hall, day), to read it again.
    #[allow(clippy::type_complexity)]
    pub(super) fn find(
        &self,
        ticket_id: i64,
    ) -> Option<((ticket::Model, Position), Option<(i64, NaiveDate)>)> {
        let mut kept = self.kept();
        let key = *kept.index.get(&ticket_id)?;
        let line = kept
            .lines
            .get_mut(&key)
            .filter(|l| l.at.elapsed() < SNAPSHOT_FOR && !l.changed.contains_key(&ticket_id))?;
        let row = line.rows.get(&ticket_id)?.clone();
        let position = *line.positions.get(&ticket_id)?;
        let stale = !line.changed.is_empty() || line.at.elapsed() > SNAPSHOT_FOR / 2;
        let refresh = (stale && !line.refreshing).then(|| {
            line.refreshing = true;
            key
        });
        Some(((row, position), refresh))
    }

    /// A background read of the line ended.
    pub(super) fn refreshed(&self, hall_id: i64, day: NaiveDate) {
        if let Some(line) = self.kept().lines.get_mut(&(hall_id, day)) {
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;
    use crate::queue::{TicketSource, TicketState};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 8).unwrap_or_default()
    }

    fn waiting(id: i64, hall_id: i64) -> ticket::Model {
        ticket::Model {
            id,
            hall_id,
            category_id: 1,
            day: day(),
            seq: i32::try_from(id).unwrap_or_default(),
            number: format!("A{id:03}"),
            source: TicketSource::Remote,
            priority: 1,
            green_channel: false,
            citizen_id: None,
            booking_id: None,
            member_id: None,
            item_code: None,
            state: TicketState::Waiting,
            live_key: None,
            counter_id: None,
            calls: 0,
            issued_at: Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
            issued_by: None,
            first_called_at: None,
            called_at: None,
            serving_at: None,
            finished_at: None,
            near_notified_at: None,
            version: 0,
        }
    }

    fn keep(snapshots: &Snapshots, hall_id: i64, ids: &[i64]) {
        let positions: Positions = ids
            .iter()
            .enumerate()
            .map(|(ahead, &id)| {
                let ahead = u32::try_from(ahead).unwrap_or_default();
                (
                    id,
                    Position {
                        ahead,
                        wait_minutes: None,
                    },
                )
            })
            .collect();
        let rows = ids.iter().map(|&id| (id, waiting(id, hall_id))).collect();
        snapshots.keep(
            hall_id,
            day(),
            Instant::now(),
            Arc::new(positions),
            Arc::new(rows),
        );
    }

    #[test]
    fn a_ticket_is_found_in_its_own_line_and_no_longer_once_the_line_is_read_without_it() {
        let snapshots = Snapshots::default();
        keep(&snapshots, 1, &[10, 11]);
        keep(&snapshots, 2, &[20]);

        let ((row, position), _) = snapshots.find(11).expect("in hall 1's line");
        assert_eq!((row.hall_id, position.ahead), (1, 1));
        let ((row, _), _) = snapshots.find(20).expect("in hall 2's line");
        assert_eq!(row.hall_id, 2);

        // Ticket 10 was called: hall 1's line is read again without it.
        keep(&snapshots, 1, &[11]);
        assert!(snapshots.find(10).is_none());
        let ((_, position), _) = snapshots.find(11).expect("still waiting");
        assert_eq!(position.ahead, 0);

        snapshots.forget_hall(1);
        assert!(snapshots.find(11).is_none());
        assert!(snapshots.find(20).is_some(), "another hall's line stays");
    }

    #[test]
    fn a_ticket_changed_since_the_snapshot_is_not_answered_from_it() {
        let snapshots = Snapshots::default();
        keep(&snapshots, 1, &[10, 11]);
        snapshots.changed(1, 10, false);
        assert!(snapshots.find(10).is_none());
        let (_, refresh) = snapshots.find(11).expect("unchanged");
        assert_eq!(
            refresh,
            Some((1, day())),
            "a change heard asks for a new read"
        );
    }

    #[tokio::test]
    async fn reading_one_halls_line_does_not_hold_up_another_halls() {
        let snapshots = Snapshots::default();
        let _hall_1 = snapshots.compute(1, day()).await;
        let other = tokio::time::timeout(Duration::from_secs(30), snapshots.compute(2, day()));
        assert!(other.await.is_ok(), "hall 2 waited for hall 1's read");
        let same = tokio::time::timeout(Duration::from_millis(50), snapshots.compute(1, day()));
        assert!(same.await.is_err(), "two reads of one line at once");
    }
}
