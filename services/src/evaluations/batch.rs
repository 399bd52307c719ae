//! Group commit for the one-statement rating (PostgreSQL): ratings that arrive while earlier
//! ones are being written go together into the next statement, so a burst pays one round trip,
//! one plan and one commit for many ratings instead of one each. A lone rating is written at
//! once: nothing waits for company.
//!
//! The decisions a reader needs:
//! - Every member is answered only after the statement holding its rating returned, and a
//!   statement autocommits: returned is committed. Its answer is its own row of what the
//!   statement wrote.
//! - A member the statement did not write (no open invitation of its citizen; rated already,
//!   also by an earlier member of the same batch) is answered `None`, and its caller says why
//!   as it always did (404, not open, window closed, 409). The unique index on the subject stays
//!   the referee: duplicates within a batch meet it like any others (`ON CONFLICT DO NOTHING`,
//!   the earlier arrival first).
//! - Should the statement fail as a whole, each member is written again alone, so one member's
//!   failure never takes the others down.
//! - At most `in_flight` statements run at once; whoever gets a slot takes everything waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{DatabaseBackend, DatabaseConnection, EntityTrait as _, Statement};
use serde::Serialize;
use tokio::sync::{Semaphore, oneshot};

use super::rate::{Rating, rate_in_one_statement};
use crate::province::outbox::OutboxStatus;
use entities::evaluation;

/// The most ratings in one statement; a longer queue is written in several.
const MAX_BATCH: usize = 128;

type Answer = anyhow::Result<Option<evaluation::Model>>;

struct Job {
    rating: Rating,
    reply: oneshot::Sender<Answer>,
}

/// The ratings waiting for a statement, and the slots for statements in flight.
pub(super) struct Batcher {
    queue: Mutex<Vec<Job>>,
    waiting: AtomicUsize,
    in_flight: Arc<Semaphore>,
}

impl Batcher {
    pub(super) fn new(in_flight: usize) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            in_flight: Arc::new(Semaphore::new(in_flight.max(1))),
        }
    }

    /// Ratings queued for the next statement.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    fn take(&self) -> Vec<Job> {
        let jobs = std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        self.waiting.fetch_sub(jobs.len(), Ordering::Relaxed);
        jobs
    }

    /// Writes `rating` with whatever else is waiting: the row as stored, or `None` when it was
    /// not written (see the module's comment). Returns once the statement holding it returned.
    pub(super) async fn rate(&self, db: &DatabaseConnection, rating: Rating) -> Answer {
        let (reply, mut answer) = oneshot::channel();
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.push(Job { rating, reply });
            self.waiting.fetch_add(1, Ordering::Relaxed);
        }
        let permit = tokio::select! {
            biased;
            // Another member took it along, and its statement returned.
            answered = &mut answer => return answered.context("the rating's statement was lost")?,
            permit = Arc::clone(&self.in_flight).acquire_owned() => {
                permit.context("the rating batcher is closed")?
            }
        };
        let jobs = self.take();
        if jobs.is_empty() {
            // Another member took ours along; its statement is under way.
            drop(permit);
        } else {
            // Its own task, so that a caller that goes away (the client hung up) never cancels
            // a statement that holds the others' ratings.
            let db = db.clone();
            tokio::spawn(async move {
                for chunk in chunks(jobs) {
                    write(&db, chunk).await;
                }
                drop(permit);
            });
        }
        answer.await.context("the rating's statement was lost")?
    }
}

fn chunks(mut jobs: Vec<Job>) -> Vec<Vec<Job>> {
    let mut out = Vec::with_capacity(jobs.len().div_ceil(MAX_BATCH));
    while jobs.len() > MAX_BATCH {
        let rest = jobs.split_off(MAX_BATCH);
        out.push(std::mem::replace(&mut jobs, rest));
    }
    out.push(jobs);
    out
}

/// One statement for `jobs` (those whose caller still waits), each answered from it; alone
/// each, should it fail.
async fn write(db: &DatabaseConnection, jobs: Vec<Job>) {
    // A caller gone before its rating was written: as if it never came.
    let mut jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
    if jobs.len() <= 1 {
        if let Some(job) = jobs.pop() {
            metrics::histogram!("evaluation_batch_size").record(1.0);
            let answer = rate_in_one_statement(db, &job.rating).await;
            let _ = job.reply.send(answer);
        }
        return;
    }
    #[allow(clippy::cast_precision_loss)]
    metrics::histogram!("evaluation_batch_size").record(jobs.len() as f64);
    match rate_together(db, &jobs).await {
        Ok(mut written) => {
            for job in jobs {
                let _ = job.reply.send(Ok(written.remove(&job.rating.id)));
            }
        }
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                size = jobs.len(),
                "a batch of ratings failed; each is written alone"
            );
            metrics::counter!("evaluation_batch_failures_total").increment(1);
            for job in jobs {
                let answer = rate_in_one_statement(db, &job.rating).await;
                let _ = job.reply.send(answer);
            }
        }
    }
}

/// A member as the statement reads it (`json_to_recordset`). Times go as text to the
/// microsecond, as a bound timestamp would (truncated, not rounded).
#[derive(Serialize)]
struct Member<'a> {
    n: usize,
    kind: &'static str,
    subject: &'a str,
    citizen: i64,
    since: String,
    id: &'a str,
    grade: i32,
    indicators: &'a str,
    tags: &'a str,
    comment: Option<&'a str>,
    status: &'a str,
    label: Option<i32>,
    at: String,
}

fn micros(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// [`rate_in_one_statement`] for many: the same joins, checks and writes, one row per member,
/// inserted in subject order (two batches in flight then take the unique index's entries in one
/// order) and, for one subject, in arrival order. Returns the written rows by evaluation id.
async fn rate_together(
    db: &DatabaseConnection,
    jobs: &[Job],
) -> anyhow::Result<HashMap<String, evaluation::Model>> {
    const SQL: &str = "\
        WITH batch AS ( \
            SELECT * FROM json_to_recordset($1::json) AS b(n int, kind text, subject text, \
                citizen bigint, since timestamptz, id text, grade int, indicators text, \
                tags text, comment text, status text, label int, at timestamptz) \
        ), invitation AS ( \
            SELECT b.n, b.id, b.citizen, b.grade, b.indicators, b.tags, b.comment, b.status, \
                   b.label, b.at, i.id AS invitation_id, i.subject_kind, i.subject_id, \
                   i.channel, i.hall_id, i.counter_id, i.category_id, i.staff_id, i.item_code, \
                   i.department, c.identity_verified_at IS NOT NULL AS real_name \
            FROM batch b \
            JOIN evaluation_invitations i ON i.subject_kind = b.kind AND i.subject_id = b.subject \
                 AND i.citizen_id = b.citizen AND i.invited_at > b.since \
            JOIN citizens c ON c.id = i.citizen_id \
        ), rated AS ( \
            INSERT INTO evaluations (id, subject_kind, subject_id, invitation_id, citizen_id, \
                channel, hall_id, counter_id, category_id, staff_id, item_code, department, \
                grade, indicators, tags, comment, comment_status, comment_label, defaulted, \
                real_name, created_at) \
            SELECT id, subject_kind, subject_id, invitation_id, citizen, channel, hall_id, \
                counter_id, category_id, staff_id, item_code, department, grade, indicators, \
                tags, comment, status, label, false, real_name, at \
            FROM invitation ORDER BY subject_kind, subject_id, n \
            ON CONFLICT (subject_kind, subject_id) DO NOTHING \
            RETURNING * \
        ), settled AS ( \
            UPDATE evaluation_invitations SET settled = true \
            WHERE id IN (SELECT invitation_id FROM rated) \
        ), enqueued AS ( \
            INSERT INTO evaluation_outbox (evaluation_id, status, attempts, next_attempt_at, \
                created_at, updated_at) \
            SELECT id, $2, 0, created_at, created_at, created_at FROM rated \
        ) \
        SELECT * FROM rated";
    let members: Vec<Member<'_>> = jobs
        .iter()
        .enumerate()
        .map(|(n, job)| {
            let r = &job.rating;
            Member {
                n,
                kind: r.kind.as_str(),
                subject: &r.subject_id,
                citizen: r.citizen_id,
                since: micros(r.now - r.window),
                id: &r.id,
                grade: i32::from(r.grade),
                indicators: &r.indicators,
                tags: &r.tags,
                comment: r.comment.as_deref(),
                status: r.status.as_str(),
                label: r.label,
                at: micros(r.now),
            }
        })
        .collect();
    let members = serde_json::to_string(&members).context("the batch's members")?;
    let rows = evaluation::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            SQL,
            [members.into(), OutboxStatus::Pending.as_str().into()],
        ))
        .all(db)
        .await
        .context("rate in one statement, together")?;
    Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
}
