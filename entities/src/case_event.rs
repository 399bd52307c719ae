use sea_orm::entity::prelude::*;

/// One event of a case (办件), as the platform sent it (`source` `CALLBACK`) or as polling found
/// it (`POLL`). Unique by `event_id` and by (`sblsh`, `version`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub event_id: String,
    pub sblsh: String,
    pub version: i64,
    pub phase: crate::status::CasePhase,
    pub at: DateTimeUtc,
    pub handler: String,
    pub detail: String,
    pub source: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
