//! The halls of the bench and the fault harness, written straight into the database before the
//! gateway starts: the one place outside the admin API that writes a hall.
//!
//! Why not the admin API: those runs need what an administrator may not set — per-person limits
//! far above domain-rules.md's bounds (thousands of bookings from one account in the fault
//! harness), a hall open until midnight (`24:00` is no `HH:MM`), or a hall that is inactive from
//! its first moment — and they set the hall up before the gateway's first start, so its first
//! release round already sees it. Tests use [`crate::admin::HallSpec`] instead.

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{DatabaseConnection, EntityTrait as _};

/// Every rule of a hall, as stored; the defaults are domain-rules.md's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub slot_minutes: i32,
    pub release_days_ahead: i32,
    /// Minutes after midnight, Shanghai.
    pub release_minute: i32,
    pub book_min_working_days: i32,
    pub book_max_working_days: i32,
    pub cancel_cutoff_minutes: i32,
    pub checkin_before_minutes: i32,
    pub checkin_after_minutes: i32,
    pub weekly_limit: i32,
    pub monthly_limit: i32,
    pub no_show_limit: i32,
    pub cancel_limit: i32,
    pub penalty_window_days: i32,
    pub ban_days: i32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            slot_minutes: 30,
            release_days_ahead: 7,
            release_minute: 8 * 60,
            book_min_working_days: 1,
            book_max_working_days: 5,
            cancel_cutoff_minutes: 120,
            checkin_before_minutes: 15,
            checkin_after_minutes: 30,
            weekly_limit: 2,
            monthly_limit: 6,
            no_show_limit: 2,
            cancel_limit: 5,
            penalty_window_days: 30,
            ban_days: 90,
        }
    }
}

/// An item of the catalogue, handled in the category that lists it.
#[derive(Debug, Clone)]
pub struct Item {
    pub code: String,
    pub name: String,
    pub bookable: bool,
}

impl Item {
    pub fn new(code: &str, name: &str, bookable: bool) -> Item {
        Item {
            code: code.to_owned(),
            name: name.to_owned(),
            bookable,
        }
    }
}

/// A category and the items it handles.
#[derive(Debug, Clone)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub seats_per_slot: Option<i32>,
    pub items: Vec<Item>,
}

/// A hall with its hours, days open by exception, categories, items and counters.
#[derive(Debug, Clone)]
pub struct Hall {
    pub code: String,
    pub name: String,
    pub address: String,
    pub active: bool,
    pub rules: Rules,
    pub checkin_secret: String,
    /// `(weekday 1–7, opens, closes)` in minutes after midnight, no break.
    pub hours: Vec<(i32, i32, i32)>,
    /// Days open `(opens, closes)` whatever the weekly hours and the calendar say.
    pub open_days: Vec<(NaiveDate, i32, i32)>,
    /// The note of the days in `open_days`.
    pub open_note: String,
    pub categories: Vec<Category>,
    /// `(number, [(index in categories, weight)])`.
    pub counters: Vec<(i32, Vec<(usize, i32)>)>,
}

impl Hall {
    /// An active hall with the default rules and nothing in it yet.
    pub fn new(code: &str, name: &str, address: &str) -> Hall {
        Hall {
            code: code.to_owned(),
            name: name.to_owned(),
            address: address.to_owned(),
            active: true,
            rules: Rules::default(),
            checkin_secret: uuid::Uuid::new_v4().simple().to_string(),
            hours: Vec::new(),
            open_days: Vec::new(),
            open_note: String::new(),
            categories: Vec::new(),
            counters: Vec::new(),
        }
    }

    /// Opens `opens`–`closes` (minutes) on each of `weekdays`.
    pub fn open(
        mut self,
        weekdays: impl IntoIterator<Item = i32>,
        opens: i32,
        closes: i32,
    ) -> Self {
        self.hours
            .extend(weekdays.into_iter().map(|d| (d, opens, closes)));
        self
    }

    /// Opens all day on each of `days`, by exception.
    pub fn open_all_day(mut self, days: impl IntoIterator<Item = NaiveDate>, note: &str) -> Self {
        self.open_days
            .extend(days.into_iter().map(|d| (d, 0, 24 * 60)));
        self.open_note = note.to_owned();
        self
    }

    pub fn category(
        mut self,
        code: &str,
        name: &str,
        seats: Option<i32>,
        items: Vec<Item>,
    ) -> Self {
        self.categories.push(Category {
            code: code.to_owned(),
            name: name.to_owned(),
            seats_per_slot: seats,
            items,
        });
        self
    }

    /// A counter named `N号窗口` serving categories (by index) with their weights.
    pub fn counter(mut self, number: i32, serves: &[(usize, i32)]) -> Self {
        self.counters.push((number, serves.to_vec()));
        self
    }
}

/// The ids of what [`insert`] wrote: categories and counters in the spec's order.
#[derive(Debug, Clone)]
pub struct Inserted {
    pub id: i64,
    pub categories: Vec<i64>,
    pub counters: Vec<i64>,
}

/// Writes the hall, its items and everything in it, in one transaction.
///
/// # Errors
/// A write fails (a code already taken, say).
pub async fn insert(db: &DatabaseConnection, spec: &Hall) -> anyhow::Result<Inserted> {
    use entities::{
        category, counter, counter_category, hall, hall_exception, hall_hours, hall_item, item,
    };
    let now = Utc::now();
    let r = spec.rules;
    let txn = services::db::write(db).await.context("begin the setup")?;
    let hall_id = hall::Entity::insert(hall::ActiveModel {
        code: Set(spec.code.clone()),
        name: Set(spec.name.clone()),
        address: Set(spec.address.clone()),
        slot_minutes: Set(r.slot_minutes),
        release_days_ahead: Set(r.release_days_ahead),
        release_minute: Set(r.release_minute),
        book_min_working_days: Set(r.book_min_working_days),
        book_max_working_days: Set(r.book_max_working_days),
        cancel_cutoff_minutes: Set(r.cancel_cutoff_minutes),
        checkin_before_minutes: Set(r.checkin_before_minutes),
        checkin_after_minutes: Set(r.checkin_after_minutes),
        weekly_limit: Set(r.weekly_limit),
        monthly_limit: Set(r.monthly_limit),
        no_show_limit: Set(r.no_show_limit),
        cancel_limit: Set(r.cancel_limit),
        penalty_window_days: Set(r.penalty_window_days),
        ban_days: Set(r.ban_days),
        checkin_secret: Set(spec.checkin_secret.clone()),
        active: Set(spec.active),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&txn)
    .await
    .with_context(|| format!("insert the hall {}", spec.code))?
    .last_insert_id;
    if !spec.hours.is_empty() {
        hall_hours::Entity::insert_many(spec.hours.iter().map(|&(weekday, opens, closes)| {
            hall_hours::ActiveModel {
                hall_id: Set(hall_id),
                weekday: Set(weekday),
                opens_minute: Set(opens),
                closes_minute: Set(closes),
                break_start_minute: Set(None),
                break_end_minute: Set(None),
            }
        }))
        .exec_without_returning(&txn)
        .await
        .context("insert the opening hours")?;
    }
    for &(day, opens, closes) in &spec.open_days {
        hall_exception::Entity::insert(hall_exception::ActiveModel {
            hall_id: Set(hall_id),
            day: Set(day),
            closed: Set(false),
            opens_minute: Set(Some(opens)),
            closes_minute: Set(Some(closes)),
            note: Set(spec.open_note.clone()),
        })
        .exec_without_returning(&txn)
        .await
        .context("open the hall by exception")?;
    }
    let mut categories = Vec::new();
    for c in &spec.categories {
        let category_id = category::Entity::insert(category::ActiveModel {
            hall_id: Set(hall_id),
            code: Set(c.code.clone()),
            name: Set(c.name.clone()),
            prefix: Set(c.code.clone()),
            seats_per_slot: Set(c.seats_per_slot),
            ..Default::default()
        })
        .exec(&txn)
        .await
        .context("insert a category")?
        .last_insert_id;
        for i in &c.items {
            item::Entity::insert(item::ActiveModel {
                item_code: Set(i.code.clone()),
                handle_item_code: Set(i.code.clone()),
                name: Set(i.name.clone()),
                department: Set("压测局".to_owned()),
                item_type: Set(2),
                legal_days: Set(20),
                promised_days: Set(5),
                fee: Set("0".to_owned()),
                materials: Set("[]".to_owned()),
                online_level: Set(1),
                bookable: Set(i.bookable),
                halls: Set("[]".to_owned()),
                guide_url: Set(None),
                synced_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await
            .context("insert an item")?;
            hall_item::Entity::insert(hall_item::ActiveModel {
                hall_id: Set(hall_id),
                item_code: Set(i.code.clone()),
                category_id: Set(category_id),
            })
            .exec_without_returning(&txn)
            .await
            .context("map an item")?;
        }
        categories.push(category_id);
    }
    let mut counters = Vec::new();
    for (number, serves) in &spec.counters {
        let counter_id = counter::Entity::insert(counter::ActiveModel {
            hall_id: Set(hall_id),
            number: Set(*number),
            name: Set(format!("{number}号窗口")),
            active: Set(true),
            ..Default::default()
        })
        .exec(&txn)
        .await
        .context("insert a counter")?
        .last_insert_id;
        for &(index, weight) in serves {
            let category_id = *categories
                .get(index)
                .with_context(|| format!("counter {number} serves category #{index}"))?;
            counter_category::Entity::insert(counter_category::ActiveModel {
                counter_id: Set(counter_id),
                category_id: Set(category_id),
                weight: Set(weight),
            })
            .exec_without_returning(&txn)
            .await
            .context("let a counter serve a category")?;
        }
        counters.push(counter_id);
    }
    txn.commit().await.context("commit the setup")?;
    Ok(Inserted {
        id: hall_id,
        categories,
        counters,
    })
}
