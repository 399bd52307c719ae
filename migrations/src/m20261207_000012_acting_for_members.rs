//! Acting for a family member: bookings, tickets, applications and licence uses record both
//! people — `citizen_id` stays the account that acted, and `member_id` (a `family_members` row,
//! NULL when the citizen acted for themselves) the person acted for. A booking's
//! `identity_index` is the member's, so limits, bans and "one per item and day" count the person.

use sea_orm_migration::prelude::*;

use crate::columns::big_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Bookings {
    Table,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
}

#[derive(DeriveIden)]
enum LicenceUses {
    Table,
}

#[derive(DeriveIden)]
enum Column {
    MemberId,
}

fn tables() -> [DynIden; 4] {
    [
        Bookings::Table.into_iden(),
        Tickets::Table.into_iden(),
        Applications::Table.into_iden(),
        LicenceUses::Table.into_iden(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(big_null(Column::MemberId))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Column::MemberId)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
