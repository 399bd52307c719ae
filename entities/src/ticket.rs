use sea_orm::entity::prelude::*;

/// A queue ticket (排队号). `live_key` is set while a citizen's remote ticket is live and NULL
/// afterwards; `issued_at` is the original time, kept across a transfer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hall_id: i64,
    pub category_id: i64,
    pub day: Date,
    pub seq: i32,
    pub number: String,
    pub source: crate::status::TicketSource,
    pub priority: i32,
    pub green_channel: bool,
    pub citizen_id: Option<i64>,
    pub booking_id: Option<i64>,
    /// The family member it is for (`family_members.id`); `citizen_id` is the account.
    pub member_id: Option<i64>,
    pub item_code: Option<String>,
    pub state: crate::status::TicketState,
    #[sea_orm(unique)]
    pub live_key: Option<String>,
    pub counter_id: Option<i64>,
    pub calls: i32,
    pub issued_at: DateTimeUtc,
    pub issued_by: Option<i64>,
    pub first_called_at: Option<DateTimeUtc>,
    pub called_at: Option<DateTimeUtc>,
    pub serving_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub near_notified_at: Option<DateTimeUtc>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
