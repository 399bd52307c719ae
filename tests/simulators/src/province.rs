//! A provincial government-service platform simulator (省一体化政务服务平台): a real HTTP server
//! speaking the contract in `reference/province-api.md` — the catalogue, applications with their
//! idempotency and validation, case states and supplements, electronic licences, evaluations —
//! and sending signed case-event callbacks to the gateway, so that the gateway's production
//! client and callback handler are the code under test.
//!
//! The one decision to know: everything the platform would decide lives in one `World`
//! (`province/world.rs`) behind one lock; callbacks are delivered by tasks outside the lock, at
//! least once, with retries, and on demand twice or out of order. Every request must be signed
//! with the configured app key and secret (the same HMAC scheme the gateway uses; this crate
//! re-implements it because it stands for the outside world and must not depend on `services`).
//! Tests drive the simulator through the hooks on [`ProvinceSim`]; a curl user or the benchmark
//! process drives it through the same hooks over HTTP (`province/routes/hooks.rs`), unsigned:
//!
//! | hook | body | answer |
//! | --- | --- | --- |
//! | `POST /__sim/items` | a catalogue item (contract shape, `itemCode` required) | `{"ok":true}` |
//! | `DELETE /__sim/items` | — | `{"ok":true}` |
//! | `GET /__sim/ledger` | — | `{"entries":[`[`LedgerEntry`]`…]}` |
//! | `POST /__sim/advance` | `{"sblsh","phase","detail"?}` | the [`CaseEvent`] |
//! | `POST /__sim/auto-progress` | `{"steps":[{"afterMillis","phase","detail"?}…]}` or `{"steps":null}` | `{"ok":true}` |
//! | `POST /__sim/callback-url` | `{"url"}` (`null` stops delivery) | `{"ok":true}` |
//! | `POST /__sim/callbacks/duplicate` | `{"times"}` | `{"ok":true}` |
//! | `POST /__sim/callbacks/hold` | `{"on"}` | `{"ok":true}` |
//! | `POST /__sim/callbacks/release` | `{"order":"reversed"\|"shuffled"}` | `{"ok":true,"released"}` |
//! | `POST /__sim/licences` | `{"holderCertNo", …`[`LicenceSpec`]` in camelCase}` | `{"licenceId"}` |
//! | `POST /__sim/licences/status` | `{"licenceId","status"}` | `{"ok":true}` |
//! | `POST /__sim/faults` | `{"group","fault","times"?,"millis"?}` | `{"ok":true}` |
//! | `POST /__sim/faults/clear` | — | `{"ok":true}` |
//! | `GET /__sim/stats` | — | [`ProvinceSimStats`] |
//!
//! `group` is one of `items`, `applications`, `case`, `supplements`, `licences`, `evaluations`,
//! `any`; `fault` one of `down` (the connection is dropped unanswered, until cleared), `slow`
//! (`millis` of latency, until cleared), `http5xx`, `too_many` (429 with `Retry-After: 1`),
//! `timeout_after_accept` (the request is processed — an application lands in the ledger — and
//! the response is never sent); the last three for the next `times` requests (default 1). A hook
//! body that cannot be read gets 400 `{"error"}`, an unknown case or licence 404.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use simulators::province::{ProvinceSim, ProvinceSimConfig};
//! let sim = ProvinceSim::start(ProvinceSimConfig::default()).await?;
//! // … point the gateway's province client at sim.base_url(), then tell the simulator where the
//! // gateway takes callbacks:
//! sim.set_callback_url(Some("http://127.0.0.1:8080/province/callbacks".into()));
//! sim.stop().await;
//! # Ok(()) }
//! ```

mod bundles;
mod callbacks;
mod catalogue;
mod licences;
mod routes;
mod signing;
mod world;

use std::{
    collections::BTreeMap,
    net::TcpListener,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use actix_web::{App, HttpServer, dev::ServerHandle, web};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use self::bundles::{
    BIRTH_RECORD, DEMO_BUNDLE_CODE, HOUSEHOLD, PARENTS_ID, PHOTO, demo_bundle, demo_bundle_items,
};
pub use self::catalogue::{DEMO_HALL_CODE, demo_items};
pub use self::world::BundleLedgerEntry;
use self::world::World;

/// How to start a [`ProvinceSim`].
#[derive(Clone, Debug)]
pub struct ProvinceSimConfig {
    /// The app key the gateway signs its requests with.
    pub app_key: String,
    pub app_secret: String,
    /// The port to listen on; 0 picks a free one.
    pub port: u16,
    /// The address to listen on.
    pub host: String,
    /// Where case-event callbacks go; also settable later with
    /// [`ProvinceSim::set_callback_url`]. `None` holds them back until one is set.
    pub callback_url: Option<String>,
    /// The gateway's key and secret, which sign the callbacks.
    pub callback_app_key: String,
    pub callback_app_secret: String,
    /// Start with [`demo_items`] in the catalogue.
    pub demo_data: bool,
    /// The pause before the first callback retry; it doubles per retry up to
    /// `callback_retry_cap`.
    pub callback_retry_base: Duration,
    pub callback_retry_cap: Duration,
    /// Delivery attempts of one callback before it is given up (the real platform stops after 24
    /// hours).
    pub callback_max_attempts: u32,
    /// Where the last case number issued is kept, so that a simulator restarted over the same
    /// gateway database never hands out an `sblsh` again (the demo keeps it in its data folder).
    /// `None`: numbering starts afresh at each start, as tests want.
    pub sequence_file: Option<std::path::PathBuf>,
}

impl Default for ProvinceSimConfig {
    fn default() -> Self {
        Self {
            app_key: "demo-province-key".into(),
            app_secret: "demo-province-secret".into(),
            port: 0,
            host: "127.0.0.1".into(),
            callback_url: None,
            callback_app_key: "demo-gateway-key".into(),
            callback_app_secret: "demo-gateway-secret".into(),
            demo_data: true,
            callback_retry_base: Duration::from_millis(200),
            callback_retry_cap: Duration::from_secs(30),
            callback_max_attempts: 50,
            sequence_file: None,
        }
    }
}

/// The groups of endpoints a fault can be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// `GET /gov/v1/items`
    Items,
    /// `POST /gov/v1/applications`
    Applications,
    /// `GET /gov/v1/applications/{sblsh}`
    Case,
    /// `POST /gov/v1/applications/{sblsh}/supplements`
    Supplements,
    /// The three `GET /gov/v1/licences…`
    Licences,
    /// `POST /gov/v1/evaluations`
    Evaluations,
    /// Every group above.
    Any,
}

/// A way for requests to fail on demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Connections are dropped without an answer until [`ProvinceSim::clear_faults`].
    Down,
    /// Every request waits this long first, until cleared (or set to zero).
    Slow(Duration),
    /// The next `n` requests get a 503.
    Http5xx(u32),
    /// The next `n` requests get a 429 with `Retry-After: 1`.
    TooMany(u32),
    /// The next `n` requests are processed (an application lands in the ledger) and then never
    /// answered: the response is lost.
    TimeoutAfterAccept(u32),
}

/// The phases of a case, as callbacks name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    PreAccepted,
    Accepted,
    Rejected,
    InReview,
    SupplementRequired,
    Supplemented,
    SpecialProcedure,
    Concluded,
    Delivered,
}

impl Phase {
    fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One event of a case, as the callback carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseEvent {
    pub event_id: String,
    pub sblsh: String,
    pub version: u64,
    pub phase: Phase,
    pub at: DateTime<Utc>,
    pub handler: String,
    pub detail: serde_json::Value,
}

/// One accepted application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub client_request_id: String,
    pub sblsh: String,
    pub item_code: String,
    pub received_at: DateTime<Utc>,
    /// How many POSTs carried this `clientRequestId` (the first included).
    pub submissions: u32,
}

/// A licence's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LicenceStatus {
    Valid,
    Suspended,
    Revoked,
    Expired,
}

/// One field of a licence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceFieldSpec {
    pub key: String,
    pub label: String,
    pub value: String,
    pub sensitive: bool,
}

/// What a test says about a licence it adds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceSpec {
    /// The licence type code of the catalogue of licence types (证照类型代码).
    pub type_code: String,
    pub type_name: String,
    pub holder_name: String,
    /// The issuing department's name.
    pub issuer: String,
    /// The issuing department's 18-character unified social credit code.
    pub issuer_code: String,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub status: LicenceStatus,
    #[serde(default)]
    pub fields: Vec<LicenceFieldSpec>,
    /// Base64 PNG.
    #[serde(default)]
    pub face_image: Option<String>,
}

impl LicenceSpec {
    /// A valid resident identity card (居民身份证) of `holder_name` with number `cert_no`.
    pub fn id_card(holder_name: &str, cert_no: &str) -> Self {
        Self {
            type_code: "111000000000000001".into(),
            type_name: "居民身份证".into(),
            holder_name: holder_name.into(),
            issuer: "杭州市公安局西湖分局".into(),
            issuer_code: "11330106002489836K".into(),
            valid_from: NaiveDate::from_ymd_opt(2020, 3, 1).unwrap_or_default(),
            valid_until: NaiveDate::from_ymd_opt(2040, 3, 1),
            status: LicenceStatus::Valid,
            fields: vec![
                LicenceFieldSpec {
                    key: "name".into(),
                    label: "姓名".into(),
                    value: holder_name.into(),
                    sensitive: false,
                },
                LicenceFieldSpec {
                    key: "idNo".into(),
                    label: "公民身份号码".into(),
                    value: cert_no.into(),
                    sensitive: true,
                },
            ],
            face_image: None,
        }
    }
}

/// Which licence endpoint was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceReadKind {
    List,
    Detail,
    Status,
}

/// One licence read, with the use cause it carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceRead {
    pub kind: LicenceReadKind,
    /// `None` for a list.
    pub licence_id: Option<String>,
    /// The `X-Use-Cause` header as sent.
    pub cause: String,
    pub at: DateTime<Utc>,
}

/// Callback delivery so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackStats {
    /// POSTs made to the callback URL, retries included.
    pub attempts: u64,
    /// Deliveries answered 200 `{"ok":true}` (a duplicated event counts twice).
    pub delivered: u64,
    /// Deliveries given up after `callback_max_attempts`.
    pub given_up: u64,
    /// Events waiting for [`ProvinceSim::release_callbacks_reversed`] or a callback URL.
    pub held: u64,
    /// The event ids in the order their deliveries succeeded.
    pub delivered_ids: Vec<String>,
}

/// What the simulator has seen.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceSimStats {
    /// Requests to the platform's API by group, faulted and refused ones included.
    pub requests: BTreeMap<Group, u64>,
    pub requests_total: u64,
    /// Requests refused with 401.
    pub unauthorised: u64,
    pub ledger_len: usize,
    pub callbacks: CallbackStats,
}

/// A running simulator. Cheap to clone; every clone drives the same server.
#[derive(Clone)]
pub struct ProvinceSim {
    shared: web::Data<Shared>,
    base_url: String,
    handle: ServerHandle,
}

impl ProvinceSim {
    /// Binds the listener, spawns the server on the current tokio runtime and returns once it
    /// accepts connections.
    ///
    /// # Errors
    /// When the address cannot be bound or the callback HTTP client cannot be built.
    pub async fn start(config: ProvinceSimConfig) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind((config.host.as_str(), config.port)).with_context(|| {
                format!(
                    "bind the province simulator to {}:{}",
                    config.host, config.port
                )
            })?;
        let address = listener
            .local_addr()
            .context("read the simulator's address")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("build the callback client")?;
        let mut world = World::new(config.callback_url.clone());
        if let Some(file) = &config.sequence_file {
            world.keep_sequence_in(file.clone())?;
        }
        if config.demo_data {
            for item in demo_items() {
                world.upsert_item(item)?;
            }
        }
        let shared = web::Data::new(Shared {
            config,
            world: Mutex::new(world),
            runtime: tokio::runtime::Handle::current(),
            http,
        });
        let app_state = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(routes::MAX_BODY))
                .configure(routes::configure)
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .context("listen for the province simulator")?
        .run();
        let handle = server.handle();
        tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "the province simulator stopped with an error");
            }
        });
        tracing::info!(%address, "province simulator listening");
        Ok(Self {
            shared,
            base_url: format!("http://{address}"),
            handle,
        })
    }

    /// Where to point the province client, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn app_key(&self) -> &str {
        &self.shared.config.app_key
    }

    pub fn app_secret(&self) -> &str {
        &self.shared.config.app_secret
    }

    /// The key the callbacks are signed with (the gateway's, issued to the platform).
    pub fn callback_app_key(&self) -> &str {
        &self.shared.config.callback_app_key
    }

    pub fn callback_app_secret(&self) -> &str {
        &self.shared.config.callback_app_secret
    }

    /// Stops the server at once: a response held back by [`Fault::TimeoutAfterAccept`] is never
    /// sent. Callback deliveries in flight are abandoned.
    pub async fn stop(self) {
        self.shared.world().stopped = true;
        self.handle.stop(false).await;
    }

    // ---- catalogue ----

    /// Adds or replaces a catalogue item (contract shape); its update time becomes now, later
    /// than any before.
    ///
    /// # Errors
    /// When the item has no `itemCode` text.
    pub fn upsert_item(&self, item: serde_json::Value) -> anyhow::Result<()> {
        self.shared.world().upsert_item(item)
    }

    /// Empties the catalogue.
    pub fn remove_all_items(&self) {
        self.shared.world().remove_all_items();
    }

    // ---- applications and cases ----

    /// Every accepted application, in the order accepted.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.shared.world().ledger()
    }

    /// Numbers the next case `n + 1`, as a simulator that forgot its counter over a restart
    /// would: for testing what the gateway does with an `sblsh` it already holds.
    pub fn set_sequence(&self, n: u64) {
        self.shared.world().set_sequence(n);
    }

    pub fn ledger_len(&self) -> usize {
        self.shared.world().ledger_len()
    }

    /// The events of a case so far, oldest first (`None` for an unknown case).
    pub fn case_events(&self, sblsh: &str) -> Option<Vec<CaseEvent>> {
        self.shared.world().case_events(sblsh)
    }

    /// Appends an event to the case (version + 1, a fresh `eventId`) and sends it as a callback.
    ///
    /// # Errors
    /// When the case is unknown.
    pub fn advance(
        &self,
        sblsh: &str,
        phase: Phase,
        detail: serde_json::Value,
    ) -> anyhow::Result<CaseEvent> {
        callbacks::advance(&self.shared, sblsh, phase, detail)
    }

    /// A schedule applied to every case created from now on: each step waits its duration after
    /// the previous one, then advances the case. `None` stops scheduling new cases.
    pub fn set_auto_progress(&self, steps: Option<Vec<(Duration, Phase, serde_json::Value)>>) {
        self.shared.world().auto_progress = steps;
    }

    // ---- callbacks ----

    /// Where callbacks go from now on; held events are released in order when a URL is set.
    pub fn set_callback_url(&self, url: Option<String>) {
        callbacks::set_url(&self.shared, url);
    }

    /// The next `n` callbacks are each delivered twice.
    pub fn duplicate_next(&self, n: u32) {
        self.shared.world().callbacks.duplicate_next += n;
    }

    /// While on, new callbacks are held back instead of sent.
    pub fn hold_callbacks(&self, on: bool) {
        self.shared.world().callbacks.hold = on;
    }

    /// Stops holding and delivers the held callbacks newest first, one after another. Returns
    /// how many.
    pub fn release_callbacks_reversed(&self) -> usize {
        callbacks::release(&self.shared, callbacks::Order::Reversed)
    }

    /// Stops holding and delivers the held callbacks in a random order, one after another.
    pub fn release_callbacks_shuffled(&self) -> usize {
        callbacks::release(&self.shared, callbacks::Order::Shuffled)
    }

    pub fn callbacks_delivered(&self) -> CallbackStats {
        self.shared.world().callback_stats()
    }

    // ---- licences ----

    /// Adds a licence held by `holder_cert_no` and returns its id in GB/T 36904 form (see
    /// `province/licences.rs` for the check character).
    pub fn add_licence(&self, holder_cert_no: &str, spec: LicenceSpec) -> String {
        self.shared.world().add_licence(holder_cert_no, spec)
    }

    /// # Errors
    /// When the licence is unknown.
    pub fn set_licence_status(
        &self,
        licence_id: &str,
        status: LicenceStatus,
    ) -> anyhow::Result<()> {
        self.shared.world().set_licence_status(licence_id, status)
    }

    /// Every licence read, in order, with its use cause.
    pub fn licence_reads(&self) -> Vec<LicenceRead> {
        self.shared.world().licence_reads.clone()
    }

    // ---- evaluations ----

    /// Every accepted evaluation body, in order.
    pub fn evaluations(&self) -> Vec<serde_json::Value> {
        self.shared.world().evaluations()
    }

    /// Requests received for one evaluation `clientRequestId` (repeats included): the ledger
    /// ([`ProvinceSim::evaluations`]) holds it once whatever this says.
    pub fn evaluation_submissions(&self, client_request_id: &str) -> u32 {
        self.shared
            .world()
            .evaluation_submissions(client_request_id)
    }

    // ---- faults and stats ----

    /// Attaches a fault to a group of endpoints ([`Group::Any`]: all). Counted faults add up.
    pub fn fault(&self, group: Group, fault: Fault) {
        self.shared.world().fault(group, fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.world().faults.clear();
    }

    /// Requests received by a group ([`Group::Any`]: all), faulted and refused ones included.
    pub fn requests(&self, group: Group) -> u64 {
        self.shared.world().requests(group)
    }

    pub fn stats(&self) -> ProvinceSimStats {
        self.shared.world().stats()
    }
}

/// What the HTTP handlers, the callback tasks and [`ProvinceSim`] share.
pub(crate) struct Shared {
    config: ProvinceSimConfig,
    world: Mutex<World>,
    /// The runtime the simulator was started on: callback tasks run there, not on the server's
    /// worker thread.
    runtime: tokio::runtime::Handle,
    http: reqwest::Client,
}

impl Shared {
    /// The world, even if a thread panicked while holding it: every update leaves it consistent.
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
