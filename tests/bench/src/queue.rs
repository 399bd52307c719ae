//! `bench queue`: queue numbers (取号 / 叫号), as issue 5 asks — tickets issued per second,
//! call-next latency with twenty counters busy while two thousand citizens poll their position,
//! and the time from a call to its arrival at a thousand WebSocket clients.
//!
//! ```text
//! cargo build --release -p gateway -p bench && ./target/release/bench queue
//! ./target/release/bench queue --citizens 400 --sockets 200 --walk-ins 400   # quick
//! ```
//!
//! One run: a fresh PostgreSQL database and Redis prefix, the WeChat simulator in-process, and
//! two release gateways as child processes sharing both (instance 1 holds the sockets, instance
//! 2 takes the calls, so every live message crosses Redis pub/sub). Then:
//!
//! 1. Setup (unmeasured): a hall written into the database, open all day today (an exception
//!    row, so the run works on any day), categories A, B (the counters' work) and C (the
//!    sockets'), twenty counters serving A and B at weights 2:1, one more serving C; a clerk
//!    made with `gateway create-staff`; `--citizens` citizens logged in through the simulator.
//! 2. Issuing: every citizen takes a remote ticket (`POST /api/v1/halls/{code}/tickets`) — the
//!    first `--sockets` for an item of C, the others of A or B — then the clerk issues
//!    `--walk-ins` walk-in tickets of A and B; both timed, `--concurrency` in flight.
//! 3. Calling: twenty counters each call next, start serving and finish, over and over, until
//!    A and B are empty, alternating instances; all the while every citizen polls
//!    `GET /api/v1/tickets/{id}` every `--poll-interval-ms`. Call-next latency is timed.
//! 4. Fan-out: the first `--sockets` citizens open `GET /api/v1/tickets/{id}/live` on instance
//!    1; counter 21 calls `--fanout-calls` tickets of C on instance 2, one at a time, and each
//!    call's messages (a position for everyone still waiting, the call for the one called) are
//!    timed from sending the call to each socket's receipt.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::Args;
use futures::{StreamExt as _, TryStreamExt as _};
use sea_orm::Database;
use serde_json::{Value, json};
use simulators::wechat::{WechatSim, WechatSimConfig};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::Backends;
use crate::backends::{self, Fresh};
use crate::launch::GatewayCommand;
use crate::process;
use crate::report::{self, ms};

const HALL_CODE: &str = "QUEUE-BENCH-01";
const CLERK: &str = "benchclerk";
const CLERK_PASSWORD: &str = "a long enough bench password";
const SETUP_IN_FLIGHT: usize = 32;
const UNREACHABLE_LIMIT: u64 = 100_000_000;
/// The counters that work A and B in the calling phase.
const COUNTERS: i32 = 20;

#[derive(Args, Debug, Clone)]
pub struct QueueOptions {
    #[command(flatten)]
    backends: Backends,
    /// Citizens, each taking one remote ticket and polling it.
    #[arg(long, default_value_t = 2000)]
    citizens: usize,
    /// Of them, how many hold a WebSocket in the fan-out phase.
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Walk-in tickets the clerk issues on top (work for the counters).
    #[arg(long, default_value_t = 2000)]
    walk_ins: usize,
    /// Requests in flight while issuing.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How often each citizen polls its ticket during the calling phase.
    #[arg(long, default_value_t = 2000)]
    poll_interval_ms: u64,
    /// Calls timed at the sockets.
    #[arg(long, default_value_t = 20)]
    fanout_calls: usize,
    /// Append the gateways' output to this file instead of /dev/null.
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
}

pub async fn run(options: QueueOptions) -> anyhow::Result<()> {
    if options.citizens == 0
        || options.concurrency == 0
        || options.fanout_calls == 0
        || options.sockets <= options.fanout_calls
        || options.sockets > options.citizens
    {
        bail!(
            "need citizens ≥ sockets > fanout-calls ≥ 1 and concurrency ≥ 1 (every socket's \
             ticket must still wait when the last timed call is made)"
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

#[derive(Default)]
struct Timings(Vec<Duration>);

impl Timings {
    fn percentile(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort_unstable();
        report::percentile(&v, p)
    }
}

struct Report {
    release: bool,
    ready: Duration,
    server_log: Option<PathBuf>,
    citizens: usize,
    sockets: usize,
    poll_interval_ms: u64,
    remote: (usize, Duration),
    /// The first part of `remote`: the tickets of category C alone.
    one_category: (usize, Duration),
    walk_ins: (usize, Duration),
    calls: Timings,
    calling: Duration,
    polls: Timings,
    poll_errors: usize,
    fanout: Timings,
    fanout_expected: usize,
    fanout_calls: usize,
    errors: Vec<String>,
}

impl Report {
    fn failure(&self) -> Option<String> {
        if !self.errors.is_empty() {
            return Some(format!("{} requests failed", self.errors.len()));
        }
        if self.poll_errors > 0 {
            return Some(format!("{} polls failed", self.poll_errors));
        }
        (self.fanout.0.len() < self.fanout_expected).then(|| {
            format!(
                "{} of {} live messages never arrived",
                self.fanout_expected - self.fanout.0.len(),
                self.fanout_expected
            )
        })
    }
}

async fn measure(
    options: &QueueOptions,
    gateway: PathBuf,
    fresh: &Fresh,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        // Below the gateway's keep-alive (actix's 5 s): a counter idle longer would otherwise
        // reuse a connection the gateway is closing ("connection closed before message
        // completed", seen once on call-next).
        .pool_idle_timeout(Duration::from_secs(2))
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
    options: &QueueOptions,
    gateway: PathBuf,
    fresh: &Fresh,
    http: &reqwest::Client,
    wechat: &WechatSim,
) -> anyhow::Result<Report> {
    let command = GatewayCommand::new(
        gateway.clone(),
        fresh,
        &options.backends.redis_url,
        wechat,
        options.server_log.clone(),
    );
    let extra = [
        (
            "APP_LIMITS__LOGIN_PER_IP_PER_MINUTE",
            UNREACHABLE_LIMIT.to_string(),
        ),
        (
            "APP_STAFF__REQUESTS_PER_MINUTE",
            UNREACHABLE_LIMIT.to_string(),
        ),
        (
            "APP_SESSIONS__REQUESTS_PER_MINUTE",
            UNREACHABLE_LIMIT.to_string(),
        ),
    ];
    let one = command.start(http, &extra).await?;
    let two = command.start(http, &extra).await?;
    eprintln!(
        "bench: two gateways ready ({} and {})",
        ms(one.ready),
        ms(two.ready)
    );
    let urls = [one.url.clone(), two.url.clone()];

    let setup = setup(&fresh.database_url).await?;
    create_clerk(&gateway, &fresh.database_url)?;
    let clerk = staff_login(http, &urls[1]).await?;
    eprintln!("bench: logging in {} citizens…", options.citizens);
    let sim = wechat.base_url();
    let tokens: Vec<(i64, String)> = futures::stream::iter(0..options.citizens)
        .map(|i| {
            let (sim, url) = (&sim, &urls[i % 2]);
            async move { login(http, sim, url).await }
        })
        .buffered(SETUP_IN_FLIGHT)
        .try_collect()
        .await?;

    // Issuing: remote tickets, then walk-ins.
    eprintln!(
        "bench: {} remote tickets, then {} walk-ins…",
        options.citizens, options.walk_ins
    );
    let mut errors = Vec::new();
    let started = Instant::now();
    // The first `sockets` citizens, all of category C, alone: one category's opening minute.
    let take_all = |range: std::ops::Range<usize>| {
        futures::stream::iter(tokens[range.clone()].iter().zip(range))
            .map(|((_, token), i)| {
                let url = &urls[i % 2];
                let item = if i < options.sockets {
                    "QB-C"
                } else if i % 3 == 0 {
                    "QB-B"
                } else {
                    "QB-A"
                };
                async move { take(http, url, token, item).await }
            })
            .buffered(options.concurrency)
            .collect::<Vec<anyhow::Result<i64>>>()
    };
    let mut taken = take_all(0..options.sockets).await;
    let one_category = (taken.len(), started.elapsed());
    taken.extend(take_all(options.sockets..tokens.len()).await);
    let remote = (taken.len(), started.elapsed());
    let mut tickets = Vec::with_capacity(taken.len());
    for t in taken {
        match t {
            Ok(id) => tickets.push(id),
            Err(e) => bail!("a remote ticket failed: {e:#}"),
        }
    }
    let started = Instant::now();
    let issued: Vec<anyhow::Result<()>> = futures::stream::iter(0..options.walk_ins)
        .map(|i| {
            let (url, clerk) = (&urls[i % 2], &clerk);
            let category = if i % 3 == 0 { setup.b } else { setup.a };
            async move { walk_in(http, url, clerk, setup.hall_id, category).await }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let walk_ins = (issued.len(), started.elapsed());
    for e in issued.into_iter().filter_map(Result::err) {
        errors.push(format!("walk-in: {e:#}"));
    }

    // Calling, with everyone polling.
    eprintln!(
        "bench: {COUNTERS} counters calling while {} citizens poll every {} ms…",
        options.citizens, options.poll_interval_ms
    );
    let calling_done = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(Mutex::new(Timings::default()));
    let poll_errors = Arc::new(AtomicUsize::new(0));
    let pollers: Vec<_> = tokens
        .iter()
        .zip(&tickets)
        .enumerate()
        .map(|(i, ((_, token), &ticket))| {
            let (http, url, token) = (http.clone(), urls[i % 2].clone(), token.clone());
            let (done, polls, poll_errors) = (
                Arc::clone(&calling_done),
                Arc::clone(&polls),
                Arc::clone(&poll_errors),
            );
            let interval = Duration::from_millis(options.poll_interval_ms);
            // Spread over the interval so the polls do not arrive in waves.
            let offset = interval.mul_f64(i as f64 / options.citizens as f64);
            tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let mut tick = tokio::time::interval(interval);
                while !done.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let t = Instant::now();
                    let ok = http
                        .get(format!("{url}/api/v1/tickets/{ticket}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        polls.lock().await.0.push(t.elapsed());
                    } else {
                        poll_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let workers: Vec<_> = setup
        .counters
        .iter()
        .enumerate()
        .map(|(i, &counter)| {
            let (http, urls, clerk) = (http.clone(), urls.clone(), clerk.clone());
            let hall = setup.hall_id;
            tokio::spawn(async move {
                let mut calls = Vec::new();
                let mut errors = Vec::new();
                let mut n = i;
                loop {
                    n += 1;
                    let url = &urls[n % 2];
                    let base = format!("{url}/staff/v1/halls/{hall}/counters/{counter}");
                    let t = Instant::now();
                    let reply = post(&http, &format!("{base}/call-next"), &clerk, &json!({})).await;
                    let elapsed = t.elapsed();
                    let ticket = match reply {
                        Ok((200, body)) => body["id"].as_i64().unwrap_or_default(),
                        Ok((409, body)) if body["code"] == "NO_TICKET_WAITING" => break,
                        Ok((status, body)) => {
                            errors.push(format!("call-next answered {status}: {body}"));
                            break;
                        }
                        Err(e) => {
                            errors.push(format!("call-next: {e:#}"));
                            break;
                        }
                    };
                    calls.push(elapsed);
                    for action in ["serve", "done"] {
                        let url = format!("{base}/tickets/{ticket}/{action}");
                        match post(&http, &url, &clerk, &json!({})).await {
                            Ok((200, _)) => {}
                            Ok((status, body)) => {
                                errors.push(format!("{action} answered {status}: {body}"))
                            }
                            Err(e) => errors.push(format!("{action}: {e:#}")),
                        }
                    }
                }
                (calls, errors)
            })
        })
        .collect();
    let mut calls = Timings::default();
    for worker in workers {
        let (c, e) = worker.await.context("a counter task")?;
        calls.0.extend(c);
        errors.extend(e);
    }
    let calling = started.elapsed();
    calling_done.store(true, Ordering::Relaxed);
    for poller in pollers {
        poller.await.context("a poller")?;
    }
    let polls = std::mem::take(&mut *polls.lock().await);

    // Fan-out to the sockets.
    eprintln!(
        "bench: {} sockets on instance 1, {} calls on instance 2…",
        options.sockets, options.fanout_calls
    );
    let ws_url = urls[0].replacen("http://", "ws://", 1);
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let received = Arc::new(AtomicUsize::new(0));
    let sockets: Vec<_> = futures::stream::iter(tokens.iter().zip(&tickets).take(options.sockets))
        .map(|((_, token), &ticket)| {
            let url = format!("{ws_url}/api/v1/tickets/{ticket}/live");
            async move {
                let mut request = url.into_client_request().context("a socket request")?;
                request.headers_mut().insert(
                    "authorization",
                    format!("Bearer {token}")
                        .parse()
                        .context("a bearer header")?,
                );
                let (mut socket, _) = tokio_tungstenite::connect_async(request)
                    .await
                    .context("open a socket")?;
                // The hello: the ticket as it is.
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Text(_))) => break,
                        Some(Ok(_)) => {}
                        _ => bail!("a socket closed before its hello"),
                    }
                }
                anyhow::Ok(socket)
            }
        })
        .buffer_unordered(SETUP_IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            let (arrivals, received, stop) = (
                Arc::clone(&arrivals),
                Arc::clone(&received),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
                        Ok(Some(Ok(Message::Text(_)))) => {
                            let at = Instant::now();
                            arrivals.lock().await.push(at);
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Some(Ok(_))) | Err(_) => {}
                        Ok(None | Some(Err(_))) => break,
                    }
                }
                let _ = socket.close(None).await;
            })
        })
        .collect();
    let mut fanout = Timings::default();
    let mut expected = 0;
    let base = format!(
        "{}/staff/v1/halls/{}/counters/{}",
        urls[1], setup.hall_id, setup.fanout_counter
    );
    for k in 0..options.fanout_calls {
        // Every socket whose ticket still waits or is being called hears this call.
        let listeners = options.sockets - k;
        expected += listeners;
        let before = received.load(Ordering::Relaxed);
        let sent = Instant::now();
        let ticket = match post(http, &format!("{base}/call-next"), &clerk, &json!({})).await {
            Ok((200, body)) => body["id"].as_i64().unwrap_or_default(),
            other => bail!("a fan-out call failed: {other:?}"),
        };
        let deadline = sent + Duration::from_secs(5);
        while received.load(Ordering::Relaxed) < before + listeners && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let got: Vec<Instant> = std::mem::take(&mut *arrivals.lock().await);
        fanout
            .0
            .extend(got.into_iter().map(|at| at.saturating_duration_since(sent)));
        if let Err(e) = post(
            http,
            &format!("{base}/tickets/{ticket}/no-show"),
            &clerk,
            &json!({}),
        )
        .await
        {
            errors.push(format!("fan-out no-show: {e:#}"));
        }
        // The no-show's own message reaches the called socket only; let it pass untimed.
        tokio::time::sleep(Duration::from_millis(100)).await;
        arrivals.lock().await.clear();
        received.store(0, Ordering::Relaxed);
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        let _ = reader.await;
    }

    Ok(Report {
        release: report::is_release(),
        ready: one.ready,
        server_log: options.server_log.clone(),
        citizens: options.citizens,
        sockets: options.sockets,
        poll_interval_ms: options.poll_interval_ms,
        remote,
        one_category,
        walk_ins,
        calls,
        calling,
        polls,
        poll_errors: poll_errors.load(Ordering::Relaxed),
        fanout,
        fanout_expected: expected,
        fanout_calls: options.fanout_calls,
        errors,
    })
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.context("read the answer")?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn login(http: &reqwest::Client, sim: &str, url: &str) -> anyhow::Result<(i64, String)> {
    let minted: Value = http
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
    let body: Value = response.json().await.context("read the login answer")?;
    if status != reqwest::StatusCode::OK {
        bail!("login answered {status}: {body}");
    }
    let token = body["token"].as_str().context("no token")?.to_owned();
    let id = body["user"]["id"].as_i64().context("no citizen id")?;
    Ok((id, token))
}

async fn take(http: &reqwest::Client, url: &str, token: &str, item: &str) -> anyhow::Result<i64> {
    let (status, body) = post(
        http,
        &format!("{url}/api/v1/halls/{HALL_CODE}/tickets"),
        token,
        &json!({ "itemCode": item }),
    )
    .await?;
    if status != 201 {
        bail!("taking a ticket answered {status}: {body}");
    }
    body["id"].as_i64().context("no ticket id")
}

async fn walk_in(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    hall_id: i64,
    category_id: i64,
) -> anyhow::Result<()> {
    let (status, body) = post(
        http,
        &format!("{url}/staff/v1/halls/{hall_id}/tickets"),
        token,
        &json!({ "categoryId": category_id }),
    )
    .await?;
    if status != 201 {
        bail!("a walk-in answered {status}: {body}");
    }
    Ok(())
}

struct Setup {
    hall_id: i64,
    a: i64,
    b: i64,
    counters: Vec<i64>,
    fanout_counter: i64,
}

/// The hall, open all day today and tomorrow, its items, categories and counters, written
/// before the gateway starts (see [`support::load`]: `24:00` is no time an administrator can
/// set).
async fn setup(database_url: &str) -> anyhow::Result<Setup> {
    use support::load::{self, Item};
    let db = Database::connect(database_url)
        .await
        .context("connect the bench to its database")?;
    let today = Utc::now()
        .with_timezone(&services::time::SHANGHAI)
        .date_naive();
    let mut hall = load::Hall::new(HALL_CODE, "压测排队大厅", "压测路2号")
        .open_all_day([today, today + chrono::Duration::days(1)], "压测全天开放");
    hall.checkin_secret = "bench-queue".to_owned();
    hall.rules = load::Rules {
        release_days_ahead: 5,
        checkin_after_minutes: 15,
        weekly_limit: 3,
        no_show_limit: 3,
        penalty_window_days: 90,
        ban_days: 30,
        ..load::Rules::default()
    };
    for code in ["A", "B", "C"] {
        let item = Item::new(&format!("QB-{code}"), &format!("压测事项{code}"), false);
        hall = hall.category(code, &format!("压测{code}类"), None, vec![item]);
    }
    for number in 1..=COUNTERS {
        hall = hall.counter(number, &[(0, 2), (1, 1)]);
    }
    // One more counter, serving C alone: the fan-out's.
    hall = hall.counter(COUNTERS + 1, &[(2, 1)]);
    let inserted = load::insert(&db, &hall).await?;
    db.close().await.context("close the bench's connection")?;
    let mut counters = inserted.counters;
    let fanout_counter = counters.pop().context("no counters")?;
    Ok(Setup {
        hall_id: inserted.id,
        a: inserted.categories[0],
        b: inserted.categories[1],
        counters,
        fanout_counter,
    })
}

/// `gateway create-staff`: a clerk of the bench's hall.
fn create_clerk(gateway: &PathBuf, database_url: &str) -> anyhow::Result<()> {
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
            CLERK,
            "--display-name",
            "王窗口",
            "--hall",
            HALL_CODE,
            "--role",
            "clerk",
        ])
        .env_remove("RUST_LOG")
        .env("APP_DATABASE__URL", database_url)
        .env("APP_STAFF_PASSWORD", CLERK_PASSWORD)
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
        .json(&json!({ "username": CLERK, "password": CLERK_PASSWORD }))
        .send()
        .await
        .context("log the clerk in")?;
    let status = response.status();
    let body: Value = response.json().await.context("read the staff login")?;
    if status != reqwest::StatusCode::OK {
        bail!("the staff login answered {status}: {body}");
    }
    Ok(body["token"].as_str().context("no token")?.to_owned())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        report::warn_if_debug(f, self.release)?;
        let rate = |(n, d): (usize, Duration)| n as f64 / d.as_secs_f64().max(f64::EPSILON);
        writeln!(f, "queue numbers (取号 / 叫号)")?;
        writeln!(
            f,
            "tickets issued per second          remote {:.0}/s ({} in {:.2} s), walk-in {:.0}/s ({} in {:.2} s)",
            rate(self.remote),
            self.remote.0,
            self.remote.1.as_secs_f64(),
            rate(self.walk_ins),
            self.walk_ins.0,
            self.walk_ins.1.as_secs_f64()
        )?;
        writeln!(
            f,
            "remote tickets of one category     {:.0}/s ({} of C in {:.2} s; target ≥ 1000/s)",
            rate(self.one_category),
            self.one_category.0,
            self.one_category.1.as_secs_f64()
        )?;
        writeln!(
            f,
            "call-next, {COUNTERS} counters busy        p50 {}, p99 {} ({} calls in {:.1} s)",
            ms(self.calls.percentile(0.50)),
            ms(self.calls.percentile(0.99)),
            self.calls.0.len(),
            self.calling.as_secs_f64()
        )?;
        writeln!(
            f,
            "position polls meanwhile           p50 {}, p99 {} ({} polls, {} failed; {} citizens every {} ms)",
            ms(self.polls.percentile(0.50)),
            ms(self.polls.percentile(0.99)),
            self.polls.0.len(),
            self.poll_errors,
            self.citizens,
            self.poll_interval_ms
        )?;
        writeln!(
            f,
            "call → {} WebSocket clients      p50 {}, p99 {}, max {} ({} of {} messages; target p99 ≤ 500 ms)",
            self.sockets,
            ms(self.fanout.percentile(0.50)),
            ms(self.fanout.percentile(0.99)),
            ms(self.fanout.percentile(1.0)),
            self.fanout.0.len(),
            self.fanout_expected
        )?;
        for e in self.errors.iter().take(3) {
            writeln!(f, "error: {e}")?;
        }
        writeln!(f)?;
        writeln!(f, "How it was measured")?;
        writeln!(
            f,
            "- Two release gateways as child processes on one fresh PostgreSQL database and Redis \
             prefix, the WeChat simulator in the bench's process; {} cores shared by all; first \
             gateway ready in {}; their output {}.",
            report::cores(),
            ms(self.ready),
            report::server_logs(self.server_log.as_deref())
        )?;
        writeln!(
            f,
            "- Issuing: POST /api/v1/halls/{{code}}/tickets by each citizen once (the {} of \
             category C first, timed alone as \"one category\", then the others of A and B), \
             then POST /staff/v1/halls/{{id}}/tickets by one clerk; per second = tickets / wall \
             time, the two instances in turn.",
            self.sockets
        )?;
        writeln!(
            f,
            "- Calling: {COUNTERS} counters (A:B at 2:1) each call-next → serve → done until \
             nobody waits, alternating instances; latency of call-next from send to the whole \
             answer. Meanwhile every citizen polls GET /api/v1/tickets/{{id}} on its instance."
        )?;
        writeln!(
            f,
            "- Fan-out: {} sockets on instance 1 (GET /api/v1/tickets/{{id}}/live, bearer \
             header), {} calls of their category on instance 2, one at a time; each message \
             timed from sending the call to its receipt, so the figure includes the call itself, \
             Redis pub/sub and the positions' recomputation.",
            self.sockets, self.fanout_calls
        )?;
        writeln!(f, "- p50/p99: nearest-rank percentiles.")
    }
}
