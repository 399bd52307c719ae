//! The PostgreSQL database and the Redis keys of one bench run: a fresh, uniquely named database
//! created through an admin URL and dropped at the end, and keys under a unique prefix that are
//! deleted at the end, so a run leaves nothing behind and never touches anyone else's data.

use anyhow::{Context as _, anyhow};
use redis::aio::MultiplexedConnection;
use sea_orm::{ConnectionTrait as _, Database};

use crate::Backends;

/// The database and Redis keys of one run, as [`with_fresh`] hands them to the measurement.
pub struct Fresh {
    /// Unique to the run: it names the database, the Redis prefix and any scratch folder.
    pub id: String,
    /// The run's own database.
    pub database_url: String,
    /// Put before every Redis key of the run (`zsb-bench-<id>:`).
    pub prefix: String,
    pub redis: MultiplexedConnection,
}

impl Fresh {
    /// The name of the run's database (as `pg_stat_database` knows it).
    pub fn database_name(&self) -> String {
        database_name(&self.id)
    }
}

fn database_name(id: &str) -> String {
    format!("zsb_bench_{id}")
}

/// Runs `measure` on a fresh database and Redis prefix, then drops the database and deletes the
/// keys, also when `measure` fails or Ctrl-C interrupts it (which drops, and so kills, the child
/// processes it started). Returns the measurement's outcome and the clean-up's, separately, so
/// that a report can be printed before a failed clean-up is reported.
pub async fn with_fresh<T>(
    backends: &Backends,
    measure: impl AsyncFnOnce(&Fresh) -> anyhow::Result<T>,
) -> (anyhow::Result<T>, anyhow::Result<()>) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut redis = match connect_redis(&backends.redis_url).await {
        Ok(redis) => redis,
        Err(e) => return (Err(e), Ok(())),
    };
    let database = match BenchDatabase::create(&backends.database_url, &id).await {
        Ok(database) => database,
        Err(e) => return (Err(e), Ok(())),
    };
    let prefix = format!("zsb-bench-{id}:");
    eprintln!("bench: database {}, Redis prefix {prefix}", database.name());
    let fresh = Fresh {
        id,
        database_url: database.url.clone(),
        prefix,
        redis: redis.clone(),
    };
    let outcome = tokio::select! {
        outcome = measure(&fresh) => outcome,
        Ok(()) = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let keys = delete_prefixed(&mut redis, &fresh.prefix)
        .await
        .map(drop)
        .context("delete the bench's Redis keys");
    let dropped = database.drop_now().await;
    (outcome, keys.and(dropped))
}

/// A database created for this run.
pub struct BenchDatabase {
    admin_url: String,
    name: String,
    /// The URL the gateway is given.
    pub url: String,
}

impl BenchDatabase {
    /// Creates `zsb_bench_<id>` on the server of `admin_url` (whose user may create databases).
    pub async fn create(admin_url: &str, id: &str) -> anyhow::Result<Self> {
        let name = database_name(id);
        let admin = Database::connect(admin_url)
            .await
            .with_context(|| format!("connect to PostgreSQL at {}", redact(admin_url)))?;
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await
            .with_context(|| format!("create the database {name}"))?;
        admin.close().await.context("close the admin connection")?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops it, even while connections are still open.
    pub async fn drop_now(self) -> anyhow::Result<()> {
        let admin = Database::connect(&self.admin_url)
            .await
            .context("connect to PostgreSQL to drop the bench database")?;
        admin
            .execute_unprepared(&format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                self.name
            ))
            .await
            .with_context(|| format!("drop the database {}", self.name))?;
        admin.close().await.context("close the admin connection")?;
        Ok(())
    }
}

/// `url` with its database path replaced by `name` (a query string is kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A connection to the bench's Redis.
pub async fn connect_redis(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(url).context("parse the Redis URL")?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connect to Redis at {}", redact(url)))?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .context("ping Redis")?;
    Ok(conn)
}

/// The value of the first key matching `pattern` (a Redis glob), if any.
pub async fn first_value(
    conn: &mut MultiplexedConnection,
    pattern: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .context("scan Redis")?;
        for key in keys {
            let value: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&key)
                .query_async(conn)
                .await
                .with_context(|| format!("read {key}"))?;
            if value.is_some() {
                return Ok(value);
            }
        }
        if next == 0 {
            return Ok(None);
        }
        cursor = next;
    }
}

/// Deletes every key starting with `prefix`; returns how many.
pub async fn delete_prefixed(
    conn: &mut MultiplexedConnection,
    prefix: &str,
) -> anyhow::Result<u64> {
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .context("scan Redis")?;
        if !keys.is_empty() {
            deleted += redis::cmd("DEL")
                .arg(&keys)
                .query_async::<u64>(conn)
                .await
                .context("delete the bench's keys")?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_admin_one() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "zsb_bench_1"),
            "postgres://postgres@127.0.0.1:5432/zsb_bench_1"
        );
        assert_eq!(
            with_database("postgres://u:p@db/test?sslmode=disable", "b"),
            "postgres://u:p@db/b?sslmode=disable"
        );
    }

    #[test]
    fn a_password_is_not_repeated() {
        assert_eq!(
            redact("postgres://u:secret@db:5432/test"),
            "postgres://u:***@db:5432/test"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
