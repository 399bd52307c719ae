use sea_orm::entity::prelude::*;

/// The last queue number given per hall, service day (Asia/Shanghai) and prefix.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_sequences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub hall_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub prefix: String,
    pub last: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
