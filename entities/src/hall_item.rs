use sea_orm::entity::prelude::*;

/// Which category of a hall handles an item.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hall_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub hall_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub item_code: String,
    pub category_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
