//! `gateway serve` as a child process of the bench, configured only by what the bench sets: the
//! run's database, Redis prefix and WeChat simulator, and keys made fresh for the run (the same
//! for every start of the run, so a restarted gateway reads what the first one wrote).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use rand::RngCore as _;
use simulators::wechat::WechatSim;

use crate::backends::Fresh;
use crate::process::{self, READY_LIMIT, Running};

/// How to start the run's gateway.
pub struct GatewayCommand {
    binary: PathBuf,
    /// `APP_…` settings of every start.
    env: Vec<(&'static str, String)>,
    log: Option<PathBuf>,
}

/// A gateway that answered `GET /readyz`.
pub struct StartedGateway {
    pub process: Running,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The admin listener, `http://127.0.0.1:<port>`: `/readyz` and `/metrics`.
    pub admin_url: String,
    /// Spawn to the first 200 from `/readyz`.
    pub ready: Duration,
}

impl GatewayCommand {
    /// `binary` on the run's backends and `wechat`, its output appended to `log` (or discarded).
    pub fn new(
        binary: PathBuf,
        fresh: &Fresh,
        redis_url: &str,
        wechat: &WechatSim,
        log: Option<PathBuf>,
    ) -> Self {
        let env = vec![
            ("APP_DATABASE__URL", fresh.database_url.clone()),
            ("APP_REDIS__URL", redis_url.to_owned()),
            ("APP_REDIS__KEY_PREFIX", fresh.prefix.clone()),
            ("APP_WECHAT__BASE_URL", wechat.base_url()),
            ("APP_WECHAT__APP_ID", wechat.app_id().to_owned()),
            ("APP_WECHAT__APP_SECRET", wechat.app_secret().to_owned()),
            ("APP_CRYPTO__FIELD_KEY", random_key()),
            ("APP_CRYPTO__INDEX_KEY", random_key()),
            ("APP_SERVER__HOST", "127.0.0.1".to_owned()),
            // By default the provincial platform points nowhere and the catalogue is never synced
            // (a sync would also rewrite the bench's items); the benches that need the platform
            // (`licences`, `applications`) override these with their own simulator.
            ("APP_PROVINCE__BASE_URL", "http://127.0.0.1:9".to_owned()),
            ("APP_PROVINCE__APP_KEY", "unset".to_owned()),
            ("APP_PROVINCE__APP_SECRET", "unset".to_owned()),
            ("APP_PROVINCE__SYNC_INTERVAL_SECS", "0".to_owned()),
        ];
        Self { binary, env, log }
    }

    /// Where the gateway's output goes, for the report.
    pub fn log(&self) -> Option<&PathBuf> {
        self.log.as_ref()
    }

    /// Spawns `gateway serve` on a free port with `extra` settings on top of the run's, and
    /// waits for `/readyz`.
    pub async fn start(
        &self,
        http: &reqwest::Client,
        extra: &[(&str, String)],
    ) -> anyhow::Result<StartedGateway> {
        let port = process::free_port()?;
        let admin_port = process::free_port()?;
        let mut command = Command::new(&self.binary);
        command.arg("serve");
        // Only what is set here configures it: no APP_… or RUST_LOG of the caller's shell.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("APP_") {
                command.env_remove(name);
            }
        }
        command
            .env_remove("RUST_LOG")
            .env("APP_SERVER__PORT", port.to_string())
            .env("APP_ADMIN__PORT", admin_port.to_string());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        for (name, value) in extra {
            command.env(name, value);
        }
        let url = format!("http://127.0.0.1:{port}");
        let admin_url = format!("http://127.0.0.1:{admin_port}");
        let mut process = Running::spawn("gateway", command, self.log.as_deref())?;
        let ready = process
            .wait_ready(http, &format!("{admin_url}/readyz"), READY_LIMIT)
            .await?;
        Ok(StartedGateway {
            process,
            url,
            admin_url,
            ready,
        })
    }
}

/// Base64 of 32 random bytes, as the gateway's keys are.
fn random_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
