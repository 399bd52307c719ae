//! A real Redis Cluster for the tests and the fault harness: six `redis-server
//! --cluster-enabled yes` (three primaries, a replica each) on free loopback ports in a
//! directory of their own, joined with `redis-cli --cluster create`. Not a simulator: the real
//! server, so that slots, redirections and failovers are Redis's own.
//!
//! Nodes can be killed (`SIGKILL`) and started again; a node that comes back rejoins from its
//! `nodes.conf`, as a replica of whoever took its slots. Everything stops when the value is
//! dropped.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use simulators::redis_cluster::RedisCluster;
//! if let Err(why) = RedisCluster::available() {
//!     eprintln!("skipped: {why}");
//!     return Ok(());
//! }
//! let mut cluster = RedisCluster::start().await?;
//! let primary = cluster.primaries().await?[0];
//! cluster.kill(primary);
//! cluster.wait_healthy(std::time::Duration::from_secs(20)).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// Milliseconds a node may be unreachable before its replica takes over (production: 5000).
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// A running Redis Cluster of six nodes on 127.0.0.1.
#[derive(Debug)]
pub struct RedisCluster {
    dir: PathBuf,
    nodes: BTreeMap<u16, Option<Child>>,
}

impl RedisCluster {
    /// `Err` with the reason when `redis-server` or `redis-cli` cannot be run here.
    pub fn available() -> Result<(), String> {
        for tool in ["redis-server", "redis-cli"] {
            let ran = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !matches!(ran, Ok(status) if status.success()) {
                return Err(format!(
                    "`{tool}` is not installed (apt-get install redis-server)"
                ));
            }
        }
        Ok(())
    }

    /// Starts six nodes and joins them into a cluster of three primaries with a replica each;
    /// returns once every node reports `cluster_state:ok` and every replica is in sync.
    pub async fn start() -> anyhow::Result<RedisCluster> {
        let dir = std::env::temp_dir().join(format!("zsb-redis-cluster-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).context("create the cluster's directory")?;
        let mut cluster = RedisCluster {
            dir,
            nodes: BTreeMap::new(),
        };
        for port in free_ports(6)? {
            let child = spawn_node(&cluster.dir, port)?;
            cluster.nodes.insert(port, Some(child));
        }
        for &port in cluster.nodes.keys() {
            wait_for_ping(port).await?;
        }
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for port in cluster.nodes.keys() {
            create.arg(format!("127.0.0.1:{port}"));
        }
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = create.output().context("run redis-cli --cluster create")?;
        if !out.status.success() {
            bail!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        cluster.wait_healthy(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    /// `redis://127.0.0.1:<port>` of every node, running or not.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .keys()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// Ports of the nodes that are primaries now, as the running nodes see it.
    pub async fn primaries(&self) -> anyhow::Result<Vec<u16>> {
        let port = self.running().next().context("no node is running")?;
        let nodes = cli(port, &["cluster", "nodes"]).await?;
        let mut primaries: Vec<u16> = nodes
            .lines()
            .filter(|line| {
                let flags = line.split(' ').nth(2).unwrap_or("");
                flags.contains("master") && !flags.contains("fail")
            })
            .filter_map(|line| {
                let address = line.split(' ').nth(1)?;
                let port = address.split('@').next()?.rsplit(':').next()?;
                port.parse().ok()
            })
            .filter(|port| self.is_running(*port))
            .collect();
        primaries.sort_unstable();
        Ok(primaries)
    }

    /// Kills the node on `port` with `SIGKILL` (no goodbye to its peers or clients).
    pub fn kill(&mut self, port: u16) {
        if let Some(slot) = self.nodes.get_mut(&port)
            && let Some(mut child) = slot.take()
        {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts the node on `port` again with its own `nodes.conf`: it rejoins the cluster.
    pub fn restart(&mut self, port: u16) -> anyhow::Result<()> {
        if self.is_running(port) {
            return Ok(());
        }
        let child = spawn_node(&self.dir, port)?;
        self.nodes.insert(port, Some(child));
        Ok(())
    }

    /// Waits until every running node says `cluster_state:ok`, every slot is served, and every
    /// running replica's link to its primary is up.
    pub async fn wait_healthy(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.healthy().await {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(e.context("the Redis Cluster did not become healthy"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn healthy(&self) -> anyhow::Result<()> {
        for port in self.running() {
            let info = cli(port, &["cluster", "info"]).await?;
            if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                bail!("node {port}: {info}");
            }
            let replication = cli(port, &["info", "replication"]).await?;
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                bail!("replica {port} is not in sync");
            }
        }
        Ok(())
    }

    fn running(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|(_, child)| child.is_some())
            .map(|(port, _)| *port)
    }

    fn is_running(&self, port: u16) -> bool {
        matches!(self.nodes.get(&port), Some(Some(_)))
    }

    /// The directory the nodes keep their configuration and logs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.nodes.values_mut().filter_map(Option::as_mut) {
            child.kill().ok();
            child.wait().ok();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn spawn_node(dir: &Path, port: u16) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{port}.log")))
        .context("open a node's log")?;
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
        .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
        // The slots of a failed primary are down until its replica takes over; the rest serve.
        .args(["--cluster-require-full-coverage", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--dbfilename", &format!("dump-{port}.rdb")])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("share a node's log")?)
        .stderr(log)
        .spawn()
        .context("start redis-server")
}

/// `count` ports free on loopback whose cluster bus port (`port + 10000`) is free too.
fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let mut ports = Vec::new();
    let mut held = Vec::new();
    for _ in 0..200 {
        let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
        let port = listener.local_addr()?.port();
        let Some(bus) = port.checked_add(10_000) else {
            continue;
        };
        if let Ok(bus) = TcpListener::bind(("127.0.0.1", bus)) {
            held.push((listener, bus));
            ports.push(port);
            if ports.len() == count {
                return Ok(ports);
            }
        }
    }
    bail!("no {count} free port pairs for a Redis Cluster")
}

async fn wait_for_ping(port: u16) -> anyhow::Result<()> {
    for _ in 0..100 {
        if cli(port, &["ping"]).await.is_ok_and(|r| r.trim() == "PONG") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("redis-server on {port} did not start")
}

async fn cli(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let port = port.to_string();
    let mut command = tokio::process::Command::new("redis-cli");
    command.args(["-h", "127.0.0.1", "-p", &port]).args(args);
    let out = tokio::time::timeout(Duration::from_secs(5), command.output())
        .await
        .context("redis-cli timed out")?
        .context("run redis-cli")?;
    if !out.status.success() {
        bail!("redis-cli failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
