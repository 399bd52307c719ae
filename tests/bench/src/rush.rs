//! `bench rush`: the release of one day of a hall, booked by thousands of citizens at the
//! release instant through the full gateway, checked afterwards in the database, and measured
//! against a bare floor in the same run.
//!
//! ```text
//! cargo build --release -p gateway -p bench && ./target/release/bench rush
//! ./target/release/bench rush --citizens 300 --attempts 1200 --slots 20   # a quick run
//! ```
//!
//! One run: a fresh database, the WeChat simulator in-process, the release gateway as a child
//! process (its booking worker every second, the per-IP login limit out of reach, everything
//! else as in production). Then:
//!
//! 1. `--citizens` citizens log in through the real flow (a code from the simulator's
//!    `POST /__sim/login-code`, then `POST /api/v1/auth/login`) and bind a real-name identity
//!    (face-verified through the simulator, valid GB 11643 numbers).
//! 2. Written straight into the database: the item `BENCH-RUSH`, and the hall `RUSH-01` with one
//!    category of `--seats` seats a slot, 3-minute slots from 08:00 so that a day has exactly
//!    `--slots` of them, open every day the calendar works. The day booked is the next working
//!    day, released the next whole minute at least 20 s away (`release_days_ahead` and
//!    `release_minute` are set so). The gateway's booking worker cuts the slots; the bench waits
//!    until they are all there.
//! 3. At the release instant, `--attempts` `POST /api/v1/bookings` at random slots, each citizen
//!    about attempts/citizens times (in random order), `--concurrency` in flight; status, error
//!    code and latency of each are kept.
//! 4. The floor, on the same PostgreSQL and the same tables: a second hall with a fresh set of
//!    the same slots, and the same attempts with the same concurrency and as many connections as
//!    the gateway's pool, each one transaction doing only `UPDATE slots SET booked = booked + 1
//!    WHERE id = $1 AND status = 'OPEN' AND booked < capacity` and, when a seat was taken, the
//!    INSERT of the booking (its unique `active_key` included). No HTTP, no framework, no checks.
//! 5. Once everything is sold out: `--sold-out-attempts` more attempts through the gateway, with
//!    the gateway's `booking_slot_full_total{decided_by}` (from `/metrics`) and PostgreSQL's own
//!    transaction count for the database (`pg_stat_database`) read before and after.
//! 6. The checks, in the database: no slot oversold (and each slot's `booked` equal to its live
//!    bookings), no identity with two live bookings of the item that day, every 201 a BOOKED row
//!    of that citizen and slot, and every BOOKED row answered 201. A failed check is printed and
//!    makes the exit status non-zero.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, Timelike as _, Utc};
use clap::Args;
use futures::{StreamExt as _, TryStreamExt as _};
use rand::Rng as _;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend, DbErr, SqlErr,
    Statement, TransactionTrait as _, Value,
};
use serde_json::json;
use services::booking::rules;
use services::calendar::CalendarStore;
use services::time::SHANGHAI;
use simulators::wechat::{WechatSim, WechatSimConfig};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::Backends;
use crate::backends::{self, Fresh};
use crate::launch::GatewayCommand;
use crate::process;
use crate::report::ms;

const HALL_CODE: &str = "RUSH-01";
const FLOOR_HALL_CODE: &str = "RUSH-FLOOR";
const ITEM_CODE: &str = "BENCH-RUSH";
/// The floor books another item, so that its bookings never meet the gateway's `active_key`s.
const FLOOR_ITEM_CODE: &str = "BENCH-RUSH-FLOOR";
const SLOT_MINUTES: u32 = 3;
const OPENS_MINUTE: u32 = 8 * 60;
const MAX_SLOTS: u32 = (24 * 60 - OPENS_MINUTE) / SLOT_MINUTES;
/// The release instant is a whole minute at least this far from the end of the setup.
const MIN_LEAD: Duration = Duration::from_secs(20);
/// Requests a minute that no run reaches: the per-IP login limit counts, but never refuses.
const UNREACHABLE_LIMIT: u64 = 100_000_000;
/// Logins (and identity bindings) in flight at once while preparing the citizens.
const LOGINS_IN_FLIGHT: usize = 32;
/// How long the gateway's worker may take to cut the day's slots.
const SLOTS_READY_LIMIT: Duration = Duration::from_secs(30);
/// How long the gateway's outbox may take to settle after the rush.
const OUTBOX_LIMIT: Duration = Duration::from_secs(120);
/// A PostgreSQL backend reports its transaction counts within 10 s of going idle
/// (PGSTAT_IDLE_INTERVAL); reads of `pg_stat_database` wait this long after the load.
const STATS_SETTLE: Duration = Duration::from_millis(11_000);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const RATIO_TARGET: f64 = 0.70;
/// Sold-out refusals a second ÷ the same gateway's `GET /api/v1/me` a second (issue 16).
const SOLD_OUT_TARGET: f64 = 0.80;

#[derive(Args, Debug, Clone)]
pub struct RushOptions {
    #[command(flatten)]
    backends: Backends,
    /// Citizens logged in with a bound identity before the release.
    #[arg(long, default_value_t = 5000)]
    citizens: usize,
    /// Booking attempts fired at the release instant, spread over the citizens.
    #[arg(long, default_value_t = 20_000)]
    attempts: usize,
    /// Slots of the released day (one category, 3-minute slots from 08:00).
    #[arg(long, default_value_t = 200)]
    slots: u32,
    /// Seats per slot.
    #[arg(long, default_value_t = 10)]
    seats: u32,
    /// Attempts in flight at once (gateway and floor alike).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// PostgreSQL connections: the gateway's pool (APP_DATABASE__MAX_CONNECTIONS) and the
    /// floor's.
    #[arg(long, default_value_t = 20)]
    pool: u32,
    /// Attempts through the gateway once everything is sold out [default: attempts / 5].
    #[arg(long)]
    sold_out_attempts: Option<usize>,
    /// Seed of the attempts' order and slots.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Append the gateway's output to this file instead of /dev/null.
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
}

pub async fn run(options: RushOptions) -> anyhow::Result<()> {
    if options.citizens == 0 || options.attempts == 0 || options.concurrency == 0 {
        bail!("--citizens, --attempts and --concurrency must be at least 1");
    }
    if !(1..=MAX_SLOTS).contains(&options.slots) {
        bail!("--slots must be between 1 and {MAX_SLOTS} (3-minute slots from 08:00)");
    }
    if options.seats == 0 || options.pool == 0 {
        bail!("--seats and --pool must be at least 1");
    }
    let gateway = process::sibling_binary("gateway")?;

    let (outcome, cleanup) = backends::with_fresh(&options.backends, async |fresh: &Fresh| {
        measure(&options, gateway, fresh).await
    })
    .await;

    let report = outcome?;
    print!("{report}");
    cleanup?;
    if let Some(why) = report.failure() {
        bail!("{why} (see above)");
    }
    Ok(())
}

/// One attempt: which citizen books which slot (indexes into the run's lists).
#[derive(Debug, Clone, Copy)]
struct Attempt {
    citizen: usize,
    slot: usize,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
enum Outcome {
    /// A booking (the gateway's 201, or the floor's commit), with its id.
    Booked(i64),
    /// A refusal (a 4xx), with its error code.
    Refused(String),
    /// A read answered 200 (`GET /api/v1/me`, the sold-out phase's yardstick).
    Read,
    /// No answer, or one that makes no sense (a 5xx, a transport error, a database error).
    Failed(String),
}

impl Outcome {
    /// The column an outcome is counted in.
    fn label(&self) -> String {
        match self {
            Self::Booked(_) => "booked".to_owned(),
            Self::Refused(code) => code.clone(),
            Self::Read => "read".to_owned(),
            Self::Failed(_) => "failed".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
struct Answer {
    attempt: Attempt,
    outcome: Outcome,
    latency: Duration,
    /// When the answer came, from the start of its phase.
    done: Duration,
}

/// The answers of one phase, sorted by latency.
struct Phase {
    answers: Vec<Answer>,
    /// First send to last answer.
    elapsed: Duration,
}

impl Phase {
    fn per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.answers.len() as f64 / secs
        } else {
            0.0
        }
    }

    /// Nearest-rank percentile of the latencies, `p` in 0..=1.
    fn percentile(&self, p: f64) -> Duration {
        crate::report::nearest_rank(self.answers.len(), p)
            .map_or(Duration::ZERO, |i| self.answers[i].latency)
    }

    fn count(&self, label: &str) -> usize {
        self.answers
            .iter()
            .filter(|a| a.outcome.label() == label)
            .count()
    }

    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for a in &self.answers {
            *counts.entry(a.outcome.label()).or_default() += 1;
        }
        counts
    }

    /// When the last booking was answered, from the start.
    fn last_booking(&self) -> Option<Duration> {
        self.answers
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Booked(_)))
            .map(|a| a.done)
            .max()
    }

    fn failures(&self) -> Vec<&str> {
        self.answers
            .iter()
            .filter_map(|a| match &a.outcome {
                Outcome::Failed(why) => Some(why.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// A logged-in citizen with a bound identity.
struct Citizen {
    id: i64,
    token: String,
    /// `citizens.id_card_index`, as the gateway wrote it.
    identity_index: String,
}

/// When and what is released.
#[derive(Debug, Clone, Copy)]
struct Release {
    at: DateTime<Utc>,
    /// The day booked: the first day of the booking window at `at`.
    day: NaiveDate,
    days_ahead: i64,
    minute: u32,
}

impl Release {
    /// The next whole minute at least [`MIN_LEAD`] away, and the next working day after its
    /// date (Asia/Shanghai), on the calendar the gateway reads.
    async fn next(db: &DatabaseConnection) -> anyhow::Result<Self> {
        let earliest = Utc::now() + chrono::Duration::from_std(MIN_LEAD)?;
        let at = earliest
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .context("round to the minute")?
            + chrono::Duration::minutes(1);
        let local = at.with_timezone(&SHANGHAI);
        let release_date = local.date_naive();
        let minute = local.hour() * 60 + local.minute();
        let calendar = CalendarStore::new(db.clone())
            .calendar()
            .await
            .context("read the working-day calendar")?;
        let day = calendar
            .next_working_day(release_date)
            .context("no working day after the release date")?;
        Ok(Self {
            at,
            day,
            days_ahead: (day - release_date).num_days(),
            minute,
        })
    }
}

/// Loads the working-day calendar into the fresh database before the gateway starts, as an
/// administrator would: a day of a year with no calendar is never released, and the gateway
/// caches the calendar for a while once it has read it.
async fn load_calendar(fresh: &Fresh) -> anyhow::Result<()> {
    let db = Database::connect(
        ConnectOptions::new(&fresh.database_url)
            .max_connections(1)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .context("connect to the fresh database")?;
    gateway::startup::migrate_up(&db).await?;
    let calendar = CalendarStore::new(db.clone());
    for text in [services::calendar::DEMO_2026, services::calendar::DEMO_2027] {
        calendar.seed(text).await.context("load a calendar year")?;
    }
    db.close().await.context("close the seeding connection")
}

/// The floor's slots: ids with their start, in the gateway's order.
struct FloorSlots {
    hall_id: i64,
    category_id: i64,
    slots: Vec<(i64, DateTime<Utc>)>,
}

async fn measure(options: &RushOptions, gateway: PathBuf, fresh: &Fresh) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(LOGINS_IN_FLIGHT)
        .build()
        .context("build the HTTP client")?;
    let wechat = WechatSim::start(WechatSimConfig::default())
        .await
        .context("start the WeChat simulator")?;
    let report = measure_with(options, gateway, fresh, &http, &wechat).await;
    wechat.stop().await;
    report
}

async fn measure_with(
    options: &RushOptions,
    gateway: PathBuf,
    fresh: &Fresh,
    http: &reqwest::Client,
    wechat: &WechatSim,
) -> anyhow::Result<Report> {
    load_calendar(fresh).await?;
    let command = GatewayCommand::new(
        gateway,
        fresh,
        &options.backends.redis_url,
        wechat,
        options.server_log.clone(),
    );
    let started = command
        .start(
            http,
            &[
                (
                    "APP_LIMITS__LOGIN_PER_IP_PER_MINUTE",
                    UNREACHABLE_LIMIT.to_string(),
                ),
                ("APP_BOOKING__WORKER_INTERVAL_SECS", "1".to_owned()),
                ("APP_DATABASE__MAX_CONNECTIONS", options.pool.to_string()),
            ],
        )
        .await?;
    let url = started.url.clone();
    let admin_url = started.admin_url.clone();
    eprintln!(
        "bench: gateway ready in {} (fresh database, migrations included)",
        ms(started.ready)
    );

    let db = Database::connect(
        ConnectOptions::new(&fresh.database_url)
            .max_connections(options.pool)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .context("connect the bench to its database")?;
    let admin = Database::connect(
        ConnectOptions::new(&options.backends.database_url)
            .max_connections(1)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .context("connect to the admin database")?;

    eprintln!(
        "bench: logging in {} citizens and binding their identities…",
        options.citizens
    );
    let setup_started = Instant::now();
    let citizens = citizens(http, wechat, &url, &db, options.citizens).await?;
    let citizens_took = setup_started.elapsed();

    let release = Release::next(&db).await?;
    let hall_id = create_halls(&db, options, &release).await?;
    let floor = floor_slots(&db, options, &release).await?;
    eprintln!(
        "bench: {} released at {} (Asia/Shanghai; in {:.0} s), {} slots × {} seats",
        release.day,
        release.at.with_timezone(&SHANGHAI).format("%H:%M:%S"),
        (release.at - Utc::now()).as_seconds_f64(),
        options.slots,
        options.seats
    );
    let slot_ids = wait_for_slots(&db, hall_id, &release, options).await?;

    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut attempts: Vec<Attempt> = (0..options.attempts)
        .map(|i| Attempt {
            citizen: i % citizens.len(),
            slot: rng.random_range(0..slot_ids.len()),
        })
        .collect();
    attempts.shuffle(&mut rng);

    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(options.concurrency)
        .tcp_nodelay(true)
        .build()
        .context("build the rush's HTTP client")?;
    let target = GatewayTarget {
        client: client.clone(),
        url: Arc::from(format!("{url}/api/v1/bookings")),
        tokens: Arc::new(citizens.iter().map(|c| c.token.clone()).collect()),
        slots: Arc::new(slot_ids.clone()),
    };
    warm_up(&client, &url, options.concurrency).await?;
    let before = slot_full(http, &admin_url).await?;

    let wait = (release.at - Utc::now()).to_std().unwrap_or_default();
    eprintln!(
        "bench: waiting {:.1} s for the release instant…",
        wait.as_secs_f64()
    );
    tokio::time::sleep(wait).await;
    let late = Utc::now() - release.at;
    eprintln!(
        "bench: rush — {} attempts, {} in flight…",
        attempts.len(),
        options.concurrency
    );
    let rush = fire(&attempts, options.concurrency, {
        let target = target.clone();
        move |a| target.clone().book(a)
    })
    .await?;
    let after = slot_full(http, &admin_url).await?;
    eprintln!(
        "bench: rush done in {}: {} booked",
        ms(rush.elapsed),
        rush.count("booked")
    );

    let outbox = wait_for_outbox(&db).await?;

    eprintln!("bench: floor — the same attempts as bare transactions…");
    let floor_phase = {
        let floor_target = FloorTarget {
            db: db.clone(),
            hall_id: floor.hall_id,
            category_id: floor.category_id,
            day: release.day,
            slots: Arc::new(floor.slots),
            // Identities of its own, as long and as random as the real ones (each citizen's
            // index reversed): the floor's bookings must not count towards the citizens'
            // weekly limit at the gateway's hall in the sold-out phase.
            citizens: Arc::new(
                citizens
                    .iter()
                    .map(|c| (c.id, c.identity_index.chars().rev().collect()))
                    .collect(),
            ),
        };
        fire(&attempts, options.concurrency, move |a| {
            floor_target.clone().book(a)
        })
        .await?
    };
    let floor_oversold = oversold(&db, floor.hall_id).await?;
    eprintln!(
        "bench: floor done in {}: {} booked",
        ms(floor_phase.elapsed),
        floor_phase.count("booked")
    );

    let sold = seats_sold(&db, hall_id).await?;
    let seats_total = i64::from(options.slots) * i64::from(options.seats);
    let sold_out = if sold >= seats_total {
        let count = options.sold_out_attempts.unwrap_or(options.attempts / 5);
        if count == 0 {
            None
        } else {
            Some(
                sold_out(
                    &admin, &db, fresh, http, &admin_url, &target, &mut rng, count, options,
                )
                .await?,
            )
        }
    } else {
        eprintln!("bench: not sold out ({sold} of {seats_total} seats): no sold-out phase");
        None
    };

    let answered: Vec<&Answer> = rush
        .answers
        .iter()
        .chain(sold_out.iter().flat_map(|s| s.phase.answers.iter()))
        .collect();
    let checks = Checks::run(&db, hall_id, &answered, &citizens, &slot_ids).await?;
    db.close().await.context("close the bench's pool")?;
    admin.close().await.context("close the admin connection")?;

    Ok(Report {
        citizens: options.citizens,
        attempts: options.attempts,
        slots: options.slots,
        seats: options.seats,
        concurrency: options.concurrency,
        pool: options.pool,
        cores: crate::report::cores(),
        release: crate::report::is_release(),
        server_log: options.server_log.clone(),
        citizens_took,
        day: release.day,
        release_at: release.at,
        late,
        rush,
        slot_full: after.since(before),
        outbox,
        floor: floor_phase,
        floor_oversold,
        sold_out,
        checks,
    })
}

/// Logs `n` citizens in through the simulator's login-code hook and the gateway, and binds each a
/// distinct identity; returns them with the identity index the gateway stored.
async fn citizens(
    http: &reqwest::Client,
    wechat: &WechatSim,
    url: &str,
    db: &DatabaseConnection,
    n: usize,
) -> anyhow::Result<Vec<Citizen>> {
    let sim = wechat.base_url();
    let logged: Vec<(i64, String)> = futures::stream::iter(0..n)
        .map(|i| login_and_bind(http, &sim, url, i))
        .buffer_unordered(LOGINS_IN_FLIGHT)
        .try_collect()
        .await?;
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id, id_card_index FROM citizens WHERE id_card_index IS NOT NULL",
        ))
        .await
        .context("read the citizens' identity indexes")?;
    let mut index = HashMap::with_capacity(rows.len());
    for row in rows {
        index.insert(
            row.try_get_by_index::<i64>(0)?,
            row.try_get_by_index::<String>(1)?,
        );
    }
    logged
        .into_iter()
        .map(|(id, token)| {
            let identity_index = index
                .remove(&id)
                .with_context(|| format!("citizen {id} has no identity in the database"))?;
            Ok(Citizen {
                id,
                token,
                identity_index,
            })
        })
        .collect()
}

pub(crate) async fn login_and_bind(
    http: &reqwest::Client,
    sim: &str,
    url: &str,
    n: usize,
) -> anyhow::Result<(i64, String)> {
    let minted: serde_json::Value = http
        .post(format!("{sim}/__sim/login-code"))
        .json(&json!({}))
        .send()
        .await
        .context("ask the simulator for a login code")?
        .error_for_status()
        .context("the simulator's login-code hook")?
        .json()
        .await
        .context("read the login code")?;
    let code = minted["code"]
        .as_str()
        .context("no code from the simulator")?;
    let response = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .context("log a citizen in")?;
    let status = response.status();
    let body = response.text().await.context("read the login answer")?;
    if status != reqwest::StatusCode::OK {
        bail!("login answered {status}: {body}");
    }
    let body: serde_json::Value =
        serde_json::from_str(&body).context("the login answer is not JSON")?;
    let token = body["token"]
        .as_str()
        .context("no token in the login answer")?
        .to_owned();
    // The identity is proven the way the mini-program does it: a face verification, passed
    // in the simulator (its `face-result` hook), then completed.
    let response = http
        .post(format!("{url}/api/v1/me/identity/verifications"))
        .bearer_auth(&token)
        .json(&json!({ "name": name(n), "idCardNo": id_card_no(n) }))
        .send()
        .await
        .context("start a face verification")?;
    let status = response.status();
    let body = response
        .text()
        .await
        .context("read the verification answer")?;
    if status != reqwest::StatusCode::CREATED {
        bail!("POST /api/v1/me/identity/verifications answered {status}: {body}");
    }
    let started: serde_json::Value =
        serde_json::from_str(&body).context("the verification answer is not JSON")?;
    let verification = started["id"]
        .as_str()
        .context("no id in the verification answer")?;
    http.post(format!("{sim}/__sim/face-result"))
        .json(&json!({ "verifyId": started["verifyId"], "verifyRet": 10000 }))
        .send()
        .await
        .context("pass the face in the simulator")?
        .error_for_status()
        .context("the simulator's face-result hook")?;
    let response = http
        .post(format!(
            "{url}/api/v1/me/identity/verifications/{verification}/complete"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .context("complete the face verification")?;
    let status = response.status();
    let body = response.text().await.context("read the binding answer")?;
    if status != reqwest::StatusCode::OK {
        bail!("completing the face verification answered {status}: {body}");
    }
    let me: serde_json::Value =
        serde_json::from_str(&body).context("the binding answer is not JSON")?;
    let id = me["id"]
        .as_i64()
        .context("no citizen id in the binding answer")?;
    Ok((id, token))
}

/// A two-character Chinese name.
pub(crate) fn name(n: usize) -> String {
    const GIVEN: [char; 8] = ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊'];
    format!("张{}", GIVEN[n % GIVEN.len()])
}

/// The `n`-th of distinct valid GB 11643 numbers: Beijing Chaoyang, born on the `n / 1000`-th day
/// after 1950-01-01, sequence `n % 1000`, and the MOD 11-2 check character.
pub(crate) fn id_card_no(n: usize) -> String {
    let born = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
        + chrono::Duration::days(i64::try_from(n / 1000).unwrap_or(0));
    let body = format!("110105{}{:03}", born.format("%Y%m%d"), n % 1000);
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = char::from(b"10X98765432"[(sum % 11) as usize]);
    format!("{body}{check}")
}

/// The item, the rush's hall (active, released as `release` says) and the floor's hall
/// (inactive, so the gateway never cuts its slots: the bench does), written before the gateway
/// starts (see [`support::load`]). Returns the rush hall's id.
async fn create_halls(
    db: &DatabaseConnection,
    options: &RushOptions,
    release: &Release,
) -> anyhow::Result<i64> {
    use support::load::{self, Item};
    let opens = i32::try_from(OPENS_MINUTE)?;
    let closes = i32::try_from(OPENS_MINUTE + options.slots * SLOT_MINUTES)?;
    let mut ids = Vec::new();
    for (code, item_code, active) in [
        (HALL_CODE, ITEM_CODE, true),
        (FLOOR_HALL_CODE, FLOOR_ITEM_CODE, false),
    ] {
        let mut hall = load::Hall::new(code, &format!("压测大厅 {code}"), "压测路1号")
            .open(1..=7, opens, closes)
            .category(
                "A",
                "户政",
                Some(i32::try_from(options.seats)?),
                vec![Item::new(item_code, "居民身份证换领", true)],
            );
        hall.active = active;
        hall.rules = load::Rules {
            slot_minutes: i32::try_from(SLOT_MINUTES)?,
            release_days_ahead: i32::try_from(release.days_ahead)?,
            release_minute: i32::try_from(release.minute)?,
            ..load::Rules::default()
        };
        ids.push(load::insert(db, &hall).await?.id);
    }
    ids.first().copied().context("no hall inserted")
}

/// Cuts the floor hall's slots of the day, the same shape as the gateway's.
async fn floor_slots(
    db: &DatabaseConnection,
    options: &RushOptions,
    release: &Release,
) -> anyhow::Result<FloorSlots> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT h.id, c.id FROM halls h JOIN categories c ON c.hall_id = h.id \
             WHERE h.code = $1",
            [FLOOR_HALL_CODE.into()],
        ))
        .await
        .context("read the floor hall")?
        .context("no floor hall")?;
    let hall_id: i64 = row.try_get_by_index(0)?;
    let category_id: i64 = row.try_get_by_index(1)?;
    let mut slots = Vec::new();
    for i in 0..options.slots {
        let start = OPENS_MINUTE + i * SLOT_MINUTES;
        slots.push((
            rules::at_minute(release.day, start),
            rules::at_minute(release.day, start + SLOT_MINUTES),
        ));
    }
    let mut ids = Vec::with_capacity(slots.len());
    for chunk in slots.chunks(500) {
        let mut sql = String::from(
            "INSERT INTO slots (hall_id, category_id, day, starts_at, ends_at, capacity, booked, \
             status) VALUES ",
        );
        let mut values: Vec<Value> = Vec::new();
        for (i, (starts, ends)) in chunk.iter().enumerate() {
            let p = i * 4;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "({hall_id}, {category_id}, ${}, ${}, ${}, ${}, 0, 'OPEN')",
                p + 1,
                p + 2,
                p + 3,
                p + 4
            ));
            values.extend([
                release.day.into(),
                (*starts).into(),
                (*ends).into(),
                i32::try_from(options.seats)?.into(),
            ]);
        }
        sql.push_str(" RETURNING id, starts_at");
        for row in db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await
            .context("insert the floor's slots")?
        {
            ids.push((
                row.try_get_by_index::<i64>(0)?,
                row.try_get_by_index::<DateTime<Utc>>(1)?,
            ));
        }
    }
    ids.sort_by_key(|(_, starts)| *starts);
    Ok(FloorSlots {
        hall_id,
        category_id,
        slots: ids,
    })
}

/// Waits until the gateway's booking worker has cut the day: every slot there, with its seats.
async fn wait_for_slots(
    db: &DatabaseConnection,
    hall_id: i64,
    release: &Release,
    options: &RushOptions,
) -> anyhow::Result<Vec<i64>> {
    let started = Instant::now();
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id, capacity, status FROM slots WHERE hall_id = $1 AND day = $2 \
                 ORDER BY starts_at",
                [hall_id.into(), release.day.into()],
            ))
            .await
            .context("read the day's slots")?;
        if !rows.is_empty() {
            let mut ids = Vec::with_capacity(rows.len());
            for row in rows {
                let capacity: i32 = row.try_get_by_index(1)?;
                let status: String = row.try_get_by_index(2)?;
                if u32::try_from(capacity).ok() != Some(options.seats) || status != "OPEN" {
                    bail!(
                        "the gateway cut a slot of capacity {capacity}, status {status}: \
                         expected {} seats, OPEN",
                        options.seats
                    );
                }
                ids.push(row.try_get_by_index::<i64>(0)?);
            }
            if ids.len() == options.slots as usize {
                eprintln!(
                    "bench: the gateway's worker cut the {} slots of {} within {}",
                    ids.len(),
                    release.day,
                    ms(started.elapsed())
                );
                return Ok(ids);
            }
            bail!(
                "the gateway cut {} slots of {}, expected {}",
                ids.len(),
                release.day,
                options.slots
            );
        }
        if started.elapsed() > SLOTS_READY_LIMIT {
            bail!(
                "the gateway's booking worker did not cut the slots of {} within {:?}",
                release.day,
                SLOTS_READY_LIMIT
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens the rush client's connections before the release, as clients that were already on
/// the page would have them.
async fn warm_up(client: &reqwest::Client, url: &str, connections: usize) -> anyhow::Result<()> {
    let healthz = format!("{url}/healthz");
    futures::stream::iter(0..connections)
        .map(|_| {
            let request = client.get(&healthz);
            async move {
                request
                    .send()
                    .await
                    .context("GET /healthz")?
                    .error_for_status()
                    .context("GET /healthz")
                    .map(drop)
            }
        })
        .buffer_unordered(connections)
        .try_collect::<Vec<()>>()
        .await
        .map(drop)
}

/// Runs every attempt through `book`, `concurrency` at a time, each in its own task.
async fn fire<F, Fut>(attempts: &[Attempt], concurrency: usize, book: F) -> anyhow::Result<Phase>
where
    F: Fn(Attempt) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for &attempt in attempts {
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .context("the semaphore closed")?;
        let booking = book(attempt);
        tasks.spawn(async move {
            let sent = Instant::now();
            let outcome = booking.await;
            let latency = sent.elapsed();
            drop(permit);
            Answer {
                attempt,
                outcome,
                latency,
                done: started.elapsed(),
            }
        });
    }
    let mut answers = Vec::with_capacity(attempts.len());
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.context("an attempt panicked")?);
    }
    let elapsed = answers.iter().map(|a| a.done).max().unwrap_or_default();
    answers.sort_by_key(|a| a.latency);
    Ok(Phase { answers, elapsed })
}

/// The gateway's booking endpoint, with the citizens' tokens and the day's slots.
#[derive(Clone)]
struct GatewayTarget {
    client: reqwest::Client,
    url: Arc<str>,
    tokens: Arc<Vec<String>>,
    slots: Arc<Vec<i64>>,
}

impl GatewayTarget {
    /// `GET /api/v1/me` as the attempt's citizen: the gateway's cheapest authenticated read,
    /// the yardstick of a sold-out refusal in the same run.
    async fn me(self, attempt: Attempt) -> Outcome {
        let Some(token) = self.tokens.get(attempt.citizen) else {
            return Outcome::Failed("an attempt out of range".to_owned());
        };
        let url = self.url.replace("/api/v1/bookings", "/api/v1/me");
        match self.client.get(url).bearer_auth(token).send().await {
            Ok(response) if response.status().as_u16() == 200 => match response.bytes().await {
                Ok(_) => Outcome::Read,
                Err(e) => Outcome::Failed(format!("200 with an unreadable body: {e}")),
            },
            Ok(response) => Outcome::Failed(format!("GET /me answered {}", response.status())),
            Err(e) => Outcome::Failed(format!("transport: {e}")),
        }
    }

    async fn book(self, attempt: Attempt) -> Outcome {
        let (Some(token), Some(slot_id)) = (
            self.tokens.get(attempt.citizen),
            self.slots.get(attempt.slot),
        ) else {
            return Outcome::Failed("an attempt out of range".to_owned());
        };
        let sent = self
            .client
            .post(&*self.url)
            .bearer_auth(token)
            .json(&json!({ "slotId": slot_id, "itemCode": ITEM_CODE }))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Outcome::Failed(format!("transport: {e}")),
        };
        let status = response.status().as_u16();
        let body: serde_json::Value = match response.json().await {
            Ok(body) => body,
            Err(e) => return Outcome::Failed(format!("{status} with an unreadable body: {e}")),
        };
        match status {
            201 => match body["id"].as_i64() {
                Some(id) => Outcome::Booked(id),
                None => Outcome::Failed("201 without a booking id".to_owned()),
            },
            400..=499 => Outcome::Refused(body["code"].as_str().unwrap_or("?").to_owned()),
            _ => Outcome::Failed(format!(
                "{status} {}",
                body["code"].as_str().unwrap_or("(no code)")
            )),
        }
    }
}

/// The floor: the booking's two statements in one transaction, straight on the pool.
#[derive(Clone)]
struct FloorTarget {
    db: DatabaseConnection,
    hall_id: i64,
    category_id: i64,
    day: NaiveDate,
    slots: Arc<Vec<(i64, DateTime<Utc>)>>,
    /// Citizen id and identity index.
    citizens: Arc<Vec<(i64, String)>>,
}

impl FloorTarget {
    async fn book(self, attempt: Attempt) -> Outcome {
        match self.try_book(attempt).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed(format!("database: {e}")),
        }
    }

    async fn try_book(&self, attempt: Attempt) -> Result<Outcome, DbErr> {
        let (Some(&(slot_id, starts_at)), Some((citizen_id, identity))) = (
            self.slots.get(attempt.slot),
            self.citizens.get(attempt.citizen),
        ) else {
            return Ok(Outcome::Failed("an attempt out of range".to_owned()));
        };
        let txn = self.db.begin().await?;
        let taken = txn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE slots SET booked = booked + 1 \
                 WHERE id = $1 AND status = 'OPEN' AND booked < capacity",
                [slot_id.into()],
            ))
            .await?;
        if taken.rows_affected() != 1 {
            txn.rollback().await?;
            return Ok(Outcome::Refused("SLOT_FULL".to_owned()));
        }
        let code: String = {
            let mut rng = rand::rng();
            (0..12)
                .map(|_| char::from(b"23456789ABCDEFGHJKMNPQRSTUVWXYZ"[rng.random_range(0..31)]))
                .collect()
        };
        let inserted = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO bookings (code, citizen_id, identity_index, hall_id, category_id, \
                 slot_id, item_code, day, starts_at, status, active_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'BOOKED', $10, $11) RETURNING id",
                [
                    code.into(),
                    (*citizen_id).into(),
                    identity.clone().into(),
                    self.hall_id.into(),
                    self.category_id.into(),
                    slot_id.into(),
                    FLOOR_ITEM_CODE.into(),
                    self.day.into(),
                    starts_at.into(),
                    format!("{identity}:{FLOOR_ITEM_CODE}:{}", self.day).into(),
                    Utc::now().into(),
                ],
            ))
            .await;
        match inserted {
            Ok(Some(row)) => {
                let id: i64 = row.try_get_by_index(0)?;
                txn.commit().await?;
                Ok(Outcome::Booked(id))
            }
            Ok(None) => Ok(Outcome::Failed("INSERT … RETURNING gave no row".to_owned())),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                txn.rollback().await?;
                Ok(Outcome::Refused("ALREADY_BOOKED".to_owned()))
            }
            Err(e) => Err(e),
        }
    }
}

/// `booking_slot_full_total` of the gateway's `/metrics` (on its admin listener), by who decided.
#[derive(Debug, Clone, Copy, Default)]
struct SlotFull {
    store: u64,
    database: u64,
    /// `booking_day_reads_total`: reads of a hall's day of slots, each shared by the bookings
    /// of the day in flight at the time.
    day_reads: u64,
}

impl SlotFull {
    fn since(self, before: Self) -> Self {
        Self {
            store: self.store.saturating_sub(before.store),
            database: self.database.saturating_sub(before.database),
            day_reads: self.day_reads.saturating_sub(before.day_reads),
        }
    }

    fn total(self) -> u64 {
        self.store + self.database
    }

    fn store_share(self) -> f64 {
        if self.total() == 0 {
            0.0
        } else {
            self.store as f64 / self.total() as f64
        }
    }

    fn parse(text: &str) -> Self {
        let mut counts = Self::default();
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("booking_day_reads_total ") {
                counts.day_reads = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
                continue;
            }
            let Some((labels, value)) = line
                .strip_prefix("booking_slot_full_total{")
                .and_then(|rest| rest.split_once('}'))
            else {
                continue;
            };
            let value = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
            if labels.contains("decided_by=\"memory\"") || labels.contains("decided_by=\"store\"") {
                counts.store += value;
            } else if labels.contains("decided_by=\"database\"") {
                counts.database += value;
            }
        }
        counts
    }
}

async fn slot_full(http: &reqwest::Client, url: &str) -> anyhow::Result<SlotFull> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .context("GET /metrics")?
        .error_for_status()
        .context("GET /metrics")?
        .text()
        .await
        .context("read /metrics")?;
    Ok(SlotFull::parse(&text))
}

/// Waits until the gateway's delivery worker has handled every notification of the rush, so
/// that the floor does not share the machine with it. Returns how long that took.
async fn wait_for_outbox(db: &DatabaseConnection) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) FROM notifications WHERE status IN ('PENDING', 'SENDING', 'IN_FLIGHT')",
            ))
            .await
            .context("count the outbox")?
            .context("no count")?;
        let left: i64 = row.try_get_by_index(0)?;
        if left == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > OUTBOX_LIMIT {
            bail!("{left} notifications still undelivered {OUTBOX_LIMIT:?} after the rush");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(db: &DatabaseConnection, sql: &str, hall_id: i64) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [hall_id.into()],
        ))
        .await
        .with_context(|| format!("run {sql}"))?
        .context("no count")?;
    Ok(row.try_get_by_index(0)?)
}

async fn oversold(db: &DatabaseConnection, hall_id: i64) -> anyhow::Result<i64> {
    count(
        db,
        "SELECT count(*) FROM slots WHERE hall_id = $1 AND booked > capacity",
        hall_id,
    )
    .await
}

async fn seats_sold(db: &DatabaseConnection, hall_id: i64) -> anyhow::Result<i64> {
    count(
        db,
        "SELECT coalesce(sum(booked), 0)::bigint FROM slots WHERE hall_id = $1",
        hall_id,
    )
    .await
}

/// The phase after the sale: attempts at sold-out slots, with the gateway's store/database
/// split and what PostgreSQL counted in the run's database meanwhile.
struct SoldOut {
    phase: Phase,
    /// `GET /api/v1/me` right after, the same citizens, client and concurrency.
    me: Phase,
    slot_full: SlotFull,
    /// Transactions per attempt, the gateway's idle rate taken out.
    transactions: f64,
    /// Per attempt, for the tables a booking reads or writes: (table, scans, rows written).
    tables: Vec<(&'static str, f64, f64)>,
}

impl SoldOut {
    /// The share of attempts that did not reach PostgreSQL, estimated from the table a booking
    /// reads most: an attempt that reaches PostgreSQL scans it at least once.
    fn untouched(&self) -> f64 {
        let most = self.tables.iter().map(|t| t.1).fold(0.0, f64::max);
        (1.0 - most).clamp(0.0, 1.0)
    }
}

/// Tables a booking attempt touches, as `pg_stat_user_tables` names them.
const BOOKING_TABLES: [&str; 5] = [
    "citizens",
    "slots",
    "booking_holders",
    "bookings",
    "notifications",
];

/// What PostgreSQL has counted so far in the run's database.
struct PgCounts {
    at: Instant,
    transactions: i64,
    /// Per table: sequential + index scans, rows inserted + updated + deleted.
    tables: HashMap<String, (i64, i64)>,
}

impl PgCounts {
    async fn read(
        admin: &DatabaseConnection,
        db: &DatabaseConnection,
        name: &str,
    ) -> anyhow::Result<Self> {
        let row = admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database \
                 WHERE datname = $1",
                [name.into()],
            ))
            .await
            .context("read pg_stat_database")?
            .context("the bench database is not in pg_stat_database")?;
        let transactions = row.try_get_by_index(0)?;
        let mut tables = HashMap::new();
        for row in db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT relname::text, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::bigint, \
                 (n_tup_ins + n_tup_upd + n_tup_del)::bigint FROM pg_stat_user_tables",
            ))
            .await
            .context("read pg_stat_user_tables")?
        {
            tables.insert(
                row.try_get_by_index(0)?,
                (row.try_get_by_index(1)?, row.try_get_by_index(2)?),
            );
        }
        Ok(Self {
            at: Instant::now(),
            transactions,
            tables,
        })
    }

    fn table(&self, name: &str) -> (i64, i64) {
        self.tables.get(name).copied().unwrap_or_default()
    }
}

/// Per attempt: what PostgreSQL counted from `before` to `after`, less what it counts idle
/// (`after` to `idle`, scaled to the same length).
fn per_attempt(before: i64, after: i64, idle: i64, spans: (f64, f64), attempts: usize) -> f64 {
    let (measured, idle_span) = spans;
    let background = if idle_span > 0.0 {
        (idle - after) as f64 * measured / idle_span
    } else {
        0.0
    };
    ((after - before) as f64 - background).max(0.0) / attempts.max(1) as f64
}

#[allow(clippy::too_many_arguments)]
async fn sold_out(
    admin: &DatabaseConnection,
    db: &DatabaseConnection,
    fresh: &Fresh,
    http: &reqwest::Client,
    metrics_url: &str,
    target: &GatewayTarget,
    rng: &mut StdRng,
    count: usize,
    options: &RushOptions,
) -> anyhow::Result<SoldOut> {
    let name = fresh.database_name();
    let attempts: Vec<Attempt> = (0..count)
        .map(|_| Attempt {
            citizen: rng.random_range(0..target.tokens.len()),
            slot: rng.random_range(0..target.slots.len()),
        })
        .collect();
    eprintln!(
        "bench: sold out — {} s for PostgreSQL's counters to settle, then {count} attempts…",
        STATS_SETTLE.as_secs()
    );
    tokio::time::sleep(STATS_SETTLE).await;
    let before = slot_full(http, metrics_url).await?;
    let c0 = PgCounts::read(admin, db, &name).await?;
    let phase = fire(&attempts, options.concurrency, {
        let target = target.clone();
        move |a| target.clone().book(a)
    })
    .await?;
    let after = slot_full(http, metrics_url).await?;
    tokio::time::sleep(STATS_SETTLE).await;
    let c1 = PgCounts::read(admin, db, &name).await?;
    eprintln!(
        "bench: {} s more to measure what PostgreSQL counts with the gateway idle…",
        STATS_SETTLE.as_secs()
    );
    tokio::time::sleep(STATS_SETTLE).await;
    let c2 = PgCounts::read(admin, db, &name).await?;
    eprintln!("bench: the same {count} citizens' GET /api/v1/me, for comparison…");
    let me = fire(&attempts, options.concurrency, {
        let target = target.clone();
        move |a| target.clone().me(a)
    })
    .await?;
    let spans = ((c1.at - c0.at).as_secs_f64(), (c2.at - c1.at).as_secs_f64());
    let n = phase.answers.len();
    let tables = BOOKING_TABLES
        .iter()
        .map(|&table| {
            let (s0, w0) = c0.table(table);
            let (s1, w1) = c1.table(table);
            let (s2, w2) = c2.table(table);
            (
                table,
                per_attempt(s0, s1, s2, spans, n),
                per_attempt(w0, w1, w2, spans, n),
            )
        })
        .collect();
    Ok(SoldOut {
        me,
        slot_full: after.since(before),
        transactions: per_attempt(c0.transactions, c1.transactions, c2.transactions, spans, n),
        tables,
        phase,
    })
}

/// What the database says after the run.
struct Checks {
    seats_sold: i64,
    /// Slots with more booked than their capacity.
    oversold: i64,
    /// Slots whose `booked` is not their number of live bookings.
    miscounted: i64,
    /// Identity, item and day with more than one live booking.
    duplicates: i64,
    /// 201s whose booking is not a BOOKED row of that citizen and slot.
    answered_not_stored: usize,
    /// The same booking id answered 201 twice.
    answered_twice: usize,
    /// BOOKED rows never answered 201.
    stored_not_answered: usize,
}

impl Checks {
    async fn run(
        db: &DatabaseConnection,
        hall_id: i64,
        answers: &[&Answer],
        citizens: &[Citizen],
        slot_ids: &[i64],
    ) -> anyhow::Result<Self> {
        let seats_sold = count(
            db,
            "SELECT count(*) FROM bookings WHERE hall_id = $1 AND status = 'BOOKED'",
            hall_id,
        )
        .await?;
        let oversold = oversold(db, hall_id).await?;
        let miscounted = count(
            db,
            "SELECT count(*) FROM slots s WHERE s.hall_id = $1 AND s.booked <> \
             (SELECT count(*) FROM bookings b WHERE b.slot_id = s.id AND b.status = 'BOOKED')",
            hall_id,
        )
        .await?;
        let duplicates = count(
            db,
            "SELECT count(*) FROM (SELECT identity_index, item_code, day FROM bookings \
             WHERE hall_id = $1 AND status IN ('BOOKED', 'CHECKED_IN', 'NO_SHOW') \
             GROUP BY identity_index, item_code, day HAVING count(*) > 1) d",
            hall_id,
        )
        .await?;
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id, citizen_id, slot_id, status FROM bookings WHERE hall_id = $1",
                [hall_id.into()],
            ))
            .await
            .context("read the hall's bookings")?;
        let mut stored: HashMap<i64, (i64, i64, String)> = HashMap::with_capacity(rows.len());
        for row in rows {
            stored.insert(
                row.try_get_by_index(0)?,
                (
                    row.try_get_by_index(1)?,
                    row.try_get_by_index(2)?,
                    row.try_get_by_index(3)?,
                ),
            );
        }
        let mut answered = HashSet::new();
        let mut answered_not_stored = 0;
        let mut answered_twice = 0;
        for answer in answers {
            let Outcome::Booked(id) = answer.outcome else {
                continue;
            };
            if !answered.insert(id) {
                answered_twice += 1;
            }
            let expected = (
                citizens.get(answer.attempt.citizen).map(|c| c.id),
                slot_ids.get(answer.attempt.slot).copied(),
            );
            match stored.get(&id) {
                Some((citizen, slot, status))
                    if status == "BOOKED" && expected == (Some(*citizen), Some(*slot)) => {}
                _ => answered_not_stored += 1,
            }
        }
        let stored_not_answered = stored
            .iter()
            .filter(|(id, (_, _, status))| status == "BOOKED" && !answered.contains(*id))
            .count();
        Ok(Self {
            seats_sold,
            oversold,
            miscounted,
            duplicates,
            answered_not_stored,
            answered_twice,
            stored_not_answered,
        })
    }

    fn passed(&self) -> bool {
        self.oversold == 0
            && self.miscounted == 0
            && self.duplicates == 0
            && self.answered_not_stored == 0
            && self.answered_twice == 0
            && self.stored_not_answered == 0
    }
}

/// Every figure of one run, all measured in it.
struct Report {
    citizens: usize,
    attempts: usize,
    slots: u32,
    seats: u32,
    concurrency: usize,
    pool: u32,
    cores: usize,
    release: bool,
    server_log: Option<PathBuf>,
    citizens_took: Duration,
    day: NaiveDate,
    release_at: DateTime<Utc>,
    /// How late after the release instant the first attempt went.
    late: chrono::TimeDelta,
    rush: Phase,
    slot_full: SlotFull,
    outbox: Duration,
    floor: Phase,
    floor_oversold: i64,
    sold_out: Option<SoldOut>,
    checks: Checks,
}

impl Report {
    fn ratio(&self) -> f64 {
        let floor = self.floor.per_sec();
        if floor > 0.0 {
            self.rush.per_sec() / floor
        } else {
            0.0
        }
    }

    fn seats(&self) -> i64 {
        i64::from(self.slots) * i64::from(self.seats)
    }

    /// Why the run went wrong, if it did: a failed check, or answers that were no answers.
    fn failure(&self) -> Option<String> {
        let mut why = Vec::new();
        if !self.checks.passed() {
            why.push("the database checks failed".to_owned());
        }
        let failed = self.rush.failures().len()
            + self
                .sold_out
                .as_ref()
                .map_or(0, |s| s.phase.failures().len() + s.me.failures().len());
        if failed > 0 {
            why.push(format!("{failed} gateway attempts got no answer or a 5xx"));
        }
        if !self.floor.failures().is_empty() || self.floor_oversold > 0 {
            why.push("the floor run went wrong".to_owned());
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

fn ok(passed: bool) -> &'static str {
    if passed { "OK" } else { "FAILED" }
}

/// The answers' columns, in a fixed order, then any other code.
fn outcome_columns(phases: &[&Phase]) -> Vec<String> {
    let mut columns: Vec<String> = ["booked", "SLOT_FULL", "ALREADY_BOOKED"]
        .map(str::to_owned)
        .to_vec();
    for phase in phases {
        for label in phase.counts().into_keys() {
            if !columns.contains(&label) {
                columns.push(label);
            }
        }
    }
    columns
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        crate::report::warn_if_debug(f, self.release)?;
        writeln!(
            f,
            "Booking rush, PostgreSQL + Redis — {} slots × {} seats released at {} (Asia/Shanghai) \
             for {}; {} citizens, {} attempts, {} in flight, pool {}",
            self.slots,
            self.seats,
            self.release_at.with_timezone(&SHANGHAI).format("%H:%M:%S"),
            self.day,
            self.citizens,
            self.attempts,
            self.concurrency,
            self.pool
        )?;
        let sold_out = self.sold_out.as_ref();
        let mut phases: Vec<(&str, &Phase)> = vec![("gateway", &self.rush), ("floor", &self.floor)];
        if let Some(s) = sold_out {
            phases.push(("gateway, sold out", &s.phase));
            phases.push(("gateway, GET /me", &s.me));
        }
        let columns = outcome_columns(&phases.iter().map(|(_, p)| *p).collect::<Vec<_>>());
        write!(
            f,
            "{:<19}{:>9}{:>11}{:>10}{:>10}{:>10}{:>10}",
            "", "attempts", "per s", "p50", "p90", "p99", "max"
        )?;
        for column in &columns {
            write!(f, "{:>w$}", column, w = column.len().max(6) + 2)?;
        }
        writeln!(f)?;
        for (name, phase) in &phases {
            write!(
                f,
                "{:<19}{:>9}{:>11.0}{:>10}{:>10}{:>10}{:>10}",
                name,
                phase.answers.len(),
                phase.per_sec(),
                ms(phase.percentile(0.50)),
                ms(phase.percentile(0.90)),
                ms(phase.percentile(0.99)),
                ms(phase.percentile(1.0))
            )?;
            let counts = phase.counts();
            for column in &columns {
                write!(
                    f,
                    "{:>w$}",
                    counts.get(column).copied().unwrap_or(0),
                    w = column.len().max(6) + 2
                )?;
            }
            writeln!(f)?;
        }
        let ratio = self.ratio();
        writeln!(
            f,
            "ratio (gateway/floor attempts/s): {ratio:.2}      target ≥ {RATIO_TARGET:.2}   {}",
            verdict(ratio >= RATIO_TARGET)
        )?;
        if let Some(s) = sold_out {
            let me = s.me.per_sec();
            let cheap = if me > 0.0 {
                s.phase.per_sec() / me
            } else {
                0.0
            };
            writeln!(
                f,
                "sold-out refusals / the gateway's own GET /me (same run, citizens, client and \
                 concurrency): {cheap:.2}      target ≥ {SOLD_OUT_TARGET:.2}   {}",
                verdict(cheap >= SOLD_OUT_TARGET)
            )?;
        }
        let sold_in = |phase: &Phase| phase.last_booking().map_or_else(|| "-".to_owned(), ms);
        writeln!(
            f,
            "sold: gateway {} of {} seats (last 201 at {} after the first attempt, which went \
             {} ms after the release instant); floor {} (last at {})",
            self.checks.seats_sold,
            self.seats(),
            sold_in(&self.rush),
            self.late.num_milliseconds(),
            self.floor.count("booked"),
            sold_in(&self.floor)
        )?;
        let c = &self.checks;
        writeln!(
            f,
            "checks: oversold slots {}, slots whose booked ≠ live bookings {}, duplicate live \
             bookings (identity+item+day) {}, 201s not BOOKED in the database {}, a booking \
             answered 201 twice {}, BOOKED rows never answered 201 {}   {}",
            c.oversold,
            c.miscounted,
            c.duplicates,
            c.answered_not_stored,
            c.answered_twice,
            c.stored_not_answered,
            ok(c.passed())
        )?;
        let full = self.slot_full;
        writeln!(
            f,
            "SLOT_FULL during the rush: {} — {} ({:.0}%) decided from memory (the full-slot flag), {} by the database",
            full.total(),
            full.store,
            full.store_share() * 100.0,
            full.database
        )?;
        match sold_out {
            Some(s) => {
                let refused = s.phase.answers.len() - s.phase.count("booked");
                let share = s.slot_full.store_share();
                writeln!(
                    f,
                    "once sold out ({} attempts, {} refused): SLOT_FULL {} — {} ({:.0}%) decided \
                     from memory (the full-slot flag), {} by the database in {} shared reads of \
                     the day",
                    s.phase.answers.len(),
                    refused,
                    s.slot_full.total(),
                    s.slot_full.store,
                    share * 100.0,
                    s.slot_full.database,
                    s.slot_full.day_reads,
                )?;
                // Only the tables with something to say (at least 0.005 per attempt).
                let list = |pick: fn(&(&str, f64, f64)) -> f64| {
                    let listed: Vec<String> = s
                        .tables
                        .iter()
                        .filter(|t| pick(t) >= 0.005)
                        .map(|t| format!("{} {:.2}", t.0, pick(t)))
                        .collect();
                    if listed.is_empty() {
                        "none".to_owned()
                    } else {
                        listed.join(", ")
                    }
                };
                writeln!(
                    f,
                    "  PostgreSQL per attempt: {:.2} transactions; scans: {}; rows written: {}",
                    s.transactions,
                    list(|t| t.1),
                    list(|t| t.2)
                )?;
                let untouched = s.untouched();
                writeln!(
                    f,
                    "  rejections served without touching PostgreSQL ≈ {:.0}% (1 − scans per \
                     attempt of the most-read table)   target: most   {}",
                    untouched * 100.0,
                    verdict(untouched > 0.5)
                )?;
            }
            None => writeln!(
                f,
                "once sold out: not measured (the rush did not sell every seat, or \
                 --sold-out-attempts 0)"
            )?,
        }
        for (name, phase) in &phases {
            let failures = phase.failures();
            if let Some(first) = failures.first() {
                writeln!(
                    f,
                    "!!! the {name} run had {} attempts without a proper answer (first: {first})",
                    failures.len()
                )?;
            }
        }
        if self.floor_oversold > 0 {
            writeln!(f, "!!! the floor oversold {} slots", self.floor_oversold)?;
        }
        if !c.passed() {
            writeln!(f, "!!! CHECKS FAILED: see the line above")?;
        }

        let logs = crate::report::server_logs(self.server_log.as_deref());
        writeln!(f)?;
        writeln!(f, "How it was measured:")?;
        writeln!(
            f,
            "- gateway: `gateway serve`, {}, default workers, production log level, output {logs}; \
             pool of {} PostgreSQL connections; booking worker every 1 s (it cut the day's slots \
             before the release); per-IP login limit out of reach, everything else as shipped.",
            if self.release {
                "release build"
            } else {
                "NOT a release build"
            },
            self.pool
        )?;
        writeln!(
            f,
            "- {} citizens logged in (simulator login code, POST /api/v1/auth/login) and bound \
             distinct identities (face-verified) in {:.1} s before the release. The \
             hall {HALL_CODE}: one category, {SLOT_MINUTES}-minute slots from 08:00, {} seats \
             each, the item {ITEM_CODE} mapped to it; the day is the next working day, released \
             the next whole minute at least {} s after the setup.",
            self.citizens,
            self.citizens_took.as_secs_f64(),
            self.seats,
            MIN_LEAD.as_secs()
        )?;
        writeln!(
            f,
            "- rush: at the release instant, {} POST /api/v1/bookings at random slots (citizen \
             i mod {}, shuffled: about {:.1} attempts each), {} in flight (one task each, one \
             reqwest client whose connections were opened before), no Idempotency-Key. Latency: \
             send to full answer (closed loop); per s: attempts / first send → last answer.",
            self.attempts,
            self.citizens,
            self.attempts as f64 / self.citizens as f64,
            self.concurrency
        )?;
        writeln!(
            f,
            "- floor: after the gateway's outbox had settled ({:.1} s), the same attempts, same \
             order, same concurrency, on a pool of {} connections, on a second hall's fresh {} \
             slots in the same tables, as the same citizens with identities of its own (their \
             index reversed: as long, other values): BEGIN; UPDATE slots SET booked = booked + 1 WHERE id = $1 \
             AND status = 'OPEN' AND booked < capacity; INSERT INTO bookings … RETURNING id (a \
             unique-key violation is ALREADY_BOOKED); COMMIT. Nothing else.",
            self.outbox.as_secs_f64(),
            self.pool,
            self.slots
        )?;
        writeln!(
            f,
            "- SLOT_FULL split: the gateway's booking_slot_full_total{{decided_by}} (/metrics) \
             before and after. Sold out: after {} s of quiet (each instance's full-slot flags last \
             5 s and a freed seat clears them through pub/sub; once one lapses, the next request \
             reads the slot row, refuses before any transaction and raises it again), random \
             citizens at random (full) slots. PostgreSQL's own counts for the run's database: transactions \
             (pg_stat_database xact_commit + xact_rollback), scans (seq_scan + idx_scan) and rows \
             written (n_tup_ins + upd + del) of pg_stat_user_tables, read {} s after the load (the \
             backends' report delay), less what it counts with the gateway idle over the next \
             {} s (its workers).",
            STATS_SETTLE.as_secs(),
            STATS_SETTLE.as_secs(),
            STATS_SETTLE.as_secs()
        )?;
        writeln!(
            f,
            "- checks: in the database after every phase, over every 201 of the rush and the \
             sold-out phase; live = BOOKED (nothing was cancelled or checked in)."
        )?;
        writeln!(
            f,
            "- the bench (clients, simulator), the gateway, Redis and PostgreSQL all share this \
             machine's {} cores.",
            self.cores
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_numbers_are_valid_and_distinct() {
        let today = Utc::now().date_naive();
        let numbers: HashSet<String> = (0..30_000).map(id_card_no).collect();
        assert_eq!(numbers.len(), 30_000);
        for n in [0, 1, 999, 1000, 29_999] {
            let number = id_card_no(n);
            assert!(
                services::identity::IdCardNo::parse_as_of(&number, today).is_ok(),
                "{number}"
            );
        }
    }

    #[test]
    fn the_split_is_read_from_prometheus_text() {
        let text = "# TYPE booking_slot_full_total counter\n\
                    booking_slot_full_total{decided_by=\"store\"} 1500\n\
                    booking_slot_full_total{decided_by=\"database\"} 12\n\
                    bookings_total{kind=\"new\"} 3\n\
                    booking_day_reads_total 4\n";
        let split = SlotFull::parse(text);
        assert_eq!(
            (split.store, split.database, split.day_reads),
            (1500, 12, 4)
        );
        assert!((split.store_share() - 1500.0 / 1512.0).abs() < 1e-9);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let answers = (1..=100)
            .map(|i| Answer {
                attempt: Attempt {
                    citizen: 0,
                    slot: 0,
                },
                outcome: Outcome::Booked(i),
                latency: Duration::from_millis(u64::try_from(i).unwrap()),
                done: Duration::ZERO,
            })
            .collect();
        let phase = Phase {
            answers,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(phase.percentile(0.5), Duration::from_millis(50));
        assert_eq!(phase.percentile(0.99), Duration::from_millis(99));
        assert!((phase.per_sec() - 50.0).abs() < 1e-9);
    }
}
