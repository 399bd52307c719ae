use sea_orm::entity::prelude::*;

/// A category a counter serves, with its weight when calling the next number.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_categories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub counter_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category_id: i64,
    pub weight: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
