//! The run's data: the working-day calendar, one hall with a bookable item released at the next
//! whole minute, two queue categories worked by twenty counters, and a clerk.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, Timelike as _, Utc};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
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
/// items, categories and counters: written before the gateway starts (see [`support::load`]).
pub async fn create_hall(db: &DatabaseConnection, release: &Release) -> anyhow::Result<Hall> {
    use support::load::{self, Item};
    let today = Utc::now().with_timezone(&SHANGHAI).date_naive();
    let mut hall = load::Hall::new(HALL_CODE, "故障演练大厅", "演练路1号")
        .open(1..=7, 0, 24 * 60)
        .open_all_day([today], "演练全天开放")
        .category(
            "A",
            "演练A类",
            Some(SEATS),
            vec![Item::new(BOOK_ITEM, "演练事项A", true)],
        )
        .category(
            "Q",
            "演练Q类",
            None,
            vec![Item::new(QUEUE_ITEMS[0], "演练事项Q", false)],
        )
        .category(
            "R",
            "演练R类",
            None,
            vec![Item::new(QUEUE_ITEMS[1], "演练事项R", false)],
        );
    for number in 1..=COUNTERS {
        hall = hall.counter(number, &[(1, 2), (2, 1)]);
    }
    // Thousands of bookings and cancellations from a few accounts: limits far above what an
    // administrator may set.
    hall.rules = load::Rules {
        release_days_ahead: i32::try_from(release.days_ahead)?,
        release_minute: i32::try_from(release.minute)?,
        weekly_limit: 1000,
        monthly_limit: 1000,
        no_show_limit: 1000,
        cancel_limit: 100_000,
        ban_days: 1,
        ..load::Rules::default()
    };
    let inserted = load::insert(db, &hall).await?;
    Ok(Hall {
        id: inserted.id,
        counters: inserted.counters,
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
