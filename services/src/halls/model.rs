//! A hall as every other capability reads it (the read model): the hall's row, its rules and
//! schedule, its categories and counters, which category handles which item, and the seats of
//! a slot per category; and [`HallDirectory`], the one cache of it every capability shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use sea_orm::DatabaseConnection;

use entities::{category, counter, hall};

use super::input::{DayHours, HallRules, TimeOfDay};
use super::schedule::Schedule;
use crate::cache::TtlCache;
use crate::calendar::WorkingCalendar;

/// A hall with what the capabilities that serve citizens there need of it.
#[derive(Debug, Clone)]
pub struct HallModel {
    pub hall: hall::Model,
    pub rules: HallRules,
    pub schedule: Schedule,
    /// Every category of the hall, by id.
    pub categories: HashMap<i64, category::Model>,
    /// Every counter of the hall, active or not, by id (a ticket names the counter it was at).
    pub counters: HashMap<i64, counter::Model>,
    /// The category that handles each item the hall books or queues for.
    items: HashMap<String, i64>,
    /// Seats per slot of each category, by category id.
    seats: Vec<(i64, i32)>,
    /// The categories each counter serves, with their weights, by category id.
    serves: HashMap<i64, Vec<(i64, i32)>>,
}

impl HallModel {
    /// `serving`: `(counter id, category id, weight)` of the hall's counters. A category
    /// without its own seats per slot gets as many as active counters serve it.
    pub(crate) fn new(
        hall: hall::Model,
        schedule: Schedule,
        categories: HashMap<i64, category::Model>,
        counters: HashMap<i64, counter::Model>,
        serving: &[(i64, i64, i32)],
        items: HashMap<String, i64>,
    ) -> Self {
        let mut seats: Vec<(i64, i32)> = categories
            .values()
            .map(|c| {
                let active = serving
                    .iter()
                    .filter(|(counter, cat, _)| {
                        *cat == c.id && counters.get(counter).is_some_and(|k| k.active)
                    })
                    .count();
                let default = i32::try_from(active).unwrap_or(i32::MAX);
                (c.id, c.seats_per_slot.unwrap_or(default))
            })
            .collect();
        seats.sort_unstable();
        let mut serves: HashMap<i64, Vec<(i64, i32)>> = HashMap::new();
        for &(counter, category, weight) in serving {
            serves.entry(counter).or_default().push((category, weight));
        }
        for categories in serves.values_mut() {
            categories.sort_unstable();
        }
        Self {
            rules: HallRules::of(&hall),
            hall,
            schedule,
            categories,
            counters,
            items,
            seats,
            serves,
        }
    }

    /// The categories a counter of this hall serves, with their weights, by category id
    /// (empty for a counter that serves none or is not of this hall).
    pub fn serves(&self, counter_id: i64) -> &[(i64, i32)] {
        self.serves.get(&counter_id).map_or(&[], Vec::as_slice)
    }

    /// The hours the hall keeps on `day`, if it opens.
    pub fn hours_on(&self, day: NaiveDate, calendar: &WorkingCalendar) -> Option<DayHours> {
        self.schedule.hours_on(day, calendar)
    }

    pub fn category_name(&self, id: i64) -> &str {
        self.categories.get(&id).map_or("", |c| c.name.as_str())
    }

    /// The category of this hall that handles `item_code`, if the hall handles it.
    pub fn category_of(&self, item_code: &str) -> Option<i64> {
        self.items.get(item_code).copied()
    }

    /// Seats per slot of each category, by category id.
    pub fn seats(&self) -> &[(i64, i32)] {
        &self.seats
    }
}

impl HallRules {
    /// The rules stored on a hall's row.
    pub fn of(row: &hall::Model) -> Self {
        Self {
            slot_minutes: row.slot_minutes,
            release_days_ahead: row.release_days_ahead,
            release_time: TimeOfDay::from_minutes(row.release_minute)
                .unwrap_or(Self::default().release_time),
            book_min_working_days: row.book_min_working_days,
            book_max_working_days: row.book_max_working_days,
            cancel_cutoff_minutes: row.cancel_cutoff_minutes,
            checkin_before_minutes: row.checkin_before_minutes,
            checkin_after_minutes: row.checkin_after_minutes,
            weekly_limit: row.weekly_limit,
            monthly_limit: row.monthly_limit,
            no_show_limit: row.no_show_limit,
            cancel_limit: row.cancel_limit,
            penalty_window_days: row.penalty_window_days,
            ban_days: row.ban_days,
        }
    }
}

/// How long a hall's read model is trusted once read: an administrator's change reaches every
/// instance within it.
pub const HALL_CACHE_FOR: Duration = Duration::from_secs(5);

/// The halls' read models as read a moment ago, shared by every capability of an instance
/// (the rush reads them thousands of times a second); cheap to clone.
#[derive(Clone)]
pub struct HallDirectory {
    db: DatabaseConnection,
    models: TtlCache<i64, HallModel>,
}

impl HallDirectory {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            models: TtlCache::new(HALL_CACHE_FOR, 10_000),
        }
    }

    /// The hall's read model, read at most every [`HALL_CACHE_FOR`].
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Arc<HallModel>>> {
        if let Some(model) = self.models.get(&id) {
            return Ok(Some(model));
        }
        let Some(model) = super::queries::model(&self.db, id).await? else {
            return Ok(None);
        };
        let model = Arc::new(model);
        self.models.put(id, Arc::clone(&model));
        Ok(Some(model))
    }

    /// Forgets a hall changed on this instance, so that it is read afresh at once.
    pub fn forget(&self, id: i64) {
        self.models.remove(&id);
    }
}
