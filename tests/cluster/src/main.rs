//! `cluster`: the fault harness. Runs the product as a province runs it — three `gateway serve`
//! behind nginx (the shipped site snippet), on a PostgreSQL of its own and a 3-primary Redis
//! Cluster, with the WeChat and provincial simulators — under a bounded mixed workload of
//! citizens, counters and hall screens, and meanwhile breaks things: `kill -9` of a gateway and
//! its restart, a Redis primary killed, a PostgreSQL restart, the platform down for 30 s then
//! slow then answering 5xx in bursts, a gateway stopped with SIGTERM mid-load. Then it audits
//! what the clients were told against what the system holds, prints a table, and exits 1 if
//! any count that must be zero is not.
//!
//! ```text
//! cargo build -p gateway -p cluster && ./target/debug/cluster     # .ci/cluster does this
//! ZSB_CLUSTER_SECONDS=60 ZSB_CLUSTER_CITIZENS=40 ./target/debug/cluster   # quicker
//! ```
//!
//! Needs `redis-server`/`redis-cli`, `nginx`, `initdb`/`pg_ctl` on the PATH (as root it runs
//! PostgreSQL as the `postgres` user). Everything runs under a fresh directory in /tmp, kept
//! (with every log) when the run fails.

mod audit;
mod client;
mod infra;
mod setup;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use futures::{StreamExt as _, TryStreamExt as _};
use rand::RngCore as _;
use sea_orm::{ConnectionTrait as _, Database};
use serde_json::json;
use simulators::province::{Fault, Group, Phase, ProvinceSim, ProvinceSimConfig};
use simulators::redis_cluster::RedisCluster;
use simulators::wechat::{WechatSim, WechatSimConfig};

use crate::client::{Client, Stats, Who};
use crate::infra::{Gateway, Nginx, Postgres};
use crate::workload::{Citizen, Ledger, Shared};

const CALLBACK_PATH: &str = "/callbacks/province/case-events";

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("zsb-cluster-{}", uuid::Uuid::new_v4().simple()));
    match run(&dir).await {
        Ok(true) => {
            let _ = std::fs::remove_dir_all(&dir);
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("cluster: FAILED; logs kept in {}", dir.display());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "cluster: error: {e:#}\ncluster: logs kept in {}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn say(text: &str) {
    eprintln!("cluster: {text}");
}

fn random_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A fault and when it began and ended, in seconds since the workload started.
struct FaultRecord {
    name: &'static str,
    began: f64,
    ended: f64,
    note: String,
}

#[allow(clippy::too_many_lines)]
async fn run(dir: &Path) -> anyhow::Result<bool> {
    let seconds = knob("ZSB_CLUSTER_SECONDS", 150);
    let citizens_n = usize::try_from(knob("ZSB_CLUSTER_CITIZENS", 80))?;
    let sockets_n = usize::try_from(knob("ZSB_CLUSTER_SOCKETS", 20))?;
    RedisCluster::available().map_err(anyhow::Error::msg)?;
    for tool in ["nginx", "initdb", "pg_ctl"] {
        if std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("`{tool}` is not on the PATH");
        }
    }
    std::fs::create_dir_all(dir)?;
    let binary = std::env::current_exe()?
        .parent()
        .context("no folder")?
        .join("gateway");
    if !binary.is_file() {
        bail!(
            "{} not found: cargo build -p gateway first",
            binary.display()
        );
    }
    let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../gateway/deploy");
    let config = deploy.join("gateway.toml");
    let snippet = deploy
        .join("nginx/zhangshangban-proxy.conf")
        .canonicalize()?;

    say("starting PostgreSQL (initdb), a Redis Cluster of 3 primaries + 3 replicas, simulators…");
    let pg = Postgres::start(dir)?;
    {
        let admin = Database::connect(pg.url("postgres")).await?;
        admin.execute_unprepared("CREATE DATABASE zsb").await?;
        admin.close().await?;
    }
    let database_url = pg.url("zsb");
    let mut redis = RedisCluster::start().await?;
    let wechat = Arc::new(WechatSim::start(WechatSimConfig::default()).await?);
    let notifications = gateway::configuration::Settings::default_notifications()?;
    gateway::demo::register_templates(&wechat, &notifications);
    let province = ProvinceSim::start(ProvinceSimConfig::default()).await?;
    let materials = dir.join("materials");
    std::fs::create_dir_all(&materials)?;

    let mut env: Vec<(String, String)> = vec![
        ("APP_DATABASE__URL".into(), database_url.clone()),
        ("APP_REDIS__CLUSTER_URLS".into(), redis.urls().join(",")),
        ("APP_REDIS__KEY_PREFIX".into(), "zsb-cluster:".into()),
        ("APP_WECHAT__BASE_URL".into(), wechat.base_url()),
        ("APP_WECHAT__APP_ID".into(), wechat.app_id().into()),
        ("APP_WECHAT__APP_SECRET".into(), wechat.app_secret().into()),
        ("APP_PROVINCE__BASE_URL".into(), province.base_url()),
        ("APP_PROVINCE__APP_KEY".into(), province.app_key().into()),
        (
            "APP_PROVINCE__APP_SECRET".into(),
            province.app_secret().into(),
        ),
        (
            "APP_PROVINCE__CALLBACK_APP_KEY".into(),
            province.callback_app_key().into(),
        ),
        (
            "APP_PROVINCE__CALLBACK_APP_SECRET".into(),
            province.callback_app_secret().into(),
        ),
        ("APP_PROVINCE__TIMEOUT_MS".into(), "2000".into()),
        ("APP_PROVINCE__BREAKER_COOLDOWN_SECS".into(), "5".into()),
        ("APP_PROVINCE__SYNC_INTERVAL_SECS".into(), "0".into()),
        ("APP_CRYPTO__FIELD_KEY".into(), random_key()),
        ("APP_CRYPTO__INDEX_KEY".into(), random_key()),
        ("APP_LICENCES__KEYS".into(), format!("k1:{}", random_key())),
        ("APP_SERVER__HOST".into(), "127.0.0.1".into()),
        ("APP_ADMIN__HOST".into(), "127.0.0.1".into()),
        ("APP_SERVER__SHUTDOWN_TIMEOUT_SECS".into(), "10".into()),
        ("APP_SERVER__WORKERS".into(), "2".into()),
        ("APP_DATABASE__MAX_CONNECTIONS".into(), "20".into()),
        (
            "APP_APPLICATIONS__MATERIALS_DIR".into(),
            materials.display().to_string(),
        ),
        ("APP_APPLICATIONS__WORKER_INTERVAL_MS".into(), "500".into()),
        ("APP_APPLICATIONS__RETRY_BASE_MS".into(), "500".into()),
        ("APP_APPLICATIONS__RETRY_CAP_SECS".into(), "5".into()),
        ("APP_BOOKING__WORKER_INTERVAL_SECS".into(), "1".into()),
        (
            "APP_LIMITS__LOGIN_PER_IP_PER_MINUTE".into(),
            "100000000".into(),
        ),
        (
            "APP_SESSIONS__REQUESTS_PER_MINUTE".into(),
            "100000000".into(),
        ),
        ("APP_STAFF__REQUESTS_PER_MINUTE".into(), "100000000".into()),
        ("APP_LOG__FORMAT".into(), "json".into()),
        ("APP_LOG__FILTER".into(), "info,sqlx=warn".into()),
    ];
    for (name, template) in &notifications.templates {
        env.push((
            format!("APP_NOTIFICATIONS__TEMPLATES__{}__ID", name.to_uppercase()),
            template.id.clone(),
        ));
    }

    say("migrations, once, before the rollout: gateway migrate up");
    let cfg = config.display().to_string();
    setup::gateway_command(
        &binary,
        &config,
        &env,
        &["migrate", "--config", &cfg, "up"],
        &[],
    )?;
    setup::gateway_command(&binary, &config, &env, &["sync-items", "--full"], &[])?;
    let db = Database::connect(&database_url).await?;
    setup::load_calendar(&db).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let mut gateways = Vec::new();
    for i in 1..=3 {
        let mut g = Gateway::new(&format!("gateway-{i}"), &binary, &config, env.clone(), dir)?;
        let ready = g.start(&http).await?;
        say(&format!("{} ready in {} ms", g.name, ready.as_millis()));
        gateways.push(g);
    }
    let ports: Vec<u16> = gateways.iter().map(|g| g.port).collect();
    let nginx = Nginx::start(dir, &snippet, &ports).await?;
    let base = nginx.url();
    province.set_callback_url(Some(format!("{base}{CALLBACK_PATH}")));
    province.set_auto_progress(Some(vec![(
        Duration::from_secs(1),
        Phase::PreAccepted,
        json!({}),
    )]));

    say(&format!(
        "logging in {citizens_n} citizens through nginx (face verification, phone, consents)…"
    ));
    let stats = Arc::new(Stats::default());
    let citizens: Vec<Arc<Citizen>> = futures::stream::iter(0..citizens_n)
        .map(|n| {
            let (http, base, stats, wechat) = (
                http.clone(),
                base.clone(),
                Arc::clone(&stats),
                Arc::clone(&wechat),
            );
            async move { enrol(http, base, stats, wechat, n).await.map(Arc::new) }
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    // The hall now, so its release is the next whole minute at least 10 s away: the booking
    // worker cuts its slots within a second, and the wait before the release stays short.
    let release = setup::Release::next(&db, Duration::from_secs(10)).await?;
    let hall = setup::create_hall(&db, &release).await?;
    setup::gateway_command(
        &binary,
        &config,
        &env,
        &[
            "create-staff",
            "--username",
            setup::CLERK,
            "--display-name",
            "王窗口",
            "--hall",
            setup::HALL_CODE,
            "--role",
            "clerk",
        ],
        &[("APP_STAFF_PASSWORD", setup::CLERK_PASSWORD)],
    )?;

    let clerks: Vec<Arc<Client>> = futures::stream::iter(0..setup::COUNTERS)
        .map(|_| {
            let (http, base, stats, wechat) = (
                http.clone(),
                base.clone(),
                Arc::clone(&stats),
                Arc::clone(&wechat),
            );
            async move {
                Client::login(
                    http,
                    base,
                    Who::Clerk {
                        username: setup::CLERK.into(),
                        password: setup::CLERK_PASSWORD.into(),
                    },
                    stats,
                    wechat,
                )
                .await
                .map(Arc::new)
            }
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    let until_release = (release.at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let slots = setup::wait_for_slots(
        &db,
        hall.id,
        release.day,
        until_release + Duration::from_secs(30),
    )
    .await?;
    say(&format!(
        "the worker cut {} slots of {}; released at {} ({} s from now)",
        slots.len(),
        release.day,
        release.at.format("%H:%M:%S"),
        until_release.as_secs()
    ));

    // ---- the workload, with the faults ----
    let release_at = Instant::now() + until_release;
    let shared = Arc::new(Shared {
        stats: Arc::clone(&stats),
        ledger: Arc::new(Ledger::default()),
        stop: std::sync::atomic::AtomicBool::new(false),
        release_at,
        slots,
        hall_id: hall.id,
    });
    let commits_before = commits(&db).await?;
    let _ = stats.started.set(Instant::now());
    let mut tasks = Vec::new();
    for c in &citizens {
        tasks.push(tokio::spawn(workload::citizen(
            Arc::clone(&shared),
            Arc::clone(c),
        )));
    }
    for (clerk, &counter) in clerks.iter().zip(&hall.counters) {
        tasks.push(tokio::spawn(workload::counter(
            Arc::clone(&shared),
            Arc::clone(clerk),
            counter,
        )));
    }
    let ws = format!(
        "{}/api/v1/halls/{}/board/live",
        base.replacen("http://", "ws://", 1),
        setup::HALL_CODE
    );
    let sockets: Vec<_> = (0..sockets_n)
        .map(|_| tokio::spawn(workload::socket(Arc::clone(&shared), ws.clone())))
        .collect();
    say(&format!(
        "workload for {seconds} s: {citizens_n} citizens, {} counters, {sockets_n} hall screens",
        setup::COUNTERS
    ));

    // The schedule below is written for 165 s; a shorter run compresses it.
    let t = |s: u64| Duration::from_secs(s * seconds / 165);
    // The faults' clock starts just before the release, so bookings meet every fault; until
    // then (less than a minute) the queue, the applications and the screens run on their own.
    let t0 = stats_start(&stats).max(release_at - Duration::from_secs(5).min(until_release));
    if t0 > Instant::now() {
        say(&format!(
            "faults start {} s from now, 5 s before the release",
            (t0 - Instant::now()).as_secs()
        ));
    }
    let now = || stats.since_start();
    let mut faults = Vec::new();

    // 1. kill -9 of a gateway, restarted 10 s later.
    at(t0, t(15)).await;
    let began = now();
    gateways[0].kill();
    say("fault: kill -9 gateway-1");
    at(t0, t(25)).await;
    let ready = gateways[0].start(&http).await?;
    faults.push(FaultRecord {
        name: "kill -9 gateway-1, restart",
        began,
        ended: now(),
        note: format!("back in {} ms", ready.as_millis()),
    });

    // 2. A Redis primary killed; its replica takes over; it comes back as a replica.
    at(t0, t(35)).await;
    let began = now();
    let victim = *redis
        .primaries()
        .await?
        .first()
        .context("no Redis primary")?;
    redis.kill(victim);
    say(&format!("fault: Redis primary :{victim} killed"));
    let failover = Instant::now();
    redis.wait_healthy(Duration::from_secs(30)).await?;
    let took = failover.elapsed();
    at(t0, t(55)).await;
    redis.restart(victim)?;
    faults.push(FaultRecord {
        name: "Redis primary killed",
        began,
        ended: began + took.as_secs_f64(),
        note: format!("replica promoted in {} ms", took.as_millis()),
    });

    // 3. PostgreSQL restarted.
    at(t0, t(60)).await;
    let began = now();
    say("fault: PostgreSQL restart (pg_ctl restart -m fast)");
    let pg_started = Instant::now();
    pg.restart()?;
    faults.push(FaultRecord {
        name: "PostgreSQL restart",
        began,
        ended: now(),
        note: format!("down for {} ms", pg_started.elapsed().as_millis()),
    });

    // 4. The platform: down 30 s, then slow, then 5xx bursts.
    at(t0, t(75)).await;
    let began = now();
    say("fault: the provincial platform down for 30 s, then slow, then 5xx bursts");
    province.fault(Group::Any, Fault::Down);
    at(t0, t(105)).await;
    province.clear_faults();
    province.fault(Group::Any, Fault::Slow(Duration::from_millis(2500)));
    at(t0, t(120)).await;
    province.clear_faults();
    for burst in [120, 125, 130] {
        at(t0, t(burst)).await;
        province.fault(Group::Any, Fault::Http5xx(8));
    }
    at(t0, t(135)).await;
    province.clear_faults();
    let platform_back = now();
    let waiting: Vec<String> = shared.ledger.applications.lock().await.clone();
    faults.push(FaultRecord {
        name: "platform down 30 s, slow, 5xx",
        began,
        ended: platform_back,
        note: format!("{} applications acknowledged so far", waiting.len()),
    });

    // 5. SIGTERM of a gateway mid-load, restarted when it has stopped.
    at(t0, t(140)).await;
    let began = now();
    say("fault: SIGTERM gateway-2");
    let stopped = gateways[1].terminate().await?;
    let ready = gateways[1].start(&http).await?;
    faults.push(FaultRecord {
        name: "SIGTERM gateway-2, restart",
        began,
        ended: now(),
        note: format!(
            "drained in {} ms, back in {} ms",
            stopped.as_millis(),
            ready.as_millis()
        ),
    });

    at(t0, Duration::from_secs(seconds)).await;
    let stop_at = Instant::now();
    let ran = stats.since_start();
    let committed = commits(&db).await.unwrap_or(commits_before) - commits_before;
    shared.stop.store(true, Ordering::Relaxed);
    say("stopping the workload…");
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(90), task).await;
    }
    let mut screens = Vec::new();
    for s in sockets {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(30), s).await {
            screens.push(s);
        }
    }

    // ---- the drain: every acknowledged application reaches the platform ----
    let acked: Vec<String> = shared.ledger.applications.lock().await.clone();
    let drain_started = Instant::now();
    let in_ledger = |province: &ProvinceSim, ids: &[String]| {
        let have: std::collections::HashSet<String> = province
            .ledger()
            .into_iter()
            .map(|e| e.client_request_id)
            .collect();
        ids.iter().filter(|id| have.contains(*id)).count()
    };
    while in_ledger(&province, &acked) < acked.len()
        && drain_started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let backlog_drained = stats.since_start();
    let backlog_reached = in_ledger(&province, &waiting);

    // ---- can every citizen continue? ----
    let mut stuck = Vec::new();
    for c in &citizens {
        match c.client.get("/api/v1/me").await {
            Ok(me) if me.status == 200 && me.body["identity"]["verified"] == true => {}
            Ok(me) => stuck.push(format!("citizen {}: /me {} {}", c.n, me.status, me.body)),
            Err(e) => stuck.push(format!("citizen {}: {e:#}", c.n)),
        }
    }
    let gave_up = stats.gave_up.lock().await.clone();

    // ---- audit ----
    let mut checks = Vec::new();
    checks.extend(audit::bookings(&db, &shared.ledger, hall.id).await?);
    checks.extend(audit::applications(&db, &shared.ledger, &province).await?);
    checks.extend(audit::queue(&db, &shared.ledger, hall.id).await?);
    checks.push(audit::notifications(&wechat));
    checks.push(audit::Check {
        name: "citizens unable to continue",
        count: stuck.len() + gave_up.len(),
        detail: format!(
            "{} silent re-logins; {} calls abandoned after {} s{}",
            stats.relogins.load(Ordering::Relaxed),
            gave_up.len(),
            client::GIVE_UP_AFTER.as_secs(),
            stuck
                .iter()
                .chain(&gave_up)
                .take(3)
                .map(|s| format!("; {s}"))
                .collect::<String>()
        ),
    });
    let never_back = screens
        .iter()
        .filter(|s| {
            !s.connected_at_end
                || s.last_message
                    .is_none_or(|m| m + Duration::from_secs(15) < stop_at)
        })
        .count()
        + sockets_n.saturating_sub(screens.len());
    checks.push(audit::Check {
        name: "sockets that never came back",
        count: never_back,
        detail: format!(
            "{} screens, {} connections in all, {} messages; longest gap {} ms",
            screens.len(),
            screens.iter().map(|s| s.connects).sum::<u32>(),
            screens.iter().map(|s| s.messages).sum::<u64>(),
            screens
                .iter()
                .map(|s| s.longest_gap)
                .max()
                .unwrap_or_default()
                .as_millis()
        ),
    });

    // ---- the report ----
    let errors = stats.errors.lock().await.clone();
    let served = stats.served.load(Ordering::Relaxed);
    println!();
    println!(
        "fault harness: 3 gateways behind nginx, PostgreSQL, Redis Cluster (3 primaries + 3 \
         replicas); {citizens_n} citizens, {} counters, {sockets_n} hall screens, {ran:.0} s \
         ({seconds} s from 5 s before the release)",
        setup::COUNTERS
    );
    println!("requests served: {served} ({:.0}/s)", served as f64 / ran);
    let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (_, kind) in &errors {
        *kinds.entry(kind.as_str()).or_default() += 1;
    }
    println!(
        "client errors by kind (each retried): {}",
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds
                .iter()
                .map(|(k, n)| format!("{k} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let refusals = stats.refusals.lock().await.clone();
    println!(
        "expected refusals: {}",
        refusals
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let odd = shared.ledger.odd.lock().await.clone();
    if !odd.is_empty() {
        println!(
            "unexpected answers (printed, not failed): {}",
            odd.iter()
                .map(|(k, n)| format!("{k} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!();
    println!(
        "{:<34} {:>8} {:>8} {:>9} {:>14}  note",
        "fault", "at (s)", "errors", "last err", "recovered (s)"
    );
    for (i, f) in faults.iter().enumerate() {
        let until = faults.get(i + 1).map_or(f64::MAX, |next| next.began);
        let during: Vec<f64> = errors
            .iter()
            .filter(|(at, _)| *at >= f.began && *at < until)
            .map(|(at, _)| *at)
            .collect();
        let last = during.iter().copied().fold(f64::NAN, f64::max);
        let recovered = if during.is_empty() {
            "no errors".to_owned()
        } else {
            format!("{:.1}", (last - f.began).max(f.ended - f.began))
        };
        println!(
            "{:<34} {:>8.1} {:>8} {:>9} {:>14}  {}",
            f.name,
            f.began,
            during.len(),
            if during.is_empty() {
                "-".to_owned()
            } else {
                format!("{last:.1}")
            },
            recovered,
            f.note
        );
    }
    println!(
        "platform backlog: {backlog_reached} of {} applications acknowledged before the platform \
         recovered reached it; every acknowledged one by {:.1} s ({:.1} s after the platform \
         recovered)",
        waiting.len(),
        backlog_drained,
        backlog_drained - platform_back
    );
    println!();
    print!("{}", audit::table(&checks));
    let failed = checks.iter().filter(|c| c.count > 0).count();
    println!(
        "{}",
        if failed == 0 {
            "RESULT: PASS".to_owned()
        } else {
            format!("RESULT: FAIL ({failed} audits non-zero)")
        }
    );
    println!(
        "PostgreSQL: {committed} transactions committed during the workload, {:.2} per request \
         served",
        committed as f64 / served.max(1) as f64
    );
    println!("{}", footprint(&db, &redis, &materials).await?);
    if kinds.keys().any(|k| k.starts_with("500")) {
        println!("500s in the gateways' logs:");
        for g in &gateways {
            let log = std::fs::read_to_string(g.log()).unwrap_or_default();
            for line in log
                .lines()
                .filter(|l| l.contains("\"code\":\"INTERNAL\""))
                .take(3)
            {
                println!(
                    "  {}: {}",
                    g.name,
                    line.chars().take(600).collect::<String>()
                );
            }
        }
    }
    for g in &gateways {
        say(&format!("{} log: {}", g.name, g.log().display()));
    }
    drop(nginx);
    drop(gateways);
    wechat.stop().await;
    province.stop().await;
    db.close().await.ok();
    drop(redis);
    drop(pg);
    Ok(failed == 0)
}

/// What a citizen's data weighs: bytes per row of the tables a province grows with (data,
/// indexes and TOAST), per material on disk, and per session in Redis — for the README's
/// sizing.
async fn footprint(
    db: &sea_orm::DatabaseConnection,
    redis: &RedisCluster,
    materials: &Path,
) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for table in [
        "citizens",
        "bookings",
        "tickets",
        "applications",
        "notifications",
    ] {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT pg_total_relation_size('{table}')::bigint, count(*)::bigint FROM {table}"
                ),
            ))
            .await?
            .context("no row")?;
        let (size, rows): (i64, i64) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        if let Some(per_row) = size.checked_div(rows) {
            parts.push(format!("{table} {per_row} B/row ({rows} rows)"));
        }
    }
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut dirs = vec![materials.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let meta = entry.metadata()?;
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    if let Some(per_file) = bytes.checked_div(files) {
        parts.push(format!("materials {per_file} B/file on disk"));
    }
    let mut sampled = Vec::new();
    for port in redis.primaries().await? {
        let keys = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &port.to_string(),
                "--scan",
                "--pattern",
                "zsb-cluster:sess:*",
            ])
            .output()?;
        for key in String::from_utf8_lossy(&keys.stdout).lines().take(20) {
            let usage = std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "MEMORY", "USAGE", key])
                .output()?;
            if let Ok(n) = String::from_utf8_lossy(&usage.stdout).trim().parse::<u64>() {
                sampled.push(n);
            }
        }
    }
    if let Some(per_session) = sampled
        .iter()
        .sum::<u64>()
        .checked_div(sampled.len() as u64)
    {
        parts.push(format!(
            "Redis {per_session} B/session entry (MEMORY USAGE, {} sampled)",
            sampled.len()
        ));
    }
    Ok(format!("footprint: {}", parts.join("; ")))
}

/// Transactions committed in the run's database so far.
async fn commits(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        ))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index(0)?)
}

/// Sleeps until `d` after `t0`.
async fn at(t0: Instant, d: Duration) {
    tokio::time::sleep_until((t0 + d).into()).await;
}

fn stats_start(stats: &Stats) -> Instant {
    stats.started.get().copied().unwrap_or_else(Instant::now)
}

/// Logs a citizen in through nginx and gives them what the workload needs: a verified
/// identity (face verification passed in the simulator), a phone, and consent to every
/// template (reported to the gateway, and granted in the simulator).
async fn enrol(
    http: reqwest::Client,
    base: String,
    stats: Arc<Stats>,
    wechat: Arc<WechatSim>,
    n: usize,
) -> anyhow::Result<Citizen> {
    let openid = wechat.new_openid();
    let client = Client::login(
        http,
        base,
        Who::Citizen {
            openid: openid.clone(),
        },
        stats,
        Arc::clone(&wechat),
    )
    .await?;
    let started = client
        .post(
            "/api/v1/me/identity/verifications",
            &json!({ "name": name(n), "idCardNo": id_card_no(n) }),
            None,
        )
        .await?;
    if started.status != 201 {
        bail!(
            "a verification answered {}: {}",
            started.status,
            started.body
        );
    }
    let verify_id = started.body["verifyId"].as_str().context("no verifyId")?;
    wechat.set_face_result(verify_id, 10000);
    let id = started.body["id"].as_str().context("no verification id")?;
    let done = client
        .post(
            &format!("/api/v1/me/identity/verifications/{id}/complete"),
            &json!({}),
            None,
        )
        .await?;
    if done.status != 200 {
        bail!(
            "completing a verification answered {}: {}",
            done.status,
            done.body
        );
    }
    let phone = client
        .post(
            "/api/v1/me/phone",
            &json!({ "code": wechat.mint_phone_code(&format!("139{n:08}")) }),
            None,
        )
        .await?;
    if phone.status != 200 {
        bail!("binding a phone answered {}: {}", phone.status, phone.body);
    }
    let listed = client.get("/api/v1/subscriptions").await?;
    let mut answers = serde_json::Map::new();
    for t in listed.body["templates"].as_array().into_iter().flatten() {
        if let Some(id) = t["templateId"].as_str() {
            wechat.grant_consent(&openid, id, 1000);
            answers.insert(id.to_owned(), json!("accept"));
        }
    }
    let recorded = client
        .post(
            "/api/v1/subscriptions",
            &serde_json::Value::Object(answers),
            None,
        )
        .await?;
    if !(200..300).contains(&recorded.status) {
        bail!(
            "recording consents answered {}: {}",
            recorded.status,
            recorded.body
        );
    }
    Ok(Citizen { client, n })
}

/// A two-character Chinese name.
fn name(n: usize) -> String {
    const GIVEN: [char; 8] = ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊'];
    format!("李{}", GIVEN[n % GIVEN.len()])
}

/// The `n`-th of distinct valid GB 11643 numbers (Hangzhou Xihu, born 1960 onwards).
fn id_card_no(n: usize) -> String {
    let born = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or_default()
        + chrono::Duration::days(i64::try_from(n / 1000).unwrap_or(0));
    let body = format!("330106{}{:03}", born.format("%Y%m%d"), n % 1000);
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = char::from(b"10X98765432"[(sum % 11) as usize]);
    format!("{body}{check}")
}
