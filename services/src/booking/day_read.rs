//! The slot a booking asks for, read together with every other slot of its hall's day, and that
//! read shared by every booking of the day that arrives while it is in flight (single flight).
//!
//! The one decision: at opening time (and after a full flag lapses) hundreds of requests for
//! one hall's day arrive together. Each used to read its slot, and each found its slot full on
//! its own; now the first reads the day and the others await its answer, so a sold-out
//! refusal costs one read for all of them, and a booking one read shared with its neighbours.
//! The read raises the full flags of the day's full slots with the ticket taken before it, as
//! a single refusal did before ([`crate::store::LocalFlags::raise`]).
//!
//! Staleness is that of the flags, no more: a request joins a read only while no seat was
//! given back since that read began (the flags' epoch has not moved); otherwise it starts its
//! own. A read never grants a seat: the seat is taken by the conditional update, which
//! re-checks the status and the count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use sea_orm::DatabaseConnection;

use super::queries;
use crate::store::{FlagTicket, LocalFlags};

/// Slots whose hall and day are remembered at most; past it the map starts again (a slot
/// unknown is only read by its id, as on a fresh instance).
const MAX_KNOWN_SLOTS: usize = 200_000;

/// The slots of one hall's day, by id, as one read saw them.
pub(super) type Day = Arc<HashMap<i64, entities::slot::Model>>;

type Read = Shared<BoxFuture<'static, Result<Day, Arc<anyhow::Error>>>>;

/// What a flight is keyed by: the hall's day once this instance knows the slot's, else the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Day(i64, NaiveDate),
    Slot(i64),
}

struct Flight {
    /// Told apart from a later flight of the same key, so that only its own entry is removed.
    id: u64,
    ticket: FlagTicket,
    read: Read,
}

#[derive(Default)]
struct Inner {
    flights: Mutex<HashMap<Key, Flight>>,
    /// A slot's hall and day never change: learnt from every read.
    known: Mutex<HashMap<i64, (i64, NaiveDate)>>,
    next: AtomicU64,
    /// Reads made (the test hook that proves the sharing).
    reads: AtomicU64,
}

/// Shared reads of a hall's day of slots; cheap to clone.
#[derive(Clone, Default)]
pub(super) struct DayReads {
    inner: Arc<Inner>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl DayReads {
    /// How many reads of a day this instance made.
    pub(super) fn reads(&self) -> u64 {
        self.inner.reads.load(Ordering::Relaxed)
    }

    /// The slots of `slot_id`'s hall and day (empty when there is no such slot), read once for
    /// every request of that day in flight at the same time; the full ones are flagged in `full`.
    ///
    /// # Errors
    /// The database failed (every request that shared the read gets the error).
    pub(super) async fn day_of(
        &self,
        db: &DatabaseConnection,
        full: &LocalFlags,
        slot_id: i64,
    ) -> anyhow::Result<Day> {
        let key = match locked(&self.inner.known).get(&slot_id) {
            Some(&(hall_id, day)) => Key::Day(hall_id, day),
            None => Key::Slot(slot_id),
        };
        let read = {
            let mut flights = locked(&self.inner.flights);
            match flights.get(&key) {
                Some(flight) if full.is_current(flight.ticket) => flight.read.clone(),
                _ => {
                    let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
                    let ticket = full.ticket();
                    let read = self.read(db.clone(), full.clone(), key, id, ticket);
                    flights.insert(
                        key,
                        Flight {
                            id,
                            ticket,
                            read: read.clone(),
                        },
                    );
                    read
                }
            }
        };
        read.await.map_err(|e| anyhow::anyhow!("{e:#}"))
    }

    fn read(
        &self,
        db: DatabaseConnection,
        full: LocalFlags,
        key: Key,
        id: u64,
        ticket: FlagTicket,
    ) -> Read {
        let inner = Arc::clone(&self.inner);
        async move {
            inner.reads.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("booking_day_reads_total").increment(1);
            let rows = match key {
                Key::Day(hall_id, day) => queries::slots_of_day(&db, hall_id, day).await,
                Key::Slot(slot_id) => queries::slots_of_day_of(&db, slot_id).await,
            };
            {
                // Done: the next request of the day reads afresh (or finds the flags).
                let mut flights = locked(&inner.flights);
                if flights.get(&key).is_some_and(|f| f.id == id) {
                    flights.remove(&key);
                }
            }
            let rows = rows.map_err(Arc::new)?;
            {
                let mut known = locked(&inner.known);
                if known.len() + rows.len() > MAX_KNOWN_SLOTS {
                    known.clear();
                }
                known.extend(rows.iter().map(|s| (s.id, (s.hall_id, s.day))));
            }
            for slot in rows.iter().filter(|s| is_full(s)) {
                full.raise(slot.id, ticket);
            }
            Ok(Arc::new(rows.into_iter().map(|s| (s.id, s)).collect()))
        }
        .boxed()
        .shared()
    }
}

/// Open, and every seat taken: what a full flag says.
pub(super) fn is_full(slot: &entities::slot::Model) -> bool {
    slot.status == entities::status::SlotStatus::Open && slot.booked >= slot.capacity
}
