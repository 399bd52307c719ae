//! Telling citizens things: the one service every capability uses.
//!
//! [`Notifications::notify`] writes one row inside the caller's own transaction, so a
//! notification exists if and only if the change that caused it was committed. The row is the
//! citizen's inbox message and the outbox entry at once: the [`DeliveryWorker`] sends it as a
//! WeChat subscribe message when the citizen has a consent left for its template, and the inbox
//! shows it whether WeChat carried it or not. Kinds (which template, which page, which fields)
//! are configuration, not code.

mod config;
mod inbox;
mod ledger;
mod outbox;
mod render;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::store::Store;
use crate::time::Clock;
use crate::wechat::WechatClient;

/// Where `wake` reaches the workers of every instance.
const WAKE_CHANNEL: &str = "notify:wake";

pub use config::{
    ConfigError, KindConfig, NotificationKind, NotifyConfig, SubscribeAction, TemplateConfig,
};
pub use inbox::{InboxMessage, InboxPage, MarkReadError};
pub use ledger::{ConsentEcho, ConsentError, ConsentResult, TemplateStatus};
pub use outbox::{MAX_DEDUP_KEY, NotifyError, Status};
pub use render::{FieldType, fit};
pub use worker::{CONCURRENCY as DELIVERY_CONCURRENCY, DeliveryWorker};

/// The notification service; cheap to clone.
#[derive(Clone)]
pub struct Notifications {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    store: Arc<dyn Store>,
    wechat: WechatClient,
    clock: Clock,
    config: NotifyConfig,
    /// WeChat template id → the template's name in the configuration.
    by_template_id: HashMap<String, String>,
    wake: Notify,
    /// Told of every accept a citizen reports; see [`ConsentEcho`].
    echo: std::sync::OnceLock<Arc<dyn ConsentEcho>>,
}

impl Notifications {
    /// # Errors
    /// The configuration misses a kind, names an unknown template, or has a field of no known type.
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn Store>,
        wechat: WechatClient,
        clock: Clock,
        config: NotifyConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let by_template_id = config
            .templates
            .iter()
            .map(|(name, t)| (t.id.clone(), name.clone()))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                store,
                wechat,
                clock,
                config,
                by_template_id,
                wake: Notify::new(),
                echo: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Tells `echo` of every consent accepted from now on (the demo's WeChat simulator). Set
    /// once; a second call is ignored.
    pub fn echo_consents_to(&self, echo: Arc<dyn ConsentEcho>) {
        if self.inner.echo.set(echo).is_err() {
            tracing::warn!("a consent echo was already set; keeping the first");
        }
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.inner.config
    }

    /// Asks the delivery workers of every instance to look at the outbox now rather than at
    /// their next poll. Call it after committing a transaction that notified someone. Best
    /// effort: a worker that misses it still finds the message at its next poll.
    pub async fn wake(&self) {
        self.inner.wake.notify_one();
        if let Err(e) = self.inner.store.publish(WAKE_CHANNEL, b"").await {
            tracing::warn!(error = %e, "could not wake the other instances' workers; they will poll");
        }
    }

    /// The worker that delivers this instance's share of the outbox.
    pub fn worker(&self) -> DeliveryWorker {
        DeliveryWorker::new(self.clone())
    }
}
