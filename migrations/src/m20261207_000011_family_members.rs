//! Family members on one phone (一部手机绑定多人): a citizen adds a person who is present by
//! face-verifying them on the citizen's own phone; the citizen may then act for them.
//!
//! The one decision to know: a live relation is the row whose `active_key` is set
//! (`{citizen_id}:{member id-card blind index}`); revoking clears it and stamps `revoked_at`, so
//! the unique index says "one live relation per citizen and person" while revoked rows stay as
//! history and the person can be added again later. The person is keyed as identities are
//! everywhere: the blind index of their ID number (the same domain as `citizens.id_card_index`),
//! so bookings, bans and limits count them as the same person whoever books.
//!
//! `identity_verifications.purpose` tells a verification of the account's own identity (`SELF`,
//! every row before this migration) from one of a family member (`MEMBER`): the same attempts,
//! the same limits, a different effect when the face passes.

use sea_orm_migration::prelude::*;

use crate::columns::{at, at_null, big, fk, id, index, string, string_null, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum IdentityVerifications {
    Table,
    Id,
    Purpose,
}

#[derive(DeriveIden)]
enum FamilyMembers {
    Table,
    Id,
    CitizenId,
    MemberIndex,
    NameCipher,
    IdCardCipher,
    VerificationId,
    ActiveKey,
    CreatedAt,
    RevokedAt,
    RevokedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityVerifications::Table)
                    .add_column(
                        ColumnDef::new(IdentityVerifications::Purpose)
                            .string_len(16)
                            .not_null()
                            .default("SELF"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FamilyMembers::Table)
                    .col(id(FamilyMembers::Id))
                    .col(big(FamilyMembers::CitizenId))
                    .col(string(FamilyMembers::MemberIndex, 64))
                    .col(text(FamilyMembers::NameCipher))
                    .col(text(FamilyMembers::IdCardCipher))
                    .col(big(FamilyMembers::VerificationId))
                    .col(string_null(FamilyMembers::ActiveKey, 96))
                    .col(at(FamilyMembers::CreatedAt))
                    .col(at_null(FamilyMembers::RevokedAt))
                    .col(string_null(FamilyMembers::RevokedBy, 16))
                    .foreign_key(&mut fk(
                        (FamilyMembers::Table, FamilyMembers::CitizenId),
                        (Citizens::Table, Citizens::Id),
                    ))
                    .foreign_key(&mut fk(
                        (FamilyMembers::Table, FamilyMembers::VerificationId),
                        (IdentityVerifications::Table, IdentityVerifications::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_family_members_active_key",
            FamilyMembers::Table,
            vec![FamilyMembers::ActiveKey.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "idx_family_members_citizen",
            FamilyMembers::Table,
            vec![FamilyMembers::CitizenId.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "idx_family_members_member",
            FamilyMembers::Table,
            vec![FamilyMembers::MemberIndex.into_iden()],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FamilyMembers::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityVerifications::Table)
                    .drop_column(IdentityVerifications::Purpose)
                    .to_owned(),
            )
            .await
    }
}
