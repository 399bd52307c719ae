//! How often one may fail to log in as staff, without letting a stranger lock a member out.
//!
//! Only failures count, and the hard stops are per (username, address) and per address: a
//! stranger who guesses `admin`'s password from one address stops only themselves, and one
//! address spraying many usernames is stopped too. Per username (from any address) there is a
//! back-off instead of a stop: past a number of failures, every attempt for that username waits
//! before its password is checked, doubling up to a ceiling — slow for a guesser, a few seconds
//! for the member, whose right password still gets in. A stop is a flag in the store with the
//! moment it ends (the counters themselves are only counted, never read), so a blocked attempt
//! costs one read and no password hash.

use std::sync::Arc;
use std::time::Duration;

use crate::limits::{Limited, Quota};
use crate::store::{Store, StoreError};

/// The per-username back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures of one username (from any address) in `window` before attempts wait.
    pub after: u64,
    pub window: Duration,
    /// The first wait; each further failure doubles it …
    pub base: Duration,
    /// … up to this.
    pub max: Duration,
}

impl Backoff {
    /// The wait before checking a password for a username that failed `failures` times.
    pub fn delay(&self, failures: u64) -> Duration {
        let Some(excess) = failures.checked_sub(self.after).filter(|e| *e > 0) else {
            return Duration::ZERO;
        };
        let doublings = u32::try_from(excess - 1).unwrap_or(u32::MAX).min(30);
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// How often one may fail to log in as staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffLoginLimits {
    /// Failures per client address, whatever the username: stops one address spraying.
    pub failures_per_ip: Quota,
    /// Failures per username from one address: stops one address guessing one password.
    pub failures_per_user_and_ip: Quota,
    /// The slower per-username back-off, which a right password still passes.
    pub user_backoff: Backoff,
}

impl StaffLoginLimits {
    /// 30 failures a minute per address, 5 per username and address, and past 10 failures of
    /// a username in 15 minutes a wait from 250 ms doubling to 5 s.
    pub fn defaults() -> Self {
        Self {
            failures_per_ip: Quota::per_minute(30),
            failures_per_user_and_ip: Quota::per_minute(5),
            user_backoff: Backoff {
                after: 10,
                window: Duration::from_secs(15 * 60),
                base: Duration::from_millis(250),
                max: Duration::from_secs(5),
            },
        }
    }
}

/// The failure counters and stops, in the shared store.
#[derive(Clone)]
pub(crate) struct LoginGuard {
    store: Arc<dyn Store>,
    limits: StaffLoginLimits,
}

/// Milliseconds of the wall clock: a stop is stored in the shared store and read by every
/// instance, so it is counted on the clock they share, not the domain's.
fn now_ms() -> u64 {
    u64::try_from(crate::time::wall_now().timestamp_millis()).unwrap_or_default()
}

impl LoginGuard {
    pub(crate) fn new(store: Arc<dyn Store>, limits: StaffLoginLimits) -> Self {
        Self { store, limits }
    }

    /// Whether attempts from `ip` are stopped for now.
    pub(crate) async fn address_stopped(&self, ip: &str) -> Result<Option<Limited>, StoreError> {
        self.stopped(&format!("staff-login:stop:ip:{ip}")).await
    }

    /// Whether attempts for `username` from `ip` are stopped for now.
    pub(crate) async fn pair_stopped(
        &self,
        username: &str,
        ip: &str,
    ) -> Result<Option<Limited>, StoreError> {
        self.stopped(&format!("staff-login:stop:user-ip:{username}:{ip}"))
            .await
    }

    /// How long an attempt for `username` waits before its password is checked.
    pub(crate) async fn user_delay(&self, username: &str) -> Result<Duration, StoreError> {
        let value = self
            .store
            .get(&format!("staff-login:backoff:{username}"))
            .await?;
        Ok(value
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_millis))
    }

    /// Counts a failure from `ip` (if known) for `username` (if it parsed), setting the stops
    /// and the back-off that it brings about.
    pub(crate) async fn failed(
        &self,
        username: Option<&str>,
        ip: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(ip) = ip {
            self.count(
                &format!("staff-login:fail:ip:{ip}"),
                &format!("staff-login:stop:ip:{ip}"),
                self.limits.failures_per_ip,
            )
            .await?;
        }
        let Some(username) = username else {
            return Ok(());
        };
        if let Some(ip) = ip {
            self.count(
                &format!("staff-login:fail:user-ip:{username}:{ip}"),
                &format!("staff-login:stop:user-ip:{username}:{ip}"),
                self.limits.failures_per_user_and_ip,
            )
            .await?;
        }
        let backoff = self.limits.user_backoff;
        let hit = self
            .store
            .hit(&format!("staff-login:fail:user:{username}"), backoff.window)
            .await?;
        let delay = backoff.delay(hit.count);
        if !delay.is_zero() {
            if hit.count == backoff.after + 1 {
                tracing::warn!(
                    username,
                    failures = hit.count,
                    "staff login failures for one username from several addresses: its attempts now wait"
                );
            }
            let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            self.store
                .set(
                    &format!("staff-login:backoff:{username}"),
                    ms.to_string().as_bytes(),
                    Some(hit.resets_in.max(Duration::from_millis(1))),
                )
                .await?;
        }
        Ok(())
    }

    async fn count(&self, counter: &str, stop: &str, quota: Quota) -> Result<(), StoreError> {
        let hit = self.store.hit(counter, quota.window).await?;
        if hit.count >= quota.max {
            let ttl = hit.resets_in.max(Duration::from_millis(1));
            let until = now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(0));
            self.store
                .set(stop, until.to_string().as_bytes(), Some(ttl))
                .await?;
        }
        Ok(())
    }

    async fn stopped(&self, key: &str) -> Result<Option<Limited>, StoreError> {
        let Some(value) = self.store.get(key).await? else {
            return Ok(None);
        };
        let until = String::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let left = until.saturating_sub(now_ms());
        if left == 0 {
            return Ok(None);
        }
        Ok(Some(Limited {
            retry_after: Duration::from_secs(left.div_ceil(1000).max(1)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn limits() -> StaffLoginLimits {
        StaffLoginLimits {
            failures_per_ip: Quota::per_minute(4),
            failures_per_user_and_ip: Quota::per_minute(2),
            user_backoff: Backoff {
                after: 3,
                window: Duration::from_secs(60),
                base: Duration::from_millis(100),
                max: Duration::from_millis(350),
            },
        }
    }

    #[test]
    fn the_back_off_starts_after_its_failures_and_doubles_to_its_ceiling() {
        let b = limits().user_backoff;
        let ms = |n| b.delay(n).as_millis();
        assert_eq!(
            [ms(0), ms(3), ms(4), ms(5), ms(6), ms(60)],
            [0, 0, 100, 200, 350, 350]
        );
        assert_eq!(
            StaffLoginLimits::defaults()
                .user_backoff
                .delay(u64::MAX)
                .as_secs(),
            5
        );
    }

    #[tokio::test]
    async fn failures_stop_the_pair_then_the_address_and_slow_the_username() {
        crate::store::fresh_window(Duration::from_secs(60)).await;
        let guard = LoginGuard::new(Arc::new(MemoryStore::new("t:")), limits());
        guard.failed(Some("admin"), Some("a")).await.unwrap();
        assert!(guard.pair_stopped("admin", "a").await.unwrap().is_none());
        guard.failed(Some("admin"), Some("a")).await.unwrap();
        let stop = guard.pair_stopped("admin", "a").await.unwrap().unwrap();
        assert!((1..=60).contains(&stop.retry_after.as_secs()));
        // Another address, another username: not stopped by it.
        assert!(guard.pair_stopped("admin", "b").await.unwrap().is_none());
        assert!(guard.pair_stopped("other", "a").await.unwrap().is_none());
        assert!(guard.address_stopped("a").await.unwrap().is_none());
        guard.failed(None, Some("a")).await.unwrap();
        guard.failed(Some("other"), Some("a")).await.unwrap();
        assert!(guard.address_stopped("a").await.unwrap().is_some());
        assert!(guard.address_stopped("b").await.unwrap().is_none());
        // Two failures of `admin` so far; a third from anywhere changes nothing, the fourth
        // starts the wait.
        assert_eq!(guard.user_delay("admin").await.unwrap(), Duration::ZERO);
        guard.failed(Some("admin"), None).await.unwrap();
        guard.failed(Some("admin"), Some("c")).await.unwrap();
        assert_eq!(
            guard.user_delay("admin").await.unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(guard.user_delay("other").await.unwrap(), Duration::ZERO);
    }
}
