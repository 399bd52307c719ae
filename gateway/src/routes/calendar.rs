//! The working-day calendar. A global admin loads a year as text (`PUT /staff/v1/calendar/{year}`,
//! `text/plain`, the format `YearData::parse` reads) and any staff member reads it back; citizens
//! read which dates the halls work (`GET /api/v1/calendar?from=&to=`, no login).

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use chrono::Datelike as _;
use miniprogram_api::calendar as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::calendar::{DayKind, Entry, LoadYearError};
use services::halls::{ListDaysError, MAX_LISTED_DAYS, StoredYear};

use crate::error::ApiError;
use crate::extract::{CurrentStaff, day};
use crate::routes::resource;
use crate::startup::AppState;

/// The largest year text accepted.
const MAX_YEAR_BYTES: usize = 64 * 1024;

/// The citizen route, under `/api/v1`.
pub fn configure_public(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/calendar", [web::get().to(days)]));
}

/// The administrators' routes, under `/staff/v1`.
pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(
            "/calendar/{year}",
            [web::get().to(get_year), web::put().to(put_year)],
        )
        .app_data(web::PayloadConfig::new(MAX_YEAR_BYTES)),
    );
}

fn kind_to_wire(kind: DayKind) -> wire::DayKind {
    match kind {
        DayKind::Holiday => wire::DayKind::Holiday,
        DayKind::Workday => wire::DayKind::Workday,
    }
}

fn entry_to_wire(e: &Entry) -> wire::CalendarEntry {
    wire::CalendarEntry {
        date: e.date,
        kind: kind_to_wire(e.kind),
        note: e.note.clone(),
    }
}

fn year_to_wire(y: StoredYear) -> wire::CalendarYear {
    wire::CalendarYear {
        year: y.year,
        entries: y.entries.iter().map(entry_to_wire).collect(),
        source: y.source,
        loaded_at: y.loaded_at,
        loaded_by: y.loaded_by,
    }
}

fn year_of(raw: i32) -> Result<i32, ApiError> {
    crate::extract::year("year", raw)
}

fn calendar_invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::CalendarInvalid)
        .with_message(message.clone())
        .with_field("body", message)
}

/// Load (or replace) a year's holidays and make-up working days (global admins).
///
/// The body is `text/plain`, one date a line: `2026-10-01 holiday 国庆节`, `2026-10-10 workday
/// 国庆节调休`; `#` starts a comment.
#[utoipa::path(
    put, path = "/staff/v1/calendar/{year}", tag = "calendar",
    params(("year" = i32, Path)),
    request_body(content = String, content_type = "text/plain"),
    responses(
        (status = 200, body = wire::CalendarYear),
        (status = 403, description = "FORBIDDEN: not a global admin", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE: over 64 KiB", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_MEDIA_TYPE: not text/plain", body = ErrorBody),
        (status = 422, description = "CALENDAR_INVALID: the message names the line at fault, or the year", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_year(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    req: HttpRequest,
    path: web::Path<i32>,
    body: web::Bytes,
) -> Result<web::Json<wire::CalendarYear>, ApiError> {
    if !staff.0.is_global_admin() {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    let year = year_of(path.into_inner())?;
    let text_plain = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/plain"))
        });
    if !text_plain {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType)
            .with_message("请以 text/plain 格式提交，每行一个日期"));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| calendar_invalid("内容应为 UTF-8 编码的文本".into()))?;
    state
        .calendar
        .load_year(year, text, Some(staff.0.staff_id))
        .await
        .map_err(|e| match e {
            LoadYearError::Invalid(e) => calendar_invalid(e.to_string()),
            e @ LoadYearError::WrongYear { .. } => calendar_invalid(e.to_string()),
            LoadYearError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    tracing::info!(year, staff_id = staff.0.staff_id, "calendar year loaded");
    let stored =
        state.calendar_view.year(year).await?.ok_or_else(|| {
            ApiError::unexpected(anyhow::anyhow!("calendar year {year} not stored"))
        })?;
    Ok(web::Json(year_to_wire(stored)))
}

/// A loaded year: its text and entries (any staff member).
#[utoipa::path(
    get, path = "/staff/v1/calendar/{year}", tag = "calendar",
    params(("year" = i32, Path)),
    responses(
        (status = 200, body = wire::CalendarYear),
        (status = 404, description = "NOT_FOUND: the year was never loaded", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_year(
    state: web::Data<AppState>,
    _staff: CurrentStaff,
    path: web::Path<i32>,
) -> Result<web::Json<wire::CalendarYear>, ApiError> {
    let year = year_of(path.into_inner())?;
    let stored = state.calendar_view.year(year).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound).with_message(format!("{year}年的工作日历尚未导入"))
    })?;
    Ok(web::Json(year_to_wire(stored)))
}

/// Which dates the halls work, from `from` to `to` (at most 62 dates).
#[utoipa::path(
    get, path = "/api/v1/calendar", tag = "calendar",
    params(wire::CalendarQuery),
    responses(
        (status = 200, body = wire::CalendarDays),
        (status = 400, description = "BAD_REQUEST: a date that does not parse", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED: a backward range or over 62 dates", body = ErrorBody),
    )
)]
pub async fn days(
    state: web::Data<AppState>,
    query: web::Query<wire::CalendarQuery>,
) -> Result<web::Json<wire::CalendarDays>, ApiError> {
    let days = state
        .calendar_view
        .days(day("from", query.from)?, day("to", query.to)?)
        .await
        .map_err(|e| match e {
            ListDaysError::BadRange => {
                let reason = format!("结束日期应不早于开始日期，且最多查询{MAX_LISTED_DAYS}天");
                ApiError::new(ErrorCode::ValidationFailed)
                    .with_message(reason.clone())
                    .with_field("to", reason)
            }
            ListDaysError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(wire::CalendarDays {
        days: days
            .into_iter()
            .map(|d| wire::CalendarDay {
                weekday: d.date.weekday().number_from_monday() as u8,
                holiday: match d.kind {
                    Some(DayKind::Holiday) => {
                        Some(d.note.clone().unwrap_or_else(|| "休息日".into()))
                    }
                    _ => None,
                },
                kind: d.kind.map(kind_to_wire),
                note: d.note,
                date: d.date,
                is_working_day: d.is_working_day,
            })
            .collect(),
    }))
}
