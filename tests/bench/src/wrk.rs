//! Driving wrk (the Debian package) and reading what it prints.
//!
//! wrk is asked for `--latency` and its text is parsed; a figure that cannot be found is an error,
//! never a zero, so that a change in wrk's output cannot quietly turn into a flattering report.
//! Every request goes through a Lua `request()` that round-robins bearer tokens, for the floor as
//! for the gateway, so wrk does the same work per request in both runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::process::Running;

/// How hard and how long to load.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
}

/// What one wrk run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkResult {
    pub requests: u64,
    pub requests_per_sec: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    /// Responses with a status outside 200–399 (wrk prints the line only when there are some).
    pub non_2xx: u64,
    pub socket_errors: SocketErrors,
}

/// wrk's `Socket errors:` line (absent when there were none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketErrors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
}

impl SocketErrors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }
}

impl std::fmt::Display for SocketErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connect {}, read {}, write {}, timeout {}",
            self.connect, self.read, self.write, self.timeout
        )
    }
}

/// Fails with the way to install wrk when it is not on `PATH`.
pub fn ensure_installed() -> anyhow::Result<()> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("wrk is not on PATH: install wrk: apt-get install -y wrk")
        }
        Err(e) => Err(e).context("run wrk --version"),
    }
}

/// Writes a wrk script that sends `GET path` with `Authorization: Bearer <token>`, taking the
/// tokens of `tokens_file` (one a line) in turn; each wrk thread starts at a different token.
pub fn write_script(
    dir: &Path,
    name: &str,
    path: &str,
    tokens_file: &Path,
) -> anyhow::Result<PathBuf> {
    let tokens_file = tokens_file
        .to_str()
        .context("the scratch folder's path is not UTF-8")?;
    if tokens_file.contains("]]") || path.contains('"') {
        bail!("cannot quote {tokens_file} or {path} in a Lua script");
    }
    let script = format!(
        r#"-- written by `bench`: round-robins bearer tokens over GET {path}
local tokens = {{}}
for line in io.lines([[{tokens_file}]]) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local next_thread = 0
function setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
end
local i = 0
function init(args)
  i = ((thread_no or 0) * 131) % #tokens
end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", "{path}", {{ ["Authorization"] = "Bearer " .. tokens[i] }})
end
"#
    );
    let file = dir.join(name);
    std::fs::write(&file, script).with_context(|| format!("write {}", file.display()))?;
    Ok(file)
}

/// Runs `wrk --latency` against `url` with `script` and parses its report. wrk's output goes to
/// files in `dir`; wrk is killed if this future is dropped (Ctrl-C, or the server died).
pub async fn run(dir: &Path, url: &str, script: &Path, load: Load) -> anyhow::Result<WrkResult> {
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url);
    let (out_path, err_path) = (dir.join("wrk.out"), dir.join("wrk.err"));
    let out = std::fs::File::create(&out_path)
        .with_context(|| format!("create {}", out_path.display()))?;
    let err = std::fs::File::create(&err_path)
        .with_context(|| format!("create {}", err_path.display()))?;
    let mut wrk = Running::spawn_to_files("wrk", command, out, err)?;
    let status = wrk.exited().await?;
    let stdout = std::fs::read_to_string(&out_path)
        .with_context(|| format!("read {}", out_path.display()))?;
    if !status.success() {
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        bail!("wrk failed ({status}): {stdout}{stderr}");
    }
    parse(&stdout).with_context(|| format!("read wrk's report:\n{stdout}"))
}

/// Reads wrk's text report (run with `--latency`).
pub fn parse(output: &str) -> anyhow::Result<WrkResult> {
    let mut requests = None;
    let mut requests_per_sec = None;
    let (mut p50, mut p90, mut p99) = (None, None, None);
    let mut non_2xx = 0;
    let mut socket_errors = SocketErrors::default();
    let mut in_distribution = false;
    for line in output.lines().map(str::trim) {
        if line.starts_with("Latency Distribution") {
            in_distribution = true;
            continue;
        }
        if in_distribution {
            match line.split_once(char::is_whitespace) {
                Some(("50%", value)) => p50 = Some(parse_time(value.trim())?),
                Some(("90%", value)) => p90 = Some(parse_time(value.trim())?),
                Some(("99%", value)) => p99 = Some(parse_time(value.trim())?),
                Some(("75%", _)) => {}
                _ => in_distribution = false,
            }
            if in_distribution {
                continue;
            }
        }
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            requests_per_sec = Some(
                rest.trim()
                    .parse::<f64>()
                    .with_context(|| format!("Requests/sec is not a number: {rest}"))?,
            );
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = rest
                .trim()
                .parse()
                .with_context(|| format!("Non-2xx count is not a number: {rest}"))?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            socket_errors = parse_socket_errors(rest)?;
        } else if let Some((count, _)) = line.split_once(" requests in ") {
            requests = Some(
                count
                    .trim()
                    .parse()
                    .with_context(|| format!("request count is not a number: {count}"))?,
            );
        }
    }
    Ok(WrkResult {
        requests: requests.context("no `N requests in …` line")?,
        requests_per_sec: requests_per_sec.context("no `Requests/sec:` line")?,
        p50: p50.context("no 50% line in the latency distribution (was --latency given?)")?,
        p90: p90.context("no 90% line in the latency distribution")?,
        p99: p99.context("no 99% line in the latency distribution")?,
        non_2xx,
        socket_errors,
    })
}

/// A wrk time such as `730.00us`, `1.10ms`, `2.00s`, `1.50m` or `1.00h`.
fn parse_time(text: &str) -> anyhow::Result<Duration> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .with_context(|| format!("no unit in the time {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("not a number in the time {text:?}"))?;
    let seconds_per_unit = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => bail!("unknown unit {unit:?} in the time {text:?}"),
    };
    Duration::try_from_secs_f64(number * seconds_per_unit)
        .with_context(|| format!("the time {text:?} is out of range"))
}

/// `connect 0, read 12, write 0, timeout 3`
fn parse_socket_errors(text: &str) -> anyhow::Result<SocketErrors> {
    let mut errors = SocketErrors::default();
    for part in text.split(',') {
        let (kind, count) = part
            .trim()
            .split_once(' ')
            .with_context(|| format!("unreadable socket errors: {text}"))?;
        let count: u64 = count
            .trim()
            .parse()
            .with_context(|| format!("unreadable socket errors: {text}"))?;
        match kind {
            "connect" => errors.connect = count,
            "read" => errors.read = count,
            "write" => errors.write = count,
            "timeout" => errors.timeout = count,
            _ => bail!("unknown kind of socket error {kind:?} in: {text}"),
        }
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "\
Running 10s test @ http://127.0.0.1:40111/api/v1/me
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.21ms    1.05ms  24.73ms   81.20%
    Req/Sec    10.03k   612.44    11.20k    71.50%
  Latency Distribution
     50%  730.00us
     75%    3.61ms
     90%    4.32ms
     99%    6.98ms
  199617 requests in 10.00s, 80.53MB read
Requests/sec:  19955.47
Transfer/sec:      8.05MB
";

    #[test]
    fn a_clean_report_is_read_with_its_units() {
        let result = parse(CLEAN).unwrap();
        assert_eq!(result.requests, 199_617);
        assert!((result.requests_per_sec - 19_955.47).abs() < 1e-6);
        assert_eq!(result.p50, Duration::from_micros(730));
        assert_eq!(result.p90, Duration::from_micros(4_320));
        assert_eq!(result.p99, Duration::from_micros(6_980));
        assert_eq!(result.non_2xx, 0);
        assert_eq!(result.socket_errors.total(), 0);
    }

    #[test]
    fn errors_and_times_in_seconds_are_read() {
        let report = CLEAN.replace("99%    6.98ms", "99%    1.50s").replace(
            "Requests/sec:",
            "  Socket errors: connect 0, read 12, write 1, timeout 3\n  \
                 Non-2xx or 3xx responses: 42\nRequests/sec:",
        );
        let result = parse(&report).unwrap();
        assert_eq!(result.p99, Duration::from_millis(1_500));
        assert_eq!(result.non_2xx, 42);
        assert_eq!(
            result.socket_errors,
            SocketErrors {
                connect: 0,
                read: 12,
                write: 1,
                timeout: 3
            }
        );
        assert_eq!(result.socket_errors.total(), 16);
    }

    #[test]
    fn a_missing_figure_is_an_error_not_a_zero() {
        let without_distribution: String = CLEAN
            .lines()
            .filter(|l| !l.contains('%') || l.contains("Stdev") || l.contains("Latency "))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(parse(&without_distribution).is_err());
        let without_rate = CLEAN.replace("Requests/sec:  19955.47", "");
        assert!(parse(&without_rate).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn an_unknown_unit_is_refused() {
        assert!(parse(&CLEAN.replace("6.98ms", "6.98ns")).is_err());
        assert_eq!(parse_time("1.00m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_time("2.00s").unwrap(), Duration::from_secs(2));
    }
}
