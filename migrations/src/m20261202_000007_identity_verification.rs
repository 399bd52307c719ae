//! Real-name identity proven by WeChat face verification (人脸核身 2.0, reference/wechat.md §8).
//!
//! The one decision to know: a binding counts only once `citizens.identity_verified_at` is set,
//! and the column is added empty, so every identity bound before this migration (declared with
//! `PUT /api/v1/me/identity`, never proven) is unverified from now on and must be verified before
//! licences, applications and bookings accept it. The unique `citizens.id_card_index` (from
//! migration 000001) still decides that no two accounts hold one identity; `identity_notice`
//! tells an account that lost its identity to a verification on another account.
//!
//! `identity_verifications` keeps each attempt: our `out_seq_no` (unique, so WeChat's "unique per
//! appid" holds), the person named (encrypted, with a blind index for the per-ID-number limit),
//! WeChat's verify_id and its expiry, and how it ended.

use sea_orm_migration::prelude::*;

use crate::columns::{at, at_null, big, big_null, fk, id, index, string, string_null, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
    IdentityVerifiedAt,
    IdentityNotice,
    IdentityNoticeAt,
}

#[derive(DeriveIden)]
enum IdentityVerifications {
    Table,
    Id,
    OutSeqNo,
    CitizenId,
    NameCipher,
    IdCardCipher,
    IdCardIndex,
    VerifyId,
    ExpiresAt,
    Status,
    VerifyRet,
    Errcode,
    CreatedAt,
    CompletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            at_null(Citizens::IdentityVerifiedAt),
            string_null(Citizens::IdentityNotice, 32),
            at_null(Citizens::IdentityNoticeAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Citizens::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(IdentityVerifications::Table)
                    .col(id(IdentityVerifications::Id))
                    .col(
                        string(IdentityVerifications::OutSeqNo, 32)
                            .unique_key()
                            .to_owned(),
                    )
                    .col(big(IdentityVerifications::CitizenId))
                    .col(text(IdentityVerifications::NameCipher))
                    .col(text(IdentityVerifications::IdCardCipher))
                    .col(string(IdentityVerifications::IdCardIndex, 64))
                    .col(string_null(IdentityVerifications::VerifyId, 256))
                    .col(at_null(IdentityVerifications::ExpiresAt))
                    .col(string(IdentityVerifications::Status, 16))
                    .col(big_null(IdentityVerifications::VerifyRet))
                    .col(big_null(IdentityVerifications::Errcode))
                    .col(at(IdentityVerifications::CreatedAt))
                    .col(at_null(IdentityVerifications::CompletedAt))
                    .foreign_key(&mut fk(
                        (
                            IdentityVerifications::Table,
                            IdentityVerifications::CitizenId,
                        ),
                        (Citizens::Table, Citizens::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_identity_verifications_citizen",
            IdentityVerifications::Table,
            vec![
                IdentityVerifications::CitizenId.into_iden(),
                IdentityVerifications::CreatedAt.into_iden(),
            ],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdentityVerifications::Table).to_owned())
            .await?;
        for column in [
            Citizens::IdentityNoticeAt,
            Citizens::IdentityNotice,
            Citizens::IdentityVerifiedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Citizens::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
