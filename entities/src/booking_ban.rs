use sea_orm::entity::prelude::*;

/// A booking ban of an identity, through `until` (inclusive).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_bans")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub identity_index: String,
    pub until: Date,
    /// `NO_SHOWS` or `CANCELLATIONS`.
    pub reason: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
