//! The access token, shared by every gateway instance through the store.
//!
//! One refresh at a time across all instances: a lock with a lease, released by compare-and-
//! delete, and the cache checked again once the lock is held. The cached token carries the moment
//! to refresh it (200–300 s before expiry, chosen once so all instances agree). While one instance
//! refreshes, the others keep using the still-valid token rather than queueing behind it.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::client::WechatClient;
use super::error::WechatError;
use crate::store::{Lock, Store};
use crate::time::Clock;

/// A token this close to expiry is not handed out.
const SAFETY: i64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CachedToken {
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub refresh_at: i64,
    /// The exact bytes in the store, for compare-and-delete.
    #[serde(skip)]
    raw: Vec<u8>,
}

impl CachedToken {
    fn fresh(&self, now: i64) -> bool {
        now < self.refresh_at
    }

    fn usable(&self, now: i64) -> bool {
        now < self.expires_at - SAFETY
    }
}

#[derive(Clone)]
pub(super) struct TokenCache {
    store: Arc<dyn Store>,
    key: String,
    lock: Lock,
    /// How long others wait for the holder of the lock.
    wait: Duration,
    /// Expiry and refresh moments are read on the domain's clock.
    clock: Clock,
}

impl TokenCache {
    /// `longest_fetch`: the most one `stable_token` call may take with its retries. A refresh
    /// may make two (a forced one after a rejected token); the lease outlasts both.
    pub fn new(store: Arc<dyn Store>, clock: Clock, app_id: &str, longest_fetch: Duration) -> Self {
        let lease = longest_fetch * 2 + Duration::from_secs(5);
        Self {
            store,
            clock,
            key: format!("wx:access-token:{app_id}"),
            lock: Lock::new(format!("wx:access-token:{app_id}"), lease),
            wait: lease,
        }
    }

    async fn read(&self) -> Result<Option<CachedToken>, WechatError> {
        let Some(raw) = self.store.get(&self.key).await? else {
            return Ok(None);
        };
        match serde_json::from_slice::<CachedToken>(&raw) {
            Ok(mut cached) => {
                cached.raw = raw;
                Ok(Some(cached))
            }
            Err(_) => {
                tracing::warn!("unreadable access token in the store, refreshing");
                Ok(None)
            }
        }
    }

    /// A token to use now.
    pub async fn current(&self, client: &WechatClient) -> Result<CachedToken, WechatError> {
        let now = self.clock.now().timestamp();
        match self.read().await? {
            Some(cached) if cached.fresh(now) => Ok(cached),
            Some(cached) if cached.usable(now) => {
                // Time to refresh, but the token still works: refresh if nobody else is, and
                // if the refresh fails, keep using it (the next call tries again).
                match self.lock.try_acquire(&self.store).await? {
                    Some(guard) => match self.refresh_holding(client, guard, None).await {
                        Ok(fresh) => Ok(fresh),
                        Err(e) => {
                            tracing::warn!(error = %e, "early access-token refresh failed; the current token still works");
                            Ok(cached)
                        }
                    },
                    None => Ok(cached),
                }
            }
            _ => self.refresh(client, None).await,
        }
    }

    /// WeChat rejected `rejected`: drop it (only if it is still the cached one) and get another.
    pub async fn replace_rejected(
        &self,
        client: &WechatClient,
        rejected: &CachedToken,
    ) -> Result<CachedToken, WechatError> {
        self.store.delete_if_eq(&self.key, &rejected.raw).await?;
        self.refresh(client, Some(&rejected.token)).await
    }

    /// Refreshes under the lock, or waits for whoever holds it.
    async fn refresh(
        &self,
        client: &WechatClient,
        rejected: Option<&str>,
    ) -> Result<CachedToken, WechatError> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            if let Some(guard) = self.lock.try_acquire(&self.store).await? {
                return self.refresh_holding(client, guard, rejected).await;
            }
            let pause = rand::rng().random_range(15..45);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            if let Some(cached) = self.read().await?
                && good_enough(&cached, rejected, self.clock.now().timestamp())
            {
                return Ok(cached);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WechatError::TokenRefreshTimeout);
            }
        }
    }

    async fn refresh_holding(
        &self,
        client: &WechatClient,
        guard: crate::store::LockGuard,
        rejected: Option<&str>,
    ) -> Result<CachedToken, WechatError> {
        let result = self.refresh_locked(client, rejected).await;
        if let Err(e) = guard.release().await {
            tracing::warn!(error = %e, "could not release the access-token lock; its lease will");
        }
        result
    }

    async fn refresh_locked(
        &self,
        client: &WechatClient,
        rejected: Option<&str>,
    ) -> Result<CachedToken, WechatError> {
        // Someone may have refreshed between our read and our lock.
        if let Some(cached) = self.read().await?
            && good_enough(&cached, rejected, self.clock.now().timestamp())
        {
            return Ok(cached);
        }
        let mut body = client.fetch_stable_token(false).await?;
        if rejected == Some(body.access_token.as_str()) {
            // WeChat still hands out the token it just rejected: ask for a new one.
            tracing::warn!("stable_token returned the rejected token; forcing a refresh");
            body = client.fetch_stable_token(true).await?;
        }
        let now = self.clock.now().timestamp();
        let lifetime = body.expires_in.max(1);
        let early = if lifetime > 600 {
            rand::rng().random_range(200..=300)
        } else {
            lifetime / 2
        };
        let mut cached = CachedToken {
            token: body.access_token,
            expires_at: now + lifetime,
            refresh_at: now + lifetime - early,
            raw: Vec::new(),
        };
        let raw = serde_json::to_vec(&cached)
            .map_err(|e| WechatError::Malformed(format!("serialize token: {e}")))?;
        let ttl = Duration::from_secs(u64::try_from(lifetime).unwrap_or(1));
        self.store.set(&self.key, &raw, Some(ttl)).await?;
        cached.raw = raw;
        tracing::info!(expires_in = lifetime, "access token refreshed");
        Ok(cached)
    }
}

fn good_enough(cached: &CachedToken, rejected: Option<&str>, now: i64) -> bool {
    match rejected {
        Some(bad) => cached.token != bad && cached.usable(now),
        None => cached.fresh(now),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use simulators::wechat::{WechatSim, WechatSimConfig};

    use super::*;
    use crate::store::MemoryStore;
    use crate::wechat::WechatConfig;

    #[tokio::test]
    async fn the_token_expires_on_the_domain_clock() {
        let sim = WechatSim::start(WechatSimConfig::default()).await.unwrap();
        let clock = Clock::system();
        let client = WechatClient::new(
            WechatConfig {
                base_url: sim.base_url(),
                app_id: sim.app_id().to_owned(),
                app_secret: SecretString::from(sim.app_secret().to_owned()),
                timeout: Duration::from_secs(5),
                max_attempts: 1,
            },
            Arc::new(MemoryStore::new("token-clock:")),
            clock.clone(),
        )
        .unwrap();
        let first = client.access_token().await.unwrap();
        assert_eq!(client.access_token().await.unwrap(), first);
        assert_eq!(sim.stats().stable_token_calls, 1);
        // Two hours on the domain's clock: the cached token is past its expiry there, though
        // neither the store's TTL nor WeChat has seen the time pass.
        clock.advance(chrono::Duration::hours(2));
        client.access_token().await.unwrap();
        assert_eq!(sim.stats().stable_token_calls, 2);
        client.access_token().await.unwrap();
        assert_eq!(
            sim.stats().stable_token_calls,
            2,
            "fresh again on the moved clock"
        );
        sim.stop().await;
    }
}
