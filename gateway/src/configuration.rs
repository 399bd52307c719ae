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
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub wechat: WechatSettings,
    /// Used from the applications issue on; optional until then.
    #[serde(default)]
    pub province: ProvinceSettings,
    pub crypto: CryptoSettings,
    pub sessions: SessionSettings,
    pub limits: LimitSettings,
    pub log: LogSettings,
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
    /// Absent: the in-process store (one gateway instance only).
    pub url: Option<SecretString>,
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

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProvinceSettings {
    pub base_url: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<SecretString>,
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
        .set_default("database.max_connections", 20)?
        .set_default("database.migrate_on_start", true)?
        .set_default("redis.key_prefix", "zsb:")?
        .set_default("wechat.base_url", "https://api.weixin.qq.com")?
        .set_default("wechat.timeout_ms", 5000)?
        .set_default("wechat.max_attempts", 3)?
        .set_default("sessions.idle_ttl_secs", 2 * 3600)?
        .set_default("sessions.absolute_ttl_secs", 7 * 24 * 3600)?
        .set_default("sessions.requests_per_minute", 600)?
        .set_default("limits.login_per_ip_per_minute", 120)?
        .set_default("limits.login_per_openid_per_minute", 10)?
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

    /// Settings for the embedded default: everything but what `demo` fills in.
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
        ("APP_CRYPTO__FIELD_KEY", "k1"),
        ("APP_CRYPTO__INDEX_KEY", "k2"),
    ];

    #[test]
    fn the_environment_fills_nested_settings_over_the_defaults() {
        let mut pairs = FULL.to_vec();
        pairs.push(("APP_SERVER__PORT", "9000"));
        pairs.push(("APP_REDIS__URL", "redis://127.0.0.1:6379"));
        pairs.push(("APP_CRYPTO__PREVIOUS_FIELD_KEYS", "a,b"));
        let s = Settings::load_from(None, env(&pairs)).unwrap();
        assert_eq!(s.server.port, 9000);
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.wechat.app_id, "wx123");
        assert_eq!(s.wechat.base_url, "https://api.weixin.qq.com");
        assert!(s.redis.url.is_some());
        assert_eq!(s.crypto.previous_field_keys.len(), 2);
        assert_eq!(s.sessions.idle_ttl_secs, 7200);
    }

    #[test]
    fn missing_wechat_and_database_settings_are_all_named() {
        let err = Settings::load_from(None, env(&[("APP_WECHAT__APP_ID", "wx1")]))
            .unwrap_err()
            .to_string();
        for name in [
            "APP_DATABASE__URL",
            "APP_WECHAT__APP_SECRET",
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
