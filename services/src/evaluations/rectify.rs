//! 差评整改: a real-name grade 1–2 opens a ticket for the hall (or, online, the item's
//! department); contact the citizen (回访) within `contact_days` working days and rectify
//! within the hall's `rectify_days` (default 5), both counted on the working-day calendar and
//! due at the end of that day in Asia/Shanghai. Staff list open tickets overdue first and record
//! the contact and the rectification; the citizen is told, and may then add one 追评.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use serde_json::json;

use super::{CommentStatus, EvaluationService, grade_text};
use crate::notify::NotificationKind;
use crate::time::SHANGHAI;
use entities::{evaluation, evaluation_invitation, hall, rectification};

pub use entities::status::RectificationStatus;

/// A rectification ticket, as staff (and, for their own, the citizen) see it. No citizen's
/// identity in it.
#[derive(Debug, Clone, PartialEq)]
pub struct RectificationView {
    pub id: i64,
    pub evaluation_id: String,
    pub hall_id: Option<i64>,
    pub department: Option<String>,
    pub status: RectificationStatus,
    pub contact_due_date: NaiveDate,
    pub contact_due_at: DateTime<Utc>,
    pub rectify_due_date: NaiveDate,
    pub rectify_due_at: DateTime<Utc>,
    pub contacted_at: Option<DateTime<Utc>>,
    pub contact_note: Option<String>,
    pub rectified_at: Option<DateTime<Utc>>,
    pub rectify_note: Option<String>,
    /// A deadline passed without its step.
    pub overdue: bool,
    pub overdue_notified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// What was rated, for staff's list (never who rated it); `None` where the reader knows it.
    pub rating: Option<RatingSummary>,
}

/// The 差评 behind a ticket as staff see it: the item, the grade, the tags, the comment once it
/// may be shown, and the citizen's 追评 (its comment likewise).
#[derive(Debug, Clone, PartialEq)]
pub struct RatingSummary {
    pub item_name: Option<String>,
    pub grade: u8,
    pub tags: Vec<String>,
    pub comment: Option<String>,
    pub follow_up_grade: Option<u8>,
    pub follow_up_comment: Option<String>,
    pub follow_up_at: Option<DateTime<Utc>>,
}

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct RectifyFilter {
    /// `None`: the online tickets.
    pub hall_id: Option<i64>,
    pub department: Option<String>,
    /// Only tickets not rectified yet.
    pub open_only: bool,
}

/// Why a staff action on a ticket was refused.
#[derive(Debug, thiserror::Error)]
pub enum RectifyError {
    #[error("no such rectification")]
    NotFound,
    /// Contacted already, or rectified already.
    #[error("the ticket is past that step")]
    StateChanged,
    #[error("invalid note")]
    Invalid(Vec<(String, String)>),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The instant a day ends in Asia/Shanghai.
fn end_of(day: NaiveDate) -> DateTime<Utc> {
    // The next midnight there; a fixed offset maps it to exactly one instant, so no fallback
    // (the former one read the wall clock).
    let midnight = day.succ_opt().unwrap_or(day).and_time(NaiveTime::MIN);
    midnight.and_utc() - chrono::Duration::seconds(i64::from(SHANGHAI.local_minus_utc()))
}

fn day_of(at: DateTime<Utc>) -> NaiveDate {
    // The instant that ends a day belongs to it.
    (at - chrono::Duration::seconds(1))
        .with_timezone(&SHANGHAI)
        .date_naive()
}

pub(super) fn view(r: &rectification::Model, now: DateTime<Utc>) -> RectificationView {
    let status = r.status;
    let overdue = (r.contacted_at.is_none() && r.rectified_at.is_none() && now > r.contact_due_at)
        || (r.rectified_at.is_none() && now > r.rectify_due_at)
        || r.rectified_at.is_some_and(|at| at > r.rectify_due_at);
    RectificationView {
        id: r.id,
        evaluation_id: r.evaluation_id.clone(),
        hall_id: r.hall_id,
        department: r.department.clone(),
        status,
        contact_due_date: day_of(r.contact_due_at),
        contact_due_at: r.contact_due_at,
        rectify_due_date: day_of(r.rectify_due_at),
        rectify_due_at: r.rectify_due_at,
        contacted_at: r.contacted_at,
        contact_note: r.contact_note.clone(),
        rectified_at: r.rectified_at,
        rectify_note: r.rectify_note.clone(),
        overdue,
        overdue_notified_at: r.overdue_notified_at,
        created_at: r.created_at,
        rating: None,
    }
}

/// The summaries of the evaluations behind `views`, filled in place.
async fn summarise(
    db: &impl ConnectionTrait,
    views: &mut [RectificationView],
) -> anyhow::Result<()> {
    if views.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = views.iter().map(|v| v.evaluation_id.clone()).collect();
    let rows: BTreeMap<String, evaluation::Model> = evaluation::Entity::find()
        .filter(evaluation::Column::Id.is_in(ids))
        .all(db)
        .await
        .context("read the rated evaluations")?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let invitation_ids: Vec<i64> = rows.values().map(|e| e.invitation_id).collect();
    let items: BTreeMap<i64, Option<String>> = evaluation_invitation::Entity::find()
        .filter(evaluation_invitation::Column::Id.is_in(invitation_ids))
        .all(db)
        .await
        .context("read the rated subjects")?
        .into_iter()
        .map(|i| (i.id, i.item_name))
        .collect();
    for v in views.iter_mut() {
        let Some(e) = rows.get(&v.evaluation_id) else {
            continue;
        };
        let shown = |text: &Option<String>, status: Option<CommentStatus>| {
            text.clone()
                .filter(|_| status.is_some_and(CommentStatus::visible))
        };
        v.rating = Some(RatingSummary {
            item_name: items.get(&e.invitation_id).cloned().flatten(),
            grade: u8::try_from(e.grade).unwrap_or(1),
            tags: serde_json::from_str(&e.tags).unwrap_or_default(),
            comment: shown(&e.comment, Some(e.comment_status)),
            follow_up_grade: e.follow_up_grade.and_then(|g| u8::try_from(g).ok()),
            follow_up_comment: shown(&e.follow_up_comment, e.follow_up_status),
            follow_up_at: e.follow_up_at,
        });
    }
    Ok(())
}

/// The hall's rectification limit in working days, if it set one.
async fn hall_days(db: &impl ConnectionTrait, hall_id: i64) -> anyhow::Result<Option<u32>> {
    let mut q = Query::select();
    q.expr(Expr::col(sea_orm::sea_query::Alias::new("rectify_days")))
        .from(hall::Entity)
        .and_where(Expr::col(hall::Column::Id).eq(hall_id));
    let row = db.query_one(&q).await.context("read the hall's limit")?;
    Ok(row
        .and_then(|r| r.try_get::<Option<i32>>("", "rectify_days").ok())
        .flatten()
        .and_then(|d| u32::try_from(d).ok()))
}

/// Opens the ticket of a real-name 差评 in the rating's transaction; returns it.
pub(super) async fn open(
    svc: &EvaluationService,
    txn: &impl ConnectionTrait,
    evaluation_id: &str,
    invitation: &evaluation_invitation::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<rectification::Model> {
    let inner = &svc.inner;
    let calendar = inner.calendar.calendar().await?;
    let today = now.with_timezone(&SHANGHAI).date_naive();
    let days = match invitation.hall_id {
        Some(id) => hall_days(txn, id).await?,
        None => None,
    }
    .unwrap_or(inner.config.rectify_days);
    let contact = calendar
        .add_working_days(today, inner.config.contact_days)
        .context("count the contact deadline")?;
    let rectify = calendar
        .add_working_days(today, days)
        .context("count the rectification deadline")?;
    let mut row = rectification::Model {
        id: 0,
        evaluation_id: evaluation_id.to_owned(),
        hall_id: invitation.hall_id,
        department: invitation.department.clone(),
        status: RectificationStatus::Open,
        contact_due_at: end_of(contact),
        rectify_due_at: end_of(rectify),
        contacted_at: None,
        contact_note: None,
        rectified_at: None,
        rectify_note: None,
        handled_by: None,
        overdue_notified_at: None,
        created_at: now,
    };
    let inserted = rectification::Entity::insert(rectification::ActiveModel {
        evaluation_id: Set(row.evaluation_id.clone()),
        hall_id: Set(row.hall_id),
        department: Set(row.department.clone()),
        status: Set(row.status),
        contact_due_at: Set(row.contact_due_at),
        rectify_due_at: Set(row.rectify_due_at),
        contacted_at: Set(None),
        contact_note: Set(None),
        rectified_at: Set(None),
        rectify_note: Set(None),
        handled_by: Set(None),
        overdue_notified_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    })
    .exec(txn)
    .await
    .context("open the rectification")?;
    row.id = inserted.last_insert_id;
    metrics::counter!("rectifications_opened_total").increment(1);
    Ok(row)
}

fn note(field: &str, text: &str) -> Result<String, RectifyError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 1000 {
        return Err(RectifyError::Invalid(vec![(
            field.to_owned(),
            "须为1至1000字".to_owned(),
        )]));
    }
    Ok(text.to_owned())
}

impl EvaluationService {
    /// Tickets matching `filter`, overdue first, then by the rectification deadline.
    ///
    /// # Errors
    /// The database failed.
    pub async fn rectifications(
        &self,
        filter: &RectifyFilter,
        limit: u64,
    ) -> anyhow::Result<Vec<RectificationView>> {
        let mut q = rectification::Entity::find();
        // A hall's tickets, or the online ones (no hall: the item's department handles them).
        q = match filter.hall_id {
            Some(hall_id) => q.filter(rectification::Column::HallId.eq(hall_id)),
            None => q.filter(rectification::Column::HallId.is_null()),
        };
        if let Some(department) = &filter.department {
            q = q.filter(rectification::Column::Department.eq(department.as_str()));
        }
        if filter.open_only {
            q = q.filter(
                rectification::Column::Status
                    .is_in([RectificationStatus::Open, RectificationStatus::Contacted]),
            );
        }
        let rows = q
            .order_by_asc(rectification::Column::RectifyDueAt)
            .limit(limit.clamp(1, 500))
            .all(&self.inner.db)
            .await
            .context("list rectifications")?;
        let now = self.inner.clock.now();
        let mut views: Vec<RectificationView> = rows.iter().map(|r| view(r, now)).collect();
        // Stable: within each group the deadline order stays.
        views.sort_by_key(|v| !v.overdue);
        summarise(&self.inner.db, &mut views).await?;
        Ok(views)
    }

    /// One ticket (for the staff member's scope check).
    ///
    /// # Errors
    /// The database failed.
    pub async fn rectification(&self, id: i64) -> anyhow::Result<Option<RectificationView>> {
        Ok(rectification::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await
            .context("read the rectification")?
            .map(|r| view(&r, self.inner.clock.now())))
    }

    /// Records the contact with the citizen (回访).
    ///
    /// # Errors
    /// [`RectifyError::NotFound`], [`RectifyError::StateChanged`] (contacted or rectified
    /// already), [`RectifyError::Invalid`].
    pub async fn record_contact(
        &self,
        id: i64,
        staff_id: i64,
        text: &str,
    ) -> Result<RectificationView, RectifyError> {
        let text = note("note", text)?;
        let now = self.inner.clock.now();
        let done = rectification::Entity::update_many()
            .col_expr(
                rectification::Column::Status,
                Expr::value(RectificationStatus::Contacted),
            )
            .col_expr(rectification::Column::ContactedAt, Expr::value(now))
            .col_expr(rectification::Column::ContactNote, Expr::value(text))
            .col_expr(rectification::Column::HandledBy, Expr::value(staff_id))
            .filter(rectification::Column::Id.eq(id))
            .filter(rectification::Column::Status.eq(RectificationStatus::Open))
            .exec(&self.inner.db)
            .await
            .context("record the contact")?;
        self.after(id, done.rows_affected).await
    }

    /// Records the rectification and tells the citizen, who may then add one 追评.
    ///
    /// # Errors
    /// [`RectifyError::NotFound`], [`RectifyError::StateChanged`] (rectified already),
    /// [`RectifyError::Invalid`].
    pub async fn record_rectification(
        &self,
        id: i64,
        staff_id: i64,
        text: &str,
    ) -> Result<RectificationView, RectifyError> {
        let text = note("note", text)?;
        let inner = &self.inner;
        let now = inner.clock.now();
        let txn = crate::db::write(&inner.db)
            .await
            .context("begin the rectification")?;
        let done = rectification::Entity::update_many()
            .col_expr(
                rectification::Column::Status,
                Expr::value(RectificationStatus::Rectified),
            )
            .col_expr(rectification::Column::RectifiedAt, Expr::value(now))
            .col_expr(
                rectification::Column::RectifyNote,
                Expr::value(text.clone()),
            )
            .col_expr(rectification::Column::HandledBy, Expr::value(staff_id))
            .filter(rectification::Column::Id.eq(id))
            .filter(
                rectification::Column::Status
                    .is_in([RectificationStatus::Open, RectificationStatus::Contacted]),
            )
            .exec(&txn)
            .await
            .context("record the rectification")?;
        if done.rows_affected == 1
            && let Some(r) = rectification::Entity::find_by_id(id)
                .one(&txn)
                .await
                .context("read the rectification")?
            && let Some(e) = evaluation::Entity::find_by_id(r.evaluation_id.as_str())
                .one(&txn)
                .await
                .context("read its evaluation")?
        {
            let item_name = evaluation_invitation::Entity::find_by_id(e.invitation_id)
                .one(&txn)
                .await
                .context("read the invitation")?
                .and_then(|i| i.item_name)
                .unwrap_or_else(|| "办事服务".to_owned());
            inner
                .notifications
                .notify(
                    &txn,
                    e.citizen_id,
                    NotificationKind::EvaluationRectified,
                    &json!({
                        "item_name": item_name,
                        "outcome": text,
                        "evaluation_id": e.id,
                        "grade": grade_text(u8::try_from(e.grade).unwrap_or(1)),
                    }),
                    &format!("evaluation-rectified:{}", e.id),
                )
                .await
                .context("tell the citizen")?;
        }
        txn.commit().await.context("commit the rectification")?;
        if done.rows_affected == 1 {
            inner.notifications.wake().await;
        }
        self.after(id, done.rows_affected).await
    }

    async fn after(&self, id: i64, changed: u64) -> Result<RectificationView, RectifyError> {
        let current = self
            .rectification(id)
            .await?
            .ok_or(RectifyError::NotFound)?;
        if changed == 0 {
            return Err(RectifyError::StateChanged);
        }
        Ok(current)
    }

    /// Sets a hall's rectification limit in working days (1–30).
    ///
    /// # Errors
    /// [`RectifyError::Invalid`] outside 1–30; [`RectifyError::NotFound`] for no such hall.
    pub async fn set_rectify_days(&self, hall_id: i64, days: i64) -> Result<(), RectifyError> {
        if !(1..=30).contains(&days) {
            return Err(RectifyError::Invalid(vec![(
                "rectifyDays".to_owned(),
                "须为1至30个工作日".to_owned(),
            )]));
        }
        let mut q = Query::update();
        q.table(hall::Entity)
            .value(
                sea_orm::sea_query::Alias::new("rectify_days"),
                Expr::value(i32::try_from(days).unwrap_or(5)),
            )
            .and_where(Expr::col(hall::Column::Id).eq(hall_id));
        let done = self
            .inner
            .db
            .execute(&q)
            .await
            .context("set the hall's limit")?;
        if done.rows_affected() == 0 {
            return Err(RectifyError::NotFound);
        }
        Ok(())
    }

    /// Staff decide on a comment WeChat sent to review: shown (`CLEARED`) or hidden for good.
    /// Returns the evaluation's hall (for the scope check before) — see
    /// [`EvaluationService::evaluation_hall`].
    ///
    /// # Errors
    /// [`RectifyError::NotFound`], [`RectifyError::StateChanged`] when the comment is not in
    /// review.
    pub async fn decide_comment(&self, id: &str, visible: bool) -> Result<(), RectifyError> {
        let to = if visible {
            CommentStatus::Cleared
        } else {
            CommentStatus::Hidden
        };
        let done = evaluation::Entity::update_many()
            .col_expr(evaluation::Column::CommentStatus, Expr::value(to.as_str()))
            .filter(evaluation::Column::Id.eq(id))
            .filter(
                Condition::any().add(evaluation::Column::CommentStatus.eq(CommentStatus::Review)),
            )
            .exec(&self.inner.db)
            .await
            .context("decide on the comment")?;
        if done.rows_affected == 0 {
            return Err(
                if evaluation::Entity::find_by_id(id)
                    .one(&self.inner.db)
                    .await
                    .context("read the evaluation")?
                    .is_some()
                {
                    RectifyError::StateChanged
                } else {
                    RectifyError::NotFound
                },
            );
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// The hall an evaluation is attributed to (`Some(None)` online), `None` for no such
    /// evaluation.
    ///
    /// # Errors
    /// The database failed.
    pub async fn evaluation_hall(&self, id: &str) -> anyhow::Result<Option<Option<i64>>> {
        Ok(evaluation::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await
            .context("read the evaluation")?
            .map(|e| e.hall_id))
    }

    /// Comments waiting for staff (`REVIEW`) at a hall (`None`: online ones), oldest first:
    /// (evaluation id, grade, comment, created).
    ///
    /// # Errors
    /// The database failed.
    pub async fn comments_in_review(
        &self,
        hall_id: Option<i64>,
    ) -> anyhow::Result<Vec<(String, u8, String, DateTime<Utc>)>> {
        let mut q = evaluation::Entity::find()
            .filter(evaluation::Column::CommentStatus.eq(CommentStatus::Review));
        q = match hall_id {
            Some(id) => q.filter(evaluation::Column::HallId.eq(id)),
            None => q.filter(evaluation::Column::HallId.is_null()),
        };
        Ok(q.order_by_asc(evaluation::Column::CreatedAt)
            .limit(200)
            .all(&self.inner.db)
            .await
            .context("read comments in review")?
            .into_iter()
            .map(|e| {
                (
                    e.id,
                    u8::try_from(e.grade).unwrap_or(3),
                    e.comment.unwrap_or_default(),
                    e.created_at,
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_ends_at_midnight_in_shanghai_and_belongs_to_its_day() {
        let day = NaiveDate::from_ymd_opt(2026, 10, 9).unwrap();
        let end = end_of(day);
        assert_eq!(end.to_rfc3339(), "2026-10-09T16:00:00+00:00");
        assert_eq!(day_of(end), day);
    }
}
