//! `gateway demo`: the embedded default. SQLite under the data folder, the in-process store, the
//! built-in WeChat simulator, and keys generated once and kept beside the database. For a first
//! run on any machine — never for production.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use simulators::wechat::{WechatSim, WechatSimConfig};

use crate::configuration::{CryptoSettings, Settings, WechatSettings};

/// Where the demo keeps its files and which ports it uses.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub host: String,
    pub port: u16,
    pub wechat_sim_port: u16,
}

#[derive(Serialize, Deserialize)]
struct DemoKeys {
    field_key: String,
    index_key: String,
}

/// A running demo's parts: the settings for the gateway and the simulator it talks to.
pub struct Demo {
    pub settings: Settings,
    pub wechat: WechatSim,
}

/// Starts the simulators and prepares the gateway's settings.
///
/// # Errors
/// The data folder cannot be written, or a simulator port is taken.
pub async fn prepare(options: &DemoOptions) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("create {}", options.data_dir.display()))?;
    let keys = load_or_create_keys(&options.data_dir.join("demo-keys.json"))?;
    let wechat = WechatSim::start(WechatSimConfig {
        port: options.wechat_sim_port,
        ..WechatSimConfig::default()
    })
    .await
    .context("start the WeChat simulator")?;
    let database = options.data_dir.join("demo.sqlite");
    let mut settings = Settings::embedded(
        format!("sqlite://{}?mode=rwc", database.display()),
        WechatSettings {
            base_url: wechat.base_url(),
            app_id: wechat.app_id().to_owned(),
            app_secret: SecretString::from(wechat.app_secret().to_owned()),
            timeout_ms: 5000,
            max_attempts: 3,
        },
        CryptoSettings {
            field_key: SecretString::from(keys.field_key),
            previous_field_keys: Vec::new(),
            index_key: SecretString::from(keys.index_key),
        },
    )?;
    register_templates(&wechat, &settings.notifications);
    settings.server.host.clone_from(&options.host);
    settings.server.port = options.port;
    Ok(Demo { settings, wechat })
}

/// Tells the simulator which subscribe-message templates exist, with the fields the configured
/// kinds fill, as the mini-program's template library does in WeChat's console.
pub fn register_templates(sim: &WechatSim, config: &services::notify::NotifyConfig) {
    for (name, template) in &config.templates {
        let keys: std::collections::BTreeSet<&str> = config
            .kinds
            .values()
            .filter(|k| k.template.as_deref() == Some(name.as_str()))
            .flat_map(|k| k.data.keys().map(String::as_str))
            .collect();
        let keys: Vec<&str> = keys.into_iter().collect();
        sim.register_template(&template.id, &keys, template.long_term);
    }
}

fn load_or_create_keys(path: &Path) -> anyhow::Result<DemoKeys> {
    if let Ok(bytes) = std::fs::read(path) {
        return serde_json::from_slice(&bytes).with_context(|| format!("read {}", path.display()));
    }
    let key = || {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    };
    let keys = DemoKeys {
        field_key: key(),
        index_key: key(),
    };
    std::fs::write(path, serde_json::to_vec_pretty(&keys)?)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(keys)
}
