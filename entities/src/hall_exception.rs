use sea_orm::entity::prelude::*;

/// A date on which a hall is closed or keeps other hours.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hall_exceptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub hall_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    pub closed: bool,
    pub opens_minute: Option<i32>,
    pub closes_minute: Option<i32>,
    pub note: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
