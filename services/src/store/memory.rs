//! The in-process store of the embedded default: one process, no Redis. Expired entries are
//! dropped when touched and swept now and then, so the map does not grow without bound.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::{Hit, Store, StoreError};

const SWEEP_EVERY_WRITES: u64 = 4096;

#[derive(Debug)]
enum Value {
    Bytes(Vec<u8>),
    Set(HashSet<String>),
    Counter(u64),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// A [`Store`] held in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    prefix: String,
    entries: Mutex<HashMap<String, Entry>>,
    writes: AtomicU64,
    channels: Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>,
}

impl MemoryStore {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Runs `f` on the map with expired entries out of the way.
    fn with<T>(
        &self,
        op: &'static str,
        key: &str,
        f: impl FnOnce(&mut HashMap<String, Entry>, String, Instant) -> T,
    ) -> T {
        super::record(op, true);
        let now = Instant::now();
        let full = self.key(key);
        let mut map = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.get(&full).is_some_and(|e| !e.live(now)) {
            map.remove(&full);
        }
        if self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY_WRITES
            == SWEEP_EVERY_WRITES - 1
        {
            map.retain(|_, e| e.live(now));
        }
        f(&mut map, full, now)
    }
}

fn counter_hit(map: &mut HashMap<String, Entry>, w: super::Window, now: Instant) -> Hit {
    counter_add(map, w, now, 1)
}

fn counter_add(map: &mut HashMap<String, Entry>, w: super::Window, now: Instant, hits: u64) -> Hit {
    let entry = map.entry(w.key).or_insert_with(|| Entry {
        value: Value::Counter(0),
        expires_at: Some(now + w.resets_in),
    });
    let count = match &mut entry.value {
        Value::Counter(n) => {
            *n += hits;
            *n
        }
        other => {
            *other = Value::Counter(hits);
            hits
        }
    };
    Hit {
        count,
        resets_in: w.resets_in,
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with("get", key, |map, k, _| match map.get(&k) {
            Some(Entry {
                value: Value::Bytes(b),
                ..
            }) => Some(b.clone()),
            _ => None,
        }))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        self.with("set", key, |map, k, now| {
            map.insert(
                k,
                Entry {
                    value: Value::Bytes(value.to_vec()),
                    expires_at: ttl.map(|t| now + t),
                },
            );
        });
        Ok(())
    }

    async fn set_nx(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.with("set_nx", key, |map, k, now| {
            if map.contains_key(&k) {
                return false;
            }
            map.insert(
                k,
                Entry {
                    value: Value::Bytes(value.to_vec()),
                    expires_at: Some(now + ttl),
                },
            );
            true
        }))
    }

    async fn replace_keep_ttl(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        Ok(
            self.with("replace_keep_ttl", key, |map, k, _| match map.get_mut(&k) {
                Some(entry) => {
                    entry.value = Value::Bytes(value.to_vec());
                    true
                }
                None => false,
            }),
        )
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.with("delete", key, |map, k, _| map.remove(&k).is_some()))
    }

    async fn delete_if_eq(&self, key: &str, expected: &[u8]) -> Result<bool, StoreError> {
        Ok(
            self.with("delete_if_eq", key, |map, k, _| match map.get(&k) {
                Some(Entry {
                    value: Value::Bytes(b),
                    ..
                }) if b.as_slice() == expected => {
                    map.remove(&k);
                    true
                }
                _ => false,
            }),
        )
    }

    async fn hit(&self, counter: &str, window: Duration) -> Result<Hit, StoreError> {
        let w = super::window(&self.key(counter), window);
        Ok(self.with("hit", counter, |map, _, now| counter_hit(map, w, now)))
    }

    async fn get_ex_and_hit(
        &self,
        key: &str,
        ttl: Duration,
        counter: &str,
        window: Duration,
        hits: u64,
    ) -> Result<Option<(Vec<u8>, Hit)>, StoreError> {
        let w = super::window(&self.key(counter), window);
        Ok(self.with("get_ex_and_hit", key, |map, k, now| {
            let value = match map.get_mut(&k) {
                Some(Entry {
                    value: Value::Bytes(b),
                    expires_at,
                }) => {
                    *expires_at = Some(now + ttl);
                    b.clone()
                }
                _ => return None,
            };
            if map.get(&w.key).is_some_and(|e| !e.live(now)) {
                map.remove(&w.key);
            }
            Some((value, counter_add(map, w, now, hits.max(1))))
        }))
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        self.with("set_add", key, |map, k, now| {
            let entry = map.entry(k).or_insert_with(|| Entry {
                value: Value::Set(HashSet::new()),
                expires_at: None,
            });
            if !matches!(entry.value, Value::Set(_)) {
                entry.value = Value::Set(HashSet::new());
            }
            if let Value::Set(set) = &mut entry.value {
                set.insert(member.to_owned());
            }
            let at_least = now + ttl;
            entry.expires_at = Some(entry.expires_at.map_or(at_least, |at| at.max(at_least)));
        });
        Ok(())
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.with("set_remove", key, |map, k, _| {
            if let Some(Entry {
                value: Value::Set(set),
                ..
            }) = map.get_mut(&k)
            {
                set.remove(member);
                if set.is_empty() {
                    map.remove(&k);
                }
            }
        });
        Ok(())
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            self.with("set_members", key, |map, k, _| match map.get(&k) {
                Some(Entry {
                    value: Value::Set(set),
                    ..
                }) => set.iter().cloned().collect(),
                _ => Vec::new(),
            }),
        )
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), StoreError> {
        super::record("publish", true);
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = channels.get(&self.key(channel)) {
            // No receiver left is not an error: nobody was listening.
            let _ = sender.send(message.to_vec());
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<BoxStream<'static, Vec<u8>>, StoreError> {
        super::record("subscribe", true);
        let receiver = {
            let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            channels.retain(|_, sender| sender.receiver_count() > 0);
            channels
                .entry(self.key(channel))
                .or_insert_with(|| broadcast::channel(256).0)
                .subscribe()
        };
        Ok(
            futures::stream::unfold(receiver, |mut receiver| async move {
                loop {
                    match receiver.recv().await {
                        Ok(message) => return Some((message, receiver)),
                        // A slow subscriber skips what it missed; like Redis, delivery is best effort.
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })
            .boxed(),
        )
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_holds_the_store_contract() {
        super::super::contract::holds_its_contract(&MemoryStore::new("t:")).await;
    }

    #[tokio::test]
    async fn a_counter_starts_again_after_its_window() {
        let store = MemoryStore::new("t:");
        store.hit("c", Duration::from_millis(50)).await.unwrap();
        store.hit("c", Duration::from_millis(50)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            store
                .hit("c", Duration::from_millis(50))
                .await
                .unwrap()
                .count,
            1
        );
    }

    #[tokio::test]
    async fn two_prefixes_do_not_see_each_other() {
        let store = MemoryStore::new("a:");
        store.set("k", b"1", None).await.unwrap();
        // The prefix is part of the key inside one map: the same map with another prefix would
        // not find it; here we check the key really carries the prefix.
        assert!(store.entries.lock().unwrap().contains_key("a:k"));
    }
}
