//! Flags an instance keeps in memory for a short while — "this slot is sold out" — so that the
//! answer they give costs no round trip at all, and that every instance drops as soon as one of
//! them publishes that the flag no longer holds (a seat was given back).
//!
//! The bound: a flag is never believed longer than its `ttl` after the read that raised it, so
//! a cleared flag is dropped everywhere within `ttl` whatever happens to the message (usually
//! within milliseconds, on receipt). A read that raised a flag just before a clear, and sets it
//! just after, is kept out by an epoch every clear bumps. An instance that is not subscribed
//! keeps no flags.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use super::{Store, StoreError};

/// The wait before subscribing again after the subscription failed or ended.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);
/// Flags kept at most; past it, new flags are not kept until old ones lapse.
const MAX_FLAGS: usize = 100_000;

/// Taken before the read that decides a flag; see [`LocalFlags::raise`].
#[derive(Debug, Clone, Copy)]
pub struct FlagTicket {
    epoch: u64,
    at: Instant,
}

struct Inner {
    flags: Mutex<HashMap<i64, Instant>>,
    ttl: Duration,
    live: AtomicBool,
    epoch: AtomicU64,
    listener: OnceLock<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.listener.get() {
            task.abort();
        }
    }
}

impl Inner {
    fn flags(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Instant>> {
        self.flags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn drop_flag(&self, id: i64) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.flags().remove(&id);
    }

    fn stop(&self) {
        self.live.store(false, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.flags().clear();
    }
}

/// In-memory flags by id, cleared on every instance through the store's pub/sub.
#[derive(Clone)]
pub struct LocalFlags {
    inner: Arc<Inner>,
    store: Arc<dyn Store>,
    channel: Arc<str>,
}

impl LocalFlags {
    /// Flags believed for `ttl`, cleared through `channel` of `store`. Nothing is kept until
    /// the subscription stands, nor outside a Tokio runtime.
    pub fn new(store: Arc<dyn Store>, channel: &str, ttl: Duration) -> Self {
        let inner = Arc::new(Inner {
            flags: Mutex::new(HashMap::new()),
            ttl,
            live: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            listener: OnceLock::new(),
        });
        if !ttl.is_zero()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let task = runtime.spawn(listen(
                Arc::downgrade(&inner),
                Arc::clone(&store),
                channel.to_owned(),
            ));
            let _ = inner.listener.set(task.abort_handle());
        }
        Self {
            inner,
            store,
            channel: Arc::from(channel),
        }
    }

    /// Whether `id` is flagged (and the flag not older than its `ttl`).
    pub fn is_raised(&self, id: i64) -> bool {
        if !self.inner.live.load(Ordering::Acquire) {
            return false;
        }
        let now = Instant::now();
        let mut flags = self.inner.flags();
        match flags.get(&id) {
            Some(&until) if now < until => true,
            Some(_) => {
                flags.remove(&id);
                false
            }
            None => false,
        }
    }

    /// Take before the read that may raise a flag.
    pub fn ticket(&self) -> FlagTicket {
        FlagTicket {
            epoch: self.inner.epoch.load(Ordering::Acquire),
            at: Instant::now(),
        }
    }

    /// Whether no clear came since `ticket` was taken: a read begun with it may still be
    /// believed (and shared with a request that comes later).
    pub fn is_current(&self, ticket: FlagTicket) -> bool {
        self.inner.epoch.load(Ordering::Acquire) == ticket.epoch
    }

    /// Whether flags are kept at all (the instance is subscribed to the clears).
    pub fn is_live(&self) -> bool {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Raises `id`'s flag as a read taken with `ticket` found it, unless a clear came since.
    pub fn raise(&self, id: i64, ticket: FlagTicket) {
        if !self.inner.live.load(Ordering::Acquire) {
            return;
        }
        let mut flags = self.inner.flags();
        // Under the lock: a clear bumps the epoch before it takes the lock.
        if self.inner.epoch.load(Ordering::Acquire) != ticket.epoch {
            return;
        }
        if flags.len() >= MAX_FLAGS {
            let now = Instant::now();
            flags.retain(|_, until| now < *until);
            if flags.len() >= MAX_FLAGS {
                return;
            }
        }
        flags.insert(id, ticket.at + self.inner.ttl);
    }

    /// Clears `id`'s flag here at once and on every instance on receipt.
    ///
    /// # Errors
    /// The store could not publish the clear (the other instances then drop the flag within
    /// their `ttl`).
    pub async fn clear(&self, id: i64) -> Result<(), StoreError> {
        self.clear_many(&[id]).await
    }

    /// Clears the flags of `ids` here at once and on every instance on receipt, in one message.
    ///
    /// # Errors
    /// As [`LocalFlags::clear`].
    pub async fn clear_many(&self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        for &id in ids {
            self.inner.drop_flag(id);
        }
        let message = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        self.store.publish(&self.channel, message.as_bytes()).await
    }
}

/// The ids of a clear message: `7` or `7,8,9`; `None` for anything else.
fn ids_of(message: &[u8]) -> Option<Vec<i64>> {
    std::str::from_utf8(message)
        .ok()?
        .split(',')
        .map(|id| id.trim().parse().ok())
        .collect()
}

async fn listen(inner: Weak<Inner>, store: Arc<dyn Store>, channel: String) {
    loop {
        if inner.strong_count() == 0 {
            return;
        }
        let mut messages = match store.subscribe(&channel).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, channel, "cannot subscribe to flag clears; keeping no flags");
                tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                continue;
            }
        };
        match inner.upgrade() {
            Some(inner) => inner.live.store(true, Ordering::Release),
            None => return,
        }
        while let Some(message) = messages.next().await {
            let Some(inner) = inner.upgrade() else { return };
            match ids_of(&message) {
                Some(ids) => ids.into_iter().for_each(|id| inner.drop_flag(id)),
                None => {
                    tracing::warn!(channel, "unreadable flag clear; dropping every flag");
                    inner.stop();
                    inner.live.store(true, Ordering::Release);
                }
            }
        }
        tracing::warn!(
            channel,
            "flag clears lost; keeping no flags until subscribed again"
        );
        match inner.upgrade() {
            Some(inner) => inner.stop(),
            None => return,
        }
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    async fn subscribed(flags: &LocalFlags) {
        for _ in 0..100 {
            if flags.inner.live.load(Ordering::Acquire) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never subscribed");
    }

    #[tokio::test]
    async fn a_flag_holds_for_its_ttl_and_a_clear_on_another_instance_drops_it() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new("t:"));
        let one = LocalFlags::new(Arc::clone(&store), "full", Duration::from_millis(300));
        let two = LocalFlags::new(Arc::clone(&store), "full", Duration::from_millis(300));
        subscribed(&one).await;
        subscribed(&two).await;
        let ticket = one.ticket();
        one.raise(7, ticket);
        assert!(one.is_raised(7));
        assert!(!one.is_raised(8));
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(!one.is_raised(7), "a flag lapses after its ttl");

        one.raise(7, one.ticket());
        two.clear(7).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!one.is_raised(7), "a clear elsewhere drops it");
    }

    #[tokio::test]
    async fn one_message_clears_many_flags_on_another_instance() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new("t:"));
        let one = LocalFlags::new(Arc::clone(&store), "full", Duration::from_secs(30));
        let two = LocalFlags::new(Arc::clone(&store), "full", Duration::from_secs(30));
        subscribed(&one).await;
        subscribed(&two).await;
        for id in [1, 2, 3] {
            one.raise(id, one.ticket());
        }
        two.clear_many(&[1, 3]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!one.is_raised(1));
        assert!(one.is_raised(2), "a flag not named stays");
        assert!(!one.is_raised(3));
        assert_eq!(ids_of(b"4"), Some(vec![4]));
        assert_eq!(ids_of(b"4,x"), None);
    }

    #[tokio::test]
    async fn a_read_from_before_a_clear_raises_nothing() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new("t:"));
        let flags = LocalFlags::new(store, "full", Duration::from_secs(5));
        subscribed(&flags).await;
        let ticket = flags.ticket();
        flags.clear(3).await.unwrap();
        flags.raise(3, ticket);
        assert!(!flags.is_raised(3));
    }
}
