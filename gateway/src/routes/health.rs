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
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ready", "database": "ok", "store": "ok"
    })))
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
