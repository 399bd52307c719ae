use sea_orm::entity::prelude::*;

/// A counter's desk: the one ticket it holds (called or serving), and its weighted round-robin
/// state (`category_id:current` pairs).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_desks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub counter_id: i64,
    pub hall_id: i64,
    #[sea_orm(unique)]
    pub ticket_id: Option<i64>,
    pub wrr: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
