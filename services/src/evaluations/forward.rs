//! Every evaluation (the citizen's or the window's default) to the platform, through the shared
//! province outbox: `clientRequestId` = the evaluation's id, so lost answers, outages and
//! restarts leave one ledger entry each.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{EntityTrait as _, FromQueryResult};

use super::{Channel, CommentStatus, EvaluationService};
use crate::province::outbox::{self, Drain, Forward, Lease, Outbox, Settle};
use crate::province::{EvaluationRequest, ProvinceError};
use crate::report::causes;
use entities::{evaluation, evaluation_invitation};

#[derive(Debug, FromQueryResult)]
/// A claimed row.
pub struct Claimed {
    id: i64,
    attempts: i32,
    claimed_until: DateTime<Utc>,
    first_failure_at: Option<DateTime<Utc>>,
    evaluation_id: String,
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

/// Drains the evaluation outbox. Run one per instance; any number share the work.
#[derive(Clone)]
pub struct EvaluationForwarder {
    svc: EvaluationService,
    outbox: Outbox,
}

impl EvaluationForwarder {
    pub(super) fn new(svc: EvaluationService) -> Self {
        let outbox = Outbox::new(
            "evaluation_outbox",
            &["evaluation_id"],
            svc.inner.config.outbox.clone(),
        );
        Self { svc, outbox }
    }
}

impl Forward for EvaluationForwarder {
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
            concurrency: 8,
            what: "evaluation",
        }
    }

    async fn forward(&self, claimed: Claimed, lease: Lease) -> anyhow::Result<bool> {
        let inner = &self.svc.inner;
        let settle = self.send(&claimed.evaluation_id).await?;
        let delivered = matches!(settle, Settle::Done { .. });
        let txn = crate::db::write(&inner.db)
            .await
            .context("begin settling")?;
        let settled = self
            .outbox
            .settle(&txn, &lease, inner.clock.now(), &settle)
            .await?;
        txn.commit().await.context("commit settling")?;
        match (&settle, settled) {
            (_, outbox::Settled::Lost) => {
                tracing::warn!(outbox_id = claimed.id, "lost the claim before settling");
            }
            (Settle::Retry(reason) | Settle::Park(reason), _) => {
                metrics::counter!("evaluation_forward_failures_total").increment(1);
                tracing::warn!(outbox_id = claimed.id, attempts = claimed.attempts, %reason, ?settled, "evaluation forwarding failed");
            }
            _ => {
                metrics::counter!("evaluations_forwarded_total").increment(1);
            }
        }
        Ok(delivered)
    }
}

impl EvaluationForwarder {
    /// Sends one evaluation; the outcome to settle its row with. The outer error is transient
    /// (the database): the lease returns the row.
    async fn send(&self, evaluation_id: &str) -> anyhow::Result<Settle> {
        let inner = &self.svc.inner;
        let Some(e) = evaluation::Entity::find_by_id(evaluation_id)
            .one(&inner.db)
            .await
            .context("read the evaluation")?
        else {
            return Ok(Settle::Park(format!("evaluation {evaluation_id} is gone")));
        };
        let status = e.comment_status;
        if status == CommentStatus::Unchecked {
            // Not to be shown to anyone before WeChat has looked at it: wait for the worker.
            return Ok(Settle::Retry("the comment is not checked yet".into()));
        }
        let invitation = evaluation_invitation::Entity::find_by_id(e.invitation_id)
            .one(&inner.db)
            .await
            .context("read the invitation")?;
        let kind = e.subject_kind;
        let values: BTreeMap<String, u8> = serde_json::from_str(&e.indicators).unwrap_or_default();
        let indicators: serde_json::Map<String, serde_json::Value> = kind
            .indicators()
            .iter()
            .filter_map(|i| values.get(i.key).map(|v| (i.name.to_owned(), (*v).into())))
            .collect();
        let body = EvaluationRequest {
            client_request_id: e.id.clone(),
            sblsh: invitation.as_ref().and_then(|i| i.sblsh.clone()),
            hall_code: invitation.as_ref().and_then(|i| i.hall_code.clone()),
            window_no: invitation.as_ref().and_then(|i| i.window_no.clone()),
            channel: "3".into(),
            grade: u8::try_from(e.grade).unwrap_or(3),
            indicators: serde_json::Value::Object(indicators),
            tags: serde_json::from_str(&e.tags).unwrap_or_default(),
            // Only what may be shown; a comment in review goes without its words.
            comment: if status.visible() {
                e.comment.clone().unwrap_or_default()
            } else {
                String::new()
            },
            evaluated_at: e.created_at,
        };
        Ok(match inner.province.submit_evaluation(&body).await {
            Ok(()) => Settle::Done { note: None },
            Err(
                e @ (ProvinceError::Unavailable(_)
                | ProvinceError::CircuitOpen
                | ProvinceError::Invalid(_)),
            ) => Settle::Retry(causes(&e)),
            Err(e) => Settle::Park(causes(&e)),
        })
    }
}
