use sea_orm::entity::prelude::*;

/// The rectification ticket (差评整改) of one real-name 差评. `status`: `OPEN`, `CONTACTED`
/// (回访 recorded), `RECTIFIED`. Deadlines are counted on the working-day calendar.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rectifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub evaluation_id: String,
    pub hall_id: Option<i64>,
    pub department: Option<String>,
    pub status: crate::status::RectificationStatus,
    pub contact_due_at: DateTimeUtc,
    pub rectify_due_at: DateTimeUtc,
    pub contacted_at: Option<DateTimeUtc>,
    pub contact_note: Option<String>,
    pub rectified_at: Option<DateTimeUtc>,
    pub rectify_note: Option<String>,
    pub handled_by: Option<i64>,
    pub overdue_notified_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
