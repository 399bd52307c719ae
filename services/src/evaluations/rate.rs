//! The citizen's side: what waits for a rating, the rating itself (its comment through
//! `msgSecCheck` first), my evaluations, and the one 追评 after a rectification.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Statement,
    TryIntoModel as _,
};

use super::{
    Channel, CommentStatus, EvaluationService, EvaluationView, FollowUp, MAX_COMMENT_CHARS,
    Pending, SubjectKind, rectify,
};
use crate::province::outbox::OutboxStatus;
use crate::wechat::security::{SCENE_COMMENT, Suggest};
use entities::{
    application, citizen, evaluation, evaluation_invitation, evaluation_outbox, hall,
    rectification, ticket,
};

/// Which way a rating was written, counted in `evaluations_total{path}`: on PostgreSQL every
/// rating but a real-name 差评 is one statement; SQLite and a 差评 take the transaction.
#[derive(Debug, Clone, Copy)]
enum Path {
    OneStatement,
    Transaction,
}

impl Path {
    fn as_str(self) -> &'static str {
        match self {
            Path::OneStatement => "one_statement",
            Path::Transaction => "transaction",
        }
    }
}

/// A rating as the citizen gives it; checked by [`EvaluationService::rate`].
#[derive(Debug, Clone)]
pub struct NewEvaluation {
    pub kind: SubjectKind,
    pub subject_id: String,
    pub grade: i64,
    /// Indicator key → 1–5; exactly the channel's indicators.
    pub indicators: BTreeMap<String, i64>,
    pub tags: Vec<String>,
    pub comment: Option<String>,
}

/// Why a rating was refused.
#[derive(Debug, thiserror::Error)]
pub enum RateError {
    /// No such subject of this citizen.
    #[error("no such subject")]
    NotFound,
    /// The ticket is not done, or the case not concluded, yet.
    #[error("not finished yet")]
    NotFinished,
    /// The window passed (the default is or will be recorded).
    #[error("the window has passed")]
    WindowClosed,
    /// Rated already (the unique index said so).
    #[error("rated already")]
    AlreadyEvaluated,
    /// Bad input: (field, reason).
    #[error("invalid rating")]
    Invalid(Vec<(String, String)>),
    /// WeChat judged the comment `risky`.
    #[error("the comment is not acceptable")]
    CommentRisky,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a 追评 was refused.
#[derive(Debug, thiserror::Error)]
pub enum FollowUpError {
    #[error("no such evaluation")]
    NotFound,
    /// Only after the rectification was recorded.
    #[error("not rectified yet")]
    NotRectified,
    #[error("followed up already")]
    AlreadyFollowedUp,
    #[error("invalid follow-up")]
    Invalid(Vec<(String, String)>),
    #[error("the comment is not acceptable")]
    CommentRisky,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

const NOT_A_GRADE: &str = "须为1至5的整数";

fn check_grade(field: &str, grade: i64, problems: &mut Vec<(String, String)>) -> u8 {
    match u8::try_from(grade) {
        Ok(g @ 1..=5) => g,
        _ => {
            problems.push((field.to_owned(), NOT_A_GRADE.to_owned()));
            0
        }
    }
}

/// The comment, trimmed; `None` when empty.
fn check_comment(comment: Option<&str>, problems: &mut Vec<(String, String)>) -> Option<String> {
    let text = comment.map(str::trim).filter(|c| !c.is_empty())?;
    if text.chars().count() > MAX_COMMENT_CHARS {
        problems.push((
            "comment".to_owned(),
            format!("评价内容不能超过{MAX_COMMENT_CHARS}字"),
        ));
        return None;
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        problems.push(("comment".to_owned(), "评价内容含有不可见字符".to_owned()));
        return None;
    }
    Some(text.to_owned())
}

impl EvaluationService {
    /// What waits for `citizen_id`'s rating, newest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn pending(&self, citizen_id: i64) -> anyhow::Result<Vec<Pending>> {
        let inner = &self.inner;
        let window = inner.config.window();
        let since = inner.clock.now() - window;
        let rows = evaluation_invitation::Entity::find()
            .filter(evaluation_invitation::Column::CitizenId.eq(citizen_id))
            .filter(evaluation_invitation::Column::Settled.eq(false))
            .filter(evaluation_invitation::Column::InvitedAt.gt(since))
            .order_by_desc(evaluation_invitation::Column::InvitedAt)
            .limit(100)
            .all(&inner.db)
            .await
            .context("read pending invitations")?;
        let hall_ids: Vec<i64> = rows.iter().filter_map(|r| r.hall_id).collect();
        let halls: BTreeMap<i64, String> = if hall_ids.is_empty() {
            BTreeMap::new()
        } else {
            hall::Entity::find()
                .filter(hall::Column::Id.is_in(hall_ids))
                .all(&inner.db)
                .await
                .context("read the halls")?
                .into_iter()
                .map(|h| (h.id, h.name))
                .collect()
        };
        Ok(rows
            .into_iter()
            .map(|r| Pending {
                kind: r.subject_kind,
                place: r
                    .hall_id
                    .and_then(|id| halls.get(&id).cloned())
                    .or(r.department),
                subject_id: r.subject_id,
                item_name: r.item_name,
                invited_at: r.invited_at,
                due_at: r.invited_at + window,
            })
            .collect())
    }

    /// Records `citizen_id`'s rating of a subject they were invited to rate. A comment is
    /// asked about before anything is written (scene 2, `openid` — the session's, which is the
    /// citizen's): `risky` is refused, `review` is kept hidden, WeChat unreachable keeps it
    /// unchecked. A real-name 差评 (1–2) opens a rectification ticket; the platform gets the
    /// rating through the outbox.
    ///
    /// On PostgreSQL a rating that opens no rectification is one statement
    /// (`rate_in_one_statement`), shared with the ratings arriving at the same moment
    /// (`batch.rs`, group commit); only when it writes nothing are the invitation and the
    /// subject read, to say why. The unique index on the subject stays the last word.
    ///
    /// # Errors
    /// [`RateError::Invalid`] naming each bad field; [`RateError::NotFound`] for a subject that
    /// is not this citizen's (or does not exist); [`RateError::NotFinished`] for their ticket not
    /// done or case not concluded; [`RateError::WindowClosed`]; [`RateError::AlreadyEvaluated`]
    /// (the unique index); [`RateError::CommentRisky`].
    #[tracing::instrument(skip_all, fields(citizen_id, kind = new.kind.as_str()))]
    pub async fn rate(
        &self,
        citizen_id: i64,
        openid: &str,
        new: NewEvaluation,
    ) -> Result<EvaluationView, RateError> {
        let inner = &self.inner;
        let mut problems = Vec::new();
        let grade = check_grade("grade", new.grade, &mut problems);
        let expected = new.kind.indicators();
        // Keyed by the channel's own `&'static str`s, and field names written only for a
        // problem: a good rating allocates nothing here.
        let mut indicators: BTreeMap<&'static str, u8> = BTreeMap::new();
        for i in expected {
            match new.indicators.get(i.key).map(|v| u8::try_from(*v)) {
                Some(Ok(v @ 1..=5)) => {
                    indicators.insert(i.key, v);
                }
                Some(_) => problems.push((format!("indicators.{}", i.key), NOT_A_GRADE.to_owned())),
                None => problems.push((format!("indicators.{}", i.key), "请评分".to_owned())),
            }
        }
        for key in new.indicators.keys() {
            if !expected.iter().any(|i| i.key == key) {
                problems.push((
                    format!("indicators.{key}"),
                    "不是该渠道的评价指标".to_owned(),
                ));
            }
        }
        if grade != 0 {
            for (n, tag) in new.tags.iter().enumerate() {
                if !inner.config.offers(grade, tag) {
                    problems.push((format!("tags[{n}]"), "不是该评分可选的标签".to_owned()));
                }
            }
        }
        let distinct: std::collections::BTreeSet<&String> = new.tags.iter().collect();
        if distinct.len() != new.tags.len() || new.tags.len() > 10 {
            problems.push(("tags".to_owned(), "标签重复或过多".to_owned()));
        }
        let comment = check_comment(new.comment.as_deref(), &mut problems);
        if !problems.is_empty() {
            return Err(RateError::Invalid(problems));
        }
        // No subject's id holds a control character; such an id (a NUL the database would
        // refuse among them) names nothing.
        if new.subject_id.is_empty() || new.subject_id.chars().any(char::is_control) {
            return Err(RateError::NotFound);
        }
        let now = inner.clock.now();
        let mut rating = Rating {
            // Time-ordered: a new key lands beside the last one in the primary key's index
            // instead of on a random page of it (fewer pages touched and logged per rating).
            id: uuid::Uuid::now_v7().to_string(),
            kind: new.kind,
            subject_id: new.subject_id.clone(),
            citizen_id,
            grade,
            indicators: serde_json::to_string(&indicators).context("indicators")?,
            tags: serde_json::to_string(&new.tags).context("tags")?,
            comment,
            status: CommentStatus::None,
            label: None,
            now,
            window: inner.config.window(),
        };
        // PostgreSQL takes a rating that opens no rectification in one statement; a real-name
        // 差评 (rare) and SQLite (no data-modifying CTEs) take the transaction below.
        let one_statement =
            grade > 2 && inner.db.get_database_backend() == DatabaseBackend::Postgres;
        if one_statement
            && rating.comment.is_none()
            && let Some(stored) = self.write_one_statement(&rating).await?
        {
            return Ok(self.rated(new.kind, Path::OneStatement, stored, None));
        }
        // Nothing written yet: the path below says why (or meets the unique index).
        let invitation = evaluation_invitation::Entity::find()
            .filter(evaluation_invitation::Column::SubjectKind.eq(new.kind.as_str()))
            .filter(evaluation_invitation::Column::SubjectId.eq(new.subject_id.as_str()))
            .one(&inner.db)
            .await
            .context("read the invitation")?;
        let Some(invitation) = invitation.filter(|i| i.citizen_id == citizen_id) else {
            return Err(if self.owns(citizen_id, &new).await? {
                RateError::NotFinished
            } else {
                RateError::NotFound
            });
        };
        if invitation.invited_at + rating.window <= now {
            // The default may not be recorded yet: a rating now is still a second one.
            let rated = evaluation::Entity::find()
                .filter(evaluation::Column::SubjectKind.eq(new.kind.as_str()))
                .filter(evaluation::Column::SubjectId.eq(new.subject_id.as_str()))
                .one(&inner.db)
                .await
                .context("look for the rating")?;
            return Err(if rated.is_some() {
                RateError::AlreadyEvaluated
            } else {
                RateError::WindowClosed
            });
        }
        // The comment is asked about only once the subject is known to be open for this
        // citizen; the session's openid is the citizen's (no read of the citizen for it).
        if let Some(text) = &rating.comment {
            (rating.status, rating.label) = match self.check(openid, text).await {
                Some((Suggest::Risky, _)) => return Err(RateError::CommentRisky),
                Some((Suggest::Review, label)) => {
                    (CommentStatus::Review, i32::try_from(label).ok())
                }
                Some((Suggest::Pass, label)) => (CommentStatus::Pass, i32::try_from(label).ok()),
                None => (CommentStatus::Unchecked, None),
            };
            if one_statement && let Some(stored) = self.write_one_statement(&rating).await? {
                return Ok(self.rated(new.kind, Path::OneStatement, stored, None));
            }
        }
        let real_name = citizen::Entity::find_by_id(citizen_id)
            .select_only()
            .column(citizen::Column::IdentityVerifiedAt)
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(&inner.db)
            .await
            .context("read the citizen")?
            .context("the citizen is gone")?
            .is_some();
        let row = evaluation::ActiveModel {
            id: Set(rating.id.clone()),
            subject_kind: Set(invitation.subject_kind),
            subject_id: Set(invitation.subject_id.clone()),
            invitation_id: Set(invitation.id),
            citizen_id: Set(citizen_id),
            channel: Set(invitation.channel.clone()),
            hall_id: Set(invitation.hall_id),
            counter_id: Set(invitation.counter_id),
            category_id: Set(invitation.category_id),
            staff_id: Set(invitation.staff_id),
            item_code: Set(invitation.item_code.clone()),
            department: Set(invitation.department.clone()),
            grade: Set(i32::from(grade)),
            indicators: Set(rating.indicators),
            tags: Set(rating.tags),
            comment: Set(rating.comment),
            comment_status: Set(rating.status),
            comment_label: Set(rating.label),
            defaulted: Set(false),
            real_name: Set(real_name),
            follow_up_grade: Set(None),
            follow_up_comment: Set(None),
            follow_up_status: Set(None),
            follow_up_at: Set(None),
            created_at: Set(now),
        };
        let stored = row.clone().try_into_model().context("the rating's row")?;
        let txn = crate::db::write(&inner.db)
            .await
            .context("begin the rating")?;
        match evaluation::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
        {
            Ok(_) => {}
            Err(e) if crate::db::unique_violation(&e, None) => {
                return Err(RateError::AlreadyEvaluated);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("insert the rating").into()),
        }
        settled(&txn, &invitation, now).await?;
        enqueue(&txn, &rating.id, now).await?;
        let opened = if real_name && grade <= 2 {
            Some(rectify::open(self, &txn, &rating.id, &invitation, now).await?)
        } else {
            None
        };
        txn.commit().await.context("commit the rating")?;
        // What was just written, as it was written: no second read.
        Ok(self.rated(
            new.kind,
            Path::Transaction,
            stored,
            opened.map(|r| rectify::view(&r, now)),
        ))
    }

    /// The one statement, with the ratings arriving at the same moment (`batch.rs`), or alone
    /// when group commit is off (`statements_in_flight` 0).
    async fn write_one_statement(
        &self,
        rating: &Rating,
    ) -> anyhow::Result<Option<evaluation::Model>> {
        let inner = &self.inner;
        if inner.config.statements_in_flight == 0 {
            rate_in_one_statement(&inner.db, rating).await
        } else {
            inner.batcher.rate(&inner.db, rating.clone()).await
        }
    }

    /// After a rating committed: this instance's forwarder woken, the count, the view.
    fn rated(
        &self,
        kind: SubjectKind,
        path: Path,
        stored: evaluation::Model,
        rectification: Option<super::RectificationView>,
    ) -> EvaluationView {
        self.inner.wake.notify_one();
        const GRADES: [&str; 6] = ["0", "1", "2", "3", "4", "5"];
        let grade = usize::try_from(stored.grade)
            .ok()
            .and_then(|g| GRADES.get(g))
            .copied()
            .unwrap_or("0");
        metrics::counter!(
            "evaluations_total",
            "kind" => kind.as_str(),
            "grade" => grade,
            "path" => path.as_str()
        )
        .increment(1);
        view(stored, rectification)
    }

    /// WeChat's verdict, or `None` when it cannot be had now (asked again later).
    pub(super) async fn check(&self, openid: &str, text: &str) -> Option<(Suggest, i64)> {
        match self
            .inner
            .wechat
            .msg_sec_check(openid, SCENE_COMMENT, text)
            .await
        {
            Ok(v) => Some((v.suggest, v.label)),
            Err(e) => {
                tracing::warn!(error = %crate::report::causes(&e), "msgSecCheck failed; the comment waits, hidden");
                metrics::counter!("evaluation_comment_unchecked_total").increment(1);
                None
            }
        }
    }

    /// Whether the subject is `citizen_id`'s at all (to tell "not yet" from "not yours").
    async fn owns(&self, citizen_id: i64, new: &NewEvaluation) -> anyhow::Result<bool> {
        let db = &self.inner.db;
        Ok(match new.kind {
            SubjectKind::Ticket => match new.subject_id.parse::<i64>() {
                Ok(id) => ticket::Entity::find_by_id(id)
                    .one(db)
                    .await
                    .context("read the ticket")?
                    .is_some_and(|t| t.citizen_id == Some(citizen_id)),
                Err(_) => false,
            },
            SubjectKind::Case => application::Entity::find_by_id(new.subject_id.as_str())
                .one(db)
                .await
                .context("read the application")?
                .is_some_and(|a| a.citizen_id == citizen_id),
        })
    }

    /// `citizen_id`'s evaluations, newest first, with their rectifications.
    ///
    /// # Errors
    /// The database failed.
    pub async fn mine(&self, citizen_id: i64) -> anyhow::Result<Vec<EvaluationView>> {
        let db = &self.inner.db;
        let rows = evaluation::Entity::find()
            .filter(evaluation::Column::CitizenId.eq(citizen_id))
            .order_by_desc(evaluation::Column::CreatedAt)
            .limit(200)
            .all(db)
            .await
            .context("read my evaluations")?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let tickets: BTreeMap<String, rectification::Model> = if ids.is_empty() {
            BTreeMap::new()
        } else {
            rectification::Entity::find()
                .filter(rectification::Column::EvaluationId.is_in(ids))
                .all(db)
                .await
                .context("read my rectifications")?
                .into_iter()
                .map(|r| (r.evaluation_id.clone(), r))
                .collect()
        };
        let now = self.inner.clock.now();
        Ok(rows
            .into_iter()
            .map(|r| {
                let rect = tickets.get(&r.id).map(|t| rectify::view(t, now));
                view(r, rect)
            })
            .collect())
    }

    /// One of `citizen_id`'s evaluations.
    ///
    /// # Errors
    /// The database failed.
    pub async fn view_of(
        &self,
        citizen_id: i64,
        id: &str,
    ) -> anyhow::Result<Option<EvaluationView>> {
        let db = &self.inner.db;
        let Some(row) = evaluation::Entity::find_by_id(id)
            .one(db)
            .await
            .context("read the evaluation")?
            .filter(|r| r.citizen_id == citizen_id)
        else {
            return Ok(None);
        };
        let rect = rectification::Entity::find()
            .filter(rectification::Column::EvaluationId.eq(id))
            .one(db)
            .await
            .context("read the rectification")?
            .map(|t| rectify::view(&t, self.inner.clock.now()));
        Ok(Some(view(row, rect)))
    }

    /// The one 追评, after the rectification was recorded.
    ///
    /// # Errors
    /// [`FollowUpError::NotFound`] (not this citizen's), [`FollowUpError::NotRectified`],
    /// [`FollowUpError::AlreadyFollowedUp`], [`FollowUpError::Invalid`],
    /// [`FollowUpError::CommentRisky`].
    pub async fn follow_up(
        &self,
        citizen_id: i64,
        id: &str,
        grade: i64,
        comment: Option<&str>,
    ) -> Result<EvaluationView, FollowUpError> {
        let inner = &self.inner;
        let mut problems = Vec::new();
        let grade = check_grade("grade", grade, &mut problems);
        let comment = check_comment(comment, &mut problems);
        if !problems.is_empty() {
            return Err(FollowUpError::Invalid(problems));
        }
        let current = self
            .view_of(citizen_id, id)
            .await?
            .ok_or(FollowUpError::NotFound)?;
        if current.follow_up.is_some() {
            return Err(FollowUpError::AlreadyFollowedUp);
        }
        if current
            .rectification
            .as_ref()
            .is_none_or(|r| r.status != rectify::RectificationStatus::Rectified)
        {
            return Err(FollowUpError::NotRectified);
        }
        let person = citizen::Entity::find_by_id(citizen_id)
            .one(&inner.db)
            .await
            .context("read the citizen")?
            .context("the citizen is gone")?;
        let status = match &comment {
            None => CommentStatus::None,
            Some(text) => match self.check(&person.openid, text).await {
                Some((Suggest::Risky, _)) => return Err(FollowUpError::CommentRisky),
                Some((Suggest::Review, _)) => CommentStatus::Review,
                Some((Suggest::Pass, _)) => CommentStatus::Pass,
                None => CommentStatus::Unchecked,
            },
        };
        let now = inner.clock.now();
        let done = evaluation::Entity::update_many()
            .col_expr(
                evaluation::Column::FollowUpGrade,
                Expr::value(i32::from(grade)),
            )
            .col_expr(evaluation::Column::FollowUpComment, Expr::value(comment))
            .col_expr(evaluation::Column::FollowUpStatus, Expr::value(status))
            .col_expr(evaluation::Column::FollowUpAt, Expr::value(now))
            .filter(evaluation::Column::Id.eq(id))
            .filter(evaluation::Column::FollowUpAt.is_null())
            .exec(&inner.db)
            .await
            .context("record the follow-up")?;
        if done.rows_affected == 0 {
            return Err(FollowUpError::AlreadyFollowedUp);
        }
        self.view_of(citizen_id, id)
            .await?
            .ok_or(FollowUpError::NotFound)
    }
}

/// A citizen's rating, checked, as it is written.
#[derive(Debug, Clone)]
pub(super) struct Rating {
    pub(super) id: String,
    pub(super) kind: SubjectKind,
    pub(super) subject_id: String,
    pub(super) citizen_id: i64,
    pub(super) grade: u8,
    /// JSON, as stored.
    pub(super) indicators: String,
    pub(super) tags: String,
    pub(super) comment: Option<String>,
    pub(super) status: CommentStatus,
    pub(super) label: Option<i32>,
    pub(super) now: DateTime<Utc>,
    pub(super) window: chrono::Duration,
}

/// PostgreSQL only: the whole rating in one autocommitted statement — one round trip where the
/// transaction takes six. The invitation is selected (this citizen's, the window still open:
/// `invited_at + window > now`, the same edge as the check in [`EvaluationService::rate`]) and
/// joined with the citizen for the real-name mark; the evaluation is inserted with the
/// invitation's attribution (`ON CONFLICT … DO NOTHING` on the subject's unique index), and
/// only when it was inserted is the invitation settled and the outbox row written. Returns the
/// row as stored, or `None` when nothing was written: no such open invitation of this citizen,
/// or rated already (by a racing rating or the window's default, which then won). It must not
/// be used for a real-name 差评, whose rectification ticket needs the working-day calendar.
pub(super) async fn rate_in_one_statement(
    db: &DatabaseConnection,
    r: &Rating,
) -> anyhow::Result<Option<evaluation::Model>> {
    const SQL: &str = "\
        WITH invitation AS ( \
            SELECT i.id, i.subject_kind, i.subject_id, i.channel, i.hall_id, i.counter_id, \
                   i.category_id, i.staff_id, i.item_code, i.department, \
                   c.identity_verified_at IS NOT NULL AS real_name \
            FROM evaluation_invitations i JOIN citizens c ON c.id = i.citizen_id \
            WHERE i.subject_kind = $1 AND i.subject_id = $2 AND i.citizen_id = $3 \
              AND i.invited_at > $4 \
        ), rated AS ( \
            INSERT INTO evaluations (id, subject_kind, subject_id, invitation_id, citizen_id, \
                channel, hall_id, counter_id, category_id, staff_id, item_code, department, \
                grade, indicators, tags, comment, comment_status, comment_label, defaulted, \
                real_name, created_at) \
            SELECT $5, subject_kind, subject_id, id, $3, channel, hall_id, counter_id, \
                category_id, staff_id, item_code, department, $6, $7, $8, $9, $10, $11, false, \
                real_name, $12 \
            FROM invitation \
            ON CONFLICT (subject_kind, subject_id) DO NOTHING \
            RETURNING * \
        ), settled AS ( \
            UPDATE evaluation_invitations SET settled = true \
            WHERE id IN (SELECT invitation_id FROM rated) \
        ), enqueued AS ( \
            INSERT INTO evaluation_outbox (evaluation_id, status, attempts, next_attempt_at, \
                created_at, updated_at) \
            SELECT id, $13, 0, $12, $12, $12 FROM rated \
        ) \
        SELECT * FROM rated";
    evaluation::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            SQL,
            [
                r.kind.as_str().into(),
                r.subject_id.as_str().into(),
                r.citizen_id.into(),
                (r.now - r.window).into(),
                r.id.as_str().into(),
                i32::from(r.grade).into(),
                r.indicators.as_str().into(),
                r.tags.as_str().into(),
                r.comment.clone().into(),
                r.status.as_str().into(),
                r.label.into(),
                r.now.into(),
                OutboxStatus::Pending.as_str().into(),
            ],
        ))
        .one(db)
        .await
        .context("rate in one statement")
}

/// Marks the invitation rated (or defaulted).
pub(super) async fn settled(
    txn: &impl ConnectionTrait,
    invitation: &evaluation_invitation::Model,
    _now: DateTime<Utc>,
) -> anyhow::Result<()> {
    evaluation_invitation::Entity::update_many()
        .col_expr(evaluation_invitation::Column::Settled, Expr::value(true))
        .filter(evaluation_invitation::Column::Id.eq(invitation.id))
        .exec(txn)
        .await
        .context("settle the invitation")?;
    Ok(())
}

/// The evaluation's outbox row, for the platform.
pub(super) async fn enqueue(
    txn: &impl ConnectionTrait,
    evaluation_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    evaluation_outbox::Entity::insert(evaluation_outbox::ActiveModel {
        evaluation_id: Set(evaluation_id.to_owned()),
        status: Set(OutboxStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        first_failure_at: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await
    .context("enqueue the evaluation for the province")?;
    Ok(())
}

fn view(r: evaluation::Model, rectification: Option<super::RectificationView>) -> EvaluationView {
    let follow_up = match (r.follow_up_grade, r.follow_up_at) {
        (Some(grade), Some(at)) => Some(FollowUp {
            grade: u8::try_from(grade).unwrap_or(3),
            comment: r.follow_up_comment.clone(),
            at,
        }),
        _ => None,
    };
    EvaluationView {
        kind: r.subject_kind,
        subject_id: r.subject_id,
        grade: u8::try_from(r.grade).unwrap_or(3),
        indicators: serde_json::from_str(&r.indicators).unwrap_or_default(),
        tags: serde_json::from_str(&r.tags).unwrap_or_default(),
        comment: r.comment,
        comment_status: r.comment_status,
        defaulted: r.defaulted,
        created_at: r.created_at,
        id: r.id,
        rectification,
        follow_up,
    }
}
