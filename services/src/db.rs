//! Helpers over the database connection shared by every capability.

use anyhow::Context as _;
use sea_orm::{
    AccessMode, DatabaseBackend, DatabaseConnection, DatabaseTransaction, IsolationLevel,
    SqliteTransactionMode, TransactionOptions, TransactionTrait as _,
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
