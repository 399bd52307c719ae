use sea_orm::entity::prelude::*;

/// A government service hall and its booking rules. Times of day are minutes after midnight in
/// Asia/Shanghai.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "halls")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub address: String,
    pub slot_minutes: i32,
    pub release_days_ahead: i32,
    pub release_minute: i32,
    pub book_min_working_days: i32,
    pub book_max_working_days: i32,
    pub cancel_cutoff_minutes: i32,
    pub checkin_before_minutes: i32,
    pub checkin_after_minutes: i32,
    pub weekly_limit: i32,
    pub monthly_limit: i32,
    pub no_show_limit: i32,
    pub cancel_limit: i32,
    pub penalty_window_days: i32,
    pub ban_days: i32,
    pub checkin_secret: String,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
