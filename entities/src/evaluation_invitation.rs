use sea_orm::entity::prelude::*;

/// An invitation to rate one subject (`TICKET`: a served queue ticket, 现场; `CASE`: a
/// concluded or rejected application, 网上), with the attribution the rating copies and the end
/// of the rating window runs from `invited_at`. `settled` once rated or defaulted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "evaluation_invitations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject_kind: crate::status::SubjectKind,
    pub subject_id: String,
    pub citizen_id: i64,
    pub channel: String,
    pub hall_id: Option<i64>,
    pub counter_id: Option<i64>,
    pub category_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub item_code: Option<String>,
    pub item_name: Option<String>,
    pub department: Option<String>,
    pub sblsh: Option<String>,
    pub hall_code: Option<String>,
    pub window_no: Option<String>,
    pub invited_at: DateTimeUtc,
    pub settled: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
