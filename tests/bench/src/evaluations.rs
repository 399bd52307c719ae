//! `bench evaluations`: a hall's monthly statistics and its open-rectification list over a year
//! of evaluations, and ratings accepted per second through the gateway against the booking
//! floor (bench rush's bare transaction) measured in the same run.
//!
//! ```text
//! cargo build --release -p gateway -p bench && ./target/release/bench evaluations
//! ./target/release/bench evaluations --evaluations 100000 --ratings 1000   # a quick run
//! ```
//!
//! One run: a fresh PostgreSQL database, the WeChat simulator in-process, the gateway as a child
//! process (its evaluation forwarder and worker off, so only what is measured runs). Then:
//!
//! 1. Written straight into the database (one `INSERT … SELECT generate_series`): `--halls`
//!    halls and `--evaluations` evaluations spread evenly over the past year and the halls, each
//!    attributed to one of 10 counters, 8 categories, 20 staff members and 30 items of its hall;
//!    grades 5 (55 %), 4 (25 %), 3 (12 %, a third of them defaulted), 2 (5 %) and 1 (3 %), real
//!    name for 80 %; a rectification ticket for every real-name 差评, those of the last month
//!    still open. `ANALYZE`.
//! 2. `--queries` times each, one at a time, for a random hall: `GET
//!    /staff/v1/halls/{id}/evaluations/stats` for a random month of the year `by=counter`, and `GET
//!    /staff/v1/rectifications?hallId=` (open tickets, overdue first), as a global administrator.
//! 3. `--citizens` citizens log in and prove their identity through the real flow; each gets
//!    invitations (written into the database) for `--ratings` / citizens served tickets; all are
//!    rated through `POST /api/v1/evaluations` with `--concurrency` in flight, without comment,
//!    grades 5 5 4 5 3 4 5 1 in turn: seven in eight are one statement on PostgreSQL (the
//!    data-modifying CTE of `services/src/evaluations/rate.rs`, shared by the ratings that
//!    arrive together: group commit, `batch.rs`; `--statements-in-flight 0` turns it off),
//!    the eighth a real-name 差评 whose transaction opens its rectification ticket.
//! 4. The booking floor, on the same PostgreSQL in the same run — the yardstick of the issue's
//!    target (ratings/s ≥ 0.5 × the booking floor's transactions/s): bench rush's bare booking
//!    transaction (`UPDATE slots … booked < capacity` + `INSERT INTO bookings … RETURNING id`),
//!    as many attempts as ratings, ten attempts a seat and four an identity as rush has them,
//!    with the same concurrency and pool as the ratings.
//! 5. For comparison, the rating's own floor: as many bare transactions, each doing what a
//!    rating must do at the least — the evaluation's INSERT (its unique subject index
//!    included), the outbox row's INSERT and the invitation's UPDATE, in a transaction. No HTTP,
//!    no checks, no WeChat. The gateway's ratings may pass it: most of them are one round trip.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{Datelike as _, NaiveDate, Utc};
use clap::Args;
use futures::{StreamExt as _, TryStreamExt as _};
use rand::Rng as _;
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend};
use sea_orm::{Statement, TransactionTrait as _};
use secrecy::SecretString;
use serde_json::json;
use services::staff::{HallScope, Role};
use simulators::wechat::{WechatSim, WechatSimConfig};

use crate::Backends;
use crate::backends::{self, Fresh};
use crate::launch::GatewayCommand;
use crate::process;
use crate::report::{is_release, ms, percentile, warn_if_debug};
use crate::rush::login_and_bind;

#[derive(Args, Debug, Clone)]
pub struct EvaluationsOptions {
    #[command(flatten)]
    pub backends: Backends,
    /// Evaluations written over the past year.
    #[arg(long, default_value_t = 1_000_000)]
    pub evaluations: u64,
    #[arg(long, default_value_t = 50)]
    pub halls: u64,
    /// Requests of each read measured.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Citizens who rate through the gateway.
    #[arg(long, default_value_t = 100)]
    pub citizens: usize,
    /// Ratings through the gateway (and bare transactions of the floor).
    #[arg(long, default_value_t = 4000)]
    pub ratings: usize,
    /// Requests (and floor transactions) in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The gateway's (and the floor's) database pool.
    #[arg(long, default_value_t = 32)]
    pub pool: u32,
    /// The gateway's one-statement ratings in flight at once, the rest waiting to go
    /// together (group commit); 0 writes each rating in its own statement, as before it.
    #[arg(long, default_value_t = 4)]
    pub statements_in_flight: usize,
    /// Append the gateway's output to this file.
    #[arg(long)]
    pub server_log: Option<PathBuf>,
}

pub async fn run(options: EvaluationsOptions) -> anyhow::Result<()> {
    if options.halls == 0 || options.citizens == 0 || options.ratings == 0 || options.queries == 0 {
        bail!("--halls, --citizens, --ratings and --queries must be at least 1");
    }
    let gateway = process::sibling_binary("gateway")?;
    let (outcome, cleanup) = backends::with_fresh(&options.backends, async |fresh: &Fresh| {
        let wechat = WechatSim::start(WechatSimConfig::default())
            .await
            .context("start the WeChat simulator")?;
        let report = measure(&options, gateway, fresh, &wechat).await;
        wechat.stop().await;
        report
    })
    .await;
    let report = outcome?;
    print!("{report}");
    cleanup?;
    Ok(())
}

struct Report {
    release: bool,
    evaluations: u64,
    rectifications: i64,
    open: i64,
    halls: u64,
    seed: Duration,
    stats: Vec<Duration>,
    list: Vec<Duration>,
    listed: usize,
    ratings: usize,
    accepted: usize,
    ratings_took: Duration,
    rating_latencies: Vec<Duration>,
    floor: usize,
    floor_took: Duration,
    booking: BookingFloor,
    concurrency: usize,
    statements_in_flight: usize,
}

/// The booking floor's run: attempts answered (booked or refused, as bench rush counts them),
/// of which booked, and how long.
struct BookingFloor {
    attempts: usize,
    answered: usize,
    booked: usize,
    took: Duration,
    slots: usize,
}

async fn measure(
    options: &EvaluationsOptions,
    gateway: PathBuf,
    fresh: &Fresh,
    wechat: &WechatSim,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .context("build the HTTP client")?;
    let command = GatewayCommand::new(
        gateway,
        fresh,
        &options.backends.redis_url,
        wechat,
        options.server_log.clone(),
    );
    let started = command
        .start(
            &http,
            &[
                ("APP_LIMITS__LOGIN_PER_IP_PER_MINUTE", "1000000".to_owned()),
                ("APP_EVALUATIONS__WORKER", "false".to_owned()),
                ("APP_NOTIFICATIONS__WORKER", "false".to_owned()),
                ("APP_DATABASE__MAX_CONNECTIONS", options.pool.to_string()),
                (
                    "APP_EVALUATIONS__STATEMENTS_IN_FLIGHT",
                    options.statements_in_flight.to_string(),
                ),
            ],
        )
        .await?;
    let url = started.url.clone();
    let db = Database::connect(
        ConnectOptions::new(&fresh.database_url)
            .max_connections(options.pool)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .context("connect the bench to its database")?;

    eprintln!(
        "bench: writing {} evaluations over {} halls…",
        options.evaluations, options.halls
    );
    let seed_started = Instant::now();
    let first_hall = seed(&db, options).await?;
    let seed = seed_started.elapsed();
    let rectifications = scalar(&db, "SELECT count(*) FROM rectifications").await?;
    let open = scalar(
        &db,
        "SELECT count(*) FROM rectifications WHERE status <> 'RECTIFIED'",
    )
    .await?;
    eprintln!(
        "bench: seeded in {} ({rectifications} rectifications, {open} open)",
        ms(seed)
    );

    let admin = format!("bench-admin-{}", &fresh.id[..8]);
    let password = "bench password 0123456789";
    gateway::startup::offline_staff_service(db.clone())
        .create(
            &admin,
            SecretString::from(password),
            "评价统计",
            vec![(Role::Admin, HallScope::All)],
        )
        .await
        .context("create the administrator")?;
    let login: serde_json::Value = http
        .post(format!("{url}/staff/v1/auth/login"))
        .json(&json!({ "username": admin, "password": password }))
        .send()
        .await?
        .error_for_status()
        .context("staff login")?
        .json()
        .await?;
    let staff_token = login["token"]
        .as_str()
        .context("no staff token")?
        .to_owned();

    // The reads, one at a time.
    let year_start = Utc::now().date_naive() - chrono::Duration::days(365);
    let mut rng = rand::rng();
    let mut stats = Vec::with_capacity(options.queries);
    let mut list = Vec::with_capacity(options.queries);
    let mut listed = 0;
    for _ in 0..options.queries {
        let hall = first_hall + rng.random_range(0..i64::try_from(options.halls)?);
        let month = year_start + chrono::Duration::days(rng.random_range(0..330));
        let from = NaiveDate::from_ymd_opt(month.year(), month.month(), 1).context("a month")?;
        let to = (from + chrono::Duration::days(32))
            .with_day(1)
            .context("a month")?
            - chrono::Duration::days(1);
        let t = Instant::now();
        let reply = http
            .get(format!(
                "{url}/staff/v1/halls/{hall}/evaluations/stats?from={from}&to={to}&by=counter"
            ))
            .bearer_auth(&staff_token)
            .send()
            .await?;
        let status = reply.status();
        let body = reply.bytes().await?;
        stats.push(t.elapsed());
        if !status.is_success() {
            bail!(
                "stats answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let t = Instant::now();
        let reply = http
            .get(format!("{url}/staff/v1/rectifications?hallId={hall}"))
            .bearer_auth(&staff_token)
            .send()
            .await?;
        let status = reply.status();
        let body: serde_json::Value = reply.json().await?;
        list.push(t.elapsed());
        if !status.is_success() {
            bail!("rectifications answered {status}: {body}");
        }
        listed += body["rectifications"].as_array().map_or(0, Vec::len);
    }

    // The ratings through the gateway.
    eprintln!(
        "bench: logging in {} citizens and proving their identities…",
        options.citizens
    );
    let sim = wechat.base_url();
    let citizens: Vec<(i64, String)> = futures::stream::iter(0..options.citizens)
        .map(|i| login_and_bind(&http, &sim, &url, i))
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let subjects: Vec<(String, String)> = invitations(&db, &citizens, options, first_hall).await?;
    let http = Arc::new(http);
    let t = Instant::now();
    let outcomes: Vec<(bool, Duration)> = futures::stream::iter(subjects.into_iter().enumerate())
        .map(|(n, (token, subject))| {
            let http = Arc::clone(&http);
            let url = url.clone();
            async move {
                let grade = [5, 5, 4, 5, 3, 4, 5, 1][n % 8];
                let body = json!({
                    "subjectKind": "TICKET",
                    "subjectId": subject,
                    "grade": grade,
                    "indicators": { "overall": grade, "efficiency": grade, "serviceLevel": grade, "attitude": grade },
                });
                let started = Instant::now();
                let ok = http
                    .post(format!("{url}/api/v1/evaluations"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::CREATED);
                (ok, started.elapsed())
            }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let ratings_took = t.elapsed();
    let accepted = outcomes.iter().filter(|(ok, _)| *ok).count();
    let rating_latencies = outcomes.into_iter().map(|(_, d)| d).collect();

    // The floors: the booking's (the target's yardstick, as bench rush measures it), then the
    // rating's own bare transactions (to tell what the gateway adds).
    eprintln!("bench: the booking floor…");
    let booking = booking_floor(&db, options, first_hall, &citizens).await?;
    eprintln!("bench: the rating floor…");
    let (floor, floor_took) = floor(&db, options, first_hall).await?;
    drop(started);
    Ok(Report {
        release: is_release(),
        evaluations: options.evaluations,
        rectifications,
        open,
        halls: options.halls,
        seed,
        stats,
        list,
        listed,
        ratings: options.ratings,
        accepted,
        ratings_took,
        rating_latencies,
        floor,
        floor_took,
        booking,
        concurrency: options.concurrency,
        statements_in_flight: options.statements_in_flight,
    })
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

async fn exec(db: &impl sea_orm::ConnectionTrait, sql: String) -> anyhow::Result<()> {
    db.execute_unprepared(&sql)
        .await
        .with_context(|| sql.chars().take(120).collect::<String>())?;
    Ok(())
}

/// The halls, a year of evaluations and their rectifications. Returns the first hall's id.
async fn seed(db: &DatabaseConnection, options: &EvaluationsOptions) -> anyhow::Result<i64> {
    let halls = options.halls;
    exec(
        db,
        format!(
            "INSERT INTO halls (code, name, address, slot_minutes, release_days_ahead, release_minute, \
             book_min_working_days, book_max_working_days, cancel_cutoff_minutes, checkin_before_minutes, \
             checkin_after_minutes, weekly_limit, monthly_limit, no_show_limit, cancel_limit, \
             penalty_window_days, ban_days, checkin_secret, active, created_at, updated_at) \
             SELECT 'EV-' || g, '评价大厅' || g, '地址', 30, 7, 480, 1, 5, 120, 15, 30, 2, 6, 2, 5, 30, 90, \
             md5(g::text), true, now(), now() FROM generate_series(1, {halls}) g"
        ),
    )
    .await?;
    let first_hall = scalar(db, "SELECT min(id) FROM halls WHERE code LIKE 'EV-%'").await?;
    let n = options.evaluations;
    // g's position in the year, its hall, its grade bucket (0–99) and attribution.
    exec(
        db,
        format!(
            "INSERT INTO evaluations (id, subject_kind, subject_id, invitation_id, citizen_id, channel, \
             hall_id, counter_id, category_id, staff_id, item_code, department, grade, indicators, tags, \
             comment, comment_status, comment_label, defaulted, real_name, created_at) \
             SELECT md5('e' || g)::uuid::text, 'TICKET', 'seed-' || g, g, 1 + g % 100000, 'OFFLINE', \
             {first_hall} + g % {halls}, 1 + (g / 7) % 10, 1 + (g / 11) % 8, 1 + (g / 13) % 20, \
             'ITEM-' || ((g / 17) % 30), NULL, grade, \
             '{{\"overall\":' || grade || ',\"efficiency\":' || grade || ',\"serviceLevel\":' || grade || ',\"attitude\":' || grade || '}}', \
             '[]', NULL, 'NONE', NULL, grade = 3 AND g % 3 = 0, g % 5 <> 0, \
             now() - interval '365 days' + (g::float8 / {n} * interval '365 days') \
             FROM (SELECT g, CASE WHEN (g * 7919) % 100 < 55 THEN 5 WHEN (g * 7919) % 100 < 80 THEN 4 \
                   WHEN (g * 7919) % 100 < 92 THEN 3 WHEN (g * 7919) % 100 < 97 THEN 2 ELSE 1 END AS grade \
                   FROM generate_series(1::bigint, {n}) g) s"
        ),
    )
    .await?;
    exec(
        db,
        "INSERT INTO rectifications (evaluation_id, hall_id, department, status, contact_due_at, \
         rectify_due_at, contacted_at, contact_note, rectified_at, rectify_note, handled_by, \
         overdue_notified_at, created_at) \
         SELECT id, hall_id, NULL, \
         CASE WHEN created_at > now() - interval '30 days' THEN 'OPEN' ELSE 'RECTIFIED' END, \
         created_at + interval '1 day', created_at + interval '7 days', \
         CASE WHEN created_at > now() - interval '30 days' THEN NULL ELSE created_at + interval '20 hours' END, \
         CASE WHEN created_at > now() - interval '30 days' THEN NULL ELSE '已回访' END, \
         CASE WHEN created_at > now() - interval '30 days' THEN NULL \
              WHEN hashtext(id) % 10 = 0 THEN created_at + interval '9 days' ELSE created_at + interval '4 days' END, \
         CASE WHEN created_at > now() - interval '30 days' THEN NULL ELSE '已整改' END, \
         NULL, NULL, created_at \
         FROM evaluations WHERE grade <= 2 AND real_name"
            .to_owned(),
    )
    .await?;
    exec(db, "ANALYZE".to_owned()).await?;
    Ok(first_hall)
}

/// Served tickets' invitations for the citizens, `ratings` in all: (token, subject id).
async fn invitations(
    db: &DatabaseConnection,
    citizens: &[(i64, String)],
    options: &EvaluationsOptions,
    first_hall: i64,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(options.ratings);
    let mut values = Vec::with_capacity(options.ratings);
    for n in 0..options.ratings {
        let (citizen_id, token) = &citizens[n % citizens.len()];
        let subject = format!("rate-{n}");
        let hall = first_hall + i64::try_from(n as u64 % options.halls)?;
        values.push(format!(
            "('TICKET', '{subject}', {citizen_id}, 'OFFLINE', {hall}, 1, 1, 1, 'ITEM-1', '办事', 'EV', '1', now(), false)"
        ));
        out.push((token.clone(), subject));
    }
    for chunk in values.chunks(1000) {
        exec(
            db,
            format!(
                "INSERT INTO evaluation_invitations (subject_kind, subject_id, citizen_id, channel, hall_id, \
                 counter_id, category_id, staff_id, item_code, item_name, hall_code, window_no, invited_at, settled) \
                 VALUES {}",
                chunk.join(",")
            ),
        )
        .await?;
    }
    // The floor's own invitations.
    exec(
        db,
        format!(
            "INSERT INTO evaluation_invitations (subject_kind, subject_id, citizen_id, channel, hall_id, \
             invited_at, settled) SELECT 'TICKET', 'floor-' || g, 1, 'OFFLINE', {first_hall}, now(), false \
             FROM generate_series(0, {}) g",
            options.ratings
        ),
    )
    .await?;
    Ok(out)
}

/// The bare transactions: (committed, how long).
async fn floor(
    db: &DatabaseConnection,
    options: &EvaluationsOptions,
    first_hall: i64,
) -> anyhow::Result<(usize, Duration)> {
    let t = Instant::now();
    let done: Vec<bool> = futures::stream::iter(0..options.ratings)
        .map(|n| async move {
            let work = async {
                let txn = db.begin().await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO evaluations (id, subject_kind, subject_id, invitation_id, citizen_id, channel, \
                     hall_id, grade, indicators, tags, comment_status, defaulted, real_name, created_at) \
                     VALUES ($1, 'TICKET', $2, 0, 1, 'OFFLINE', $3, 5, \
                     '{\"overall\":5,\"efficiency\":5,\"serviceLevel\":5,\"attitude\":5}', '[]', 'NONE', false, true, now())",
                    [
                        uuid::Uuid::new_v4().to_string().into(),
                        format!("floor-{n}").into(),
                        first_hall.into(),
                    ],
                ))
                .await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO evaluation_outbox (evaluation_id, status, attempts, next_attempt_at, created_at, updated_at) \
                     VALUES ($1, 'DONE', 0, now(), now(), now())",
                    [format!("floor-{n}").into()],
                ))
                .await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE evaluation_invitations SET settled = true WHERE subject_kind = 'TICKET' AND subject_id = $1",
                    [format!("floor-{n}").into()],
                ))
                .await?;
                txn.commit().await?;
                anyhow::Ok(())
            };
            work.await.is_ok()
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    Ok((done.iter().filter(|ok| **ok).count(), t.elapsed()))
}

/// The booking floor exactly as `bench rush` measures it (`rush::FloorTarget`): per attempt, one
/// transaction of the booking's two statements straight on the pool — `UPDATE slots SET booked =
/// booked + 1 WHERE … booked < capacity` and `INSERT INTO bookings … RETURNING id` (its
/// `active_key` unique index included) — a refusal (slot full, booked already) rolled back and
/// counted as answered. Its shape is rush's too: ten attempts a seat (rush: 20,000 attempts,
/// 200 slots × 10 seats), four attempts an identity, at random; with this run's
/// `--concurrency` and `--pool`, and as many attempts as `--ratings`, so the two rates compare.
async fn booking_floor(
    db: &DatabaseConnection,
    options: &EvaluationsOptions,
    first_hall: i64,
    citizens: &[(i64, String)],
) -> anyhow::Result<BookingFloor> {
    const SEATS: usize = 10;
    const ITEM: &str = "BENCH-EV-FLOOR";
    let attempts = options.ratings;
    let slots_n = attempts.div_ceil(SEATS * 10).max(1);
    let category = scalar(
        db,
        &format!(
            "INSERT INTO categories (hall_id, code, name, prefix, seats_per_slot) \
             VALUES ({first_hall}, 'EVFLOOR', '预约基准', 'Z', {SEATS}) RETURNING id"
        ),
    )
    .await?;
    let day = Utc::now().date_naive() + chrono::Duration::days(3);
    let mut slots: Vec<(i64, chrono::DateTime<Utc>)> = Vec::with_capacity(slots_n);
    for i in 0..slots_n {
        let starts = day.and_hms_opt(0, 0, 0).context("midnight")?.and_utc()
            + chrono::Duration::minutes(i64::try_from(i)? * 3);
        let id = scalar(
            db,
            &format!(
                "INSERT INTO slots (hall_id, category_id, day, starts_at, ends_at, capacity, booked, status) \
                 VALUES ({first_hall}, {category}, '{day}', '{}', '{}', {SEATS}, 0, 'OPEN') RETURNING id",
                starts.to_rfc3339(),
                (starts + chrono::Duration::minutes(3)).to_rfc3339()
            ),
        )
        .await?;
        slots.push((id, starts));
    }
    let identities = attempts.div_ceil(4).max(1);
    let plan: Vec<(usize, usize)> = {
        let mut rng = rand::rng();
        (0..attempts)
            .map(|_| {
                (
                    rng.random_range(0..slots_n),
                    rng.random_range(0..identities),
                )
            })
            .collect()
    };
    let slots = Arc::new(slots);
    let t = Instant::now();
    let outcomes: Vec<Option<bool>> = futures::stream::iter(plan)
        .map(|(slot, who)| {
            let slots = Arc::clone(&slots);
            let citizen_id = citizens[who % citizens.len()].0;
            async move {
                let (slot_id, starts_at) = slots[slot];
                let identity = format!("ev-floor-{who}");
                let work = async {
                    let txn = db.begin().await?;
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
                        return anyhow::Ok(false);
                    }
                    let code: String = {
                        let mut rng = rand::rng();
                        (0..12)
                            .map(|_| {
                                char::from(
                                    b"23456789ABCDEFGHJKMNPQRSTUVWXYZ"[rng.random_range(0..31)],
                                )
                            })
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
                                citizen_id.into(),
                                identity.clone().into(),
                                first_hall.into(),
                                category.into(),
                                slot_id.into(),
                                ITEM.into(),
                                day.into(),
                                starts_at.into(),
                                format!("{identity}:{ITEM}:{day}").into(),
                                Utc::now().into(),
                            ],
                        ))
                        .await;
                    match inserted {
                        Ok(Some(_)) => {
                            txn.commit().await?;
                            Ok(true)
                        }
                        Ok(None) => anyhow::bail!("INSERT … RETURNING gave no row"),
                        Err(e)
                            if matches!(
                                e.sql_err(),
                                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                            ) =>
                        {
                            txn.rollback().await?;
                            Ok(false)
                        }
                        Err(e) => Err(e.into()),
                    }
                };
                work.await.ok()
            }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let took = t.elapsed();
    Ok(BookingFloor {
        attempts,
        answered: outcomes.iter().filter(|o| o.is_some()).count(),
        booked: outcomes.iter().filter(|o| **o == Some(true)).count(),
        took,
        slots: slots_n,
    })
}

fn rate(n: usize, took: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = n as f64;
    n / took.as_secs_f64().max(1e-9)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        warn_if_debug(f, self.release)?;
        let mut stats = self.stats.clone();
        stats.sort_unstable();
        let mut list = self.list.clone();
        list.sort_unstable();
        let mut latencies = self.rating_latencies.clone();
        latencies.sort_unstable();
        let verdict = |d: Duration| {
            if d <= Duration::from_millis(100) {
                "met"
            } else {
                "MISSED"
            }
        };
        writeln!(
            f,
            "evaluations: {} over {} halls and a year ({} rectifications, {} open), written in {}",
            self.evaluations,
            self.halls,
            self.rectifications,
            self.open,
            ms(self.seed)
        )?;
        writeln!(
            f,
            "  a hall's monthly statistics (by counter), {} requests: p50 {}, p99 {} (target ≤ 100 ms: {})",
            stats.len(),
            ms(percentile(&stats, 0.5)),
            ms(percentile(&stats, 0.99)),
            verdict(percentile(&stats, 0.99))
        )?;
        writeln!(
            f,
            "  a hall's open rectifications (overdue first), {} requests, {:.0} tickets each: p50 {}, p99 {} (target ≤ 100 ms: {})",
            list.len(),
            {
                #[allow(clippy::cast_precision_loss)]
                let avg = self.listed as f64 / list.len().max(1) as f64;
                avg
            },
            ms(percentile(&list, 0.5)),
            ms(percentile(&list, 0.99)),
            verdict(percentile(&list, 0.99))
        )?;
        let gateway = rate(self.accepted, self.ratings_took);
        let floor = rate(self.floor, self.floor_took);
        writeln!(
            f,
            "  ratings through the gateway: {} of {} accepted, {:.0}/s, p50 {}, p99 {} ({} in flight; group commit: {})",
            self.accepted,
            self.ratings,
            gateway,
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            self.concurrency,
            match self.statements_in_flight {
                0 => "off, a statement per rating".to_owned(),
                n => format!("{n} statements at once"),
            }
        )?;
        let booking = rate(self.booking.answered, self.booking.took);
        writeln!(
            f,
            "  booking floor (bench rush's bare transaction: UPDATE slots + INSERT bookings, {} attempts on {} slots × 10 seats): {} answered ({} booked), {:.0}/s",
            self.booking.attempts,
            self.booking.slots,
            self.booking.answered,
            self.booking.booked,
            booking
        )?;
        let ratio = gateway / booking.max(1e-9);
        writeln!(
            f,
            "  ratings ÷ booking floor: {ratio:.2} (target ≥ 0.5: {})",
            if ratio >= 0.5 {
                "met".to_owned()
            } else {
                format!(
                    "MISSED by {:.0}/s, {:.0} % short",
                    booking * 0.5 - gateway,
                    (1.0 - ratio / 0.5) * 100.0
                )
            }
        )?;
        writeln!(
            f,
            "  for comparison, the rating's own bare transactions (evaluation + outbox + invitation): {} of {}, {:.0}/s (ratings ÷ it: {:.2}; a rating without comment that opens no rectification is one statement, fewer round trips than these three in a transaction; the rest is HTTP and the session)",
            self.floor,
            self.ratings,
            floor,
            gateway / floor.max(1e-9)
        )
    }
}
