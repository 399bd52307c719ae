//! The forwarder: drains the province outbox, exactly once per application as the platform sees
//! it, and the reconciler that polls cases whose callbacks are overdue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, FromQueryResult,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, RuntimeErr,
};
use serde_json::json;

use super::{
    ApplicationService, Delivery, FieldProblem, MaterialRef, Private, Problem, events,
    private_context,
};
use crate::notify::NotificationKind;
use crate::province::outbox::{
    self, Claimed as _, Drain, Forward, Lease, Outbox, OutboxConfig, Settle, millis,
};
use crate::province::{
    ApplicationRequest, MaterialUpload, ProvinceError, SubmitReceipt, SupplementRequest,
};
use crate::report::causes;
use entities::{application, case_number_dispute, material, province_outbox, supplement};

pub(super) use crate::province::outbox::OutboxStatus;
const APPLICATION: &str = "APPLICATION";
const SUPPLEMENT: &str = "SUPPLEMENT";

/// Adds the outbox row of an application (or of one of its supplements) to the caller's
/// transaction.
pub(super) async fn enqueue(
    txn: &impl ConnectionTrait,
    application_id: &str,
    supplement_id: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    province_outbox::Entity::insert(province_outbox::ActiveModel {
        kind: Set(if supplement_id.is_some() {
            SUPPLEMENT
        } else {
            APPLICATION
        }
        .to_owned()),
        application_id: Set(application_id.to_owned()),
        supplement_id: Set(supplement_id.map(str::to_owned)),
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
    .context("enqueue for the province")?;
    Ok(())
}

/// Returns the application's parked rows to the queue; how many.
pub(super) async fn unpark(
    txn: &impl ConnectionTrait,
    application_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let unparked = outbox_of(&super::ApplicationConfig::default())
        .unpark(
            txn,
            Expr::col(province_outbox::Column::ApplicationId).eq(application_id),
            now,
        )
        .await?;
    if unparked > 0 {
        application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(Delivery::Queued))
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .filter(application::Column::Id.eq(application_id))
            .filter(application::Column::Status.eq(Delivery::Parked))
            .exec(txn)
            .await
            .context("requeue the application")?;
        supplement::Entity::update_many()
            .col_expr(supplement::Column::Status, Expr::value(Delivery::Queued))
            .col_expr(supplement::Column::UpdatedAt, Expr::value(now))
            .filter(supplement::Column::ApplicationId.eq(application_id))
            .filter(supplement::Column::Status.eq(Delivery::Parked))
            .exec(txn)
            .await
            .context("requeue the supplements")?;
    }
    Ok(unparked)
}

/// The province outbox of applications and supplements, drained as `config` says.
fn outbox_of(config: &super::ApplicationConfig) -> Outbox {
    Outbox::new(
        "province_outbox",
        &["kind", "application_id", "supplement_id"],
        OutboxConfig {
            lease: config.lease,
            batch: config.batch,
            retry_base: config.retry_base,
            retry_cap: config.retry_cap,
            park_after: config.park_after,
        },
    )
}

#[derive(Debug, FromQueryResult)]
/// A claimed row.
pub struct Claimed {
    id: i64,
    kind: String,
    application_id: String,
    supplement_id: Option<String>,
    attempts: i32,
    claimed_until: DateTime<Utc>,
    first_failure_at: Option<DateTime<Utc>>,
}

impl outbox::Claimed for Claimed {
    fn lease(&self) -> Lease {
        Lease {
            id: self.id,
            attempts: self.attempts,
            claimed_until: self.claimed_until,
            first_failure_at: self.first_failure_at,
        }
    }
}

/// What happened to one outbox row.
enum Settled {
    Delivered,
    Retry(String),
    Final(Problem),
    Park(String),
}

/// Sends what the outbox holds, and polls overdue cases. Run one per instance; any number of
/// instances share the work.
#[derive(Clone)]
pub struct Forwarder {
    svc: ApplicationService,
    outbox: Outbox,
    /// When this forwarder last polled overdue cases.
    last_reconcile: Arc<Mutex<tokio::time::Instant>>,
}

impl Forwarder {
    pub(super) fn new(svc: ApplicationService) -> Self {
        let outbox = outbox_of(&svc.inner.config);
        Self {
            svc,
            outbox,
            last_reconcile: Arc::new(Mutex::new(tokio::time::Instant::now())),
        }
    }
}

impl Forward for Forwarder {
    type Row = Claimed;

    fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    fn drain(&self) -> Drain<'_> {
        let inner = &self.svc.inner;
        Drain {
            db: &inner.db,
            clock: &inner.clock,
            province: &inner.province,
            wake: &inner.wake,
            opened: &inner.breaker_opened,
            concurrency: inner.config.concurrency,
            what: "application",
        }
    }

    /// Citizens see what is true: theirs waits for the platform (a cheap indexed update,
    /// nothing when nothing is new).
    async fn while_unavailable(&self) -> anyhow::Result<()> {
        let inner = &self.svc.inner;
        let now = inner.clock.now();
        application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(Delivery::Queued))
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .filter(application::Column::Status.eq(Delivery::Submitting))
            .exec(&inner.db)
            .await
            .context("show waiting applications as queued")?;
        Ok(())
    }

    /// Sends one claimed row and records the outcome; true when the platform took it.
    async fn forward(&self, mut claimed: Claimed, lease: Lease) -> anyhow::Result<bool> {
        claimed.claimed_until = lease.claimed_until;
        let outcome = match claimed.kind.as_str() {
            APPLICATION => self.send_application(&claimed).await?,
            SUPPLEMENT => self.send_supplement(&claimed).await?,
            other => Settled::Park(format!("unknown outbox kind {other}")),
        };
        let delivered = matches!(outcome, Settled::Delivered);
        self.settle(&claimed, outcome).await?;
        Ok(delivered)
    }

    /// Polls overdue cases, at most every `every` (and every 10 s).
    async fn between_rounds(&self, every: Duration) {
        let due = {
            let mut last = self
                .last_reconcile
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = last.elapsed() >= every.max(Duration::from_secs(10));
            if due {
                *last = tokio::time::Instant::now();
            }
            due
        };
        if due && let Err(e) = self.reconcile_once().await {
            tracing::error!(error = %format!("{e:#}"), "reconciling round failed");
        }
    }
}

impl Forwarder {
    /// The materials with their bytes. The outer error is transient (the database or the blob
    /// store failed: the lease returns the row); the inner one settles the row: parked when a
    /// material's row is gone, retried when its bytes are not in this instance's store.
    async fn load_materials(
        &self,
        refs: &[MaterialRef],
        citizen_id: i64,
    ) -> anyhow::Result<Result<Vec<MaterialUpload>, Settled>> {
        let inner = &self.svc.inner;
        let ids: Vec<String> = refs.iter().map(|r| r.material_id.clone()).collect();
        let rows = super::own_materials(&inner.db, citizen_id, &ids).await?;
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let Some(row): Option<&material::Model> = rows.iter().find(|m| m.id == r.material_id)
            else {
                return Ok(Err(Settled::Park(format!(
                    "material {} is gone",
                    r.material_id
                ))));
            };
            let Some(bytes) = inner.blobs.get(&row.sha256).await? else {
                // Not here: with a materials directory that is not shared, another instance
                // may hold them. Retried, and parked after `park_after` like any failure.
                return Ok(Err(Settled::Retry(format!(
                    "the bytes of material {} are not in this instance's store",
                    row.id
                ))));
            };
            let name = row.file_name.clone().unwrap_or_else(|| r.code.clone());
            out.push(MaterialUpload::from_bytes(
                &r.code,
                &name,
                &row.content_type,
                &bytes,
            ));
        }
        Ok(Ok(out))
    }

    async fn send_application(&self, claimed: &Claimed) -> anyhow::Result<Settled> {
        let inner = &self.svc.inner;
        let app = application::Entity::find_by_id(claimed.application_id.as_str())
            .one(&inner.db)
            .await?
            .context("the outbox row's application is gone")?;
        if app.sblsh.is_some() {
            return Ok(Settled::Delivered);
        }
        // What is stored and cannot be read will not be readable next time either: an
        // operator's matter (a key rotated away, a row edited by hand), not a retry.
        let stored = (|| -> anyhow::Result<(Private, Vec<MaterialRef>, serde_json::Value)> {
            let private = serde_json::from_str(
                &inner
                    .cipher
                    .decrypt_string(&app.private_cipher, &private_context(app.citizen_id))
                    .context("decrypt the application's private part")?,
            )
            .context("decode the application's private part")?;
            let refs = serde_json::from_str(&app.materials).context("decode the materials")?;
            let form = serde_json::from_str(&app.form).context("decode the form")?;
            Ok((private, refs, form))
        })();
        let (private, refs, form) = match stored {
            Ok(parts) => parts,
            Err(e) => return Ok(Settled::Park(format!("{e:#}"))),
        };
        let materials = match self.load_materials(&refs, app.citizen_id).await? {
            Ok(m) => m,
            Err(settled) => return Ok(settled),
        };
        let body = ApplicationRequest {
            client_request_id: app.id.clone(),
            item_code: app.item_code.clone(),
            handle_item_code: app.handle_item_code.clone(),
            applicant: private.applicant,
            agent: private.agent,
            channel: "3".into(),
            form,
            materials,
            obtain_way: u8::try_from(app.obtain_way).unwrap_or(0),
            post_address: private.post_address,
            submitted_at: app.submitted_at,
        };
        // Events of the case may come from this moment on (the platform calls back at once).
        let sent_at = millis(inner.clock.now());
        match inner.province.submit_application(&body).await {
            Ok(receipt) => match self.record_receipt(&app, &receipt).await {
                Ok(()) => {
                    inner.notifications.wake().await;
                    metrics::counter!("applications_forwarded_total", "replayed" => receipt.replayed.to_string())
                        .increment(1);
                    tracing::info!(application_id = %app.id, sblsh = %receipt.sblsh, replayed = receipt.replayed, "application delivered");
                    Ok(Settled::Delivered)
                }
                // The same write would fail the same way next time: sending again (the platform
                // answers the same sblsh for the same clientRequestId) would loop for ever.
                Err(e) if permanent_db_error(&e) => {
                    let reason = self.dispute(&app, &receipt, sent_at, &e).await?;
                    tracing::error!(application_id = %app.id, sblsh = %receipt.sblsh, error = %format!("{e:#}"), %reason, "the platform's answer cannot be recorded; parked for an operator");
                    metrics::counter!("applications_unrecordable_total").increment(1);
                    Ok(Settled::Park(reason))
                }
                // A lost connection, a busy database: the lease returns the row, and the
                // platform's idempotency makes the resend harmless.
                Err(e) => Err(e),
            },
            Err(e) => Ok(self.judge(e)),
        }
    }

    /// Records the platform's answer: the sblsh on the application, and the events of the
    /// case that came before we knew it.
    async fn record_receipt(
        &self,
        app: &application::Model,
        receipt: &SubmitReceipt,
    ) -> anyhow::Result<()> {
        let inner = &self.svc.inner;
        let now = inner.clock.now();
        let txn = crate::db::write(&inner.db)
            .await
            .context("begin recording the sblsh")?;
        let recorded = application::Entity::update_many()
            .col_expr(
                application::Column::Sblsh,
                Expr::value(receipt.sblsh.clone()),
            )
            .col_expr(
                application::Column::ReceivedAt,
                Expr::value(receipt.received_at),
            )
            .col_expr(
                application::Column::Status,
                Expr::value(Delivery::Submitted),
            )
            .col_expr(
                application::Column::Problem,
                Expr::value(Option::<String>::None),
            )
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                application::Column::PollDueAt,
                Expr::value(now + reconcile_after(&inner.config)),
            )
            .filter(application::Column::Id.eq(app.id.as_str()))
            .filter(application::Column::Sblsh.is_null())
            .exec(&txn)
            .await
            .context("record the sblsh")?;
        if recorded.rows_affected == 1 {
            // Events that came before we knew the sblsh (a lost answer) join now.
            events::project(&self.svc, &txn, &receipt.sblsh, None).await?;
        }
        txn.commit().await.context("commit the sblsh")?;
        // An event committed while we recorded the sblsh saw no application, and we did not
        // see it: project once more now that both are visible.
        if recorded.rows_affected == 1 {
            let again = crate::db::write(&inner.db)
                .await
                .context("begin projecting again")?;
            events::project(&self.svc, &again, &receipt.sblsh, None).await?;
            again.commit().await.context("commit projecting again")?;
        }
        Ok(())
    }

    /// The reason to park an application whose answer cannot be recorded. When the platform
    /// gave a case number another application holds, the number is marked disputed: its events
    /// received from `sent_at` on (they may be this case's) are attached to neither
    /// application, and the holder is no longer polled, until an operator has looked.
    async fn dispute(
        &self,
        app: &application::Model,
        receipt: &SubmitReceipt,
        sent_at: DateTime<Utc>,
        error: &anyhow::Error,
    ) -> anyhow::Result<String> {
        let inner = &self.svc.inner;
        let holder = application::Entity::find()
            .filter(application::Column::Sblsh.eq(receipt.sblsh.as_str()))
            .filter(application::Column::Id.ne(app.id.as_str()))
            .one(&inner.db)
            .await
            .context("find the holder of the sblsh")?;
        let Some(holder) = holder else {
            return Ok(format!(
                "the platform took it as {}, but recording that fails for good: {error:#}",
                receipt.sblsh
            ));
        };
        let now = millis(inner.clock.now());
        let txn = crate::db::write(&inner.db)
            .await
            .context("begin the dispute")?;
        case_number_dispute::Entity::insert(case_number_dispute::ActiveModel {
            sblsh: Set(receipt.sblsh.clone()),
            held_by: Set(holder.id.clone()),
            refused: Set(app.id.clone()),
            since: Set(sent_at),
            detected_at: Set(now),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(case_number_dispute::Column::Sblsh)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .context("record the dispute")?;
        application::Entity::update_many()
            .col_expr(
                application::Column::PollDueAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(application::Column::Id.eq(holder.id.as_str()))
            .exec(&txn)
            .await
            .context("stop polling the holder")?;
        txn.commit().await.context("commit the dispute")?;
        Ok(format!(
            "the platform gave case number {} that application {} already holds (the platform reissued it); its events from {} on are attached to neither",
            receipt.sblsh,
            holder.id,
            sent_at.to_rfc3339()
        ))
    }

    async fn send_supplement(&self, claimed: &Claimed) -> anyhow::Result<Settled> {
        let inner = &self.svc.inner;
        let supplement_id = claimed
            .supplement_id
            .as_deref()
            .context("a supplement row without its supplement")?;
        let row = supplement::Entity::find_by_id(supplement_id)
            .one(&inner.db)
            .await?
            .context("the supplement is gone")?;
        let app = application::Entity::find_by_id(row.application_id.as_str())
            .one(&inner.db)
            .await?
            .context("the supplement's application is gone")?;
        let Some(sblsh) = app.sblsh.clone() else {
            return Ok(Settled::Retry("the application has no sblsh yet".into()));
        };
        let refs: Vec<MaterialRef> = match serde_json::from_str(&row.materials) {
            Ok(refs) => refs,
            Err(e) => {
                return Ok(Settled::Park(format!(
                    "decode the supplement's materials: {e}"
                )));
            }
        };
        let materials = match self.load_materials(&refs, app.citizen_id).await? {
            Ok(m) => m,
            Err(settled) => return Ok(settled),
        };
        let body = SupplementRequest {
            client_request_id: row.id.clone(),
            materials,
            note: row.note.clone(),
        };
        match inner.province.submit_supplement(&sblsh, &body).await {
            Ok(version) => {
                let now = inner.clock.now();
                supplement::Entity::update_many()
                    .col_expr(supplement::Column::Status, Expr::value(Delivery::Submitted))
                    .col_expr(
                        supplement::Column::ResultVersion,
                        Expr::value(i64::try_from(version).unwrap_or(i64::MAX)),
                    )
                    .col_expr(supplement::Column::UpdatedAt, Expr::value(now))
                    .filter(supplement::Column::Id.eq(row.id.as_str()))
                    .exec(&inner.db)
                    .await
                    .context("record the supplement's delivery")?;
                metrics::counter!("supplements_forwarded_total").increment(1);
                Ok(Settled::Delivered)
            }
            Err(e) => Ok(self.judge(e)),
        }
    }

    /// Writes the outcome, fenced by the claim: a row whose lease passed to another forwarder
    /// is left to it.
    async fn settle(&self, claimed: &Claimed, outcome: Settled) -> anyhow::Result<()> {
        let inner = &self.svc.inner;
        let now = inner.clock.now();
        let txn = crate::db::write(&inner.db).await?;
        let settle = match &outcome {
            Settled::Delivered => Settle::Done { note: None },
            Settled::Final(problem) => Settle::Done {
                note: Some(format!("{}: {}", problem.code, problem.message)),
            },
            Settled::Park(reason) => Settle::Park(reason.clone()),
            Settled::Retry(reason) => Settle::Retry(reason.clone()),
        };
        let (delivery, problem) = match self
            .outbox
            .settle(&txn, &claimed.lease(), now, &settle)
            .await?
        {
            outbox::Settled::Lost => {
                tracing::warn!(
                    outbox_id = claimed.id,
                    "lost the claim before settling; leaving the row to its new owner"
                );
                return Ok(());
            }
            outbox::Settled::Done => match &outcome {
                Settled::Final(problem) => (Some(Delivery::Invalid), Some(problem.clone())),
                _ => (None, None),
            },
            outbox::Settled::Parked => (Some(Delivery::Parked), Some(parked_problem())),
            outbox::Settled::Retrying => (Some(Delivery::Queued), None),
        };
        if let Some(delivery) = delivery {
            self.mark(&txn, claimed, delivery, problem.as_ref(), now)
                .await?;
        }
        txn.commit().await?;
        if matches!(outcome, Settled::Final(_)) {
            inner.notifications.wake().await;
        }
        if let Settled::Retry(reason) | Settled::Park(reason) = &outcome {
            metrics::counter!("province_forward_failures_total").increment(1);
            tracing::warn!(outbox_id = claimed.id, attempts = claimed.attempts, %reason, ?delivery, "forwarding failed");
        }
        Ok(())
    }

    /// Shows a delivery state on the application or supplement; a refused application tells
    /// its citizen what to fix.
    async fn mark(
        &self,
        txn: &impl ConnectionTrait,
        claimed: &Claimed,
        delivery: Delivery,
        problem: Option<&Problem>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let problem_text = problem.map(|p| serde_json::to_string(p).unwrap_or_default());
        // Never step back from a later state; and a queued one stays queued without a write per
        // failed attempt.
        let changeable: &[Delivery] = if delivery == Delivery::Queued {
            &[Delivery::Submitting]
        } else {
            &[Delivery::Submitting, Delivery::Queued, Delivery::Parked]
        };
        if let Some(supplement_id) = &claimed.supplement_id {
            supplement::Entity::update_many()
                .col_expr(supplement::Column::Status, Expr::value(delivery))
                .col_expr(supplement::Column::Problem, Expr::value(problem_text))
                .col_expr(supplement::Column::UpdatedAt, Expr::value(now))
                .filter(supplement::Column::Id.eq(supplement_id.as_str()))
                .filter(supplement::Column::Status.is_in(changeable.iter().copied()))
                .exec(txn)
                .await?;
            return Ok(());
        }
        let changed = application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(delivery.as_str()))
            .col_expr(application::Column::Problem, Expr::value(problem_text))
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .filter(application::Column::Id.eq(claimed.application_id.as_str()))
            .filter(application::Column::Status.is_in(changeable.iter().copied()))
            .exec(txn)
            .await?;
        if delivery == Delivery::Invalid
            && changed.rows_affected == 1
            && let Some(problem) = problem
            && let Some(app) = application::Entity::find_by_id(claimed.application_id.as_str())
                .one(txn)
                .await?
        {
            let reasons: Vec<&str> = problem.fields.iter().map(|f| f.reason.as_str()).collect();
            let reason = if reasons.is_empty() {
                problem.message.clone()
            } else {
                format!("申请信息有误：{}", reasons.join("；"))
            };
            self.svc
                .inner
                .notifications
                .notify(
                    txn,
                    app.citizen_id,
                    NotificationKind::CaseRejected,
                    &json!({
                        "application_id": app.id,
                        "item_name": app.item_name,
                        "reason": reason,
                        "at": now.to_rfc3339(),
                    }),
                    &format!("application-invalid:{}", app.id),
                )
                .await
                .context("notify the refusal")?;
        }
        Ok(())
    }

    /// One reconciling round: polls live cases whose `poll_due_at` has come (no event for
    /// `reconcile_after`), each claimed by moving that time on with a compare-and-set, so two
    /// instances never poll the same case in a round. An index on `poll_due_at` keeps this a
    /// short range scan however many cases there are.
    /// Returns how many cases were polled.
    ///
    /// # Errors
    /// The database cannot be reached.
    pub async fn reconcile_once(&self) -> anyhow::Result<usize> {
        let inner = &self.svc.inner;
        let now = millis(inner.clock.now());
        let candidates = application::Entity::find()
            .filter(application::Column::PollDueAt.lte(now))
            .order_by_asc(application::Column::PollDueAt)
            .limit(50)
            .all(&inner.db)
            .await
            .context("find overdue cases")?;
        let mut polled = 0;
        for app in candidates {
            let Some(sblsh) = app.sblsh.clone() else {
                continue;
            };
            let claim = application::Entity::update_many()
                .col_expr(application::Column::PolledAt, Expr::value(now))
                .col_expr(
                    application::Column::PollDueAt,
                    Expr::value(now + reconcile_after(&inner.config)),
                )
                .filter(application::Column::Id.eq(app.id.as_str()))
                .filter(application::Column::PollDueAt.eq(app.poll_due_at));
            if claim.exec(&inner.db).await?.rows_affected == 0 {
                continue;
            }
            polled += 1;
            match inner.province.case_state(&sblsh).await {
                Ok(state) => {
                    let outcome = self
                        .svc
                        .record_events(&state.events, super::EventSource::Poll)
                        .await;
                    match outcome {
                        Ok(o) if o.stored > 0 => {
                            tracing::info!(%sblsh, stored = o.stored, "polling found events the callbacks had not brought");
                            metrics::counter!("case_events_recovered_total")
                                .increment(o.stored as u64);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(%sblsh, error = %causes(&e), "polled events not recorded")
                        }
                    }
                }
                Err(e) => tracing::warn!(%sblsh, error = %causes(&e), "polling a case failed"),
            }
        }
        Ok(polled)
    }
}

impl Forwarder {
    fn judge(&self, e: ProvinceError) -> Settled {
        if matches!(e, ProvinceError::CircuitOpen) {
            self.svc
                .inner
                .breaker_opened
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        judge(e)
    }
}

/// A database error that the same statement meets again: a constraint (the unique index on
/// `applications.sblsh` …), a value the column cannot take, a schema without what the code
/// expects. A lost connection, a busy or locked database and a serialisation failure may pass.
fn permanent_db_error(e: &anyhow::Error) -> bool {
    let Some(db) = e.chain().find_map(|c| c.downcast_ref::<DbErr>()) else {
        return false;
    };
    if db.sql_err().is_some() {
        return true;
    }
    let (DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner))) =
        db
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(database) = &**inner else {
        return false;
    };
    database.code().is_some_and(|code| permanent_code(&code))
}

/// PostgreSQL's SQLSTATE classes 22 (data), 23 (integrity) and 42 (syntax, undefined object);
/// SQLite's primary result codes 1 (SQL error), 18 (too big), 19 (constraint), 20 (mismatch).
fn permanent_code(code: &str) -> bool {
    match code.parse::<u32>() {
        Ok(sqlite) if code.len() < 5 || sqlite > 99_999 => {
            matches!(sqlite & 0xff, 1 | 18 | 19 | 20)
        }
        _ => code.len() == 5 && ["22", "23", "42"].iter().any(|c| code.starts_with(c)),
    }
}

/// How long a live case may go without an event before it is polled.
pub(super) fn reconcile_after(config: &super::ApplicationConfig) -> chrono::Duration {
    chrono::Duration::from_std(config.reconcile_after)
        .unwrap_or_else(|_| chrono::Duration::minutes(30))
}

fn parked_problem() -> Problem {
    Problem {
        code: Delivery::Parked.as_str().into(),
        message: "提交遇到问题，工作人员正在处理，无需重复提交".into(),
        fields: Vec::new(),
    }
}

/// Sorts a failed call: retry later, refused for good (the citizen must fix it), or an
/// operator's matter.
fn judge(e: ProvinceError) -> Settled {
    match e {
        ProvinceError::Unavailable(_) | ProvinceError::CircuitOpen | ProvinceError::Invalid(_) => {
            Settled::Retry(causes(&e))
        }
        ProvinceError::Rejected {
            status: 422 | 413,
            code,
            message,
            fields,
        } => Settled::Final(Problem {
            code,
            message: if message.trim().is_empty() {
                "省平台退回了申请，请按提示修改后重新提交".into()
            } else {
                message
            },
            fields: fields
                .into_iter()
                .map(|(field, reason)| FieldProblem { field, reason })
                .collect(),
        }),
        ProvinceError::Rejected { .. } | ProvinceError::NotFound => Settled::Park(causes(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_reason_carries_the_whole_cause_chain_on_one_line() {
        let invalid = ProvinceError::Invalid(
            anyhow::anyhow!("sblsh is empty").context("read the platform's receipt"),
        );
        let Settled::Retry(reason) = judge(invalid) else {
            panic!("an invalid answer is retried");
        };
        assert_eq!(
            reason,
            "the platform answered something invalid: read the platform's receipt: sblsh is empty"
        );
        let down = ProvinceError::Unavailable(anyhow::anyhow!("connection refused"));
        let Settled::Retry(reason) = judge(down) else {
            panic!("an outage is retried");
        };
        assert!(reason.ends_with(": connection refused"), "{reason}");
    }

    #[test]
    fn only_errors_the_same_write_meets_again_are_permanent() {
        // PostgreSQL: unique violation, value too long, undefined column; serialisation failure,
        // deadlock, lost connection.
        for code in ["23505", "22001", "42703"] {
            assert!(permanent_code(code), "{code}");
        }
        for code in ["40001", "40P01", "08006", "57P01"] {
            assert!(!permanent_code(code), "{code}");
        }
        // SQLite: UNIQUE (2067), NOT NULL (1299), generic error; busy, locked, I/O.
        for code in ["2067", "1299", "1"] {
            assert!(permanent_code(code), "{code}");
        }
        for code in ["5", "517", "6", "10"] {
            assert!(!permanent_code(code), "{code}");
        }
        let lost = anyhow::Error::new(DbErr::Conn(RuntimeErr::Internal("gone".into())))
            .context("record the sblsh");
        assert!(!permanent_db_error(&lost));
    }

    #[test]
    fn refusals_are_sorted_by_who_can_fix_them() {
        let rejected = |status: u16| ProvinceError::Rejected {
            status,
            code: "X".into(),
            message: "m".into(),
            fields: vec![("applicant.certNo".into(), "bad".into())],
        };
        assert!(matches!(judge(rejected(422)), Settled::Final(p) if p.fields.len() == 1));
        assert!(matches!(judge(rejected(413)), Settled::Final(_)));
        assert!(matches!(judge(rejected(409)), Settled::Park(_)));
        assert!(matches!(judge(rejected(401)), Settled::Park(_)));
        assert!(matches!(
            judge(ProvinceError::CircuitOpen),
            Settled::Retry(_)
        ));
        assert!(matches!(
            judge(ProvinceError::Unavailable(anyhow::anyhow!("down"))),
            Settled::Retry(_)
        ));
    }
}
