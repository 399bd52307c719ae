use sea_orm::entity::prelude::*;

/// One evaluation to send to the platform (`POST /gov/v1/evaluations`), drained by the shared
/// province outbox mechanism. `status`: `PENDING`, `SENDING`, `DONE`, `PARKED`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "evaluation_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub evaluation_id: String,
    pub status: crate::status::OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub first_failure_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
