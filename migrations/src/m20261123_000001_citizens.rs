use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
    Openid,
    Unionid,
    PhoneCipher,
    PhoneIndex,
    PhoneBoundAt,
    NameCipher,
    IdCardCipher,
    IdCardIndex,
    IdentityBoundAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Citizens::Table)
                    .col(
                        ColumnDef::new(Citizens::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Citizens::Openid).string_len(64).not_null())
                    .col(ColumnDef::new(Citizens::Unionid).string_len(64).null())
                    .col(ColumnDef::new(Citizens::PhoneCipher).text().null())
                    .col(ColumnDef::new(Citizens::PhoneIndex).string_len(64).null())
                    .col(
                        ColumnDef::new(Citizens::PhoneBoundAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Citizens::NameCipher).text().null())
                    .col(ColumnDef::new(Citizens::IdCardCipher).text().null())
                    .col(ColumnDef::new(Citizens::IdCardIndex).string_len(64).null())
                    .col(
                        ColumnDef::new(Citizens::IdentityBoundAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Citizens::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Citizens::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_citizens_openid")
                    .table(Citizens::Table)
                    .col(Citizens::Openid)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The last word on "one identity, one WeChat account": a unique index on the keyed hash.
        // Both PostgreSQL and SQLite let many rows hold NULL here (citizens not yet verified).
        manager
            .create_index(
                Index::create()
                    .name("ux_citizens_id_card_index")
                    .table(Citizens::Table)
                    .col(Citizens::IdCardIndex)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_citizens_phone_index")
                    .table(Citizens::Table)
                    .col(Citizens::PhoneIndex)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Citizens::Table).to_owned())
            .await
    }
}
