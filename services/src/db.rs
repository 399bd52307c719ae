//! Helpers over the database connection shared by every capability.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, LockBehavior, LockType, Order, Query};
use sea_orm::{
    AccessMode, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, IsolationLevel,
    SqlErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait as _,
};

/// A transaction that will write. On SQLite it begins IMMEDIATE: it takes the write lock at
/// BEGIN, waiting for it under the pool's busy timeout. A DEFERRED transaction (sqlite's
/// default, and `begin()`'s) that reads first and then writes cannot wait: if another writer
/// committed since its read, SQLite answers `SQLITE_BUSY` ("database is locked") at once, which
/// twenty counters calling the next number together met as 500s. On PostgreSQL this is a plain
/// READ COMMITTED transaction, as `begin()` is.
///
/// # Errors
/// The transaction cannot begin (on SQLite: the write lock was not free within the timeout).
pub async fn write(db: &DatabaseConnection) -> Result<DatabaseTransaction, sea_orm::DbErr> {
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
    } else {
        db.begin().await
    }
}

/// A read-only transaction whose reads all see one snapshot: REPEATABLE READ on PostgreSQL (READ
/// COMMITTED, the default, takes a new snapshot per statement); on SQLite every transaction reads
/// one snapshot already (WAL), and sea-orm would only warn about the settings. End it with
/// `commit`; dropping it rolls back, which is as good for a reader.
///
/// # Errors
/// The transaction cannot begin.
pub async fn snapshot(db: &DatabaseConnection) -> anyhow::Result<DatabaseTransaction> {
    let txn = if db.get_database_backend() == DatabaseBackend::Postgres {
        db.begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await
    } else {
        db.begin().await
    };
    txn.context("begin a snapshot read")
}

/// Whether `err` is a unique violation (PostgreSQL's SQLSTATE 23505; SQLite's UNIQUE and PRIMARY
/// KEY constraints) — with `key`, only one of the index `key` names. The two backends name the
/// index differently (PostgreSQL: `… violates unique constraint "ux_bookings_active_key"`;
/// SQLite: `UNIQUE constraint failed: bookings.active_key`), so `key` is a fragment both carry:
/// the key column's name (`active_key`, `live_key`, `idempotency`). `None` where a statement can
/// violate one unique index only.
pub fn unique_violation(err: &DbErr, key: Option<&str>) -> bool {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            key.is_none_or(|key| message.contains(key))
        }
        _ => false,
    }
}

/// The claim of an outbox table's due rows, written once for every outbox (notifications, the
/// province's applications and evaluations). A row is due when `PENDING` and its
/// `next_attempt_at` has come, or `SENDING` under a lease that ended before `now` (its worker
/// died); the claim marks up to `limit` of them, oldest first, `SENDING` until `until` and counts
/// the attempt. On PostgreSQL the rows are chosen `FOR UPDATE SKIP LOCKED`, so workers on many
/// instances claim apart without waiting on each other; SQLite has no row locks (sea-query
/// leaves the clause out) and needs none: it runs one writer at a time, so the UPDATE and the
/// SELECT inside it are one step no other claim can come between.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub table: &'a str,
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub limit: u32,
    /// Whether the table has an `updated_at` the claim stamps with `now`.
    pub touch_updated_at: bool,
    /// The columns the claim returns.
    pub returning: &'a [&'a str],
    /// The table's stored strings for "due" and "claimed" (each outbox's own vocabulary).
    pub pending: &'static str,
    pub sending: &'static str,
}

impl Claim<'_> {
    /// The statement, in `backend`'s dialect.
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let col = |name: &str| Expr::col(Alias::new(name));
        let due = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new(self.table))
            .cond_where(
                sea_orm::Condition::any()
                    .add(
                        col("status")
                            .eq(self.pending)
                            .and(col("next_attempt_at").lte(self.now)),
                    )
                    .add(
                        col("status")
                            .eq(self.sending)
                            .and(col("claimed_until").lt(self.now)),
                    ),
            )
            .order_by(Alias::new("id"), Order::Asc)
            .limit(u64::from(self.limit))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let mut claim = Query::update();
        claim
            .table(Alias::new(self.table))
            .value(Alias::new("status"), self.sending)
            .value(Alias::new("claimed_until"), self.until)
            .value(Alias::new("attempts"), col("attempts").add(1));
        if self.touch_updated_at {
            claim.value(Alias::new("updated_at"), self.now);
        }
        claim
            .and_where(col("id").in_subquery(due))
            .returning(Query::returning().columns(self.returning.iter().map(|c| Alias::new(*c))));
        backend.build(&claim)
    }
}

#[cfg(test)]
mod tests {
    use entities::status::OutboxStatus;
    use sea_orm::{ConnectionTrait as _, Database, FromQueryResult as _};

    use super::*;

    /// The database the suite runs on: `APP_TEST_DATABASE_URL` (PostgreSQL) or SQLite in memory.
    async fn connect() -> DatabaseConnection {
        let url =
            std::env::var("APP_TEST_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
        Database::connect(url).await.unwrap()
    }

    #[tokio::test]
    async fn a_unique_violation_is_known_on_either_backend_and_by_its_key() {
        let db = connect().await;
        // A temporary table on one connection of the pool: a transaction holds it.
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared(
            "CREATE TEMPORARY TABLE plumbing_unique (id INTEGER PRIMARY KEY, live_key TEXT, \
             other TEXT NOT NULL)",
        )
        .await
        .unwrap();
        txn.execute_unprepared(
            "CREATE UNIQUE INDEX ux_plumbing_unique_live_key ON plumbing_unique (live_key)",
        )
        .await
        .unwrap();
        txn.execute_unprepared("INSERT INTO plumbing_unique VALUES (1, 'a', 'x')")
            .await
            .unwrap();
        // PostgreSQL aborts a transaction at an error: each failing statement has a savepoint.
        let failing = async |sql: &str| {
            let savepoint = txn.begin().await.unwrap();
            let err = savepoint.execute_unprepared(sql).await.unwrap_err();
            savepoint.rollback().await.unwrap();
            err
        };
        let not_null = failing("INSERT INTO plumbing_unique VALUES (3, 'c', NULL)").await;
        assert!(!unique_violation(&not_null, None), "{not_null}");
        let twice = failing("INSERT INTO plumbing_unique VALUES (2, 'a', 'x')").await;
        assert!(unique_violation(&twice, None), "{twice}");
        assert!(unique_violation(&twice, Some("live_key")), "{twice}");
        assert!(!unique_violation(&twice, Some("active_key")), "{twice}");
        let primary = failing("INSERT INTO plumbing_unique VALUES (1, 'b', 'x')").await;
        assert!(unique_violation(&primary, None), "{primary}");
        txn.rollback().await.unwrap();
    }

    #[derive(Debug, PartialEq, sea_orm::FromQueryResult)]
    struct Claimed {
        id: i64,
        attempts: i32,
    }

    #[tokio::test]
    async fn the_claim_takes_the_due_rows_oldest_first_and_skips_locked_ones_on_postgres() {
        let now =
            DateTime::from_timestamp_millis(crate::time::Clock::system().now().timestamp_millis())
                .unwrap();
        let claim = |limit| Claim {
            table: "plumbing_claim",
            now,
            until: now + chrono::Duration::seconds(60),
            limit,
            touch_updated_at: false,
            returning: &["id", "attempts"],
            pending: OutboxStatus::Pending.as_str(),
            sending: OutboxStatus::Sending.as_str(),
        };
        let postgres = claim(2).statement(DatabaseBackend::Postgres).sql;
        assert!(postgres.contains("FOR UPDATE SKIP LOCKED"), "{postgres}");
        let sqlite = claim(2).statement(DatabaseBackend::Sqlite).sql;
        assert!(!sqlite.contains("FOR UPDATE"), "{sqlite}");

        let db = connect().await;
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared(
            "CREATE TEMPORARY TABLE plumbing_claim (id BIGINT PRIMARY KEY, status TEXT NOT NULL, \
             attempts INTEGER NOT NULL, next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL, \
             claimed_until TIMESTAMP WITH TIME ZONE NULL)",
        )
        .await
        .unwrap();
        let minute = chrono::Duration::seconds(60);
        let rows = [
            (1, OutboxStatus::Pending.as_str(), now - minute, None),
            (2, OutboxStatus::Pending.as_str(), now + minute, None),
            (
                3,
                OutboxStatus::Sending.as_str(),
                now - minute,
                Some(now - chrono::Duration::seconds(1)),
            ),
            (
                4,
                OutboxStatus::Sending.as_str(),
                now - minute,
                Some(now + minute),
            ),
            (5, OutboxStatus::Done.as_str(), now - minute, None),
            (6, OutboxStatus::Pending.as_str(), now, None),
        ];
        for (id, status, next, until) in rows {
            let insert = Query::insert()
                .into_table(Alias::new("plumbing_claim"))
                .columns(
                    [
                        "id",
                        "status",
                        "attempts",
                        "next_attempt_at",
                        "claimed_until",
                    ]
                    .map(Alias::new),
                )
                .values_panic([
                    id.into(),
                    status.into(),
                    1.into(),
                    next.into(),
                    until.into(),
                ])
                .to_owned();
            txn.execute(&insert).await.unwrap();
        }
        let first = Claimed::find_by_statement(claim(2).statement(txn.get_database_backend()))
            .all(&txn)
            .await
            .unwrap();
        let mut first = first;
        first.sort_by_key(|c| c.id);
        assert_eq!(
            first,
            [
                Claimed { id: 1, attempts: 2 },
                Claimed { id: 3, attempts: 2 }
            ]
        );
        let rest = Claimed::find_by_statement(claim(10).statement(txn.get_database_backend()))
            .all(&txn)
            .await
            .unwrap();
        assert_eq!(rest, [Claimed { id: 6, attempts: 2 }]);
        txn.rollback().await.unwrap();
    }
}
