use sea_orm::entity::prelude::*;

/// A supplement (补正) answering the 补正告知 of case version `requested_version`; `id` is its
/// `clientRequestId`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "supplements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub application_id: String,
    pub requested_version: i64,
    pub materials: String,
    pub note: Option<String>,
    pub status: crate::status::Delivery,
    pub result_version: Option<i64>,
    pub problem: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
