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
mod consent;
mod events;
mod forward;
mod parts;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DatabaseConnection, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, SqlErr,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub use self::blobs::{BlobStore, DirBlobStore, MaterialType, address_of};
pub use self::consent::{AnswerError, ConsentRequest, ConsentStatus, ConsentSummary};
pub use self::events::{EventSource, RecordError, RecordOutcome, result_text};
pub use self::forward::Forwarder;
use crate::calendar::CalendarStore;
use crate::crypto::{FieldCipher, FieldContext};
use crate::identity::{
    ActingMember, ID_CARD, IdentityGate, NAME, PHONE, PhoneNumber, VerifiedPerson, field_context,
    find_citizen, proven,
};
use crate::notify::Notifications;
use crate::province::ProvinceClient;
use crate::province::{Agent, Applicant, CaseEvent, MaterialSpec, Phase, PostAddress};
use crate::time::{Clock, SHANGHAI};
use entities::{application, case_event, item, material, province_outbox, supplement};

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

/// Where the delivery of an application (or a supplement) to the platform stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Delivery {
    /// Stored, not yet tried.
    Submitting,
    /// Tried and the platform could not be reached; it will be sent when it can.
    Queued,
    /// The platform has it (an application has its `sblsh`).
    Submitted,
    /// The platform refused it for good (422 with field reasons, 413).
    Invalid,
    /// Failing for too long, or refused in a way the citizen cannot fix: an operator decides.
    Parked,
    /// For someone not on the citizen's phone: waits for that person's consent; nothing is sent.
    AwaitingConsent,
    /// The person refused: it is never sent.
    ConsentRefused,
    /// The person did not answer in time: it is never sent.
    ConsentExpired,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitting => "SUBMITTING",
            Self::Queued => "QUEUED",
            Self::Submitted => "SUBMITTED",
            Self::Invalid => "INVALID",
            Self::Parked => "PARKED",
            Self::AwaitingConsent => "AWAITING_CONSENT",
            Self::ConsentRefused => "CONSENT_REFUSED",
            Self::ConsentExpired => "CONSENT_EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Submitting,
            Self::Queued,
            Self::Submitted,
            Self::Invalid,
            Self::Parked,
            Self::AwaitingConsent,
            Self::ConsentRefused,
            Self::ConsentExpired,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

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
    pub item_code: String,
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

    // ---- materials ----

    /// Stores one uploaded file for `citizen_id`: recognised by content, at most 8 MiB.
    ///
    /// # Errors
    /// `TooLarge`, `Empty`, `UnsupportedType`; `Unexpected` for the blob store or database.
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, size = bytes.len()))]
    pub async fn upload(
        &self,
        citizen_id: i64,
        file_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<Material, UploadError> {
        if bytes.len() > MAX_MATERIAL_BYTES {
            return Err(UploadError::TooLarge);
        }
        if bytes.is_empty() {
            return Err(UploadError::Empty);
        }
        let kind = MaterialType::sniff(bytes).ok_or(UploadError::UnsupportedType)?;
        let sha256 = self
            .inner
            .blobs
            .put(bytes)
            .await
            .context("store the material's bytes")?;
        let file_name = file_name
            .map(|n| n.trim().chars().take(200).collect::<String>())
            .filter(|n| !n.is_empty());
        let row = material::Model {
            id: uuid::Uuid::now_v7().to_string(),
            citizen_id,
            sha256,
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            content_type: kind.content_type().to_owned(),
            file_name,
            created_at: self.inner.clock.now(),
        };
        material::Entity::insert(material::ActiveModel {
            id: Set(row.id.clone()),
            citizen_id: Set(row.citizen_id),
            sha256: Set(row.sha256.clone()),
            size: Set(row.size),
            content_type: Set(row.content_type.clone()),
            file_name: Set(row.file_name.clone()),
            created_at: Set(row.created_at),
        })
        .exec_without_returning(&self.inner.db)
        .await
        .context("record the material")?;
        metrics::counter!("materials_uploaded_total").increment(1);
        Ok(to_material(row))
    }

    /// One of the citizen's own uploads; `None` for anyone else's.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn material(&self, citizen_id: i64, id: &str) -> anyhow::Result<Option<Material>> {
        Ok(own_materials(&self.inner.db, citizen_id, &[id.to_owned()])
            .await?
            .into_iter()
            .next()
            .map(to_material))
    }

    // ---- submitting ----

    /// Validates and stores an application with its outbox row, in one transaction. The
    /// answer comes at once, `SUBMITTING`; the forwarder sends it.
    ///
    /// The flag is true when an earlier request under the same idempotency key made it.
    ///
    /// # Errors
    /// See [`ApplyError`].
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, item_code = %new.item_code))]
    pub async fn submit(
        &self,
        citizen_id: i64,
        new: NewApplication,
    ) -> Result<(ApplicationView, bool), ApplyError> {
        let db = &self.inner.db;
        let fingerprint = fingerprint(&new);
        if let Some(key) = &new.idempotency_key
            && let Some(found) = application::Entity::find()
                .filter(application::Column::CitizenId.eq(citizen_id))
                .filter(application::Column::IdempotencyKey.eq(key.as_str()))
                .one(db)
                .await
                .context("look up the idempotency key")?
        {
            return self.replayed(found, &fingerprint);
        }
        let citizen = find_citizen(db, citizen_id)
            .await
            .context("find the citizen")?
            .ok_or(ApplyError::IdentityRequired)?;
        let (name_cipher, id_cipher) = match proven(&citizen) {
            Ok(p) => (p.name_cipher, p.id_card_cipher),
            Err(IdentityGate::Missing) => return Err(ApplyError::IdentityRequired),
            Err(IdentityGate::Unverified) => return Err(ApplyError::IdentityNotVerified),
        };
        let phone_cipher = citizen
            .phone_cipher
            .as_ref()
            .ok_or(ApplyError::PhoneRequired)?;
        let item = item::Entity::find_by_id(new.item_code.trim())
            .one(db)
            .await
            .context("find the item")?
            .ok_or(ApplyError::ItemNotFound)?;
        if item.online_level < MIN_ONLINE_LEVEL {
            return Err(ApplyError::ItemNotOnline);
        }
        let form_text = check_form(&new.form)?;
        let specs: Vec<MaterialSpec> =
            serde_json::from_str(&item.materials).context("stored materials of the item")?;
        let rows = self.owned(citizen_id, &new.materials).await?;
        check_materials(&specs, &new.materials, &rows, true).map_err(ApplyError::Materials)?;

        let cipher = &self.inner.cipher;
        let decrypt = |stored: &str, column: &'static str| {
            cipher
                .decrypt_string(stored, &field_context(column, citizen.id))
                .context("decrypt the bound identity")
        };
        let me = (
            decrypt(name_cipher, NAME)?,
            decrypt(id_cipher, ID_CARD)?,
            decrypt(phone_cipher, PHONE)?,
        );
        let mut problems = Vec::new();
        let agent_of = |me: &(String, String, String)| Agent {
            name: me.0.clone(),
            cert_type: "111".into(),
            cert_no: me.1.clone(),
            phone: me.2.clone(),
        };
        let (applicant, agent) = match (&new.for_member, &new.consent_of) {
            (Some(_), Some(_)) => {
                problems.push(problem("consentOf", "为家庭成员申办时不能再填写代办对象"));
                (person_applicant(&me.0, &me.1, &me.2), None)
            }
            // The member has no phone of their own here: the platform reaches them through
            // the agent's, who applied.
            (Some(member), None) => (
                person_applicant(member.name.as_str(), member.id_card_no.as_str(), &me.2),
                Some(agent_of(&me)),
            ),
            (None, Some(person))
                if person.citizen_id == citizen_id || person.id_card_no.as_str() == me.1 =>
            {
                problems.push(problem("consentOf.idCardNo", "代办对象不能是您本人"));
                (person_applicant(&me.0, &me.1, &me.2), None)
            }
            (None, Some(person)) => (
                person_applicant(
                    person.name.as_str(),
                    person.id_card_no.as_str(),
                    person.phone.as_ref().map_or(me.2.as_str(), |p| p.as_str()),
                ),
                Some(agent_of(&me)),
            ),
            (None, None) => (person_applicant(&me.0, &me.1, &me.2), None),
        };
        let post_address = match &new.obtain {
            Obtain::Collect => None,
            Obtain::Post(address) => {
                problems.extend(check_address(address));
                Some(address.clone())
            }
        };
        if !problems.is_empty() {
            return Err(ApplyError::Invalid(problems));
        }
        let private = Private {
            applicant,
            agent,
            post_address,
        };
        let private = serde_json::to_string(&private).context("encode the private part")?;
        let now = self.inner.clock.now();
        // Whole milliseconds: every resend must carry the same `submittedAt`, and PostgreSQL
        // keeps microseconds while SQLite keeps what it is given.
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let row = application::Model {
            id: uuid::Uuid::now_v7().to_string(),
            citizen_id,
            item_code: item.item_code.clone(),
            handle_item_code: item.handle_item_code.clone(),
            item_name: item.name.clone(),
            idempotency_key: new.idempotency_key.clone(),
            fingerprint: Some(fingerprint.clone()),
            form: form_text,
            materials: serde_json::to_string(&new.materials).context("encode materials")?,
            obtain_way: i16::from(matches!(new.obtain, Obtain::Post(_))),
            private_cipher: cipher.encrypt_str(&private, &private_context(citizen_id)),
            on_behalf: new.consent_of.is_some() || new.for_member.is_some(),
            member_id: new.for_member.as_ref().map(|m| m.id),
            status: if new.consent_of.is_some() {
                Delivery::AwaitingConsent
            } else {
                Delivery::Submitting
            }
            .as_str()
            .to_owned(),
            phase: None,
            case_version: 0,
            sblsh: None,
            received_at: None,
            problem: None,
            tracking_no: None,
            submitted_at: now,
            updated_at: now,
            last_event_at: None,
            polled_at: None,
            poll_due_at: None,
        };
        let txn = crate::db::write(db)
            .await
            .context("begin the application")?;
        let inserted = application::Entity::insert(application::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await;
        if let Err(e) = inserted {
            if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
                && let Some(key) = &new.idempotency_key
            {
                drop(txn);
                let found = application::Entity::find()
                    .filter(application::Column::CitizenId.eq(citizen_id))
                    .filter(application::Column::IdempotencyKey.eq(key.as_str()))
                    .one(db)
                    .await
                    .context("read the application under the key")?
                    .context("the key's application vanished")?;
                return self.replayed(found, &fingerprint);
            }
            return Err(anyhow::Error::new(e)
                .context("insert the application")
                .into());
        }
        // For someone not on the phone: a consent request, and no outbox row until they accept.
        let consent = match &new.consent_of {
            Some(person) => Some(
                consent::request(
                    &txn,
                    &self.inner.notifications,
                    &row.id,
                    &consent::Asking {
                        requester_id: citizen_id,
                        requester_name: &me.0,
                        item_name: &row.item_name,
                    },
                    person,
                    now,
                    self.inner.config.consent_ttl,
                )
                .await?,
            ),
            None => {
                forward::enqueue(&txn, &row.id, None, now).await?;
                None
            }
        };
        txn.commit().await.context("commit the application")?;
        let mut view = self.view(row, false).await?;
        if consent.is_none() {
            metrics::counter!("applications_submitted_total").increment(1);
            self.inner.wake.notify_one();
        } else {
            self.inner.notifications.wake().await;
        }
        view.consent = consent;
        Ok((view, false))
    }

    fn replayed(
        &self,
        found: application::Model,
        fingerprint: &str,
    ) -> Result<(ApplicationView, bool), ApplyError> {
        if found.fingerprint.as_deref() != Some(fingerprint) {
            return Err(ApplyError::IdempotencyKeyReused);
        }
        Ok((plain_view(found), true))
    }

    /// The citizen's uploads among `refs`, each checked to exist.
    async fn owned(
        &self,
        citizen_id: i64,
        refs: &[MaterialRef],
    ) -> Result<Vec<material::Model>, ApplyError> {
        let ids: Vec<String> = refs.iter().map(|r| r.material_id.clone()).collect();
        let rows = own_materials(&self.inner.db, citizen_id, &ids).await?;
        if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| &r.id == *id)) {
            return Err(ApplyError::MaterialNotFound(missing.clone()));
        }
        Ok(rows)
    }

    // ---- reading ----

    /// The citizen's applications, newest first.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn mine(
        &self,
        citizen_id: i64,
        page: u64,
        page_size: u64,
    ) -> anyhow::Result<ApplicationPage> {
        self.lapse_due(consent::Side::Requester(citizen_id)).await?;
        let query = application::Entity::find()
            .filter(application::Column::CitizenId.eq(citizen_id))
            .order_by_desc(application::Column::SubmittedAt)
            .order_by_desc(application::Column::Id);
        let total = query.clone().count(&self.inner.db).await?;
        let rows = query
            .offset(page.saturating_sub(1) * page_size)
            .limit(page_size)
            .all(&self.inner.db)
            .await?;
        Ok(ApplicationPage {
            items: rows.into_iter().map(plain_view).collect(),
            total,
        })
    }

    /// One of the citizen's applications with its timeline, deadline and supplements; `None`
    /// when it is not theirs.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn get(&self, citizen_id: i64, id: &str) -> anyhow::Result<Option<ApplicationView>> {
        self.lapse_due(consent::Side::Requester(citizen_id)).await?;
        // One snapshot for the row and its events: a callback committing between two reads
        // would otherwise show a timeline one event ahead of the phase.
        let snapshot = crate::db::snapshot(&self.inner.db).await?;
        let Some(row) = application::Entity::find_by_id(id)
            .filter(application::Column::CitizenId.eq(citizen_id))
            .one(&snapshot)
            .await
            .context("read the application")?
        else {
            return Ok(None);
        };
        let view = self.view_in(&snapshot, row).await?;
        snapshot.commit().await.context("end the snapshot")?;
        Ok(Some(view))
    }

    async fn view(&self, row: application::Model, full: bool) -> anyhow::Result<ApplicationView> {
        if !full {
            return Ok(plain_view(row));
        }
        let snapshot = crate::db::snapshot(&self.inner.db).await?;
        let view = self.view_in(&snapshot, row).await?;
        snapshot.commit().await.context("end the snapshot")?;
        Ok(view)
    }

    /// The full view of `row`, every read in `db` (one snapshot, so that the phase, the timeline
    /// and the supplements agree).
    async fn view_in(
        &self,
        db: &impl ConnectionTrait,
        row: application::Model,
    ) -> anyhow::Result<ApplicationView> {
        let mut view = plain_view(row);
        if let Some(sblsh) = &view.sblsh {
            let events = case_event::Entity::find()
                .filter(case_event::Column::Sblsh.eq(sblsh.as_str()))
                .order_by_asc(case_event::Column::Version)
                .all(db)
                .await?;
            // A number the platform gave twice: what came from the moment the second
            // application was sent may be its case's, not this one's.
            let disputed_since = entities::case_number_dispute::Entity::find_by_id(sblsh.as_str())
                .one(db)
                .await?
                .map(|d| d.since);
            view.timeline = events
                .iter()
                .filter(|e| disputed_since.is_none_or(|since| e.received_at < since))
                .filter_map(events::to_entry)
                .collect();
        }
        let promised = item::Entity::find_by_id(view.item_code.as_str())
            .one(db)
            .await?
            .map(|i| u32::try_from(i.promised_days).unwrap_or(0));
        if let Some(days) = promised {
            let calendar = self.inner.calendar.calendar().await?;
            view.deadline =
                events::deadline(&calendar, &view.timeline, days, self.inner.clock.today());
        }
        view.supplement_request = events::open_request(&view.timeline);
        view.consent = consent::of_application(db, &view.id).await?;
        view.supplements = supplement::Entity::find()
            .filter(supplement::Column::ApplicationId.eq(view.id.as_str()))
            .order_by_asc(supplement::Column::CreatedAt)
            .all(db)
            .await?
            .into_iter()
            .map(|s| SupplementView {
                id: s.id,
                requested_version: u64::try_from(s.requested_version).unwrap_or(0),
                status: Delivery::parse(&s.status).unwrap_or(Delivery::Submitting),
                problem: s
                    .problem
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok()),
                created_at: s.created_at,
            })
            .collect();
        Ok(view)
    }

    // ---- supplements ----

    /// Submits the materials a 补正告知 asked for; forwarded the same exactly-once way.
    ///
    /// # Errors
    /// See [`SupplementError`].
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, application_id = %application_id))]
    pub async fn supplement(
        &self,
        citizen_id: i64,
        application_id: &str,
        materials: Vec<MaterialRef>,
        note: Option<String>,
    ) -> Result<SupplementView, SupplementError> {
        let db = &self.inner.db;
        let app = application::Entity::find_by_id(application_id)
            .filter(application::Column::CitizenId.eq(citizen_id))
            .one(db)
            .await
            .context("find the application")?
            .ok_or(SupplementError::NotFound)?;
        let view = self.view(app, true).await?;
        let request = view
            .supplement_request
            .ok_or(SupplementError::NotRequested)?;
        // A supplement the platform refused (422) may be made again; any other stands.
        if view
            .supplements
            .iter()
            .any(|s| s.requested_version == request.version && s.status != Delivery::Invalid)
        {
            return Err(SupplementError::AlreadySubmitted);
        }
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            return Err(SupplementError::Invalid(vec![problem(
                "note",
                "说明不能超过500个字",
            )]));
        }
        let ids: Vec<String> = materials.iter().map(|r| r.material_id.clone()).collect();
        let rows = own_materials(db, citizen_id, &ids).await?;
        if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| &r.id == *id)) {
            return Err(SupplementError::MaterialNotFound(missing.clone()));
        }
        let item = item::Entity::find_by_id(view.item_code.as_str())
            .one(db)
            .await
            .context("find the item")?;
        let specs: Vec<MaterialSpec> = match item {
            Some(item) => serde_json::from_str(&item.materials).context("item materials")?,
            None => Vec::new(),
        };
        let mut problems = Vec::new();
        if materials.is_empty() {
            problems.push(problem("materials", "请上传需要补正的材料"));
        }
        for code in &request.materials {
            if !materials.iter().any(|m| &m.code == code) {
                let name = specs
                    .iter()
                    .find(|s| &s.code == code)
                    .map_or(code.as_str(), |s| s.name.as_str());
                problems.push(problem(
                    &format!("materials.{code}"),
                    &format!("请补正材料：{name}"),
                ));
            }
        }
        if let Err(mut found) = check_materials(&specs, &materials, &rows, false) {
            problems.append(&mut found);
        }
        if !problems.is_empty() {
            return Err(SupplementError::Materials(problems));
        }
        let now = self.inner.clock.now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let id = uuid::Uuid::now_v7().to_string();
        let requested = i64::try_from(request.version).unwrap_or(i64::MAX);
        let txn = crate::db::write(db).await.context("begin the supplement")?;
        supplement::Entity::delete_many()
            .filter(supplement::Column::ApplicationId.eq(view.id.as_str()))
            .filter(supplement::Column::RequestedVersion.eq(requested))
            .filter(supplement::Column::Status.eq(Delivery::Invalid.as_str()))
            .exec(&txn)
            .await
            .context("clear a refused supplement")?;
        let inserted = supplement::Entity::insert(supplement::ActiveModel {
            id: Set(id.clone()),
            application_id: Set(view.id.clone()),
            requested_version: Set(requested),
            materials: Set(serde_json::to_string(&materials).context("encode materials")?),
            note: Set(note),
            status: Set(Delivery::Submitting.as_str().to_owned()),
            result_version: Set(None),
            problem: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(SupplementError::AlreadySubmitted);
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context("insert the supplement")
                    .into());
            }
        }
        forward::enqueue(&txn, &view.id, Some(&id), now).await?;
        txn.commit().await.context("commit the supplement")?;
        self.inner.wake.notify_one();
        Ok(SupplementView {
            id,
            requested_version: request.version,
            status: Delivery::Submitting,
            problem: None,
            created_at: now,
        })
    }

    // ---- operators ----

    /// Applications with something parked, oldest first.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn parked(&self, limit: u64) -> anyhow::Result<Vec<ParkedEntry>> {
        let rows = province_outbox::Entity::find()
            .filter(province_outbox::Column::Status.eq(forward::PARKED))
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

fn problem(field: &str, reason: &str) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn person_applicant(name: &str, id_card: &str, phone: &str) -> Applicant {
    Applicant {
        applicant_type: 1,
        name: name.to_owned(),
        cert_type: "111".into(),
        cert_no: id_card.to_owned(),
        phone: phone.to_owned(),
    }
}

fn check_address(address: &PostAddress) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let fields = [
        ("postAddress.name", &address.name, 50),
        ("postAddress.province", &address.province, 50),
        ("postAddress.city", &address.city, 50),
        ("postAddress.district", &address.district, 50),
        ("postAddress.detail", &address.detail, 200),
    ];
    for (field, value, max) in fields {
        let n = value.trim().chars().count();
        if n == 0 {
            problems.push(problem(field, "请填写完整的邮寄信息"));
        } else if n > max {
            problems.push(problem(field, &format!("不能超过{max}个字")));
        }
    }
    if PhoneNumber::parse(&address.phone).is_err() {
        problems.push(problem("postAddress.phone", "收件人手机号码不正确"));
    }
    problems
}

fn check_form(form: &Value) -> Result<String, ApplyError> {
    if !form.is_object() {
        return Err(ApplyError::Invalid(vec![problem(
            "form",
            "表单内容应为对象",
        )]));
    }
    let text = serde_json::to_string(form).context("encode the form")?;
    if text.len() > MAX_FORM_BYTES {
        return Err(ApplyError::Invalid(vec![problem("form", "表单内容过长")]));
    }
    Ok(text)
}

/// Checks materials against the item's specifications: each code is the item's, each file is
/// of an admitted format and within the size, the total within 32 MiB, and (for an application)
/// every required material is present.
fn check_materials(
    specs: &[MaterialSpec],
    refs: &[MaterialRef],
    rows: &[material::Model],
    require_all: bool,
) -> Result<(), Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut total: u64 = 0;
    for (i, r) in refs.iter().enumerate() {
        let field = format!("materials[{i}]");
        let Some(spec) = specs.iter().find(|s| s.code == r.code) else {
            problems.push(problem(
                &field,
                &format!("该事项没有编号为{}的材料", r.code),
            ));
            continue;
        };
        let Some(row) = rows.iter().find(|m| m.id == r.material_id) else {
            continue;
        };
        let size = u64::try_from(row.size).unwrap_or(u64::MAX);
        total = total.saturating_add(size);
        let admitted = MaterialType::from_content_type(&row.content_type)
            .is_some_and(|t| t.admitted_by(&spec.formats));
        if !admitted {
            problems.push(problem(
                &field,
                &format!("{}只接受{}格式", spec.name, spec.formats.join("、")),
            ));
        }
        if spec.max_size_kb > 0 && size > u64::from(spec.max_size_kb) * 1024 {
            problems.push(problem(
                &field,
                &format!("{}不能超过{}KB", spec.name, spec.max_size_kb),
            ));
        }
    }
    if total > MAX_TOTAL_BYTES {
        problems.push(problem("materials", "材料合计不能超过32MB"));
    }
    if require_all {
        for spec in specs.iter().filter(|s| s.required) {
            if !refs.iter().any(|r| r.code == spec.code) {
                problems.push(problem(
                    &format!("materials.{}", spec.code),
                    &format!("缺少必交材料：{}", spec.name),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// What identifies a request under an idempotency key: the same key with anything else is a
/// reuse. Personal fields enter only as a digest.
fn fingerprint(new: &NewApplication) -> String {
    let mut h = Sha256::new();
    h.update(new.item_code.trim().as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(&new.form).unwrap_or_default());
    h.update([0]);
    for m in &new.materials {
        h.update(m.code.as_bytes());
        h.update([1]);
        h.update(m.material_id.as_bytes());
        h.update([2]);
    }
    match &new.obtain {
        Obtain::Collect => h.update([0]),
        Obtain::Post(a) => {
            h.update(serde_json::to_vec(a).unwrap_or_default());
        }
    }
    if let Some(m) = &new.for_member {
        h.update(b"member");
        h.update(m.id.to_be_bytes());
    }
    if let Some(p) = &new.consent_of {
        h.update(b"consent");
        h.update(p.citizen_id.to_be_bytes());
    }
    hex::encode(h.finalize())
}

async fn own_materials(
    db: &impl ConnectionTrait,
    citizen_id: i64,
    ids: &[String],
) -> anyhow::Result<Vec<material::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    material::Entity::find()
        .filter(material::Column::CitizenId.eq(citizen_id))
        .filter(material::Column::Id.is_in(ids.iter().map(String::as_str)))
        .all(db)
        .await
        .context("read the citizen's materials")
}

fn to_material(row: material::Model) -> Material {
    Material {
        id: row.id,
        sha256: row.sha256,
        size: u64::try_from(row.size).unwrap_or(0),
        content_type: row.content_type,
        file_name: row.file_name,
        created_at: row.created_at,
    }
}

fn plain_view(row: application::Model) -> ApplicationView {
    ApplicationView {
        status: Delivery::parse(&row.status).unwrap_or(Delivery::Submitting),
        phase: row.phase.as_deref().and_then(events::parse_phase),
        problem: row
            .problem
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        materials: serde_json::from_str(&row.materials).unwrap_or_default(),
        form: serde_json::from_str(&row.form).unwrap_or(Value::Null),
        obtain_way: u8::try_from(row.obtain_way).unwrap_or(0),
        id: row.id,
        item_code: row.item_code,
        item_name: row.item_name,
        sblsh: row.sblsh,
        submitted_at: row.submitted_at,
        received_at: row.received_at,
        tracking_no: row.tracking_no,
        on_behalf: row.on_behalf,
        member_id: row.member_id,
        updated_at: row.updated_at,
        timeline: Vec::new(),
        deadline: None,
        supplement_request: None,
        supplements: Vec::new(),
        consent: None,
    }
}

/// Shanghai date of an instant.
fn shanghai_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&SHANGHAI).date_naive()
}
