//! What every report shares: how figures are written and the warning for a debug build.

use std::fmt;
use std::time::Duration;

use crate::process;

/// The 0-based index of the nearest-rank `p`-quantile (`p` in 0..=1) of `n` sorted values;
/// `None` when there are none.
pub fn nearest_rank(n: usize, p: f64) -> Option<usize> {
    (n > 0).then(|| ((p * n as f64).ceil() as usize).clamp(1, n) - 1)
}

/// The nearest-rank `p`-quantile of sorted durations; zero when there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    nearest_rank(sorted.len(), p).map_or(Duration::ZERO, |i| sorted[i])
}

/// `8.41 ms`, or `512 ms` from 100 ms on.
pub fn ms(d: Duration) -> String {
    ms_f64(d.as_secs_f64() * 1000.0)
}

/// As [`ms`], from milliseconds (which may be negative).
pub fn ms_f64(ms: f64) -> String {
    if ms.abs() >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Whether this bench and the gateway beside it are release builds.
pub fn is_release() -> bool {
    process::is_release_folder() && !cfg!(debug_assertions)
}

/// The first line of a report from a debug build.
pub fn warn_if_debug(f: &mut fmt::Formatter<'_>, release: bool) -> fmt::Result {
    if release {
        return Ok(());
    }
    writeln!(
        f,
        "!!! NOT A RELEASE BUILD: run ./target/release/bench after \
         `cargo build --release -p gateway -p bench`; these figures say little."
    )
}

/// How many cores the run shared.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}

/// Where the servers' output went, for the "How it was measured" text.
pub fn server_logs(server_log: Option<&std::path::Path>) -> String {
    match server_log {
        Some(file) => format!("appended to {}", file.display()),
        None => "written to /dev/null".to_owned(),
    }
}
