//! `bench applications`: applications (申办) through the gateway to the provincial platform, as
//! issue 6 asks — submissions accepted per second, forwarding throughput to the platform, and how
//! long a backlog of 1,000 takes to drain once a 60-second outage ends.
//!
//! ```text
//! cargo build --release -p gateway -p bench && ./target/release/bench applications
//! ./target/release/bench applications --citizens 50 --submissions 500 --backlog 200 --outage 10s   # quick
//! ```
//!
//! One run: a fresh database, the WeChat and province simulators in-process (the province one
//! with its demo catalogue, its callbacks pointed at the gateway and one PRE_ACCEPTED event a
//! second after each acceptance), the release gateway as a child process with its forwarder on
//! and the production defaults unless an option says otherwise. Then:
//!
//! 1. Setup (unmeasured): the catalogue syncs at start; `--citizens` citizens log in through the
//!    real flow, bind a real-name identity and a phone (a code minted by the WeChat simulator),
//!    and upload the two required materials of `不动产登记资料查询` (a PDF and a JPEG of
//!    `--material-kib` KiB each) through `POST /api/v1/materials`.
//! 2. Submissions: `--submissions` `POST /api/v1/applications`, the citizens in turn,
//!    `--concurrency` in flight, the forwarder running; every answer must be 201 `SUBMITTING`.
//!    Forwarding: from the first submission until the simulator's ledger holds every one of them
//!    (and then until every one is `SUBMITTED` in the database).
//! 3. Outage: the simulator drops every application POST unanswered; `--backlog` applications are
//!    submitted, the outage lasts `--outage` after the last answer, then ends (T0). Measured from
//!    T0: the first application forwarded, all in the ledger, all `SUBMITTED` with the ledger's
//!    sblsh; and the POSTs the simulator received per ledger entry.
//!
//! Checked (a failure exits non-zero): every submission accepted; nothing reached the ledger
//! while down and every backlog application was `QUEUED` when the outage ended; the backlog
//! drained within `--drain-limit`; every `clientRequestId` exactly once in the ledger and nothing
//! else in it; every application `SUBMITTED` with the sblsh the ledger gave it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use futures::{StreamExt as _, TryStreamExt as _};
use sea_orm::{
    ConnectionTrait as _, Database, DatabaseConnection, DbBackend, EntityTrait as _, Statement,
};
use serde_json::json;
use simulators::province::{Fault, Group, Phase as CasePhase, ProvinceSim, ProvinceSimConfig};
use simulators::wechat::{WechatSim, WechatSimConfig};

use crate::Backends;
use crate::backends::{self, Fresh};
use crate::launch::GatewayCommand;
use crate::process;
use crate::report::{self, ms};
use crate::rush::login_and_bind;

/// `不动产登记资料查询` of the province simulator's demo catalogue: online level 4, M001 (PDF,
/// at most 2048 KiB) and M002 (JPEG, PNG or PDF, at most 4096 KiB), both required.
const ITEM_CODE: &str = "11330100MB1C39588D3000117005000";
const ITEM_NAME: &str = "不动产登记资料查询";
/// The largest M001 the item takes.
const MAX_MATERIAL_KIB: usize = 2048;
/// Where the platform's case-event callbacks go (`gateway::routes::applications::CALLBACK_PATH`).
const CALLBACK_PATH: &str = "/callbacks/province/case-events";
/// Logins, bindings and uploads in flight at once while preparing the citizens.
const SETUP_IN_FLIGHT: usize = 32;
/// Requests a minute that no run reaches: the per-IP login limit and the per-session request
/// budget count, but never refuse.
const UNREACHABLE_LIMIT: u64 = 100_000_000;
/// How long the catalogue sync at start may take.
const SYNC_LIMIT: Duration = Duration::from_secs(30);
/// How long forwarding the submissions of step 2 may take.
const FORWARD_LIMIT: Duration = Duration::from_secs(300);
/// How often the ledger is looked at while waiting.
const LEDGER_POLL: Duration = Duration::from_millis(10);
/// How often the database is looked at while waiting.
const DB_POLL: Duration = Duration::from_millis(50);
/// The PRE_ACCEPTED callback of every case comes this long after its acceptance.
const PRE_ACCEPTED_AFTER: Duration = Duration::from_secs(1);
/// How long the end of the run waits for the last callbacks.
const CALLBACK_GRACE: Duration = Duration::from_secs(15);

/// The forwarder's and the province client's settings the gateway runs with: the production
/// defaults (`gateway/src/configuration.rs`) unless an option changes them.
const WORKER_INTERVAL_MS: u64 = 1000;
const RETRY_BASE_MS: u64 = 2000;
const RETRY_CAP_SECS: u64 = 60;
const LEASE_SECS: u64 = 60;
const BREAKER_FAILURES: u32 = 5;
const BREAKER_COOLDOWN_SECS: u64 = 30;
const PROVINCE_TIMEOUT_MS: u64 = 10_000;
const PROVINCE_MAX_ATTEMPTS: u32 = 3;
const SYNC_INTERVAL_SECS: u64 = 3600;

#[derive(Args, Debug, Clone)]
pub struct ApplicationsOptions {
    #[command(flatten)]
    backends: Backends,
    /// Citizens, each with a bound identity and phone and two uploaded materials.
    #[arg(long, default_value_t = 200)]
    citizens: usize,
    /// Applications submitted in the measured run (step 2), the citizens in turn.
    #[arg(long, default_value_t = 2000)]
    submissions: usize,
    /// Submissions in flight at once (steps 2 and 3).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Applications submitted while the platform is down (step 3).
    #[arg(long, default_value_t = 1000)]
    backlog: usize,
    /// How long the platform stays down after the last backlog submission: `60s`, `2m`.
    #[arg(long, default_value = "60s", value_parser = crate::parse_seconds)]
    outage: Duration,
    /// The longest the backlog may take to drain after the outage before the run fails.
    #[arg(long, default_value = "300s", value_parser = crate::parse_seconds)]
    drain_limit: Duration,
    /// Size of each of the two materials of every application, in KiB (at most 2048).
    #[arg(long, default_value_t = 64)]
    material_kib: usize,
    /// The forwarder's sends in flight (`APP_APPLICATIONS__CONCURRENCY`; production default 8).
    #[arg(long, default_value_t = 8)]
    forward_concurrency: usize,
    /// Outbox rows the forwarder claims per round (`APP_APPLICATIONS__BATCH`; default 32).
    #[arg(long, default_value_t = 32)]
    forward_batch: u32,
    /// Append the gateway's output to this file instead of /dev/null.
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
}

pub async fn run(options: ApplicationsOptions) -> anyhow::Result<()> {
    if options.citizens == 0
        || options.submissions == 0
        || options.concurrency == 0
        || options.backlog == 0
        || options.forward_concurrency == 0
        || options.forward_batch == 0
    {
        bail!("every count and concurrency must be at least 1");
    }
    if options.material_kib == 0 || options.material_kib > MAX_MATERIAL_KIB {
        bail!(
            "--material-kib must be between 1 and {MAX_MATERIAL_KIB} (the item's limit for M001)"
        );
    }
    let gateway = process::sibling_binary("gateway")?;

    let (outcome, cleanup) = backends::with_fresh(&options.backends, async |fresh: &Fresh| {
        measure(&options, gateway, fresh).await
    })
    .await;

    let report = outcome?;
    print!("{report}");
    cleanup?;
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.what.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("failed checks: {} (see above)", failed.join("; "));
    }
    Ok(())
}

/// A citizen ready to apply: a session and the ids of its two uploaded materials.
struct Citizen {
    token: String,
    pdf: String,
    jpeg: String,
}

/// The POSTs of one submission phase.
struct Submitted {
    /// Application ids (the `clientRequestId`s), in the order answered.
    ids: Vec<String>,
    /// Latencies of the accepted ones, sorted.
    latencies: Vec<Duration>,
    errors: Vec<String>,
    elapsed: Duration,
}

impl Submitted {
    fn count(&self) -> usize {
        self.ids.len() + self.errors.len()
    }

    fn per_sec(&self) -> f64 {
        self.ids.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn percentile(&self, p: f64) -> Duration {
        report::percentile(&self.latencies, p)
    }
}

/// One pass/fail line of the report.
struct Check {
    what: String,
    ok: bool,
    detail: String,
}

/// Calls of the gateway's province client to `POST /gov/v1/applications`, by outcome, from its
/// `/metrics` (`upstream_calls_total{api="applications"}`).
type Calls = BTreeMap<String, u64>;

struct Report {
    release: bool,
    citizens: usize,
    material_kib: usize,
    concurrency: usize,
    forward_concurrency: usize,
    forward_batch: u32,
    setup: Duration,
    ready: Duration,
    server_log: Option<PathBuf>,
    // Step 2.
    steady: Submitted,
    /// First submission to the last of them in the ledger.
    steady_ledger: Duration,
    /// First submission to the last of them `SUBMITTED` in the database.
    steady_submitted: Duration,
    steady_posts: u64,
    // Step 3.
    outage: Duration,
    backlog: Submitted,
    /// Statuses of all applications when the outage ended (step 2's are all `SUBMITTED`).
    statuses_at_t0: BTreeMap<String, i64>,
    /// POSTs the simulator received (and dropped) while down.
    posts_while_down: u64,
    calls_while_down: Calls,
    /// T0 to the first backlog application in the ledger, to all of them, to all `SUBMITTED`.
    resumed: Option<Duration>,
    drained_ledger: Option<Duration>,
    drained: Option<Duration>,
    drain_limit: Duration,
    /// POSTs the simulator received from T0 until the backlog drained.
    posts_after_t0: u64,
    calls_after_t0: Calls,
    /// Ledger entries of the backlog whose `clientRequestId` came in more than one POST.
    entries_resent: usize,
    submissions_in_ledger: u64,
    callbacks_delivered: u64,
    callback_attempts: u64,
    checks: Vec<Check>,
}

async fn measure(
    options: &ApplicationsOptions,
    gateway: PathBuf,
    fresh: &Fresh,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(options.concurrency.max(SETUP_IN_FLIGHT))
        .build()
        .context("build the HTTP client")?;
    let materials_dir = Scratch::create(&fresh.id)?;
    let wechat = WechatSim::start(WechatSimConfig::default())
        .await
        .context("start the WeChat simulator")?;
    let province = match ProvinceSim::start(ProvinceSimConfig::default())
        .await
        .context("start the province simulator")
    {
        Ok(province) => province,
        Err(e) => {
            wechat.stop().await;
            return Err(e);
        }
    };
    let report = measure_with(
        options,
        gateway,
        fresh,
        &http,
        &wechat,
        &province,
        &materials_dir,
    )
    .await;
    province.stop().await;
    wechat.stop().await;
    report
}

async fn measure_with(
    options: &ApplicationsOptions,
    gateway: PathBuf,
    fresh: &Fresh,
    http: &reqwest::Client,
    wechat: &WechatSim,
    province: &ProvinceSim,
    materials_dir: &Scratch,
) -> anyhow::Result<Report> {
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
                (
                    "APP_SESSIONS__REQUESTS_PER_MINUTE",
                    UNREACHABLE_LIMIT.to_string(),
                ),
                ("APP_PROVINCE__BASE_URL", province.base_url()),
                ("APP_PROVINCE__APP_KEY", province.app_key().to_owned()),
                ("APP_PROVINCE__APP_SECRET", province.app_secret().to_owned()),
                (
                    "APP_PROVINCE__CALLBACK_APP_KEY",
                    province.callback_app_key().to_owned(),
                ),
                (
                    "APP_PROVINCE__CALLBACK_APP_SECRET",
                    province.callback_app_secret().to_owned(),
                ),
                // The production default: one sync at start (the demo catalogue), the next an
                // hour later, after the run.
                (
                    "APP_PROVINCE__SYNC_INTERVAL_SECS",
                    SYNC_INTERVAL_SECS.to_string(),
                ),
                ("APP_PROVINCE__TIMEOUT_MS", PROVINCE_TIMEOUT_MS.to_string()),
                (
                    "APP_PROVINCE__MAX_ATTEMPTS",
                    PROVINCE_MAX_ATTEMPTS.to_string(),
                ),
                (
                    "APP_PROVINCE__BREAKER_FAILURES",
                    BREAKER_FAILURES.to_string(),
                ),
                (
                    "APP_PROVINCE__BREAKER_COOLDOWN_SECS",
                    BREAKER_COOLDOWN_SECS.to_string(),
                ),
                (
                    "APP_APPLICATIONS__MATERIALS_DIR",
                    materials_dir.path.display().to_string(),
                ),
                ("APP_APPLICATIONS__WORKER", "true".to_owned()),
                (
                    "APP_APPLICATIONS__WORKER_INTERVAL_MS",
                    WORKER_INTERVAL_MS.to_string(),
                ),
                ("APP_APPLICATIONS__RETRY_BASE_MS", RETRY_BASE_MS.to_string()),
                (
                    "APP_APPLICATIONS__RETRY_CAP_SECS",
                    RETRY_CAP_SECS.to_string(),
                ),
                ("APP_APPLICATIONS__LEASE_SECS", LEASE_SECS.to_string()),
                (
                    "APP_APPLICATIONS__CONCURRENCY",
                    options.forward_concurrency.to_string(),
                ),
                ("APP_APPLICATIONS__BATCH", options.forward_batch.to_string()),
            ],
        )
        .await?;
    let url = started.url.clone();
    eprintln!(
        "bench: gateway ready in {} (fresh database, migrations included)",
        ms(started.ready)
    );
    province.set_callback_url(Some(format!("{url}{CALLBACK_PATH}")));
    province.set_auto_progress(Some(vec![(
        PRE_ACCEPTED_AFTER,
        CasePhase::PreAccepted,
        json!({}),
    )]));

    let setup_started = Instant::now();
    let db = Database::connect(&fresh.database_url)
        .await
        .context("connect the bench to its database")?;
    let outcome = measure_phases(
        options,
        http,
        wechat,
        province,
        &db,
        (&url, &started.admin_url),
        setup_started,
    )
    .await;
    db.close().await.context("close the bench's connection")?;
    let mut report = outcome?;
    report.ready = started.ready;
    Ok(report)
}

async fn measure_phases(
    options: &ApplicationsOptions,
    http: &reqwest::Client,
    wechat: &WechatSim,
    province: &ProvinceSim,
    db: &DatabaseConnection,
    (url, admin_url): (&str, &str),
    setup_started: Instant,
) -> anyhow::Result<Report> {
    wait_for_item(db).await?;
    eprintln!(
        "bench: logging in {} citizens, binding identities and phones, uploading 2 × {} KiB of \
         materials each…",
        options.citizens, options.material_kib
    );
    let sim = wechat.base_url();
    let citizens: Vec<Citizen> = futures::stream::iter(0..options.citizens)
        .map(|i| {
            let sim = &sim;
            async move {
                let (_, token) = login_and_bind(http, sim, url, i).await?;
                bind_phone(http, wechat, url, &token, i).await?;
                let pdf = upload(
                    http,
                    url,
                    &token,
                    &pdf_bytes(i, options.material_kib),
                    "pdf",
                )
                .await?;
                let jpeg = upload(
                    http,
                    url,
                    &token,
                    &jpeg_bytes(i, options.material_kib),
                    "jpg",
                )
                .await?;
                anyhow::Ok(Citizen { token, pdf, jpeg })
            }
        })
        .buffer_unordered(SETUP_IN_FLIGHT)
        .try_collect()
        .await?;
    let citizens = Arc::new(citizens);
    let setup = setup_started.elapsed();

    // ---- step 2: submissions and forwarding ----
    eprintln!(
        "bench: {} submissions, {} in flight, the forwarder sending {} at a time…",
        options.submissions, options.concurrency, options.forward_concurrency
    );
    let posts_before = province.requests(Group::Applications);
    let first = Instant::now();
    let steady = submit_all(
        http,
        url,
        &citizens,
        "steady",
        options.submissions,
        options.concurrency,
    )
    .await;
    let steady_target = steady.ids.len();
    let steady_ledger = wait_until(FORWARD_LIMIT, LEDGER_POLL, async || {
        Ok(province.ledger_len() >= steady_target)
    })
    .await?
    .map(|()| first.elapsed())
    .with_context(|| {
        format!(
            "the ledger holds {} of {steady_target} applications {} s after the first submission",
            province.ledger_len(),
            FORWARD_LIMIT.as_secs()
        )
    })?;
    wait_until(FORWARD_LIMIT, DB_POLL, async || {
        Ok(submitted_count(db).await? >= steady_target)
    })
    .await?
    .context("the forwarded applications did not all become SUBMITTED")?;
    let steady_submitted = first.elapsed();
    let steady_posts = province.requests(Group::Applications) - posts_before;
    eprintln!(
        "bench: {steady_target} forwarded in {:.1} s",
        steady_ledger.as_secs_f64()
    );

    // ---- step 3: a backlog built while the platform is down ----
    eprintln!(
        "bench: the platform is down; {} submissions, then {} s more of outage…",
        options.backlog,
        options.outage.as_secs()
    );
    province.fault(Group::Applications, Fault::Down);
    let ledger_before = province.ledger_len();
    let posts_down_before = province.requests(Group::Applications);
    let calls_down_before = upstream_calls(http, admin_url).await?;
    let backlog = submit_all(
        http,
        url,
        &citizens,
        "backlog",
        options.backlog,
        options.concurrency,
    )
    .await;
    tokio::time::sleep(options.outage).await;
    let statuses_at_t0 = statuses(db).await?;
    let ledger_at_t0 = province.ledger_len();
    let posts_at_t0 = province.requests(Group::Applications);
    let calls_at_t0 = upstream_calls(http, admin_url).await?;
    province.clear_faults();
    let t0 = Instant::now();
    eprintln!("bench: the platform is up again (T0); draining…");

    let backlog_target = ledger_at_t0 + backlog.ids.len();
    let resumed = wait_until(options.drain_limit, LEDGER_POLL, async || {
        Ok(province.ledger_len() > ledger_at_t0)
    })
    .await?
    .map(|()| t0.elapsed());
    let drained_ledger = match resumed {
        Some(_) => wait_until(
            options.drain_limit.saturating_sub(t0.elapsed()),
            LEDGER_POLL,
            async || Ok(province.ledger_len() >= backlog_target),
        )
        .await?
        .map(|()| t0.elapsed()),
        None => None,
    };
    let all_applications = steady.ids.len() + backlog.ids.len();
    let drained = match drained_ledger {
        Some(_) => wait_until(
            options.drain_limit.saturating_sub(t0.elapsed()),
            DB_POLL,
            async || Ok(submitted_count(db).await? >= all_applications),
        )
        .await?
        .map(|()| t0.elapsed()),
        None => None,
    };
    let posts_after_t0 = province.requests(Group::Applications) - posts_at_t0;
    let calls_after = upstream_calls(http, admin_url).await?;
    match drained {
        Some(d) => eprintln!("bench: drained {:.1} s after T0", d.as_secs_f64()),
        None => eprintln!(
            "bench: not drained {} s after T0",
            options.drain_limit.as_secs()
        ),
    }

    // ---- checks ----
    let ledger = province.ledger();
    let mut in_ledger: HashMap<&str, (usize, &str, u32)> = HashMap::new();
    for entry in &ledger {
        let seen = in_ledger
            .entry(entry.client_request_id.as_str())
            .or_insert((0, entry.sblsh.as_str(), 0));
        seen.0 += 1;
        seen.2 += entry.submissions;
    }
    let ours: Vec<&str> = steady
        .ids
        .iter()
        .chain(&backlog.ids)
        .map(String::as_str)
        .collect();
    let missing = ours
        .iter()
        .filter(|id| !in_ledger.contains_key(**id))
        .count();
    let twice = ours
        .iter()
        .filter(|id| in_ledger.get(**id).is_some_and(|seen| seen.0 > 1))
        .count();
    let ours_set: HashSet<&str> = ours.iter().copied().collect();
    let foreign = in_ledger
        .keys()
        .filter(|id| !ours_set.contains(**id))
        .count();
    let backlog_entries: Vec<(usize, &str, u32)> = backlog
        .ids
        .iter()
        .filter_map(|id| in_ledger.get(id.as_str()).copied())
        .collect();
    let entries_resent = backlog_entries.iter().filter(|e| e.2 > 1).count();
    let submissions_in_ledger = backlog_entries.iter().map(|e| u64::from(e.2)).sum();

    let recorded = sblshes(db).await?;
    let wrong_sblsh = ours
        .iter()
        .filter(|id| {
            let ledger_sblsh = in_ledger.get(**id).map(|seen| seen.1);
            let db_sblsh = recorded.get(**id).and_then(|(status, sblsh)| {
                (status == "SUBMITTED")
                    .then_some(sblsh.as_deref())
                    .flatten()
            });
            ledger_sblsh.is_none() || ledger_sblsh != db_sblsh
        })
        .count();

    let queued = statuses_at_t0.get("QUEUED").copied().unwrap_or(0);
    let errors = steady.errors.len() + backlog.errors.len();
    let checks = vec![
        Check {
            what: "every submission accepted (201 SUBMITTING)".to_owned(),
            ok: errors == 0,
            detail: format!(
                "{} of {}",
                steady.ids.len() + backlog.ids.len(),
                steady.count() + backlog.count()
            ),
        },
        Check {
            what: "nothing forwarded while down, every backlog application QUEUED at T0".to_owned(),
            ok: ledger_at_t0 == ledger_before
                && usize::try_from(queued).is_ok_and(|q| q == backlog.ids.len()),
            detail: format!(
                "ledger +{}, {}",
                ledger_at_t0 - ledger_before,
                describe_statuses(&statuses_at_t0)
            ),
        },
        Check {
            what: format!(
                "backlog drained within {} s of T0",
                options.drain_limit.as_secs()
            ),
            ok: drained.is_some(),
            detail: drained
                .map_or_else(|| "no".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
        },
        Check {
            what: "exactly once: every clientRequestId once in the ledger, nothing else".to_owned(),
            ok: missing == 0 && twice == 0 && foreign == 0,
            detail: format!(
                "{} entries; {missing} missing, {twice} more than once, {foreign} unknown",
                ledger.len()
            ),
        },
        Check {
            what: "every application SUBMITTED with the ledger's sblsh".to_owned(),
            ok: wrong_sblsh == 0,
            detail: format!("{} of {}", ours.len() - wrong_sblsh, ours.len()),
        },
    ];

    // The callbacks of the last acceptances come a second later; give them a moment.
    let _ = wait_until(CALLBACK_GRACE, DB_POLL, async || {
        Ok(province.callbacks_delivered().delivered >= ledger.len() as u64)
    })
    .await?;
    let callbacks = province.callbacks_delivered();

    Ok(Report {
        release: report::is_release(),
        citizens: options.citizens,
        material_kib: options.material_kib,
        concurrency: options.concurrency,
        forward_concurrency: options.forward_concurrency,
        forward_batch: options.forward_batch,
        setup,
        ready: Duration::ZERO,
        server_log: options.server_log.clone(),
        steady,
        steady_ledger,
        steady_submitted,
        steady_posts,
        outage: options.outage,
        backlog,
        statuses_at_t0,
        posts_while_down: posts_at_t0 - posts_down_before,
        calls_while_down: difference(&calls_at_t0, &calls_down_before),
        resumed,
        drained_ledger,
        drained,
        drain_limit: options.drain_limit,
        posts_after_t0,
        calls_after_t0: difference(&calls_after, &calls_at_t0),
        entries_resent,
        submissions_in_ledger,
        callbacks_delivered: callbacks.delivered,
        callback_attempts: callbacks.attempts,
        checks,
    })
}

/// Polls `done` every `every` until it says yes (`Some`) or `limit` passes (`None`).
async fn wait_until(
    limit: Duration,
    every: Duration,
    mut done: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Option<()>> {
    let deadline = Instant::now() + limit;
    loop {
        if done().await? {
            return Ok(Some(()));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits for the catalogue sync at start to bring the bench's item.
async fn wait_for_item(db: &DatabaseConnection) -> anyhow::Result<()> {
    use entities::item;
    wait_until(SYNC_LIMIT, DB_POLL, async || {
        Ok(item::Entity::find_by_id(ITEM_CODE)
            .one(db)
            .await
            .context("look for the item")?
            .is_some())
    })
    .await?
    .with_context(|| {
        format!(
            "the catalogue sync at start did not bring {ITEM_NAME} ({ITEM_CODE}) within {} s",
            SYNC_LIMIT.as_secs()
        )
    })
}

/// `count` submissions, the citizens in turn, `in_flight` at a time.
async fn submit_all(
    http: &reqwest::Client,
    url: &str,
    citizens: &Arc<Vec<Citizen>>,
    label: &str,
    count: usize,
    in_flight: usize,
) -> Submitted {
    let started = Instant::now();
    let outcomes: Vec<(Duration, anyhow::Result<String>)> = futures::stream::iter(0..count)
        .map(|i| {
            let citizens = Arc::clone(citizens);
            async move {
                let citizen = &citizens[i % citizens.len()];
                let t = Instant::now();
                let id = submit(http, url, citizen, &format!("{label}-{i}")).await;
                (t.elapsed(), id)
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut ids = Vec::with_capacity(count);
    let mut latencies = Vec::with_capacity(count);
    let mut errors = Vec::new();
    for (latency, outcome) in outcomes {
        match outcome {
            Ok(id) => {
                ids.push(id);
                latencies.push(latency);
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    latencies.sort_unstable();
    Submitted {
        ids,
        latencies,
        errors,
        elapsed,
    }
}

/// One application for `不动产登记资料查询`; returns its id (the `clientRequestId`).
async fn submit(
    http: &reqwest::Client,
    url: &str,
    citizen: &Citizen,
    key: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{url}/api/v1/applications"))
        .bearer_auth(&citizen.token)
        .header("Idempotency-Key", key)
        .json(&json!({
            "itemCode": ITEM_CODE,
            "form": {
                "purpose": "购房资格核验",
                "propertyLocation": "杭州市西湖区文三路 100 号 3 幢 2 单元 501 室",
                "copies": 1,
            },
            "materials": [
                { "code": "M001", "materialId": citizen.pdf },
                { "code": "M002", "materialId": citizen.jpeg },
            ],
            "obtainWay": "COLLECT",
        }))
        .send()
        .await
        .context("submit an application")?;
    let status = response.status();
    let body = response.text().await.context("read the submission")?;
    if status != reqwest::StatusCode::CREATED {
        bail!("a submission answered {status}: {body}");
    }
    let body: serde_json::Value =
        serde_json::from_str(&body).context("the submission is not JSON")?;
    if body["status"] != "SUBMITTING" {
        bail!("a submission answered 201 but not SUBMITTING: {body}");
    }
    Ok(body["id"]
        .as_str()
        .context("no id in the submission")?
        .to_owned())
}

/// Binds the `n`-th citizen's phone with a code minted by the WeChat simulator.
async fn bind_phone(
    http: &reqwest::Client,
    wechat: &WechatSim,
    url: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<()> {
    let code = wechat.mint_phone_code(&format!("139{:08}", n % 100_000_000));
    let response = http
        .post(format!("{url}/api/v1/me/phone"))
        .bearer_auth(token)
        .json(&json!({ "code": code }))
        .send()
        .await
        .context("bind a phone")?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        let body = response.text().await.unwrap_or_default();
        bail!("POST /api/v1/me/phone answered {status}: {body}");
    }
    Ok(())
}

/// Uploads one material as `wx.uploadFile` does (multipart, field `file`); returns its id.
async fn upload(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    bytes: &[u8],
    extension: &str,
) -> anyhow::Result<String> {
    const BOUNDARY: &str = "----zsb-bench-5f0c2a7e19d4";
    let content_type = if extension == "pdf" {
        "application/pdf"
    } else {
        "image/jpeg"
    };
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
         filename=\"material.{extension}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let response = http
        .post(format!("{url}/api/v1/materials"))
        .bearer_auth(token)
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .context("upload a material")?;
    let status = response.status();
    let text = response.text().await.context("read the upload")?;
    if status != reqwest::StatusCode::CREATED {
        bail!("POST /api/v1/materials answered {status}: {text}");
    }
    let material: serde_json::Value =
        serde_json::from_str(&text).context("the upload is not JSON")?;
    Ok(material["id"]
        .as_str()
        .context("no id in the upload")?
        .to_owned())
}

/// A PDF (as the content sniffing sees it) of exactly `kib` KiB, different for every citizen.
fn pdf_bytes(n: usize, kib: usize) -> Vec<u8> {
    let mut bytes = format!("%PDF-1.4\n% 查询申请书 of bench citizen {n}\n").into_bytes();
    pad(&mut bytes, kib * 1024, b"%%EOF\n");
    bytes
}

/// A JPEG (as the content sniffing sees it) of exactly `kib` KiB, different for every citizen.
fn jpeg_bytes(n: usize, kib: usize) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ];
    bytes.extend_from_slice(format!("bench citizen {n}").as_bytes());
    pad(&mut bytes, kib * 1024, &[0xFF, 0xD9]);
    bytes
}

/// Fills `bytes` with a varied filler up to `size` minus `tail`, then `tail`.
fn pad(bytes: &mut Vec<u8>, size: usize, tail: &[u8]) {
    let fill = size.saturating_sub(tail.len());
    let mut x: u32 = 0x9E37_79B9;
    while bytes.len() < fill {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(b' ' + (x % 90) as u8);
    }
    bytes.truncate(fill);
    bytes.extend_from_slice(tail);
}

/// Applications `SUBMITTED` with an sblsh, all of them.
async fn submitted_count(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) FROM applications WHERE status = 'SUBMITTED' AND sblsh IS NOT NULL",
        ))
        .await
        .context("count the submitted applications")?
        .context("no count")?;
    let n: i64 = row.try_get_by_index(0).context("read the count")?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// How many applications are in each status, all of them.
async fn statuses(db: &DatabaseConnection) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT status, count(*) FROM applications GROUP BY status",
        ))
        .await
        .context("count the statuses")?;
    let mut counts = BTreeMap::new();
    for row in rows {
        let status: String = row.try_get_by_index(0).context("read a status")?;
        let n: i64 = row.try_get_by_index(1).context("read a count")?;
        counts.insert(status, n);
    }
    Ok(counts)
}

/// Every application's status and sblsh, by id.
async fn sblshes(
    db: &DatabaseConnection,
) -> anyhow::Result<HashMap<String, (String, Option<String>)>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id, status, sblsh FROM applications",
        ))
        .await
        .context("read the applications")?;
    rows.into_iter()
        .map(|row| {
            let id: String = row.try_get_by_index(0).context("read an id")?;
            let status: String = row.try_get_by_index(1).context("read a status")?;
            let sblsh: Option<String> = row.try_get_by_index(2).context("read an sblsh")?;
            Ok((id, (status, sblsh)))
        })
        .collect()
}

/// The gateway's `upstream_calls_total{upstream="province",api="applications",outcome=…}`.
async fn upstream_calls(http: &reqwest::Client, url: &str) -> anyhow::Result<Calls> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .context("read the gateway's metrics")?
        .error_for_status()
        .context("the gateway's metrics")?
        .text()
        .await
        .context("read the gateway's metrics")?;
    let mut calls = Calls::new();
    for line in text.lines() {
        let Some(labels) = line.strip_prefix("upstream_calls_total{") else {
            continue;
        };
        if !labels.contains("api=\"applications\"") || !labels.contains("upstream=\"province\"") {
            continue;
        }
        let outcome = labels
            .split("outcome=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("?")
            .to_owned();
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *calls.entry(outcome).or_default() += value as u64;
    }
    Ok(calls)
}

fn difference(after: &Calls, before: &Calls) -> Calls {
    after
        .iter()
        .map(|(outcome, n)| {
            (
                outcome.clone(),
                n.saturating_sub(before.get(outcome).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn describe_calls(calls: &Calls) -> String {
    if calls.is_empty() {
        return "none".to_owned();
    }
    calls
        .iter()
        .map(|(outcome, n)| format!("{n} {outcome}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_statuses(statuses: &BTreeMap<String, i64>) -> String {
    if statuses.is_empty() {
        return "no applications".to_owned();
    }
    statuses
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn secs_or_never(d: Option<Duration>) -> String {
    d.map_or_else(|| "never".to_owned(), secs)
}

/// The materials folder of the run, removed with it.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create(id: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("zsb-bench-{id}-materials"));
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        report::warn_if_debug(f, self.release)?;
        let steady_n = self.steady.ids.len();
        writeln!(
            f,
            "{:<44} {:>7} {:>9} {:>10} {:>10} {:>7}",
            "applications", "count", "per s", "p50", "p99", "errors"
        )?;
        for (label, phase) in [
            (
                format!("submissions ({} in flight)", self.concurrency),
                &self.steady,
            ),
            (
                format!("submissions while down ({} in flight)", self.concurrency),
                &self.backlog,
            ),
        ] {
            writeln!(
                f,
                "{label:<44} {:>7} {:>9.0} {:>10} {:>10} {:>7}",
                phase.count(),
                phase.per_sec(),
                ms(phase.percentile(0.50)),
                ms(phase.percentile(0.99)),
                phase.errors.len()
            )?;
        }
        writeln!(
            f,
            "{:<44} {:>7} {:>9.0} {:>10} {:>10} {:>7}",
            format!("forwarded ({} in flight)", self.forward_concurrency),
            steady_n,
            steady_n as f64 / self.steady_ledger.as_secs_f64().max(f64::EPSILON),
            "-",
            "-",
            "-"
        )?;
        writeln!(
            f,
            "  first submission to all {steady_n} in the simulator's ledger: {}; to all \
             SUBMITTED in the database: {}",
            secs(self.steady_ledger),
            secs(self.steady_submitted)
        )?;
        for phase in [&self.steady, &self.backlog] {
            if let Some(first) = phase.errors.first() {
                writeln!(f, "first error: {first}")?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "backlog of {} after a {} s outage (T0 = the platform up again)",
            self.backlog.ids.len(),
            self.outage.as_secs()
        )?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: String| {
            writeln!(f, "  {label:<52} {value}")
        };
        row(
            f,
            "statuses when the outage ended",
            describe_statuses(&self.statuses_at_t0),
        )?;
        row(f, "first forwarded after T0", secs_or_never(self.resumed))?;
        row(
            f,
            "all in the ledger after T0",
            secs_or_never(self.drained_ledger),
        )?;
        row(
            f,
            "all SUBMITTED after T0 (drain time)",
            secs_or_never(self.drained),
        )?;
        if let (Some(resumed), Some(drained)) = (self.resumed, self.drained_ledger) {
            let span = drained.saturating_sub(resumed);
            row(
                f,
                "forwarded per s once resumed",
                format!(
                    "{:.0}",
                    self.backlog.ids.len() as f64 / span.as_secs_f64().max(f64::EPSILON)
                ),
            )?;
        }
        row(
            f,
            "POSTs the simulator dropped while down",
            format!(
                "{} (gateway calls: {})",
                self.posts_while_down,
                describe_calls(&self.calls_while_down)
            ),
        )?;
        let entries = self.backlog.ids.len().max(1) as f64;
        row(
            f,
            "POSTs the simulator got from T0 per ledger entry",
            format!(
                "{:.2} ({} POSTs for {} entries; gateway calls: {})",
                self.posts_after_t0 as f64 / entries,
                self.posts_after_t0,
                self.backlog.ids.len(),
                describe_calls(&self.calls_after_t0)
            ),
        )?;
        row(
            f,
            "entries whose clientRequestId came more than once",
            format!(
                "{} ({} accepted POSTs for {} entries)",
                self.entries_resent,
                self.submissions_in_ledger,
                self.backlog.ids.len()
            ),
        )?;
        writeln!(f)?;
        writeln!(f, "checks")?;
        for check in &self.checks {
            writeln!(
                f,
                "  {:<6} {} ({})",
                if check.ok { "OK" } else { "FAILED" },
                check.what,
                check.detail
            )?;
        }
        writeln!(f)?;
        writeln!(f, "How it was measured")?;
        writeln!(
            f,
            "- The release gateway as a child process on a fresh PostgreSQL database and Redis \
             prefix, the WeChat and province simulators in the bench's process (HTTP on \
             127.0.0.1, the province simulator on one worker thread); {} cores shared by all; \
             gateway ready in {}; its output {}.",
            report::cores(),
            ms(self.ready),
            report::server_logs(self.server_log.as_deref())
        )?;
        writeln!(
            f,
            "- Gateway settings: forwarder on, {} sends in flight, {} rows claimed a round, \
             idle wake-up every {WORKER_INTERVAL_MS} ms (a submission wakes it at once), retry \
             pauses with full jitter from {RETRY_BASE_MS} ms doubling to a cap of \
             {RETRY_CAP_SECS} s, lease {LEASE_SECS} s; province client: {PROVINCE_TIMEOUT_MS} \
             ms timeout, {PROVINCE_MAX_ATTEMPTS} attempts a call, breaker open after \
             {BREAKER_FAILURES} failed calls for {BREAKER_COOLDOWN_SECS} s; catalogue synced \
             at start (every {SYNC_INTERVAL_SECS} s). All production defaults except where an \
             option changed the forwarder's concurrency or batch; only the per-IP login limit \
             and the per-session request budget are out of reach.",
            self.forward_concurrency, self.forward_batch
        )?;
        writeln!(
            f,
            "- Setup ({:.1} s, unmeasured): {} citizens logged in through the WeChat simulator \
             with a bound identity and phone, each with the two required materials of \
             {ITEM_NAME} uploaded (POST /api/v1/materials, a {} KiB PDF and a {} KiB JPEG). \
             Every application carries both (so every forward sends about {} KiB of base64), an \
             Idempotency-Key, a small form and obtainWay COLLECT.",
            self.setup.as_secs_f64(),
            self.citizens,
            self.material_kib,
            self.material_kib,
            self.material_kib * 2 * 4 / 3
        )?;
        writeln!(
            f,
            "- Submissions: POST /api/v1/applications, the citizens in turn, over HTTP with \
             keep-alive, the forwarder sending at the same time; per s = accepted / wall time of \
             the phase; latency from send to the whole answer read; only 201 SUBMITTING counts \
             as accepted. p50/p99: nearest-rank percentiles of the accepted ones."
        )?;
        writeln!(
            f,
            "- Forwarded: from the first submission until the simulator's ledger held all {} \
             ({}; all SUBMITTED in the database {}); per s = applications / that time. The \
             simulator received {} application POSTs for them. Each accepted case gets one \
             PRE_ACCEPTED callback {} ms later: {} delivered in the whole run ({} attempts).",
            steady_n,
            secs(self.steady_ledger),
            secs(self.steady_submitted),
            self.steady_posts,
            PRE_ACCEPTED_AFTER.as_millis(),
            self.callbacks_delivered,
            self.callback_attempts
        )?;
        writeln!(
            f,
            "- Outage: the simulator drops every POST /gov/v1/applications unanswered (Fault::Down; \
             other endpoints stay up); {} submissions, then {} s more; at T0 the fault is \
             cleared. Times from T0 to the first backlog application in the ledger, to all of \
             them, and to all SUBMITTED (the database polled every {} ms); the run fails past \
             {} s. POSTs are counted by the simulator, gateway calls by the gateway's \
             upstream_calls_total{{api=\"applications\"}} (circuit_open: refused by the breaker \
             without a request).",
            self.backlog.ids.len(),
            self.outage.as_secs(),
            DB_POLL.as_millis(),
            self.drain_limit.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn materials_are_recognised_and_exactly_as_large_as_asked() {
        let pdf = pdf_bytes(7, 3);
        assert_eq!(pdf.len(), 3 * 1024);
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let jpeg = jpeg_bytes(7, 1);
        assert_eq!(jpeg.len(), 1024);
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert!(jpeg.ends_with(&[0xFF, 0xD9]));
        assert_ne!(pdf_bytes(1, 1), pdf_bytes(2, 1), "every citizen's differ");
    }

    #[test]
    fn the_gateway_calls_are_read_from_its_metrics_text() {
        let mut before = Calls::new();
        before.insert("ok".into(), 3);
        let mut after = before.clone();
        after.insert("ok".into(), 10);
        after.insert("circuit_open".into(), 4);
        let d = difference(&after, &before);
        assert_eq!(d.get("ok"), Some(&7));
        assert_eq!(d.get("circuit_open"), Some(&4));
        assert_eq!(describe_calls(&d), "4 circuit_open, 7 ok");
    }
}
