//! Storage queries for citizens.

use chrono::Utc;
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
) -> Result<citizen::Model, sea_orm::DbErr> {
    let now = Utc::now();
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
