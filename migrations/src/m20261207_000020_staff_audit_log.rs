//! `staff_audit_log`: the operator's audit trail (issue 20, item 3). One row per staff action
//! that asked to change something: who (the member, or the command line), when, from which
//! address, which route with which parameters and body, and what the gateway answered.
//!
//! Append-only in the database itself: a trigger refuses every UPDATE and DELETE on both
//! backends, so no code path of the application — nor an operator's slip in `psql` without
//! first dropping the trigger — can rewrite history.

use sea_orm_migration::prelude::*;

use crate::columns::{at, big_null, id, int, string, string_null, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffAuditLog {
    Table,
    Id,
    At,
    StaffId,
    Actor,
    Address,
    Method,
    Route,
    Path,
    Status,
    RequestId,
    Body,
}

const POSTGRES_UP: &[&str] = &[
    "CREATE FUNCTION staff_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'staff_audit_log is append-only'; END $$",
    "CREATE TRIGGER staff_audit_log_no_update BEFORE UPDATE OR DELETE ON staff_audit_log \
     FOR EACH ROW EXECUTE FUNCTION staff_audit_log_append_only()",
    "CREATE TRIGGER staff_audit_log_no_truncate BEFORE TRUNCATE ON staff_audit_log \
     FOR EACH STATEMENT EXECUTE FUNCTION staff_audit_log_append_only()",
];

const POSTGRES_DOWN: &[&str] = &["DROP FUNCTION IF EXISTS staff_audit_log_append_only() CASCADE"];

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER staff_audit_log_no_update BEFORE UPDATE ON staff_audit_log \
     BEGIN SELECT RAISE(ABORT, 'staff_audit_log is append-only'); END",
    "CREATE TRIGGER staff_audit_log_no_delete BEFORE DELETE ON staff_audit_log \
     BEGIN SELECT RAISE(ABORT, 'staff_audit_log is append-only'); END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffAuditLog::Table)
                    .col(id(StaffAuditLog::Id))
                    .col(at(StaffAuditLog::At))
                    .col(big_null(StaffAuditLog::StaffId))
                    .col(string(StaffAuditLog::Actor, 64))
                    .col(string_null(StaffAuditLog::Address, 64))
                    .col(string(StaffAuditLog::Method, 10))
                    .col(string(StaffAuditLog::Route, 200))
                    .col(string(StaffAuditLog::Path, 500))
                    .col(int(StaffAuditLog::Status, 0))
                    .col(string_null(StaffAuditLog::RequestId, 64))
                    .col(text_null(StaffAuditLog::Body))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_staff_audit_log_staff")
                    .table(StaffAuditLog::Table)
                    .col(StaffAuditLog::StaffId)
                    .col(StaffAuditLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_staff_audit_log_at")
                    .table(StaffAuditLog::Table)
                    .col(StaffAuditLog::At)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            for sql in POSTGRES_DOWN {
                db.execute_unprepared(sql).await?;
            }
        }
        manager
            .drop_table(Table::drop().table(StaffAuditLog::Table).to_owned())
            .await
    }
}
