//! Migrations under one lock on SQLite too: gateways started together on one fresh file take
//! turns (`BEGIN IMMEDIATE`), as they do on PostgreSQL under the advisory lock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use gateway::configuration::DatabaseSettings;
use gateway::startup::{connect_database, migrate_up};
use sea_orm::{ConnectionTrait as _, Statement};
use sea_orm_migration::MigratorTrait as _;
use secrecy::SecretString;

#[tokio::test]
async fn two_instances_migrating_one_fresh_sqlite_file_together_both_succeed() {
    let dir = std::env::temp_dir().join(format!("zsb-migrate-{}", uuid::Uuid::new_v4().simple()));
    let settings = DatabaseSettings {
        url: SecretString::from(format!("sqlite://{}/app.db?mode=rwc", dir.display())),
        max_connections: 4,
        migrate_on_start: true,
    };
    // Two pools are two processes to SQLite: separate connections, one file lock.
    let one = connect_database(&settings).await.unwrap();
    let two = connect_database(&settings).await.unwrap();

    let (a, b) = tokio::join!(migrate_up(&one), migrate_up(&two));

    a.unwrap();
    b.unwrap();
    let applied = one
        .query_one_raw(Statement::from_string(
            one.get_database_backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(
        usize::try_from(applied).unwrap(),
        migrations::Migrator::migrations().len(),
        "each migration recorded once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
