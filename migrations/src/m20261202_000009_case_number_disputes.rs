//! `case_number_disputes`: a case number (sblsh) the platform gave to an application while an
//! earlier application already held it (a platform, or a restarted demo simulator, that reissued
//! numbers). The later application is parked for an operator; events received for the number
//! from the moment the later one was sent (`since`) belong to neither, and are kept apart until
//! an operator has looked. One row per number: the primary key.

use sea_orm_migration::prelude::*;

use crate::columns::{at, string};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CaseNumberDisputes {
    Table,
    Sblsh,
    HeldBy,
    Refused,
    Since,
    DetectedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CaseNumberDisputes::Table)
                    .col(string(CaseNumberDisputes::Sblsh, 64).primary_key())
                    .col(string(CaseNumberDisputes::HeldBy, 36))
                    .col(string(CaseNumberDisputes::Refused, 36))
                    .col(at(CaseNumberDisputes::Since))
                    .col(at(CaseNumberDisputes::DetectedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CaseNumberDisputes::Table).to_owned())
            .await
    }
}
