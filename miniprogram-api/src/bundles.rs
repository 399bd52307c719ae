//! 一件事 bundles (高效办成一件事): several items in one form, one set of materials and one
//! submission, followed as one matter (province-api.md, "一件事 bundles"). The catalogue's
//! bundles are public; applying and following need a login.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::applications::{
    Application, ConsentOf, DeliveryStatus, MaterialRef, ObtainWay, PostAddress, Problem,
};
use crate::catalogue::RequiredMaterial;

/// `GET /api/v1/bundles` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct BundleQuery {
    /// Part of the bundle's name or description, up to 50 characters.
    pub q: Option<String>,
    /// 1 to 1000, default 1.
    pub page: Option<u64>,
    /// 1 to 50, default 20.
    pub page_size: Option<u64>,
}

/// One bundle of a search.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleSummary {
    pub bundle_code: String,
    pub name: String,
    pub description: String,
    /// Items joined, required and optional.
    pub item_count: u32,
    /// The bundle's promise, in working days.
    pub promised_days: i32,
    /// 1–4; 4 is fully online.
    pub online_level: i32,
}

/// `GET /api/v1/bundles`: a page of bundles, by name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleList {
    pub bundles: Vec<BundleSummary>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// An item a bundle joins.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleItem {
    pub item_code: String,
    pub name: String,
    pub department: String,
    /// False: the citizen may leave it out (`optionalItems` chooses it).
    pub required: bool,
    /// Yuan.
    pub fee: String,
    pub promised_days: i32,
    /// The item's own materials; shared ones (same code) are uploaded once for the bundle.
    pub materials: Vec<RequiredMaterial>,
}

/// A material of the bundle, uploaded once for every item that uses it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleMaterial {
    pub code: String,
    pub name: String,
    pub formats: Vec<String>,
    pub max_size_kb: u32,
    /// Needed by a required item (an optional item's needs count when it is chosen).
    pub required: bool,
    /// The items using it (item codes).
    pub used_by: Vec<String>,
    /// Declared shared by the platform.
    pub shared: bool,
}

/// A hall where the bundle can be handled.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleHall {
    pub code: String,
    pub name: String,
    pub address: String,
    /// One window category of the hall handles every required item (无差别综合窗口).
    pub bookable: bool,
}

/// `GET /api/v1/bundles/{code}`: the bundle's guide (一件事办事指南).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleGuide {
    pub bundle_code: String,
    pub name: String,
    pub description: String,
    pub items: Vec<BundleItem>,
    /// Each material once, with the items using it.
    pub materials: Vec<BundleMaterial>,
    /// The items' fees together, yuan.
    pub total_fee: String,
    /// The bundle's own promise, in working days.
    pub promised_days: i32,
    pub online_level: i32,
    pub halls: Vec<BundleHall>,
    pub synced_at: DateTime<Utc>,
}

/// `POST /api/v1/bundle-applications` (add `?memberId=` to apply for a family member).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleApplicationRequest {
    pub bundle_code: String,
    /// The optional items chosen (item codes); the required ones are always applied for.
    #[serde(default)]
    pub optional_items: Vec<String>,
    /// One form for the whole bundle, as a JSON object.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub form: Value,
    /// Each material once, by code: a shared one serves every item using it.
    #[serde(default)]
    pub materials: Vec<MaterialRef>,
    pub obtain_way: ObtainWay,
    pub post_address: Option<PostAddress>,
    /// For someone not on this phone (代办): their name and ID number; they must hold a verified
    /// account (`CONSENT_PERSON_NOT_FOUND` otherwise) and accept the consent request from it
    /// before anything is sent, exactly as for an application. Not with `?memberId=`.
    #[serde(default)]
    pub consent_of: Option<ConsentOf>,
}

/// Where a bundle stands as one matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BundleState {
    Submitting,
    Queued,
    Invalid,
    Parked,
    InProgress,
    /// A part asks for a supplement: answer it on that part (`POST
    /// /api/v1/applications/{part applicationId}/supplements`).
    SupplementRequired,
    Concluded,
    /// Every part ended; one or more were rejected, the others concluded.
    PartlyRejected,
    Rejected,
    /// For someone not on this phone (`consentOf`): waits for their consent; nothing is sent yet.
    AwaitingConsent,
    /// They refused: never sent.
    ConsentRefused,
    /// They did not answer in time: never sent.
    ConsentExpired,
}

/// The bundle's deadline: its promise counted in working days (调休 included) from the day the
/// platform received it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleDeadline {
    pub date: NaiveDate,
    pub working_days: u32,
    /// A part waits for a supplement: its clock is stopped.
    pub paused: bool,
}

/// One part: the application (and case) of one item of the bundle.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundlePart {
    pub item_code: String,
    pub sblsh: String,
    /// The part's application with its timeline, deadline and supplement request.
    pub application: Application,
}

/// A bundle application.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleApplication {
    pub id: String,
    pub bundle_code: String,
    pub bundle_name: String,
    /// The delivery to the platform.
    pub status: DeliveryStatus,
    /// The matter as a whole.
    pub state: BundleState,
    pub state_text: String,
    /// The platform's number for the bundle.
    pub bundle_no: Option<String>,
    /// The items applied for (item codes).
    pub item_codes: Vec<String>,
    pub materials: Vec<MaterialRef>,
    pub obtain_way: ObtainWay,
    pub on_behalf: bool,
    pub member_id: Option<i64>,
    /// For someone not on this phone (`consentOf`): the consent it waits for (or got), the same
    /// request an application asks; answered at `POST /api/v1/consents/{id}/accept|refuse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<crate::applications::ApplicationConsent>,
    pub problem: Option<Problem>,
    pub submitted_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub deadline: Option<BundleDeadline>,
    /// Each part with its timeline (empty in lists and before the platform answered).
    pub parts: Vec<BundlePart>,
}

/// `GET /api/v1/bundle-applications`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleApplicationList {
    pub bundle_applications: Vec<BundleApplication>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}
