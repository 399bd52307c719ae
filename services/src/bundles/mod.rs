//! 一件事 bundles (高效办成一件事): several items applied for in one form, with one set of
//! materials and one submission, followed as one matter (province-api.md, "一件事 bundles").
//!
//! The decisions a reader needs:
//! - Bundles are part of the catalogue: the catalogue sync fetches `GET /gov/v1/bundles` after the
//!   items, incrementally, with its own watermark (`sync_state` row `bundles`).
//! - A bundle application is checked like an application, each shared material against every
//!   item that uses it, and written with its outbox row and idempotency key in one transaction;
//!   the [`BundleForwarder`] sends it with `clientRequestId` = its id, the same body on every
//!   attempt, so the platform's idempotency makes a resend after a lost answer harmless.
//! - On the platform's answer each part (one per item) becomes an ordinary application with its
//!   `sblsh`, joined to the bundle in `bundle_parts`: callbacks, polling, timelines, deadlines
//!   and supplements are the applications' own, per part. The part's name carries the bundle's
//!   (`新生儿出生一件事·出生医学证明`), so every notice the citizen gets names the bundle.

mod catalogue;
mod forward;
mod submit;
mod view;

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

pub use self::catalogue::{
    BundleGuide, BundleGuideItem, BundleHall, BundleSummary, BundleSyncReport, GuideMaterial,
};
pub(crate) use self::catalogue::{SyncFailure, booking_terms, names, sync as sync_catalogue};
pub use self::forward::BundleForwarder;
pub use self::submit::{BundleApplyError, NewBundleApplication};
pub(crate) use self::submit::{asked_about, release_consented};
pub use self::view::{BundlePartView, BundleState, BundleView};
use crate::applications::{ApplicationConfig, ApplicationService, BlobStore};
use crate::calendar::CalendarStore;
use crate::crypto::{FieldCipher, FieldContext};
use crate::notify::Notifications;
use crate::province::{Agent, Applicant, PostAddress, ProvinceClient};
use crate::time::Clock;

/// A 一件事 bundle's code as a citizen sends it: trimmed, 1 to 64 characters (the item codes'
/// rule, [`crate::catalogue::ItemCode`]), parsed once at the route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BundleCode(String);

impl BundleCode {
    /// # Errors
    /// Empty after trimming, or longer than 64 characters.
    pub fn parse(raw: &str) -> Result<Self, crate::catalogue::InvalidCode> {
        crate::catalogue::code(raw).map(Self)
    }

    /// A code read back from a row this service wrote (already parsed once when it came in).
    pub(crate) fn from_stored(code: &str) -> Self {
        Self(code.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for BundleCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The snapshot of personal information sent with every attempt, stored encrypted; the same
/// shape the applications keep, so each part's row holds it too.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Private {
    applicant: Applicant,
    agent: Option<Agent>,
    post_address: Option<PostAddress>,
}

fn bundle_private_context(citizen_id: i64) -> FieldContext {
    FieldContext {
        table: "bundle_applications",
        column: "private",
        row_id: citizen_id,
    }
}

/// The context the applications encrypt their private part with (`applications.private`).
fn part_private_context(citizen_id: i64) -> FieldContext {
    FieldContext {
        table: "applications",
        column: "private",
        row_id: citizen_id,
    }
}

/// Bundles: the catalogue's, and the citizens' bundle applications.
#[derive(Clone)]
pub struct BundleService {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    applications: ApplicationService,
    province: ProvinceClient,
    blobs: Arc<dyn BlobStore>,
    cipher: Arc<FieldCipher>,
    calendar: CalendarStore,
    notifications: Notifications,
    clock: Clock,
    config: ApplicationConfig,
    wake: tokio::sync::Notify,
    /// The platform's breaker opened since the last delivery ([`crate::province::outbox::round`]).
    breaker_opened: std::sync::atomic::AtomicBool,
}

impl BundleService {
    pub fn new(
        deps: &crate::Deps,
        applications: ApplicationService,
        blobs: Arc<dyn BlobStore>,
        config: ApplicationConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: deps.db.clone(),
                applications,
                province: deps.province.clone(),
                blobs,
                cipher: Arc::clone(&deps.cipher),
                calendar: deps.calendar.clone(),
                notifications: deps.notifications.clone(),
                clock: deps.clock.clone(),
                config,
                wake: tokio::sync::Notify::new(),
                breaker_opened: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The forwarder of bundle applications.
    pub fn forwarder(&self) -> BundleForwarder {
        BundleForwarder::new(self.clone())
    }
}
