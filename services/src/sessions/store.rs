//! The one session store behind citizens' and staff sessions; each kind gives its token prefix,
//! its keys and what a session carries ([`Kind`]).
//!
//! The bearer token is 256 random bits; the store keeps only its SHA-256, so a copy of Redis
//! opens no session. A session slides (each read pushes the idle expiry) up to an absolute
//! lifetime, and counts its requests against a per-session budget in a window shared by every
//! instance. A session is found again through a per-owner set, which is written *before* the
//! session itself: a revocation of every session of the owner running meanwhile then finds the
//! new one too. The entry's first expiry is the idle one capped by the absolute lifetime.
//!
//! Reads go through the in-process [`cache`](super::cache) (its revocation bound is stated
//! there); every "now" comes from the injected [`Clock`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use super::cache::{CACHE_DEPTH, Invalidation, Lookup, SessionCache};
use super::{AuthError, SessionConfig};
use crate::limits;
use crate::store::{Store, StoreError};
use crate::time::Clock;

const TOKEN_RANDOM_BYTES: usize = 32;

/// A kind of session: citizens' or staff's.
pub(crate) trait Kind: Send + Sync + 'static {
    /// The token's prefix (`zsb_`, `zst_`): a token of one kind never opens the other.
    const TOKEN_PREFIX: &'static str;
    /// The entry's key prefix: the entry is `{ENTRY}:{hash}` and its request counter
    /// `rl:{ENTRY}:{hash}`, in one Redis Cluster slot (the braces are a hash tag).
    const ENTRY: &'static str;
    /// The per-owner set's key prefix: `{OWNERS}:{owner id}`.
    const OWNERS: &'static str;
    /// The pub/sub channel its invalidations travel on.
    const CHANNEL: &'static str;
    /// What the store keeps for a session.
    type Stored: Serialize + DeserializeOwned + Send + Sync + 'static;
    fn owner(stored: &Self::Stored) -> i64;
    fn expires_at(stored: &Self::Stored) -> DateTime<Utc>;
}

pub(crate) struct SessionStore<K: Kind> {
    store: Arc<dyn Store>,
    config: SessionConfig,
    clock: Clock,
    cache: Arc<SessionCache<K::Stored>>,
    kind: PhantomData<K>,
}

impl<K: Kind> Clone for SessionStore<K> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            config: self.config,
            clock: self.clock.clone(),
            cache: Arc::clone(&self.cache),
            kind: PhantomData,
        }
    }
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` is `prefix` and 43 characters of base64url.
pub(crate) fn is_well_formed(token: &str, prefix: &str) -> bool {
    token.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn decode<K: Kind>(bytes: &[u8]) -> Option<K::Stored> {
    match serde_json::from_slice(bytes) {
        Ok(stored) => Some(stored),
        Err(e) => {
            tracing::warn!(error = %e, entry = K::ENTRY, "unreadable session in the store; treating it as expired");
            None
        }
    }
}

fn encode<K: Kind>(stored: &K::Stored) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(stored).map_err(|e| StoreError::new("encode session", e))
}

impl<K: Kind> SessionStore<K> {
    pub(crate) fn new(store: Arc<dyn Store>, config: SessionConfig, clock: Clock) -> Self {
        Self::with_cache_depth(store, config, clock, CACHE_DEPTH)
    }

    /// As [`SessionStore::new`] with a cache `depth` deep (zero: no cache).
    pub(crate) fn with_cache_depth(
        store: Arc<dyn Store>,
        config: SessionConfig,
        clock: Clock,
        depth: Duration,
    ) -> Self {
        let cache = SessionCache::new(Arc::clone(&store), K::CHANNEL.to_owned(), depth);
        Self {
            store,
            config,
            clock,
            cache,
            kind: PhantomData,
        }
    }

    pub(crate) fn config(&self) -> SessionConfig {
        self.config
    }

    fn entry(hash: &str) -> String {
        format!("{}:{{{hash}}}", K::ENTRY)
    }

    fn counter(hash: &str) -> String {
        format!("rl:{}:{{{hash}}}", K::ENTRY)
    }

    fn owner_set(owner: i64) -> String {
        format!("{}:{owner}", K::OWNERS)
    }

    /// Opens a session of what `build(issued_at, expires_at)` makes, and returns its bearer
    /// token (shown once, stored only as a hash), its hash and what was stored.
    pub(crate) async fn create(
        &self,
        build: impl FnOnce(DateTime<Utc>, DateTime<Utc>) -> K::Stored,
    ) -> Result<(SecretString, String, K::Stored), StoreError> {
        let mut random = [0u8; TOKEN_RANDOM_BYTES];
        rand::rng().fill_bytes(&mut random);
        let token = format!("{}{}", K::TOKEN_PREFIX, URL_SAFE_NO_PAD.encode(random));
        let hash = hash_token(&token);
        let now = self.clock.now();
        let stored = build(now, now + self.config.absolute_ttl);
        let bytes = encode::<K>(&stored)?;
        // In the set first: a revocation of every session of the owner running meanwhile then
        // finds this one too.
        self.store
            .set_add(
                &Self::owner_set(K::owner(&stored)),
                &hash,
                self.config.absolute_ttl,
            )
            .await?;
        self.store
            .set(
                &Self::entry(&hash),
                &bytes,
                Some(self.config.idle_ttl.min(self.config.absolute_ttl)),
            )
            .await?;
        Ok((SecretString::from(token), hash, stored))
    }

    /// The session behind a bearer token and its hash; pushes its idle expiry and counts the
    /// request (through the cache: see its docs for when the store hears of it).
    pub(crate) async fn authenticate(
        &self,
        token: &str,
    ) -> Result<(Arc<K::Stored>, String), AuthError> {
        if !is_well_formed(token, K::TOKEN_PREFIX) {
            return Err(AuthError::Malformed);
        }
        let hash = hash_token(token);
        let (stored, hit) = match self.cache.lookup(&hash) {
            Lookup::Hit { stored, hit } => (stored, hit),
            Lookup::Miss { pending, ticket } => {
                let found = self
                    .store
                    .get_ex_and_hit(
                        &Self::entry(&hash),
                        self.config.idle_ttl,
                        &Self::counter(&hash),
                        self.config.request_budget.window,
                        pending + 1,
                    )
                    .await?;
                let Some((bytes, hit)) = found else {
                    return Err(AuthError::Expired);
                };
                let Some(stored) = decode::<K>(&bytes) else {
                    self.store.delete(&Self::entry(&hash)).await?;
                    return Err(AuthError::Expired);
                };
                let stored = Arc::new(stored);
                // Never cached past half the idle expiry: the reads that slide it must come
                // before it lapses.
                self.cache.insert(
                    &hash,
                    K::owner(&stored),
                    Arc::clone(&stored),
                    hit,
                    ticket,
                    self.config.idle_ttl / 2,
                );
                (stored, hit)
            }
        };
        if self.clock.now() >= K::expires_at(&stored) {
            self.end(K::owner(&stored), &hash).await?;
            return Err(AuthError::Expired);
        }
        limits::check(hit.count, hit.resets_in, self.config.request_budget)?;
        Ok((stored, hash))
    }

    /// Whether a session authenticated earlier still stands in the store (not logged out, not
    /// expired); asks the store, not the cache, and neither slides nor counts.
    pub(crate) async fn is_live(
        &self,
        hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found = self.store.get(&Self::entry(hash)).await?;
        Ok(found.is_some() && self.clock.now() < expires_at)
    }

    /// Ends one session, here at once and on every instance (see the cache's bound).
    pub(crate) async fn end(&self, owner: i64, hash: &str) -> Result<(), StoreError> {
        self.store.delete(&Self::entry(hash)).await?;
        self.store.set_remove(&Self::owner_set(owner), hash).await?;
        self.invalidate(&Invalidation::Session(hash)).await
    }

    /// Ends every session of an owner.
    pub(crate) async fn end_all(&self, owner: i64) -> Result<(), StoreError> {
        let set = Self::owner_set(owner);
        for hash in self.store.set_members(&set).await? {
            self.store.delete(&Self::entry(&hash)).await?;
            self.store.set_remove(&set, &hash).await?;
        }
        self.invalidate(&Invalidation::Owner(owner)).await
    }

    /// Rewrites every live session of an owner with `change` (keeping each one's expiry).
    /// Callers keep two rewrites of one owner from interleaving.
    pub(crate) async fn rewrite_all(
        &self,
        owner: i64,
        change: impl Fn(&mut K::Stored),
    ) -> Result<(), StoreError> {
        let set = Self::owner_set(owner);
        for hash in self.store.set_members(&set).await? {
            let key = Self::entry(&hash);
            let Some(bytes) = self.store.get(&key).await? else {
                self.store.set_remove(&set, &hash).await?;
                continue;
            };
            let Some(mut stored) = decode::<K>(&bytes) else {
                continue;
            };
            change(&mut stored);
            if !self
                .store
                .replace_keep_ttl(&key, &encode::<K>(&stored)?)
                .await?
            {
                self.store.set_remove(&set, &hash).await?;
            }
        }
        self.invalidate(&Invalidation::Owner(owner)).await
    }

    async fn invalidate(&self, change: &Invalidation<'_>) -> Result<(), StoreError> {
        self.cache.invalidate(change);
        super::cache::publish(self.store.as_ref(), K::CHANNEL, change).await
    }
}
