//! `bench me`: `GET /api/v1/me` for logged-in citizens, the gateway against the floor.
//!
//! One run: a fresh database, the WeChat simulator in-process, the release gateway as a child
//! process (start-to-ready measured), a few hundred citizens logged in through the real flow,
//! then wrk on the gateway and, right after with the same settings, on the floor server, which
//! serves one Redis GET of a copy of a real gateway session. The gateway's limits are raised so
//! that nothing is refused, but its per-session counter still runs on every request: the work
//! measured is the production work.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use futures::{StreamExt as _, TryStreamExt as _};
use redis::aio::MultiplexedConnection;
use simulators::wechat::{WechatSim, WechatSimConfig};

use crate::backends::{self, Fresh};
use crate::launch::{GatewayCommand, StartedGateway};
use crate::process::{self, READY_LIMIT, Running};
use crate::report::{mib, ms};
use crate::wrk::{self, WrkResult};
use crate::{Backends, LoadOptions};

/// Requests per minute that no run reaches: the limits count, but never refuse.
const UNREACHABLE_LIMIT: u64 = 100_000_000;
/// Logins in flight at once while preparing the citizens.
const LOGINS_IN_FLIGHT: usize = 8;
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(200);
const IDLE_SETTLE: Duration = Duration::from_secs(1);
const RSS_TARGET_BYTES: u64 = 64 * 1024 * 1024;
const RATIO_TARGET: f64 = 0.70;
const P99_TARGET: Duration = Duration::from_millis(10);
const TARGET_CONNECTIONS: u32 = 64;

#[derive(Args, Debug, Clone)]
pub struct MeOptions {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    load: LoadOptions,
    /// Citizens logged in before the load; requests round-robin over their tokens.
    #[arg(long, default_value_t = 300)]
    citizens: usize,
    /// Append the gateway's and the floor's output to this file instead of /dev/null.
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
    /// Rounds of (gateway, floor), interleaved; the report takes the round with the median
    /// ratio, so one burst of load from elsewhere on a shared machine does not decide it.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
}

pub async fn run(options: MeOptions) -> anyhow::Result<()> {
    if options.citizens == 0 {
        bail!("--citizens must be at least 1");
    }
    let binaries = Binaries {
        gateway: process::sibling_binary("gateway")?,
        floor: process::sibling_binary("bench-floor")?,
    };
    wrk::ensure_installed()?;

    let (outcome, cleanup) = backends::with_fresh(&options.backends, async |fresh: &Fresh| {
        let scratch = Scratch::create(&fresh.id)?;
        let bench = Bench {
            options: &options,
            binaries,
            fresh,
            scratch: scratch.path.clone(),
        };
        bench.measure().await
    })
    .await;

    let report = outcome?;
    print!("{report}");
    cleanup?;
    if !report.is_valid() {
        bail!("the load runs had errors (see above): their figures do not measure the servers");
    }
    Ok(())
}

struct Binaries {
    gateway: PathBuf,
    floor: PathBuf,
}

/// Everything one run needs.
struct Bench<'a> {
    options: &'a MeOptions,
    binaries: Binaries,
    fresh: &'a Fresh,
    scratch: PathBuf,
}

impl Bench<'_> {
    async fn measure(&self) -> anyhow::Result<Report> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("build the HTTP client")?;
        let wechat = WechatSim::start(WechatSimConfig::default())
            .await
            .context("start the WeChat simulator")?;
        let report = self.measure_with(&http, &wechat).await;
        wechat.stop().await;
        report
    }

    async fn measure_with(
        &self,
        http: &reqwest::Client,
        wechat: &WechatSim,
    ) -> anyhow::Result<Report> {
        let options = self.options;
        let command = GatewayCommand::new(
            self.binaries.gateway.clone(),
            self.fresh,
            &options.backends.redis_url,
            wechat,
            options.server_log.clone(),
        );

        let StartedGateway {
            process: gateway,
            url: gateway_url,
            ready: first_start,
            ..
        } = self.start_gateway(&command, http).await?;
        eprintln!(
            "bench: gateway ready in {} (fresh database, migrations included)",
            ms(first_start)
        );

        eprintln!("bench: logging in {} citizens…", options.citizens);
        let tokens = login_citizens(http, wechat, &gateway_url, options.citizens).await?;
        check_me(http, &gateway_url, &tokens).await?;

        // The floor serves a copy of a real session: the same bytes from Redis per request.
        let prefix = &self.fresh.prefix;
        let mut redis: MultiplexedConnection = self.fresh.redis.clone();
        let session = backends::first_value(&mut redis, &format!("{prefix}sess:*"))
            .await?
            .with_context(|| format!("no gateway session in Redis under {prefix}sess:*"))?;
        let floor_key = format!("{prefix}floor");
        redis::cmd("SET")
            .arg(&floor_key)
            .arg(&session)
            .query_async::<()>(&mut redis)
            .await
            .context("store the floor's value in Redis")?;
        let (floor, floor_url) = self.start_floor(http, &floor_key, session.len()).await?;

        let tokens_file = self.scratch.join("tokens.txt");
        std::fs::write(&tokens_file, tokens.join("\n") + "\n")
            .with_context(|| format!("write {}", tokens_file.display()))?;
        let gateway_script =
            wrk::write_script(&self.scratch, "gateway.lua", "/api/v1/me", &tokens_file)?;
        let floor_script = wrk::write_script(&self.scratch, "floor.lua", "/floor", &tokens_file)?;

        tokio::time::sleep(IDLE_SETTLE).await;
        let idle_rss = gateway.rss_bytes().context("read the gateway's idle RSS")?;

        let load = &options.load;
        let gateway_me = format!("{gateway_url}/api/v1/me");
        let floor_me = format!("{floor_url}/floor");
        let mut rounds = Vec::new();
        let mut loaded_rss = 0;
        for round in 1..=options.rounds.max(1) {
            eprintln!(
                "bench: round {round}: gateway — {} s warm-up, then {} s measured…",
                load.warmup.as_secs(),
                load.duration.as_secs()
            );
            wrk::run(
                &self.scratch,
                &gateway_me,
                &gateway_script,
                load.load(load.warmup),
            )
            .await
            .context("warm up the gateway")?;
            let (gateway_result, rss) = load_sampling_rss(
                &gateway,
                &self.scratch,
                &gateway_me,
                &gateway_script,
                load.load(load.duration),
            )
            .await
            .context("load the gateway")?;
            loaded_rss = loaded_rss.max(rss);
            eprintln!(
                "bench: round {round}: floor — {} s warm-up, then {} s measured…",
                load.warmup.as_secs(),
                load.duration.as_secs()
            );
            wrk::run(
                &self.scratch,
                &floor_me,
                &floor_script,
                load.load(load.warmup),
            )
            .await
            .context("warm up the floor")?;
            let floor_result = wrk::run(
                &self.scratch,
                &floor_me,
                &floor_script,
                load.load(load.duration),
            )
            .await
            .context("load the floor")?;
            rounds.push(Round {
                gateway: gateway_result,
                floor: floor_result,
            });
        }
        drop(floor);
        drop(gateway);

        // A second start on the now-migrated database: what an ordinary restart costs.
        let restart = self.start_gateway(&command, http).await?.ready;

        Ok(Report {
            citizens: options.citizens,
            load: load.clone(),
            cores: crate::report::cores(),
            release: crate::report::is_release(),
            server_log: options.server_log.clone(),
            session_bytes: session.len(),
            rounds,
            idle_rss,
            loaded_rss,
            first_start,
            restart,
        })
    }

    /// Spawns `gateway serve` with limits nothing reaches, and waits for `/readyz`.
    async fn start_gateway(
        &self,
        command: &GatewayCommand,
        http: &reqwest::Client,
    ) -> anyhow::Result<StartedGateway> {
        let unreachable = UNREACHABLE_LIMIT.to_string();
        command
            .start(
                http,
                &[
                    ("APP_SESSIONS__REQUESTS_PER_MINUTE", unreachable.clone()),
                    ("APP_LIMITS__LOGIN_PER_IP_PER_MINUTE", unreachable),
                ],
            )
            .await
    }

    /// Spawns `bench-floor` serving `key`, and checks it answers with the value's bytes.
    async fn start_floor(
        &self,
        http: &reqwest::Client,
        key: &str,
        value_len: usize,
    ) -> anyhow::Result<(Running, String)> {
        let port = process::free_port()?;
        let mut command = Command::new(&self.binaries.floor);
        command
            .env_remove("RUST_LOG")
            .arg("--port")
            .arg(port.to_string())
            .arg("--redis-url")
            .arg(&self.options.backends.redis_url)
            .arg("--key")
            .arg(key);
        let url = format!("http://127.0.0.1:{port}");
        let mut floor =
            Running::spawn("floor server", command, self.options.server_log.as_deref())?;
        floor
            .wait_ready(http, &format!("{url}/floor"), READY_LIMIT)
            .await?;
        let body = http
            .get(format!("{url}/floor"))
            .send()
            .await
            .context("ask the floor")?
            .bytes()
            .await
            .context("read the floor's answer")?;
        if body.len() != value_len {
            bail!(
                "the floor answered {} bytes instead of the {value_len} stored",
                body.len()
            );
        }
        Ok((floor, url))
    }
}

/// Logs `n` new citizens in through the real flow (a `wx.login` code from the simulator, then
/// `POST /api/v1/auth/login`); returns their bearer tokens.
async fn login_citizens(
    http: &reqwest::Client,
    wechat: &WechatSim,
    gateway_url: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let login_url = format!("{gateway_url}/api/v1/auth/login");
    futures::stream::iter(0..n)
        .map(|_| {
            let code = wechat.mint_login_code(&wechat.new_openid());
            let request = http
                .post(&login_url)
                .json(&serde_json::json!({ "code": code }));
            async move {
                let response = request.send().await.context("log a citizen in")?;
                let status = response.status();
                let body = response.text().await.context("read the login answer")?;
                if status != reqwest::StatusCode::OK {
                    bail!("login answered {status}: {body}");
                }
                let body: serde_json::Value =
                    serde_json::from_str(&body).context("the login answer is not JSON")?;
                body["token"]
                    .as_str()
                    .map(str::to_owned)
                    .context("no token in the login answer")
            }
        })
        .buffer_unordered(LOGINS_IN_FLIGHT)
        .try_collect()
        .await
}

/// The load is only meaningful if a token really opens `/api/v1/me`.
async fn check_me(
    http: &reqwest::Client,
    gateway_url: &str,
    tokens: &[String],
) -> anyhow::Result<()> {
    for token in [tokens.first(), tokens.last()].into_iter().flatten() {
        let response = http
            .get(format!("{gateway_url}/api/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .context("ask the gateway for /api/v1/me")?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status != reqwest::StatusCode::OK || body.get("id").is_none() {
            bail!("GET /api/v1/me with a fresh token answered {status}: {body}");
        }
    }
    Ok(())
}

/// Runs wrk while sampling the server's RSS; returns wrk's result and the largest sample.
async fn load_sampling_rss(
    server: &Running,
    dir: &Path,
    url: &str,
    script: &Path,
    load: wrk::Load,
) -> anyhow::Result<(WrkResult, u64)> {
    let mut largest = server.rss_bytes()?;
    let mut ticker = tokio::time::interval(RSS_SAMPLE_EVERY);
    let wrk = wrk::run(dir, url, script, load);
    tokio::pin!(wrk);
    loop {
        tokio::select! {
            result = &mut wrk => {
                let result = result?;
                largest = largest.max(server.rss_bytes()?);
                return Ok((result, largest));
            }
            _ = ticker.tick() => {
                let rss = server.rss_bytes().context("the server is gone under load")?;
                largest = largest.max(rss);
            }
        }
    }
}

/// A folder for the run's tokens and scripts, removed with it.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create(id: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("zsb-bench-{id}"));
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Every figure of one run, all measured in it.
struct Report {
    citizens: usize,
    load: LoadOptions,
    cores: usize,
    release: bool,
    server_log: Option<PathBuf>,
    session_bytes: usize,
    rounds: Vec<Round>,
    idle_rss: u64,
    loaded_rss: u64,
    first_start: Duration,
    restart: Duration,
}

/// One interleaved pair of measured runs.
struct Round {
    gateway: WrkResult,
    floor: WrkResult,
}

impl Round {
    fn ratio(&self) -> f64 {
        if self.floor.requests_per_sec > 0.0 {
            self.gateway.requests_per_sec / self.floor.requests_per_sec
        } else {
            0.0
        }
    }
}

impl Report {
    /// The round with the median ratio (the lower middle one for an even count).
    fn median(&self) -> &Round {
        let mut by_ratio: Vec<&Round> = self.rounds.iter().collect();
        by_ratio.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
        by_ratio[(by_ratio.len() - 1) / 2]
    }

    fn ratio(&self) -> f64 {
        self.median().ratio()
    }

    /// Every load run got only 2xx answers and no socket errors.
    fn is_valid(&self) -> bool {
        self.rounds
            .iter()
            .flat_map(|r| [&r.gateway, &r.floor])
            .all(|r| r.non_2xx == 0 && r.socket_errors.total() == 0)
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let load = &self.load;
        writeln!(f)?;
        crate::report::warn_if_debug(f, self.release)?;
        writeln!(
            f,
            "GET /api/v1/me — {} connections, {} s, wrk -t{} ({} s warm-up each), PostgreSQL + Redis, {} citizens",
            load.connections,
            load.duration.as_secs(),
            load.threads,
            load.warmup.as_secs(),
            self.citizens
        )?;
        writeln!(
            f,
            "{:<18}{:>11}{:>11}{:>11}{:>11}{:>10}{:>15}{:>8}",
            "", "req/s", "p50", "p90", "p99", "non-2xx", "socket errors", "ratio"
        )?;
        let median = self.median();
        for (i, round) in self.rounds.iter().enumerate() {
            let mark = if std::ptr::eq(round, median) {
                " (median)"
            } else {
                ""
            };
            for (name, r) in [("gateway", &round.gateway), ("floor", &round.floor)] {
                let ratio = if name == "gateway" {
                    format!("{:.2}", round.ratio())
                } else {
                    String::new()
                };
                writeln!(
                    f,
                    "{:<18}{:>11.0}{:>11}{:>11}{:>11}{:>10}{:>15}{:>8}{}",
                    format!("{} {name}", i + 1),
                    r.requests_per_sec,
                    ms(r.p50),
                    ms(r.p90),
                    ms(r.p99),
                    r.non_2xx,
                    r.socket_errors.total(),
                    ratio,
                    if name == "gateway" { mark } else { "" }
                )?;
            }
        }
        let at = if load.connections == TARGET_CONNECTIONS {
            String::new()
        } else {
            format!(" (the target is stated at {TARGET_CONNECTIONS} connections)")
        };
        writeln!(
            f,
            "ratio (gateway/floor req/s, median round): {:.2}      target ≥ {RATIO_TARGET:.2}   {}{at}",
            self.ratio(),
            verdict(self.ratio() >= RATIO_TARGET)
        )?;
        writeln!(
            f,
            "gateway p99 (median round): {:<22}target ≤ {}   {}{at}",
            ms(median.gateway.p99),
            ms(P99_TARGET),
            verdict(median.gateway.p99 <= P99_TARGET)
        )?;
        writeln!(
            f,
            "gateway RSS: idle {} (target ≤ {} {}), loaded {} (largest sample, one every {} ms)",
            mib(self.idle_rss),
            mib(RSS_TARGET_BYTES),
            verdict(self.idle_rss <= RSS_TARGET_BYTES),
            mib(self.loaded_rss),
            RSS_SAMPLE_EVERY.as_millis()
        )?;
        writeln!(
            f,
            "gateway start-to-ready: {} on a fresh database (migrations included), {} restarted on the migrated one",
            ms(self.first_start),
            ms(self.restart)
        )?;
        for (name, r) in self
            .rounds
            .iter()
            .flat_map(|round| [("gateway", &round.gateway), ("floor", &round.floor)])
        {
            if r.non_2xx > 0 || r.socket_errors.total() > 0 {
                writeln!(
                    f,
                    "!!! INVALID: the {name} run had {} non-2xx responses and socket errors ({}) \
                     out of {} requests: its figures do not measure successful requests.",
                    r.non_2xx, r.socket_errors, r.requests
                )?;
            }
        }
        let logs = crate::report::server_logs(self.server_log.as_deref());
        writeln!(f)?;
        writeln!(f, "How it was measured:")?;
        writeln!(
            f,
            "- {} rounds, each a warmed-up gateway run then a warmed-up floor run; the verdicts use the \
             round with the median ratio.",
            self.rounds.len()
        )?;
        writeln!(
            f,
            "- gateway: `gateway serve`, {}, default workers (one per core), production log level \
             (info, JSON) {logs}. Per-session and per-IP login limits raised to {UNREACHABLE_LIMIT}/min so \
             nothing is refused; every request is still counted against its session (same work: \
             locally while the session is cached, sent to Redis with the next read).",
            if self.release {
                "release build"
            } else {
                "NOT a release build"
            }
        )?;
        writeln!(
            f,
            "- floor: actix-web, one Redis GET per request (ConnectionManager) of a {}-byte copy of a \
             real gateway session, nothing else; default workers too.",
            self.session_bytes
        )?;
        writeln!(
            f,
            "- wrk sends `Authorization: Bearer <token>` round-robin over the {} citizens' tokens to \
             both servers (the floor ignores it); latencies are wrk's (closed loop).",
            self.citizens
        )?;
        writeln!(
            f,
            "- start-to-ready: spawn until GET /readyz answers 200, polled every 10 ms. Idle RSS: after \
             the logins and {} s of rest; loaded RSS: during the measured gateway run.",
            IDLE_SETTLE.as_secs()
        )?;
        writeln!(
            f,
            "- wrk, the gateway, the floor, Redis and PostgreSQL all share this machine's {} cores.",
            self.cores
        )
    }
}
