//! Helpers over the database connection shared by every capability.

use anyhow::Context as _;
use sea_orm::{
    AccessMode, DatabaseBackend, DatabaseConnection, DatabaseTransaction, IsolationLevel,
    TransactionTrait as _,
};

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
