//! Values read a moment ago: the one small time-bounded cache every capability uses for what the
//! rush reads thousands of times a second (a hall's read model, an item, a wait estimate).
//! Each instance keeps its own; an administrator's change reaches every instance within the
//! cache's lifetime, or at once on the instance that made it (see [`TtlCache::remove`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Each value with when it was put.
type Entries<K, V> = HashMap<K, (Instant, Arc<V>)>;

/// A map whose entries are trusted for `ttl` after they were put; cheap to clone (shared).
pub struct TtlCache<K, V> {
    ttl: Duration,
    /// Past this many entries the map is emptied before the next one goes in.
    cap: usize,
    map: Arc<Mutex<Entries<K, V>>>,
}

impl<K, V> Clone for TtlCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            ttl: self.ttl,
            cap: self.cap,
            map: Arc::clone(&self.map),
        }
    }
}

impl<K: Hash + Eq, V> TtlCache<K, V> {
    /// Entries trusted for `ttl`, at most `cap` of them.
    pub fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            ttl,
            cap,
            map: Arc::default(),
        }
    }

    /// The value put less than `ttl` ago.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| Arc::clone(v))
    }

    pub fn put(&self, key: K, value: Arc<V>) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.cap && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, (Instant::now(), value));
    }

    /// Forgets a value changed here, so that this instance reads it afresh at once.
    pub fn remove(&self, key: &K) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_served_until_removed_and_the_cap_empties_the_map() {
        let cache: TtlCache<i64, &str> = TtlCache::new(Duration::from_secs(60), 2);
        cache.put(1, Arc::new("a"));
        assert_eq!(cache.get(&1).as_deref(), Some(&"a"));
        cache.remove(&1);
        assert!(cache.get(&1).is_none());
        cache.put(1, Arc::new("a"));
        cache.put(2, Arc::new("b"));
        cache.put(3, Arc::new("c"));
        assert!(cache.get(&1).is_none() && cache.get(&3).is_some());
        let stale: TtlCache<i64, &str> = TtlCache::new(Duration::ZERO, 2);
        stale.put(1, Arc::new("a"));
        assert!(stale.get(&1).is_none());
    }
}
