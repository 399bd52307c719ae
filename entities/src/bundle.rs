use sea_orm::entity::prelude::*;

/// A 一件事 bundle of the catalogue, synced from `GET /gov/v1/bundles` (province-api.md,
/// "一件事 bundles"). `items` is JSON `[{itemCode, required}]`; `shared_materials` is JSON
/// `[{code, name, formats, maxSizeKb, usedBy}]`; `updated_at` is the platform's.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bundles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub bundle_code: String,
    pub name: String,
    pub description: String,
    pub items: String,
    pub shared_materials: String,
    pub promised_days: i32,
    pub online_level: i32,
    pub updated_at: Option<DateTimeUtc>,
    pub synced_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
