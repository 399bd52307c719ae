//! Building and running the gateway from its settings.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _, fn_service, map_config};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware::from_fn, web};
use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use miniprogram_api::ErrorCode;
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait as _;
use secrecy::ExposeSecret as _;
use services::Deps;
use services::applications::{ApplicationService, DirBlobStore};
use services::audit::AuditLog;
use services::booking::BookingService;
use services::calendar::CalendarStore;
use services::catalogue::{CatalogueService, SyncWorker};
use services::crypto::{BlindIndex, FieldCipher, KeyMaterial};
use services::halls::{CalendarView, HallService};
use services::identity::{IdentityService, LoginLimits, VerificationLimits};
use services::licences::LicenceService;
use services::limits::Quota;
use services::notify::Notifications;
use services::province::ProvinceClient;
use services::province::outbox::Forward as _;
use services::province::{Credentials, Verifier};
use services::queue::{QueueHub, QueueService};
use services::sessions::{SessionConfig, Sessions};
use services::staff::{StaffService, StaffSessionConfig};
use services::store::{MemoryStore, RedisStore, Store};
use services::time::Clock;
use services::wechat::{WechatClient, WechatConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::configuration::{CryptoSettings, DatabaseSettings, Settings};
use crate::error::ApiError;

/// What every handler can reach.
pub struct AppState {
    pub db: DatabaseConnection,
    pub store: Arc<dyn Store>,
    pub identity: IdentityService,
    pub staff: StaffService,
    pub notifications: Notifications,
    pub booking: BookingService,
    /// The working-day calendar; one cache for every capability of this instance.
    pub calendar: CalendarStore,
    pub calendar_view: CalendarView,
    pub halls: HallService,
    pub catalogue: CatalogueService,
    pub province: ProvinceClient,
    /// Electronic licences: display, presentations (亮证), verification.
    pub licences: LicenceService,
    /// Queue numbers (取号 / 叫号), and this instance's live-update listeners.
    pub queue: QueueService,
    pub queue_hub: QueueHub,
    /// Applications (申办): materials, submitting, forwarding, case events.
    pub applications: ApplicationService,
    pub bundles: services::bundles::BundleService,
    /// The operator's audit trail of staff actions (`crate::audit` records into it).
    pub audit: AuditLog,
    /// 好差评: ratings, rectifications, statistics.
    pub evaluations: services::evaluations::EvaluationService,
    /// Verifies the platform's signed callbacks.
    pub callbacks: Verifier,
    pub metrics: PrometheusHandle,
    pub trust_forwarded_for: bool,
    /// Requests slower than this are logged at info even when they succeed.
    pub slow_request: Duration,
}

/// A built gateway, listening, not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    /// The admin listener (`/readyz`, `/metrics`), stopped after the public server.
    admin_port: u16,
    admin: Server,
    notifications: Notifications,
    booking: BookingService,
    queue: QueueService,
    db: DatabaseConnection,
    worker: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    forwarder: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    bundle_forwarder: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    applications: ApplicationService,
    bundles: services::bundles::BundleService,
    evaluations: services::evaluations::EvaluationService,
    evaluation_workers: Option<(watch::Sender<bool>, Vec<JoinHandle<()>>)>,
    catalogue_sync: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

/// Optional parts a caller may hand in instead of having them built from the settings.
#[derive(Default)]
pub struct Overrides {
    /// Share one store between instances in one process (tests of several instances).
    pub store: Option<Arc<dyn Store>>,
    /// Serve on this listener instead of binding `server.host:server.port`.
    pub listener: Option<TcpListener>,
    /// Serve the admin routes on this listener instead of binding `admin.host:admin.port`.
    pub admin_listener: Option<TcpListener>,
    /// The domain's clock (tests move it; instances of one test share it).
    pub clock: Option<Clock>,
    /// Told of every consent a citizen reports: the demo's WeChat simulator (see
    /// `services::notify::ConsentEcho`). `None` in production.
    pub consent_echo: Option<Arc<dyn services::notify::ConsentEcho>>,
    /// Every session's request budget (citizen and staff) instead of `sessions.…` and
    /// `staff.requests_per_minute` a minute: `gateway demo --session-requests N
    /// --session-window-secs S`, for the SDK's test that a 429 is waited out in seconds and for
    /// schemathesis, whose every case must reach its handler. `None` everywhere else.
    pub session_request_budget: Option<Quota>,
}

impl Application {
    /// # Errors
    /// The database or the store cannot be reached, a migration fails, a key is malformed, or
    /// the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Overrides::default()).await
    }

    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with(settings: Settings, overrides: Overrides) -> anyhow::Result<Self> {
        let db = connect_database(&settings.database).await?;
        if settings.database.migrate_on_start {
            migrate_up(&db).await?;
        }
        let store = match overrides.store {
            Some(store) => store,
            None => build_store(&settings).await?,
        };
        let (cipher, index) = build_crypto(&settings.crypto)?;
        let evaluation_config = settings.evaluations.config()?;
        let clock = overrides.clock.unwrap_or_default();
        let wechat = WechatClient::new(
            WechatConfig {
                base_url: settings.wechat.base_url.clone(),
                app_id: settings.wechat.app_id.clone(),
                app_secret: settings.wechat.app_secret.clone(),
                timeout: settings.wechat.timeout(),
                max_attempts: settings.wechat.max_attempts.max(1),
            },
            Arc::clone(&store),
            clock.clone(),
        )?;
        let notifications = Notifications::new(
            db.clone(),
            Arc::clone(&store),
            wechat.clone(),
            clock.clone(),
            settings.notifications.clone(),
        )
        .context("notification configuration")?;
        if let Some(echo) = overrides.consent_echo {
            notifications.echo_consents_to(echo);
        }
        let province = ProvinceClient::new(settings.province.client_config())
            .context("province configuration")?;
        let deps = Deps {
            db: db.clone(),
            store: Arc::clone(&store),
            clock: clock.clone(),
            cipher: Arc::new(cipher),
            index: Arc::new(index),
            wechat: wechat.clone(),
            province: province.clone(),
            calendar: CalendarStore::new(db.clone()).with_clock(clock.clone()),
            notifications: notifications.clone(),
        };
        let calendar = deps.calendar.clone();
        let sessions = Sessions::new(
            Arc::clone(&store),
            SessionConfig {
                idle_ttl: Duration::from_secs(settings.sessions.idle_ttl_secs),
                absolute_ttl: Duration::from_secs(settings.sessions.absolute_ttl_secs),
                request_budget: overrides
                    .session_request_budget
                    .unwrap_or(Quota::per_minute(settings.sessions.requests_per_minute)),
            },
            // The system clock, as before: tests that move the domain clock by days keep
            // their sessions (see `StaffService::new`).
            Clock::system(),
        );
        let identity = IdentityService::new(
            &deps,
            sessions,
            LoginLimits {
                per_ip: Quota::per_minute(settings.limits.login_per_ip_per_minute),
                per_openid: Quota::per_minute(settings.limits.login_per_openid_per_minute),
            },
            VerificationLimits::per_day(
                settings.limits.face_verifications_per_citizen_per_day,
                settings.limits.face_verifications_per_id_card_per_day,
            ),
        )
        .with_family_limit(settings.family.max_members);
        let staff = StaffService::new(
            db.clone(),
            Arc::clone(&store),
            clock.clone(),
            StaffSessionConfig {
                idle_ttl: Duration::from_secs(settings.staff.idle_ttl_secs),
                absolute_ttl: Duration::from_secs(settings.staff.absolute_ttl_secs),
                request_budget: overrides
                    .session_request_budget
                    .unwrap_or(Quota::per_minute(settings.staff.requests_per_minute)),
            },
            settings.staff.login_limits(),
        );
        let catalogue =
            CatalogueService::new(db.clone(), Arc::clone(&store)).with_clock(clock.clone());
        let reminder_at =
            services::halls::TimeOfDay::parse("booking.reminder_at", &settings.booking.reminder_at)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
        let booking = BookingService::new(
            db.clone(),
            Arc::clone(&store),
            calendar.clone(),
            notifications.clone(),
            clock.clone(),
        )
        .with_reminder_minute(u32::try_from(reminder_at.minutes()).unwrap_or(18 * 60));
        let booking_worker = booking.worker();
        let queue = QueueService::new(
            db.clone(),
            Arc::clone(&store),
            calendar.clone(),
            notifications.clone(),
            clock.clone(),
        )
        // One cache of the halls' read models for every capability.
        .with_halls(booking.halls().clone());
        let licences = LicenceService::new(
            &deps,
            settings.licences.presentation_keys()?,
            services::licences::LicenceConfig {
                member_types: settings.family.licence_types.clone(),
                ..settings.licences.config()
            },
        );
        let blobs: Arc<dyn services::applications::BlobStore> =
            Arc::new(DirBlobStore::new(&settings.applications.materials_dir));
        let applications =
            ApplicationService::new(&deps, Arc::clone(&blobs), settings.applications.config());
        // 一件事 bundles: their parts are applications (province-api.md, "一件事 bundles").
        let bundles = services::bundles::BundleService::new(
            &deps,
            applications.clone(),
            blobs,
            settings.applications.config(),
        );
        let evaluations = services::evaluations::EvaluationService::new(&deps, evaluation_config);
        let callback_creds = settings
            .province
            .callback_app_secret
            .clone()
            .filter(|_| !settings.province.callback_app_key.trim().is_empty())
            .map(|secret| Credentials {
                app_key: settings.province.callback_app_key.clone(),
                app_secret: secret,
            });
        if callback_creds.is_none() {
            tracing::warn!(
                "no province callback key (APP_PROVINCE__CALLBACK_APP_KEY/SECRET): callbacks are refused, cases progress by polling only"
            );
        }
        let callbacks = Verifier::new(callback_creds, Arc::clone(&store));
        let state = web::Data::new(AppState {
            db: db.clone(),
            store,
            identity,
            staff,
            evaluations: evaluations.clone(),
            notifications: notifications.clone(),
            booking: booking.clone(),
            calendar_view: CalendarView::new(db.clone(), calendar.clone()),
            calendar,
            halls: HallService::new(db.clone())
                .with_clock(clock.clone())
                .with_directory(booking.halls().clone()),
            catalogue: catalogue.clone(),
            province: province.clone(),
            licences,
            queue_hub: queue.hub(),
            queue: queue.clone(),
            applications: applications.clone(),
            bundles: bundles.clone(),
            audit: AuditLog::new(db.clone(), clock),
            callbacks,
            metrics: metrics_handle(),
            trust_forwarded_for: settings.server.trust_forwarded_for,
            slow_request: Duration::from_millis(settings.log.slow_request_ms),
        });

        let listener = match overrides.listener {
            Some(listener) => listener,
            None => TcpListener::bind((settings.server.host.as_str(), settings.server.port))
                .with_context(|| {
                    format!("bind {}:{}", settings.server.host, settings.server.port)
                })?,
        };
        let port = listener.local_addr()?.port();
        let json_limit = settings.server.json_limit_bytes;
        let admin_state = state.clone();
        let local_addr = listener.local_addr()?;
        let mut server =
            actix_server::Server::build().shutdown_timeout(settings.server.shutdown_timeout_secs);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        // actix-server and actix-http directly rather than `HttpServer`, for one thing it cannot
        // do: wrap each connection, so that the answers actix-http gives on its own to a request
        // head that does not parse get the error shape too (`crate::malformed`).
        let server = server
            .listen("api", listener, move || {
                let app = App::new()
                    .wrap(from_fn(crate::middleware::observe))
                    .app_data(state.clone())
                    .app_data(json_config(json_limit))
                    .app_data(web::PathConfig::default().error_handler(|e, _| {
                        ApiError::new(ErrorCode::BadRequest)
                            .caused_by(anyhow::anyhow!("{e}"))
                            .into()
                    }))
                    .app_data(web::QueryConfig::default().error_handler(|e, _| {
                        ApiError::new(ErrorCode::BadRequest)
                            .caused_by(anyhow::anyhow!("{e}"))
                            .into()
                    }))
                    .configure(crate::routes::configure)
                    .default_service(web::to(|| async {
                        Err::<actix_web::HttpResponse, _>(ApiError::new(ErrorCode::NotFound))
                    }));
                // `HttpServer`'s defaults.
                let http = actix_http::HttpService::build()
                    .keep_alive(actix_http::KeepAlive::default())
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .h1_allow_half_closed(true)
                    .local_addr(local_addr)
                    .finish(map_config(
                        app.into_factory()
                            .map_err(|e: actix_web::Error| e.error_response()),
                        |()| actix_web::dev::AppConfig::default(),
                    ));
                fn_service(|io: tokio::net::TcpStream| async move {
                    let _ = io.set_nodelay(true);
                    let peer = io.peer_addr().ok();
                    Ok::<_, actix_http::error::DispatchError>((
                        crate::malformed::Shaped::new(io),
                        actix_http::Protocol::Http1,
                        peer,
                    ))
                })
                .and_then(http)
            })?
            .run();
        let admin_listener = match overrides.admin_listener {
            Some(listener) => listener,
            None => TcpListener::bind((settings.admin.host.as_str(), settings.admin.port))
                .with_context(|| {
                    format!(
                        "bind the admin listener {}:{}",
                        settings.admin.host, settings.admin.port
                    )
                })?,
        };
        let admin_port = admin_listener.local_addr()?.port();
        // One worker: probes and a scraper. No signals of its own: it stops after the public
        // server, so `/readyz` answers while in-flight requests finish.
        let admin = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(crate::middleware::observe))
                .app_data(admin_state.clone())
                .configure(crate::routes::configure_admin)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::new(ErrorCode::NotFound))
                }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(admin_listener)?
        .run();
        let sync_every = settings.province.sync_interval_secs;
        let catalogue_sync = (sync_every > 0).then(|| {
            let (stop, stopped) = watch::channel(false);
            let worker = SyncWorker::new(catalogue, province, Duration::from_secs(sync_every));
            (stop, tokio::spawn(supervise_sync(worker, stopped)))
        });
        let worker = settings.notifications.worker.then(|| {
            let (stop, stopped) = watch::channel(false);
            let every = Duration::from_secs(settings.booking.worker_interval_secs.max(1));
            tokio::spawn(booking_worker.run(every, stopped.clone()));
            tokio::spawn(close_past_days(queue.clone(), every, stopped.clone()));
            (
                stop,
                tokio::spawn(supervise(notifications.clone(), stopped)),
            )
        });
        let forwarder = settings.applications.worker.then(|| {
            let (stop, stopped) = watch::channel(false);
            let every = Duration::from_millis(settings.applications.worker_interval_ms.max(10));
            (
                stop,
                tokio::spawn(applications.forwarder().run(every, stopped)),
            )
        });
        let bundle_forwarder = settings.applications.worker.then(|| {
            let (stop, stopped) = watch::channel(false);
            let every = Duration::from_millis(settings.applications.worker_interval_ms.max(10));
            (stop, tokio::spawn(bundles.forwarder().run(every, stopped)))
        });
        let evaluation_workers = settings.evaluations.worker.then(|| {
            let (stop, stopped) = watch::channel(false);
            let every = Duration::from_millis(settings.evaluations.worker_interval_ms.max(10));
            (
                stop,
                vec![
                    tokio::spawn(evaluations.forwarder().run(every, stopped.clone())),
                    tokio::spawn(evaluations.worker().run(every, stopped)),
                ],
            )
        });
        tracing::info!(port, admin_port, "gateway listening");
        Ok(Self {
            port,
            server,
            admin_port,
            admin,
            notifications,
            booking,
            queue,
            db,
            worker,
            forwarder,
            bundle_forwarder,
            applications,
            bundles,
            evaluations,
            evaluation_workers,
            catalogue_sync,
        })
    }

    /// The notification service, for callers that notify outside a request (and for tests).
    pub fn notifications(&self) -> Notifications {
        self.notifications.clone()
    }

    /// The booking service, for callers outside a request (a hall closing a day before the
    /// staff route exists, a test running the booking worker's round by hand).
    pub fn booking(&self) -> BookingService {
        self.booking.clone()
    }

    /// The queue service, for callers outside a request (tests reading what HTTP cannot show).
    pub fn queue(&self) -> QueueService {
        self.queue.clone()
    }

    /// The application service, for callers outside a request (tests driving the forwarder).
    pub fn applications(&self) -> ApplicationService {
        self.applications.clone()
    }

    /// The bundle service, for callers outside a request (tests driving its forwarder).
    pub fn bundles(&self) -> services::bundles::BundleService {
        self.bundles.clone()
    }

    /// The evaluation service, for callers outside a request (tests running the worker).
    pub fn evaluations(&self) -> services::evaluations::EvaluationService {
        self.evaluations.clone()
    }

    /// The database connection pool.
    pub fn db(&self) -> DatabaseConnection {
        self.db.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the admin listener (`/readyz`, `/metrics`).
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// A handle to stop the server (graceful by default).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped. SIGTERM stops it gracefully (in-flight requests finish within
    /// `server.shutdown_timeout_secs`, the notification worker finishes its batch); SIGINT
    /// (Ctrl-C) stops at once, as actix-server does.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let admin_handle = self.admin.handle();
        let admin = tokio::spawn(self.admin);
        let served = self.server.await;
        admin_handle.stop(true).await;
        if let Ok(Err(e)) = admin.await {
            tracing::warn!(error = %e, "the admin listener stopped with an error");
        }
        if let Some((stop, sync)) = self.catalogue_sync {
            let _ = stop.send(true);
            // A sync in flight is safe to cut: it upserts, and its watermark is not recorded.
            if tokio::time::timeout(Duration::from_secs(5), sync)
                .await
                .is_err()
            {
                tracing::warn!("catalogue sync did not stop in time");
            }
        }
        if let Some((stop, forwarder)) = self.forwarder {
            // A send in flight finishes or its lease returns it; either way nothing is lost.
            let _ = stop.send(true);
            if tokio::time::timeout(Duration::from_secs(10), forwarder)
                .await
                .is_err()
            {
                tracing::warn!("application forwarder did not stop in time");
            }
        }
        if let Some((stop, forwarder)) = self.bundle_forwarder {
            // As the application forwarder: a send in flight finishes or its lease returns it.
            let _ = stop.send(true);
            if tokio::time::timeout(Duration::from_secs(10), forwarder)
                .await
                .is_err()
            {
                tracing::warn!("bundle forwarder did not stop in time");
            }
        }
        if let Some((stop, workers)) = self.evaluation_workers {
            // A send in flight finishes or its lease returns it; a default is one transaction.
            let _ = stop.send(true);
            for worker in workers {
                if tokio::time::timeout(Duration::from_secs(10), worker)
                    .await
                    .is_err()
                {
                    tracing::warn!("an evaluation worker did not stop in time");
                }
            }
        }
        if let Some((stop, worker)) = self.worker {
            // The worker finishes the batch in hand, so nothing is left claimed.
            let _ = stop.send(true);
            if tokio::time::timeout(Duration::from_secs(15), worker)
                .await
                .is_err()
            {
                tracing::warn!("notification worker did not stop in time");
            }
        }
        served
    }
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _| {
            use actix_web::error::JsonPayloadError as E;
            let api = match &err {
                E::Overflow { .. } | E::OverflowKnownLength { .. } => {
                    ApiError::new(ErrorCode::PayloadTooLarge)
                }
                E::ContentType => ApiError::new(ErrorCode::UnsupportedMediaType)
                    .with_message("请以 application/json 格式提交"),
                _ => ApiError::new(ErrorCode::InvalidJson),
            };
            // serde's own text quotes the offending value (an ID number sent as a number,
            // say): neither the citizen nor the log gets it, only where it went wrong.
            let cause = match &err {
                E::Deserialize(e) => anyhow::anyhow!(
                    "JSON body refused ({:?} error at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
                other => anyhow::anyhow!("{other}"),
            };
            api.caused_by(cause).into()
        })
}

/// Runs the notification worker, and starts it again should it ever panic: a dead worker
/// would leave every notification undelivered while the gateway looks healthy.
async fn supervise(notifications: Notifications, stop: watch::Receiver<bool>) {
    loop {
        let run = tokio::spawn(notifications.worker().run(stop.clone()));
        match run.await {
            Ok(()) => return,
            Err(e) => {
                metrics::counter!("worker_restarts_total", "worker" => "notifications")
                    .increment(1);
                tracing::error!(error = %e, "notification worker died; restarting it in 1 s");
                if *stop.borrow() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Runs the catalogue sync worker, and starts it again should it ever panic.
async fn supervise_sync(worker: SyncWorker, stop: watch::Receiver<bool>) {
    let worker = Arc::new(worker);
    loop {
        let run = tokio::spawn({
            let worker = Arc::clone(&worker);
            let stop = stop.clone();
            async move { worker.run(stop).await }
        });
        match run.await {
            Ok(()) => return,
            Err(e) => {
                metrics::counter!("worker_restarts_total", "worker" => "catalogue").increment(1);
                tracing::error!(error = %e, "catalogue sync worker died; restarting it in 1 s");
                if *stop.borrow() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The catalogue and the province client outside a server (`gateway sync-items`): the sync
/// lock lives in Redis when one is configured, so it holds against running gateways too.
///
/// # Errors
/// The store cannot be reached, or the province settings are unusable.
pub async fn offline_catalogue(
    settings: &Settings,
    db: DatabaseConnection,
) -> anyhow::Result<(CatalogueService, ProvinceClient)> {
    let store = build_store(settings).await?;
    let client =
        ProvinceClient::new(settings.province.client_config()).context("province configuration")?;
    Ok((CatalogueService::new(db, store), client))
}

/// The staff service outside a server (`gateway create-staff`, the demo's admin): it opens no
/// session there, so an in-process store serves.
pub fn offline_staff_service(db: DatabaseConnection) -> StaffService {
    let defaults = crate::configuration::StaffSettings::default();
    StaffService::new(
        db,
        Arc::new(MemoryStore::new("offline:")),
        Clock::system(),
        StaffSessionConfig {
            idle_ttl: Duration::from_secs(defaults.idle_ttl_secs),
            absolute_ttl: Duration::from_secs(defaults.absolute_ttl_secs),
            request_budget: Quota::per_minute(defaults.requests_per_minute),
        },
        defaults.login_limits(),
    )
}

/// Applies pending migrations, in one transaction that holds the database's migration lock:
/// instances starting together on a fresh database take turns instead of racing on
/// `CREATE TABLE`, and the later ones find nothing left to do. On PostgreSQL the lock is an
/// advisory lock; on SQLite it is the file's one write lock, taken at `BEGIN IMMEDIATE`
/// ([`services::db::write`]) and waited for under the pool's busy timeout.
///
/// # Errors
/// A migration fails (nothing of it stays applied), or the lock was not free in time.
pub async fn migrate_up(db: &DatabaseConnection) -> anyhow::Result<()> {
    let txn = services::db::write(db)
        .await
        .context("begin the migration transaction")?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // The key is arbitrary but fixed: "zsb-migrations".
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7263541001)")
            .await
            .context("take the migration lock")?;
    }
    migrations::Migrator::up(&txn, None)
        .await
        .context("apply database migrations")?;
    txn.commit().await.context("commit the migrations")
}

/// Connects to PostgreSQL or SQLite, by the URL's scheme.
///
/// # Errors
/// The database cannot be reached, or the SQLite file's folder cannot be created.
pub async fn connect_database(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.url.expose_secret();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .context("connect to the database")?;
    if url.starts_with("sqlite:") {
        // WAL lets readers work while one writer writes; the pool's busy timeout waits for it.
        db.execute_unprepared("PRAGMA journal_mode=WAL;")
            .await
            .context("set SQLite journal mode")?;
    }
    Ok(db)
}

async fn build_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let prefix = settings.redis.key_prefix.clone();
    Ok(
        match (&settings.redis.url, &settings.redis.cluster_urls[..]) {
            (Some(_), [_, ..]) => {
                anyhow::bail!("set either redis.url or redis.cluster_urls, not both")
            }
            (None, urls @ [_, ..]) => {
                let urls: Vec<&str> = urls.iter().map(|u| u.expose_secret()).collect();
                let store = RedisStore::connect_cluster(&urls, prefix).await?;
                tracing::info!(prefix = %settings.redis.key_prefix, nodes = urls.len(), "store: Redis Cluster");
                Arc::new(store)
            }
            (Some(url), []) => {
                let store = RedisStore::connect(url.expose_secret(), prefix).await?;
                tracing::info!(prefix = %settings.redis.key_prefix, "store: Redis");
                Arc::new(store)
            }
            (None, []) => {
                tracing::warn!(
                    "store: in-process (no APP_REDIS__URL); run only one gateway instance"
                );
                Arc::new(MemoryStore::new(prefix))
            }
        },
    )
}

fn build_crypto(settings: &CryptoSettings) -> anyhow::Result<(FieldCipher, BlindIndex)> {
    let key = |name: &str, value: &secrecy::SecretString| {
        KeyMaterial::from_base64(value.expose_secret())
            .with_context(|| format!("{name} must be base64 of 32 bytes"))
    };
    let current = key("APP_CRYPTO__FIELD_KEY", &settings.field_key)?;
    let previous = settings
        .previous_field_keys
        .iter()
        .map(|k| key("APP_CRYPTO__PREVIOUS_FIELD_KEYS", k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let index = key("APP_CRYPTO__INDEX_KEY", &settings.index_key)?;
    Ok((FieldCipher::new(current, previous), BlindIndex::new(index)))
}

/// The process-wide Prometheus recorder, installed once (several apps may run in one test).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets_for_metric(
                Matcher::Suffix("duration_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ],
            ) {
                Ok(builder) => builder,
                Err(e) => {
                    tracing::warn!(error = %e, "default histogram buckets");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will miss ours");
            }
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}

/// Closes the tickets earlier days left open, every `every` until stopped (any number of
/// instances may run it: each close is a compare-and-set).
async fn close_past_days(queue: QueueService, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = queue.close_past_days().await {
            tracing::error!(error = ?e, "closing past days' tickets failed");
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
