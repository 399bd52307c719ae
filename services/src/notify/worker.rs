//! The delivery worker: claims due notifications and sends them as subscribe messages.
//!
//! A message goes out only if the citizen has a consent left for its template (taken before
//! sending, given back if the send did not happen). WeChat's busy answers, 45011 (minute quota),
//! 5xx and a token that cannot be had are retried with growing pauses; 43101 from
//! `subscribe/send` means the citizen's quota is gone (ledger set to 0, no retry); other
//! refusals are final. The claim is exclusive (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and
//! renewed, fenced, just before each send, so a worker never sends a message another worker
//! holds.
//!
//! WeChat's send has no idempotency key, so the rule is: a send whose request was written and
//! whose answer never came (a timeout or cut connection after connecting, or a worker that died
//! mid-send and whose lease passed) is probably delivered, `PROBABLY_SENT`: never sent again,
//! its consent counted as spent, the message in the inbox, counted in
//! `notifications_total{outcome="probably_sent"}`. Only a send that surely did not happen
//! (busy, 45011, no connection, no token) is tried again.
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

/// Sends at most this many messages at once (per worker).
pub const CONCURRENCY: usize = 16;

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
        let given_up =
            outbox::give_up_in_flight(&self.n.inner.db, self.n.inner.clock.now()).await?;
        if given_up > 0 {
            metrics::counter!("notifications_total", "outcome" => "probably_sent")
                .increment(given_up);
            tracing::warn!(
                count = given_up,
                "messages handed to WeChat by a worker that lost its lease: probably delivered, not sent again"
            );
        }
        let now = self.n.inner.clock.now();
        let batch = outbox::claim(
            &self.n.inner.db,
            now,
            now + self.lease(),
            config.batch_size.max(1),
        )
        .await?;
        let count = batch.len();
        // One citizen's messages go out in the order they were made, and after a failure the
        // rest of that citizen's batch waits too, so an "accepted" does not overtake its
        // "concluded". Different citizens' messages go out side by side.
        let mut by_citizen: BTreeMap<i64, Vec<Claimed>> = BTreeMap::new();
        for claimed in batch {
            by_citizen
                .entry(claimed.citizen_id)
                .or_default()
                .push(claimed);
        }
        futures::stream::iter(by_citizen.into_values())
            .for_each_concurrent(CONCURRENCY, |mut messages| async move {
                messages.sort_by_key(|m| m.id);
                let mut held_until = None;
                for claimed in messages {
                    let id = claimed.id;
                    let result = match held_until {
                        Some(at) => self.hold(&claimed, at).await,
                        None => self.deliver(claimed).await,
                    };
                    match result {
                        Ok(Some(retry_at)) => held_until = held_until.or(Some(retry_at)),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(
                                notification_id = id,
                                error = format!("{e:#}"),
                                "delivery failed; the lease will return it"
                            );
                            held_until = held_until.or(Some(self.until()));
                        }
                    }
                }
            })
            .await;
        Ok(count)
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.n.inner.config.lease_secs).unwrap_or(60))
    }

    /// When a claim taken or renewed now ends.
    fn until(&self) -> chrono::DateTime<Utc> {
        self.n.inner.clock.now() + self.lease()
    }

    /// Puts a message back untouched, to go after an earlier one of the same citizen.
    async fn hold(
        &self,
        claimed: &Claimed,
        until: chrono::DateTime<Utc>,
    ) -> anyhow::Result<Option<chrono::DateTime<Utc>>> {
        self.settle(claimed, Status::Pending, None, None, Some(until))
            .await?;
        Ok(Some(until))
    }

    /// Sends one message. `Some(at)`: it will be tried again at `at`.
    async fn deliver(&self, mut claimed: Claimed) -> anyhow::Result<Option<chrono::DateTime<Utc>>> {
        let inner = &self.n.inner;
        let db = &inner.db;
        let Some(template_id) = claimed.template_id.clone() else {
            self.settle(&claimed, Status::InboxOnly, None, None, None)
                .await?;
            return Ok(None);
        };
        if !outbox::renew(db, &mut claimed, self.until()).await? {
            tracing::warn!(
                notification_id = claimed.id,
                "claim passed to another worker; not sending"
            );
            return Ok(None);
        }
        let long_term = inner
            .by_template_id
            .get(&template_id)
            .and_then(|name| inner.config.templates.get(name))
            .is_some_and(|t| t.long_term);
        if !ledger::reserve(
            db,
            claimed.citizen_id,
            &template_id,
            long_term,
            inner.clock.now(),
        )
        .await?
        {
            metrics::counter!("notifications_total", "outcome" => "no_quota").increment(1);
            tracing::info!(
                notification_id = claimed.id,
                citizen_id = claimed.citizen_id,
                %template_id,
                "no consent left for the template: not sent to WeChat, inbox only"
            );
            self.settle(&claimed, Status::NoQuota, None, None, None)
                .await?;
            return Ok(None);
        }
        // From here the consent is taken: give it back on every path where nothing was sent.
        let citizen_id = claimed.citizen_id;
        let give_back = || async {
            if !long_term {
                ledger::refund(db, citizen_id, &template_id).await?;
            }
            anyhow::Ok(())
        };
        let openid = match openid_of(db, claimed.citizen_id).await {
            Ok(openid) => openid,
            Err(e) => {
                give_back().await?;
                return Err(e);
            }
        };
        // From here WeChat may act on it: a worker that dies now must not have it sent again.
        if !outbox::mark_in_flight(db, &mut claimed, self.until()).await? {
            give_back().await?;
            tracing::warn!(
                notification_id = claimed.id,
                "claim passed to another worker; not sending"
            );
            return Ok(None);
        }
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
                    .await?;
                Ok(None)
            }
            Err(e) if e.errcode() == Some(43101) => {
                ledger::exhaust(db, claimed.citizen_id, &template_id).await?;
                metrics::counter!("notifications_total", "outcome" => "no_quota").increment(1);
                tracing::warn!(
                    notification_id = claimed.id,
                    citizen_id = claimed.citizen_id,
                    %template_id,
                    "WeChat refused the message for lack of consent (43101): ledger emptied, inbox only"
                );
                self.settle(&claimed, Status::NoQuota, None, Some(e.to_string()), None)
                    .await?;
                Ok(None)
            }
            Err(e) if e.maybe_done() => {
                // The request was written and no answer came: probably delivered, and its
                // consent probably spent. Not sent again (see the module documentation).
                metrics::counter!("notifications_total", "outcome" => "probably_sent").increment(1);
                let error = crate::report::causes(&e);
                tracing::warn!(
                    notification_id = claimed.id,
                    %error,
                    "no answer from WeChat after the message was handed over: probably delivered, not sent again; inbox"
                );
                self.settle(&claimed, Status::ProbablySent, None, Some(error), None)
                    .await?;
                Ok(None)
            }
            Err(e) => {
                // Surely not sent (or refused): the consent goes back.
                give_back().await?;
                if is_retryable(&e) && claimed.attempts < inner.config.max_attempts {
                    let pause = backoff(&inner.config, claimed.attempts);
                    tracing::warn!(notification_id = claimed.id, error = %crate::report::causes(&e), ?pause, "subscribe message not sent; will retry");
                    metrics::counter!("notifications_total", "outcome" => "retry").increment(1);
                    let at = inner.clock.now() + pause;
                    self.settle(
                        &claimed,
                        Status::Pending,
                        None,
                        Some(crate::report::causes(&e)),
                        Some(at),
                    )
                    .await?;
                    Ok(Some(at))
                } else {
                    tracing::error!(notification_id = claimed.id, error = %crate::report::causes(&e), "subscribe message refused; inbox only");
                    metrics::counter!("notifications_total", "outcome" => "failed").increment(1);
                    self.settle(
                        &claimed,
                        Status::Failed,
                        None,
                        Some(crate::report::causes(&e)),
                        None,
                    )
                    .await?;
                    Ok(None)
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
            self.n.inner.clock.now(),
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

/// Worth another attempt later: WeChat did not act, and may next time. A token that cannot be
/// had is ours to fix, never the message's: retried until the attempts run out.
fn is_retryable(e: &WechatError) -> bool {
    e.is_transient()
        || e.is_rate_limited()
        || e.is_token_rejected()
        || matches!(
            e,
            WechatError::TokenRefreshTimeout | WechatError::Store(_) | WechatError::Token(_)
        )
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
