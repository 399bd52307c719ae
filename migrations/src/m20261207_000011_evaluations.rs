//! 好差评 (domain-rules.md, Evaluation): the invitations (one per served ticket or concluded
//! case; the window runs from `invited_at` for as long as the configuration says), the evaluations, the rectification tickets of 差评, and the
//! outbox that forwards every evaluation to the platform (province-api.md, Evaluations).
//!
//! The decision a reader needs: "one rating per subject" is the unique index on
//! `evaluations (subject_kind, subject_id)`. Two racing ratings, or a rating racing the window's
//! default on another instance, meet it; the loser is told, nothing is checked first. The
//! invitation row carries the attribution (hall, counter, category, staff; item, department,
//! sblsh) so that an evaluation copies it once, and statistics read one table.

use sea_orm_migration::prelude::*;

use crate::columns::{
    at, at_null, big, big_null, flag, id, index, int, int_null, string, string_null, text,
    text_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EvaluationInvitations {
    Table,
    Id,
    SubjectKind,
    SubjectId,
    CitizenId,
    Channel,
    HallId,
    CounterId,
    CategoryId,
    StaffId,
    ItemCode,
    ItemName,
    Department,
    Sblsh,
    HallCode,
    WindowNo,
    InvitedAt,
    Settled,
}

#[derive(DeriveIden)]
enum Evaluations {
    Table,
    Id,
    SubjectKind,
    SubjectId,
    InvitationId,
    CitizenId,
    Channel,
    HallId,
    CounterId,
    CategoryId,
    StaffId,
    ItemCode,
    Department,
    Grade,
    Indicators,
    Tags,
    Comment,
    CommentStatus,
    CommentLabel,
    Defaulted,
    RealName,
    FollowUpGrade,
    FollowUpComment,
    FollowUpStatus,
    FollowUpAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Rectifications {
    Table,
    Id,
    EvaluationId,
    HallId,
    Department,
    Status,
    ContactDueAt,
    RectifyDueAt,
    ContactedAt,
    ContactNote,
    RectifiedAt,
    RectifyNote,
    HandledBy,
    OverdueNotifiedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EvaluationOutbox {
    Table,
    Id,
    EvaluationId,
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
enum Halls {
    Table,
    RectifyDays,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EvaluationInvitations::Table)
                    .col(id(EvaluationInvitations::Id))
                    .col(string(EvaluationInvitations::SubjectKind, 8))
                    .col(string(EvaluationInvitations::SubjectId, 36))
                    .col(big(EvaluationInvitations::CitizenId))
                    .col(string(EvaluationInvitations::Channel, 8))
                    .col(big_null(EvaluationInvitations::HallId))
                    .col(big_null(EvaluationInvitations::CounterId))
                    .col(big_null(EvaluationInvitations::CategoryId))
                    .col(big_null(EvaluationInvitations::StaffId))
                    .col(string_null(EvaluationInvitations::ItemCode, 64))
                    .col(string_null(EvaluationInvitations::ItemName, 200))
                    .col(string_null(EvaluationInvitations::Department, 200))
                    .col(string_null(EvaluationInvitations::Sblsh, 64))
                    .col(string_null(EvaluationInvitations::HallCode, 64))
                    .col(string_null(EvaluationInvitations::WindowNo, 32))
                    .col(at(EvaluationInvitations::InvitedAt))
                    .col(flag(EvaluationInvitations::Settled, false))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_evaluation_invitations_subject",
            EvaluationInvitations::Table,
            vec![
                EvaluationInvitations::SubjectKind.into_iden(),
                EvaluationInvitations::SubjectId.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "idx_evaluation_invitations_due",
            EvaluationInvitations::Table,
            vec![
                EvaluationInvitations::Settled.into_iden(),
                EvaluationInvitations::InvitedAt.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_evaluation_invitations_citizen",
            EvaluationInvitations::Table,
            vec![
                EvaluationInvitations::CitizenId.into_iden(),
                EvaluationInvitations::Settled.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Evaluations::Table)
                    .col(string(Evaluations::Id, 36).primary_key())
                    .col(string(Evaluations::SubjectKind, 8))
                    .col(string(Evaluations::SubjectId, 36))
                    .col(big(Evaluations::InvitationId))
                    .col(big(Evaluations::CitizenId))
                    .col(string(Evaluations::Channel, 8))
                    .col(big_null(Evaluations::HallId))
                    .col(big_null(Evaluations::CounterId))
                    .col(big_null(Evaluations::CategoryId))
                    .col(big_null(Evaluations::StaffId))
                    .col(string_null(Evaluations::ItemCode, 64))
                    .col(string_null(Evaluations::Department, 200))
                    .col(int(Evaluations::Grade, 3))
                    .col(text(Evaluations::Indicators))
                    .col(text(Evaluations::Tags))
                    .col(text_null(Evaluations::Comment))
                    .col(string(Evaluations::CommentStatus, 12))
                    .col(int_null(Evaluations::CommentLabel))
                    .col(flag(Evaluations::Defaulted, false))
                    .col(flag(Evaluations::RealName, false))
                    .col(int_null(Evaluations::FollowUpGrade))
                    .col(text_null(Evaluations::FollowUpComment))
                    .col(string_null(Evaluations::FollowUpStatus, 12))
                    .col(at_null(Evaluations::FollowUpAt))
                    .col(at(Evaluations::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_evaluations_subject",
            Evaluations::Table,
            vec![
                Evaluations::SubjectKind.into_iden(),
                Evaluations::SubjectId.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "idx_evaluations_citizen",
            Evaluations::Table,
            vec![
                Evaluations::CitizenId.into_iden(),
                Evaluations::CreatedAt.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_evaluations_hall",
            Evaluations::Table,
            vec![
                Evaluations::HallId.into_iden(),
                Evaluations::CreatedAt.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_evaluations_comment",
            Evaluations::Table,
            vec![
                Evaluations::CommentStatus.into_iden(),
                Evaluations::CreatedAt.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Rectifications::Table)
                    .col(id(Rectifications::Id))
                    .col(string(Rectifications::EvaluationId, 36))
                    .col(big_null(Rectifications::HallId))
                    .col(string_null(Rectifications::Department, 200))
                    .col(string(Rectifications::Status, 12))
                    .col(at(Rectifications::ContactDueAt))
                    .col(at(Rectifications::RectifyDueAt))
                    .col(at_null(Rectifications::ContactedAt))
                    .col(text_null(Rectifications::ContactNote))
                    .col(at_null(Rectifications::RectifiedAt))
                    .col(text_null(Rectifications::RectifyNote))
                    .col(big_null(Rectifications::HandledBy))
                    .col(at_null(Rectifications::OverdueNotifiedAt))
                    .col(at(Rectifications::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_rectifications_evaluation",
            Rectifications::Table,
            vec![Rectifications::EvaluationId.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "idx_rectifications_open",
            Rectifications::Table,
            vec![
                Rectifications::HallId.into_iden(),
                Rectifications::Status.into_iden(),
                Rectifications::RectifyDueAt.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(EvaluationOutbox::Table)
                    .col(id(EvaluationOutbox::Id))
                    .col(string(EvaluationOutbox::EvaluationId, 36))
                    .col(string(EvaluationOutbox::Status, 16))
                    .col(int(EvaluationOutbox::Attempts, 0))
                    .col(at(EvaluationOutbox::NextAttemptAt))
                    .col(at_null(EvaluationOutbox::ClaimedUntil))
                    .col(at_null(EvaluationOutbox::FirstFailureAt))
                    .col(text_null(EvaluationOutbox::LastError))
                    .col(at(EvaluationOutbox::CreatedAt))
                    .col(at(EvaluationOutbox::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_evaluation_outbox_due",
            EvaluationOutbox::Table,
            vec![
                EvaluationOutbox::Status.into_iden(),
                EvaluationOutbox::NextAttemptAt.into_iden(),
            ],
            false,
        )
        .await?;

        // The hall's rectification limit in working days; NULL: the default (5).
        manager
            .alter_table(
                Table::alter()
                    .table(Halls::Table)
                    .add_column(ColumnDef::new(Halls::RectifyDays).integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Halls::Table)
                    .drop_column(Halls::RectifyDays)
                    .to_owned(),
            )
            .await?;
        for table in [
            EvaluationOutbox::Table.into_iden(),
            Rectifications::Table.into_iden(),
            Evaluations::Table.into_iden(),
            EvaluationInvitations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
