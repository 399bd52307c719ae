//! `gateway`: serve, run the demo, manage the schema, or create a staff account.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gateway::configuration::{LogFormat, Settings};
#[cfg(feature = "demo")]
use gateway::demo::{self, DemoOptions};
use gateway::startup::{Application, connect_database};
use gateway::telemetry;
use sea_orm_migration::MigratorTrait as _;
use services::staff::{HallScope, Role};

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "The 掌上办 gateway: the API the WeChat mini-program talks to"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve with layered configuration: defaults, then --config FILE, then APP_… variables.
    Serve {
        /// A TOML file of settings (environment variables still override it).
        #[arg(long, env = "APP_CONFIG_FILE")]
        config: Option<PathBuf>,
    },
    /// The embedded default: SQLite under --data-dir, in-process store, simulated WeChat.
    #[cfg(feature = "demo")]
    Demo {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Port of the admin listener (`/readyz`, `/metrics`), on 127.0.0.1.
        #[arg(long, default_value_t = 8081)]
        admin_port: u16,
        /// Port of the built-in WeChat simulator (its test hooks are under /__sim/).
        #[arg(long, default_value_t = 9101)]
        wechat_sim_port: u16,
        /// Port of the built-in provincial-platform simulator (hooks under /__sim/).
        #[arg(long, default_value_t = 9102)]
        province_sim_port: u16,
        /// The demo on another database (`postgres://…`, which must exist) instead of SQLite
        /// under --data-dir: the SDK's tests run the demo on PostgreSQL + Redis this way.
        #[arg(long)]
        database_url: Option<String>,
        /// The demo on Redis instead of the in-process store.
        #[arg(long)]
        redis_url: Option<String>,
        /// With --redis-url: the prefix of every key, so runs can share one Redis.
        #[arg(long, default_value = "zsb:")]
        redis_key_prefix: String,
        /// With --session-window-secs: every session, a citizen's or a staff member's, may make
        /// this many requests per window instead of `sessions.requests_per_minute` and
        /// `staff.requests_per_minute` (600) a minute: a small budget meets the limit, and its
        /// end, within seconds (the SDK's 429 test); a large one lets every schemathesis case
        /// reach its handler.
        #[arg(long, requires = "session_window_secs", value_parser = clap::value_parser!(u64).range(1..))]
        session_requests: Option<u64>,
        /// The window --session-requests counts in, in seconds (aligned to the wall clock).
        #[arg(long, requires = "session_requests", value_parser = clap::value_parser!(u64).range(1..=3600))]
        session_window_secs: Option<u64>,
    },
    /// Sync the service catalogue from the provincial platform once, with the settings `serve`
    /// reads.
    SyncItems {
        #[arg(long, env = "APP_CONFIG_FILE")]
        config: Option<PathBuf>,
        /// Ask for every item, not only those changed since the last successful sync.
        #[arg(long)]
        full: bool,
    },
    /// Check a licence QR payload offline, as a third party does: its signature against the
    /// published keys, and its expiry. Exits 1 when it is invalid.
    VerifyQr {
        /// The JWKS: a file, or a URL such as https://<gateway>/.well-known/jwks.json.
        #[arg(long)]
        jwks: String,
        /// The scanned QR content.
        payload: String,
    },
    /// Print the OpenAPI document that `GET /openapi.json` serves (for code generators: the
    /// TypeScript SDK and the staff console generate their types from it).
    Openapi,
    /// Apply, revert or list database migrations (uses APP_DATABASE__URL).
    Migrate {
        #[arg(long, env = "APP_CONFIG_FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Create a staff account (the first admin, say). The password comes from APP_STAFF_PASSWORD
    /// or, when that is unset, from the first line of stdin; never from the command line.
    CreateStaff {
        #[arg(long, env = "APP_CONFIG_FILE")]
        config: Option<PathBuf>,
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// The code of the hall the role applies to; without it, every hall.
        #[arg(long)]
        hall: Option<String>,
        /// admin, clerk or verifier.
        #[arg(long, default_value = "admin")]
        role: Role,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last applied migration (or --steps of them).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            complain(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "gateway stopped with an error");
            complain(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Openapi => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{}", gateway::openapi::pretty()?) {
                // A closed stdout (`| head`) is the reader's choice, not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("write the document"),
            }
        }
        Command::Serve { config } => {
            let settings = Settings::load(config.as_deref())?;
            let _guard = telemetry::init(settings.log.format, &settings.log.filter)?;
            let demo_templates: Vec<&str> = settings
                .notifications
                .templates
                .values()
                .map(|t| t.id.as_str())
                .filter(|id| id.starts_with("demo-"))
                .collect();
            if !demo_templates.is_empty() {
                tracing::warn!(
                    ?demo_templates,
                    "subscribe-message templates still have the simulator's ids; set notifications.templates.<name>.id"
                );
            }
            let started = std::time::Instant::now();
            let app = Application::build(settings).await?;
            tracing::info!(
                port = app.port(),
                admin_port = app.admin_port(),
                ready_ms = started.elapsed().as_millis() as u64,
                "gateway ready"
            );
            app.run_until_stopped().await?;
            tracing::info!("gateway stopped");
            Ok(())
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            data_dir,
            host,
            port,
            admin_port,
            wechat_sim_port,
            province_sim_port,
            database_url,
            redis_url,
            redis_key_prefix,
            session_requests,
            session_window_secs,
        } => {
            let _guard = telemetry::init(LogFormat::Pretty, "info,sqlx=warn")?;
            let demo = demo::prepare(&DemoOptions {
                data_dir: data_dir.clone(),
                host,
                port,
                admin_port,
                wechat_sim_port,
                province_sim_port,
                database_url,
                redis_url,
                redis_key_prefix,
            })
            .await?;
            demo::seed_demo_data(&demo.settings).await?;
            let wechat_url = demo.wechat.base_url();
            let session_request_budget =
                session_requests
                    .zip(session_window_secs)
                    .map(|(max, secs)| services::limits::Quota {
                        max,
                        window: std::time::Duration::from_secs(secs),
                    });
            let app = Application::build_with(
                demo.settings,
                gateway::startup::Overrides {
                    consent_echo: Some(demo::consent_echo(&demo.wechat)),
                    session_request_budget,
                    ..gateway::startup::Overrides::default()
                },
            )
            .await?;
            if let Some(budget) = session_request_budget {
                tracing::warn!(
                    "DEMO MODE — a session may make {} requests per {} s (--session-requests)",
                    budget.max,
                    budget.window.as_secs()
                );
            }
            demo::ensure_demo_admin(app.db()).await?;
            tracing::warn!(
                "DEMO MODE — not for production: {}, {}, simulated WeChat at {wechat_url}, generated keys in {}",
                demo.database,
                demo.store,
                data_dir.join("demo-keys.json").display(),
            );
            tracing::warn!(
                "DEMO MODE — get a login code with: curl -s -X POST {wechat_url}/__sim/login-code -H 'content-type: application/json' -d '{{}}'"
            );
            tracing::warn!(
                "DEMO MODE — gateway at http://127.0.0.1:{}; readiness and metrics at http://127.0.0.1:{}/readyz and /metrics",
                app.port(),
                app.admin_port()
            );
            tracing::warn!(
                "DEMO MODE — simulated provincial platform at {}; demo hall {} (GET /api/v1/halls)",
                demo.province.base_url(),
                simulators::province::DEMO_HALL_CODE,
            );
            app.run_until_stopped().await?;
            demo.wechat.stop().await;
            demo.province.stop().await;
            Ok(())
        }
        Command::VerifyQr { jwks, payload } => {
            let jwks = gateway::verify_qr::load_jwks(&jwks).await?;
            let outcome = gateway::verify_qr::check(
                &payload,
                &jwks,
                services::time::Clock::system().now().timestamp(),
            );
            say(&outcome.report)?;
            if outcome.valid {
                Ok(())
            } else {
                anyhow::bail!("the payload is not valid")
            }
        }
        Command::CreateStaff {
            config,
            username,
            display_name,
            hall,
            role,
        } => {
            let settings = Settings::load_for_migrations(config.as_deref())?;
            let _guard = telemetry::init(LogFormat::Pretty, "warn")?;
            let password = staff_password()?;
            let db = connect_database(&settings).await?;
            if settings.migrate_on_start {
                gateway::startup::migrate_up(&db).await?;
            }
            let at = match &hall {
                Some(code) => HallScope::Hall(
                    services::halls::hall_id_by_code(&db, code)
                        .await?
                        .with_context(|| format!("no hall has the code `{code}`"))?,
                ),
                None => HallScope::All,
            };
            let staff = gateway::startup::offline_staff_service(db.clone());
            let id = staff
                .create(&username, password, &display_name, vec![(role, at)])
                .await
                .context("create the staff member")?;
            let scope = hall
                .as_ref()
                .map_or_else(|| "every hall".to_owned(), |h| format!("hall {h}"));
            let username = username.trim().to_ascii_lowercase();
            // The command line's actions join the staff audit trail too (issue 20, item 3).
            services::audit::AuditLog::new(db, services::time::Clock::system())
                .record(services::audit::Action {
                    actor: services::audit::Actor::CommandLine,
                    address: None,
                    method: "CLI".to_owned(),
                    route: "gateway create-staff".to_owned(),
                    path: format!("gateway create-staff --username {username}"),
                    status: 201,
                    request_id: None,
                    body: Some(
                        serde_json::json!({
                            "id": id,
                            "username": username,
                            "displayName": display_name,
                            "role": role.as_str(),
                            "hall": hall,
                        })
                        .to_string(),
                    ),
                })
                .await
                .context("record the new member in the audit log")?;
            say(&format!(
                "created staff member {id} ({username}): {role} of {scope}"
            ))?;
            Ok(())
        }
        Command::SyncItems { config, full } => {
            let settings = Settings::load(config.as_deref())?;
            let _guard = telemetry::init(LogFormat::Pretty, "info,sqlx=warn")?;
            let db = connect_database(&settings.database).await?;
            if settings.database.migrate_on_start {
                gateway::startup::migrate_up(&db).await?;
            }
            let (catalogue, client) = gateway::startup::offline_catalogue(&settings, db).await?;
            let report = catalogue
                .sync(&client, full)
                .await
                .context("sync the catalogue")?;
            say(&format!(
                "catalogue synced ({}): {} fetched, {} stored, {} skipped; the next sync starts from {}",
                if report.full { "full" } else { "changes only" },
                report.fetched,
                report.upserted,
                report.skipped,
                report
                    .watermark
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ))?;
            Ok(())
        }
        Command::Migrate { config, action } => {
            let settings = Settings::load_for_migrations(config.as_deref())?;
            let _guard = telemetry::init(LogFormat::Pretty, "info,sqlx=warn")?;
            let db = connect_database(&settings).await?;
            match action {
                MigrateAction::Up => gateway::startup::migrate_up(&db).await?,
                MigrateAction::Down { steps } => {
                    migrations::Migrator::down(&db, Some(steps)).await?
                }
                MigrateAction::Status => {
                    for m in migrations::Migrator::get_migration_with_status(&db).await? {
                        say(&format!("{:<40} {:?}", m.name(), m.status()))?;
                    }
                }
            }
            Ok(())
        }
    }
}

/// Prints a line of the command's output. A reader that went away (`gateway verify-qr … | head
/// -1`) is not an error: the command carries on quietly, as a CLI does, instead of panicking as
/// `println!` would on the broken pipe.
fn say(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("write to stdout"))
        }
        _ => Ok(()),
    }
}

/// A line on stderr; nothing, not a panic, when stderr is gone too.
fn complain(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The new staff member's password: `APP_STAFF_PASSWORD`, else the first line of stdin.
fn staff_password() -> anyhow::Result<secrecy::SecretString> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};

    if let Ok(password) = std::env::var("APP_STAFF_PASSWORD") {
        return Ok(password.into());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // No terminal control here to hide what is typed: prefer the variable or a pipe.
        let _ = write!(
            std::io::stderr(),
            "Password (10 to 128 characters; shown as typed): "
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("read the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!("no password: set APP_STAFF_PASSWORD or pipe it on stdin");
    }
    Ok(password.into())
}
