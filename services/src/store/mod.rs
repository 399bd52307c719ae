//! The hot-state store: sessions, locks, rate-limit counters and small caches. Production uses
//! Redis; the embedded default uses [`MemoryStore`], behind the same [`Store`] trait.
//!
//! Nothing here is ever the only copy of something a citizen would miss: if the store is flushed,
//! citizens log in again silently and every booking, ticket and application is still in the
//! database. Keys are given without the deployment prefix; each implementation adds it, so two
//! deployments can share one Redis.

mod flags;
mod lock;
mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use self::flags::{FlagTicket, LocalFlags};
pub use self::lock::{Lock, LockGuard};
pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

/// A failure to reach or use the store. Callers treat it as unexpected; the gateway answers
/// 503 with `Retry-After` for one that [`StoreError::is_unavailable`] (the store could not be
/// reached or was failing over) and 500 for the rest.
#[derive(Debug, thiserror::Error)]
#[error("store operation `{op}` failed")]
pub struct StoreError {
    op: &'static str,
    unavailable: bool,
    #[source]
    source: anyhow::Error,
}

impl StoreError {
    pub(crate) fn new(op: &'static str, source: impl Into<anyhow::Error>) -> Self {
        let source = source.into();
        Self {
            op,
            unavailable: unreachable_cause(&source),
            source,
        }
    }

    /// The store could not be reached, did not answer in time, or was failing over: trying
    /// again later may work, nothing is wrong with the request.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

/// A lost, refused or timed-out connection, or a Cluster between owners of a slot.
fn unreachable_cause(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        if let Some(e) = cause.downcast_ref::<::redis::RedisError>() {
            use ::redis::{ErrorKind, ServerErrorKind};
            return e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_cluster_error()
                || matches!(
                    e.kind(),
                    ErrorKind::ClusterConnectionNotFound
                        | ErrorKind::Server(
                            ServerErrorKind::BusyLoading
                                | ServerErrorKind::MasterDown
                                | ServerErrorKind::ReadOnly
                        )
                );
        }
        cause.is::<tokio::time::error::Elapsed>() || cause.is::<std::io::Error>()
    })
}

/// The wall-clock-aligned window a hit falls in. Every instance counts in the same window, and a
/// counter is one `INCR` on a key named by its window: no read-modify-write, no `PTTL`.
pub(crate) struct Window {
    /// `counter:index`.
    pub key: String,
    /// Time left in the window.
    pub resets_in: Duration,
}

pub(crate) fn window(counter: &str, length: Duration) -> Window {
    // The wall clock: every instance must fall in the same window.
    let now = u128::try_from(crate::time::wall_now().timestamp_millis()).unwrap_or_default();
    let length = length.as_millis().max(1);
    let index = now / length;
    let left = (index + 1) * length - now;
    Window {
        key: format!("{counter}:{index}"),
        resets_in: Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX)),
    }
}

/// One hit counted in a fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Hits in the current window, this one included.
    pub count: u64,
    /// Time until the window ends and the count starts again.
    pub resets_in: Duration,
}

/// What the gateway keeps outside the database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets `key` to `value`, expiring after `ttl` (`None`: never).
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError>;

    /// Sets `key` only if it does not exist; `true` when this call set it.
    async fn set_nx(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError>;

    /// Replaces the value of an existing key and keeps its expiry; `false` when the key is gone.
    async fn replace_keep_ttl(&self, key: &str, value: &[u8]) -> Result<bool, StoreError>;

    /// Deletes `key`; `true` when it existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Deletes `key` only while it still holds `expected` (atomic compare-and-delete).
    async fn delete_if_eq(&self, key: &str, expected: &[u8]) -> Result<bool, StoreError>;

    /// Counts a hit on `counter` in a fixed window aligned to the wall clock (a minute window
    /// runs from :00 to :59).
    async fn hit(&self, counter: &str, window: Duration) -> Result<Hit, StoreError>;

    /// In one round trip: the value at `key` with its expiry pushed to `ttl` from now (a sliding
    /// session), and — only when the key exists, so unknown keys cost no writes — `hits` hits
    /// counted on `counter` in `window` (the session's request budget: this request and those
    /// an instance served from its cache since its last read).
    async fn get_ex_and_hit(
        &self,
        key: &str,
        ttl: Duration,
        counter: &str,
        window: Duration,
        hits: u64,
    ) -> Result<Option<(Vec<u8>, Hit)>, StoreError>;

    /// Adds `member` to the set at `key`; the set lives at least `ttl` from now.
    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Removes `member` from the set at `key`.
    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError>;

    /// The members of the set at `key` (empty when absent).
    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError>;

    /// Publishes `message` on `channel` to its subscribers in every instance. Fire and forget:
    /// a subscriber that is not connected at that moment misses it.
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), StoreError>;

    /// The messages published on `channel` from now on. The stream ends when the connection
    /// behind it is lost; subscribe again (and catch up from the database meanwhile).
    async fn subscribe(&self, channel: &str) -> Result<BoxStream<'static, Vec<u8>>, StoreError>;

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Counts a store operation for `/metrics`.
pub(crate) fn record(op: &'static str, ok: bool) {
    metrics::counter!("store_calls_total", "op" => op, "outcome" => if ok { "ok" } else { "error" })
        .increment(1);
}

/// For tests that count up to a limit: waits out a window that is about to end, so the counts
/// under test all fall in one window.
#[cfg(test)]
pub(crate) async fn fresh_window(length: Duration) {
    let left = window("", length).resets_in;
    if left < Duration::from_secs(5) {
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
pub(crate) mod contract {
    //! The behaviour every [`Store`] must have; run against both implementations.

    use super::*;

    pub async fn holds_its_contract(store: &dyn Store) {
        let k = format!("contract:{}", uuid::Uuid::new_v4());
        assert_eq!(store.get(&k).await.unwrap(), None);
        store
            .set(&k, b"v1", Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"v1"[..]));

        assert!(
            !store
                .set_nx(&k, b"other", Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(store.replace_keep_ttl(&k, b"v2").await.unwrap());
        assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"v2"[..]));

        assert!(!store.delete_if_eq(&k, b"v1").await.unwrap());
        assert!(store.delete_if_eq(&k, b"v2").await.unwrap());
        assert_eq!(store.get(&k).await.unwrap(), None);
        assert!(!store.replace_keep_ttl(&k, b"v3").await.unwrap());
        assert!(
            store
                .set_nx(&k, b"lock", Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(store.delete(&k).await.unwrap());
        assert!(!store.delete(&k).await.unwrap());

        let c = format!("contract-counter:{}", uuid::Uuid::new_v4());
        fresh_window(Duration::from_secs(60)).await;
        let first = store.hit(&c, Duration::from_secs(60)).await.unwrap();
        assert_eq!(first.count, 1);
        assert!(first.resets_in <= Duration::from_secs(60));
        assert!(first.resets_in > Duration::ZERO);
        assert_eq!(
            store.hit(&c, Duration::from_secs(60)).await.unwrap().count,
            2
        );

        let missing = store
            .get_ex_and_hit(&k, Duration::from_secs(60), &c, Duration::from_secs(60), 1)
            .await
            .unwrap();
        assert_eq!(missing, None);
        store
            .set(&k, b"s", Some(Duration::from_secs(1)))
            .await
            .unwrap();
        let (found, hit) = store
            .get_ex_and_hit(&k, Duration::from_secs(600), &c, Duration::from_secs(60), 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, b"s");
        assert_eq!(
            hit.count, 3,
            "a missing key was not counted, a found one was"
        );
        let (_, hit) = store
            .get_ex_and_hit(&k, Duration::from_secs(600), &c, Duration::from_secs(60), 5)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            hit.count, 8,
            "hits served from a cache are counted together"
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            store.get(&k).await.unwrap().as_deref(),
            Some(&b"s"[..]),
            "get_ex_and_hit must extend the expiry"
        );
        store.delete(&k).await.unwrap();

        let s = format!("contract-set:{}", uuid::Uuid::new_v4());
        assert!(store.set_members(&s).await.unwrap().is_empty());
        store
            .set_add(&s, "a", Duration::from_secs(60))
            .await
            .unwrap();
        store
            .set_add(&s, "b", Duration::from_secs(60))
            .await
            .unwrap();
        let mut members = store.set_members(&s).await.unwrap();
        members.sort();
        assert_eq!(members, vec!["a".to_string(), "b".to_string()]);
        store.set_remove(&s, "a").await.unwrap();
        assert_eq!(store.set_members(&s).await.unwrap(), vec!["b".to_string()]);
        store.delete(&s).await.unwrap();

        let channel = format!("contract-channel:{}", uuid::Uuid::new_v4());
        let mut first = store.subscribe(&channel).await.unwrap();
        let mut second = store.subscribe(&channel).await.unwrap();
        store.publish(&channel, b"hello").await.unwrap();
        for stream in [&mut first, &mut second] {
            let got =
                tokio::time::timeout(Duration::from_secs(2), futures::StreamExt::next(stream))
                    .await
                    .expect("a published message reaches every subscriber");
            assert_eq!(got.as_deref(), Some(&b"hello"[..]));
        }
        store.publish("nobody-listens", b"x").await.unwrap();

        let short = format!("contract-ttl:{}", uuid::Uuid::new_v4());
        store
            .set(&short, b"x", Some(Duration::from_millis(100)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            store.get(&short).await.unwrap(),
            None,
            "expired keys are gone"
        );
        store.ping().await.unwrap();
    }
}
