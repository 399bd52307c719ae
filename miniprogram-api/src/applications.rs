//! Applications (申办): materials, submitting, progress (办件进度) and supplements (补正); the
//! operators' list of parked applications.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// An uploaded material (`POST /api/v1/materials`, multipart field `file`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Material {
    pub id: String,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
    /// As recognised from the content: `application/pdf`, `image/jpeg` or `image/png`.
    pub content_type: String,
    pub file_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One material of an application: which of the item's materials (`code`), which upload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaterialRef {
    pub code: String,
    pub material_id: String,
}

/// How to obtain the result: `COLLECT` (窗口领取) or `POST` (邮寄, with `postAddress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObtainWay {
    Collect,
    Post,
}

/// Where to post the result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostAddress {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
}

/// Retired: an application for another person named in free text. Sending it is refused with
/// `ON_BEHALF_NEEDS_CONSENT`; use `?memberId=` (a family member) or `consentOf`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnBehalfOf {
    pub name: String,
    pub id_card_no: String,
    pub phone: String,
}

/// `POST /api/v1/applications`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRequest {
    pub item_code: String,
    /// The item's form fields, as a JSON object.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub form: Value,
    #[serde(default)]
    pub materials: Vec<MaterialRef>,
    pub obtain_way: ObtainWay,
    pub post_address: Option<PostAddress>,
    /// Retired (refused with `ON_BEHALF_NEEDS_CONSENT`): see `consentOf`.
    #[schema(deprecated)]
    pub on_behalf_of: Option<OnBehalfOf>,
    /// Applying for someone not on this phone (代办): their name and ID number, as their own
    /// verified 掌上办 account holds them. The application then waits (`AWAITING_CONSENT`) until
    /// they accept it in their mini-program; nothing is sent before.
    #[serde(default)]
    pub consent_of: Option<ConsentOf>,
}

/// The person whose consent an application for them waits for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentOf {
    pub name: String,
    pub id_card_no: String,
}

/// Where a consent request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsentStatus {
    Pending,
    Accepted,
    Refused,
    Expired,
}

/// The consent an application for someone not on the phone waits for (or got).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationConsent {
    pub id: String,
    pub status: ConsentStatus,
    pub expires_at: DateTime<Utc>,
    /// When the person accepted or refused.
    pub answered_at: Option<DateTime<Utc>>,
}

/// A request for my consent to an application someone made for me (代办).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequest {
    pub id: String,
    pub application_id: String,
    pub item_code: String,
    pub item_name: String,
    /// Who asks (the agent), masked.
    pub requester_name: String,
    pub status: ConsentStatus,
    pub created_at: DateTime<Utc>,
    /// After this the request lapses and the application is never sent.
    pub expires_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/consents`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequestList {
    pub consents: Vec<ConsentRequest>,
}

/// Where the delivery to the provincial platform stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Received; being sent to the platform.
    Submitting,
    /// The platform cannot be reached now; it is queued and sent as soon as it can be.
    Queued,
    /// The platform has it: `sblsh` is its case number.
    Submitted,
    /// The platform refused it; `problem` says what to fix.
    Invalid,
    /// Held for an operator; nothing for the citizen to do.
    Parked,
    /// For someone not on this phone: waits for their consent; nothing is sent yet.
    AwaitingConsent,
    /// They refused: it is never sent.
    ConsentRefused,
    /// They did not answer in time: it is never sent.
    ConsentExpired,
}

/// A case's phase, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CasePhase {
    PreAccepted,
    Accepted,
    Rejected,
    InReview,
    SupplementRequired,
    Supplemented,
    SpecialProcedure,
    Concluded,
    Delivered,
}

/// A field at fault.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

/// Why an application was refused or is held.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub code: String,
    pub message: String,
    pub fields: Vec<FieldProblem>,
}

/// One entry of the timeline, oldest first, in the platform's version order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub version: u64,
    pub phase: CasePhase,
    /// The phase in Chinese.
    pub title: String,
    pub at: DateTime<Utc>,
    /// The department or window.
    pub handler: String,
    /// The platform's detail: `reason`, `step`, `materials`, `kind`/`until`, `result`,
    /// `trackingNo` …
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// The promised deadline (承诺办结时间), in working days on the calendar.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deadline {
    pub date: NaiveDate,
    pub working_days: u32,
    /// The clock is stopped now (补正 or 特别程序): the date will move.
    pub paused: bool,
}

/// What the platform asks to be supplied (补正告知).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupplementRequest {
    pub version: u64,
    pub reason: String,
    /// The item's material codes to supply.
    pub materials: Vec<String>,
}

/// A supplement the citizen submitted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Supplement {
    pub id: String,
    pub requested_version: u64,
    pub status: DeliveryStatus,
    pub problem: Option<Problem>,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/applications/{id}/supplements`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupplementSubmission {
    pub materials: Vec<MaterialRef>,
    pub note: Option<String>,
}

/// An application.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: String,
    pub item_code: String,
    pub item_name: String,
    pub status: DeliveryStatus,
    /// The case's current phase, once the platform reports one.
    pub phase: Option<CasePhase>,
    /// What the citizen reads: 提交中, 排队等待提交, 已提交, 已受理 …
    pub status_text: String,
    /// 申办流水号, once the platform has the application.
    pub sblsh: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub problem: Option<Problem>,
    pub tracking_no: Option<String>,
    pub on_behalf: bool,
    /// Applied for a family member (`?memberId=`): that member's id; the member is the
    /// applicant and the citizen the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<i64>,
    pub obtain_way: ObtainWay,
    pub materials: Vec<MaterialRef>,
    /// Only in the single-application view.
    #[schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<Value>,
    pub updated_at: DateTime<Utc>,
    /// Only in the single-application view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEntry>>,
    pub deadline: Option<Deadline>,
    pub supplement_request: Option<SupplementRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplements: Option<Vec<Supplement>>,
    /// For someone not on this phone: the consent it waits for (or got), with its moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ApplicationConsent>,
}

/// `GET /api/v1/applications`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationList {
    pub applications: Vec<Application>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    /// 1-based, default 1.
    pub page: Option<u64>,
    /// 1–50, default 20.
    pub page_size: Option<u64>,
}

/// A parked delivery (operators).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParkedApplication {
    pub application_id: String,
    pub supplement_id: Option<String>,
    pub item_code: String,
    pub item_name: String,
    pub attempts: u32,
    pub first_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub parked_at: DateTime<Utc>,
}

/// `GET /staff/v1/applications/parked`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParkedList {
    pub applications: Vec<ParkedApplication>,
}
