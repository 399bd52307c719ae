use sea_orm::entity::prelude::*;

/// One row per identity that ever booked, locked while that person books.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_holders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub identity_index: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
