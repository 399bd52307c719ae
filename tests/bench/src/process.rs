//! The servers under measurement run as child processes of the bench: found next to its own
//! executable, killed when their guard is dropped (on success, on error and on Ctrl-C), and
//! watched through `/proc` for their resident memory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a server may take to answer its readiness URL (migrations of a fresh database
/// included).
pub const READY_LIMIT: Duration = Duration::from_secs(60);

/// A binary of this workspace in the bench's own folder (`target/release` for a release build).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("find the bench's own executable")?;
    let dir = exe
        .parent()
        .context("the bench's executable has no folder")?;
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} not found next to {}: build it in release first with \
             `cargo build --release -p gateway -p bench`, then run ./target/release/bench",
            path.display(),
            exe.display()
        );
    }
    Ok(path)
}

/// Whether the bench runs from a `release` folder (so the siblings are release builds).
pub fn is_release_folder() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()
                .and_then(Path::file_name)
                .map(|dir| dir == "release")
        })
        .unwrap_or(false)
}

/// A port nobody listens on right now (bound, read and released).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("find a free port")?;
    Ok(listener.local_addr().context("read the free port")?.port())
}

/// A running child process, killed when dropped.
pub struct Running {
    name: &'static str,
    child: Child,
    started: Instant,
}

impl Running {
    /// Spawns `command` with its output discarded (or appended to `log`), and notes when.
    pub fn spawn(
        name: &'static str,
        mut command: Command,
        log: Option<&Path>,
    ) -> anyhow::Result<Self> {
        command.stdin(Stdio::null());
        match log {
            Some(log) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .with_context(|| format!("open {}", log.display()))?;
                let err = file.try_clone().context("share the log file")?;
                command.stdout(file).stderr(err);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("start the {name}"))?;
        Ok(Self {
            name,
            child,
            started,
        })
    }

    /// Spawns `command` with its output going to `stdout` and `stderr`.
    pub fn spawn_to_files(
        name: &'static str,
        mut command: Command,
        stdout: std::fs::File,
        stderr: std::fs::File,
    ) -> anyhow::Result<Self> {
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let started = Instant::now();
        let child = command.spawn().with_context(|| format!("start {name}"))?;
        Ok(Self {
            name,
            child,
            started,
        })
    }

    /// Waits for the process to exit (checking every 20 ms, so the runtime stays free).
    pub async fn exited(&mut self) -> anyhow::Result<ExitStatus> {
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .with_context(|| format!("wait for {}", self.name))?
            {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `url` every 10 ms until it answers 200; returns the time since the spawn.
    ///
    /// # Errors
    /// The process exits first, or is not ready within `limit`.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        url: &str,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        loop {
            if let Some(status) = self.child.try_wait().context("check the child process")? {
                bail!(
                    "the {} exited ({status}) before it was ready; rerun with --server-log FILE \
                     to see why",
                    self.name
                );
            }
            let answer = http.get(url).timeout(Duration::from_secs(1)).send().await;
            if answer.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                return Ok(self.started.elapsed());
            }
            if self.started.elapsed() > limit {
                bail!("the {} was not ready at {url} within {limit:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Its resident set size now.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Already gone is fine: kill only fails when the child has exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of `/proc/<pid>/status`, in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("no VmRSS in {path}"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tgateway\nVmPeak:\t  900000 kB\nVmRSS:\t   18232 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss(status), Some(18_232 * 1024));
        assert_eq!(parse_vm_rss("Name:\tgateway\n"), None);
    }

    #[test]
    fn our_own_rss_can_be_read() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }
}
