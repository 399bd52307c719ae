use sea_orm::entity::prelude::*;

/// One change of a ticket's state: who, when, at which counter.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub staff_id: Option<i64>,
    pub counter_id: Option<i64>,
    pub at: DateTimeUtc,
    pub detail: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
