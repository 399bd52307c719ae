//! The Redis store: one multiplexed connection through redis-rs's `ConnectionManager`, which
//! reconnects by itself. Every command is a single round trip (pipelined where there are several).

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::{Hit, Store, StoreError, record};

/// Compare-and-delete: only the holder of a lock (or of a cached value) removes it.
const DELETE_IF_EQ: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A counter in a window: the window's first hit gives it its expiry, in the same step.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// A sliding session and its request budget: nothing is counted for an unknown session, so
/// made-up tokens cost no writes.
const GET_EX_AND_HIT: &str = r"
local value = redis.call('GETEX', KEYS[1], 'PX', ARGV[1])
if not value then return false end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return {value, n}
";

/// A [`Store`] on Redis.
#[derive(Clone)]
pub struct RedisStore {
    prefix: String,
    client: redis::Client,
    conn: ConnectionManager,
    delete_if_eq: Script,
    hit: Script,
    get_ex_and_hit: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); keys get `prefix`.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parse the Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .context("connect to Redis")?;
        Ok(Self {
            prefix: prefix.into(),
            client,
            conn,
            delete_if_eq: Script::new(DELETE_IF_EQ),
            hit: Script::new(HIT),
            get_ex_and_hit: Script::new(GET_EX_AND_HIT),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn done<T>(op: &'static str, r: redis::RedisResult<T>) -> Result<T, StoreError> {
    record(op, r.is_ok());
    r.map_err(|e| StoreError::new(op, e))
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        done("get", c.get(self.key(key)).await)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let r = match ttl {
            Some(ttl) => c.pset_ex(self.key(key), value, millis(ttl)).await,
            None => c.set(self.key(key), value).await,
        };
        done("set", r)
    }

    async fn set_nx(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut c)
            .await;
        done("set_nx", r.map(|ok| ok.is_some()))
    }

    async fn replace_keep_ttl(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("XX")
            .arg("KEEPTTL")
            .query_async(&mut c)
            .await;
        done("replace_keep_ttl", r.map(|ok| ok.is_some()))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<u64> = c.del(self.key(key)).await;
        done("delete", r.map(|n| n > 0))
    }

    async fn delete_if_eq(&self, key: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<u64> = self
            .delete_if_eq
            .key(self.key(key))
            .arg(expected)
            .invoke_async(&mut c)
            .await;
        done("delete_if_eq", r.map(|n| n > 0))
    }

    async fn hit(&self, counter: &str, window: Duration) -> Result<Hit, StoreError> {
        let mut c = self.conn.clone();
        let w = super::window(&self.key(counter), window);
        let r: redis::RedisResult<u64> = self
            .hit
            .key(&w.key)
            .arg(millis(w.resets_in + Duration::from_secs(1)))
            .invoke_async(&mut c)
            .await;
        let count = done("hit", r)?;
        Ok(Hit {
            count,
            resets_in: w.resets_in,
        })
    }

    async fn get_ex_and_hit(
        &self,
        key: &str,
        ttl: Duration,
        counter: &str,
        window: Duration,
    ) -> Result<Option<(Vec<u8>, Hit)>, StoreError> {
        let mut c = self.conn.clone();
        let w = super::window(&self.key(counter), window);
        let r: redis::RedisResult<Option<(Vec<u8>, u64)>> = self
            .get_ex_and_hit
            .key(self.key(key))
            .key(&w.key)
            .arg(millis(ttl))
            .arg(millis(w.resets_in + Duration::from_secs(1)))
            .invoke_async(&mut c)
            .await;
        Ok(done("get_ex_and_hit", r)?.map(|(value, count)| {
            (
                value,
                Hit {
                    count,
                    resets_in: w.resets_in,
                },
            )
        }))
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let key = self.key(key);
        // NX gives a new set its expiry; GT only ever extends an existing one.
        let r: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .sadd(&key, member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .arg("NX")
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .arg("GT")
            .ignore()
            .query_async(&mut c)
            .await;
        done("set_add", r)
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<u64> = c.srem(self.key(key), member).await;
        done("set_remove", r.map(|_| ()))
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn.clone();
        done("set_members", c.smembers(self.key(key)).await)
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<u64> = c.publish(self.key(channel), message).await;
        done("publish", r.map(|_| ()))
    }

    async fn subscribe(&self, channel: &str) -> Result<BoxStream<'static, Vec<u8>>, StoreError> {
        // A subscribed connection can do nothing else: one of its own per subscription.
        let subscribed = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(self.key(channel)).await?;
            Ok(pubsub)
        }
        .await;
        let pubsub = done("subscribe", subscribed)?;
        Ok(pubsub
            .into_on_message()
            .map(|message| message.get_payload_bytes().to_vec())
            .boxed())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut c).await;
        done("ping", r.map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs only where a Redis is configured (`APP_TEST_REDIS_URL`); CI sets it, and then an
    /// unreachable Redis fails the test instead of skipping it.
    #[tokio::test]
    async fn the_redis_store_holds_the_store_contract() {
        let Ok(url) = std::env::var("APP_TEST_REDIS_URL") else {
            eprintln!("APP_TEST_REDIS_URL not set: the Redis store contract is checked in CI");
            return;
        };
        let prefix = format!("zsb-test-{}:", uuid::Uuid::new_v4());
        let store = RedisStore::connect(&url, prefix).await.unwrap();
        super::super::contract::holds_its_contract(&store).await;
    }
}
