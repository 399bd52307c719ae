use sea_orm::entity::prelude::*;

use crate::status::ConsentResult;

/// How many subscribe messages of one template a citizen has allowed (one per `accept`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscription_consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub citizen_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub template_id: String,
    pub remaining: i32,
    pub banned: bool,
    pub last_result: Option<ConsentResult>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
