use sea_orm::entity::prelude::*;

/// A citizen, known by their WeChat openid. Personal information is stored encrypted
/// (`*_cipher`, see `services::crypto`) and searched through keyed blind indexes (`*_index`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "citizens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub openid: String,
    pub unionid: Option<String>,
    pub phone_cipher: Option<String>,
    pub phone_index: Option<String>,
    pub phone_bound_at: Option<DateTimeUtc>,
    pub name_cipher: Option<String>,
    pub id_card_cipher: Option<String>,
    #[sea_orm(unique)]
    pub id_card_index: Option<String>,
    pub identity_bound_at: Option<DateTimeUtc>,
    /// Set when WeChat's face verification proved the bound identity; an identity without it
    /// unlocks nothing.
    pub identity_verified_at: Option<DateTimeUtc>,
    /// Why the account lost its identity (`VERIFIED_ELSEWHERE`, `MOVED`), until it verifies again.
    pub identity_notice: Option<String>,
    pub identity_notice_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
