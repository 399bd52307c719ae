use sea_orm::entity::prelude::*;

/// One part of a bundle application: the application (and case, `sblsh`) of one of its items,
/// created when the platform answered the bundle.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bundle_parts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub application_id: String,
    pub bundle_application_id: String,
    pub item_code: String,
    pub sblsh: String,
    /// The item's place in the bundle.
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
