//! Typed, layered configuration: defaults in code, then an optional file (TOML), then `APP_…`
//! environment variables with `__` between levels (`APP_WECHAT__APP_ID` is `wechat.app_id`).
//! Settings are passed into [`crate::startup::Application::build`], never read from a global.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use secrecy::SecretString;
use serde::Deserialize;

/// Everything the gateway needs to start.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    /// The admin listener: `/readyz` and `/metrics`, apart from the public API.
    pub admin: AdminSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub wechat: WechatSettings,
    /// The provincial platform: the catalogue (and later applications, cases, licences).
    pub province: ProvinceSettings,
    /// Electronic licences: the keys presentations are signed with; see [`LicenceSettings`].
    #[serde(default)]
    pub licences: LicenceSettings,
    pub crypto: CryptoSettings,
    pub sessions: SessionSettings,
    pub limits: LimitSettings,
    pub log: LogSettings,
    /// Staff sessions and login limits; every field has a default.
    #[serde(default)]
    pub staff: StaffSettings,
    #[serde(default)]
    pub booking: BookingSettings,
    #[serde(default)]
    pub applications: ApplicationSettings,
    /// Family members on one phone (一部手机绑定多人).
    #[serde(default)]
    pub family: FamilySettings,
    /// 好差评: the rating window, rectification limits, tags, the forwarder and the worker.
    #[serde(default)]
    pub evaluations: EvaluationSettings,
    /// Kinds, templates and the delivery worker; defaults in `config/notifications.toml`.
    pub notifications: services::notify::NotifyConfig,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Seconds to finish in-flight requests after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Largest JSON body accepted, in bytes.
    pub json_limit_bytes: usize,
}

/// Where the operators' endpoints listen (`/readyz`, `/metrics`, and `/healthz` again): never on
/// the public API port, whose clients have no business reading business counters. Loopback by
/// default; open it to the scraper's network only.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminSettings {
    pub host: String,
    /// 0 = any free port (tests).
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://path?mode=rwc`.
    pub url: SecretString,
    pub max_connections: u32,
    /// Apply pending migrations at start.
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// One Redis. Absent, and no `cluster_urls`: the in-process store (one gateway instance
    /// only).
    pub url: Option<SecretString>,
    /// A Redis Cluster instead: some or all of its nodes (`redis://host:port`; as an
    /// environment variable, comma-separated). Set either this or `url`, not both.
    #[serde(default)]
    pub cluster_urls: Vec<SecretString>,
    /// Put before every key, so deployments can share one Redis.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WechatSettings {
    pub base_url: String,
    pub app_id: String,
    pub app_secret: SecretString,
    pub timeout_ms: u64,
    pub max_attempts: usize,
}

/// The provincial platform (省一体化政务服务平台) and the catalogue sync.
#[derive(Debug, Clone, Deserialize)]
pub struct ProvinceSettings {
    pub base_url: String,
    /// The key and secret the platform issued us; they sign every request.
    pub app_key: String,
    pub app_secret: SecretString,
    /// Time limit of one attempt.
    pub timeout_ms: u64,
    /// Attempts of one call, the first included.
    pub max_attempts: u32,
    /// Consecutive failed calls that stop calling for a while; 0 never stops.
    pub breaker_failures: u32,
    pub breaker_cooldown_secs: u64,
    /// How often the catalogue is synced; 0 turns the periodic sync off (`gateway sync-items`
    /// and `POST /staff/v1/catalogue/sync` still work).
    pub sync_interval_secs: u64,
    /// The key and secret we issued the platform to sign its case-event callbacks with
    /// (`POST /callbacks/province/case-events`). Without them every callback is refused (401)
    /// and cases progress only by polling.
    #[serde(default)]
    pub callback_app_key: String,
    #[serde(default)]
    pub callback_app_secret: Option<SecretString>,
}

impl ProvinceSettings {
    /// The client's configuration.
    pub fn client_config(&self) -> services::province::ProvinceConfig {
        services::province::ProvinceConfig {
            base_url: self.base_url.clone(),
            app_key: self.app_key.clone(),
            app_secret: self.app_secret.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            max_attempts: self.max_attempts.max(1),
            breaker_failures: self.breaker_failures,
            breaker_cooldown: Duration::from_secs(self.breaker_cooldown_secs),
        }
    }
}

/// Electronic licences (亮证).
///
/// Key rotation: put a new key first in `signing_keys` (it signs from then on) and keep the old
/// one after it until every payload it signed has expired — `presentation_ttl_secs` after the
/// new configuration reached every instance — then remove it. Every listed key is published
/// at `/.well-known/jwks.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LicenceSettings {
    /// `[{ kid = "2026-11", private_key = "<base64 of 32 random bytes>" }, …]`. Empty: one
    /// key is generated at start, and presentations verify only at this instance until it stops.
    pub signing_keys: Vec<SigningKeySettings>,
    /// The same keys as one string, for environments that pass secrets as variables
    /// (`APP_LICENCES__KEYS=k2:<base64>,k1:<base64>`): signing key first, then older ones still
    /// published. Used when `signing_keys` is empty.
    pub keys: Option<SecretString>,
    /// How long a presentation (QR) stays valid.
    pub presentation_ttl_secs: u64,
    /// How long a citizen's licence list is cached.
    pub cache_ttl_secs: u64,
}

impl Default for LicenceSettings {
    fn default() -> Self {
        Self {
            signing_keys: Vec::new(),
            keys: None,
            presentation_ttl_secs: 60,
            cache_ttl_secs: 60,
        }
    }
}

/// One presentation signing key.
#[derive(Debug, Clone, Deserialize)]
pub struct SigningKeySettings {
    /// Its id in the JWKS and in every payload's header: at most 8 characters, and at most 4
    /// (`k1`, `2611`) to keep payloads within 300 characters.
    pub kid: String,
    /// Base64 of the 32-byte Ed25519 seed.
    pub private_key: SecretString,
}

impl LicenceSettings {
    /// The signing keys, or one generated now when none is configured.
    ///
    /// # Errors
    /// A key that is not base64 of 32 bytes, or a key id empty, too long or repeated.
    pub fn presentation_keys(&self) -> anyhow::Result<services::licences::PresentationKeys> {
        use secrecy::ExposeSecret as _;
        use services::licences::{KeyEntry, PresentationKeys};
        let from_env = self
            .keys
            .as_ref()
            .map(|keys| keys.expose_secret().trim().to_owned())
            .filter(|keys| !keys.is_empty());
        let keys = if let (true, Some(list)) = (self.signing_keys.is_empty(), from_env) {
            list.split(',')
                .map(|entry| {
                    let (kid, key) = entry.trim().split_once(':').with_context(
                        || "APP_LICENCES__KEYS: each entry is <kid>:<base64 of 32 bytes>",
                    )?;
                    KeyEntry::from_base64(kid.trim(), key.trim())
                        .context("APP_LICENCES__KEYS (licences.keys)")
                })
                .collect::<anyhow::Result<Vec<_>>>()?
        } else if self.signing_keys.is_empty() {
            tracing::warn!(
                "no licences.signing_keys configured: presentations are signed with a key made \
                 now, which other instances and a restarted gateway do not know"
            );
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
            vec![KeyEntry::from_seed("tmp", seed)]
        } else {
            self.signing_keys
                .iter()
                .map(|k| KeyEntry::from_base64(&k.kid, k.private_key.expose_secret()))
                .collect::<Result<_, _>>()
                .context("licences.signing_keys")?
        };
        PresentationKeys::new(keys).context("licences.signing_keys")
    }

    /// The service's timings.
    pub fn config(&self) -> services::licences::LicenceConfig {
        services::licences::LicenceConfig {
            presentation_ttl: Duration::from_secs(self.presentation_ttl_secs.max(1)),
            cache_ttl: Duration::from_secs(self.cache_ttl_secs),
            member_types: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CryptoSettings {
    /// Base64 of 32 random bytes: encrypts personal information.
    pub field_key: SecretString,
    /// Earlier field keys, still able to decrypt what they encrypted (comma-separated).
    #[serde(default)]
    pub previous_field_keys: Vec<SecretString>,
    /// Base64 of 32 random bytes: keys the blind indexes. Not rotatable without a re-index.
    pub index_key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    pub idle_ttl_secs: u64,
    pub absolute_ttl_secs: u64,
    pub requests_per_minute: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub login_per_ip_per_minute: u64,
    pub login_per_openid_per_minute: u64,
    /// Face verifications (人脸核身) one account may start a day; each costs money.
    pub face_verifications_per_citizen_per_day: u64,
    /// Face verifications of one ID number a day, by any account.
    pub face_verifications_per_id_card_per_day: u64,
}

/// Applications (申办): where materials are kept and how the forwarder behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ApplicationSettings {
    /// The directory of uploaded materials (content-addressed).
    pub materials_dir: String,
    /// Run the forwarder and reconciler in this instance.
    pub worker: bool,
    /// How long the forwarder sleeps when there is nothing to send (a submission wakes it).
    pub worker_interval_ms: u64,
    /// Failing this long parks an application for an operator.
    pub park_after_secs: u64,
    /// Retry pauses: exponential from `retry_base_ms`, full jitter, capped at `retry_cap_secs`.
    pub retry_base_ms: u64,
    pub retry_cap_secs: u64,
    /// A live case with no event for this long is polled.
    pub reconcile_after_secs: u64,
    /// Sends in flight per instance, and rows claimed per round.
    pub concurrency: usize,
    pub batch: u32,
    pub lease_secs: u64,
    /// How long the person an application is made for (代办, `consentOf`) has to accept it
    /// (`APP_APPLICATIONS__CONSENT_TTL_SECS`; 72 h). Unanswered, it is never sent.
    pub consent_ttl_secs: u64,
}

impl Default for ApplicationSettings {
    fn default() -> Self {
        Self {
            materials_dir: "./data/materials".into(),
            worker: true,
            worker_interval_ms: 1000,
            park_after_secs: 24 * 3600,
            retry_base_ms: 2000,
            retry_cap_secs: 60,
            reconcile_after_secs: 30 * 60,
            concurrency: 8,
            batch: 32,
            lease_secs: 60,
            consent_ttl_secs: 72 * 3600,
        }
    }
}

impl ApplicationSettings {
    pub fn config(&self) -> services::applications::ApplicationConfig {
        services::applications::ApplicationConfig {
            park_after: Duration::from_secs(self.park_after_secs),
            retry_base: Duration::from_millis(self.retry_base_ms.max(1)),
            retry_cap: Duration::from_secs(self.retry_cap_secs.max(1)),
            lease: Duration::from_secs(self.lease_secs.max(5)),
            batch: self.batch.max(1),
            concurrency: self.concurrency.max(1),
            reconcile_after: Duration::from_secs(self.reconcile_after_secs.max(1)),
            consent_ttl: Duration::from_secs(self.consent_ttl_secs.max(1)),
        }
    }
}

/// Family members on one phone: how many, and which of a member's licences the account holding
/// them may show.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FamilySettings {
    /// Live family members one account may hold (`APP_FAMILY__MAX_MEMBERS`; 5).
    pub max_members: u32,
    /// Licence types (证照类型代码) an account may show for a family member
    /// (`APP_FAMILY__LICENCE_TYPES=a,b`; none by default). The resident identity card is shown
    /// only by its holder, even if listed.
    pub licence_types: Vec<String>,
}

impl Default for FamilySettings {
    fn default() -> Self {
        Self {
            max_members: services::identity::DEFAULT_MAX_MEMBERS,
            licence_types: Vec::new(),
        }
    }
}

/// 好差评 (`APP_EVALUATIONS__…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EvaluationSettings {
    /// Run the forwarder and the worker (defaults, comment re-checks, overdue marks) here.
    pub worker: bool,
    /// The worker's round; the forwarder's sleep when idle (a rating wakes it).
    pub worker_interval_ms: u64,
    /// The rating window; unrated after it, the default 基本满意 is recorded.
    pub window_hours: u64,
    /// Working days to rectify a 差评 at a hall that sets none (online cases too).
    pub rectify_days: u32,
    /// Working days to contact the citizen (回访).
    pub contact_days: u32,
    /// Tags per grade range, as `"1-2:超时办理|材料超出指南;4-5:一次办好"`; empty: the built-in list.
    pub tags: String,
    pub park_after_secs: u64,
    pub retry_base_ms: u64,
    pub retry_cap_secs: u64,
    pub lease_secs: u64,
    /// One-statement ratings (PostgreSQL) written at once; those arriving meanwhile go
    /// together in the next statement (group commit). 0: each rating its own statement.
    pub statements_in_flight: usize,
}

impl Default for EvaluationSettings {
    fn default() -> Self {
        Self {
            worker: true,
            worker_interval_ms: 1000,
            window_hours: 7 * 24,
            rectify_days: 5,
            contact_days: 1,
            tags: String::new(),
            park_after_secs: 24 * 3600,
            retry_base_ms: 2000,
            retry_cap_secs: 60,
            lease_secs: 60,
            statements_in_flight: 4,
        }
    }
}

impl EvaluationSettings {
    /// # Errors
    /// `tags` is not of the form `"1-2:a|b;3:c"` with grades 1–5.
    pub fn config(&self) -> anyhow::Result<services::evaluations::EvaluationConfig> {
        let base = services::evaluations::EvaluationConfig::default();
        let tags = if self.tags.trim().is_empty() {
            base.tags
        } else {
            self.tags
                .split(';')
                .filter(|part| !part.trim().is_empty())
                .map(|part| {
                    let (range, list) = part
                        .split_once(':')
                        .with_context(|| format!("evaluations.tags: {part:?} has no `:`"))?;
                    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                    let lo: u8 = lo.trim().parse().context("evaluations.tags: a grade")?;
                    let hi: u8 = hi.trim().parse().context("evaluations.tags: a grade")?;
                    anyhow::ensure!(
                        (1..=5).contains(&lo) && (lo..=5).contains(&hi),
                        "evaluations.tags: grades are 1 to 5"
                    );
                    Ok(services::evaluations::TagRule {
                        grades: lo..=hi,
                        tags: list
                            .split('|')
                            .map(|t| t.trim().to_owned())
                            .filter(|t| !t.is_empty())
                            .collect(),
                    })
                })
                .collect::<anyhow::Result<_>>()?
        };
        Ok(services::evaluations::EvaluationConfig {
            window: Duration::from_secs(self.window_hours.max(1) * 3600),
            rectify_days: self.rectify_days.max(1),
            contact_days: self.contact_days.max(1),
            tags,
            outbox: services::province::outbox::OutboxConfig {
                lease: Duration::from_secs(self.lease_secs.max(5)),
                batch: 32,
                retry_base: Duration::from_millis(self.retry_base_ms.max(1)),
                retry_cap: Duration::from_secs(self.retry_cap_secs.max(1)),
                park_after: Duration::from_secs(self.park_after_secs),
            },
            statements_in_flight: self.statements_in_flight,
        })
    }
}

/// Appointments: the hall rules themselves are data, set per hall by its administrator.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BookingSettings {
    /// How often the booking worker marks no-shows, sends reminders and cuts slots ahead.
    pub worker_interval_secs: u64,
    /// When reminders go out, `HH:MM` Asia/Shanghai on the working day before the booking
    /// (`APP_BOOKING__REMINDER_AT`; 18:00).
    pub reminder_at: String,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            worker_interval_secs: 30,
            reminder_at: "18:00".to_owned(),
        }
    }
}

/// Staff accounts: how long their sessions live and how often they may try to log in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StaffSettings {
    /// Expiry after the last use.
    pub idle_ttl_secs: u64,
    /// Expiry after login, however busy the session.
    pub absolute_ttl_secs: u64,
    pub requests_per_minute: u64,
    /// Failed logins a minute per client address, whatever the username.
    pub login_failures_per_ip_per_minute: u64,
    /// Failed logins a minute per username from one address.
    pub login_failures_per_user_and_ip_per_minute: u64,
    /// Failed logins of one username, from any address, in 15 minutes before each attempt for
    /// it waits (from 250 ms, doubling up to `login_user_backoff_max_ms`); the right password
    /// still gets in after the wait.
    pub login_user_backoff_after: u64,
    pub login_user_backoff_max_ms: u64,
}

impl StaffSettings {
    /// The login limits these settings describe.
    pub fn login_limits(&self) -> services::staff::StaffLoginLimits {
        let defaults = services::staff::StaffLoginLimits::defaults();
        services::staff::StaffLoginLimits {
            failures_per_ip: services::limits::Quota::per_minute(
                self.login_failures_per_ip_per_minute,
            ),
            failures_per_user_and_ip: services::limits::Quota::per_minute(
                self.login_failures_per_user_and_ip_per_minute,
            ),
            user_backoff: services::staff::Backoff {
                after: self.login_user_backoff_after,
                max: std::time::Duration::from_millis(self.login_user_backoff_max_ms),
                ..defaults.user_backoff
            },
        }
    }
}

impl Default for StaffSettings {
    fn default() -> Self {
        Self {
            idle_ttl_secs: 8 * 3600,
            absolute_ttl_secs: 12 * 3600,
            requests_per_minute: 600,
            login_failures_per_ip_per_minute: 30,
            login_failures_per_user_and_ip_per_minute: 5,
            login_user_backoff_after: 10,
            login_user_backoff_max_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `json` (one object per line) or `pretty`.
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info,sqlx=warn`. `RUST_LOG` overrides it.
    pub filter: String,
    /// A successful request slower than this gets an access line at info; faster ones at debug.
    pub slow_request_ms: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Settings without a default: the gateway refuses to start without them.
const REQUIRED: &[&str] = &[
    "database.url",
    "wechat.app_id",
    "wechat.app_secret",
    "province.base_url",
    "province.app_key",
    "province.app_secret",
    "crypto.field_key",
    "crypto.index_key",
];

/// The notification kinds and templates every deployment starts from.
const NOTIFICATION_DEFAULTS: &str = include_str!("../config/notifications.toml");

fn defaults() -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError> {
    config::Config::builder()
        .add_source(config::File::from_str(
            NOTIFICATION_DEFAULTS,
            config::FileFormat::Toml,
        ))
        .set_default("server.host", "0.0.0.0")?
        .set_default("server.port", 8080)?
        .set_default("server.trust_forwarded_for", false)?
        .set_default("server.shutdown_timeout_secs", 30)?
        .set_default("server.workers", 0)?
        .set_default("server.json_limit_bytes", 64 * 1024)?
        .set_default("admin.host", "127.0.0.1")?
        .set_default("admin.port", 8081)?
        .set_default("database.max_connections", 20)?
        .set_default("database.migrate_on_start", true)?
        .set_default("redis.key_prefix", "zsb:")?
        .set_default("wechat.base_url", "https://api.weixin.qq.com")?
        .set_default("wechat.timeout_ms", 5000)?
        .set_default("wechat.max_attempts", 3)?
        .set_default("province.timeout_ms", 10_000)?
        .set_default("province.max_attempts", 3)?
        .set_default("province.breaker_failures", 5)?
        .set_default("province.breaker_cooldown_secs", 30)?
        .set_default("province.sync_interval_secs", 3600)?
        .set_default("sessions.idle_ttl_secs", 2 * 3600)?
        .set_default("sessions.absolute_ttl_secs", 7 * 24 * 3600)?
        .set_default("sessions.requests_per_minute", 600)?
        .set_default("limits.login_per_ip_per_minute", 120)?
        .set_default("limits.login_per_openid_per_minute", 10)?
        .set_default("limits.face_verifications_per_citizen_per_day", 10)?
        .set_default("limits.face_verifications_per_id_card_per_day", 5)?
        .set_default("log.format", "json")?
        .set_default("log.filter", "info")?
        .set_default("log.slow_request_ms", 1000)
}

fn env_name(key: &str) -> String {
    format!("APP_{}", key.replace('.', "__").to_uppercase())
}

fn layered(
    file: Option<&Path>,
    env: config::Environment,
    required: &[&str],
) -> anyhow::Result<config::Config> {
    let mut builder = defaults()?;
    if let Some(file) = file {
        builder = builder.add_source(config::File::from(file).required(true));
    }
    let config = builder
        .add_source(
            env.prefix("APP")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("crypto.previous_field_keys")
                .with_list_parse_key("family.licence_types")
                .with_list_parse_key("redis.cluster_urls")
                .try_parsing(true),
        )
        .build()
        .context("read configuration")?;
    let missing: Vec<String> = required
        .iter()
        .filter(|key| config.get_string(key).map_or(true, |v| v.trim().is_empty()))
        .map(|key| format!("{} ({key})", env_name(key)))
        .collect();
    if !missing.is_empty() {
        bail!(
            "missing required settings: {}. Set them as environment variables or in the \
             configuration file; `gateway demo` needs none of them.",
            missing.join(", ")
        );
    }
    Ok(config)
}

impl Settings {
    /// Reads defaults, then `file` if given, then the `APP_…` environment.
    ///
    /// # Errors
    /// A missing required setting (all of them are named, as environment variables), an
    /// unreadable file, or a value of the wrong type.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        Self::load_from(file, config::Environment::default())
    }

    fn load_from(file: Option<&Path>, env: config::Environment) -> anyhow::Result<Settings> {
        layered(file, env, REQUIRED)?
            .try_deserialize()
            .context("configuration has a value of the wrong type")
    }

    /// Only what `gateway migrate` needs: the database settings.
    ///
    /// # Errors
    /// `APP_DATABASE__URL` is missing, or a value has the wrong type.
    pub fn load_for_migrations(file: Option<&Path>) -> anyhow::Result<DatabaseSettings> {
        layered(file, config::Environment::default(), &["database.url"])?
            .get("database")
            .context("configuration has a value of the wrong type")
    }

    /// The notification kinds, templates and worker settings every deployment starts from
    /// (`config/notifications.toml`), as `serve` and `demo` read them.
    ///
    /// # Errors
    /// Only if the built-in file does not parse (a build-time mistake).
    pub fn default_notifications() -> anyhow::Result<services::notify::NotifyConfig> {
        defaults()?
            .build()?
            .get("notifications")
            .context("the built-in notification settings")
    }

    /// Settings for the embedded default: everything but what `demo` fills in. The province
    /// points nowhere and is never synced until the caller sets `province` (the demo points it
    /// at its simulator).
    pub fn embedded(
        database_url: String,
        wechat: WechatSettings,
        crypto: CryptoSettings,
    ) -> anyhow::Result<Settings> {
        let config = defaults()?
            .set_override("database.url", database_url)?
            .set_override("wechat.base_url", wechat.base_url.clone())?
            .set_override("wechat.app_id", wechat.app_id.clone())?
            .set_override("wechat.app_secret", "set below")?
            .set_override("province.base_url", "http://127.0.0.1:9")?
            .set_override("province.app_key", "unset")?
            .set_override("province.app_secret", "unset")?
            .set_override("province.sync_interval_secs", 0)?
            .set_override("crypto.field_key", "set below")?
            .set_override("crypto.index_key", "set below")?
            .set_override("log.format", "pretty")?
            .build()?;
        let mut settings: Settings = config.try_deserialize()?;
        settings.wechat = wechat;
        settings.crypto = crypto;
        Ok(settings)
    }
}

impl WechatSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> config::Environment {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        config::Environment::default().source(Some(map))
    }

    const FULL: &[(&str, &str)] = &[
        ("APP_DATABASE__URL", "postgres://postgres@127.0.0.1/test"),
        ("APP_WECHAT__APP_ID", "wx123"),
        ("APP_WECHAT__APP_SECRET", "s"),
        ("APP_PROVINCE__BASE_URL", "https://gov.example"),
        ("APP_PROVINCE__APP_KEY", "pk"),
        ("APP_PROVINCE__APP_SECRET", "ps"),
        ("APP_CRYPTO__FIELD_KEY", "k1"),
        ("APP_CRYPTO__INDEX_KEY", "k2"),
    ];

    #[test]
    fn the_built_in_notifications_hold_and_give_every_action_a_template_to_ask_for() {
        use services::notify::{NotificationKind, SubscribeAction};

        let config = Settings::default_notifications().unwrap();
        config.validate().unwrap();
        // What the SDK's subscribe flow relies on: before each action there is something to
        // ask for (GET /api/v1/subscriptions says which template follows which action).
        for action in SubscribeAction::ALL {
            let asked = config.kinds.iter().any(|(name, kind)| {
                kind.template.is_some()
                    && NotificationKind::from_name(name)
                        .is_some_and(|kind| kind.follows().contains(action))
            });
            assert!(asked, "no template is asked for before {action:?}");
        }
    }

    #[test]
    fn a_notification_kind_the_gateway_does_not_send_is_refused() {
        use services::notify::ConfigError;

        let mut config = Settings::default_notifications().unwrap();
        let confirmed = config.kinds["booking_confirmed"].clone();
        config.kinds.insert("booking_confirmd".into(), confirmed);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::UnknownKind(name)) if name == "booking_confirmd"
        ));
    }

    #[test]
    fn the_environment_fills_nested_settings_over_the_defaults() {
        let mut pairs = FULL.to_vec();
        pairs.push(("APP_SERVER__PORT", "9000"));
        pairs.push(("APP_ADMIN__PORT", "9001"));
        pairs.push(("APP_REDIS__URL", "redis://127.0.0.1:6379"));
        pairs.push(("APP_CRYPTO__PREVIOUS_FIELD_KEYS", "a,b"));
        let s = Settings::load_from(None, env(&pairs)).unwrap();
        assert_eq!(s.server.port, 9000);
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!((s.admin.host.as_str(), s.admin.port), ("127.0.0.1", 9001));
        assert_eq!(s.wechat.app_id, "wx123");
        assert_eq!(s.wechat.base_url, "https://api.weixin.qq.com");
        assert!(s.redis.url.is_some());
        assert_eq!(s.crypto.previous_field_keys.len(), 2);
        assert_eq!(s.sessions.idle_ttl_secs, 7200);
        assert!(s.redis.cluster_urls.is_empty());
    }

    #[test]
    fn the_example_production_settings_load_with_the_secrets_from_the_environment() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gateway.toml");
        let s = Settings::load_from(Some(&file), env(FULL)).unwrap();
        assert!(s.server.trust_forwarded_for, "behind nginx");
        assert!(
            !s.database.migrate_on_start,
            "migrations run once per rollout"
        );
        assert_eq!(s.redis.cluster_urls.len(), 6);
        assert!(s.redis.url.is_none());
        assert_eq!(s.notifications.templates.len(), 6);
    }

    #[test]
    fn a_redis_cluster_is_a_comma_separated_list_of_nodes() {
        use secrecy::ExposeSecret as _;
        let mut pairs = FULL.to_vec();
        pairs.push((
            "APP_REDIS__CLUSTER_URLS",
            "redis://10.0.0.1:7000,redis://10.0.0.2:7000,redis://10.0.0.3:7000",
        ));
        let s = Settings::load_from(None, env(&pairs)).unwrap();
        let urls: Vec<&str> = s
            .redis
            .cluster_urls
            .iter()
            .map(|u| u.expose_secret())
            .collect();
        assert_eq!(
            urls,
            [
                "redis://10.0.0.1:7000",
                "redis://10.0.0.2:7000",
                "redis://10.0.0.3:7000"
            ]
        );
        assert!(s.redis.url.is_none());
    }

    #[test]
    fn licence_keys_come_from_one_variable_signing_key_first() {
        use base64::Engine as _;
        let b64 = |n: u8| base64::engine::general_purpose::STANDARD.encode([n; 32]);
        let keys = format!("k2:{}, k1:{}", b64(2), b64(1));
        let mut pairs = FULL.to_vec();
        pairs.push(("APP_LICENCES__KEYS", &keys));
        let s = Settings::load_from(None, env(&pairs)).unwrap();
        let kids: Vec<String> = s
            .licences
            .presentation_keys()
            .unwrap()
            .jwks()
            .keys
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(kids, ["k2", "k1"]);

        let mut pairs = FULL.to_vec();
        pairs.push(("APP_LICENCES__KEYS", "k2-without-a-key"));
        let s = Settings::load_from(None, env(&pairs)).unwrap();
        let err = format!("{:#}", s.licences.presentation_keys().unwrap_err());
        assert!(err.contains("APP_LICENCES__KEYS"), "{err}");
    }

    #[test]
    fn missing_wechat_and_database_settings_are_all_named() {
        let err = Settings::load_from(None, env(&[("APP_WECHAT__APP_ID", "wx1")]))
            .unwrap_err()
            .to_string();
        for name in [
            "APP_DATABASE__URL",
            "APP_WECHAT__APP_SECRET",
            "APP_PROVINCE__BASE_URL",
            "APP_PROVINCE__APP_KEY",
            "APP_PROVINCE__APP_SECRET",
            "APP_CRYPTO__FIELD_KEY",
            "APP_CRYPTO__INDEX_KEY",
        ] {
            assert!(err.contains(name), "{name} not named in: {err}");
        }
        assert!(
            !err.contains("APP_WECHAT__APP_ID "),
            "a present setting is not reported"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused() {
        let mut pairs = FULL.to_vec();
        pairs.push(("APP_SERVER__PORT", "eighty"));
        assert!(Settings::load_from(None, env(&pairs)).is_err());
    }
}
