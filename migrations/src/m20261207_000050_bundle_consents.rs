//! 一件事 bundles ask a person's consent (代办 with consent) through the very requests an
//! application asks (`application_consents`, migration 000013), keyed by the bundle
//! application's id. That table's `application_id` referenced `applications` only; this rebuilds
//! it without that foreign key (the id is an application's or a bundle application's, both
//! UUIDs, each unique here), keeping every row, the key to `citizens` and the person's index.
//! SQLite cannot drop a foreign key, hence the rebuild on both backends.

use sea_orm_migration::prelude::*;

use crate::columns::{at, at_null, big, fk, string};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ConsentsBefore {
    #[sea_orm(iden = "application_consents_before")]
    Table,
}

#[derive(DeriveIden)]
enum ApplicationConsents {
    Table,
    Id,
    ApplicationId,
    RequesterId,
    PersonId,
    PersonIndex,
    Status,
    CreatedAt,
    ExpiresAt,
    AnsweredAt,
}

const COLUMNS: &str = "id, application_id, requester_id, person_id, person_index, status, \
                       created_at, expires_at, answered_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Set the old table aside (its index with it), make the new one under the old name, copy
        // every row, then drop the old one.
        manager
            .drop_index(
                Index::drop()
                    .name("idx_application_consents_person")
                    .table(ApplicationConsents::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .rename_table(
                Table::rename()
                    .table(ApplicationConsents::Table, ConsentsBefore::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApplicationConsents::Table)
                    .col(string(ApplicationConsents::Id, 36).primary_key().to_owned())
                    .col(
                        string(ApplicationConsents::ApplicationId, 36)
                            .unique_key()
                            .to_owned(),
                    )
                    .col(big(ApplicationConsents::RequesterId))
                    .col(big(ApplicationConsents::PersonId))
                    .col(string(ApplicationConsents::PersonIndex, 64))
                    .col(string(ApplicationConsents::Status, 16))
                    .col(at(ApplicationConsents::CreatedAt))
                    .col(at(ApplicationConsents::ExpiresAt))
                    .col(at_null(ApplicationConsents::AnsweredAt))
                    .foreign_key(&mut fk(
                        (ApplicationConsents::Table, ApplicationConsents::PersonId),
                        (Citizens::Table, Citizens::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO application_consents ({COLUMNS}) \
                 SELECT {COLUMNS} FROM application_consents_before"
            ))
            .await?;
        manager
            .drop_table(Table::drop().table(ConsentsBefore::Table).to_owned())
            .await?;
        // Under a name of its own: the old one may linger on SQLite (seen once, with two
        // instances on one file), and a clash must not stop the gateway.
        manager
            .drop_index(
                Index::drop()
                    .name("idx_application_consents_person")
                    .table(ApplicationConsents::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_consents_person_status")
                    .table(ApplicationConsents::Table)
                    .col(ApplicationConsents::PersonId)
                    .col(ApplicationConsents::Status)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The key to `applications` cannot come back while bundle applications' requests exist.
        Ok(())
    }
}
