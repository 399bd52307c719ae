//! The evaluation worker: records the window's default (基本满意, grade 3, marked defaulted)
//! for every subject left unrated, asks WeChat again about comments it could not check, and
//! marks rectification tickets that passed a deadline. Any number of instances run it: the
//! default is an insert that the unique index on the subject makes happen once, and the
//! overdue mark is a conditional update.

use std::time::Duration;

use anyhow::Context as _;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};
use tokio::sync::watch;

use super::inbox::{RECTIFICATION_OVERDUE, alert};
use super::rate::{enqueue, settled};
use super::rectify::RectificationStatus;
use super::{CommentStatus, EvaluationService};
use crate::time::SHANGHAI;
use crate::wechat::security::Suggest;
use entities::{citizen, evaluation, evaluation_invitation, rectification};

/// Rows handled per round of each task.
const BATCH: u64 = 100;

#[derive(Clone)]
pub struct EvaluationWorker {
    svc: EvaluationService,
}

impl EvaluationWorker {
    pub(super) fn new(svc: EvaluationService) -> Self {
        Self { svc }
    }

    /// Rounds every `every` until `stop` turns true.
    pub async fn run(self, every: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.round().await {
                tracing::error!(error = %format!("{e:#}"), "evaluation worker round failed");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One round of each task: (defaults recorded, comments checked, tickets marked overdue).
    ///
    /// # Errors
    /// The database failed.
    pub async fn round(&self) -> anyhow::Result<(usize, usize, usize)> {
        let defaults = self.default_once().await?;
        let checked = self.recheck_once().await?;
        let overdue = self.overdue_once().await?;
        Ok((defaults, checked, overdue))
    }

    /// Records the default for invitations whose window passed unrated. Returns how many this
    /// instance recorded (another instance, or the citizen, may have been first: nothing then).
    ///
    /// # Errors
    /// The database failed.
    pub async fn default_once(&self) -> anyhow::Result<usize> {
        let inner = &self.svc.inner;
        let now = inner.clock.now();
        let due = evaluation_invitation::Entity::find()
            .filter(evaluation_invitation::Column::Settled.eq(false))
            .filter(evaluation_invitation::Column::InvitedAt.lte(now - inner.config.window()))
            .order_by_asc(evaluation_invitation::Column::InvitedAt)
            .limit(BATCH)
            .all(&inner.db)
            .await
            .context("find invitations past their window")?;
        let mut recorded = 0;
        for invitation in due {
            let id = uuid::Uuid::new_v4().to_string();
            let indicators: std::collections::BTreeMap<&str, u8> =
                super::Channel::indicators(invitation.subject_kind)
                    .iter()
                    .map(|i| (i.key, 3u8))
                    .collect();
            let txn = crate::db::write(&inner.db)
                .await
                .context("begin a default")?;
            let inserted = evaluation::Entity::insert(evaluation::ActiveModel {
                id: Set(id.clone()),
                subject_kind: Set(invitation.subject_kind),
                subject_id: Set(invitation.subject_id.clone()),
                invitation_id: Set(invitation.id),
                citizen_id: Set(invitation.citizen_id),
                channel: Set(invitation.channel.clone()),
                hall_id: Set(invitation.hall_id),
                counter_id: Set(invitation.counter_id),
                category_id: Set(invitation.category_id),
                staff_id: Set(invitation.staff_id),
                item_code: Set(invitation.item_code.clone()),
                department: Set(invitation.department.clone()),
                grade: Set(3),
                indicators: Set(serde_json::to_string(&indicators).context("indicators")?),
                tags: Set("[]".to_owned()),
                comment: Set(None),
                comment_status: Set(CommentStatus::None),
                comment_label: Set(None),
                defaulted: Set(true),
                real_name: Set(false),
                follow_up_grade: Set(None),
                follow_up_comment: Set(None),
                follow_up_status: Set(None),
                follow_up_at: Set(None),
                created_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([
                    evaluation::Column::SubjectKind,
                    evaluation::Column::SubjectId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .context("record the default")?;
            if inserted == 1 {
                enqueue(&txn, &id, now).await?;
                recorded += 1;
            }
            settled(&txn, &invitation, now).await?;
            txn.commit().await.context("commit the default")?;
        }
        if recorded > 0 {
            inner.wake.notify_one();
            metrics::counter!("evaluations_defaulted_total").increment(recorded as u64);
        }
        Ok(recorded)
    }

    /// Asks WeChat again about comments (and follow-up comments) it could not check. Returns
    /// how many got a verdict.
    ///
    /// # Errors
    /// The database failed.
    pub async fn recheck_once(&self) -> anyhow::Result<usize> {
        let inner = &self.svc.inner;
        let unchecked = CommentStatus::Unchecked;
        let rows = evaluation::Entity::find()
            .filter(
                Condition::any()
                    .add(evaluation::Column::CommentStatus.eq(unchecked))
                    .add(evaluation::Column::FollowUpStatus.eq(unchecked)),
            )
            .order_by_asc(evaluation::Column::CreatedAt)
            .limit(BATCH)
            .all(&inner.db)
            .await
            .context("find unchecked comments")?;
        let mut checked = 0;
        for row in rows {
            let Some(person) = citizen::Entity::find_by_id(row.citizen_id)
                .one(&inner.db)
                .await
                .context("read the citizen")?
            else {
                continue;
            };
            for (text, status_col, is_main) in [
                (
                    row.comment.as_deref(),
                    evaluation::Column::CommentStatus,
                    true,
                ),
                (
                    row.follow_up_comment.as_deref(),
                    evaluation::Column::FollowUpStatus,
                    false,
                ),
            ] {
                let current = if is_main {
                    Some(row.comment_status)
                } else {
                    row.follow_up_status
                };
                let (Some(text), Some(current)) = (text, current) else {
                    continue;
                };
                if current != unchecked {
                    continue;
                }
                let Some((suggest, _label)) = self.svc.check(&person.openid, text).await else {
                    // Still down: the rest can wait for the next round.
                    return Ok(checked);
                };
                // A comment already kept cannot be refused any more: risky now means hidden.
                let to = match suggest {
                    Suggest::Pass => CommentStatus::Pass,
                    Suggest::Review => CommentStatus::Review,
                    Suggest::Risky => CommentStatus::Hidden,
                };
                evaluation::Entity::update_many()
                    .col_expr(status_col, Expr::value(to.as_str()))
                    .filter(evaluation::Column::Id.eq(row.id.as_str()))
                    .filter(status_col.eq(unchecked))
                    .exec(&inner.db)
                    .await
                    .context("record the verdict")?;
                checked += 1;
            }
        }
        if checked > 0 {
            inner.wake.notify_one();
        }
        Ok(checked)
    }

    /// Alerts the hall's admins (the staff inbox; online tickets: the global admins), once, of
    /// each open ticket that passed a deadline, and marks it. Returns how many this instance
    /// alerted.
    ///
    /// # Errors
    /// The database failed.
    pub async fn overdue_once(&self) -> anyhow::Result<usize> {
        let inner = &self.svc.inner;
        let now = inner.clock.now();
        let late = rectification::Entity::find()
            .filter(rectification::Column::OverdueNotifiedAt.is_null())
            .filter(
                rectification::Column::Status
                    .is_in([RectificationStatus::Open, RectificationStatus::Contacted]),
            )
            .filter(
                Condition::any()
                    .add(rectification::Column::RectifyDueAt.lt(now))
                    .add(
                        Condition::all()
                            .add(rectification::Column::Status.eq(RectificationStatus::Open))
                            .add(rectification::Column::ContactDueAt.lt(now)),
                    ),
            )
            .limit(BATCH)
            .all(&inner.db)
            .await
            .context("find overdue rectifications")?;
        let mut marked = 0;
        for r in late {
            let (title, body) = overdue_words(&self.svc, &r, now).await?;
            let txn = crate::db::write(&inner.db)
                .await
                .context("begin the overdue alert")?;
            // The unique index on (kind, subject) makes the alert once, whoever is first.
            let alerted = alert(
                &txn,
                r.hall_id,
                RECTIFICATION_OVERDUE,
                &r.id.to_string(),
                &title,
                &body,
                now,
            )
            .await?;
            if alerted {
                rectification::Entity::update_many()
                    .col_expr(rectification::Column::OverdueNotifiedAt, Expr::value(now))
                    .filter(rectification::Column::Id.eq(r.id))
                    .filter(rectification::Column::OverdueNotifiedAt.is_null())
                    .exec(&txn)
                    .await
                    .context("mark overdue")?;
            }
            txn.commit().await.context("commit the overdue alert")?;
            if alerted {
                marked += 1;
                tracing::warn!(rectification_id = r.id, hall_id = ?r.hall_id, department = ?r.department, "a 差评's rectification is overdue");
                metrics::counter!("rectifications_overdue_total").increment(1);
            }
        }
        Ok(marked)
    }
}

/// The alert's title and body: which step is late, since when, and what was rated (never who).
async fn overdue_words(
    svc: &EvaluationService,
    r: &rectification::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(String, String)> {
    let db = &svc.inner.db;
    let item = match evaluation::Entity::find_by_id(r.evaluation_id.as_str())
        .one(db)
        .await
        .context("read the evaluation")?
    {
        Some(e) => evaluation_invitation::Entity::find_by_id(e.invitation_id)
            .one(db)
            .await
            .context("read the invitation")?
            .and_then(|i| i.item_name),
        None => None,
    }
    .unwrap_or_else(|| "办事服务".to_owned());
    let day = |at: chrono::DateTime<chrono::Utc>| {
        (at - chrono::Duration::seconds(1))
            .with_timezone(&SHANGHAI)
            .format("%Y-%m-%d")
            .to_string()
    };
    let step = if r.status == RectificationStatus::Open
        && now > r.contact_due_at
        && now <= r.rectify_due_at
    {
        format!("未按期回访（回访期限 {}）", day(r.contact_due_at))
    } else {
        format!("未按期整改（整改期限 {}）", day(r.rectify_due_at))
    };
    let place = r
        .department
        .as_deref()
        .map(|d| format!("，承办部门：{d}"))
        .unwrap_or_default();
    Ok((
        format!("差评整改超期：第{}号整改单", r.id),
        format!("「{item}」的差评整改单{step}{place}，请尽快处理。"),
    ))
}
