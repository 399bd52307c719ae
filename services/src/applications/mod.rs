//! Applications (申办) to the provincial platform, their cases' progress (办件进度) and
//! supplements (补正).
//!
//! The decisions a reader needs:
//! - Submitting writes the application and its outbox row in one transaction and answers at
//!   once (`SUBMITTING`); the [`Forwarder`] sends it with `clientRequestId` = the application's
//!   id, the exact same body on every attempt, so the platform's idempotency makes a resend after
//!   a lost answer harmless. Outbox rows are claimed under a lease (`FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL), so any number of instances forward without sending one row twice at once.
//! - An unreachable platform leaves the application `QUEUED` with backoff; after
//!   `park_after` (24 h) of failures it is `PARKED` for an operator, who can replay it.
//! - Case events are stored before the callback is answered; duplicates (by `eventId` or by
//!   case and version) are no-ops, and the application's phase is the newest version's, so the
//!   arrival order does not matter.
//! - The applicant's and agent's identity and the postal address are snapshotted, encrypted, at
//!   submission: every resend carries the same body.

mod blobs;
mod check;
mod consent;
mod events;
mod forward;
mod submit;
mod supplement;
mod view;

use self::check::own_materials;
mod parts;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::blobs::{BlobStore, DirBlobStore, MaterialType, address_of};
pub use self::consent::{AnswerError, ConsentRequest, ConsentStatus, ConsentSummary};
// 一件事 bundles ask a person's consent through the same requests (`bundles::submit`).
pub(crate) use self::consent::{
    Asking, Side, of_application as consent_of, request as request_consent,
};
pub use self::events::{EventSource, RecordError, RecordOutcome, result_text};
pub use self::forward::Forwarder;
use crate::calendar::CalendarStore;
use crate::crypto::{FieldCipher, FieldContext};
use crate::identity::{ActingMember, VerifiedPerson};
use crate::notify::Notifications;
use crate::province::ProvinceClient;
use crate::province::{Agent, Applicant, CaseEvent, Phase, PostAddress};
use crate::time::{Clock, SHANGHAI};
use entities::{application, province_outbox};

/// The largest material accepted, as the platform's contract allows.
pub const MAX_MATERIAL_BYTES: usize = 8 * 1024 * 1024;
/// The largest total of one application's or supplement's materials.
pub const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;
/// The largest form, as JSON text.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// The lowest 网办深度 at which an item can be applied for online (3 = 在线预审).
pub const MIN_ONLINE_LEVEL: i32 = 3;

/// How applications are forwarded and watched.
#[derive(Debug, Clone)]
pub struct ApplicationConfig {
    /// Failing this long since the first failure parks an application for an operator.
    pub park_after: Duration,
    /// The first retry's pause; it doubles per failure, with full jitter, up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How long a forwarder owns what it claimed.
    pub lease: Duration,
    /// Rows claimed per round, and sent at once.
    pub batch: u32,
    pub concurrency: usize,
    /// A live case with no event for this long is polled (`GET /gov/v1/applications/{sblsh}`).
    pub reconcile_after: Duration,
    /// How long the person an application is made for (代办) has to consent to it.
    pub consent_ttl: Duration,
}

impl Default for ApplicationConfig {
    fn default() -> Self {
        Self {
            park_after: Duration::from_secs(24 * 3600),
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(60),
            lease: Duration::from_secs(60),
            batch: 32,
            concurrency: 8,
            reconcile_after: Duration::from_secs(30 * 60),
            consent_ttl: Duration::from_secs(72 * 3600),
        }
    }
}

pub use entities::status::Delivery;

/// A field the platform (or our own check) found wrong, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

/// Why an application (or supplement) was refused or parked, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Problem {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldProblem>,
}

/// How the citizen obtains the result.
#[derive(Debug, Clone)]
pub enum Obtain {
    /// 窗口领取.
    Collect,
    /// 邮寄, to this address.
    Post(PostAddress),
}

/// A material of the application: which of the item's materials it is, and which upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaterialRef {
    pub code: String,
    pub material_id: String,
}

/// What a citizen submits.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub item_code: crate::catalogue::ItemCode,
    pub form: Value,
    pub materials: Vec<MaterialRef>,
    pub obtain: Obtain,
    /// Applying for someone not on the citizen's phone (代办), found by their verified account:
    /// the application waits for their consent; the citizen is the agent (代办人).
    pub consent_of: Option<VerifiedPerson>,
    /// Applying for a family member on the citizen's phone (checked live in
    /// `identity::acting`): the member is the applicant, the citizen the agent.
    pub for_member: Option<ActingMember>,
    pub idempotency_key: Option<String>,
}

/// An uploaded material, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub id: String,
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub file_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One entry of a case's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub version: u64,
    pub phase: Phase,
    pub at: DateTime<Utc>,
    pub handler: String,
    pub detail: Value,
}

/// The promised deadline of an accepted case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// 承诺办结日期.
    pub date: NaiveDate,
    pub working_days: u32,
    /// The clock is stopped now (补正 or 特别程序): the date will move.
    pub paused: bool,
}

/// An application as its citizen (or an operator) sees it.
#[derive(Debug, Clone)]
pub struct ApplicationView {
    pub id: String,
    pub item_code: String,
    pub item_name: String,
    pub status: Delivery,
    pub phase: Option<Phase>,
    pub sblsh: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub problem: Option<Problem>,
    pub tracking_no: Option<String>,
    pub on_behalf: bool,
    /// The family member applied for, when the account applied for one.
    pub member_id: Option<i64>,
    pub obtain_way: u8,
    pub materials: Vec<MaterialRef>,
    pub form: Value,
    pub updated_at: DateTime<Utc>,
    /// Filled for one application, empty in lists.
    pub timeline: Vec<TimelineEntry>,
    pub deadline: Option<Deadline>,
    /// When the platform asks for a supplement: the material codes and the reason.
    pub supplement_request: Option<SupplementRequestView>,
    pub supplements: Vec<SupplementView>,
    /// For an application made for someone not on the phone: their consent request.
    pub consent: Option<ConsentSummary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupplementRequestView {
    pub version: u64,
    pub reason: String,
    pub materials: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupplementView {
    pub id: String,
    pub requested_version: u64,
    pub status: Delivery,
    pub problem: Option<Problem>,
    pub created_at: DateTime<Utc>,
}

/// One page of a citizen's applications, newest first.
#[derive(Debug, Clone)]
pub struct ApplicationPage {
    pub items: Vec<ApplicationView>,
    pub total: u64,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than 8 MiB")]
    TooLarge,
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a PDF, JPEG or PNG")]
    UnsupportedType,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why an application was refused before it was stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("no bound identity")]
    IdentityRequired,
    /// The bound identity was never proven by face verification.
    #[error("the bound identity is not verified")]
    IdentityNotVerified,
    #[error("no bound phone")]
    PhoneRequired,
    #[error("no such item")]
    ItemNotFound,
    #[error("the item cannot be applied for online")]
    ItemNotOnline,
    /// Fields of the request are wrong: the form, the address, the person applied for.
    #[error("invalid fields")]
    Invalid(Vec<FieldProblem>),
    /// The materials do not meet the item's requirements.
    #[error("materials do not meet the item's requirements")]
    Materials(Vec<FieldProblem>),
    /// A material id that is not one of the citizen's uploads.
    #[error("no such material")]
    MaterialNotFound(String),
    #[error("the idempotency key was used for another application")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a supplement was refused.
#[derive(Debug, thiserror::Error)]
pub enum SupplementError {
    #[error("no such application")]
    NotFound,
    #[error("the case does not ask for a supplement now")]
    NotRequested,
    #[error("a supplement answering this request exists")]
    AlreadySubmitted,
    #[error("materials do not meet the request")]
    Materials(Vec<FieldProblem>),
    #[error("no such material")]
    MaterialNotFound(String),
    #[error("invalid note")]
    Invalid(Vec<FieldProblem>),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why an operator's replay was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no such application")]
    NotFound,
    #[error("nothing of this application is parked")]
    NotParked,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The snapshot of personal information sent with every attempt, stored encrypted.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Private {
    applicant: Applicant,
    agent: Option<Agent>,
    post_address: Option<PostAddress>,
}

const TABLE: &str = "applications";

fn private_context(citizen_id: i64) -> FieldContext {
    FieldContext {
        table: TABLE,
        column: "private",
        row_id: citizen_id,
    }
}

/// Applications: submitting, forwarding, case events, progress and supplements.
#[derive(Clone)]
pub struct ApplicationService {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    province: ProvinceClient,
    blobs: Arc<dyn BlobStore>,
    cipher: Arc<FieldCipher>,
    calendar: CalendarStore,
    notifications: Notifications,
    clock: Clock,
    config: ApplicationConfig,
    wake: tokio::sync::Notify,
    /// A send met the open circuit breaker since the last success: the platform was down.
    breaker_opened: std::sync::atomic::AtomicBool,
}

impl ApplicationService {
    pub fn new(deps: &crate::Deps, blobs: Arc<dyn BlobStore>, config: ApplicationConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: deps.db.clone(),
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

    /// The forwarder (and reconciler) of this service.
    pub fn forwarder(&self) -> Forwarder {
        Forwarder::new(self.clone())
    }

    /// Applications with something parked, oldest first.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn parked(&self, limit: u64) -> anyhow::Result<Vec<ParkedEntry>> {
        let rows = province_outbox::Entity::find()
            .filter(province_outbox::Column::Status.eq(forward::OutboxStatus::Parked))
            .order_by_asc(province_outbox::Column::Id)
            .limit(limit)
            .all(&self.inner.db)
            .await?;
        // One read for the applications of the whole page.
        let apps: std::collections::HashMap<String, application::Model> =
            application::Entity::find()
                .filter(
                    application::Column::Id.is_in(rows.iter().map(|r| r.application_id.as_str())),
                )
                .all(&self.inner.db)
                .await?
                .into_iter()
                .map(|a| (a.id.clone(), a))
                .collect();
        let out = rows
            .into_iter()
            .map(|row| {
                let app = apps.get(&row.application_id);
                ParkedEntry {
                    item_code: app.map(|a| a.item_code.clone()).unwrap_or_default(),
                    item_name: app.map(|a| a.item_name.clone()).unwrap_or_default(),
                    application_id: row.application_id,
                    supplement_id: row.supplement_id,
                    attempts: u32::try_from(row.attempts).unwrap_or(0),
                    first_failure_at: row.first_failure_at,
                    last_error: row.last_error,
                    parked_at: row.updated_at,
                }
            })
            .collect();
        Ok(out)
    }

    /// Sends a parked application (and its parked supplements) again, from now.
    ///
    /// # Errors
    /// `NotFound`, `NotParked`; `Unexpected` for the database.
    #[tracing::instrument(skip_all, fields(application_id = %application_id))]
    pub async fn replay(&self, application_id: &str) -> Result<(), ReplayError> {
        let now = self.inner.clock.now();
        let txn = crate::db::write(&self.inner.db)
            .await
            .context("begin the replay")?;
        if application::Entity::find_by_id(application_id)
            .one(&txn)
            .await
            .context("find the application")?
            .is_none()
        {
            return Err(ReplayError::NotFound);
        }
        let replayed = forward::unpark(&txn, application_id, now).await?;
        if replayed == 0 {
            return Err(ReplayError::NotParked);
        }
        txn.commit().await.context("commit the replay")?;
        self.inner.wake.notify_one();
        tracing::info!(replayed, "parked deliveries replayed by an operator");
        Ok(())
    }

    /// Records case events (from a verified callback, or from polling) in one transaction:
    /// duplicates are ignored, the application's phase follows the newest version, and the
    /// citizen is notified of the phases that matter to them.
    ///
    /// # Errors
    /// The database cannot be written: the caller must not acknowledge the events.
    pub async fn record_events(
        &self,
        events: &[CaseEvent],
        source: EventSource,
    ) -> Result<RecordOutcome, RecordError> {
        events::record(self, events, source).await
    }
}

/// A parked delivery, for operators.
#[derive(Debug, Clone)]
pub struct ParkedEntry {
    pub application_id: String,
    pub supplement_id: Option<String>,
    pub item_code: String,
    pub item_name: String,
    pub attempts: u32,
    pub first_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub parked_at: DateTime<Utc>,
}

/// Shanghai date of an instant.
fn shanghai_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&SHANGHAI).date_naive()
}
