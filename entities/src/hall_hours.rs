use sea_orm::entity::prelude::*;

/// A hall's opening hours on one weekday (1 = Monday … 7 = Sunday), with an optional break.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hall_hours")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub hall_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub weekday: i32,
    pub opens_minute: i32,
    pub closes_minute: i32,
    pub break_start_minute: Option<i32>,
    pub break_end_minute: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
