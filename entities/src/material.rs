use sea_orm::entity::prelude::*;

/// A file a citizen uploaded for their applications. The bytes live in the blob store under
/// `sha256`; this row says whose upload it is.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "materials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub citizen_id: i64,
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    pub file_name: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
