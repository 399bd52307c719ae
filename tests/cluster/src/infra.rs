//! The real parts, each a child process of the harness on free loopback ports in the run's own
//! directory: a PostgreSQL instance of its own (`initdb`, so restarting it disturbs nobody
//! else), nginx with the shipped site snippet, and `gateway serve` processes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `command` as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_postgres(program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A PostgreSQL server of the harness's own.
pub struct Postgres {
    data: PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn start(dir: &Path) -> anyhow::Result<Postgres> {
        let data = dir.join("pg");
        std::fs::create_dir_all(&data).context("create the PostgreSQL directory")?;
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("-R").arg("postgres:postgres").arg(&data);
                    c
                },
                "chown the PostgreSQL directory",
            )?;
        }
        let mut initdb = as_postgres("initdb");
        initdb
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data);
        run(initdb, "initdb")?;
        let port = free_port()?;
        let pg = Postgres { data, port };
        pg.ctl("start")?;
        Ok(pg)
    }

    fn ctl(&self, action: &str) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.data.display()
        );
        let mut c = as_postgres("pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "60", "-m", "fast", "-o", &options, "-l"])
            .arg(self.data.join("server.log"))
            .arg(action);
        run(c, &format!("pg_ctl {action}"))
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `pg_ctl restart -m fast`: every connection is dropped, the server is back when it returns.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.ctl("restart")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut c = as_postgres("pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status();
    }
}

/// nginx in front of the gateways, with the shipped snippet.
pub struct Nginx {
    child: Child,
    pub port: u16,
}

impl Nginx {
    pub async fn start(dir: &Path, snippet: &Path, gateways: &[u16]) -> anyhow::Result<Nginx> {
        let root = dir.join("nginx");
        std::fs::create_dir_all(root.join("logs")).context("create nginx's directory")?;
        let port = free_port()?;
        let servers: String = gateways
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=2 fail_timeout=10s;\n"))
            .collect();
        // The upstream and map as in gateway/deploy/nginx/zhangshangban.conf; a plain-HTTP
        // listener instead of TLS; the locations are the shipped snippet, included as is.
        let conf = format!(
            "daemon off;\n\
             worker_processes 2;\n\
             user root;\n\
             pid {root}/nginx.pid;\n\
             error_log {root}/logs/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             access_log {root}/logs/access.log;\n\
             client_body_temp_path {root}/body;\n\
             proxy_temp_path {root}/proxy;\n\
             fastcgi_temp_path {root}/fastcgi;\n\
             uwsgi_temp_path {root}/uwsgi;\n\
             scgi_temp_path {root}/scgi;\n\
             map $http_upgrade $zsb_connection_upgrade {{ default upgrade; '' ''; }}\n\
             upstream zhangshangban_gateways {{\n{servers}        least_conn;\n        keepalive 64;\n    }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    include {snippet};\n}}\n\
             }}\n",
            root = root.display(),
            snippet = snippet.display(),
        );
        let path = root.join("nginx.conf");
        std::fs::write(&path, conf).context("write nginx.conf")?;
        let mut test = Command::new("nginx");
        test.arg("-t").arg("-p").arg(&root).arg("-c").arg(&path);
        run(test, "nginx -t")?;
        let log = std::fs::File::create(root.join("logs/stderr.log"))?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&root)
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start nginx")?;
        let nginx = Nginx { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("nginx did not listen on {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(nginx)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM the master, which stops its workers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// One `gateway serve` on fixed ports, restartable with the same settings.
pub struct Gateway {
    pub name: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    config: PathBuf,
    log: PathBuf,
    pub port: u16,
    pub admin_port: u16,
    child: Option<Child>,
}

impl Gateway {
    pub fn new(
        name: &str,
        binary: &Path,
        config: &Path,
        env: Vec<(String, String)>,
        dir: &Path,
    ) -> anyhow::Result<Gateway> {
        Ok(Gateway {
            name: name.to_owned(),
            binary: binary.to_owned(),
            env,
            config: config.to_owned(),
            log: dir.join(format!("{name}.log")),
            port: free_port()?,
            admin_port: free_port()?,
            child: None,
        })
    }

    /// Starts it and waits for `/readyz`.
    pub async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<Duration> {
        let mut command = Command::new(&self.binary);
        command.arg("serve").arg("--config").arg(&self.config);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("APP_") {
                command.env_remove(name);
            }
        }
        command
            .env_remove("RUST_LOG")
            .env("APP_SERVER__PORT", self.port.to_string())
            .env("APP_ADMIN__PORT", self.admin_port.to_string());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .context("open a gateway's log")?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let started = Instant::now();
        self.child = Some(command.spawn().context("start a gateway")?);
        let url = format!("http://127.0.0.1:{}/readyz", self.admin_port);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited ({status}) before it was ready; see {}",
                    self.name,
                    self.log.display()
                );
            }
            let ok = http
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(90) {
                bail!("{} was not ready within 90 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `kill -TERM` and wait for it to finish its in-flight requests and exit.
    pub async fn terminate(&mut self) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else {
            return Ok(Duration::ZERO);
        };
        let started = Instant::now();
        run(
            {
                let mut c = Command::new("kill");
                c.args(["-TERM", &child.id().to_string()]);
                c
            },
            "kill -TERM",
        )?;
        loop {
            if child.try_wait()?.is_some() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                bail!("{} did not stop within 60 s of SIGTERM", self.name);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}
