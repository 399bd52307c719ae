//! `bench licences`: electronic licences (亮证), as issue 7 asks — presentations signed per
//! second, and the latency of online verifications at a hall, with the live status call to the
//! provincial platform (the province simulator) in every one.
//!
//! ```text
//! cargo build --release -p gateway -p bench && ./target/release/bench licences
//! ./target/release/bench licences --citizens 50 --presentations 1000 --verifications 200   # quick
//! ```
//!
//! One run: a fresh database, the WeChat and province simulators in-process, the release gateway
//! as a child process pointed at both (the catalogue never synced). Then:
//!
//! 1. `--citizens` citizens log in through the real flow and bind a real-name identity (as in
//!    `bench rush`); each gets one identity-card licence in the province simulator through its
//!    `POST /__sim/licences` hook. A hall row is written into the database and a verifier of that
//!    hall is created with `gateway create-staff`, then logs in (`POST /staff/v1/auth/login`).
//! 2. Presentations: `--presentations` `POST /api/v1/licences/{id}/presentations`, the citizens
//!    in turn, `--concurrency` in flight, after one unmeasured presentation per citizen (which
//!    also fills the gateway's licence-list cache, as a citizen's opened licence page would).
//! 3. Verifications: `POST /staff/v1/halls/{hallId}/licence-verifications` of payloads from step
//!    2, each verified once (a second scan is refused by design): `--verifications` one after
//!    the other, then as many again with `--verify-concurrency` in flight. Every answer must be
//!    200 with verdict VALID; anything else is a run error.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use futures::{StreamExt as _, TryStreamExt as _};
use sea_orm::Database;
use serde_json::json;
use simulators::province::{LicenceReadKind, LicenceSpec, ProvinceSim, ProvinceSimConfig};
use simulators::wechat::{WechatSim, WechatSimConfig};

use crate::Backends;
use crate::backends::{self, Fresh};
use crate::launch::GatewayCommand;
use crate::process;
use crate::report::{self, ms};
use crate::rush::{id_card_no, login_and_bind, name};

const HALL_CODE: &str = "LIC-BENCH-01";
const VERIFIER: &str = "benchverifier";
const VERIFIER_PASSWORD: &str = "a long enough bench password";
/// Logins, identity bindings and licences in flight at once while preparing the citizens.
const SETUP_IN_FLIGHT: usize = 32;
/// Requests a minute that no run reaches: the per-IP login limit and the per-session request
/// budgets count, but never refuse.
const UNREACHABLE_LIMIT: u64 = 100_000_000;
/// Long enough that no payload of the run expires before it is verified (the default is 60 s;
/// the TTL only goes into the signed payload and the replay guard's expiry).
const PRESENTATION_TTL_SECS: u64 = 3600;

#[derive(Args, Debug, Clone)]
pub struct LicencesOptions {
    #[command(flatten)]
    backends: Backends,
    /// Citizens, each with a bound identity and one licence.
    #[arg(long, default_value_t = 200)]
    citizens: usize,
    /// Presentations signed in the measured run, the citizens in turn.
    #[arg(long, default_value_t = 5000)]
    presentations: usize,
    /// Presentations in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Verifications one after the other; as many again run concurrently.
    #[arg(long, default_value_t = 1000)]
    verifications: usize,
    /// Verifications in flight at once in the concurrent run.
    #[arg(long, default_value_t = 8)]
    verify_concurrency: usize,
    /// Append the gateway's output to this file instead of /dev/null.
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
}

pub async fn run(options: LicencesOptions) -> anyhow::Result<()> {
    if options.citizens == 0
        || options.presentations == 0
        || options.concurrency == 0
        || options.verifications == 0
        || options.verify_concurrency == 0
    {
        bail!("every count and concurrency must be at least 1");
    }
    if options.verifications * 2 > options.presentations {
        bail!(
            "--verifications {} needs at least {} presentations (each payload is verified once, \
             sequentially and concurrently)",
            options.verifications,
            options.verifications * 2
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
    if let Some(why) = report.failure() {
        bail!("{why} (see above)");
    }
    Ok(())
}

/// The latencies and errors of one measured phase.
struct Phase {
    latencies: Vec<Duration>,
    errors: Vec<String>,
    elapsed: Duration,
    in_flight: usize,
}

impl Phase {
    fn new(
        mut latencies: Vec<Duration>,
        errors: Vec<String>,
        elapsed: Duration,
        in_flight: usize,
    ) -> Self {
        latencies.sort_unstable();
        Self {
            latencies,
            errors,
            elapsed,
            in_flight,
        }
    }

    fn count(&self) -> usize {
        self.latencies.len() + self.errors.len()
    }

    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn percentile(&self, p: f64) -> Duration {
        report::percentile(&self.latencies, p)
    }
}

struct Report {
    release: bool,
    citizens: usize,
    setup: Duration,
    ready: Duration,
    server_log: Option<PathBuf>,
    presentations: Phase,
    sequential: Phase,
    concurrent: Phase,
    /// Status and detail reads the province simulator served during the verifications.
    status_reads: usize,
    detail_reads: usize,
}

impl Report {
    fn failure(&self) -> Option<String> {
        let errors = self.presentations.errors.len()
            + self.sequential.errors.len()
            + self.concurrent.errors.len();
        (errors > 0).then(|| format!("{errors} requests failed or were not VALID"))
    }
}

async fn measure(
    options: &LicencesOptions,
    gateway: PathBuf,
    fresh: &Fresh,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(options.concurrency.max(SETUP_IN_FLIGHT))
        .build()
        .context("build the HTTP client")?;
    let wechat = WechatSim::start(WechatSimConfig::default())
        .await
        .context("start the WeChat simulator")?;
    let province = match ProvinceSim::start(ProvinceSimConfig {
        demo_data: false,
        ..ProvinceSimConfig::default()
    })
    .await
    .context("start the province simulator")
    {
        Ok(province) => province,
        Err(e) => {
            wechat.stop().await;
            return Err(e);
        }
    };
    let report = measure_with(options, gateway, fresh, &http, &wechat, &province).await;
    province.stop().await;
    wechat.stop().await;
    report
}

async fn measure_with(
    options: &LicencesOptions,
    gateway: PathBuf,
    fresh: &Fresh,
    http: &reqwest::Client,
    wechat: &WechatSim,
    province: &ProvinceSim,
) -> anyhow::Result<Report> {
    let command = GatewayCommand::new(
        gateway.clone(),
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
                // One verifier scans for the whole run: far past the 600 requests a minute a
                // staff (and a citizen) session may make; the budget counts, but never refuses.
                (
                    "APP_STAFF__REQUESTS_PER_MINUTE",
                    UNREACHABLE_LIMIT.to_string(),
                ),
                (
                    "APP_SESSIONS__REQUESTS_PER_MINUTE",
                    UNREACHABLE_LIMIT.to_string(),
                ),
                ("APP_PROVINCE__BASE_URL", province.base_url()),
                ("APP_PROVINCE__APP_KEY", province.app_key().to_owned()),
                ("APP_PROVINCE__APP_SECRET", province.app_secret().to_owned()),
                ("APP_PROVINCE__SYNC_INTERVAL_SECS", "0".to_owned()),
                (
                    "APP_LICENCES__PRESENTATION_TTL_SECS",
                    PRESENTATION_TTL_SECS.to_string(),
                ),
            ],
        )
        .await?;
    let url = started.url.clone();
    eprintln!(
        "bench: gateway ready in {} (fresh database, migrations included)",
        ms(started.ready)
    );

    let setup_started = Instant::now();
    let hall_id = insert_hall(&fresh.database_url).await?;
    create_verifier(&gateway, &fresh.database_url)?;
    let verifier = staff_login(http, &url).await?;

    eprintln!(
        "bench: logging in {} citizens, binding their identities and giving each a licence…",
        options.citizens
    );
    let sim = wechat.base_url();
    let province_url = province.base_url();
    let holders: Vec<(String, String)> = futures::stream::iter(0..options.citizens)
        .map(|i| {
            let (sim, url, province_url) = (&sim, &url, &province_url);
            async move {
                let (_, token) = login_and_bind(http, sim, url, i).await?;
                let licence = add_licence(http, province_url, i).await?;
                anyhow::Ok((token, licence))
            }
        })
        .buffer_unordered(SETUP_IN_FLIGHT)
        .try_collect()
        .await?;
    // One unmeasured presentation each: connections open, licence lists cached.
    futures::stream::iter(&holders)
        .map(|(token, licence)| present(http, &url, token, licence))
        .buffer_unordered(SETUP_IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await
        .context("the unmeasured presentations")?;
    let setup = setup_started.elapsed();

    eprintln!(
        "bench: {} presentations, {} in flight…",
        options.presentations, options.concurrency
    );
    let holders = Arc::new(holders);
    let started_at = Instant::now();
    let outcomes: Vec<(Duration, anyhow::Result<String>)> =
        futures::stream::iter(0..options.presentations)
            .map(|i| {
                let holders = Arc::clone(&holders);
                let url = &url;
                async move {
                    let (token, licence) = &holders[i % holders.len()];
                    let t = Instant::now();
                    let payload = present(http, url, token, licence).await;
                    (t.elapsed(), payload)
                }
            })
            .buffer_unordered(options.concurrency)
            .collect()
            .await;
    let elapsed = started_at.elapsed();
    let mut payloads = Vec::with_capacity(outcomes.len());
    let mut latencies = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::new();
    for (latency, payload) in outcomes {
        match payload {
            Ok(payload) => {
                latencies.push(latency);
                payloads.push(payload);
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let presentations = Phase::new(latencies, errors, elapsed, options.concurrency);
    if payloads.len() < options.verifications * 2 {
        bail!(
            "only {} presentations succeeded, too few to verify {} twice over; first error: {}",
            payloads.len(),
            options.verifications,
            presentations.errors.first().map_or("none", String::as_str)
        );
    }

    let reads_before = province.licence_reads().len();
    eprintln!(
        "bench: {} verifications one after the other…",
        options.verifications
    );
    let (first, second) = payloads.split_at(options.verifications);
    let sequential = verify_all(http, &url, &verifier, hall_id, first, 1).await;
    eprintln!(
        "bench: {} verifications, {} in flight…",
        options.verifications, options.verify_concurrency
    );
    let concurrent = verify_all(
        http,
        &url,
        &verifier,
        hall_id,
        &second[..options.verifications],
        options.verify_concurrency,
    )
    .await;
    let reads = province.licence_reads();
    let during = reads.get(reads_before..).unwrap_or_default();
    let status_reads = during
        .iter()
        .filter(|r| r.kind == LicenceReadKind::Status)
        .count();
    let detail_reads = during
        .iter()
        .filter(|r| r.kind == LicenceReadKind::Detail)
        .count();

    Ok(Report {
        release: report::is_release(),
        citizens: options.citizens,
        setup,
        ready: started.ready,
        server_log: options.server_log.clone(),
        presentations,
        sequential,
        concurrent,
        status_reads,
        detail_reads,
    })
}

/// Verifies each payload once, `in_flight` at a time.
async fn verify_all(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    hall_id: i64,
    payloads: &[String],
    in_flight: usize,
) -> Phase {
    let started = Instant::now();
    let outcomes: Vec<(Duration, anyhow::Result<()>)> = futures::stream::iter(payloads)
        .map(|payload| async move {
            let t = Instant::now();
            let outcome = verify(http, url, token, hall_id, payload).await;
            (t.elapsed(), outcome)
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latencies = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::new();
    for (latency, outcome) in outcomes {
        match outcome {
            Ok(()) => latencies.push(latency),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    Phase::new(latencies, errors, elapsed, in_flight)
}

async fn present(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    licence: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{url}/api/v1/licences/{licence}/presentations"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .context("present a licence")?;
    let status = response.status();
    let body = response.text().await.context("read the presentation")?;
    if status != reqwest::StatusCode::CREATED {
        bail!("a presentation answered {status}: {body}");
    }
    let body: serde_json::Value =
        serde_json::from_str(&body).context("the presentation is not JSON")?;
    Ok(body["payload"]
        .as_str()
        .context("no payload in the presentation")?
        .to_owned())
}

async fn verify(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    hall_id: i64,
    payload: &str,
) -> anyhow::Result<()> {
    let response = http
        .post(format!(
            "{url}/staff/v1/halls/{hall_id}/licence-verifications"
        ))
        .bearer_auth(token)
        .json(&json!({ "payload": payload }))
        .send()
        .await
        .context("verify a payload")?;
    let status = response.status();
    let body = response.text().await.context("read the verification")?;
    if status != reqwest::StatusCode::OK {
        bail!("a verification answered {status}: {body}");
    }
    let body: serde_json::Value =
        serde_json::from_str(&body).context("the verification is not JSON")?;
    if body["verdict"] != "VALID" {
        bail!("a verification was not VALID: {body}");
    }
    Ok(())
}

/// Adds the `n`-th citizen's identity card to the province simulator; returns its licence id.
async fn add_licence(http: &reqwest::Client, province: &str, n: usize) -> anyhow::Result<String> {
    let id_no = id_card_no(n);
    let mut body =
        serde_json::to_value(LicenceSpec::id_card(&name(n), &id_no)).context("encode a licence")?;
    body["holderCertNo"] = json!(id_no);
    let added: serde_json::Value = http
        .post(format!("{province}/__sim/licences"))
        .json(&body)
        .send()
        .await
        .context("add a licence to the province simulator")?
        .error_for_status()
        .context("the province simulator's licence hook")?
        .json()
        .await
        .context("read the added licence")?;
    Ok(added["licenceId"]
        .as_str()
        .context("no licenceId from the province simulator")?
        .to_owned())
}

/// The hall the verifier works at, written before the gateway starts (see [`support::load`]).
async fn insert_hall(database_url: &str) -> anyhow::Result<i64> {
    use support::load;
    let db = Database::connect(database_url)
        .await
        .context("connect the bench to its database")?;
    let mut hall = load::Hall::new(HALL_CODE, "压测亮证大厅", "压测路1号");
    hall.checkin_secret = "bench-licences".to_owned();
    hall.rules = load::Rules {
        release_days_ahead: 5,
        checkin_after_minutes: 15,
        weekly_limit: 3,
        no_show_limit: 3,
        penalty_window_days: 90,
        ban_days: 30,
        ..load::Rules::default()
    };
    let id = load::insert(&db, &hall).await?.id;
    db.close().await.context("close the bench's connection")?;
    Ok(id)
}

/// `gateway create-staff`: a verifier of the bench's hall, in the bench's database.
fn create_verifier(gateway: &PathBuf, database_url: &str) -> anyhow::Result<()> {
    let mut command = Command::new(gateway);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("APP_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args([
            "create-staff",
            "--username",
            VERIFIER,
            "--display-name",
            "李核验",
            "--hall",
            HALL_CODE,
            "--role",
            "verifier",
        ])
        .env_remove("RUST_LOG")
        .env("APP_DATABASE__URL", database_url)
        .env("APP_STAFF_PASSWORD", VERIFIER_PASSWORD)
        .output()
        .context("run gateway create-staff")?;
    if !output.status.success() {
        bail!(
            "gateway create-staff failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

async fn staff_login(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let response = http
        .post(format!("{url}/staff/v1/auth/login"))
        .json(&json!({ "username": VERIFIER, "password": VERIFIER_PASSWORD }))
        .send()
        .await
        .context("log the verifier in")?;
    let status = response.status();
    let body = response.text().await.context("read the staff login")?;
    if status != reqwest::StatusCode::OK {
        bail!("the staff login answered {status}: {body}");
    }
    let body: serde_json::Value =
        serde_json::from_str(&body).context("the staff login is not JSON")?;
    Ok(body["token"]
        .as_str()
        .context("no token in the staff login")?
        .to_owned())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        report::warn_if_debug(f, self.release)?;
        writeln!(
            f,
            "{:<34} {:>7} {:>9} {:>10} {:>10} {:>7}",
            "electronic licences", "count", "per s", "p50", "p99", "errors"
        )?;
        for (label, phase) in [
            (
                format!("presentations ({} in flight)", self.presentations.in_flight),
                &self.presentations,
            ),
            ("verifications (sequential)".to_owned(), &self.sequential),
            (
                format!("verifications ({} in flight)", self.concurrent.in_flight),
                &self.concurrent,
            ),
        ] {
            writeln!(
                f,
                "{label:<34} {:>7} {:>9.0} {:>10} {:>10} {:>7}",
                phase.count(),
                phase.per_sec(),
                ms(phase.percentile(0.50)),
                ms(phase.percentile(0.99)),
                phase.errors.len()
            )?;
        }
        for phase in [&self.presentations, &self.sequential, &self.concurrent] {
            if let Some(first) = phase.errors.first() {
                writeln!(f, "first error: {first}")?;
            }
        }
        writeln!(f)?;
        writeln!(f, "How it was measured")?;
        writeln!(
            f,
            "- The release gateway as a child process on a fresh PostgreSQL database and Redis \
             prefix, the WeChat and province simulators in the bench's process (HTTP on \
             127.0.0.1); {} cores shared by all; gateway ready in {}; its output {}.",
            report::cores(),
            ms(self.ready),
            report::server_logs(self.server_log.as_deref())
        )?;
        writeln!(
            f,
            "- Setup ({:.1} s, unmeasured): {} citizens logged in through the WeChat simulator \
             with a bound identity, one identity-card licence each in the province simulator \
             (POST /__sim/licences), one presentation each (licence lists cached, as on an \
             opened licence page); a hall row in the database and a verifier made with \
             `gateway create-staff`.",
            self.setup.as_secs_f64(),
            self.citizens
        )?;
        writeln!(
            f,
            "- Presentations: POST /api/v1/licences/{{id}}/presentations, the citizens in turn, \
             over HTTP with keep-alive; per s = successes / wall time of the phase; latency from \
             send to the whole answer read. Presentations live {PRESENTATION_TTL_SECS} s in this \
             run (default 60 s) so that none expires before it is verified, and the per-session \
             request budgets (600 a minute by default) and the per-IP login limit are out of \
             reach: one verifier session scans for the whole run."
        )?;
        writeln!(
            f,
            "- Verifications: POST /staff/v1/halls/{{hallId}}/licence-verifications, each payload \
             once (signature, replay guard, the province's live status, the audit row, the \
             holder's notification), first one at a time, then {} in flight; every answer must \
             be 200 VALID, anything else is counted as an error and fails the run. The province \
             simulator served {} status and {} detail reads during the {} verifications.",
            self.concurrent.in_flight,
            self.status_reads,
            self.detail_reads,
            self.sequential.count() + self.concurrent.count()
        )?;
        writeln!(
            f,
            "- p50/p99: nearest-rank percentiles of the successful requests of each phase."
        )
    }
}
