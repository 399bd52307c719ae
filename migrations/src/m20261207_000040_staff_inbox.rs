//! The staff inbox: alerts for a hall's administrators (or, for online business with no hall,
//! every global administrator), such as a 差评's rectification passing its deadline
//! (domain-rules.md, Evaluation: "overdue tickets notify the hall admin once").
//!
//! The decision a reader needs: "once" is the unique index on `staff_inbox (kind, subject)`.
//! Any number of instances may find the same overdue ticket; each inserts with
//! `ON CONFLICT DO NOTHING` and only one row exists. An entry is read for its hall as a whole
//! (whoever of its admins opened it), which is how a shared 差评 desk works.

use sea_orm_migration::prelude::*;

use crate::columns::{at, at_null, big_null, id, index, string, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffInbox {
    Table,
    Id,
    HallId,
    Kind,
    Subject,
    Title,
    Body,
    CreatedAt,
    ReadAt,
    ReadBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffInbox::Table)
                    .col(id(StaffInbox::Id))
                    .col(big_null(StaffInbox::HallId))
                    .col(string(StaffInbox::Kind, 40))
                    .col(string(StaffInbox::Subject, 64))
                    .col(string(StaffInbox::Title, 200))
                    .col(text(StaffInbox::Body))
                    .col(at(StaffInbox::CreatedAt))
                    .col(at_null(StaffInbox::ReadAt))
                    .col(big_null(StaffInbox::ReadBy))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_staff_inbox_once",
            StaffInbox::Table,
            vec![
                StaffInbox::Kind.into_iden(),
                StaffInbox::Subject.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "idx_staff_inbox_hall",
            StaffInbox::Table,
            vec![
                StaffInbox::HallId.into_iden(),
                StaffInbox::CreatedAt.into_iden(),
            ],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StaffInbox::Table).to_owned())
            .await
    }
}
