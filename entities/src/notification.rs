use sea_orm::entity::prelude::*;

/// A notification owed to a citizen: the outbox row the delivery worker sends through WeChat,
/// and the message in the citizen's inbox.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub citizen_id: i64,
    pub kind: String,
    #[sea_orm(unique)]
    pub dedup_key: String,
    pub title: String,
    pub body: String,
    pub page: Option<String>,
    pub template_id: Option<String>,
    /// The subscribe message's `data`, rendered and cut to WeChat's limits (JSON).
    pub data: String,
    pub status: crate::status::NotificationStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub wechat_msgid: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub read_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
