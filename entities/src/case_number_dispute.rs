use sea_orm::entity::prelude::*;

/// A case number (sblsh) the platform gave to `refused` while `held_by` already held it. Events
/// of the number received from `since` on are attached to neither application.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_number_disputes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub sblsh: String,
    pub held_by: String,
    pub refused: String,
    pub since: DateTimeUtc,
    pub detected_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
