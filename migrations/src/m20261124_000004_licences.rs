//! The licence audit log (`licence_uses`): one append-only row per display, reveal, presentation
//! and verification of a licence. A verification's payload id (`jti`) is unique, so a scanned
//! payload can be accepted once only, however many instances race on it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum LicenceUses {
    Table,
    Id,
    CitizenId,
    LicenceId,
    Action,
    Cause,
    StaffId,
    HallId,
    Jti,
    Verdict,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LicenceUses::Table)
                    .col(
                        ColumnDef::new(LicenceUses::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LicenceUses::CitizenId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LicenceUses::LicenceId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LicenceUses::Action)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(LicenceUses::Cause).string_len(96).not_null())
                    .col(ColumnDef::new(LicenceUses::StaffId).big_integer().null())
                    .col(ColumnDef::new(LicenceUses::HallId).big_integer().null())
                    .col(
                        ColumnDef::new(LicenceUses::Jti)
                            .string_len(64)
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(LicenceUses::Verdict).string_len(16).null())
                    .col(
                        ColumnDef::new(LicenceUses::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(LicenceUses::Table, LicenceUses::CitizenId)
                            .to(Citizens::Table, Citizens::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("licence_uses_by_holder")
                    .table(LicenceUses::Table)
                    .col(LicenceUses::CitizenId)
                    .col(LicenceUses::LicenceId)
                    .col(LicenceUses::Id)
                    .to_owned(),
            )
            .await?;
        // Who presented a licence: the holder a verification is told to.
        manager
            .create_index(
                Index::create()
                    .name("licence_uses_by_licence")
                    .table(LicenceUses::Table)
                    .col(LicenceUses::LicenceId)
                    .col(LicenceUses::Action)
                    .col(LicenceUses::Id)
                    .to_owned(),
            )
            .await?;
        // Append-only in the database itself, not only by the code's good manners.
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION licence_uses_append_only() RETURNS trigger LANGUAGE plpgsql \
                     AS $$ BEGIN RAISE EXCEPTION 'licence_uses is append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER licence_uses_append_only BEFORE UPDATE OR DELETE ON \
                     licence_uses FOR EACH ROW EXECUTE FUNCTION licence_uses_append_only()",
                )
                .await?;
            }
            _ => {
                for op in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER licence_uses_no_{} BEFORE {op} ON licence_uses \
                         BEGIN SELECT RAISE(ABORT, 'licence_uses is append-only'); END",
                        op.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LicenceUses::Table).to_owned())
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS licence_uses_append_only()")
                .await?;
        }
        Ok(())
    }
}
