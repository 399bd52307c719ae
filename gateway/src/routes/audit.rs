//! The operator's audit trail, read side: `GET /staff/v1/audit-log` (a page, newest first) and
//! `GET /staff/v1/audit-log/export` (every matching entry as CSV). Only an administrator of every
//! hall reads it: the trail spans halls and staff accounts. What is recorded, and how, is
//! `crate::audit`.

use actix_web::{HttpResponse, web};
use miniprogram_api::staff::{AuditEntry, AuditLogPage, AuditLogQuery};
use miniprogram_api::{ErrorBody, ErrorCode};
use services::audit::{Entry, Filter};

use crate::error::ApiError;
use crate::extract::CurrentStaff;
use crate::routes::resource;
use crate::startup::AppState;

pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/audit-log", [web::get().to(list)]))
        .service(resource("/audit-log/export", [web::get().to(export)]));
}

fn require_global_admin(staff: &CurrentStaff) -> Result<(), ApiError> {
    if staff.0.is_global_admin() {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden)
            .with_message("只有全部大厅的管理员可以查看操作日志"))
    }
}

fn filter(query: &AuditLogQuery) -> Result<Filter, ApiError> {
    if let (Some(from), Some(until)) = (query.from, query.until)
        && from >= until
    {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .with_message("from 须早于 until")
            .with_field("from", "须早于 until"));
    }
    Ok(Filter {
        staff_id: query.staff_id,
        from: query.from,
        until: query.until,
        before: query.before,
    })
}

fn to_wire(e: Entry) -> AuditEntry {
    AuditEntry {
        id: e.id,
        at: e.at,
        staff_id: e.staff_id,
        actor: e.actor,
        address: e.address,
        method: e.method,
        route: e.route,
        path: e.path,
        status: e.status,
        request_id: e.request_id,
        body: e.body,
    }
}

/// A page of the audit trail, newest first.
#[utoipa::path(
    get, path = "/staff/v1/audit-log", tag = "audit",
    params(AuditLogQuery),
    responses(
        (status = 200, body = AuditLogPage),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: not an administrator of every hall", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    query: web::Query<AuditLogQuery>,
) -> Result<web::Json<AuditLogPage>, ApiError> {
    require_global_admin(&staff)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .with_message("limit 须为 1 至 200")
            .with_field("limit", "须为 1 至 200"));
    }
    let entries = state.audit.list(&filter(&query)?, limit).await?;
    let next_before = (entries.len() as u64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(web::Json(AuditLogPage {
        entries: entries.into_iter().map(to_wire).collect(),
        next_before,
    }))
}

/// Every matching entry, oldest first, as CSV (UTF-8 with a byte-order mark).
#[utoipa::path(
    get, path = "/staff/v1/audit-log/export", tag = "audit",
    params(AuditLogQuery),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 401, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: not an administrator of every hall", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn export(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    query: web::Query<AuditLogQuery>,
) -> Result<HttpResponse, ApiError> {
    require_global_admin(&staff)?;
    let csv = state.audit.export_csv(&filter(&query)?).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"staff-audit-log.csv\"",
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(csv))
}
