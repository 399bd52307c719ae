use sea_orm::entity::prelude::*;

/// A service item (事项) of the catalogue, as synced from the provincial platform. `materials`
/// and `halls` are JSON text.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub item_code: String,
    pub handle_item_code: String,
    pub name: String,
    pub department: String,
    pub item_type: i32,
    pub legal_days: i32,
    pub promised_days: i32,
    pub fee: String,
    pub materials: String,
    pub online_level: i32,
    pub bookable: bool,
    pub halls: String,
    pub guide_url: Option<String>,
    pub synced_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
