//! The Redis store, on one Redis or on a Redis Cluster.
//!
//! One Redis: one multiplexed connection through redis-rs's `ConnectionManager`, which
//! reconnects by itself. A Cluster: redis-rs's `cluster_async` connection, which follows the
//! slot map and retries a command that meets `MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN` or a lost
//! connection while a replica takes over from a failed primary. Every command is a single round
//! trip (pipelined where there are several).
//!
//! On a Cluster every key is hash-tagged: a key that names its tag keeps it (`sess:{abc}` and
//! `rl:sess:{abc}` share a slot, so the session script runs in one step), any other is tagged
//! whole (`prefix{key}`). So each Lua script and multi-key command stays in one slot; the one
//! two-key operation given keys of different tags takes two steps instead. Pub/sub uses classic `PUBLISH`, which a Cluster
//! broadcasts to every node: a subscriber listens on any one node, and moves to another when it
//! loses that one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, Cmd, Pipeline, RedisFuture, Script, Value};

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

/// A sliding session and its request budget (`ARGV[3]` hits at once): nothing is counted for an
/// unknown session, so made-up tokens cost no writes.
const GET_EX_AND_HIT: &str = r"
local value = redis.call('GETEX', KEYS[1], 'PX', ARGV[1])
if not value then return false end
local hits = tonumber(ARGV[3])
local n = redis.call('INCRBY', KEYS[2], hits)
if n == hits then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return {value, n}
";

/// `ARGV[2]` hits on a counter at once; the window's first write gives it its expiry.
const HIT_BY: &str = r"
local hits = tonumber(ARGV[2])
local n = redis.call('INCRBY', KEYS[1], hits)
if n == hits then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// A [`Store`] on Redis or on a Redis Cluster.
#[derive(Clone)]
pub struct RedisStore {
    keys: Keys,
    conn: Connection,
    /// Where subscriptions connect: the one Redis, or every configured Cluster node in turn.
    subscribe_to: Arc<[redis::Client]>,
    next_node: Arc<AtomicUsize>,
    delete_if_eq: Script,
    hit: Script,
    hit_by: Script,
    get_ex_and_hit: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix)
            .field("cluster", &self.keys.tagged)
            .finish_non_exhaustive()
    }
}

/// How a store key becomes a Redis key.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
    /// On a Cluster: a key that names its hash tag (`sess:{abc}`) keeps it, so the caller can
    /// put related keys in one slot; any other key is tagged whole (`prefix{key}`), which
    /// spreads keys over the slots as untagged ones would be.
    tagged: bool,
}

/// The hash tag of `key` as Redis Cluster reads it: between the first `{` and the first `}`
/// after it, when that is not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = &key[open + 1..];
    let close = rest.find('}')?;
    (close > 0).then(|| &rest[..close])
}

impl Keys {
    fn key(&self, key: &str) -> String {
        if self.tagged && hash_tag(key).is_none() {
            format!("{}{{{}}}", self.prefix, key)
        } else {
            format!("{}{}", self.prefix, key)
        }
    }

    /// Whether one script may touch both keys: always on one Redis; on a Cluster when both
    /// name the same hash tag.
    fn same_slot(&self, a: &str, b: &str) -> bool {
        !self.tagged || hash_tag(a).is_some_and(|tag| hash_tag(b) == Some(tag))
    }

    /// Channels have no slot: a Cluster broadcasts every `PUBLISH`.
    fn channel(&self, channel: &str) -> String {
        format!("{}{}", self.prefix, channel)
    }
}

/// One Redis or a Cluster, behind redis-rs's one connection interface.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// How long one subscription attempt may take on one node before the next is tried.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(3);

impl RedisStore {
    /// Connects to one Redis at `url` (`redis://host:port/db`); keys get `prefix`.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parse the Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .context("connect to Redis")?;
        Ok(Self::with(
            Keys {
                prefix: prefix.into(),
                tagged: false,
            },
            Connection::Single(conn),
            vec![client],
        ))
    }

    /// Connects to the Redis Cluster that `urls` (some or all of its nodes,
    /// `redis://host:port`) belong to; keys get `prefix`, which may not hold `{` or `}`
    /// (they would change the hash tag of every key).
    ///
    /// A command that meets a failover (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, a refused
    /// or lost connection) is retried with backoff for about three seconds, then fails.
    pub async fn connect_cluster(
        urls: &[impl AsRef<str>],
        prefix: impl Into<String>,
    ) -> anyhow::Result<Self> {
        let prefix = prefix.into();
        if prefix.contains(['{', '}']) {
            anyhow::bail!("a Redis Cluster key prefix may not contain `{{` or `}}`: {prefix:?}");
        }
        if urls.is_empty() {
            anyhow::bail!("no Redis Cluster node given");
        }
        let nodes = urls
            .iter()
            .map(|url| redis::Client::open(url.as_ref()).context("parse a Redis Cluster URL"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let client = ClusterClientBuilder::new(urls.iter().map(AsRef::as_ref))
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(Duration::from_secs(2))
            // Waits of 50 ms doubling to 800 ms: about 3 s in all, the time a replica
            // needs to take over with `cluster-node-timeout` of a second or two.
            .retries(8)
            .min_retry_wait(50)
            .max_retry_wait(800)
            .build()
            .context("configure the Redis Cluster client")?;
        let conn = client
            .get_async_connection()
            .await
            .context("connect to the Redis Cluster")?;
        Ok(Self::with(
            Keys {
                prefix,
                tagged: true,
            },
            Connection::Cluster(conn),
            nodes,
        ))
    }

    fn with(keys: Keys, conn: Connection, subscribe_to: Vec<redis::Client>) -> Self {
        Self {
            keys,
            conn,
            subscribe_to: subscribe_to.into(),
            next_node: Arc::new(AtomicUsize::new(0)),
            delete_if_eq: Script::new(DELETE_IF_EQ),
            hit: Script::new(HIT),
            hit_by: Script::new(HIT_BY),
            get_ex_and_hit: Script::new(GET_EX_AND_HIT),
        }
    }

    fn key(&self, key: &str) -> String {
        self.keys.key(key)
    }

    /// A subscription on one node: the next one in turn, or the one after if that fails.
    async fn subscribe_somewhere(&self, channel: &str) -> Result<redis::aio::PubSub, StoreError> {
        let nodes = self.subscribe_to.len();
        let first = self.next_node.fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for i in 0..nodes {
            let client = &self.subscribe_to[(first + i) % nodes];
            let attempt = tokio::time::timeout(SUBSCRIBE_TIMEOUT, async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            })
            .await;
            match attempt {
                Ok(Ok(pubsub)) => {
                    record("subscribe", true);
                    return Ok(pubsub);
                }
                Ok(Err(e)) => last = Some(StoreError::new("subscribe", e)),
                Err(elapsed) => last = Some(StoreError::new("subscribe", elapsed)),
            }
        }
        record("subscribe", false);
        Err(last.unwrap_or_else(|| {
            StoreError::new(
                "subscribe",
                anyhow::anyhow!("no Redis node to subscribe on"),
            )
        }))
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
        hits: u64,
    ) -> Result<Option<(Vec<u8>, Hit)>, StoreError> {
        let mut c = self.conn.clone();
        let hits = hits.max(1);
        if !self.keys.same_slot(key, counter) {
            // Two slots, maybe two nodes: the session first, then (only when it exists) its
            // request counted, as the script does in one step.
            let r: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GETEX")
                .arg(self.key(key))
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut c)
                .await;
            let Some(value) = done("get_ex_and_hit", r)? else {
                return Ok(None);
            };
            let w = super::window(&self.key(counter), window);
            let r: redis::RedisResult<u64> = self
                .hit_by
                .key(&w.key)
                .arg(millis(w.resets_in + Duration::from_secs(1)))
                .arg(hits)
                .invoke_async(&mut c)
                .await;
            let count = done("hit", r)?;
            return Ok(Some((
                value,
                Hit {
                    count,
                    resets_in: w.resets_in,
                },
            )));
        }
        let w = super::window(&self.key(counter), window);
        let r: redis::RedisResult<Option<(Vec<u8>, u64)>> = self
            .get_ex_and_hit
            .key(self.key(key))
            .key(&w.key)
            .arg(millis(ttl))
            .arg(millis(w.resets_in + Duration::from_secs(1)))
            .arg(hits)
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
        let r: redis::RedisResult<u64> = c.publish(self.keys.channel(channel), message).await;
        done("publish", r.map(|_| ()))
    }

    async fn subscribe(&self, channel: &str) -> Result<BoxStream<'static, Vec<u8>>, StoreError> {
        // A subscribed connection can do nothing else: one of its own per subscription.
        let pubsub = self
            .subscribe_somewhere(&self.keys.channel(channel))
            .await?;
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
    use std::collections::HashMap;

    use simulators::redis_cluster::RedisCluster;

    use super::*;

    #[test]
    fn a_key_that_names_its_hash_tag_keeps_it_and_any_other_is_tagged_whole() {
        assert_eq!(hash_tag("sess:{abc}"), Some("abc"));
        assert_eq!(hash_tag("rl:sess:{abc}:123"), Some("abc"));
        assert_eq!(hash_tag("a{}b{c}"), None, "an empty tag is no tag");
        assert_eq!(hash_tag("plain"), None);
        let cluster = Keys {
            prefix: "zsb:".into(),
            tagged: true,
        };
        assert_eq!(cluster.key("sess:{abc}"), "zsb:sess:{abc}");
        assert_eq!(cluster.key("lock:x"), "zsb:{lock:x}");
        assert!(cluster.same_slot("sess:{abc}", "rl:sess:{abc}"));
        assert!(!cluster.same_slot("sess:{abc}", "rl:sess:{abd}"));
        assert!(
            !cluster.same_slot("a", "a"),
            "untagged keys are each their own tag"
        );
        let single = Keys {
            prefix: "zsb:".into(),
            tagged: false,
        };
        assert_eq!(single.key("lock:x"), "zsb:lock:x");
        assert!(single.same_slot("a", "b"));
    }

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

    /// Sessions (a script over two keys sharing a hash tag) spread over every primary: were the
    /// tag not kept, the second key would land in another slot and the Cluster would refuse
    /// the script (`CROSSSLOT`).
    async fn sessions_everywhere(store: &RedisStore, n: usize) -> Vec<String> {
        let mut keys = Vec::new();
        for i in 0..n {
            let key = format!("session:{{{i}-{}}}", uuid::Uuid::new_v4().simple());
            store
                .set(&key, b"citizen", Some(Duration::from_secs(600)))
                .await
                .unwrap();
            let (value, hit) = store
                .get_ex_and_hit(
                    &key,
                    Duration::from_secs(600),
                    &format!("rl:{key}"),
                    Duration::from_secs(60),
                    1,
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(value, b"citizen");
            assert!(hit.count >= 1);
            keys.push(key);
        }
        keys
    }

    #[tokio::test]
    async fn the_redis_cluster_store_holds_the_contract_and_survives_a_primary_failover() {
        if let Err(why) = RedisCluster::available() {
            eprintln!("skipped: the Redis Cluster store needs a real cluster, and {why}");
            return;
        }
        let mut cluster = RedisCluster::start().await.unwrap();
        let prefix = format!("zsb-test-{}:", uuid::Uuid::new_v4().simple());
        let store = RedisStore::connect_cluster(&cluster.urls(), prefix)
            .await
            .unwrap();
        super::super::contract::holds_its_contract(&store).await;
        let sessions = sessions_everywhere(&store, 64).await;
        for (i, key) in sessions.iter().enumerate() {
            store
                .set_add(&format!("set:{i}"), key, Duration::from_secs(600))
                .await
                .unwrap();
        }

        // One subscription on every node, so one of them is on the primary about to die.
        let channel = format!("failover:{}", uuid::Uuid::new_v4().simple());
        let mut subscribers = Vec::new();
        for _ in 0..6 {
            subscribers.push(store.subscribe(&channel).await.unwrap());
        }
        store.publish(&channel, b"before").await.unwrap();
        for stream in &mut subscribers {
            let got = tokio::time::timeout(Duration::from_secs(2), stream.next())
                .await
                .unwrap();
            assert_eq!(got.as_deref(), Some(&b"before"[..]));
        }
        // Let the replicas catch up before their primary goes.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let victim = cluster.primaries().await.unwrap()[0];
        cluster.kill(victim);

        // Through the failover: every call either succeeds (retried by the client) or fails as
        // "unavailable", the 503 kind; never anything else.
        let started = tokio::time::Instant::now();
        let mut failures: HashMap<&str, usize> = HashMap::new();
        let mut last_failure = None;
        while started.elapsed() < Duration::from_secs(8) {
            for key in &sessions {
                match store
                    .get_ex_and_hit(
                        key,
                        Duration::from_secs(600),
                        &format!("rl:{key}"),
                        Duration::from_secs(60),
                        1,
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) => {
                        assert!(e.is_unavailable(), "{:#}", anyhow::Error::from(e));
                        *failures.entry("get_ex_and_hit").or_default() += 1;
                        last_failure = Some(started.elapsed());
                    }
                }
            }
        }
        eprintln!("failover: failed calls {failures:?}, the last at {last_failure:?}");
        cluster.wait_healthy(Duration::from_secs(20)).await.unwrap();
        assert!(
            !cluster.primaries().await.unwrap().contains(&victim),
            "a replica took over"
        );

        // Nothing but what was written in the last instant before the kill may be lost.
        for (i, key) in sessions.iter().enumerate() {
            assert_eq!(
                store.get(key).await.unwrap().as_deref(),
                Some(&b"citizen"[..]),
                "{key} survived the failover"
            );
            assert_eq!(
                store.set_members(&format!("set:{i}")).await.unwrap(),
                vec![key.clone()]
            );
        }
        sessions_everywhere(&store, 64).await;
        super::super::contract::holds_its_contract(&store).await;

        // Subscribers on the dead node see their stream end, subscribe again (on a live node),
        // and every subscriber hears what is published after. (A Cluster relays a PUBLISH to
        // the other nodes over its bus, asynchronously: a subscriber may hear an earlier
        // message after a later one, or one published just before it subscribed.)
        let mut ended = 0;
        for stream in &mut subscribers {
            store.publish(&channel, b"after").await.unwrap();
            match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
                Ok(Some(message)) => {
                    assert!(message == b"after" || message == b"again", "{message:?}")
                }
                Ok(None) => {
                    ended += 1;
                    *stream = store.subscribe(&channel).await.unwrap();
                    store.publish(&channel, b"again").await.unwrap();
                    let heard = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(message) = stream.next().await {
                            if message == b"again" {
                                return true;
                            }
                        }
                        false
                    })
                    .await;
                    assert_eq!(heard, Ok(true), "a new subscription hears what follows");
                }
                Err(_) => panic!("a subscriber neither heard nor ended"),
            }
        }
        assert!(
            ended >= 1,
            "the subscription on the killed node ended, so its owner subscribes again"
        );

        // The old primary comes back as a replica; the cluster stays whole.
        cluster.restart(victim).unwrap();
        cluster.wait_healthy(Duration::from_secs(20)).await.unwrap();
        sessions_everywhere(&store, 16).await;
    }
}
