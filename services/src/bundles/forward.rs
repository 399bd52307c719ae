//! The bundle forwarder: drains `bundle_outbox` through the shared province outbox, exactly once
//! per bundle application as the platform sees it (`clientRequestId` = the bundle application's
//! id, the same body on every attempt), and on the answer opens one application per item —
//! each with its `sblsh` — joined to the bundle (province-api.md, "一件事 bundles").

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, FromQueryResult,
    QueryFilter as _,
};

use super::{BundleService, Private, bundle_private_context, part_private_context};
use crate::applications::{Delivery, FieldProblem, MaterialRef, Problem};
use crate::province::outbox::{self, Drain, Forward, Lease, Outbox, OutboxConfig, Settle, millis};
use crate::province::{BundleApplicationRequest, BundleReceipt, MaterialUpload, ProvinceError};
use crate::report::causes;
use entities::{application, bundle_application, bundle_part, item, material};

#[derive(Debug, FromQueryResult)]
/// A claimed row.
pub struct Claimed {
    id: i64,
    attempts: i32,
    claimed_until: DateTime<Utc>,
    first_failure_at: Option<DateTime<Utc>>,
    bundle_application_id: String,
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

/// How one send ended.
enum Sent {
    Delivered,
    Retry(String),
    /// Refused for good: the citizen is told what to fix.
    Final(Problem),
    Park(String),
}

/// Drains the bundle outbox. Run one per instance; any number share the work.
#[derive(Clone)]
pub struct BundleForwarder {
    svc: BundleService,
    outbox: Outbox,
}

impl BundleForwarder {
    pub(super) fn new(svc: BundleService) -> Self {
        let config = &svc.inner.config;
        let outbox = Outbox::new(
            "bundle_outbox",
            &["bundle_application_id"],
            OutboxConfig {
                lease: config.lease,
                batch: config.batch,
                retry_base: config.retry_base,
                retry_cap: config.retry_cap,
                park_after: config.park_after,
            },
        );
        Self { svc, outbox }
    }
}

impl Forward for BundleForwarder {
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
            what: "bundle",
        }
    }

    /// Citizens see what is true: theirs waits for the platform.
    async fn while_unavailable(&self) -> anyhow::Result<()> {
        let inner = &self.svc.inner;
        bundle_application::Entity::update_many()
            .col_expr(
                bundle_application::Column::Status,
                Expr::value(Delivery::Queued),
            )
            .col_expr(
                bundle_application::Column::UpdatedAt,
                Expr::value(inner.clock.now()),
            )
            .filter(bundle_application::Column::Status.eq(Delivery::Submitting))
            .exec(&inner.db)
            .await
            .context("show waiting bundles as queued")?;
        Ok(())
    }

    async fn forward(&self, claimed: Claimed, lease: Lease) -> anyhow::Result<bool> {
        let inner = &self.svc.inner;
        let sent = self.send(&claimed.bundle_application_id).await?;
        let delivered = matches!(sent, Sent::Delivered);
        let settle = match &sent {
            Sent::Delivered => Settle::Done { note: None },
            Sent::Final(p) => Settle::Done {
                note: Some(format!("{}: {}", p.code, p.message)),
            },
            Sent::Retry(reason) => Settle::Retry(reason.clone()),
            Sent::Park(reason) => Settle::Park(reason.clone()),
        };
        let now = inner.clock.now();
        let txn = crate::db::write(&inner.db)
            .await
            .context("begin settling")?;
        let settled = self.outbox.settle(&txn, &lease, now, &settle).await?;
        let mark = match (settled, &sent) {
            (outbox::Settled::Lost, _) => {
                tracing::warn!(outbox_id = claimed.id, "lost the claim before settling");
                None
            }
            (outbox::Settled::Done, Sent::Final(problem)) => {
                Some((Delivery::Invalid, Some(problem.clone())))
            }
            (outbox::Settled::Done, _) => None,
            (outbox::Settled::Parked, _) => Some((
                Delivery::Parked,
                Some(Problem {
                    code: Delivery::Parked.as_str().into(),
                    message: "暂时无法提交到省政务服务平台，工作人员正在处理".into(),
                    fields: Vec::new(),
                }),
            )),
            (outbox::Settled::Retrying, _) => Some((Delivery::Queued, None)),
        };
        if let Some((delivery, problem)) = mark {
            // Never step back from a later state.
            let mut update = bundle_application::Entity::update_many()
                .col_expr(bundle_application::Column::Status, Expr::value(delivery))
                .col_expr(bundle_application::Column::UpdatedAt, Expr::value(now))
                .filter(bundle_application::Column::Id.eq(claimed.bundle_application_id.as_str()))
                .filter(bundle_application::Column::BundleNo.is_null());
            if let Some(problem) = problem {
                update = update.col_expr(
                    bundle_application::Column::Problem,
                    Expr::value(serde_json::to_string(&problem).unwrap_or_default()),
                );
            }
            update.exec(&txn).await.context("mark the bundle")?;
        }
        txn.commit().await.context("commit settling")?;
        if let Sent::Retry(reason) | Sent::Park(reason) = &sent {
            metrics::counter!("bundle_forward_failures_total").increment(1);
            tracing::warn!(outbox_id = claimed.id, attempts = claimed.attempts, %reason, "bundle forwarding failed");
        }
        Ok(delivered)
    }
}

impl BundleForwarder {
    /// Sends one bundle application. The outer error is transient (the database, the blob
    /// store): the lease returns the row.
    async fn send(&self, id: &str) -> anyhow::Result<Sent> {
        let inner = &self.svc.inner;
        let Some(app) = bundle_application::Entity::find_by_id(id)
            .one(&inner.db)
            .await
            .context("read the bundle application")?
        else {
            return Ok(Sent::Park(format!("bundle application {id} is gone")));
        };
        if app.bundle_no.is_some() {
            return Ok(Sent::Delivered);
        }
        let stored =
            (|| -> anyhow::Result<(Private, Vec<MaterialRef>, serde_json::Value, Vec<String>)> {
                let private = serde_json::from_str(
                    &inner
                        .cipher
                        .decrypt_string(
                            &app.private_cipher,
                            &bundle_private_context(app.citizen_id),
                        )
                        .context("decrypt the bundle's private part")?,
                )
                .context("decode the bundle's private part")?;
                let refs = serde_json::from_str(&app.materials).context("decode the materials")?;
                let form = serde_json::from_str(&app.form).context("decode the form")?;
                let items = serde_json::from_str(&app.items).context("decode the items")?;
                Ok((private, refs, form, items))
            })();
        let (private, refs, form, items) = match stored {
            Ok(parts) => parts,
            Err(e) => return Ok(Sent::Park(format!("{e:#}"))),
        };
        let materials = match self.load_materials(&refs, app.citizen_id).await? {
            Ok(m) => m,
            Err(sent) => return Ok(sent),
        };
        let body = BundleApplicationRequest {
            client_request_id: app.id.clone(),
            bundle_code: app.bundle_code.clone(),
            items,
            applicant: private.applicant.clone(),
            agent: private.agent.clone(),
            channel: "3".into(),
            form,
            materials,
            obtain_way: u8::try_from(app.obtain_way).unwrap_or(0),
            post_address: private.post_address.clone(),
            submitted_at: app.submitted_at,
        };
        match inner.province.submit_bundle(&body).await {
            Ok(receipt) => {
                self.record(&app, &private, &receipt).await?;
                inner.notifications.wake().await;
                metrics::counter!("bundle_applications_forwarded_total", "replayed" => receipt.replayed.to_string())
                    .increment(1);
                tracing::info!(bundle_application_id = %app.id, bundle_no = %receipt.bundle_no, parts = receipt.cases.len(), replayed = receipt.replayed, "bundle application delivered");
                Ok(Sent::Delivered)
            }
            Err(e) => Ok(judge(e)),
        }
    }

    async fn load_materials(
        &self,
        refs: &[MaterialRef],
        citizen_id: i64,
    ) -> anyhow::Result<Result<Vec<MaterialUpload>, Sent>> {
        let inner = &self.svc.inner;
        let ids: Vec<&str> = refs.iter().map(|r| r.material_id.as_str()).collect();
        let rows = if ids.is_empty() {
            Vec::new()
        } else {
            material::Entity::find()
                .filter(material::Column::CitizenId.eq(citizen_id))
                .filter(material::Column::Id.is_in(ids))
                .all(&inner.db)
                .await
                .context("read the materials")?
        };
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let Some(row) = rows.iter().find(|m| m.id == r.material_id) else {
                return Ok(Err(Sent::Park(format!(
                    "material {} is gone",
                    r.material_id
                ))));
            };
            let Some(bytes) = inner.blobs.get(&row.sha256).await? else {
                return Ok(Err(Sent::Retry(format!(
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

    /// Records the platform's answer in one transaction: the bundle's number, and one
    /// application per part with its `sblsh`, joined to the bundle. Then the events of the parts
    /// that came before we knew their numbers are projected.
    async fn record(
        &self,
        app: &bundle_application::Model,
        private: &Private,
        receipt: &BundleReceipt,
    ) -> anyhow::Result<()> {
        let inner = &self.svc.inner;
        let now = millis(inner.clock.now());
        let items: Vec<String> = serde_json::from_str(&app.items).context("decode the items")?;
        let catalogue = item::Entity::find()
            .filter(item::Column::ItemCode.is_in(items.iter().map(String::as_str)))
            .all(&inner.db)
            .await
            .context("read the parts' items")?;
        let private_text = serde_json::to_string(private).context("encode the private part")?;
        let txn = crate::db::write(&inner.db)
            .await
            .context("begin recording the bundle")?;
        let recorded = bundle_application::Entity::update_many()
            .col_expr(
                bundle_application::Column::BundleNo,
                Expr::value(receipt.bundle_no.clone()),
            )
            .col_expr(
                bundle_application::Column::ReceivedAt,
                Expr::value(receipt.received_at),
            )
            .col_expr(
                bundle_application::Column::Status,
                Expr::value(Delivery::Submitted),
            )
            .col_expr(
                bundle_application::Column::Problem,
                Expr::value(Option::<String>::None),
            )
            .col_expr(bundle_application::Column::UpdatedAt, Expr::value(now))
            .filter(bundle_application::Column::Id.eq(app.id.as_str()))
            .filter(bundle_application::Column::BundleNo.is_null())
            .exec(&txn)
            .await
            .context("record the bundle number")?;
        if recorded.rows_affected == 0 {
            // Another forwarder recorded it first.
            return Ok(());
        }
        let poll_due = now
            + chrono::Duration::from_std(inner.config.reconcile_after)
                .unwrap_or_else(|_| chrono::Duration::minutes(30));
        let mut sblshs = Vec::with_capacity(receipt.cases.len());
        for case in &receipt.cases {
            let position = items
                .iter()
                .position(|c| *c == case.item_code)
                .unwrap_or(items.len());
            let it = catalogue.iter().find(|i| i.item_code == case.item_code);
            let item_name = it.map_or(case.item_code.as_str(), |i| i.name.as_str());
            let part_id = uuid::Uuid::now_v7().to_string();
            insert_part(
                &txn,
                application::Model {
                    id: part_id.clone(),
                    citizen_id: app.citizen_id,
                    item_code: case.item_code.clone(),
                    handle_item_code: it.map(|i| i.handle_item_code.clone()).unwrap_or_default(),
                    // The bundle's name goes wherever the part's does: every notice names it.
                    item_name: part_name(&app.bundle_name, item_name),
                    idempotency_key: None,
                    fingerprint: None,
                    form: app.form.clone(),
                    materials: app.materials.clone(),
                    obtain_way: app.obtain_way,
                    private_cipher: inner
                        .cipher
                        .encrypt_str(&private_text, &part_private_context(app.citizen_id)),
                    on_behalf: app.on_behalf,
                    status: Delivery::Submitted,
                    phase: None,
                    case_version: 0,
                    sblsh: Some(case.sblsh.clone()),
                    received_at: Some(receipt.received_at),
                    problem: None,
                    tracking_no: None,
                    submitted_at: app.submitted_at,
                    updated_at: now,
                    last_event_at: None,
                    polled_at: None,
                    poll_due_at: Some(poll_due),
                    member_id: app.member_id,
                },
            )
            .await?;
            bundle_part::Entity::insert(bundle_part::ActiveModel {
                application_id: Set(part_id),
                bundle_application_id: Set(app.id.clone()),
                item_code: Set(case.item_code.clone()),
                sblsh: Set(case.sblsh.clone()),
                position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
            })
            .exec_without_returning(&txn)
            .await
            .context("join the part to its bundle")?;
            sblshs.push(case.sblsh.clone());
        }
        txn.commit().await.context("commit the bundle's parts")?;
        // Events that came before we knew the numbers join now (and once more for an event
        // committed while we recorded, as the applications do).
        self.svc.inner.applications.project_cases(&sblshs).await?;
        Ok(())
    }
}

/// A part's name: the bundle's and the item's, so that every notice and list names the bundle.
pub(super) fn part_name(bundle_name: &str, item_name: &str) -> String {
    let name = format!("{bundle_name}·{item_name}");
    name.chars().take(200).collect()
}

async fn insert_part(txn: &impl ConnectionTrait, row: application::Model) -> anyhow::Result<()> {
    application::Entity::insert(application::ActiveModel::from(row))
        .exec_without_returning(txn)
        .await
        .context("open the part's application")?;
    Ok(())
}

/// How a failed send settles: a refusal the citizen can fix is final, an outage retried, the
/// rest an operator's.
fn judge(e: ProvinceError) -> Sent {
    match e {
        ProvinceError::Rejected {
            status: 422,
            code,
            message,
            fields,
        } => Sent::Final(Problem {
            code,
            message,
            fields: fields
                .into_iter()
                .map(|(field, reason)| FieldProblem { field, reason })
                .collect(),
        }),
        ProvinceError::Rejected { status: 413, .. } => Sent::Final(Problem {
            code: "TOO_LARGE".into(),
            message: "材料过大，请压缩后重新申请".into(),
            fields: Vec::new(),
        }),
        e @ (ProvinceError::Unavailable(_)
        | ProvinceError::CircuitOpen
        | ProvinceError::Invalid(_)) => Sent::Retry(causes(&e)),
        e => Sent::Park(causes(&e)),
    }
}
