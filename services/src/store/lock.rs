//! A lock across every gateway instance: `SET NX PX` with a random holder id and a real lease,
//! released by compare-and-delete so a holder whose lease ran out never frees someone else's lock.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;

use super::{Store, StoreError};

/// How to take a named lock.
#[derive(Debug, Clone)]
pub struct Lock {
    key: String,
    lease: Duration,
}

/// A held lock. Release it with [`LockGuard::release`]; if the holder dies, the lease frees it.
#[must_use = "a lock guard should be released"]
pub struct LockGuard {
    store: Arc<dyn Store>,
    key: String,
    holder: String,
}

impl Lock {
    pub fn new(key: impl Into<String>, lease: Duration) -> Self {
        Self {
            key: format!("lock:{}", key.into()),
            lease,
        }
    }

    /// Takes the lock if it is free.
    pub async fn try_acquire(
        &self,
        store: &Arc<dyn Store>,
    ) -> Result<Option<LockGuard>, StoreError> {
        let holder = format!("{:032x}", rand::rng().random::<u128>());
        if store
            .set_nx(&self.key, holder.as_bytes(), self.lease)
            .await?
        {
            Ok(Some(LockGuard {
                store: Arc::clone(store),
                key: self.key.clone(),
                holder,
            }))
        } else {
            Ok(None)
        }
    }

    /// Takes the lock, waiting up to `wait` for it; `None` if it stayed taken.
    pub async fn acquire(
        &self,
        store: &Arc<dyn Store>,
        wait: Duration,
    ) -> Result<Option<LockGuard>, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(guard) = self.try_acquire(store).await? {
                return Ok(Some(guard));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            let pause = rand::rng().random_range(10..40);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}

impl LockGuard {
    /// Frees the lock if this holder still has it; `false` when the lease had already run out.
    pub async fn release(self) -> Result<bool, StoreError> {
        self.store
            .delete_if_eq(&self.key, self.holder.as_bytes())
            .await
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_lock_is_held_once_and_released_only_by_its_holder() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new("t:"));
        let lock = Lock::new("x", Duration::from_millis(100));
        let guard = lock.try_acquire(&store).await.unwrap().unwrap();
        assert!(lock.try_acquire(&store).await.unwrap().is_none());
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The lease ran out: someone else takes it, and the first holder cannot free theirs.
        let second = lock.try_acquire(&store).await.unwrap().unwrap();
        assert!(!guard.release().await.unwrap());
        assert!(lock.try_acquire(&store).await.unwrap().is_none());
        assert!(second.release().await.unwrap());
        assert!(lock.try_acquire(&store).await.unwrap().is_some());
    }
}
