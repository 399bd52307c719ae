//! `bench board`: the hall display board and the staff console in a real browser (issue 17) —
//! the time from a call-next on the API to the board page's DOM showing it, p50/p99 over 200
//! calls with 20 boards open (target p99 ≤ 500 ms); the console's and the board's JavaScript
//! gzipped (targets ≤ 350 KB and ≤ 120 KB); and the time to first render on localhost (≤ 1 s).
//!
//! ```text
//! cargo build --release -p gateway -p bench && ./target/release/bench board
//! ```
//!
//! The browser side lives with the front end (`gateway/web/e2e/bench-board.mjs`, playwright-core
//! driving Debian's `chromium`): this subcommand runs it against the release `gateway demo` next
//! to the bench, on a fresh PostgreSQL database and Redis prefix, and passes its report through.
//! Each call-next there goes over a fresh connection, so no reused keep-alive socket can fail a
//! measurement. Sizes are of the committed `gateway/web/dist`, gzipped file by file: the
//! console's first load (its index's scripts and their static imports) and, separately, all it
//! can ever fetch (every lazy screen's chunk too), both held to 350 KB; the board's every chunk.
//! Needs Node 20+, `npm ci` in `gateway/web` and `apt-get install -y chromium`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::Backends;
use crate::process;

#[derive(Args, Debug)]
pub struct BoardOptions {
    #[command(flatten)]
    pub backends: Backends,
    /// Calls measured.
    #[arg(long, default_value_t = 200)]
    pub calls: u32,
    /// Board pages open at once, each timed for every call.
    #[arg(long, default_value_t = 20)]
    pub boards: u32,
}

pub async fn run(options: BoardOptions) -> anyhow::Result<()> {
    let gateway = process::sibling_binary("gateway")?;
    if !process::is_release_folder() {
        eprintln!("note: a debug build; figures are for a release build (cargo build --release)");
    }
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../gateway/web");
    if !web.join("node_modules/playwright-core").is_dir() {
        bail!(
            "{}/node_modules is missing: run `npm ci` there first",
            web.display()
        );
    }
    let status = Command::new("node")
        .current_dir(&web)
        .arg("e2e/bench-board.mjs")
        .args(["--calls", &options.calls.to_string()])
        .args(["--boards", &options.boards.to_string()])
        .env("GATEWAY_BIN", &gateway)
        .env("APP_TEST_DATABASE_URL", &options.backends.database_url)
        .env("APP_TEST_REDIS_URL", &options.backends.redis_url)
        .status()
        .context("run node (Node 20+ is needed for bench board)")?;
    if !status.success() {
        bail!("bench-board.mjs failed: {status}");
    }
    Ok(())
}
