//! The mini-program's side, as the SDK behaves: every call through nginx; a lost answer, a 502,
//! 503 or 504 tried again after `Retry-After` (with the same `Idempotency-Key`, so a retried
//! booking or application is still one); an expired session replaced by a silent re-login.
//! Everything a client saw is recorded, with when, for the report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Value, json};
use simulators::wechat::WechatSim;
use tokio::sync::Mutex;

/// How long one logical call keeps trying before the client gives up on it.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// What every client saw.
#[derive(Default)]
pub struct Stats {
    /// Answers received (any status), for "requests served".
    pub served: AtomicU64,
    /// (seconds since the workload started, kind) of every failed attempt: `transport`,
    /// `502`, `503 SERVICE_UNAVAILABLE`, …
    pub errors: Mutex<Vec<(f64, String)>>,
    /// Refusals a citizen expects (`SLOT_FULL`, `NO_TICKET_WAITING` …), by code.
    pub refusals: Mutex<BTreeMap<String, u64>>,
    pub relogins: AtomicU64,
    /// Logical calls abandoned after [`GIVE_UP_AFTER`].
    pub gave_up: Mutex<Vec<String>>,
    pub started: std::sync::OnceLock<Instant>,
}

impl Stats {
    pub fn since_start(&self) -> f64 {
        self.started
            .get()
            .map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    async fn error(&self, kind: String) {
        let at = self.since_start();
        self.errors.lock().await.push((at, kind));
    }

    pub async fn refusal(&self, code: &str) {
        *self
            .refusals
            .lock()
            .await
            .entry(code.to_owned())
            .or_default() += 1;
    }
}

/// One answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// Who is calling: a citizen (re-logs in through WeChat) or a clerk (logs in again with the
/// password).
pub enum Who {
    Citizen { openid: String },
    Clerk { username: String, password: String },
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    who: Who,
    token: Mutex<String>,
    stats: Arc<Stats>,
    wechat: Arc<WechatSim>,
}

impl Client {
    pub async fn login(
        http: reqwest::Client,
        base: String,
        who: Who,
        stats: Arc<Stats>,
        wechat: Arc<WechatSim>,
    ) -> anyhow::Result<Client> {
        let client = Client {
            http,
            base,
            who,
            token: Mutex::new(String::new()),
            stats,
            wechat,
        };
        client.relogin().await?;
        Ok(client)
    }

    pub async fn token(&self) -> String {
        self.token.lock().await.clone()
    }

    /// Logs in again (the SDK does it silently on 401), retrying through outages.
    async fn relogin(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let (path, body) = match &self.who {
                Who::Citizen { openid } => (
                    "/api/v1/auth/login",
                    json!({ "code": self.wechat.mint_login_code(openid) }),
                ),
                Who::Clerk { username, password } => (
                    "/staff/v1/auth/login",
                    json!({ "username": username, "password": password }),
                ),
            };
            match self.once(Method::POST, path, Some(&body), None, "").await {
                Ok(reply) if reply.status == 200 => {
                    let token = reply.body["token"]
                        .as_str()
                        .context("no token in a login answer")?;
                    *self.token.lock().await = token.to_owned();
                    return Ok(());
                }
                Ok(reply) if !retryable(reply.status) => {
                    bail!("login answered {}: {}", reply.status, reply.body)
                }
                Ok(_) | Err(_) => {}
            }
            if started.elapsed() > GIVE_UP_AFTER {
                bail!("could not log in again within {GIVE_UP_AFTER:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One attempt; transport failures and 5xx are recorded as errors.
    async fn once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        token: &str,
    ) -> anyhow::Result<Reply> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(40));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "transport: timeout"
                } else {
                    "transport: connection"
                };
                self.stats.error(kind.to_owned()).await;
                return Err(e.into());
            }
        };
        self.stats.served.fetch_add(1, Ordering::Relaxed);
        let status = response.status().as_u16();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => {
                self.stats.error("transport: body".to_owned()).await;
                return Err(e.into());
            }
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let reply = Reply { status, body };
        if status >= 500 || status == 401 || status == 429 {
            self.stats.error(format!("{status} {}", reply.code())).await;
        }
        Ok(reply)
    }

    /// A logical call: retried through outages and expired sessions until it has an answer
    /// that is not an outage, or [`GIVE_UP_AFTER`] passed (`Err`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let started = Instant::now();
        loop {
            let token = self.token().await;
            let wait = match self
                .once(method.clone(), path, body, idempotency_key, &token)
                .await
            {
                Ok(reply) if reply.status == 401 => {
                    self.stats.relogins.fetch_add(1, Ordering::Relaxed);
                    self.relogin().await?;
                    continue;
                }
                Ok(reply) if retryable(reply.status) => {
                    let _ = reply;
                    Duration::from_millis(500)
                }
                Ok(reply) => return Ok(reply),
                Err(_) => Duration::from_millis(300),
            };
            if started.elapsed() > GIVE_UP_AFTER {
                let what = format!("{method} {path}");
                self.stats.gave_up.lock().await.push(what.clone());
                bail!("gave up on {what}");
            }
            tokio::time::sleep(wait).await;
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> anyhow::Result<Reply> {
        self.call(Method::POST, path, Some(body), key).await
    }

    /// `wx.uploadFile`: multipart with the field `file`; retried like any call.
    pub async fn upload(&self, bytes: &[u8], extension: &str) -> anyhow::Result<String> {
        const BOUNDARY: &str = "----zsb-cluster-7d1e";
        let content_type = if extension == "pdf" {
            "application/pdf"
        } else {
            "image/jpeg"
        };
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"material.{extension}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let started = Instant::now();
        loop {
            let token = self.token().await;
            let request = self
                .http
                .post(format!("{}/api/v1/materials", self.base))
                .bearer_auth(&token)
                .timeout(Duration::from_secs(40))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(body.clone());
            match self.send(request).await {
                Ok(reply) if reply.status == 201 => {
                    return Ok(reply.body["id"]
                        .as_str()
                        .context("no material id")?
                        .to_owned());
                }
                Ok(reply) if reply.status == 401 => {
                    self.stats.relogins.fetch_add(1, Ordering::Relaxed);
                    self.relogin().await?;
                    continue;
                }
                Ok(reply) if !retryable(reply.status) => {
                    bail!("an upload answered {}: {}", reply.status, reply.body)
                }
                Ok(_) | Err(_) => {}
            }
            if started.elapsed() > GIVE_UP_AFTER {
                self.stats
                    .gave_up
                    .lock()
                    .await
                    .push("POST /api/v1/materials".to_owned());
                bail!("gave up on an upload");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// An answer that says "not now" rather than "no".
fn retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}
