use sea_orm::entity::prelude::*;

/// A category of items a hall serves (业务类别), with its queue prefix.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "categories")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hall_id: i64,
    pub code: String,
    pub name: String,
    pub prefix: String,
    /// Seats per slot; `None`: the number of active counters serving the category.
    pub seats_per_slot: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
