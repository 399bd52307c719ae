use sea_orm::entity::prelude::*;

/// One staff action that asked to change something (append-only: a trigger refuses UPDATE and
/// DELETE). `staff_id` is NULL for the command line (`gateway create-staff`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub staff_id: Option<i64>,
    pub actor: String,
    pub address: Option<String>,
    pub method: String,
    pub route: String,
    pub path: String,
    pub status: i32,
    pub request_id: Option<String>,
    pub body: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
