use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
}

/// How many subscribe messages of a template a citizen has allowed us to send.
#[derive(DeriveIden)]
enum SubscriptionConsents {
    Table,
    CitizenId,
    TemplateId,
    Remaining,
    Banned,
    LastResult,
    UpdatedAt,
}

/// The outbox and the inbox at once: every notification a citizen is owed.
#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    CitizenId,
    Kind,
    DedupKey,
    Title,
    Body,
    Page,
    TemplateId,
    Data,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastError,
    WechatMsgid,
    CreatedAt,
    SentAt,
    ReadAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SubscriptionConsents::Table)
                    .col(
                        ColumnDef::new(SubscriptionConsents::CitizenId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SubscriptionConsents::TemplateId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SubscriptionConsents::Remaining)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(SubscriptionConsents::Banned)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(SubscriptionConsents::LastResult)
                            .string_len(16)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(SubscriptionConsents::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SubscriptionConsents::CitizenId)
                            .col(SubscriptionConsents::TemplateId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SubscriptionConsents::Table, SubscriptionConsents::CitizenId)
                            .to(Citizens::Table, Citizens::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(
                        ColumnDef::new(Notifications::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Notifications::CitizenId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::Kind)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::DedupKey)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Notifications::Title).text().not_null())
                    .col(ColumnDef::new(Notifications::Body).text().not_null())
                    .col(ColumnDef::new(Notifications::Page).text().null())
                    .col(
                        ColumnDef::new(Notifications::TemplateId)
                            .string_len(64)
                            .null(),
                    )
                    .col(ColumnDef::new(Notifications::Data).text().not_null())
                    .col(
                        ColumnDef::new(Notifications::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Notifications::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::ClaimedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Notifications::LastError).text().null())
                    .col(
                        ColumnDef::new(Notifications::WechatMsgid)
                            .string_len(32)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::SentAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::ReadAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Notifications::Table, Notifications::CitizenId)
                            .to(Citizens::Table, Citizens::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The last word on "never the same notification twice".
        manager
            .create_index(
                Index::create()
                    .name("ux_notifications_dedup_key")
                    .table(Notifications::Table)
                    .col(Notifications::DedupKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The worker's queue.
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_due")
                    .table(Notifications::Table)
                    .col(Notifications::Status)
                    .col(Notifications::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // A citizen's inbox, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_inbox")
                    .table(Notifications::Table)
                    .col(Notifications::CitizenId)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SubscriptionConsents::Table).to_owned())
            .await
    }
}
