//! Rate limits counted in the store, so every gateway instance shares them: a fixed window per
//! subject (an IP address, an openid, a session), aligned to the wall clock so every instance
//! counts in the same window. Answers how long to wait when over the limit.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Store, StoreError};

/// A limit of `max` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max: u64,
    pub window: Duration,
}

impl Quota {
    pub const fn per_minute(max: u64) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
        }
    }
}

/// Over the limit; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited, retry after {retry_after:?}")]
pub struct Limited {
    pub retry_after: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    Limited(#[from] Limited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts hits per named subject.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn Store>,
}

impl RateLimiter {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Counts one hit for `subject` (e.g. `login:ip:1.2.3.4`).
    ///
    /// # Errors
    /// [`LimitError::Limited`] once the quota is used up in this window; [`LimitError::Store`]
    /// when the store cannot be reached.
    pub async fn hit(&self, subject: &str, quota: Quota) -> Result<(), LimitError> {
        let hit = self
            .store
            .hit(&format!("rl:{subject}"), quota.window)
            .await?;
        check(hit.count, hit.resets_in, quota).map_err(LimitError::from)
    }
}

/// Whether a count is within the quota; when not, how long until the window resets
/// (rounded up to whole seconds, as `Retry-After` carries seconds).
pub fn check(count: u64, resets_in: Duration, quota: Quota) -> Result<(), Limited> {
    if count <= quota.max {
        return Ok(());
    }
    let secs = resets_in.as_secs() + u64::from(resets_in.subsec_nanos() > 0);
    Err(Limited {
        retry_after: Duration::from_secs(secs.max(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn the_hit_past_the_quota_is_refused_with_the_time_to_wait() {
        let limiter = RateLimiter::new(Arc::new(MemoryStore::new("t:")));
        let quota = Quota::per_minute(2);
        crate::store::fresh_window(quota.window).await;
        limiter.hit("s", quota).await.unwrap();
        limiter.hit("s", quota).await.unwrap();
        let Err(LimitError::Limited(l)) = limiter.hit("s", quota).await else {
            panic!("the third hit must be limited");
        };
        // Until the end of the wall-clock minute.
        assert!(
            l.retry_after >= Duration::from_secs(1) && l.retry_after <= Duration::from_secs(60)
        );
        limiter.hit("other", quota).await.unwrap();
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let q = Quota::per_minute(0);
        assert_eq!(
            check(1, Duration::from_millis(1), q)
                .unwrap_err()
                .retry_after
                .as_secs(),
            1
        );
        assert_eq!(
            check(1, Duration::from_millis(1500), q)
                .unwrap_err()
                .retry_after
                .as_secs(),
            2
        );
        assert_eq!(
            check(1, Duration::ZERO, q)
                .unwrap_err()
                .retry_after
                .as_secs(),
            1
        );
    }
}
