//! Storage queries for citizens.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use crate::crypto::FieldContext;
use entities::citizen;

pub const TABLE: &str = "citizens";
pub const PHONE: &str = "phone";
pub const NAME: &str = "name";
pub const ID_CARD: &str = "id_card_no";

/// The associated data that binds an encrypted value to its row and column.
pub fn context(column: &'static str, row_id: i64) -> FieldContext {
    FieldContext {
        table: TABLE,
        column,
        row_id,
    }
}

/// The citizen with this openid, created on first sight.
pub async fn upsert_by_openid(
    db: &impl ConnectionTrait,
    openid: &str,
    unionid: Option<&str>,
    now: DateTime<Utc>,
) -> Result<citizen::Model, sea_orm::DbErr> {
    citizen::Entity::insert(citizen::ActiveModel {
        openid: Set(openid.to_owned()),
        unionid: Set(unionid.map(str::to_owned)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(citizen::Column::Openid)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let row = citizen::Entity::find()
        .filter(citizen::Column::Openid.eq(openid))
        .one(db)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("citizen {openid} after upsert")))?;
    if unionid.is_some() && row.unionid.as_deref() != unionid {
        let updated = citizen::Entity::update(citizen::ActiveModel {
            id: Set(row.id),
            unionid: Set(unionid.map(str::to_owned)),
            updated_at: Set(now),
            ..Default::default()
        })
        .exec(db)
        .await?;
        return Ok(updated);
    }
    Ok(row)
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<citizen::Model>, sea_orm::DbErr> {
    citizen::Entity::find_by_id(id).one(db).await
}

/// The WeChat openid of a citizen, for addressing them.
///
/// # Errors
/// The citizen does not exist, or the database is unreachable.
pub async fn openid_of(db: &impl ConnectionTrait, citizen_id: i64) -> anyhow::Result<String> {
    use anyhow::Context as _;
    Ok(find(db, citizen_id)
        .await
        .context("load citizen")?
        .with_context(|| format!("citizen {citizen_id} does not exist"))?
        .openid)
}

/// Why a citizen cannot act with a real-name identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityGate {
    /// No identity is bound.
    Missing,
    /// One is bound but was never proven by face verification (bound before it existed).
    Unverified,
}

/// A bound identity proven by face verification: what licences, applications and bookings use.
#[derive(Debug, Clone, Copy)]
pub struct ProvenIdentity<'a> {
    pub name_cipher: &'a str,
    pub id_card_cipher: &'a str,
    /// The blind index of the ID number: what bookings, bans and limits count by.
    pub index: &'a str,
}

/// The citizen's identity if it may be used, or why not.
///
/// # Errors
/// [`IdentityGate::Missing`] without a binding, [`IdentityGate::Unverified`] for one never proven.
pub fn proven(row: &citizen::Model) -> Result<ProvenIdentity<'_>, IdentityGate> {
    match (&row.name_cipher, &row.id_card_cipher, &row.id_card_index) {
        (Some(name_cipher), Some(id_card_cipher), Some(index)) => {
            if row.identity_verified_at.is_none() {
                return Err(IdentityGate::Unverified);
            }
            Ok(ProvenIdentity {
                name_cipher,
                id_card_cipher,
                index,
            })
        }
        _ => Err(IdentityGate::Missing),
    }
}
