//! The outbox: written in the caller's transaction, claimed by workers without overlap.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _,
    FromQueryResult, QueryFilter as _,
};
use serde_json::Value;

use super::Notifications;
use super::config::NotificationKind;
use super::render::{FieldType, fill, fit};
use entities::notification;

pub use entities::status::NotificationStatus as Status;

/// The longest `dedup_key` (the column's width on every database).
pub const MAX_DEDUP_KEY: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notification kind {0} is not configured")]
    UnknownKind(&'static str),
    #[error("dedup_key must be 1 to 200 characters")]
    BadDedupKey,
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

impl Notifications {
    /// Records a notification for `citizen_id`, inside the caller's transaction `conn`: it
    /// exists if and only if the caller commits. The same `dedup_key` is recorded once, ever
    /// (`Ok(false)` the second time). Wake the worker after committing ([`Notifications::wake`]).
    ///
    /// # Errors
    /// [`NotifyError::UnknownKind`] if the kind is not configured (start-up checks prevent it);
    /// [`NotifyError::BadDedupKey`] for an empty key or one over [`MAX_DEDUP_KEY`] characters;
    /// [`NotifyError::Database`] for a failed insert (the caller's transaction should roll back).
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, kind = kind.as_str()))]
    pub async fn notify(
        &self,
        conn: &impl ConnectionTrait,
        citizen_id: i64,
        kind: NotificationKind,
        payload: &Value,
        dedup_key: &str,
    ) -> Result<bool, NotifyError> {
        if dedup_key.is_empty() || dedup_key.chars().count() > MAX_DEDUP_KEY {
            return Err(NotifyError::BadDedupKey);
        }
        let Rendered {
            title,
            body,
            page,
            template_id,
            data,
            status,
            now,
        } = self.render(kind, payload)?;
        let inserted = notification::Entity::insert(notification::ActiveModel {
            citizen_id: Set(citizen_id),
            kind: Set(kind.as_str().to_owned()),
            dedup_key: Set(dedup_key.to_owned()),
            title: Set(title),
            body: Set(body),
            page: Set(page),
            template_id: Set(template_id),
            data: Set(data),
            status: Set(status),
            attempts: Set(0),
            next_attempt_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::column(notification::Column::DedupKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
        Ok(inserted == 1)
    }

    /// What [`Notifications::notify`] writes for `kind` and `payload`, without writing it: for a
    /// caller that writes the row inside a statement of its own (the booking's one statement on
    /// PostgreSQL).
    ///
    /// # Errors
    /// [`NotifyError::UnknownKind`] if the kind is not configured.
    pub(crate) fn render(
        &self,
        kind: NotificationKind,
        payload: &Value,
    ) -> Result<Rendered, NotifyError> {
        let config = &self.inner.config;
        let shown = config
            .kind(kind)
            .ok_or(NotifyError::UnknownKind(kind.as_str()))?;
        let mut missing = Vec::new();
        let mut text = |template: &str, long_dates: bool| {
            let (out, gaps) = fill(template, payload, long_dates);
            missing.extend(gaps);
            out
        };
        let title = text(&shown.title, false);
        let body = text(&shown.body, false);
        let page = shown.page.as_deref().map(|p| text(p, false));
        let now = self.inner.clock.now();
        let data: BTreeMap<String, String> = shown
            .data
            .iter()
            .filter_map(|(key, template)| {
                let ty = FieldType::of_key(key)?;
                let long = matches!(ty, FieldType::Time | FieldType::Date);
                Some((key.clone(), fit(ty, &text(template, long), now)))
            })
            .collect();
        if !missing.is_empty() {
            tracing::warn!(?missing, "payload lacks fields the kind's texts name");
        }
        let template_id = shown
            .template
            .as_ref()
            .and_then(|name| config.templates.get(name))
            .map(|t| t.id.clone());
        let status = if template_id.is_some() {
            Status::Pending
        } else {
            Status::InboxOnly
        };
        Ok(Rendered {
            title,
            body,
            page,
            template_id,
            data: serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()),
            status,
            now,
        })
    }
}

/// A notification's row as rendered, before it is written.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub title: String,
    pub body: String,
    pub page: Option<String>,
    pub template_id: Option<String>,
    /// The subscribe message's `data` (JSON).
    pub data: String,
    pub status: Status,
    pub now: DateTime<Utc>,
}

/// A claimed notification, as the worker needs it.
#[derive(Debug, FromQueryResult)]
pub(super) struct Claimed {
    pub id: i64,
    pub citizen_id: i64,
    pub template_id: Option<String>,
    pub page: Option<String>,
    pub data: String,
    pub attempts: i32,
    pub claimed_until: DateTime<Utc>,
}

/// Claims up to `limit` due notifications for this worker until `until` (the one claim of every
/// outbox, [`crate::db::Claim`]). A message whose worker died is claimed again once its lease
/// has ended.
pub(super) async fn claim(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u32,
) -> anyhow::Result<Vec<Claimed>> {
    let until = DateTime::from_timestamp_millis(until.timestamp_millis()).unwrap_or(until);
    let statement = crate::db::Claim {
        table: "notifications",
        now,
        until,
        limit,
        touch_updated_at: false,
        pending: Status::Pending.as_str(),
        sending: Status::Sending.as_str(),
        returning: &[
            "id",
            "citizen_id",
            "template_id",
            "page",
            "data",
            "attempts",
            "claimed_until",
        ],
    }
    .statement(db.get_database_backend());
    Claimed::find_by_statement(statement)
        .all(db)
        .await
        .context("claim due notifications")
}

/// Extends a claim just before sending, only while it is still this worker's: a batch can take
/// longer than one lease, and a message whose claim passed to another worker must not be sent
/// by this one. `false`: the claim is lost, leave the message alone.
pub(super) async fn renew(
    db: &impl ConnectionTrait,
    claimed: &mut Claimed,
    until: DateTime<Utc>,
) -> anyhow::Result<bool> {
    fenced_extend(db, claimed, until, None)
        .await
        .context("renew a claim")
}

/// Marks a claimed message as handed to WeChat, renewing the claim, just before the request is
/// written. `false`: the claim is lost, do not send.
pub(super) async fn mark_in_flight(
    db: &impl ConnectionTrait,
    claimed: &mut Claimed,
    until: DateTime<Utc>,
) -> anyhow::Result<bool> {
    fenced_extend(db, claimed, until, Some(Status::InFlight))
        .await
        .context("mark a notification in flight")
}

/// The one fenced update behind both: the claim moves on to `until` (and the status to `status`)
/// only while the row is still `SENDING` under this worker's claim.
async fn fenced_extend(
    db: &impl ConnectionTrait,
    claimed: &mut Claimed,
    until: DateTime<Utc>,
    status: Option<Status>,
) -> Result<bool, sea_orm::DbErr> {
    // Whole milliseconds: stored exactly by PostgreSQL (microseconds) and SQLite (text) alike,
    // so the next fenced update compares equal.
    let until = DateTime::from_timestamp_millis(until.timestamp_millis()).unwrap_or(until);
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::ClaimedUntil, until.into());
    if let Some(status) = status {
        update = update.col_expr(
            notification::Column::Status,
            sea_orm::sea_query::Expr::value(status),
        );
    }
    let done = update
        .filter(notification::Column::Id.eq(claimed.id))
        .filter(notification::Column::Status.eq(Status::Sending))
        .filter(notification::Column::ClaimedUntil.eq(claimed.claimed_until))
        .exec(db)
        .await?;
    let extended = done.rows_affected == 1;
    if extended {
        claimed.claimed_until = until;
    }
    Ok(extended)
}

/// Messages whose worker handed them to WeChat and then lost its lease (it died, or its answer
/// is very late): probably delivered, never sent again. Returns how many.
pub(super) async fn give_up_in_flight(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let done = notification::Entity::update_many()
        .col_expr(
            notification::Column::Status,
            Status::ProbablySent.as_str().into(),
        )
        .col_expr(
            notification::Column::ClaimedUntil,
            Option::<DateTime<Utc>>::None.into(),
        )
        .col_expr(
            notification::Column::LastError,
            Some("the worker sending it lost its lease before WeChat answered").into(),
        )
        .filter(notification::Column::Status.eq(Status::InFlight))
        .filter(notification::Column::ClaimedUntil.lt(now))
        .exec(db)
        .await
        .context("give up messages in flight")?;
    Ok(done.rows_affected)
}

/// The outcome of one delivery attempt, written only while the claim is still ours.
pub(super) struct Outcome {
    pub status: Status,
    pub msgid: Option<String>,
    pub error: Option<String>,
    pub retry_at: Option<DateTime<Utc>>,
}

/// Records an attempt's outcome; `false` if the claim had passed to another worker meanwhile.
pub(super) async fn settle(
    db: &impl ConnectionTrait,
    claimed: &Claimed,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let ours = Condition::all()
        .add(notification::Column::Status.is_in([Status::Sending, Status::InFlight]))
        .add(notification::Column::ClaimedUntil.eq(claimed.claimed_until));
    // WeChat's late "sent" still counts after the lease passed and the message was given up as
    // probably sent; nothing else overwrites that.
    let fence = if outcome.status == Status::Sent {
        Condition::any()
            .add(ours)
            .add(notification::Column::Status.eq(Status::ProbablySent))
    } else {
        ours
    };
    let mut update = notification::Entity::update_many()
        .col_expr(
            notification::Column::Status,
            sea_orm::sea_query::Expr::value(outcome.status),
        )
        .col_expr(
            notification::Column::ClaimedUntil,
            Option::<DateTime<Utc>>::None.into(),
        )
        .col_expr(notification::Column::LastError, outcome.error.into())
        .filter(notification::Column::Id.eq(claimed.id))
        .filter(fence);
    if let Some(msgid) = outcome.msgid {
        update = update
            .col_expr(notification::Column::WechatMsgid, msgid.into())
            .col_expr(notification::Column::SentAt, now.into());
    }
    if let Some(at) = outcome.retry_at {
        update = update.col_expr(notification::Column::NextAttemptAt, at.into());
    }
    let done = update.exec(db).await.context("settle a notification")?;
    Ok(done.rows_affected == 1)
}
