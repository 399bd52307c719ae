//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, web};
use miniprogram_api::ErrorCode;

use crate::error::ApiError;
use crate::startup::AppState;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database and the store answer.
///
/// A year whose working-day calendar should be loaded and is not (see
/// [`WorkingCalendar::missing_years`](services::calendar::WorkingCalendar::missing_years)) is a
/// warning in the body, not a failure: the instance serves everything else, and taking every
/// instance out of the load balancer for a data gap would turn it into an outage. Its days are
/// simply not released for booking until the year is loaded.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (db, store) = tokio::join!(state.db.ping(), state.store.ping());
    if let Err(e) = &db {
        tracing::warn!(error = %e, "database not ready");
    }
    if let Err(e) = &store {
        tracing::warn!(error = %e, "store not ready");
    }
    if db.is_err() || store.is_err() {
        return Err(
            ApiError::new(ErrorCode::ServiceUnavailable).with_message(format!(
                "服务暂时不可用：数据库{}，缓存{}",
                if db.is_ok() { "正常" } else { "不可用" },
                if store.is_ok() { "正常" } else { "不可用" }
            )),
        );
    }
    let calendar = match state.calendar.calendar().await {
        Ok(calendar) => {
            let missing = calendar.missing_years(state.booking.clock().today());
            if missing.is_empty() {
                serde_json::json!({ "status": "ok" })
            } else {
                let years: Vec<String> = missing.iter().map(i32::to_string).collect();
                serde_json::json!({
                    "status": "missing",
                    "missingYears": missing,
                    "warning": format!(
                        "{}年的工作日历（节假日安排）尚未导入，这些年份的日期暂不放号",
                        years.join("、")
                    ),
                })
            }
        }
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "calendar not readable");
            serde_json::json!({ "status": "unreadable" })
        }
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ready", "database": "ok", "store": "ok", "calendar": calendar
    })))
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
