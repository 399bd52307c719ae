//! 好差评: what waits for the citizen's rating, the rating (grade, the channel's indicators,
//! tags, a comment), my evaluations with their rectification, the 追评; for staff, the
//! rectification tickets, comments in review and the statistics.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What is rated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubjectKind {
    /// A served queue ticket (现场, 一次一评): `subjectId` is the ticket's id.
    Ticket,
    /// A concluded or rejected application (网上, 一事一评): `subjectId` is the application's id.
    Case,
}

/// One indicator of a channel: `key` on the wire, `name` to show.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndicatorInfo {
    pub key: String,
    pub name: String,
}

/// Tags offered for a grade range.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagChoice {
    pub min_grade: u8,
    pub max_grade: u8,
    pub tags: Vec<String>,
}

/// A subject waiting for my rating.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingEvaluation {
    pub subject_kind: SubjectKind,
    pub subject_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_name: Option<String>,
    /// The hall, or online the item's department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    pub invited_at: DateTime<Utc>,
    /// Unrated by then, 基本满意 is recorded for it.
    pub due_at: DateTime<Utc>,
    /// The indicators to rate, each 1–5.
    pub indicators: Vec<IndicatorInfo>,
    pub tags: Vec<TagChoice>,
}

/// `GET /api/v1/evaluations/pending`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingList {
    pub pending: Vec<PendingEvaluation>,
}

/// `POST /api/v1/evaluations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewEvaluation {
    pub subject_kind: SubjectKind,
    pub subject_id: String,
    /// 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意.
    pub grade: i64,
    /// Every indicator of the subject's channel, each 1–5 (see `pending`'s `indicators`).
    pub indicators: BTreeMap<String, i64>,
    /// Tags offered for the grade.
    #[serde(default)]
    pub tags: Vec<String>,
    /// At most 500 characters; checked by WeChat before anyone else sees it.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Where a comment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommentStatus {
    /// No comment.
    None,
    /// Waiting for the content check: shown to nobody else yet.
    Unchecked,
    /// Shown.
    Pass,
    /// Kept, hidden until staff clear it.
    Review,
    /// Cleared by staff: shown.
    Cleared,
    /// Hidden for good.
    Hidden,
}

/// Where a rectification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RectificationStatus {
    Open,
    /// The citizen was contacted (回访).
    Contacted,
    Rectified,
}

/// A 差评's rectification ticket (no citizen's identity in it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rectification {
    pub id: i64,
    pub evaluation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hall_id: Option<i64>,
    /// Online: the item's department, as the platform names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub status: RectificationStatus,
    /// The last working day to contact the citizen (Asia/Shanghai).
    pub contact_due_date: NaiveDate,
    pub contact_due_at: DateTime<Utc>,
    /// The last working day to rectify.
    pub rectify_due_date: NaiveDate,
    pub rectify_due_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rectified_at: Option<DateTime<Utc>>,
    /// The outcome, as the citizen is told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rectify_note: Option<String>,
    /// A deadline passed without its step.
    pub overdue: bool,
    /// When the hall's admin was alerted (once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_notified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Staff's list only: what was rated (never who).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<RectificationRating>,
}

/// The 差评 behind a rectification ticket, as staff see it: no citizen's identity; comments
/// only once WeChat passed them or staff cleared them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RectificationRating {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_name: Option<String>,
    pub grade: u8,
    pub grade_text: String,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The citizen's 追评 after the rectification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
}

/// The one follow-up rating (追评).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FollowUp {
    pub grade: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// An evaluation, as its citizen sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub id: String,
    pub subject_kind: SubjectKind,
    pub subject_id: String,
    pub grade: u8,
    /// 非常满意 … 非常不满意.
    pub grade_text: String,
    pub indicators: BTreeMap<String, u8>,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub comment_status: CommentStatus,
    /// The window's default (基本满意), not the citizen's words.
    pub defaulted: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rectification: Option<Rectification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
}

/// `GET /api/v1/evaluations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationList {
    pub evaluations: Vec<Evaluation>,
}

/// `POST /api/v1/evaluations/{id}/follow-up`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewFollowUp {
    pub grade: i64,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `GET /staff/v1/rectifications`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RectificationQuery {
    /// A hall's tickets (its admins); without it, the online ones (global admins).
    #[serde(default)]
    pub hall_id: Option<i64>,
    /// Online tickets of one department.
    #[serde(default)]
    pub department: Option<String>,
    /// `open` (default): not rectified yet; `all`.
    #[serde(default)]
    pub status: Option<String>,
}

/// Rectification tickets, overdue first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RectificationList {
    pub rectifications: Vec<Rectification>,
}

/// `POST /staff/v1/rectifications/{id}/contact` and `…/rectify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RectificationNote {
    /// 1–1000 characters: what was said (回访), or what was done (整改).
    pub note: String,
}

/// `PUT /staff/v1/halls/{hallId}/evaluation-settings`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationSettings {
    /// Working days to rectify a 差评 (1–30; default 5).
    pub rectify_days: i64,
}

/// A comment waiting for staff.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentInReview {
    pub evaluation_id: String,
    pub grade: u8,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /staff/v1/halls/{hallId}/evaluations/review`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentsInReview {
    pub comments: Vec<CommentInReview>,
}

/// `POST /staff/v1/evaluations/{id}/comment`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentDecision {
    /// Show it (`true`) or hide it for good.
    pub visible: bool,
}

/// `GET /staff/v1/halls/{hallId}/evaluations/stats`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day, `YYYY-MM-DD` (Asia/Shanghai).
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// A hall's: `hall` (default), `category`, `counter`, `staff` or `item`; online
    /// (`/staff/v1/evaluations/departments`): `department` (default) or `item`.
    #[serde(default)]
    pub by: Option<String>,
    /// `csv` for the monthly report; JSON otherwise.
    #[serde(default)]
    pub format: Option<String>,
}

/// One row of the statistics.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationStatsRow {
    /// The id (or item code) of what the row stands for.
    pub key: String,
    pub name: String,
    pub count: u64,
    /// Share of 4–5.
    pub good_rate: f64,
    /// Share of 1–2.
    pub bad_rate: f64,
    pub defaulted_share: f64,
    /// Average per indicator (the citizens' own ratings).
    pub indicators: BTreeMap<String, f64>,
    pub bad_count: u64,
    pub rectified_in_time: u64,
    /// 差评整改率: rectified within the limit ÷ all 差评.
    pub rectification_rate: f64,
    pub overdue: u64,
}

/// The statistics of a period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationStats {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: String,
    pub rows: Vec<EvaluationStatsRow>,
}

/// `GET /staff/v1/inbox`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Only the entries nobody opened yet.
    #[serde(default)]
    pub unread: Option<bool>,
}

/// An alert for a hall's administrators (today: a 差评's rectification past a deadline).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    pub id: i64,
    /// The hall; absent for online business (global administrators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hall_id: Option<i64>,
    /// `RECTIFICATION_OVERDUE`.
    pub kind: String,
    /// What it is about: for `RECTIFICATION_OVERDUE`, the rectification's id.
    pub subject: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// When one of the hall's admins opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
}

/// The member's inbox, newest first, with the unread count (the console's badge).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxList {
    pub entries: Vec<InboxEntry>,
    pub unread: u64,
}
