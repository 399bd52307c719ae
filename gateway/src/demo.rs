//! `gateway demo`: the embedded default. SQLite under the data folder, the in-process store, the
//! built-in WeChat and provincial-platform simulators, and keys generated once and kept beside
//! the database. On first start it also loads the 2026 working-day calendar, syncs the
//! simulator's catalogue and sets up the demo hall; restarts find them and leave them alone. For
//! a first run on any machine — never for production.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use simulators::province::{DEMO_HALL_CODE, LicenceSpec, Phase, ProvinceSim, ProvinceSimConfig};
use simulators::wechat::{WechatSim, WechatSimConfig};

use crate::configuration::{CryptoSettings, ProvinceSettings, Settings, WechatSettings};

/// Where the demo keeps its files and which ports it uses.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub host: String,
    pub port: u16,
    /// The admin listener's port (`/readyz`, `/metrics`), on loopback.
    pub admin_port: u16,
    pub wechat_sim_port: u16,
    pub province_sim_port: u16,
    /// Another database than `<data_dir>/demo.sqlite` (PostgreSQL, say).
    pub database_url: Option<String>,
    /// Redis instead of the in-process store, with this key prefix.
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
}

#[derive(Serialize, Deserialize)]
struct DemoKeys {
    field_key: String,
    index_key: String,
    /// Signs licence presentations; added to data folders made before licences existed.
    #[serde(default)]
    licence_key: Option<String>,
}

/// The resident ID number of the README's walk-through (a valid GB 11643 test number).
pub const DEMO_CITIZEN_ID_CARD_NO: &str = "11010519491231002X";

/// A running demo's parts: the settings for the gateway and the simulator it talks to.
pub struct Demo {
    pub settings: Settings,
    pub wechat: WechatSim,
    pub province: ProvinceSim,
    /// Where the data is, for the log (never the URL: it may carry a password).
    pub database: String,
    pub store: &'static str,
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
    let province = ProvinceSim::start(ProvinceSimConfig {
        port: options.province_sim_port,
        // The database outlives the simulator's memory: its case numbers must too, or a restart
        // hands out an sblsh an earlier application holds.
        sequence_file: Some(options.data_dir.join("province-sim-sequence")),
        ..ProvinceSimConfig::default()
    })
    .await
    .context("start the provincial platform simulator")?;
    // 一件事: the demo bundle 新生儿出生一件事 and its four items.
    province.add_demo_bundle().context("add the demo bundle")?;
    let sqlite = options.data_dir.join("demo.sqlite");
    let (database_url, database) = match &options.database_url {
        Some(url) => (url.clone(), "the database of --database-url".to_owned()),
        None => (
            format!("sqlite://{}?mode=rwc", sqlite.display()),
            format!("SQLite at {}", sqlite.display()),
        ),
    };
    let mut settings = Settings::embedded(
        database_url,
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
    if let Some(redis) = &options.redis_url {
        settings.redis.url = Some(SecretString::from(redis.clone()));
        settings
            .redis
            .key_prefix
            .clone_from(&options.redis_key_prefix);
    }
    register_templates(&wechat, &settings.notifications);
    if let Some(licence_key) = &keys.licence_key {
        settings.licences.signing_keys = vec![crate::configuration::SigningKeySettings {
            kid: "demo".into(),
            private_key: SecretString::from(licence_key.clone()),
        }];
    }
    // The README's citizen (张三) holds an identity card in the provincial licence library.
    province.add_licence(
        DEMO_CITIZEN_ID_CARD_NO,
        LicenceSpec::id_card("张三", DEMO_CITIZEN_ID_CARD_NO),
    );
    settings.server.host.clone_from(&options.host);
    settings.server.port = options.port;
    settings.admin.host = "127.0.0.1".into();
    settings.admin.port = options.admin_port;
    settings.applications.materials_dir = options.data_dir.join("materials").display().to_string();
    // Cases move on by themselves in the demo, and their events come back by callback.
    province.set_callback_url(Some(format!(
        "http://127.0.0.1:{}/callbacks/province/case-events",
        options.port
    )));
    province.set_auto_progress(Some(vec![
        (
            Duration::from_secs(5),
            Phase::PreAccepted,
            serde_json::json!({}),
        ),
        (
            Duration::from_secs(10),
            Phase::Accepted,
            serde_json::json!({}),
        ),
        (
            Duration::from_secs(20),
            Phase::InReview,
            serde_json::json!({ "step": "审查" }),
        ),
        (
            Duration::from_secs(30),
            Phase::Concluded,
            serde_json::json!({ "result": "6", "licenceIds": [] }),
        ),
    ]));
    settings.province = ProvinceSettings {
        base_url: province.base_url(),
        app_key: province.app_key().to_owned(),
        app_secret: SecretString::from(province.app_secret().to_owned()),
        timeout_ms: 5000,
        max_attempts: 3,
        breaker_failures: 5,
        breaker_cooldown_secs: 10,
        sync_interval_secs: 3600,
        callback_app_key: province.callback_app_key().to_owned(),
        callback_app_secret: Some(SecretString::from(
            province.callback_app_secret().to_owned(),
        )),
    };
    let store = if options.redis_url.is_some() {
        "Redis"
    } else {
        "in-process store"
    };
    Ok(Demo {
        settings,
        wechat,
        province,
        database,
        store,
    })
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

/// The demo's WeChat simulator, told of each consent the mini-program reports, as WeChat
/// learns it from the citizen's tap: a reported accept is enough for a message to arrive.
pub fn consent_echo(sim: &WechatSim) -> std::sync::Arc<dyn services::notify::ConsentEcho> {
    struct Echo(WechatSim);
    impl services::notify::ConsentEcho for Echo {
        fn accepted(&self, openid: &str, template_id: &str) {
            self.0.grant_consent(openid, template_id, 1);
        }
    }
    std::sync::Arc::new(Echo(sim.clone()))
}

/// The demo's staff admin, `admin`, with a password everyone can read in this file.
pub const DEMO_ADMIN_USERNAME: &str = "admin";
pub const DEMO_ADMIN_PASSWORD: &str = "demo-admin-password";

/// Creates the demo's admin of every hall unless the username exists; says loudly which
/// credentials the demo uses either way.
///
/// # Errors
/// The database is unreachable.
pub async fn ensure_demo_admin(db: sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use services::staff::{CreateStaffError, HallScope, Role};

    let staff = crate::startup::offline_staff_service(db);
    match staff
        .create(
            DEMO_ADMIN_USERNAME,
            SecretString::from(DEMO_ADMIN_PASSWORD),
            "演示管理员",
            vec![(Role::Admin, HallScope::All)],
        )
        .await
    {
        Ok(_) | Err(CreateStaffError::UsernameTaken) => {}
        Err(e) => return Err(anyhow::Error::new(e).context("create the demo admin")),
    }
    tracing::warn!(
        "DEMO MODE — staff admin of every hall: username `{DEMO_ADMIN_USERNAME}`, password `{DEMO_ADMIN_PASSWORD}` (demo credentials; POST /staff/v1/auth/login)"
    );
    Ok(())
}

fn load_or_create_keys(path: &Path) -> anyhow::Result<DemoKeys> {
    let key = || {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    };
    if let Ok(bytes) = std::fs::read(path) {
        let mut keys: DemoKeys =
            serde_json::from_slice(&bytes).with_context(|| format!("read {}", path.display()))?;
        if keys.licence_key.is_some() {
            return Ok(keys);
        }
        keys.licence_key = Some(key());
        std::fs::write(path, serde_json::to_vec_pretty(&keys)?)
            .with_context(|| format!("write {}", path.display()))?;
        return Ok(keys);
    }
    let keys = DemoKeys {
        field_key: key(),
        index_key: key(),
        licence_key: Some(key()),
    };
    std::fs::write(path, serde_json::to_vec_pretty(&keys)?)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(keys)
}

/// Loads the demo data a first start needs: the 2026 working-day calendar, the simulator's
/// catalogue, and the demo hall [`DEMO_HALL_CODE`] (杭州市民中心) with its hours, categories,
/// counters and items. Each part is skipped when it is there already, so restarts keep what an
/// administrator changed since. Runs before the gateway is built, so that no cache of the
/// gateway's holds the calendar as it was before.
///
/// # Errors
/// The database is unreachable, a migration fails, or the simulator does not answer.
pub async fn seed_demo_data(settings: &Settings) -> anyhow::Result<()> {
    use std::sync::Arc;

    use services::calendar::{CalendarStore, DEMO_2026, DEMO_2027};
    use services::catalogue::CatalogueService;
    use services::province::ProvinceClient;
    use services::store::MemoryStore;

    let db = crate::startup::connect_database(&settings.database).await?;
    crate::startup::migrate_up(&db).await?;
    let province = &settings.province;
    // 2027 is the demo's assumption until the notice is loaded (see `DEMO_2027`).
    let calendar = CalendarStore::new(db.clone());
    for (year, text) in [(2026, DEMO_2026), (2027, DEMO_2027)] {
        if calendar
            .seed(text)
            .await
            .with_context(|| format!("seed the {year} calendar"))?
        {
            tracing::info!(year, "demo: loaded a working-day calendar year");
        }
    }
    let catalogue = CatalogueService::new(db.clone(), Arc::new(MemoryStore::new("demo-seed:")));
    let client = ProvinceClient::new(province.client_config())?;
    let report = catalogue
        .sync(&client, false)
        .await
        .context("sync the demo catalogue")?;
    tracing::info!(fetched = report.fetched, "demo: catalogue synced");
    let hall_id = ensure_demo_hall(&db).await?;
    map_demo_items(&db, &catalogue, hall_id).await?;
    db.close().await.context("close the seeding connection")
}

/// The demo hall's category codes, names and prefixes.
const DEMO_CATEGORIES: [(&str, &str); 3] = [("A", "综合受理"), ("B", "公安户政"), ("C", "不动产")];

async fn ensure_demo_hall(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    use chrono::Weekday;
    use services::halls::{
        CategoryInput, CounterInput, DayHours, HallCode, HallRules, HallService, NewHall, Text,
        WeeklyHours,
    };

    let halls = HallService::new(db.clone());
    if let Some(id) = halls.id_by_code(DEMO_HALL_CODE).await? {
        return Ok(id);
    }
    let hall = halls
        .create(NewHall {
            code: HallCode::parse(DEMO_HALL_CODE)?,
            name: Text::parse("name", "杭州市民中心", 100)?,
            address: Text::parse("address", "浙江省杭州市上城区解放东路18号市民中心", 200)?,
            rules: HallRules::default().validate()?,
        })
        .await
        .context("create the demo hall")?;
    let id = hall.hall.id;
    let day = DayHours::parse("demo", "09:00", "17:00", Some("12:00"), Some("13:30"))?;
    let week = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ]
    .into_iter()
    .map(|w| (w, day))
    .collect();
    halls
        .set_hours(id, &WeeklyHours::new(week)?)
        .await
        .context("set the demo hall's hours")?;
    let mut categories = Vec::new();
    for (code, name) in DEMO_CATEGORIES {
        let category = halls
            .create_category(id, &CategoryInput::parse(code, name, code, None)?)
            .await
            .context("create a demo category")?;
        categories.push(category.id);
    }
    let [a, b, c] = categories[..] else {
        anyhow::bail!("the demo hall has {} categories", categories.len());
    };
    for (number, name, serves) in [
        (1, "1号窗口 综合受理", vec![(a, 2), (b, 1)]),
        (2, "2号窗口 公安户政", vec![(b, 2), (a, 1)]),
        (3, "3号窗口 不动产登记", vec![(c, 2), (a, 1)]),
    ] {
        halls
            .create_counter(id, &CounterInput::parse(number, name, true, &serves)?)
            .await
            .context("create a demo counter")?;
    }
    tracing::info!(hall = DEMO_HALL_CODE, "demo: hall created");
    Ok(id)
}

/// Maps each catalogue item naming the demo hall that is not mapped yet: the demo bundle's items
/// to 综合受理 (its 无差别综合窗口, so the hall offers the bundle as one booking), police items to
/// 公安户政, land items to 不动产, the rest to 综合受理.
async fn map_demo_items(
    db: &sea_orm::DatabaseConnection,
    catalogue: &services::catalogue::CatalogueService,
    hall_id: i64,
) -> anyhow::Result<()> {
    use services::halls::HallService;

    let halls = HallService::new(db.clone());
    let detail = halls
        .detail(hall_id, services::time::Clock::system().now().date_naive())
        .await?
        .context("the demo hall is gone")?;
    let category = |code: &str| {
        detail
            .categories
            .iter()
            .find(|c| c.code == code)
            .map(|c| c.id)
    };
    let mapped: std::collections::BTreeSet<&str> =
        detail.items.iter().map(|i| i.item_code.as_str()).collect();
    let bundle_items: std::collections::BTreeSet<String> =
        simulators::province::demo_bundle_items()
            .iter()
            .filter_map(|i| i["itemCode"].as_str().map(str::to_owned))
            .collect();
    let mut count = 0;
    for (item_code, department) in catalogue.items_at_hall(DEMO_HALL_CODE).await? {
        if mapped.contains(item_code.as_str()) {
            continue;
        }
        let code = if bundle_items.contains(&item_code) {
            "A"
        } else if department.contains("公安") {
            "B"
        } else if department.contains("自然资源") || department.contains("不动产") {
            "C"
        } else {
            "A"
        };
        let Some(category_id) = category(code).or_else(|| category("A")) else {
            tracing::warn!("demo: the demo hall has no category {code}; items left unmapped");
            return Ok(());
        };
        halls
            .map_item(hall_id, &item_code, category_id)
            .await
            .context("map a demo item")?;
        count += 1;
    }
    if count > 0 {
        tracing::info!(count, "demo: items mapped to the demo hall's categories");
    }
    Ok(())
}
