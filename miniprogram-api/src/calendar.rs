//! The working-day calendar (工作日历): the administrator loads each year's holidays and make-up
//! working days as text; citizens read which dates the halls work.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What a listed date is, whatever its weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DayKind {
    /// A day off (放假), even on a weekday.
    Holiday,
    /// A make-up working day (调休上班), even on a weekend.
    Workday,
}

/// One listed date of a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarEntry {
    pub date: NaiveDate,
    pub kind: DayKind,
    pub note: String,
}

/// `GET|PUT /staff/v1/calendar/{year}`: the year as loaded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarYear {
    pub year: i32,
    /// The text as loaded, one date a line (`2026-10-01 holiday 国庆节`).
    pub source: String,
    pub entries: Vec<CalendarEntry>,
    pub loaded_at: DateTime<Utc>,
    /// The staff member who loaded it; null for the demo's seed.
    pub loaded_by: Option<i64>,
}

/// `GET /api/v1/calendar` query: at most 62 dates.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct CalendarQuery {
    /// `YYYY-MM-DD`
    pub from: NaiveDate,
    /// `YYYY-MM-DD`, on or after `from`, at most 61 days later.
    pub to: NaiveDate,
}

/// One date of the public calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarDay {
    pub date: NaiveDate,
    /// 1 (Monday) to 7 (Sunday).
    pub weekday: u8,
    pub is_working_day: bool,
    /// The holiday's name (`国庆节`) when the date is a listed holiday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holiday: Option<String>,
    /// Set when the year's data lists the date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DayKind>,
    /// The listed date's note (`国庆节调休`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `GET /api/v1/calendar`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarDays {
    pub days: Vec<CalendarDay>,
}
