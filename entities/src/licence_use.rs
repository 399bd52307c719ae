use sea_orm::entity::prelude::*;

use crate::status::{LicenceAction, LicenceVerdict};

/// One use of a citizen's licence (append-only): a display, a reveal of a sensitive field, a
/// presentation (QR) or a verification by staff, with its cause (用证事由).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "licence_uses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub citizen_id: i64,
    pub licence_id: String,
    pub action: LicenceAction,
    /// `HOLDER_DISPLAY`, `REVEAL:<field>` or `VERIFY:<hall code>`.
    pub cause: String,
    pub staff_id: Option<i64>,
    pub hall_id: Option<i64>,
    /// The presentation's unique id: unique, so a payload is verified (or issued) once.
    #[sea_orm(unique)]
    pub jti: Option<String>,
    /// For a verification.
    pub verdict: Option<LicenceVerdict>,
    pub at: DateTimeUtc,
    /// The family member whose licence the account used (`family_members.id`), if any.
    pub member_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
