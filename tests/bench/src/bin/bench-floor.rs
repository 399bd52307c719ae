//! `bench-floor`: the floor the gateway is measured against — actix-web and exactly one Redis GET
//! per request, nothing else (no middleware, no logging, no parsing).
//!
//! `GET /floor` answers the bytes stored under `--key` with 200, or 404 when the key is missing.
//! It is built like the gateway: a tokio runtime, actix-web's default workers (one per core) and
//! one multiplexed Redis connection through a `ConnectionManager` with the gateway's timeouts, so
//! the difference between the two is what the gateway does on top.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use clap::Parser;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[derive(Parser)]
#[command(
    name = "bench-floor",
    about = "actix-web + one Redis GET per request, for `bench`"
)]
struct Cli {
    #[arg(long, env = "BENCH_FLOOR_HOST", default_value = "127.0.0.1")]
    host: String,
    #[arg(long, env = "BENCH_FLOOR_PORT", default_value_t = 8090)]
    port: u16,
    #[arg(
        long,
        env = "BENCH_FLOOR_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// The Redis key every request reads.
    #[arg(long, env = "BENCH_FLOOR_KEY")]
    key: String,
}

struct Floor {
    redis: ConnectionManager,
    key: String,
}

async fn floor(state: web::Data<Floor>) -> HttpResponse {
    let mut redis = state.redis.clone();
    match redis::cmd("GET")
        .arg(&state.key)
        .query_async::<Option<Vec<u8>>>(&mut redis)
        .await
    {
        Ok(Some(bytes)) => HttpResponse::Ok()
            .content_type("application/json")
            .body(bytes),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let client = redis::Client::open(cli.redis_url.as_str()).context("parse the Redis URL")?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2);
    let redis = ConnectionManager::new_with_config(client, config)
        .await
        .context("connect to Redis")?;
    let state = web::Data::new(Floor {
        redis,
        key: cli.key,
    });
    let listener = TcpListener::bind((cli.host.as_str(), cli.port))
        .with_context(|| format!("bind {}:{}", cli.host, cli.port))?;
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/floor", web::get().to(floor))
    })
    .listen(listener)
    .context("listen")?
    .run()
    .await
    .context("serve")
}
