//! Storage of the licence audit log: rows are inserted, never updated or deleted.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};

use entities::licence_use;

use super::Verdict;

/// What was done with a licence: the stored vocabulary (`licence_uses.action`).
pub use entities::status::LicenceAction as Action;

/// One row of the audit log, as its holder sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenceUse {
    pub id: i64,
    pub action: Action,
    /// 用证事由: `HOLDER_DISPLAY`, `REVEAL:<field>`, `VERIFY:<hall code>`.
    pub cause: String,
    pub staff_id: Option<i64>,
    pub hall_id: Option<i64>,
    pub verdict: Option<Verdict>,
    pub at: DateTime<Utc>,
}

pub(super) struct NewUse<'a> {
    pub citizen_id: i64,
    pub licence_id: &'a str,
    pub action: Action,
    pub cause: &'a str,
    pub staff_id: Option<i64>,
    pub hall_id: Option<i64>,
    pub jti: Option<String>,
    pub verdict: Option<Verdict>,
    /// The family member whose licence the account used.
    pub member_id: Option<i64>,
}

impl<'a> NewUse<'a> {
    pub fn holder(citizen_id: i64, licence_id: &'a str, action: Action, cause: &'a str) -> Self {
        Self {
            citizen_id,
            licence_id,
            action,
            cause,
            staff_id: None,
            hall_id: None,
            jti: None,
            verdict: None,
            member_id: None,
        }
    }

    /// The same use, of a family member's licence.
    pub fn for_member(mut self, member_id: Option<i64>) -> Self {
        self.member_id = member_id;
        self
    }
}

/// Appends a row; its id.
pub(super) async fn record(
    db: &impl ConnectionTrait,
    row: NewUse<'_>,
    at: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let inserted = licence_use::Entity::insert(licence_use::ActiveModel {
        citizen_id: Set(row.citizen_id),
        licence_id: Set(row.licence_id.to_owned()),
        action: Set(row.action),
        cause: Set(row.cause.to_owned()),
        staff_id: Set(row.staff_id),
        hall_id: Set(row.hall_id),
        jti: Set(row.jti),
        verdict: Set(row.verdict),
        at: Set(at),
        member_id: Set(row.member_id),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(inserted.last_insert_id)
}

/// The uses of one licence of one citizen, newest first (at most 500).
pub(super) async fn of(
    db: &impl ConnectionTrait,
    citizen_id: i64,
    licence_id: &str,
) -> Result<Vec<LicenceUse>, DbErr> {
    let rows = licence_use::Entity::find()
        .filter(licence_use::Column::CitizenId.eq(citizen_id))
        .filter(licence_use::Column::LicenceId.eq(licence_id))
        .order_by_desc(licence_use::Column::Id)
        .limit(500)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| LicenceUse {
            id: r.id,
            action: r.action,
            cause: r.cause,
            staff_id: r.staff_id,
            hall_id: r.hall_id,
            verdict: r.verdict,
            at: r.at,
        })
        .collect())
}

/// The citizen who presented `licence_id` most recently, and the family member it was shown for
/// (if any): the holder a verification is told to, and both people its record names.
pub(super) async fn presenter(
    db: &impl ConnectionTrait,
    licence_id: &str,
) -> Result<Option<(i64, Option<i64>)>, DbErr> {
    Ok(licence_use::Entity::find()
        .filter(licence_use::Column::LicenceId.eq(licence_id))
        .filter(licence_use::Column::Action.eq(Action::Present))
        .order_by_desc(licence_use::Column::Id)
        .one(db)
        .await?
        .map(|r| (r.citizen_id, r.member_id)))
}
