use sea_orm::entity::prelude::*;

/// A bookable slot of a hall's category on a day; `booked` never exceeds `capacity` (a CHECK).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "slots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hall_id: i64,
    pub category_id: i64,
    pub day: Date,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub capacity: i32,
    pub booked: i32,
    /// `OPEN` or `CLOSED` (the hall cancelled the day).
    pub status: crate::status::SlotStatus,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
