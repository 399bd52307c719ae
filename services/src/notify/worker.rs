//! The delivery worker: claims due notifications and sends them as subscribe messages.
//!
//! A message goes out only if the citizen has a consent left for its template (taken before
//! sending, given back if the send did not happen). WeChat's busy answers, 5xx and timeouts are
//! retried with growing pauses; 43101 means the citizen's quota is gone (ledger set to 0, no
//! retry); other refusals are final. The claim is exclusive (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL) so several instances never send one message twice; only a worker that dies between
//! WeChat's answer and recording it can leave a message to be sent again after its lease.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt as _;
use rand::Rng as _;
use tokio::sync::watch;

use super::Notifications;
use super::ledger;
use super::outbox::{self, Claimed, Outcome, Status};
use crate::identity::openid_of;
use crate::wechat::{SubscribeMessage, WechatError};

/// Sends at most this many messages at once.
const CONCURRENCY: usize = 16;

/// Delivers the outbox; see the module documentation.
pub struct DeliveryWorker {
    n: Notifications,
}

impl DeliveryWorker {
    pub(super) fn new(n: Notifications) -> Self {
        Self { n }
    }

    /// Runs until `stop` turns true; finishes the batch in hand before returning.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.n.inner.config.poll_interval_ms.max(10));
        tracing::info!(?poll, "notification worker started");
        let listener = tokio::spawn(listen_for_wakes(self.n.clone(), stop.clone()));
        loop {
            if *stop.borrow() {
                break;
            }
            let handled = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "notification worker pass failed");
                    0
                }
            };
            if handled > 0 {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = self.n.inner.wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
        listener.abort();
        tracing::info!("notification worker stopped");
    }

    /// One pass: claims a batch and delivers it. Returns how many messages it handled.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let config = &self.n.inner.config;
        let lease = chrono::Duration::seconds(i64::try_from(config.lease_secs).unwrap_or(60));
        let batch = outbox::claim(
            &self.n.inner.db,
            Utc::now() + lease,
            config.batch_size.max(1),
        )
        .await?;
        let count = batch.len();
        // One citizen's messages go out in the order they were made (an "accepted" never
        // arrives after its "concluded"); different citizens' go out side by side.
        let mut by_citizen: BTreeMap<i64, Vec<Claimed>> = BTreeMap::new();
        for claimed in batch {
            by_citizen
                .entry(claimed.citizen_id)
                .or_default()
                .push(claimed);
        }
        futures::stream::iter(by_citizen.into_values())
            .for_each_concurrent(CONCURRENCY, |messages| async move {
                for claimed in messages {
                    let id = claimed.id;
                    if let Err(e) = self.deliver(claimed).await {
                        tracing::error!(
                            notification_id = id,
                            error = format!("{e:#}"),
                            "delivery failed; the lease will return it"
                        );
                    }
                }
            })
            .await;
        Ok(count)
    }

    async fn deliver(&self, claimed: Claimed) -> anyhow::Result<()> {
        let inner = &self.n.inner;
        let db = &inner.db;
        let Some(template_id) = claimed.template_id.clone() else {
            return self
                .settle(&claimed, Status::InboxOnly, None, None, None)
                .await;
        };
        let long_term = inner
            .by_template_id
            .get(&template_id)
            .and_then(|name| inner.config.templates.get(name))
            .is_some_and(|t| t.long_term);
        if !ledger::reserve(db, claimed.citizen_id, &template_id, long_term).await? {
            metrics::counter!("notifications_total", "outcome" => "no_quota").increment(1);
            return self
                .settle(&claimed, Status::NoQuota, None, None, None)
                .await;
        }
        let openid = openid_of(db, claimed.citizen_id).await?;
        let data: BTreeMap<String, String> =
            serde_json::from_str(&claimed.data).unwrap_or_default();
        let message = SubscribeMessage {
            touser: &openid,
            template_id: &template_id,
            page: claimed.page.as_deref(),
            miniprogram_state: &inner.config.miniprogram_state,
            lang: &inner.config.lang,
            data: &data,
        };
        match inner.wechat.send_subscribe_message(&message).await {
            Ok(msgid) => {
                metrics::counter!("notifications_total", "outcome" => "sent").increment(1);
                self.settle(&claimed, Status::Sent, Some(msgid), None, None)
                    .await
            }
            Err(e) if e.errcode() == Some(43101) => {
                ledger::exhaust(db, claimed.citizen_id, &template_id).await?;
                metrics::counter!("notifications_total", "outcome" => "no_quota").increment(1);
                self.settle(&claimed, Status::NoQuota, None, Some(e.to_string()), None)
                    .await
            }
            Err(e) => {
                if !long_term {
                    ledger::refund(db, claimed.citizen_id, &template_id).await?;
                }
                let retry = is_retryable(&e) && claimed.attempts < inner.config.max_attempts;
                if retry {
                    let pause = backoff(&inner.config, claimed.attempts);
                    tracing::warn!(notification_id = claimed.id, error = %e, ?pause, "subscribe message not sent; will retry");
                    metrics::counter!("notifications_total", "outcome" => "retry").increment(1);
                    let at = Utc::now() + pause;
                    self.settle(
                        &claimed,
                        Status::Pending,
                        None,
                        Some(e.to_string()),
                        Some(at),
                    )
                    .await
                } else {
                    tracing::error!(notification_id = claimed.id, error = %e, "subscribe message refused; inbox only");
                    metrics::counter!("notifications_total", "outcome" => "failed").increment(1);
                    self.settle(&claimed, Status::Failed, None, Some(e.to_string()), None)
                        .await
                }
            }
        }
    }

    async fn settle(
        &self,
        claimed: &Claimed,
        status: Status,
        msgid: Option<String>,
        error: Option<String>,
        retry_at: Option<chrono::DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        let mine = outbox::settle(
            &self.n.inner.db,
            claimed,
            Outcome {
                status,
                msgid,
                error,
                retry_at,
            },
        )
        .await?;
        if !mine {
            tracing::warn!(
                notification_id = claimed.id,
                "lease ran out before the outcome was recorded"
            );
        }
        Ok(())
    }
}

/// Turns wakes published by any instance into a local wake, for as long as the worker runs;
/// subscribes again after a lost connection (the poll covers the gap).
async fn listen_for_wakes(n: Notifications, mut stop: watch::Receiver<bool>) {
    loop {
        match n.inner.store.subscribe(super::WAKE_CHANNEL).await {
            Ok(mut wakes) => loop {
                tokio::select! {
                    wake = wakes.next() => match wake {
                        Some(_) => n.inner.wake.notify_one(),
                        None => break,
                    },
                    _ = stop.changed() => return,
                }
            },
            Err(e) => tracing::warn!(error = %e, "cannot listen for wakes; polling only"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn is_retryable(e: &WechatError) -> bool {
    e.is_transient()
        || e.is_token_rejected()
        || matches!(e, WechatError::TokenRefreshTimeout | WechatError::Store(_))
}

/// The base pause doubled per attempt, capped, with full jitter so a recovering WeChat is not
/// hit by every instance in step.
fn backoff(config: &super::NotifyConfig, attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.clamp(1, 30) - 1).unwrap_or(0);
    let ceiling = config
        .retry_base_ms
        .saturating_mul(2_u64.saturating_pow(doublings))
        .min(config.retry_max_ms)
        .max(1);
    let ms = rand::rng().random_range(ceiling / 2..=ceiling);
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}
