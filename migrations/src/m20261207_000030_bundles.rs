//! 一件事 bundles (province-api.md, "一件事 bundles"): the bundles of the catalogue, the bundle
//! applications with their outbox, and the parts (one application and case per item) joined
//! to their bundle on the platform's answer.

use sea_orm_migration::prelude::*;

use crate::columns::{
    at, at_null, big, big_null, flag, id, index, int, string, string_null, text, text_null,
};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000030_bundles"
    }
}

#[derive(DeriveIden)]
enum Bundles {
    Table,
    BundleCode,
    Name,
    Description,
    Items,
    SharedMaterials,
    PromisedDays,
    OnlineLevel,
    UpdatedAt,
    SyncedAt,
}

#[derive(DeriveIden)]
enum BundleApplications {
    Table,
    Id,
    CitizenId,
    BundleCode,
    BundleName,
    IdempotencyKey,
    Fingerprint,
    Items,
    Form,
    Materials,
    ObtainWay,
    PrivateCipher,
    OnBehalf,
    MemberId,
    Status,
    BundleNo,
    ReceivedAt,
    Problem,
    SubmittedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BundleParts {
    Table,
    ApplicationId,
    BundleApplicationId,
    ItemCode,
    Sblsh,
    Position,
}

#[derive(DeriveIden)]
enum BundleOutbox {
    Table,
    Id,
    BundleApplicationId,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    FirstFailureAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Bundles::Table)
                    .col(string(Bundles::BundleCode, 64).primary_key())
                    .col(string(Bundles::Name, 200))
                    .col(text(Bundles::Description))
                    .col(text(Bundles::Items))
                    .col(text(Bundles::SharedMaterials))
                    .col(int(Bundles::PromisedDays, 0))
                    .col(int(Bundles::OnlineLevel, 1))
                    .col(at_null(Bundles::UpdatedAt))
                    .col(at(Bundles::SyncedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BundleApplications::Table)
                    .col(string(BundleApplications::Id, 36).primary_key())
                    .col(big(BundleApplications::CitizenId))
                    .col(string(BundleApplications::BundleCode, 64))
                    .col(string(BundleApplications::BundleName, 200))
                    .col(string_null(BundleApplications::IdempotencyKey, 64))
                    .col(string_null(BundleApplications::Fingerprint, 64))
                    .col(text(BundleApplications::Items))
                    .col(text(BundleApplications::Form))
                    .col(text(BundleApplications::Materials))
                    .col(
                        ColumnDef::new(BundleApplications::ObtainWay)
                            .small_integer()
                            .not_null(),
                    )
                    .col(text(BundleApplications::PrivateCipher))
                    .col(flag(BundleApplications::OnBehalf, false))
                    .col(big_null(BundleApplications::MemberId))
                    .col(string(BundleApplications::Status, 24))
                    .col(string_null(BundleApplications::BundleNo, 64))
                    .col(at_null(BundleApplications::ReceivedAt))
                    .col(text_null(BundleApplications::Problem))
                    .col(at(BundleApplications::SubmittedAt))
                    .col(at(BundleApplications::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // One bundle per key and citizen: two concurrent submissions under one key make one.
        index(
            manager,
            "idx_bundle_applications_key",
            BundleApplications::Table,
            vec![
                BundleApplications::CitizenId.into_iden(),
                BundleApplications::IdempotencyKey.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "idx_bundle_applications_citizen",
            BundleApplications::Table,
            vec![
                BundleApplications::CitizenId.into_iden(),
                BundleApplications::SubmittedAt.into_iden(),
            ],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(BundleParts::Table)
                    .col(string(BundleParts::ApplicationId, 36).primary_key())
                    .col(string(BundleParts::BundleApplicationId, 36))
                    .col(string(BundleParts::ItemCode, 64))
                    .col(string(BundleParts::Sblsh, 64))
                    .col(int(BundleParts::Position, 0))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_bundle_parts_bundle",
            BundleParts::Table,
            vec![
                BundleParts::BundleApplicationId.into_iden(),
                BundleParts::ItemCode.into_iden(),
            ],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(BundleOutbox::Table)
                    .col(id(BundleOutbox::Id))
                    .col(string(BundleOutbox::BundleApplicationId, 36))
                    .col(string(BundleOutbox::Status, 16))
                    .col(int(BundleOutbox::Attempts, 0))
                    .col(at(BundleOutbox::NextAttemptAt))
                    .col(at_null(BundleOutbox::ClaimedUntil))
                    .col(at_null(BundleOutbox::FirstFailureAt))
                    .col(text_null(BundleOutbox::LastError))
                    .col(at(BundleOutbox::CreatedAt))
                    .col(at(BundleOutbox::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_bundle_outbox_due",
            BundleOutbox::Table,
            vec![
                BundleOutbox::Status.into_iden(),
                BundleOutbox::NextAttemptAt.into_iden(),
            ],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            BundleOutbox::Table.into_iden(),
            BundleParts::Table.into_iden(),
            BundleApplications::Table.into_iden(),
            Bundles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
