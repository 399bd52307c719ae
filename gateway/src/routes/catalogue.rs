//! The service catalogue. Citizens search it and read an item's guide without logging in
//! (`GET /api/v1/items?q=&page=&pageSize=`, `GET /api/v1/items/{itemCode}`); a global admin can
//! sync it from the provincial platform now rather than wait for the periodic sync
//! (`POST /staff/v1/catalogue/sync?full=`).

use actix_web::web;
use miniprogram_api::catalogue as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::catalogue::{ItemCode, ItemGuide, SearchError, SyncError};
use services::province::{ItemType, MaterialSpec};

use crate::error::ApiError;
use crate::extract::CurrentStaff;
use crate::routes::resource;
use crate::startup::AppState;

/// The citizen routes, under `/api/v1`.
pub fn configure_public(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/items", [web::get().to(search)]))
        .service(resource("/items/{item_code}", [web::get().to(item)]));
}

/// The administrators' routes, under `/staff/v1`.
pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/catalogue/sync", [web::post().to(sync)]));
}

fn material_to_wire(m: MaterialSpec) -> wire::RequiredMaterial {
    wire::RequiredMaterial {
        code: m.code,
        name: m.name,
        required: m.required,
        formats: m.formats,
        max_size_kb: m.max_size_kb,
        note: m.note,
    }
}

fn type_name(t: ItemType) -> &'static str {
    match t {
        ItemType::Instant => "即办件",
        ItemType::Promised => "承诺件",
    }
}

fn guide_to_wire(g: ItemGuide) -> wire::ItemGuide {
    wire::ItemGuide {
        item_type: g.item_type.code(),
        item_type_name: type_name(g.item_type).to_owned(),
        materials: g.materials.into_iter().map(material_to_wire).collect(),
        halls: g
            .halls
            .into_iter()
            .map(|h| wire::ItemHall {
                code: h.code,
                name: h.name,
                address: h.address,
                bookable: h.bookable,
            })
            .collect(),
        item_code: g.item_code,
        handle_item_code: g.handle_item_code,
        name: g.name,
        department: g.department,
        legal_days: g.legal_days,
        promised_days: g.promised_days,
        fee: g.fee,
        online_level: g.online_level,
        bookable: g.bookable,
        guide_url: g.guide_url,
        synced_at: g.synced_at,
    }
}

/// Search items by a keyword in their name or department (no keyword: every item), by name.
#[utoipa::path(
    get, path = "/api/v1/items", tag = "catalogue",
    params(wire::ItemQuery),
    responses(
        (status = 200, body = wire::ItemList),
        (status = 422, description = "VALIDATION_FAILED: keyword over 50 characters, page outside 1–1000, pageSize outside 1–50", body = ErrorBody),
    )
)]
pub async fn search(
    state: web::Data<AppState>,
    query: web::Query<wire::ItemQuery>,
) -> Result<web::Json<wire::ItemList>, ApiError> {
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(20);
    let found = state
        .catalogue
        .search(query.q.as_deref(), page, page_size)
        .await
        .map_err(|e| {
            let field = match &e {
                SearchError::KeywordTooLong => "q",
                SearchError::BadPage => "page",
                SearchError::BadPageSize => "pageSize",
                SearchError::Unexpected(_) => return ApiError::unexpected(e),
            };
            ApiError::new(ErrorCode::ValidationFailed)
                .with_message(e.to_string())
                .with_field(field, e.to_string())
        })?;
    Ok(web::Json(wire::ItemList {
        items: found
            .items
            .into_iter()
            .map(|i| wire::ItemSummary {
                item_type: i.item_type.code(),
                item_code: i.item_code,
                name: i.name,
                department: i.department,
                promised_days: i.promised_days,
                online_level: i.online_level,
                bookable: i.bookable,
            })
            .collect(),
        total: found.total,
        page,
        page_size,
    }))
}

/// An item's guide: materials, fee, time limits, and the halls that handle it.
#[utoipa::path(
    get, path = "/api/v1/items/{itemCode}", tag = "catalogue",
    params(("itemCode" = String, Path)),
    responses(
        (status = 200, body = wire::ItemGuide),
        (status = 404, description = "ITEM_NOT_FOUND", body = ErrorBody),
    )
)]
pub async fn item(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<wire::ItemGuide>, ApiError> {
    let code =
        ItemCode::parse(&path.into_inner()).map_err(|_| ApiError::new(ErrorCode::ItemNotFound))?;
    let guide = state
        .catalogue
        .item(&code)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ItemNotFound))?;
    Ok(web::Json(guide_to_wire(guide)))
}

/// Sync the catalogue from the provincial platform now (global admins).
#[utoipa::path(
    post, path = "/staff/v1/catalogue/sync", tag = "catalogue",
    params(wire::SyncQuery),
    responses(
        (status = 200, body = wire::SyncReport),
        (status = 403, description = "FORBIDDEN: not a global admin", body = ErrorBody),
        (status = 409, description = "SYNC_IN_PROGRESS", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE: the platform failed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn sync(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    query: web::Query<wire::SyncQuery>,
) -> Result<web::Json<wire::SyncReport>, ApiError> {
    if !staff.0.is_global_admin() {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    let report = state
        .catalogue
        .sync(&state.province, query.full.unwrap_or(false))
        .await
        .map_err(|e| match e {
            SyncError::Busy => ApiError::new(ErrorCode::SyncInProgress),
            SyncError::Province(e) => ApiError::new(ErrorCode::UpstreamUnavailable).caused_by(e),
            SyncError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(wire::SyncReport {
        full: report.full,
        fetched: report.fetched,
        upserted: report.upserted,
        skipped: report.skipped,
        watermark: report.watermark,
    }))
}
