use sea_orm::entity::prelude::*;

/// An alert for a hall's administrators (`hall_id` NULL: every global administrator). One per
/// `(kind, subject)` by a unique index; `read_at` is set once by whichever admin opened it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_inbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hall_id: Option<i64>,
    /// `RECTIFICATION_OVERDUE`.
    pub kind: String,
    /// What it is about (the rectification's id).
    pub subject: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
    pub read_by: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
