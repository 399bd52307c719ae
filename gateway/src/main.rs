//! `gateway`: serve, run the demo, or manage the schema.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gateway::configuration::{LogFormat, Settings};
use gateway::demo::{self, DemoOptions};
use gateway::startup::{Application, connect_database};
use gateway::telemetry;
use sea_orm_migration::MigratorTrait as _;

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
    Demo {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Port of the built-in WeChat simulator (its test hooks are under /__sim/).
        #[arg(long, default_value_t = 9101)]
        wechat_sim_port: u16,
    },
    /// Apply, revert or list database migrations (uses APP_DATABASE__URL).
    Migrate {
        #[arg(long, env = "APP_CONFIG_FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: MigrateAction,
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
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "gateway stopped with an error");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
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
                ready_ms = started.elapsed().as_millis() as u64,
                "gateway ready"
            );
            app.run_until_stopped().await?;
            tracing::info!("gateway stopped");
            Ok(())
        }
        Command::Demo {
            data_dir,
            host,
            port,
            wechat_sim_port,
        } => {
            let _guard = telemetry::init(LogFormat::Pretty, "info,sqlx=warn")?;
            let demo = demo::prepare(&DemoOptions {
                data_dir: data_dir.clone(),
                host,
                port,
                wechat_sim_port,
            })
            .await?;
            let wechat_url = demo.wechat.base_url();
            let app = Application::build(demo.settings).await?;
            tracing::warn!(
                "DEMO MODE — not for production: SQLite at {}, in-process store, simulated WeChat at {wechat_url}, generated keys in {}",
                data_dir.join("demo.sqlite").display(),
                data_dir.join("demo-keys.json").display(),
            );
            tracing::warn!(
                "DEMO MODE — get a login code with: curl -s -X POST {wechat_url}/__sim/login-code -H 'content-type: application/json' -d '{{}}'"
            );
            tracing::warn!("DEMO MODE — gateway at http://127.0.0.1:{}", app.port());
            app.run_until_stopped().await?;
            demo.wechat.stop().await;
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
                        println!("{:<40} {:?}", m.name(), m.status());
                    }
                }
            }
            Ok(())
        }
    }
}
