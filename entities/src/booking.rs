use sea_orm::entity::prelude::*;

/// An appointment. `active_key` is set while the booking is live (`BOOKED`, `CHECKED_IN`) and
/// NULL afterwards; a unique index on it allows one live booking per identity, item and day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bookings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub citizen_id: i64,
    pub identity_index: String,
    pub hall_id: i64,
    pub category_id: i64,
    pub slot_id: i64,
    pub item_code: String,
    pub day: Date,
    pub starts_at: DateTimeUtc,
    pub status: crate::status::BookingStatus,
    #[sea_orm(unique)]
    pub active_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub cancelled_at: Option<DateTimeUtc>,
    pub cancel_reason: Option<String>,
    pub checked_in_at: Option<DateTimeUtc>,
    pub checked_in_by: Option<i64>,
    pub no_show_at: Option<DateTimeUtc>,
    pub reminded_at: Option<DateTimeUtc>,
    pub rescheduled_to: Option<i64>,
    /// The family member it was booked for (`family_members.id`); `citizen_id` is the account
    /// that booked, `identity_index` the member's.
    pub member_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
