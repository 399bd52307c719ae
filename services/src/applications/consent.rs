//! 代办 for someone who is not on the citizen's phone: the application waits for that person's
//! consent, given from their own verified account, before anything reaches the platform.
//!
//! The decisions a reader needs:
//! - Submitting for such a person stores the application `AWAITING_CONSENT` with a consent
//!   request and *no* outbox row; only accepting writes the outbox row, in the same transaction
//!   that records the consent and its moment. A refused or lapsed request never gets one, so
//!   nothing of it is ever sent.
//! - The answer is one conditional update of the request (`PENDING` → answered): of two answers
//!   at once, one wins, and the application is released at most once.
//! - A request lapses `consent_ttl` (72 h) after it was made. Lapsed requests are marked when
//!   either side looks (their list, the application) or answers: nothing needs a sweeper, since
//!   nothing is sent without an acceptance made in time.
//! - Both sides are told through the notification outbox, in the transaction of the change:
//!   the person of the request (`consent_requested`, with the agent's masked name and the
//!   item), the agent of the answer (`consent_accepted` / `consent_refused`). The dedup keys
//!   are the request's id, so each goes out once.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, QueryOrder as _,
};

use super::{ApplicationService, Delivery, forward};
use crate::identity::{NAME, PersonName, VerifiedPerson, field_context, find_citizen, proven};
use crate::notify::{NotificationKind, Notifications};
use entities::{application, application_consent as consent};

pub use entities::status::ConsentStatus;

/// The consent of an application, as its requester sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentSummary {
    pub id: String,
    pub status: ConsentStatus,
    pub expires_at: DateTime<Utc>,
    /// When the person accepted or refused.
    pub answered_at: Option<DateTime<Utc>>,
}

/// A consent request, as the person asked sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRequest {
    pub id: String,
    pub application_id: String,
    pub item_code: String,
    pub item_name: String,
    /// Who asks (the agent), masked: `王*`.
    pub requester_name: String,
    pub status: ConsentStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// Why an answer was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No such request for this account (or the account no longer holds the identity asked).
    #[error("no such consent request")]
    NotFound,
    /// Accepted or refused already.
    #[error("the request was answered already")]
    AlreadyAnswered,
    /// The request lapsed: the application will never be sent.
    #[error("the request expired")]
    Expired,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn summary(row: &consent::Model) -> ConsentSummary {
    ConsentSummary {
        id: row.id.clone(),
        status: row.status,
        expires_at: row.expires_at,
        answered_at: row.answered_at,
    }
}

/// What the person asked is told of a request: who asks (masked), for which item (or 一件事
/// bundle: bundle applications ask consent through the same requests, keyed by their id).
pub(crate) struct Asking<'a> {
    pub requester_id: i64,
    pub requester_name: &'a str,
    pub item_name: &'a str,
}

/// Records the request of a new application, and tells the person asked, inside the caller's
/// transaction. Wake the notifications after committing.
pub(crate) async fn request(
    txn: &impl ConnectionTrait,
    notifications: &Notifications,
    application_id: &str,
    asking: &Asking<'_>,
    person: &VerifiedPerson,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> anyhow::Result<ConsentSummary> {
    let requester_id = asking.requester_id;
    let expires_at = now + chrono::Duration::from_std(ttl).context("consent ttl")?;
    let row = consent::Model {
        id: uuid::Uuid::now_v7().to_string(),
        application_id: application_id.to_owned(),
        requester_id,
        person_id: person.citizen_id,
        person_index: person.index.clone(),
        status: ConsentStatus::Pending,
        created_at: now,
        expires_at,
        answered_at: None,
    };
    consent::Entity::insert(consent::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await
        .context("record the consent request")?;
    let requester_name =
        PersonName::parse(asking.requester_name).map_or_else(|_| "*".to_owned(), |n| n.masked());
    let payload = serde_json::json!({
        "requester_name": requester_name,
        "item_name": asking.item_name,
        "consent_id": row.id,
        "application_id": application_id,
        "at": now.to_rfc3339(),
        "expires_at": expires_at.to_rfc3339(),
    });
    notifications
        .notify(
            txn,
            person.citizen_id,
            NotificationKind::ConsentRequested,
            &payload,
            &format!("consent-request:{}", row.id),
        )
        .await
        .context("tell the person of the request")?;
    Ok(summary(&row))
}

/// The consent request of an application, if it has one.
pub(crate) async fn of_application(
    db: &impl ConnectionTrait,
    application_id: &str,
) -> anyhow::Result<Option<ConsentSummary>> {
    Ok(consent::Entity::find()
        .filter(consent::Column::ApplicationId.eq(application_id))
        .one(db)
        .await
        .context("read the consent request")?
        .as_ref()
        .map(summary))
}

/// Ends one lapsed request and its application, in the caller's transaction (only if still
/// pending and awaiting).
async fn lapse(
    conn: &impl ConnectionTrait,
    row: &consent::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let done = consent::Entity::update_many()
        .col_expr(consent::Column::Status, Expr::value(ConsentStatus::Expired))
        .filter(consent::Column::Id.eq(row.id.as_str()))
        .filter(consent::Column::Status.eq(ConsentStatus::Pending))
        .exec(conn)
        .await
        .context("mark the request expired")?;
    if done.rows_affected == 1 {
        release(conn, &row.application_id, Delivery::ConsentExpired, now).await?;
    }
    Ok(())
}

/// Moves an application (or a 一件事 bundle application, whose consent is asked the same way)
/// out of `AWAITING_CONSENT`, and on an acceptance (`to` = `SUBMITTING`) writes its outbox row
/// in the same transaction; the number of rows moved (0 or 1).
async fn release(
    conn: &impl ConnectionTrait,
    application_id: &str,
    to: Delivery,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let moved = release_application(conn, application_id, to, now).await?;
    if moved == 0 {
        return crate::bundles::release_consented(conn, application_id, to, now).await;
    }
    if to == Delivery::Submitting {
        forward::enqueue(conn, application_id, None, now).await?;
    }
    Ok(moved)
}

/// What a request asks about: the item's code and name, or the bundle's.
async fn asked_about(
    conn: &impl ConnectionTrait,
    application_id: &str,
) -> anyhow::Result<Option<(String, String)>> {
    if let Some(app) = application::Entity::find_by_id(application_id)
        .one(conn)
        .await
        .context("read the application asked about")?
    {
        return Ok(Some((app.item_code, app.item_name)));
    }
    crate::bundles::asked_about(conn, application_id).await
}

async fn release_application(
    conn: &impl ConnectionTrait,
    application_id: &str,
    to: Delivery,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    Ok(application::Entity::update_many()
        .col_expr(application::Column::Status, Expr::value(to.as_str()))
        .col_expr(application::Column::UpdatedAt, Expr::value(now))
        .filter(application::Column::Id.eq(application_id))
        .filter(application::Column::Status.eq(Delivery::AwaitingConsent))
        .exec(conn)
        .await
        .context("release the application")?
        .rows_affected)
}

/// Whose requests to look at.
pub(crate) enum Side {
    Requester(i64),
    Person(i64),
}

impl ApplicationService {
    /// Marks the side's lapsed requests expired (and their applications `CONSENT_EXPIRED`).
    pub(crate) async fn lapse_due(&self, side: Side) -> anyhow::Result<()> {
        let now = self.inner.clock.now();
        let query = consent::Entity::find()
            .filter(consent::Column::Status.eq(ConsentStatus::Pending))
            .filter(consent::Column::ExpiresAt.lte(now));
        let query = match side {
            Side::Requester(id) => query.filter(consent::Column::RequesterId.eq(id)),
            Side::Person(id) => query.filter(consent::Column::PersonId.eq(id)),
        };
        let due = query
            .all(&self.inner.db)
            .await
            .context("find lapsed requests")?;
        for row in due {
            let txn = crate::db::write(&self.inner.db)
                .await
                .context("begin lapsing")?;
            lapse(&txn, &row, now).await?;
            txn.commit().await.context("commit lapsing")?;
            tracing::info!(consent_id = %row.id, "consent request expired; nothing was sent");
        }
        Ok(())
    }

    /// The requests waiting for the citizen's answer, oldest first.
    ///
    /// # Errors
    /// The database cannot be read, or a stored name does not decrypt.
    pub async fn pending_consents(&self, citizen_id: i64) -> anyhow::Result<Vec<ConsentRequest>> {
        self.lapse_due(Side::Person(citizen_id)).await?;
        let Some(index) = self.verified_index(citizen_id).await? else {
            return Ok(Vec::new());
        };
        let rows = consent::Entity::find()
            .filter(consent::Column::PersonId.eq(citizen_id))
            .filter(consent::Column::PersonIndex.eq(index))
            .filter(consent::Column::Status.eq(ConsentStatus::Pending))
            .order_by_asc(consent::Column::CreatedAt)
            .all(&self.inner.db)
            .await
            .context("list consent requests")?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.request_view(&row).await?);
        }
        Ok(out)
    }

    /// Accepts or refuses a request made to the citizen. Accepting releases the application to
    /// the platform: its outbox row is written in the transaction that records the consent.
    ///
    /// # Errors
    /// [`AnswerError::NotFound`] for a request that is not this account's (or whose identity
    /// the account no longer holds); [`AnswerError::AlreadyAnswered`];
    /// [`AnswerError::Expired`] past its time (the application is then never sent).
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, consent_id = %id, accept = accept))]
    pub async fn answer_consent(
        &self,
        citizen_id: i64,
        id: &str,
        accept: bool,
    ) -> Result<ConsentRequest, AnswerError> {
        let index = self
            .verified_index(citizen_id)
            .await?
            .ok_or(AnswerError::NotFound)?;
        // Whole milliseconds: the moment reads back the same from either database.
        let now = self.inner.clock.now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let status = if accept {
            ConsentStatus::Accepted
        } else {
            ConsentStatus::Refused
        };
        // Read before the transaction: the agent is told who answered.
        let person_name = self.masked_name(citizen_id).await?;
        let txn = crate::db::write(&self.inner.db)
            .await
            .context("begin the answer")?;
        // The answer is the transaction's first statement, and a write: of answers at once one
        // wins (PostgreSQL's row lock; SQLite's write lock, taken before anything is read, so
        // no reader has to upgrade), and the others find it answered.
        let answered = consent::Entity::update_many()
            .col_expr(consent::Column::Status, Expr::value(status))
            .col_expr(consent::Column::AnsweredAt, Expr::value(now))
            .filter(consent::Column::Id.eq(id))
            .filter(consent::Column::PersonId.eq(citizen_id))
            .filter(consent::Column::PersonIndex.eq(index.as_str()))
            .filter(consent::Column::Status.eq(ConsentStatus::Pending))
            .filter(consent::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await
            .context("record the answer")?;
        if answered.rows_affected == 0 {
            drop(txn);
            let row = consent::Entity::find_by_id(id)
                .filter(consent::Column::PersonId.eq(citizen_id))
                .filter(consent::Column::PersonIndex.eq(index.as_str()))
                .one(&self.inner.db)
                .await
                .context("find the request")?
                .ok_or(AnswerError::NotFound)?;
            if row.status != ConsentStatus::Pending || now < row.expires_at {
                return Err(AnswerError::AlreadyAnswered);
            }
            let txn = crate::db::write(&self.inner.db)
                .await
                .context("begin lapsing")?;
            lapse(&txn, &row, now).await?;
            txn.commit().await.context("commit lapsing")?;
            return Err(AnswerError::Expired);
        }
        let row = consent::Entity::find_by_id(id)
            .one(&txn)
            .await
            .context("read the answered request")?
            .context("the answered request vanished")?;
        let to = if accept {
            Delivery::Submitting
        } else {
            Delivery::ConsentRefused
        };
        if release(&txn, &row.application_id, to, now).await? != 1 {
            return Err(anyhow::anyhow!(
                "application {} was not awaiting consent",
                row.application_id
            )
            .into());
        }
        // The agent is told the answer (once: one answer per request).
        let item_name = asked_about(&txn, &row.application_id)
            .await?
            .map_or_else(String::new, |(_, name)| name);
        let payload = serde_json::json!({
            "person_name": person_name,
            "item_name": item_name,
            "consent_id": row.id,
            "application_id": row.application_id,
            "at": now.to_rfc3339(),
        });
        let kind = if accept {
            NotificationKind::ConsentAccepted
        } else {
            NotificationKind::ConsentRefused
        };
        self.inner
            .notifications
            .notify(
                &txn,
                row.requester_id,
                kind,
                &payload,
                &format!("consent-answer:{}", row.id),
            )
            .await
            .context("tell the agent the answer")?;
        txn.commit().await.context("commit the answer")?;
        self.inner.notifications.wake().await;
        if accept {
            metrics::counter!("applications_submitted_total").increment(1);
            self.inner.wake.notify_one();
        }
        tracing::info!(status = status.as_str(), "consent request answered");
        let row = consent::Model {
            status,
            answered_at: Some(now),
            ..row
        };
        Ok(self.request_view(&row).await?)
    }

    /// The blind index of the citizen's verified identity, if they have one.
    async fn verified_index(&self, citizen_id: i64) -> anyhow::Result<Option<String>> {
        let row = find_citizen(&self.inner.db, citizen_id)
            .await
            .context("find the citizen")?;
        Ok(row.and_then(|r| proven(&r).ok().map(|p| p.index.to_owned())))
    }

    /// The citizen's bound name, masked (`王*`); `*` if they have none.
    async fn masked_name(&self, citizen_id: i64) -> anyhow::Result<String> {
        let citizen = find_citizen(&self.inner.db, citizen_id)
            .await
            .context("find the citizen named")?;
        Ok(
            match citizen.as_ref().and_then(|r| r.name_cipher.as_ref()) {
                Some(stored) => {
                    let plain = self
                        .inner
                        .cipher
                        .decrypt_string(stored, &field_context(NAME, citizen_id))
                        .context("decrypt the citizen's name")?;
                    PersonName::parse(&plain).map_or_else(|_| "*".to_owned(), |n| n.masked())
                }
                None => "*".to_owned(),
            },
        )
    }

    async fn request_view(&self, row: &consent::Model) -> anyhow::Result<ConsentRequest> {
        let (item_code, item_name) = asked_about(&self.inner.db, &row.application_id)
            .await?
            .context("the application asked about vanished")?;
        let requester_name = self.masked_name(row.requester_id).await?;
        Ok(ConsentRequest {
            id: row.id.clone(),
            application_id: row.application_id.clone(),
            item_code,
            item_name,
            requester_name,
            status: row.status,
            created_at: row.created_at,
            expires_at: row.expires_at,
            answered_at: row.answered_at,
        })
    }
}
