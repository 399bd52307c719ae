//! The run's data: the working-day calendar, one hall with a bookable item released at the next
//! whole minute, two queue categories worked by twenty counters, and a clerk.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, Timelike as _, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, EntityTrait as _, TransactionTrait as _};
use services::calendar::CalendarStore;
use services::time::SHANGHAI;

pub const HALL_CODE: &str = "CLUSTER-01";
pub const BOOK_ITEM: &str = "CLUSTER-BOOK";
pub const QUEUE_ITEMS: [&str; 2] = ["CLUSTER-Q1", "CLUSTER-Q2"];
/// The applications' item, from the provincial simulator's catalogue.
pub const APPLY_ITEM: &str = "11330100MB1C39588D3000117005000";
pub const CLERK: &str = "clusterclerk";
pub const CLERK_PASSWORD: &str = "a long enough harness password";
pub const COUNTERS: i32 = 20;
/// Seats of each 30-minute slot of the released day (48 slots).
pub const SEATS: i32 = 2;

/// When the day is released, and which day.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    pub at: DateTime<Utc>,
    pub day: NaiveDate,
    days_ahead: i64,
    minute: u32,
}

impl Release {
    /// The next whole minute at least `lead` away, and the next working day after its date.
    pub async fn next(db: &DatabaseConnection, lead: std::time::Duration) -> anyhow::Result<Self> {
        let earliest = Utc::now() + chrono::Duration::from_std(lead)?;
        let at = earliest
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .context("round to the minute")?
            + chrono::Duration::minutes(1);
        let local = at.with_timezone(&SHANGHAI);
        let release_date = local.date_naive();
        let calendar = CalendarStore::new(db.clone())
            .calendar()
            .await
            .context("read the calendar")?;
        let day = calendar
            .next_working_day(release_date)
            .context("no working day after the release date")?;
        Ok(Self {
            at,
            day,
            days_ahead: (day - release_date).num_days(),
            minute: local.hour() * 60 + local.minute(),
        })
    }
}

pub struct Hall {
    pub id: i64,
    pub counters: Vec<i64>,
}

pub async fn load_calendar(db: &DatabaseConnection) -> anyhow::Result<()> {
    let calendar = CalendarStore::new(db.clone());
    for text in [services::calendar::DEMO_2026, services::calendar::DEMO_2027] {
        calendar.seed(text).await.context("load a calendar year")?;
    }
    Ok(())
}

/// The hall, open all day every day (today by exception too, whatever the calendar says), its
/// items, categories and counters.
pub async fn create_hall(db: &DatabaseConnection, release: &Release) -> anyhow::Result<Hall> {
    use entities::{
        category, counter, counter_category, hall, hall_exception, hall_hours, hall_item, item,
    };
    let now = Utc::now();
    let txn = db.begin().await.context("begin the setup")?;
    let hall_id = hall::Entity::insert(hall::ActiveModel {
        code: Set(HALL_CODE.to_owned()),
        name: Set("故障演练大厅".to_owned()),
        address: Set("演练路1号".to_owned()),
        slot_minutes: Set(30),
        release_days_ahead: Set(i32::try_from(release.days_ahead)?),
        release_minute: Set(i32::try_from(release.minute)?),
        book_min_working_days: Set(1),
        book_max_working_days: Set(5),
        cancel_cutoff_minutes: Set(120),
        checkin_before_minutes: Set(15),
        checkin_after_minutes: Set(30),
        weekly_limit: Set(1000),
        monthly_limit: Set(1000),
        no_show_limit: Set(1000),
        cancel_limit: Set(100_000),
        penalty_window_days: Set(30),
        ban_days: Set(1),
        checkin_secret: Set(uuid::Uuid::new_v4().simple().to_string()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&txn)
    .await
    .context("insert the hall")?
    .last_insert_id;
    hall_hours::Entity::insert_many((1..=7).map(|weekday| hall_hours::ActiveModel {
        hall_id: Set(hall_id),
        weekday: Set(weekday),
        opens_minute: Set(0),
        closes_minute: Set(24 * 60),
        break_start_minute: Set(None),
        break_end_minute: Set(None),
    }))
    .exec_without_returning(&txn)
    .await
    .context("insert the opening hours")?;
    let today = now.with_timezone(&SHANGHAI).date_naive();
    hall_exception::Entity::insert(hall_exception::ActiveModel {
        hall_id: Set(hall_id),
        day: Set(today),
        closed: Set(false),
        opens_minute: Set(Some(0)),
        closes_minute: Set(Some(24 * 60)),
        note: Set("演练全天开放".to_owned()),
    })
    .exec_without_returning(&txn)
    .await
    .context("open the hall today")?;
    let mut categories = Vec::new();
    for (code, item_code, seats, bookable) in [
        ("A", BOOK_ITEM, Some(SEATS), true),
        ("Q", QUEUE_ITEMS[0], None, false),
        ("R", QUEUE_ITEMS[1], None, false),
    ] {
        let category_id = category::Entity::insert(category::ActiveModel {
            hall_id: Set(hall_id),
            code: Set(code.to_owned()),
            name: Set(format!("演练{code}类")),
            prefix: Set(code.to_owned()),
            seats_per_slot: Set(seats),
            ..Default::default()
        })
        .exec(&txn)
        .await
        .context("insert a category")?
        .last_insert_id;
        item::Entity::insert(item::ActiveModel {
            item_code: Set(item_code.to_owned()),
            handle_item_code: Set(item_code.to_owned()),
            name: Set(format!("演练事项{code}")),
            department: Set("演练局".to_owned()),
            item_type: Set(2),
            legal_days: Set(20),
            promised_days: Set(5),
            fee: Set("0".to_owned()),
            materials: Set("[]".to_owned()),
            online_level: Set(1),
            bookable: Set(bookable),
            halls: Set(String::new()),
            guide_url: Set(None),
            synced_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await
        .context("insert an item")?;
        hall_item::Entity::insert(hall_item::ActiveModel {
            hall_id: Set(hall_id),
            item_code: Set(item_code.to_owned()),
            category_id: Set(category_id),
        })
        .exec_without_returning(&txn)
        .await
        .context("map an item")?;
        categories.push(category_id);
    }
    let mut counters = Vec::new();
    for number in 1..=COUNTERS {
        let id = counter::Entity::insert(counter::ActiveModel {
            hall_id: Set(hall_id),
            number: Set(number),
            name: Set(format!("{number}号窗口")),
            active: Set(true),
            ..Default::default()
        })
        .exec(&txn)
        .await
        .context("insert a counter")?
        .last_insert_id;
        for (category_id, weight) in [(categories[1], 2), (categories[2], 1)] {
            counter_category::Entity::insert(counter_category::ActiveModel {
                counter_id: Set(id),
                category_id: Set(category_id),
                weight: Set(weight),
            })
            .exec_without_returning(&txn)
            .await
            .context("let a counter serve a category")?;
        }
        counters.push(id);
    }
    txn.commit().await.context("commit the setup")?;
    Ok(Hall {
        id: hall_id,
        counters,
    })
}

/// Runs `gateway <args>` with the run's settings; fails with its output.
pub fn gateway_command(
    binary: &Path,
    config: &Path,
    env: &[(String, String)],
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> anyhow::Result<String> {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("APP_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG").args(args);
    if args.first().is_some_and(|a| *a != "migrate") {
        command.arg("--config").arg(config);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    for (k, v) in extra_env {
        command.env(k, v);
    }
    let out = command
        .output()
        .with_context(|| format!("run gateway {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "gateway {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Slots the gateway's booking worker cut for the released day, once it has.
pub async fn wait_for_slots(
    db: &DatabaseConnection,
    hall_id: i64,
    day: NaiveDate,
    limit: std::time::Duration,
) -> anyhow::Result<Vec<i64>> {
    let started = std::time::Instant::now();
    loop {
        let rows = db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT s.id FROM slots s JOIN categories c ON c.id = s.category_id \
                 WHERE s.hall_id = $1 AND s.day = $2 AND c.code = 'A' ORDER BY s.starts_at",
                [hall_id.into(), day.into()],
            ))
            .await
            .context("read the day's slots")?;
        if rows.len() == 48 {
            return rows
                .iter()
                .map(|r| r.try_get_by_index::<i64>(0).map_err(Into::into))
                .collect();
        }
        if started.elapsed() > limit {
            bail!(
                "the booking worker cut {} of 48 slots of {day} within {limit:?}",
                rows.len()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
