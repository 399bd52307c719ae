//! The citizen's inbox: every notification, whether WeChat carried it or not.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};

use super::Notifications;
use entities::notification;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxMessage {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub page: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPage {
    pub messages: Vec<InboxMessage>,
    pub total: u64,
    pub unread: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MarkReadError {
    /// No such message for this citizen (someone else's is "not found" too).
    #[error("no such message")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Notifications {
    /// A page of the citizen's messages, newest first, with the unread count.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn inbox(
        &self,
        citizen_id: i64,
        page: u64,
        page_size: u64,
    ) -> anyhow::Result<InboxPage> {
        let db = &self.inner.db;
        let mine =
            || notification::Entity::find().filter(notification::Column::CitizenId.eq(citizen_id));
        let rows = mine()
            .order_by_desc(notification::Column::Id)
            // Callers bound page and page_size; clamp anyway so no offset can overflow an i64.
            .offset(
                page.saturating_sub(1)
                    .saturating_mul(page_size)
                    .min(i64::MAX as u64 / 2),
            )
            .limit(page_size)
            .all(db)
            .await
            .context("load inbox")?;
        let total = mine().count(db).await.context("count inbox")?;
        let unread = mine()
            .filter(notification::Column::ReadAt.is_null())
            .count(db)
            .await
            .context("count unread")?;
        Ok(InboxPage {
            messages: rows
                .into_iter()
                .map(|row| InboxMessage {
                    id: row.id,
                    kind: row.kind,
                    title: row.title,
                    body: row.body,
                    page: row.page,
                    created_at: row.created_at,
                    read: row.read_at.is_some(),
                })
                .collect(),
            total,
            unread,
        })
    }

    /// Marks one of the citizen's messages read (again is fine).
    ///
    /// # Errors
    /// [`MarkReadError::NotFound`] when the message does not exist or is not the citizen's.
    pub async fn mark_read(&self, citizen_id: i64, message_id: i64) -> Result<(), MarkReadError> {
        let db = &self.inner.db;
        let done = notification::Entity::update_many()
            .col_expr(notification::Column::ReadAt, self.inner.clock.now().into())
            .filter(notification::Column::Id.eq(message_id))
            .filter(notification::Column::CitizenId.eq(citizen_id))
            .filter(notification::Column::ReadAt.is_null())
            .exec(db)
            .await
            .context("mark read")?;
        if done.rows_affected == 1 {
            return Ok(());
        }
        let exists = notification::Entity::find()
            .filter(notification::Column::Id.eq(message_id))
            .filter(notification::Column::CitizenId.eq(citizen_id))
            .count(db)
            .await
            .context("find message")?;
        if exists == 1 {
            Ok(())
        } else {
            Err(MarkReadError::NotFound)
        }
    }
}
