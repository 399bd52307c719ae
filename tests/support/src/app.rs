//! Starting the real gateway for a test: a fresh database (a unique SQLite file, or a uniquely
//! named PostgreSQL database dropped afterwards), the chosen store, and the WeChat simulator.
//!
//! `APP_TEST_DATABASE_URL` (a PostgreSQL URL whose user may create databases) and
//! `APP_TEST_REDIS_URL` switch the suite to PostgreSQL and Redis. When they are set and the
//! servers cannot be reached, tests fail: they never skip.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use gateway::configuration::{CryptoSettings, LogFormat, Settings, WechatSettings};
use gateway::startup::{Application, Overrides};
use miniprogram_api::auth::LoginResponse;
use miniprogram_api::me::{BindIdentityRequest, VerificationStarted};
use rand::RngCore as _;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, Database};
use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::admin::Admin;
use crate::api::{Api, Reply};
use services::store::{MemoryStore, Store};
use services::time::Clock;
use simulators::wechat::{WechatSim, WechatSimConfig};

// ---------------------------------------------------------------------------------------------
// Captured logs: every line the gateways of this test binary write, in the production format.

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber =
            gateway::telemetry::subscriber(LogFormat::Json, "info,sqlx=warn", move || {
                writer.clone()
            });
        tracing::subscriber::set_global_default(subscriber).expect("install the log capture");
        capture
    })
}

/// Everything logged so far by every gateway in this test binary.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&capture().0.lock().unwrap()).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Databases.

enum Database_ {
    Sqlite { path: PathBuf },
    Postgres { admin_url: String, name: String },
}

/// A database for one test; dropped (file deleted, database dropped) with the last app using it.
pub struct TestDatabase {
    kind: Database_,
    pub url: String,
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("APP_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

pub fn redis_url() -> Option<String> {
    std::env::var("APP_TEST_REDIS_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// `APP_TEST_REDIS_CLUSTER_URLS` (comma-separated nodes): the suite on a Redis Cluster
/// instead, its store and every gateway instance's.
pub fn redis_cluster_urls() -> Option<Vec<String>> {
    std::env::var("APP_TEST_REDIS_CLUSTER_URLS")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(|u| u.trim().to_owned()).collect())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match postgres_admin_url() {
            Some(admin_url) => {
                let name = format!("zsb_test_{id}");
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("APP_TEST_DATABASE_URL is set but PostgreSQL cannot be reached");
                admin
                    .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
                    .await
                    .expect("create the test database");
                admin.close().await.ok();
                let url = with_database(&admin_url, &name);
                TestDatabase {
                    kind: Database_::Postgres { admin_url, name },
                    url,
                }
            }
            None => {
                let dir = std::env::temp_dir().join("zsb-tests");
                std::fs::create_dir_all(&dir).expect("create the SQLite test folder");
                let path = dir.join(format!("{id}.sqlite"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                TestDatabase {
                    kind: Database_::Sqlite { path },
                    url,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.kind {
            Database_::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Database_::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: do the async work on a thread of its own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async {
                        let admin = Database::connect(&admin_url).await?;
                        admin
                            .execute_unprepared(&format!(
                                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                            ))
                            .await?;
                        admin.close().await?;
                        anyhow::Ok(())
                    })
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop a test database");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The application under test.

/// One running gateway.
pub struct TestApp {
    /// The public listener, spoken to over HTTP (`app.post(…)`, `app.http`, `app.address`).
    pub api: Api,
    /// The admin listener (`/readyz`, `/metrics`): `http://127.0.0.1:<port>`.
    pub admin_address: String,
    pub wechat: WechatSim,
    /// Keeps the database alive while any instance uses it.
    _db: Arc<TestDatabase>,
    pub store: Arc<dyn Store>,
    /// The notification service of this instance: stands in for the capabilities (bookings,
    /// queues, cases) that will notify citizens of their own changes.
    pub notifications: services::notify::Notifications,
    pub db: sea_orm::DatabaseConnection,
    /// The domain's clock, shared by every instance of the deployment: tests move it.
    pub clock: Clock,
    /// This instance's booking service: for what has no route yet (a hall closing a day) and
    /// for running the booking worker's round by hand.
    pub booking: services::booking::BookingService,
    /// This instance's application service: for driving the forwarder and reconciler by hand.
    pub applications: services::applications::ApplicationService,
    /// This instance's queue service: for running the end-of-day sweep by hand.
    pub queue: services::queue::QueueService,
    /// This instance's evaluation service: for running its worker's tasks by hand.
    pub evaluations: services::evaluations::EvaluationService,
    admin: Arc<OnceCell<String>>,
    handle: actix_web::dev::ServerHandle,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl std::ops::DerefMut for TestApp {
    fn deref_mut(&mut self) -> &mut Api {
        &mut self.api
    }
}

/// A citizen logged in through the real flow.
#[derive(Debug, Clone)]
pub struct Citizen {
    pub openid: String,
    pub token: String,
    /// The answer to the login, as the wire types it.
    pub login: LoginResponse,
}

fn random_key() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Parts shared by instances of one deployment.
pub struct Deployment {
    pub db: Arc<TestDatabase>,
    pub wechat: WechatSim,
    pub store: Arc<dyn Store>,
    pub crypto: CryptoSettings,
    /// One clock for every instance: moving it moves them all.
    pub clock: Clock,
    prefix: String,
    /// The deployment's global administrator, bootstrapped on first use (see [`TestApp::admin`]).
    admin: Arc<OnceCell<String>>,
}

impl Deployment {
    pub async fn new() -> Deployment {
        capture();
        let db = Arc::new(TestDatabase::create().await);
        let wechat = WechatSim::start(WechatSimConfig::default())
            .await
            .expect("start the WeChat simulator");
        let prefix = format!("zsb-test-{}:", uuid::Uuid::new_v4().simple());
        let notifications = Settings::default_notifications().expect("default notifications");
        gateway::demo::register_templates(&wechat, &notifications);
        let store: Arc<dyn Store> = match (redis_cluster_urls(), redis_url()) {
            (Some(urls), _) => Arc::new(
                services::store::RedisStore::connect_cluster(&urls, prefix.clone())
                    .await
                    .expect("APP_TEST_REDIS_CLUSTER_URLS is set but the cluster cannot be reached"),
            ),
            (None, Some(url)) => Arc::new(
                services::store::RedisStore::connect(&url, prefix.clone())
                    .await
                    .expect("APP_TEST_REDIS_URL is set but Redis cannot be reached"),
            ),
            (None, None) => Arc::new(MemoryStore::new(prefix.clone())),
        };
        Deployment {
            db,
            wechat,
            store,
            crypto: CryptoSettings {
                field_key: random_key(),
                previous_field_keys: Vec::new(),
                index_key: random_key(),
            },
            clock: Clock::system(),
            prefix,
            admin: Arc::default(),
        }
    }

    pub fn settings(&self) -> Settings {
        let mut settings = Settings::embedded(
            self.db.url.clone(),
            WechatSettings {
                base_url: self.wechat.base_url(),
                app_id: self.wechat.app_id().to_owned(),
                app_secret: SecretString::from(self.wechat.app_secret().to_owned()),
                timeout_ms: 2000,
                max_attempts: 3,
            },
            self.crypto.clone(),
        )
        .expect("embedded settings");
        settings.server.host = "127.0.0.1".into();
        settings.server.port = 0;
        settings.admin.host = "127.0.0.1".into();
        settings.admin.port = 0;
        settings.server.workers = 2;
        settings.server.shutdown_timeout_secs = 1;
        settings.database.max_connections = 10;
        settings.redis.key_prefix.clone_from(&self.prefix);
        // One materials directory per deployment, shared by its instances.
        settings.applications.materials_dir = std::env::temp_dir()
            .join("zsb-tests")
            .join(format!("materials-{}", self.prefix.trim_end_matches(':')))
            .display()
            .to_string();
        settings.applications.worker_interval_ms = 50;
        settings.applications.retry_base_ms = 50;
        settings.applications.retry_cap_secs = 1;
        if let Some(urls) = redis_cluster_urls() {
            settings.redis.cluster_urls = urls.into_iter().map(SecretString::from).collect();
        } else if let Some(url) = redis_url() {
            settings.redis.url = Some(SecretString::from(url));
        }
        settings
    }

    /// Starts one gateway instance of this deployment.
    pub async fn instance(&self, customize: impl FnOnce(&mut Settings)) -> TestApp {
        self.instance_with(customize, |_| {}).await
    }

    /// Starts one gateway instance of this deployment, with parts handed in (`overrides`).
    pub async fn instance_with(
        &self,
        customize: impl FnOnce(&mut Settings),
        overrides: impl FnOnce(&mut Overrides),
    ) -> TestApp {
        let mut settings = self.settings();
        customize(&mut settings);
        let mut parts = Overrides {
            // Instances of one deployment share one store: the same Redis prefix, or the
            // same in-process store standing in for it.
            store: Some(Arc::clone(&self.store)),
            clock: Some(self.clock.clone()),
            ..Overrides::default()
        };
        overrides(&mut parts);
        let app = Application::build_with(settings, parts)
            .await
            .expect("build the gateway");
        let address = format!("http://127.0.0.1:{}", app.port());
        let admin_address = format!("http://127.0.0.1:{}", app.admin_port());
        let handle = app.handle();
        let notifications = app.notifications();
        let db = app.db();
        let booking = app.booking();
        let applications = app.applications();
        let queue = app.queue();
        let evaluations = app.evaluations();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            api: Api::new(address),
            admin_address,
            wechat: self.wechat.clone(),
            _db: Arc::clone(&self.db),
            store: Arc::clone(&self.store),
            notifications,
            db,
            clock: self.clock.clone(),
            booking,
            applications,
            queue,
            evaluations,
            admin: Arc::clone(&self.admin),
            handle,
        }
    }
}

impl TestApp {
    /// Stops this instance (its server and workers) as a deployment's restart would.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
        // The forwarder stops after the server; give it its moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
        Deployment::new().await.instance(customize).await
    }

    /// `GET` on the admin listener (`/readyz`, `/metrics`).
    pub async fn admin_get(&self, path: &str) -> Reply {
        self.send(self.http.get(format!("{}{path}", self.admin_address)))
            .await
    }

    /// Logs in a new citizen through the real flow.
    pub async fn login(&self) -> Citizen {
        let openid = self.wechat.new_openid();
        self.login_as(&openid).await
    }

    pub async fn login_as(&self, openid: &str) -> Citizen {
        let reply = self.login_code(&self.wechat.mint_login_code(openid)).await;
        assert_eq!(reply.status, StatusCode::OK, "login: {reply:?}");
        let login: LoginResponse = reply.json();
        Citizen {
            openid: openid.to_owned(),
            token: login.token.clone(),
            login,
        }
    }
}

/// The username of every deployment's bootstrapped administrator.
pub const ADMIN: &str = "fixture-admin";

impl TestApp {
    /// The deployment's global administrator, logged in. The first call creates the account in
    /// the database, as `gateway create-staff` bootstraps a deployment's first administrator
    /// (no route can: every staff route needs an administrator already); everything else a
    /// fixture makes goes through the admin API with this token.
    pub async fn admin(&self) -> Admin {
        self.admin
            .get_or_init(|| async {
                gateway::startup::offline_staff_service(self.db.clone())
                    .create(
                        ADMIN,
                        SecretString::from(crate::admin::PASSWORD),
                        "测试管理员",
                        vec![(
                            services::staff::Role::Admin,
                            services::staff::HallScope::All,
                        )],
                    )
                    .await
                    .expect("bootstrap the administrator");
                ADMIN.to_owned()
            })
            .await;
        let login = self.staff_login(ADMIN, crate::admin::PASSWORD).await;
        Admin::new(self.api.clone(), login.token)
    }
}

/// `verify_ret` of a face that passed (reference/wechat.md §8).
pub const FACE_PASSED: i64 = 10000;

impl TestApp {
    /// Proves a real-name identity for the citizen the way the mini-program does: starts a face
    /// verification, lets the simulated `wx.requestFacialVerify` pass, completes it. Returns the
    /// reply of the step that answered last (the start's when it was refused).
    pub async fn verify_identity(&self, token: &str, name: &str, id_card_no: &str) -> Reply {
        self.verify_identity_with(token, name, id_card_no, FACE_PASSED)
            .await
    }

    /// As [`TestApp::verify_identity`], with the face verification coming to `verify_ret`.
    pub async fn verify_identity_with(
        &self,
        token: &str,
        name: &str,
        id_card_no: &str,
        verify_ret: i64,
    ) -> Reply {
        let started = self.start_verification(token, name, id_card_no).await;
        if started.status != StatusCode::CREATED {
            return started;
        }
        let started: VerificationStarted = started.json();
        assert!(self.wechat.set_face_result(&started.verify_id, verify_ret));
        self.complete_verification(token, &started.id).await
    }

    /// `POST /api/v1/me/identity/verifications`.
    pub async fn start_verification(&self, token: &str, name: &str, id_card_no: &str) -> Reply {
        self.post(
            "/api/v1/me/identity/verifications",
            Some(token),
            &BindIdentityRequest {
                name: name.to_owned(),
                id_card_no: id_card_no.to_owned(),
            },
        )
        .await
    }

    /// `POST /api/v1/me/identity/verifications/{id}/complete`.
    pub async fn complete_verification(&self, token: &str, id: &str) -> Reply {
        self.post(
            &format!("/api/v1/me/identity/verifications/{id}/complete"),
            Some(token),
            &serde_json::json!({}),
        )
        .await
    }
}

impl Citizen {
    /// The citizen's id in the gateway.
    pub fn id(&self) -> i64 {
        self.login.user.id
    }
}

/// Turns the citizen's bound identity into one as it was before face verification existed
/// (declared, never proven), as migration 000007 leaves every older binding.
///
/// Database access on purpose: no route un-proves an identity; this stands for data migrated
/// from before face verification.
pub async fn unverify(app: &TestApp, citizen: &Citizen) {
    app.db
        .execute_unprepared(&format!(
            "UPDATE citizens SET identity_verified_at = NULL WHERE id = {}",
            citizen.id()
        ))
        .await
        .expect("unverify the identity");
}

/// Logs a staff member in and returns their token.
pub async fn staff_token(app: &TestApp, username: &str, password: &str) -> String {
    app.staff_login(username, password).await.token
}

/// A valid resident ID number (GB 11643), distinct per `n`.
pub fn id_card_no(n: u32) -> String {
    let body = format!(
        "110105{:04}{:02}{:02}{:03}",
        1950 + n % 50,
        1 + n % 12,
        1 + n % 28,
        n % 1000
    );
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// For tests that count up to a per-minute limit: limits count in wall-clock minutes, so wait
/// out a minute that is about to end and every count under test falls in one minute.
pub async fn fresh_minute() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let left = 60_000 - now % 60_000;
    if left < 10_000 {
        tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap() + 50)).await;
    }
}

/// Points a gateway's settings at a provincial-platform simulator. The periodic catalogue sync
/// stays off: a test syncs when it says (`POST /staff/v1/catalogue/sync`).
pub fn use_province(settings: &mut Settings, sim: &simulators::province::ProvinceSim) {
    settings.province.base_url = sim.base_url();
    settings.province.app_key = sim.app_key().to_owned();
    settings.province.app_secret = SecretString::from(sim.app_secret().to_owned());
    settings.province.sync_interval_secs = 0;
    settings.province.callback_app_key = sim.callback_app_key().to_owned();
    settings.province.callback_app_secret =
        Some(SecretString::from(sim.callback_app_secret().to_owned()));
}
