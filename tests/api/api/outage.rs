//! When the database or the store cannot be reached, requests get 503 `SERVICE_UNAVAILABLE` with
//! `Retry-After` and the usual error body (not a 500), and once it is back the same citizen goes
//! on with the same session.
//!
//! The dependency is cut by a TCP relay between the gateway and it: cutting drops every relayed
//! connection and every new one, as a restart or a lost network does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::SecretString;
use services::store::{RedisStore, Store};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{Deployment, Reply, postgres_admin_url, redis_url};

/// A relay from a local port to `target` that can be cut and mended.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let relay = Relay {
            port,
            open: Arc::clone(&open),
            generation: generation.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut = generation.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        relay
    }

    /// Drops every relayed connection, and every new one until [`Relay::mend`].
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn mend(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// `host:port` of a `scheme://[user@]host:port/…` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap().to_owned()
}

fn assert_unavailable(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.error_code(), "SERVICE_UNAVAILABLE");
    let after: u64 = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a Retry-After in seconds: {reply:?}"));
    assert!((1..=30).contains(&after), "{after}");
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_with_retry_after_and_the_session_survives_it() {
    let Some(url) = redis_url() else {
        eprintln!("APP_TEST_REDIS_URL not set: an unreachable Redis is tested in CI");
        return;
    };
    let deployment = Deployment::new().await;
    let relay = Relay::start(host_port(&url)).await;
    let relayed = format!("redis://127.0.0.1:{}", relay.port);
    let prefix = format!("zsb-test-{}:", uuid::Uuid::new_v4().simple());
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&relayed, prefix).await.unwrap());
    let app = deployment
        .instance_with(
            |s| s.redis.url = Some(SecretString::from(relayed.clone())),
            |parts| parts.store = Some(store),
        )
        .await;
    let citizen = app.login().await;
    assert_eq!(
        app.get("/api/v1/me", Some(&citizen.token)).await.status,
        StatusCode::OK
    );

    relay.cut();
    // A session read from the store in the last `CACHE_DEPTH` is still served from this
    // instance's memory (services/src/sessions/cache.rs); past that depth, every request needs
    // the store and the outage shows.
    tokio::time::sleep(services::sessions::CACHE_DEPTH + Duration::from_millis(200)).await;
    assert_unavailable(&app.get("/api/v1/me", Some(&citizen.token)).await);
    let ready = app.admin_get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");

    relay.mend();
    let mut back = None;
    for _ in 0..50 {
        let reply = app.get("/api/v1/me", Some(&citizen.token)).await;
        if reply.status == StatusCode::OK {
            back = Some(reply);
            break;
        }
        assert_unavailable(&reply);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = back.expect("the store came back within 5 s");
    assert_eq!(
        back.ok::<miniprogram_api::me::Me>().id,
        citizen.id(),
        "the same session, no new login"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after_and_service_resumes() {
    if postgres_admin_url().is_none() {
        eprintln!("APP_TEST_DATABASE_URL not set: an unreachable PostgreSQL is tested in CI");
        return;
    }
    let deployment = Deployment::new().await;
    let relay = Relay::start(host_port(&deployment.db.url)).await;
    let (before, after) = deployment
        .db
        .url
        .split_at(deployment.db.url.find("://").unwrap() + 3);
    let credentials = after.rsplit_once('@').map(|(c, _)| format!("{c}@"));
    let path = &after[after.find('/').unwrap()..];
    let relayed = format!(
        "{before}{}127.0.0.1:{}{path}",
        credentials.unwrap_or_default(),
        relay.port
    );
    let app = deployment
        .instance(|s| {
            s.database.url = SecretString::from(relayed.clone());
        })
        .await;
    let citizen = app.login().await;
    assert_eq!(
        app.get("/api/v1/messages", Some(&citizen.token))
            .await
            .status,
        StatusCode::OK
    );

    relay.cut();
    assert_unavailable(&app.get("/api/v1/messages", Some(&citizen.token)).await);

    relay.mend();
    let mut resumed = false;
    for _ in 0..100 {
        let reply = app.get("/api/v1/messages", Some(&citizen.token)).await;
        if reply.status == StatusCode::OK {
            resumed = true;
            break;
        }
        assert_unavailable(&reply);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resumed, "the database came back within 10 s");
}
