//! 代办 with consent: an application for someone who is not on the citizen's phone waits
//! (`AWAITING_CONSENT`, no outbox row) until that person accepts it from their own verified
//! account. `application_consents` keeps the request: who asked (`requester_id`, the agent), who
//! is asked (`person_id`, and the blind index of their ID number at the time), the answer and
//! its moment, and when the request lapses. One request per application (unique).

use sea_orm_migration::prelude::*;

use crate::columns::{at, at_null, big, fk, index, string};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
                        (
                            ApplicationConsents::Table,
                            ApplicationConsents::ApplicationId,
                        ),
                        (Applications::Table, Applications::Id),
                    ))
                    .foreign_key(&mut fk(
                        (ApplicationConsents::Table, ApplicationConsents::PersonId),
                        (Citizens::Table, Citizens::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_application_consents_person",
            ApplicationConsents::Table,
            vec![
                ApplicationConsents::PersonId.into_iden(),
                ApplicationConsents::Status.into_iden(),
            ],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApplicationConsents::Table).to_owned())
            .await
    }
}
