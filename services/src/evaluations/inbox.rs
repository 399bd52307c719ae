//! The staff inbox: alerts for a hall's administrators (online business, with no hall: the
//! global administrators). Today one kind, a 差评's rectification that passed a deadline
//! (domain-rules.md, Evaluation: overdue tickets notify the hall admin once), written by the
//! evaluation worker. "Once" is the unique index on `staff_inbox (kind, subject)`: every
//! instance's worker may find the same ticket; one row exists. An entry is read for its hall as
//! a whole, by whichever of its admins opened it.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::EvaluationService;
use entities::staff_inbox;

/// The kind of an overdue rectification's alert.
pub const RECTIFICATION_OVERDUE: &str = "RECTIFICATION_OVERDUE";

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    pub id: i64,
    pub hall_id: Option<i64>,
    pub kind: String,
    /// What it is about (for `RECTIFICATION_OVERDUE`: the rectification's id).
    pub subject: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// Whose alerts: the halls a member administers, or every hall and the online ones (a global
/// administrator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxScope {
    Everything,
    Halls(Vec<i64>),
}

/// Why marking an alert read was refused.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("no such inbox entry")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn entry(m: staff_inbox::Model) -> InboxEntry {
    InboxEntry {
        id: m.id,
        hall_id: m.hall_id,
        kind: m.kind,
        subject: m.subject,
        title: m.title,
        body: m.body,
        created_at: m.created_at,
        read_at: m.read_at,
    }
}

/// Writes an alert in `txn` unless one of this `(kind, subject)` exists; returns whether this
/// call wrote it.
pub(super) async fn alert(
    txn: &impl ConnectionTrait,
    hall_id: Option<i64>,
    kind: &str,
    subject: &str,
    title: &str,
    body: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let inserted = staff_inbox::Entity::insert(staff_inbox::ActiveModel {
        hall_id: Set(hall_id),
        kind: Set(kind.to_owned()),
        subject: Set(subject.to_owned()),
        title: Set(title.chars().take(200).collect()),
        body: Set(body.to_owned()),
        created_at: Set(now),
        read_at: Set(None),
        read_by: Set(None),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([staff_inbox::Column::Kind, staff_inbox::Column::Subject])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await
    .context("write the staff alert")?;
    Ok(inserted == 1)
}

fn scoped(scope: &InboxScope) -> Condition {
    match scope {
        InboxScope::Everything => Condition::all(),
        InboxScope::Halls(halls) => {
            Condition::all().add(staff_inbox::Column::HallId.is_in(halls.iter().copied()))
        }
    }
}

impl EvaluationService {
    /// The scope's alerts, newest first (`unread_only`: only those nobody opened), and how many
    /// are unread in all.
    ///
    /// # Errors
    /// The database failed.
    pub async fn inbox(
        &self,
        scope: &InboxScope,
        unread_only: bool,
        limit: u64,
    ) -> anyhow::Result<(Vec<InboxEntry>, u64)> {
        let db = &self.inner.db;
        if matches!(scope, InboxScope::Halls(h) if h.is_empty()) {
            return Ok((Vec::new(), 0));
        }
        let mut q = staff_inbox::Entity::find().filter(scoped(scope));
        if unread_only {
            q = q.filter(staff_inbox::Column::ReadAt.is_null());
        }
        let rows = q
            .order_by_desc(staff_inbox::Column::CreatedAt)
            .order_by_desc(staff_inbox::Column::Id)
            .limit(limit.clamp(1, 200))
            .all(db)
            .await
            .context("read the inbox")?;
        let unread = staff_inbox::Entity::find()
            .filter(scoped(scope))
            .filter(staff_inbox::Column::ReadAt.is_null())
            .count(db)
            .await
            .context("count the unread")?;
        Ok((rows.into_iter().map(entry).collect(), unread))
    }

    /// One alert (for the member's scope check).
    ///
    /// # Errors
    /// The database failed.
    pub async fn inbox_entry(&self, id: i64) -> anyhow::Result<Option<InboxEntry>> {
        Ok(staff_inbox::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await
            .context("read the inbox entry")?
            .map(entry))
    }

    /// Marks an alert read (again: nothing changes, the first reader stays).
    ///
    /// # Errors
    /// [`InboxError::NotFound`].
    pub async fn mark_read(&self, id: i64, staff_id: i64) -> Result<InboxEntry, InboxError> {
        let now = self.inner.clock.now();
        staff_inbox::Entity::update_many()
            .col_expr(staff_inbox::Column::ReadAt, Expr::value(now))
            .col_expr(staff_inbox::Column::ReadBy, Expr::value(staff_id))
            .filter(staff_inbox::Column::Id.eq(id))
            .filter(staff_inbox::Column::ReadAt.is_null())
            .exec(&self.inner.db)
            .await
            .context("mark the entry read")?;
        self.inbox_entry(id).await?.ok_or(InboxError::NotFound)
    }
}
