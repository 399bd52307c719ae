//! A counter's spoken name: what the board reads out after "到" (`请A001号到{spoken}办理`).
//! Nullable: a counter without one is read out by its number (`1号窗口`), so every counter
//! already created keeps its meaning and the full name (`2号窗口 公安户政`) is no longer read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Counters {
    Table,
    SpokenName,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Counters::Table)
                    .add_column(ColumnDef::new(Counters::SpokenName).string_len(50).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Counters::Table)
                    .drop_column(Counters::SpokenName)
                    .to_owned(),
            )
            .await
    }
}
