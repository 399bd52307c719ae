use sea_orm::entity::prelude::*;

use crate::status::RevokedBy;

/// A family member on a citizen's phone (一部手机绑定多人), face-verified there. `member_index`
/// is the blind index of the member's ID number (as `citizens.id_card_index`); the name and ID
/// number are encrypted. Live while `active_key` is set.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "family_members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub citizen_id: i64,
    pub member_index: String,
    pub name_cipher: String,
    pub id_card_cipher: String,
    /// The face verification that proved the member was present.
    pub verification_id: i64,
    #[sea_orm(unique)]
    pub active_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<RevokedBy>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
