//! The in-process session cache: a session read from the store serves this instance's requests
//! for a few seconds ([`CACHE_DEPTH`]) without another store round trip, and the requests it
//! serves meanwhile are counted here and added to the store's counter with the next read.
//!
//! # The revocation bound
//!
//! A cached session is never served later than [`CACHE_DEPTH`] after the store read that
//! produced it (its freshness is counted from the moment that read was *sent*). So a session
//! revoked, logged out or rewritten in the store at instant T is refused (or seen rewritten) by
//! every instance by T + [`CACHE_DEPTH`] at the latest, whatever happens to the messages below.
//! In the common case it is much sooner: the instance that changes a session drops it from its
//! own cache at once and publishes the change on the store's pub/sub channel of its kind; every
//! instance drops the session (or all sessions of the owner) on receipt, a few milliseconds
//! later. While an instance is not subscribed (at start, or after its subscription was lost)
//! it caches nothing and every request reads the store, as without a cache.
//!
//! A read that started before an invalidation and answers after it could put the old value
//! back; an epoch bumped by every invalidation, checked when the read's result is inserted,
//! keeps it out.
//!
//! # The request budget
//!
//! Hits served from the cache are counted locally and sent to the store's window counter with
//! the next read of the session (`INCRBY`), so the budget is still shared by every instance: an
//! instance's local count is the store's count at its last read plus its own hits since. Each
//! other instance can add at most [`CACHE_DEPTH`] worth of its own unsent hits, so a session
//! can exceed its budget by what the other instances serve it in that time; hits not yet sent
//! when a window ends are dropped with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use crate::store::{Hit, Store};

/// How long a session read from the store may serve requests without another read: the bound
/// within which a logout, revocation or profile change reaches every instance when the pub/sub
/// message is lost (it usually arrives within milliseconds).
pub const CACHE_DEPTH: Duration = Duration::from_secs(2);

/// Sessions cached at most, over all shards; past it new sessions are read from the store
/// every time until stale ones are swept.
const MAX_ENTRIES: usize = 200_000;
const SHARDS: usize = 16;
/// How often stale entries are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// The wait before subscribing again after the subscription failed or ended.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

struct Entry<S> {
    stored: Arc<S>,
    owner: i64,
    /// Served from here until then.
    fresh_until: Instant,
    /// The end of the request budget's window the count belongs to.
    window_ends: Instant,
    /// The store's count at the last read (this instance's hits sent with it included).
    counted: u64,
    /// Hits served from here since the last read, not yet in the store.
    pending: u64,
}

/// What a lookup found.
pub(crate) enum Lookup<S> {
    /// A fresh entry; this hit is counted.
    Hit { stored: Arc<S>, hit: Hit },
    /// Read the store, sending `pending + 1` hits, then [`SessionCache::insert`] with `ticket`.
    Miss { pending: u64, ticket: Ticket },
}

/// Taken before a store read; the read's result is cached only if no invalidation came between.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    sent_at: Instant,
}

/// A change that every instance must see.
pub(crate) enum Invalidation<'a> {
    /// One session (by token hash): logout, revocation, expiry.
    Session(&'a str),
    /// Every session of an owner: a profile change, a member's roles changed or deactivated.
    Owner(i64),
}

impl Invalidation<'_> {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Session(hash) => format!("t:{hash}").into_bytes(),
            Self::Owner(owner) => format!("o:{owner}").into_bytes(),
        }
    }
}

pub(crate) struct SessionCache<S> {
    shards: Vec<Mutex<HashMap<String, Entry<S>>>>,
    depth: Duration,
    /// Subscribed to the invalidations: only then is anything cached.
    live: AtomicBool,
    epoch: AtomicU64,
    listener: OnceLock<tokio::task::AbortHandle>,
}

impl<S> Drop for SessionCache<S> {
    fn drop(&mut self) {
        if let Some(task) = self.listener.get() {
            task.abort();
        }
    }
}

fn shard_of(hash: &str) -> usize {
    // The key is a hex SHA-256: its first byte is as random as any.
    usize::from(hash.as_bytes().first().copied().unwrap_or(0)) % SHARDS
}

impl<S: Send + Sync + 'static> SessionCache<S> {
    /// A cache `depth` deep (zero: nothing cached) listening on `channel` of `store`. It caches
    /// nothing until the subscription stands, and nothing outside a Tokio runtime.
    pub(crate) fn new(store: Arc<dyn Store>, channel: String, depth: Duration) -> Arc<Self> {
        let cache = Arc::new(Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            depth,
            live: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            listener: OnceLock::new(),
        });
        if !depth.is_zero()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let task = runtime.spawn(listen(Arc::downgrade(&cache), store, channel));
            let _ = cache.listener.set(task.abort_handle());
        }
        cache
    }

    fn shard(&self, hash: &str) -> std::sync::MutexGuard<'_, HashMap<String, Entry<S>>> {
        // A panic while holding a shard leaves a map that is still consistent.
        self.shards[shard_of(hash)]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn lookup(&self, hash: &str) -> Lookup<S> {
        let now = Instant::now();
        let ticket = Ticket {
            epoch: self.epoch.load(Ordering::Acquire),
            sent_at: now,
        };
        if !self.live.load(Ordering::Acquire) {
            return Lookup::Miss { pending: 0, ticket };
        }
        let mut shard = self.shard(hash);
        let Some(entry) = shard.get_mut(hash) else {
            return Lookup::Miss { pending: 0, ticket };
        };
        if now < entry.fresh_until {
            entry.pending += 1;
            return Lookup::Hit {
                stored: Arc::clone(&entry.stored),
                hit: Hit {
                    count: entry.counted + entry.pending,
                    resets_in: entry.window_ends.saturating_duration_since(now),
                },
            };
        }
        // Stale: the hits it served in a window still running go with the next read.
        let pending = if now < entry.window_ends {
            std::mem::take(&mut entry.pending)
        } else {
            0
        };
        Lookup::Miss { pending, ticket }
    }

    /// Caches what a read taken with `ticket` found, unless an invalidation came meanwhile.
    /// `max_age` shortens the depth (a session whose idle expiry is shorter than the cache).
    pub(crate) fn insert(
        &self,
        hash: &str,
        owner: i64,
        stored: Arc<S>,
        hit: Hit,
        ticket: Ticket,
        max_age: Duration,
    ) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let window_ends = ticket.sent_at + hit.resets_in;
        let fresh_until = (ticket.sent_at + self.depth.min(max_age)).min(window_ends);
        let mut shard = self.shard(hash);
        // Checked under the shard's lock: an invalidation bumps the epoch before it takes
        // the lock, so it either stops this insert or removes what it inserted.
        if self.epoch.load(Ordering::Acquire) != ticket.epoch {
            return;
        }
        if shard.len() >= MAX_ENTRIES / SHARDS && !shard.contains_key(hash) {
            let now = Instant::now();
            shard.retain(|_, e| now < e.fresh_until);
            if shard.len() >= MAX_ENTRIES / SHARDS {
                return;
            }
        }
        shard.insert(
            hash.to_owned(),
            Entry {
                stored,
                owner,
                fresh_until,
                window_ends,
                counted: hit.count,
                pending: 0,
            },
        );
    }

    /// Drops what `change` names from this instance's cache.
    pub(crate) fn invalidate(&self, change: &Invalidation<'_>) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match change {
            Invalidation::Session(hash) => {
                self.shard(hash).remove(*hash);
            }
            Invalidation::Owner(owner) => {
                for shard in &self.shards {
                    shard
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .retain(|_, e| e.owner != *owner);
                }
            }
        }
    }

    /// Drops everything, and caches nothing more until `live` is set again.
    fn stop(&self) {
        self.live.store(false, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
        }
    }

    fn sweep(&self) {
        let now = Instant::now();
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|_, e| now < e.fresh_until || now < e.window_ends && e.pending > 0);
        }
    }

    fn on_message(&self, message: &[u8]) {
        let text = String::from_utf8_lossy(message);
        match text.split_once(':') {
            Some(("t", hash)) => self.invalidate(&Invalidation::Session(hash)),
            Some(("o", owner)) => match owner.parse() {
                Ok(owner) => self.invalidate(&Invalidation::Owner(owner)),
                Err(_) => self.stop_and_warn(&text),
            },
            _ => self.stop_and_warn(&text),
        }
    }

    /// A message this version cannot read (a newer instance?): drop everything, to be safe.
    fn stop_and_warn(&self, text: &str) {
        tracing::warn!(message = %text, "unreadable session invalidation; dropping the cache");
        let was_live = self.live.load(Ordering::Acquire);
        self.stop();
        self.live.store(was_live, Ordering::Release);
    }
}

/// Publishes `change` to every instance (this one has dropped it already).
pub(crate) async fn publish(
    store: &dyn Store,
    channel: &str,
    change: &Invalidation<'_>,
) -> Result<(), crate::store::StoreError> {
    store.publish(channel, &change.encode()).await
}

/// Keeps the cache subscribed to its channel for as long as the cache lives.
async fn listen<S: Send + Sync + 'static>(
    cache: Weak<SessionCache<S>>,
    store: Arc<dyn Store>,
    channel: String,
) {
    loop {
        if cache.strong_count() == 0 {
            return;
        }
        let mut messages = match store.subscribe(&channel).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, channel, "cannot subscribe to session invalidations; not caching sessions");
                tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                continue;
            }
        };
        match cache.upgrade() {
            Some(cache) => cache.live.store(true, Ordering::Release),
            None => return,
        }
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    match cache.upgrade() {
                        Some(cache) => cache.on_message(&message),
                        None => return,
                    }
                }
                _ = sweep.tick() => match cache.upgrade() {
                    Some(cache) => cache.sweep(),
                    None => return,
                },
            }
        }
        tracing::warn!(
            channel,
            "session invalidations lost; not caching sessions until subscribed again"
        );
        match cache.upgrade() {
            Some(cache) => cache.stop(),
            None => return,
        }
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}
