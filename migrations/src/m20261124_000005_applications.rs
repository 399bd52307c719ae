//! Applications (申办) to the provincial platform and what follows them: the citizen's uploaded
//! materials, the applications and supplements (补正), the outbox the forwarder drains, and the
//! case events (办件进度) received by callback or by polling.
//!
//! The decisions a reader needs:
//! - An application, its outbox row and its idempotency key are written in one transaction; the
//!   application's id is the `clientRequestId`, so a resend can never make a second case.
//! - `case_events` is unique by `event_id` and by (`sblsh`, `version`): a duplicate callback is
//!   a no-op, whatever instance receives it. An event may arrive before the forwarder has learnt
//!   its case's `sblsh` (the answer was lost); it is kept and joined to its application by `sblsh`.
//! - Supplements are unique by (`application_id`, `requested_version`): one per 补正告知.

use sea_orm_migration::prelude::*;

use crate::columns::{at, at_null, big, index, string, string_null, text, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Materials {
    Table,
    Id,
    CitizenId,
    Sha256,
    Size,
    ContentType,
    FileName,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
    CitizenId,
    ItemCode,
    HandleItemCode,
    ItemName,
    IdempotencyKey,
    Fingerprint,
    Form,
    Materials,
    ObtainWay,
    PrivateCipher,
    OnBehalf,
    Status,
    Phase,
    CaseVersion,
    Sblsh,
    ReceivedAt,
    Problem,
    TrackingNo,
    SubmittedAt,
    UpdatedAt,
    LastEventAt,
    PolledAt,
    PollDueAt,
}

#[derive(DeriveIden)]
enum Supplements {
    Table,
    Id,
    ApplicationId,
    RequestedVersion,
    Materials,
    Note,
    Status,
    ResultVersion,
    Problem,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProvinceOutbox {
    Table,
    Id,
    Kind,
    ApplicationId,
    SupplementId,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    FirstFailureAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CaseEvents {
    Table,
    Id,
    EventId,
    Sblsh,
    Version,
    Phase,
    At,
    Handler,
    Detail,
    Source,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Materials::Table)
                    .col(string(Materials::Id, 36).primary_key())
                    .col(big(Materials::CitizenId))
                    .col(string(Materials::Sha256, 64))
                    .col(big(Materials::Size))
                    .col(string(Materials::ContentType, 32))
                    .col(string_null(Materials::FileName, 200))
                    .col(at(Materials::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Materials::Table, Materials::CitizenId)
                            .to(Citizens::Table, Citizens::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_materials_citizen",
            Materials::Table,
            vec![Materials::CitizenId.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Applications::Table)
                    .col(string(Applications::Id, 36).primary_key())
                    .col(big(Applications::CitizenId))
                    .col(string(Applications::ItemCode, 64))
                    .col(string(Applications::HandleItemCode, 64))
                    .col(string(Applications::ItemName, 200))
                    .col(string_null(Applications::IdempotencyKey, 64))
                    .col(string_null(Applications::Fingerprint, 64))
                    .col(text(Applications::Form))
                    .col(text(Applications::Materials))
                    .col(
                        ColumnDef::new(Applications::ObtainWay)
                            .small_integer()
                            .not_null(),
                    )
                    .col(text(Applications::PrivateCipher))
                    .col(
                        ColumnDef::new(Applications::OnBehalf)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(string(Applications::Status, 16))
                    .col(string_null(Applications::Phase, 24))
                    .col(
                        ColumnDef::new(Applications::CaseVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(string_null(Applications::Sblsh, 64).unique_key())
                    .col(at_null(Applications::ReceivedAt))
                    .col(text_null(Applications::Problem))
                    .col(string_null(Applications::TrackingNo, 64))
                    .col(at(Applications::SubmittedAt))
                    .col(at(Applications::UpdatedAt))
                    .col(at_null(Applications::LastEventAt))
                    .col(at_null(Applications::PolledAt))
                    .col(at_null(Applications::PollDueAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Applications::Table, Applications::CitizenId)
                            .to(Citizens::Table, Citizens::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_applications_citizen",
            Applications::Table,
            vec![
                Applications::CitizenId.into_iden(),
                Applications::SubmittedAt.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "uq_applications_idempotency",
            Applications::Table,
            vec![
                Applications::CitizenId.into_iden(),
                Applications::IdempotencyKey.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "idx_applications_poll_due",
            Applications::Table,
            vec![Applications::PollDueAt.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "idx_applications_status",
            Applications::Table,
            vec![Applications::Status.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Supplements::Table)
                    .col(string(Supplements::Id, 36).primary_key())
                    .col(string(Supplements::ApplicationId, 36))
                    .col(big(Supplements::RequestedVersion))
                    .col(text(Supplements::Materials))
                    .col(text_null(Supplements::Note))
                    .col(string(Supplements::Status, 16))
                    .col(
                        ColumnDef::new(Supplements::ResultVersion)
                            .big_integer()
                            .null(),
                    )
                    .col(text_null(Supplements::Problem))
                    .col(at(Supplements::CreatedAt))
                    .col(at(Supplements::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Supplements::Table, Supplements::ApplicationId)
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_supplements_request",
            Supplements::Table,
            vec![
                Supplements::ApplicationId.into_iden(),
                Supplements::RequestedVersion.into_iden(),
            ],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProvinceOutbox::Table)
                    .col(
                        ColumnDef::new(ProvinceOutbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string(ProvinceOutbox::Kind, 16))
                    .col(string(ProvinceOutbox::ApplicationId, 36))
                    .col(string_null(ProvinceOutbox::SupplementId, 36))
                    .col(string(ProvinceOutbox::Status, 16))
                    .col(
                        ColumnDef::new(ProvinceOutbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(at(ProvinceOutbox::NextAttemptAt))
                    .col(at_null(ProvinceOutbox::ClaimedUntil))
                    .col(at_null(ProvinceOutbox::FirstFailureAt))
                    .col(text_null(ProvinceOutbox::LastError))
                    .col(at(ProvinceOutbox::CreatedAt))
                    .col(at(ProvinceOutbox::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProvinceOutbox::Table, ProvinceOutbox::ApplicationId)
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_province_outbox_due",
            ProvinceOutbox::Table,
            vec![
                ProvinceOutbox::Status.into_iden(),
                ProvinceOutbox::NextAttemptAt.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CaseEvents::Table)
                    .col(
                        ColumnDef::new(CaseEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string(CaseEvents::EventId, 64).unique_key())
                    .col(string(CaseEvents::Sblsh, 64))
                    .col(big(CaseEvents::Version))
                    .col(string(CaseEvents::Phase, 24))
                    .col(at(CaseEvents::At))
                    .col(string(CaseEvents::Handler, 200))
                    .col(text(CaseEvents::Detail))
                    .col(string(CaseEvents::Source, 8))
                    .col(at(CaseEvents::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_case_events_version",
            CaseEvents::Table,
            vec![
                CaseEvents::Sblsh.into_iden(),
                CaseEvents::Version.into_iden(),
            ],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CaseEvents::Table.into_iden(),
            ProvinceOutbox::Table.into_iden(),
            Supplements::Table.into_iden(),
            Applications::Table.into_iden(),
            Materials::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
