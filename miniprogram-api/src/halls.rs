//! Halls (办事大厅): what citizens see (`GET /api/v1/halls…`) and what hall administrators set
//! (`/staff/v1/halls…`). Times of day are `HH:MM` in Asia/Shanghai; weekdays are 1 (Monday) to 7
//! (Sunday).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A hall's booking rules; defaults follow the common practice of halls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HallRules {
    /// Length of a slot, 5–240 minutes (30).
    pub slot_minutes: i32,
    /// Days ahead a day's slots are released, 1–60 (7).
    pub release_days_ahead: i32,
    /// Time of day of the release, `HH:MM` (`08:00`).
    pub release_time: String,
    /// Nearest bookable working day ahead, 0–30 (1).
    pub book_min_working_days: i32,
    /// Furthest bookable working day ahead, up to 60 (5).
    pub book_max_working_days: i32,
    /// Cancelling closes this many minutes before the slot, 0–1440 (120).
    pub cancel_cutoff_minutes: i32,
    /// Check-in opens this many minutes before the slot, 0–240 (15).
    pub checkin_before_minutes: i32,
    /// Check-in closes this many minutes after the slot's start, 0–240 (30).
    pub checkin_after_minutes: i32,
    /// Bookings per person and week, 1–50 (2).
    pub weekly_limit: i32,
    /// Bookings per person and month, the weekly limit to 200 (6).
    pub monthly_limit: i32,
    /// No-shows within the penalty window that ban, 1–30 (2).
    pub no_show_limit: i32,
    /// Cancellations within the penalty window that ban, 1–50 (5).
    pub cancel_limit: i32,
    /// The penalty window in days, 1–365 (30).
    pub penalty_window_days: i32,
    /// Length of a ban in days, 1–365 (90).
    pub ban_days: i32,
}

/// Some rules to change; a missing one keeps its value (its default for a new hall).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RulesPatch {
    pub slot_minutes: Option<i32>,
    pub release_days_ahead: Option<i32>,
    pub release_time: Option<String>,
    pub book_min_working_days: Option<i32>,
    pub book_max_working_days: Option<i32>,
    pub cancel_cutoff_minutes: Option<i32>,
    pub checkin_before_minutes: Option<i32>,
    pub checkin_after_minutes: Option<i32>,
    pub weekly_limit: Option<i32>,
    pub monthly_limit: Option<i32>,
    pub no_show_limit: Option<i32>,
    pub cancel_limit: Option<i32>,
    pub penalty_window_days: Option<i32>,
    pub ban_days: Option<i32>,
}

/// `POST /staff/v1/halls`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateHallRequest {
    /// 2–32 letters, digits, `-` or `_`, unique (`HALL-0571-01`).
    pub code: String,
    /// Up to 100 characters.
    pub name: String,
    /// Up to 200 characters.
    pub address: String,
    #[serde(default)]
    pub rules: RulesPatch,
}

/// `PUT /staff/v1/halls/{hallId}`: what is given changes, the rest stays.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateHallRequest {
    pub name: Option<String>,
    pub address: Option<String>,
    pub rules: RulesPatch,
    /// `false` hides the hall from citizens and stops its bookings.
    pub active: Option<bool>,
}

/// A weekday's opening hours, with an optional lunch break inside them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpeningHours {
    /// 1 (Monday) to 7 (Sunday).
    pub weekday: i64,
    /// `HH:MM`
    pub opens: String,
    /// `HH:MM`, after `opens`.
    pub closes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_end: Option<String>,
}

/// `PUT /staff/v1/halls/{hallId}/hours`: the whole week; a weekday not listed is closed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetHoursRequest {
    pub days: Vec<OpeningHours>,
}

/// `PUT /staff/v1/halls/{hallId}/exceptions/{date}`: closed, or open at other hours.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PutExceptionRequest {
    pub closed: bool,
    /// With `closed: false`: `HH:MM`.
    #[serde(default)]
    pub opens: Option<String>,
    #[serde(default)]
    pub closes: Option<String>,
    /// Shown to citizens, up to 200 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// A date on which a hall is closed or keeps other hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DateException {
    pub date: NaiveDate,
    pub closed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes: Option<String>,
    pub note: String,
}

/// `POST /staff/v1/halls/{hallId}/categories`, `PUT …/categories/{id}`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryRequest {
    /// 1–16 letters, digits, `-` or `_`, unique in the hall.
    pub code: String,
    /// Up to 100 characters (`综合受理`).
    pub name: String,
    /// One or two uppercase letters, unique in the hall: tickets read `A001`.
    pub prefix: String,
    /// Seats per slot, 1–200; null: as many as active counters serve the category.
    #[serde(default)]
    pub seats_per_slot: Option<i64>,
}

/// A category of items a hall serves (业务类别).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub prefix: String,
    pub seats_per_slot: Option<i32>,
}

/// A category a counter serves, and its weight (1–10) when the counter calls the next number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CounterCategory {
    pub category_id: i64,
    pub weight: i64,
}

/// `POST /staff/v1/halls/{hallId}/counters`, `PUT …/counters/{id}`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CounterRequest {
    /// 1–999, unique in the hall.
    pub number: i64,
    /// Up to 100 characters (`1号窗口`).
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    /// Categories of this hall, each once, at most 20.
    #[serde(default)]
    pub categories: Vec<CounterCategory>,
    /// What the board reads out after "到" (`请A001号到{spokenName}办理`), up to 20 characters;
    /// absent, null or blank: the number (`1号窗口`). Replaced like every field of the PUT.
    #[serde(default)]
    pub spoken_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// A counter (窗口).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counter {
    pub id: i64,
    pub number: i32,
    pub name: String,
    pub active: bool,
    pub categories: Vec<CounterCategory>,
    /// What the board reads out after "到"; null: the number (`1号窗口`).
    pub spoken_name: Option<String>,
}

/// `PUT /staff/v1/halls/{hallId}/items/{itemCode}`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MapItemRequest {
    pub category_id: i64,
}

/// An item handled at a hall, and by which category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HallItem {
    pub item_code: String,
    /// The catalogue's name, if the item is in it.
    pub item_name: Option<String>,
    pub category_id: i64,
}

/// A hall with everything its administrator set (`GET /staff/v1/halls/{hallId}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hall {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub address: String,
    pub active: bool,
    pub rules: HallRules,
    pub hours: Vec<OpeningHours>,
    /// From today on.
    pub exceptions: Vec<DateException>,
    pub categories: Vec<Category>,
    pub counters: Vec<Counter>,
    pub items: Vec<HallItem>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A hall in a staff member's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HallSummary {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub address: String,
    pub active: bool,
    pub rules: HallRules,
}

/// `GET /staff/v1/halls`: the halls the member has a role at (every hall for a global admin).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HallList {
    pub halls: Vec<HallSummary>,
}

/// `GET /staff/v1/halls/{hallId}/check-in-qr`: the text to print as the hall's check-in QR.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInQr {
    /// `ZSBHALL:{code}:{secret}`
    pub payload: String,
}

/// A hall as citizens see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicHall {
    pub code: String,
    pub name: String,
    pub address: String,
    /// The weekdays it opens; closed on the others and on non-working days of the calendar.
    pub hours: Vec<OpeningHours>,
    /// Closures and changed hours of the coming two months (only for a single hall).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<DateException>,
}

/// `GET /api/v1/halls`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicHallList {
    pub halls: Vec<PublicHall>,
}
