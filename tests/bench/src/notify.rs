//! `bench notify`: how many notifications a second the delivery worker gets to WeChat, and how
//! long one takes from its commit to WeChat's acceptance at a steady rate.
//!
//! One run: a fresh database, the WeChat simulator in-process with the configured templates, the
//! release gateway as one or more child processes (each runs the delivery worker of
//! `services::notify`), and citizens with their consents written straight into the database and
//! the simulator. The bench writes notifications the way the product does,
//! `Notifications::notify` in a transaction it commits, and runs no worker itself: every message
//! is claimed and sent by a gateway process, over HTTP, to the simulator, which notes when it
//! accepted it. Each message carries a unique booking code, so it is matched to its commit.
//!
//! Runs: a throughput run (`--messages` committed as fast as the writers go), a latency run at a
//! steady `--rate` with the gateway's default poll interval, the same with a wake published
//! after each commit (`Notifications::wake`, Redis pub/sub to every instance's worker, as the
//! product is to call it), and the first latency run again on gateways restarted with a 100 ms
//! poll interval. Every run is checked for exactly-once delivery; a failed check is printed and
//! makes the exit status non-zero.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use futures::{StreamExt as _, TryStreamExt as _};
use sea_orm::{
    ActiveValue::Set, ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection,
    DbBackend, EntityTrait as _, Statement, TransactionTrait as _,
};
use secrecy::SecretString;
use serde_json::json;
use services::notify::{NotificationKind, Notifications, NotifyConfig};
use services::store::{MemoryStore, RedisStore, Store};
use services::time::Clock;
use services::wechat::{WechatClient, WechatConfig};
use simulators::wechat::{SentMessage, WechatSim, WechatSimConfig};

use crate::backends::{self, Fresh};
use crate::launch::{GatewayCommand, StartedGateway};
use crate::process;
use crate::report::{ms, ms_f64};
use crate::{Backends, parse_seconds};

/// The kind the bench writes: a booking confirmation, a subscribe message with four fields.
const KIND: NotificationKind = NotificationKind::BookingConfirmed;
/// The worker's sends in flight at once.
const WORKER_CONCURRENCY: usize = services::notify::DELIVERY_CONCURRENCY;
/// The poll interval of the second latency run.
const FAST_POLL_MS: u64 = 100;
/// Consents each citizen gets at first, in the ledger and in the simulator; topped up by as many
/// whenever a run would need more.
const CONSENTS: u32 = 100;
/// Rows per INSERT while preparing the citizens.
const ROWS_PER_INSERT: usize = 500;
/// No new message for this long, with some still missing: the wait ends and the checks fail.
const STALL_LIMIT: Duration = Duration::from_secs(30);
const WAIT_STEP: Duration = Duration::from_millis(10);
const MAX_INSTANCES: usize = 8;

#[derive(Args, Debug, Clone)]
pub struct NotifyOptions {
    #[command(flatten)]
    backends: Backends,
    /// Citizens the notifications go to, round-robin; each has consented to the template.
    #[arg(long, default_value_t = 2000)]
    citizens: usize,
    /// Notifications committed as fast as the writers go, for the throughput run.
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Notifications a second committed in the latency runs [default: half the measured
    /// throughput].
    #[arg(long)]
    rate: Option<f64>,
    /// Length of each latency run: `10`, `10s`, `2m`.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    latency_seconds: Duration,
    /// Gateway processes, each with its delivery worker, sharing the outbox.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Transactions writing notifications at once (the throughput run's concurrency, and the
    /// most a latency run has in flight).
    #[arg(long, default_value_t = 16)]
    writers: usize,
    /// Append the gateways' output to this file instead of /dev/null.
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
}

pub async fn run(options: NotifyOptions) -> anyhow::Result<()> {
    if options.citizens == 0 || options.messages == 0 || options.writers == 0 {
        bail!("--citizens, --messages and --writers must be at least 1");
    }
    if !(1..=MAX_INSTANCES).contains(&options.instances) {
        bail!("--instances must be between 1 and {MAX_INSTANCES}");
    }
    if let Some(rate) = options.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of notifications a second");
    }
    let gateway = process::sibling_binary("gateway")?;

    let (outcome, cleanup) = backends::with_fresh(&options.backends, async |fresh: &Fresh| {
        measure(&options, gateway, fresh).await
    })
    .await;

    let report = outcome?;
    print!("{report}");
    cleanup?;
    if !report.exactly_once() {
        bail!("notifications were lost or sent more than once (see above)");
    }
    Ok(())
}

async fn measure(
    options: &NotifyOptions,
    gateway: PathBuf,
    fresh: &Fresh,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("build the HTTP client")?;
    let wechat = WechatSim::start(WechatSimConfig::default())
        .await
        .context("start the WeChat simulator")?;
    let command = GatewayCommand::new(
        gateway,
        fresh,
        &options.backends.redis_url,
        &wechat,
        options.server_log.clone(),
    );
    let report = measure_with(options, fresh, &http, &wechat, &command).await;
    wechat.stop().await;
    report
}

async fn measure_with(
    options: &NotifyOptions,
    fresh: &Fresh,
    http: &reqwest::Client,
    wechat: &WechatSim,
    command: &GatewayCommand,
) -> anyhow::Result<Report> {
    let config = gateway::configuration::Settings::default_notifications()?;
    gateway::demo::register_templates(wechat, &config);
    let shape = Shape::of(&config)?;

    let gateways = start_gateways(command, http, options.instances, &[]).await?;
    let first_start = gateways.first().map(|g| g.ready).unwrap_or_default();
    eprintln!(
        "bench: {} gateway instance(s) ready, the first in {} (fresh database, migrations \
         included)",
        gateways.len(),
        ms(first_start)
    );

    let db = Database::connect(
        ConnectOptions::new(&fresh.database_url)
            .max_connections(u32::try_from(options.writers + 2).unwrap_or(u32::MAX))
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .context("connect the bench to its database")?;
    eprintln!(
        "bench: creating {} citizens with consents…",
        options.citizens
    );
    let citizens = create_citizens(&db, wechat, options.citizens, &shape.template_id).await?;
    let mut writer = Writer {
        notifications: bench_notifications(&db, wechat, fresh, &options.backends, config.clone())
            .await?,
        db,
        citizens,
        template_id: shape.template_id.clone(),
        wechat: wechat.clone(),
        writers: options.writers,
        written: 0,
        granted: CONSENTS,
    };

    eprintln!(
        "bench: throughput — {} notifications from {} writers…",
        options.messages, options.writers
    );
    let commits = writer.flood("T", options.messages, false).await?;
    let throughput = writer.delivered(commits, &shape).await?;
    let delivered_per_sec = throughput.delivered_per_sec();
    let rate = match options.rate {
        Some(rate) => rate,
        None if delivered_per_sec > 0.0 => delivered_per_sec / 2.0,
        None => bail!("nothing was delivered in the throughput run: no rate for the latency runs"),
    };

    eprintln!(
        "bench: latency at {rate:.1}/s for {} s, poll interval {} ms (default)…",
        options.latency_seconds.as_secs(),
        config.poll_interval_ms
    );
    let commits = writer
        .paced("D", rate, options.latency_seconds, false)
        .await?;
    let default_poll = writer.delivered(commits, &shape).await?;
    eprintln!(
        "bench: latency at {rate:.1}/s for {} s, poll interval {} ms, a wake after each commit…",
        options.latency_seconds.as_secs(),
        config.poll_interval_ms
    );
    let commits = writer
        .paced("P", rate, options.latency_seconds, true)
        .await?;
    let woken = writer.delivered(commits, &shape).await?;
    drop(gateways);

    eprintln!("bench: restarting with APP_NOTIFICATIONS__POLL_INTERVAL_MS={FAST_POLL_MS}…");
    let fast = [(
        "APP_NOTIFICATIONS__POLL_INTERVAL_MS",
        FAST_POLL_MS.to_string(),
    )];
    let gateways = start_gateways(command, http, options.instances, &fast).await?;
    let restart = gateways.first().map(|g| g.ready).unwrap_or_default();
    // The restarted processes fetch a token and open their pools on their first messages.
    let warm_up_count = usize::try_from(config.batch_size).unwrap_or(50) * options.instances;
    let commits = writer.flood("W", warm_up_count, false).await?;
    let warm_up = writer.delivered(commits, &shape).await?;
    eprintln!(
        "bench: latency at {rate:.1}/s for {} s, poll interval {FAST_POLL_MS} ms…",
        options.latency_seconds.as_secs()
    );
    let commits = writer
        .paced("F", rate, options.latency_seconds, false)
        .await?;
    let fast_poll = writer.delivered(commits, &shape).await?;
    drop(gateways);

    let totals = Totals {
        committed: writer.written,
        accepted: wechat.stats().messages_sent,
        rows: statuses(&writer.db, "%").await?,
    };
    writer.db.close().await.context("close the bench's pool")?;

    Ok(Report {
        instances: options.instances,
        citizens: options.citizens,
        writers: options.writers,
        cores: crate::report::cores(),
        release: crate::report::is_release(),
        server_log: command.log().cloned(),
        shape,
        poll_interval_ms: config.poll_interval_ms,
        batch_size: config.batch_size,
        lease_secs: config.lease_secs,
        consents: writer.granted,
        rate,
        rate_given: options.rate.is_some(),
        latency_seconds: options.latency_seconds,
        first_start,
        restart,
        throughput,
        default_poll,
        woken,
        warm_up,
        fast_poll,
        totals,
    })
}

/// The bench's own notification service, on the bench database and the run's Redis prefix (so
/// that its `wake` reaches the gateways' workers). Its WeChat client (pointed at the simulator,
/// tokens in memory) is never used: the bench runs no worker.
async fn bench_notifications(
    db: &DatabaseConnection,
    wechat: &WechatSim,
    fresh: &Fresh,
    backends: &Backends,
    config: NotifyConfig,
) -> anyhow::Result<Notifications> {
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&backends.redis_url, fresh.prefix.clone())
            .await
            .context("connect the bench's notification service to Redis")?,
    );
    let client = WechatClient::new(
        WechatConfig {
            base_url: wechat.base_url(),
            app_id: wechat.app_id().to_owned(),
            app_secret: SecretString::from(wechat.app_secret().to_owned()),
            timeout: Duration::from_secs(5),
            max_attempts: 1,
        },
        Arc::new(MemoryStore::new(fresh.prefix.clone())),
        Clock::system(),
    )
    .context("build the bench's WeChat client")?;
    Notifications::new(db.clone(), store, client, Clock::system(), config)
        .context("the notification configuration")
}

/// Starts `n` gateways one after the other (so only the first migrates), with `extra` settings.
async fn start_gateways(
    command: &GatewayCommand,
    http: &reqwest::Client,
    n: usize,
    extra: &[(&str, String)],
) -> anyhow::Result<Vec<StartedGateway>> {
    let mut started = Vec::with_capacity(n);
    for _ in 0..n {
        started.push(command.start(http, extra).await?);
    }
    Ok(started)
}

/// What the configuration makes of the bench's kind.
struct Shape {
    kind: &'static str,
    template_id: String,
    /// The subscribe-message field that carries `{booking_code}`.
    code_field: String,
}

impl Shape {
    fn of(config: &NotifyConfig) -> anyhow::Result<Self> {
        let kind = KIND.as_str();
        let shown = config
            .kinds
            .get(kind)
            .with_context(|| format!("notifications.kinds.{kind} is not configured"))?;
        let template = shown
            .template
            .as_ref()
            .and_then(|name| config.templates.get(name))
            .with_context(|| format!("notifications.kinds.{kind} has no template"))?;
        let code_field = shown
            .data
            .iter()
            .find(|(_, text)| text.as_str() == "{booking_code}")
            .map(|(key, _)| key.clone())
            .with_context(|| {
                format!("notifications.kinds.{kind} sends no field of just {{booking_code}}")
            })?;
        Ok(Self {
            kind,
            template_id: template.id.clone(),
            code_field,
        })
    }
}

/// A citizen the notifications go to.
struct Citizen {
    id: i64,
    openid: String,
}

/// Inserts `n` citizens and their consents to `template_id` straight into the database, and
/// grants the same consents in the simulator.
async fn create_citizens(
    db: &DatabaseConnection,
    wechat: &WechatSim,
    n: usize,
    template_id: &str,
) -> anyhow::Result<Vec<Citizen>> {
    use entities::{citizen, subscription_consent as consent};
    let now = Utc::now();
    let openids: Vec<String> = (0..n).map(|_| wechat.new_openid()).collect();
    let mut citizens = Vec::with_capacity(n);
    for chunk in openids.chunks(ROWS_PER_INSERT) {
        let rows = citizen::Entity::insert_many(chunk.iter().map(|openid| citizen::ActiveModel {
            openid: Set(openid.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }))
        .exec_with_returning(db)
        .await
        .context("insert citizens")?;
        citizens.extend(rows.into_iter().map(|row| Citizen {
            id: row.id,
            openid: row.openid,
        }));
    }
    for chunk in citizens.chunks(ROWS_PER_INSERT) {
        consent::Entity::insert_many(chunk.iter().map(|c| consent::ActiveModel {
            citizen_id: Set(c.id),
            template_id: Set(template_id.to_owned()),
            remaining: Set(i32::try_from(CONSENTS).unwrap_or(i32::MAX)),
            banned: Set(false),
            last_result: Set(Some(entities::status::ConsentResult::Accept)),
            updated_at: Set(now),
        }))
        .exec_without_returning(db)
        .await
        .context("insert consents")?;
    }
    for c in &citizens {
        wechat.grant_consent(&c.openid, template_id, CONSENTS);
    }
    Ok(citizens)
}

/// Writes notifications as the product does, round-robin over the citizens.
struct Writer {
    db: DatabaseConnection,
    notifications: Notifications,
    citizens: Vec<Citizen>,
    template_id: String,
    wechat: WechatSim,
    writers: usize,
    /// Notifications committed so far, all runs together.
    written: usize,
    /// Consents each citizen has been given so far.
    granted: u32,
}

/// The notifications of one run, each by its booking code.
struct Commits {
    label: &'static str,
    /// Booking code → when its transaction's COMMIT returned.
    at: HashMap<String, DateTime<Utc>>,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    /// Notifications a second asked for; `None`: as fast as the writers go.
    rate: Option<f64>,
}

impl Commits {
    fn per_sec(&self) -> f64 {
        per_sec(self.at.len(), self.last - self.first)
    }
}

impl Writer {
    /// Commits `count` notifications, `writers` transactions at once; `wake`: each followed by
    /// `Notifications::wake`.
    async fn flood(
        &mut self,
        label: &'static str,
        count: usize,
        wake: bool,
    ) -> anyhow::Result<Commits> {
        self.grant_for(count).await?;
        let base = self.written;
        let this = &*self;
        let committed: Vec<(String, DateTime<Utc>)> = futures::stream::iter(0..count)
            .map(|i| this.commit(base + i, code(label, i), wake))
            .buffer_unordered(self.writers)
            .try_collect()
            .await?;
        self.written += count;
        Commits::of(label, committed, None)
    }

    /// Commits `rate` notifications a second for `length`: one starts every 1/`rate` s, at
    /// most `writers` in flight (if commits are slower, the run falls behind and says so).
    async fn paced(
        &mut self,
        label: &'static str,
        rate: f64,
        length: Duration,
        wake: bool,
    ) -> anyhow::Result<Commits> {
        let count = (rate * length.as_secs_f64()).round() as usize;
        if count == 0 {
            bail!(
                "--rate {rate} for {} s is not one notification",
                length.as_secs()
            );
        }
        self.grant_for(count).await?;
        let base = self.written;
        let this = &*self;
        let start = tokio::time::Instant::now();
        let committed: Vec<(String, DateTime<Utc>)> = futures::stream::iter(0..count)
            .then(|i| async move {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                i
            })
            .map(|i| this.commit(base + i, code(label, i), wake))
            .buffer_unordered(self.writers)
            .try_collect()
            .await?;
        self.written += count;
        Commits::of(label, committed, Some(rate))
    }

    /// One notification to the `n`th citizen (round-robin) in its own transaction, then the
    /// wake if `wake`; returns its code and when the COMMIT returned.
    async fn commit(
        &self,
        n: usize,
        code: String,
        wake: bool,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        let citizen = &self.citizens[n % self.citizens.len()];
        let payload = json!({
            "item_name": "居民身份证换领",
            "hall_name": "市民中心政务服务大厅",
            "slot_start": "2026-11-24T01:00:00Z",
            "booking_code": code,
            "booking_id": n,
        });
        let txn = self.db.begin().await.context("begin a transaction")?;
        let created = self
            .notifications
            .notify(&txn, citizen.id, KIND, &payload, &format!("bench:{code}"))
            .await
            .context("notify")?;
        if !created {
            bail!("the dedup key bench:{code} was already used");
        }
        txn.commit().await.context("commit a notification")?;
        let committed = Utc::now();
        if wake {
            self.notifications.wake().await;
        }
        Ok((code, committed))
    }

    /// Gives every citizen more consents, in the ledger and in the simulator, if `count` more
    /// notifications round-robin would need them.
    async fn grant_for(&mut self, count: usize) -> anyhow::Result<()> {
        let needed = (self.written + count).div_ceil(self.citizens.len());
        let needed = u32::try_from(needed).unwrap_or(u32::MAX);
        if needed <= self.granted {
            return Ok(());
        }
        let more = (needed - self.granted).div_ceil(CONSENTS) * CONSENTS;
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE subscription_consents SET remaining = remaining + $1 \
                 WHERE template_id = $2",
                [i64::from(more).into(), self.template_id.clone().into()],
            ))
            .await
            .context("give the citizens more consents")?;
        for c in &self.citizens {
            self.wechat
                .grant_consent(&c.openid, &self.template_id, more);
        }
        self.granted += more;
        Ok(())
    }

    /// Waits until the simulator has accepted every notification committed so far and the
    /// outbox has settled (or nothing moved for [`STALL_LIMIT`]), then checks the run.
    async fn delivered(&self, commits: Commits, shape: &Shape) -> anyhow::Result<Delivery> {
        let expected = u64::try_from(self.written).unwrap_or(u64::MAX);
        let mut seen = self.wechat.stats().messages_sent;
        let mut moved = tokio::time::Instant::now();
        loop {
            let sent = self.wechat.stats().messages_sent;
            if sent != seen {
                seen = sent;
                moved = tokio::time::Instant::now();
            }
            if sent >= expected && unsettled(&self.db).await? == 0 {
                break;
            }
            if moved.elapsed() > STALL_LIMIT {
                eprintln!(
                    "bench: {sent} of {expected} notifications accepted and nothing new for {} s; \
                     giving up on the rest",
                    STALL_LIMIT.as_secs()
                );
                break;
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
        let rows = statuses(&self.db, &format!("bench:{}-%", commits.label)).await?;
        Ok(Delivery::check(
            commits,
            &self.wechat.sent_messages(),
            &shape.code_field,
            rows,
        ))
    }
}

impl Commits {
    fn of(
        label: &'static str,
        committed: Vec<(String, DateTime<Utc>)>,
        rate: Option<f64>,
    ) -> anyhow::Result<Self> {
        let first = committed
            .iter()
            .map(|(_, at)| *at)
            .min()
            .context("no notification was committed")?;
        let last = committed
            .iter()
            .map(|(_, at)| *at)
            .max()
            .context("no notification was committed")?;
        Ok(Self {
            label,
            at: committed.into_iter().collect(),
            first,
            last,
            rate,
        })
    }
}

/// The booking code of a run's `i`th notification: `T-000001`.
fn code(label: &str, i: usize) -> String {
    format!("{label}-{:06}", i + 1)
}

/// Rows still waiting for, or in the hands of, a worker.
async fn unsettled(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM notifications WHERE status IN ('PENDING', 'SENDING', 'IN_FLIGHT')",
        ))
        .await
        .context("count unsettled notifications")?
        .context("COUNT answered no row")?;
    row.try_get::<i64>("", "n")
        .context("read the unsettled count")
}

/// The rows whose dedup key is `LIKE` `pattern`, counted by status.
async fn statuses(db: &DatabaseConnection, pattern: &str) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT status, COUNT(*) AS n FROM notifications WHERE dedup_key LIKE $1 \
             GROUP BY status",
            [pattern.into()],
        ))
        .await
        .context("count notifications by status")?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "status")
                    .context("read a status")?,
                row.try_get::<i64>("", "n").context("read a count")?,
            ))
        })
        .collect()
}

fn per_sec(count: usize, span: chrono::TimeDelta) -> f64 {
    let seconds = span.as_seconds_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// What became of one run's notifications.
struct Delivery {
    commits: Commits,
    /// Commit → acceptance by the simulator, in milliseconds, sorted; one per code delivered.
    latencies_ms: Vec<f64>,
    /// The simulator's latest acceptance of the run's messages.
    last_delivery: Option<DateTime<Utc>>,
    /// Codes first accepted after the run's last commit.
    after_last_commit: usize,
    /// Codes committed and never accepted.
    missing: usize,
    /// Acceptances beyond the first of a code.
    duplicates: usize,
    /// Accepted codes of this run that were never committed.
    unknown: usize,
    /// The run's rows in `notifications`, by status.
    rows: BTreeMap<String, i64>,
}

impl Delivery {
    fn check(
        commits: Commits,
        sent: &[SentMessage],
        code_field: &str,
        rows: BTreeMap<String, i64>,
    ) -> Self {
        let prefix = format!("{}-", commits.label);
        let mut first_seen: HashMap<&str, DateTime<Utc>> = HashMap::new();
        let mut duplicates = 0;
        let mut unknown = 0;
        let mut last_delivery: Option<DateTime<Utc>> = None;
        for message in sent {
            let Some(code) = message.data.get(code_field) else {
                continue;
            };
            if !code.starts_with(&prefix) {
                continue;
            }
            if !commits.at.contains_key(code) {
                unknown += 1;
                continue;
            }
            last_delivery = Some(last_delivery.map_or(message.at, |l| l.max(message.at)));
            if first_seen.insert(code, message.at).is_some() {
                duplicates += 1;
            }
        }
        let mut latencies_ms: Vec<f64> = first_seen
            .iter()
            .filter_map(|(code, at)| {
                let committed = commits.at.get(*code)?;
                Some((*at - *committed).as_seconds_f64() * 1000.0)
            })
            .collect();
        latencies_ms.sort_by(f64::total_cmp);
        let after_last_commit = first_seen.values().filter(|at| **at > commits.last).count();
        Self {
            after_last_commit,
            missing: commits.at.len() - first_seen.len(),
            latencies_ms,
            last_delivery,
            duplicates,
            unknown,
            rows,
            commits,
        }
    }

    fn committed(&self) -> usize {
        self.commits.at.len()
    }

    /// Every code accepted exactly once, nothing unknown, every row SENT.
    fn exactly_once(&self) -> bool {
        let sent_rows = self.rows.get("SENT").copied().unwrap_or(0);
        let all_rows: i64 = self.rows.values().sum();
        let committed = i64::try_from(self.committed()).unwrap_or(i64::MAX);
        self.missing == 0
            && self.duplicates == 0
            && self.unknown == 0
            && sent_rows == committed
            && all_rows == committed
    }

    /// Messages over first commit → last acceptance.
    fn delivered_per_sec(&self) -> f64 {
        self.last_delivery.map_or(0.0, |last| {
            per_sec(self.latencies_ms.len(), last - self.commits.first)
        })
    }

    /// Nearest-rank percentile of the latencies, `p` in 0..=1.
    fn percentile(&self, p: f64) -> Option<f64> {
        crate::report::nearest_rank(self.latencies_ms.len(), p).map(|i| self.latencies_ms[i])
    }

    fn failure(&self) -> Option<String> {
        if self.exactly_once() {
            return None;
        }
        let rows: Vec<String> = self.rows.iter().map(|(s, n)| format!("{s} {n}")).collect();
        Some(format!(
            "{} committed: {} never accepted by WeChat, {} accepted more than once, {} unknown \
             accepted; rows by status: {}",
            self.committed(),
            self.missing,
            self.duplicates,
            self.unknown,
            if rows.is_empty() {
                "none".to_owned()
            } else {
                rows.join(", ")
            }
        ))
    }
}

/// The whole run's count, after every run.
struct Totals {
    committed: usize,
    accepted: u64,
    rows: BTreeMap<String, i64>,
}

impl Totals {
    fn exactly_once(&self) -> bool {
        let committed = i64::try_from(self.committed).unwrap_or(i64::MAX);
        u64::try_from(self.committed).is_ok_and(|c| c == self.accepted)
            && self.rows.get("SENT").copied().unwrap_or(0) == committed
            && self.rows.values().sum::<i64>() == committed
    }
}

/// Every figure of one run, all measured in it.
struct Report {
    instances: usize,
    citizens: usize,
    writers: usize,
    cores: usize,
    release: bool,
    server_log: Option<PathBuf>,
    shape: Shape,
    poll_interval_ms: u64,
    batch_size: u32,
    lease_secs: u64,
    consents: u32,
    rate: f64,
    rate_given: bool,
    latency_seconds: Duration,
    first_start: Duration,
    restart: Duration,
    throughput: Delivery,
    default_poll: Delivery,
    woken: Delivery,
    warm_up: Delivery,
    fast_poll: Delivery,
    totals: Totals,
}

impl Report {
    fn runs(&self) -> [(&'static str, &Delivery); 5] {
        [
            ("throughput", &self.throughput),
            ("latency, default poll", &self.default_poll),
            ("latency, wake after commit", &self.woken),
            ("warm-up", &self.warm_up),
            ("latency, fast poll", &self.fast_poll),
        ]
    }

    fn exactly_once(&self) -> bool {
        self.runs().iter().all(|(_, d)| d.exactly_once()) && self.totals.exactly_once()
    }
}

fn seconds(span: chrono::TimeDelta) -> String {
    format!("{:.2} s", span.as_seconds_f64())
}

fn latency(d: &Delivery, p: f64) -> String {
    d.percentile(p).map_or_else(|| "-".to_owned(), ms_f64)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        crate::report::warn_if_debug(f, self.release)?;
        let instances = if self.instances == 1 {
            "1 gateway instance".to_owned()
        } else {
            format!("{} gateway instances sharing the outbox", self.instances)
        };
        writeln!(
            f,
            "Notifications delivered to WeChat (simulator), PostgreSQL + Redis — {instances}, \
             {} citizens, kind {} → template {}",
            self.citizens, self.shape.kind, self.shape.template_id
        )?;

        let t = &self.throughput;
        let c = &t.commits;
        writeln!(
            f,
            "throughput (poll interval {} ms, default): {} notifications committed by {} writers \
             in {} ({:.0}/s)",
            self.poll_interval_ms,
            t.committed(),
            self.writers,
            seconds(c.last - c.first),
            c.per_sec()
        )?;
        match t.last_delivery {
            Some(last) => {
                writeln!(
                    f,
                    "  first commit → last delivery {}: {:.0} notifications/s delivered",
                    seconds(last - c.first),
                    t.delivered_per_sec()
                )?;
                let drain = last - c.last;
                writeln!(
                    f,
                    "  drain after the last commit: {} for the {} notifications still undelivered \
                     ({:.0}/s with the writers done)",
                    ms_f64(drain.as_seconds_f64() * 1000.0),
                    t.after_last_commit,
                    per_sec(t.after_last_commit, drain)
                )?;
            }
            None => writeln!(f, "  nothing delivered")?,
        }

        writeln!(
            f,
            "latency, commit → accepted by WeChat, at {:.1} notifications/s ({}) for {} s:",
            self.rate,
            if self.rate_given {
                "--rate"
            } else {
                "half the throughput"
            },
            self.latency_seconds.as_secs()
        )?;
        writeln!(
            f,
            "{:<36}{:>8}{:>11}{:>11}{:>11}{:>11}{:>11}",
            "", "sent", "commit/s", "p50", "p90", "p99", "max"
        )?;
        let latency_runs = [
            (
                format!("poll {} ms (default)", self.poll_interval_ms),
                &self.default_poll,
            ),
            (
                format!("poll {} ms + wake after commit", self.poll_interval_ms),
                &self.woken,
            ),
            (
                format!("poll {FAST_POLL_MS} ms (gateways restarted)"),
                &self.fast_poll,
            ),
        ];
        for (name, d) in &latency_runs {
            writeln!(
                f,
                "{:<36}{:>8}{:>11.1}{:>11}{:>11}{:>11}{:>11}",
                name,
                d.latencies_ms.len(),
                d.commits.per_sec(),
                latency(d, 0.50),
                latency(d, 0.90),
                latency(d, 0.99),
                latency(d, 1.0)
            )?;
        }
        for (name, d) in &latency_runs {
            if let Some(rate) = d.commits.rate
                && d.commits.per_sec() < rate * 0.95
            {
                writeln!(
                    f,
                    "!!! the \"{name}\" run committed only {:.1}/s of the {rate:.1}/s asked: the \
                     writers could not keep up, so it measured a lower rate.",
                    d.commits.per_sec()
                )?;
            }
        }

        let totals = &self.totals;
        writeln!(
            f,
            "exactly once: {} committed, {} accepted by WeChat, each booking code once, all \
             rows SENT   {}",
            totals.committed,
            totals.accepted,
            if self.exactly_once() { "OK" } else { "FAILED" }
        )?;
        for (name, d) in self.runs() {
            if let Some(failure) = d.failure() {
                writeln!(f, "!!! EXACTLY-ONCE FAILED in the {name} run: {failure}")?;
            }
        }
        if !totals.exactly_once() {
            let rows: Vec<String> = totals
                .rows
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            writeln!(
                f,
                "!!! EXACTLY-ONCE FAILED overall: {} committed, {} accepted by WeChat; rows by \
                 status: {}",
                totals.committed,
                totals.accepted,
                rows.join(", ")
            )?;
        }
        writeln!(
            f,
            "gateway start-to-ready: {} on a fresh database (migrations included), {} restarted",
            ms(self.first_start),
            ms(self.restart)
        )?;

        let logs = crate::report::server_logs(self.server_log.as_deref());
        writeln!(f)?;
        writeln!(f, "How it was measured:")?;
        writeln!(
            f,
            "- writing: the bench process calls the real `Notifications::notify` \
             (services::notify) in one PostgreSQL transaction per notification and commits it; \
             the throughput run keeps {} transactions in flight, the latency runs start one \
             every 1/rate s (at most {} in flight). Commit instant: the wall clock right after \
             COMMIT returned. The bench runs no worker. Only the \"wake after commit\" run then \
             calls `Notifications::wake` (a Redis PUBLISH every instance's worker listens to); \
             in the others the workers find new rows by polling.",
            self.writers, self.writers
        )?;
        writeln!(
            f,
            "- delivering: `gateway serve` ×{} ({}, production log level, output {logs}), each \
             with its real delivery worker: it claims up to {} due rows per pass \
             (notifications.batch_size) with FOR UPDATE SKIP LOCKED, takes a consent from the \
             ledger, sends up to {WORKER_CONCURRENCY} at once (the worker's fixed concurrency) \
             over HTTP to the WeChat simulator, and records SENT; a pass that finds nothing \
             sleeps the poll interval ({} ms by default; lease {} s).",
            self.instances,
            if self.release {
                "release build"
            } else {
                "NOT a release build"
            },
            self.batch_size,
            self.poll_interval_ms,
            self.lease_secs
        )?;
        writeln!(
            f,
            "- runs: throughput, then the latency run and the latency run with wakes on the same \
             gateways; then the gateways are restarted with \
             APP_NOTIFICATIONS__POLL_INTERVAL_MS={FAST_POLL_MS}, warmed up with {} notifications, \
             and the latency run repeated at the same rate. Each run waits until the simulator \
             has accepted everything and no row is PENDING or SENDING.",
            self.warm_up.committed()
        )?;
        writeln!(
            f,
            "- delivery instant: when the in-process simulator accepted the subscribe message \
             (SentMessage.at, the same wall clock); each message is matched to its commit by the \
             booking code in {}. Throughput = messages / (first commit → last acceptance).",
            self.shape.code_field
        )?;
        writeln!(
            f,
            "- citizens and their consents ({} each to {}) are inserted straight into citizens \
             and subscription_consents and granted in the simulator; notifications go to them \
             round-robin.",
            self.consents, self.shape.template_id
        )?;
        writeln!(
            f,
            "- exactly once: in every run each booking code accepted by the simulator once, none \
             missing, and each of the run's rows SENT in notifications; overall, accepted = \
             committed = SENT rows."
        )?;
        writeln!(
            f,
            "- the bench (writers and simulator), the gateways, Redis and PostgreSQL all share \
             this machine's {} cores.",
            self.cores
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_codes_fit_a_character_string_field() {
        let code = code("T", 999_999);
        assert_eq!(code, "T-1000000");
        assert!(code.len() <= 32 && code.is_ascii());
    }

    fn commits(codes: &[(&str, i64)]) -> Commits {
        let base = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        Commits::of(
            "T",
            codes
                .iter()
                .map(|(c, ms)| ((*c).to_owned(), base + chrono::TimeDelta::milliseconds(*ms)))
                .collect(),
            None,
        )
        .unwrap()
    }

    fn sent(code: &str, ms: i64) -> SentMessage {
        let base = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        SentMessage {
            msgid: 1,
            touser: "o".into(),
            template_id: "t".into(),
            page: None,
            miniprogram_state: None,
            lang: None,
            data: [("character_string4".to_owned(), code.to_owned())].into(),
            at: base + chrono::TimeDelta::milliseconds(ms),
        }
    }

    fn rows(sent: i64) -> BTreeMap<String, i64> {
        [("SENT".to_owned(), sent)].into()
    }

    #[test]
    fn each_code_delivered_once_passes_with_its_latencies() {
        let d = Delivery::check(
            commits(&[("T-000001", 0), ("T-000002", 10)]),
            &[
                sent("T-000002", 30),
                sent("T-000001", 50),
                sent("X-000001", 1),
            ],
            "character_string4",
            rows(2),
        );
        assert!(d.exactly_once());
        assert_eq!(d.latencies_ms, vec![20.0, 50.0]);
        assert_eq!(d.percentile(0.5), Some(20.0));
        assert_eq!(d.percentile(0.99), Some(50.0));
        assert!((d.delivered_per_sec() - 40.0).abs() < 1e-9, "2 in 50 ms");
    }

    #[test]
    fn a_missing_a_repeated_or_an_unsent_row_fails() {
        let c = || commits(&[("T-000001", 0), ("T-000002", 0)]);
        let missing = Delivery::check(c(), &[sent("T-000001", 5)], "character_string4", rows(2));
        assert_eq!(missing.missing, 1);
        assert!(!missing.exactly_once());

        let twice = Delivery::check(
            c(),
            &[
                sent("T-000001", 5),
                sent("T-000002", 5),
                sent("T-000001", 9),
            ],
            "character_string4",
            rows(2),
        );
        assert_eq!(twice.duplicates, 1);
        assert!(!twice.exactly_once());

        let pending = Delivery::check(
            c(),
            &[sent("T-000001", 5), sent("T-000002", 5)],
            "character_string4",
            [("SENT".to_owned(), 1), ("PENDING".to_owned(), 1)].into(),
        );
        assert!(!pending.exactly_once());
        assert!(pending.failure().is_some_and(|f| f.contains("PENDING 1")));
    }
}
