//! `bench`: measurements that print their figures. Each subcommand starts the release gateway as
//! a child process on a fresh PostgreSQL database and Redis prefix and measures it from outside:
//! `me` loads it with wrk, and loads a bare "floor" server (actix-web and one Redis GET,
//! `bench-floor`) the same way in the same run, so the gateway's figures read as a fraction of
//! what this machine can do at all; `notify` times its notification delivery worker; `rush`
//! releases a day of a hall to thousands of citizens at once, checks the database afterwards,
//! and measures the booking against a bare floor (one PostgreSQL transaction) in the same run;
//! `licences` times electronic-licence presentations and verifications (with the province
//! simulator's live status call); `applications` times submissions, their forwarding to the
//! province simulator and the drain of a backlog after an outage, checked for exactly-once;
//! `queue` times ticket issuing, call-next under twenty busy counters and polling citizens,
//! and a call's arrival at a thousand WebSocket clients; `evaluations` times a hall's monthly
//! statistics and open rectifications over a year of evaluations, and ratings per second against a
//! bare floor; `board` times a call's arrival in the DOM of twenty display boards in Chromium and
//! sizes the front end's JavaScript.
//!
//! A missed target is a result, not a failure: the exit status is non-zero only when the run
//! itself went wrong (including a load run with errors, whose figures mean nothing, and a
//! notification lost or sent twice).
//!
//! ```text
//! cargo build --release -p gateway -p bench && ./target/release/bench me
//! ./target/release/bench notify
//! ./target/release/bench rush
//! ./target/release/bench licences
//! ./target/release/bench applications
//! ./target/release/bench queue
//! ./target/release/bench evaluations
//! ./target/release/bench board
//! ```

mod applications;
mod backends;
mod board;
mod evaluations;
mod launch;
mod licences;
mod me;
mod notify;
mod process;
mod queue;
mod report;
mod rush;
mod wrk;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Benchmarks of the 掌上办 gateway on PostgreSQL + Redis"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// `GET /api/v1/me` for logged-in citizens: gateway vs floor (req/s, p50, p99, ratio), the
    /// gateway's idle and loaded RSS and its start-to-ready time.
    Me(me::MeOptions),
    /// Notifications: how many a second the gateway's delivery worker gets to WeChat (the
    /// simulator), and commit-to-delivery latency (p50, p99) at a steady rate, checked for
    /// exactly-once delivery.
    Notify(notify::NotifyOptions),
    /// The release of a day of a hall: thousands of citizens book at the release instant
    /// through the gateway; checked for overselling, duplicates and lost answers in the
    /// database, with throughput, p50/p99 and a bare-transaction floor measured in the same run,
    /// and how sold-out slots are refused.
    Rush(rush::RushOptions),
    /// Electronic licences: presentations signed per second (p50, p99), and verification
    /// latency (p50, p99) with the province status call to the simulator, one at a time and
    /// concurrently, every verdict VALID.
    Licences(licences::LicencesOptions),
    /// Applications: submissions accepted per second (p50, p99), forwarding throughput to the
    /// province simulator, and how long a backlog takes to drain after an outage, checked for
    /// exactly-once delivery.
    Applications(applications::ApplicationsOptions),
    /// Queue numbers: tickets issued per second, call-next latency (p50, p99) with 20 counters
    /// busy while 2,000 citizens poll their position, and the time from a call to its arrival
    /// at 1,000 WebSocket clients on another instance (p99).
    Queue(queue::QueueOptions),
    /// 好差评: a hall's monthly statistics and its open-rectification list over a year of
    /// 1,000,000 evaluations (p50, p99), and ratings accepted per second through the gateway
    /// against bare PostgreSQL transactions in the same run.
    Evaluations(evaluations::EvaluationsOptions),
    /// The hall display board and the staff console in Chromium: call-next to the board's DOM
    /// (p50, p99) with 20 boards open, the pages' JavaScript gzipped, and time to first render.
    Board(board::BoardOptions),
}

/// Where the gateway keeps its state.
#[derive(Args, Debug, Clone)]
pub struct Backends {
    /// A PostgreSQL URL whose user may create databases; the run creates `zsb_bench_<uuid>`
    /// beside its database and drops it at the end.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: String,
    /// The Redis the gateway and the floor use; the run's keys get a unique prefix and are
    /// deleted at the end.
    #[arg(
        long,
        env = "BENCH_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
}

/// How wrk loads each server.
#[derive(Args, Debug, Clone)]
pub struct LoadOptions {
    /// Open connections (wrk -c).
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// Length of each measured run: `10s`, `10`, `2m`.
    #[arg(long, default_value = "10s", value_parser = parse_seconds)]
    pub duration: Duration,
    /// wrk threads (wrk -t).
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// Unmeasured load before each measured run.
    #[arg(long, default_value = "2s", value_parser = parse_seconds)]
    pub warmup: Duration,
}

impl LoadOptions {
    fn load(&self, duration: Duration) -> wrk::Load {
        wrk::Load {
            threads: self.threads,
            connections: self.connections,
            duration,
        }
    }
}

/// Whole seconds, as wrk takes them: `10`, `10s`, `2m`, `1h`.
fn parse_seconds(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a whole number of seconds, like 10s"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        other => bail!("unknown unit {other:?}: use s, m or h (wrk counts in whole seconds)"),
    };
    if seconds == 0 {
        bail!("a run lasts at least one second");
    }
    Ok(Duration::from_secs(seconds))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Me(options) => me::run(options).await,
        Command::Notify(options) => notify::run(options).await,
        Command::Rush(options) => rush::run(options).await,
        Command::Licences(options) => licences::run(options).await,
        Command::Applications(options) => applications::run(options).await,
        Command::Queue(options) => queue::run(options).await,
        Command::Evaluations(options) => evaluations::run(options).await,
        Command::Board(options) => board::run(options).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_seconds_with_an_optional_unit() {
        assert_eq!(parse_seconds("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_seconds("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_seconds("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_seconds("500ms").is_err());
        assert!(parse_seconds("0s").is_err());
        assert!(parse_seconds("ten").is_err());
    }
}
