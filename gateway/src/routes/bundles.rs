//! 一件事 bundles (province-api.md, "一件事 bundles"): searching the catalogue's bundles and
//! reading a bundle's guide without logging in (`GET /api/v1/bundles`, `GET
//! /api/v1/bundles/{bundleCode}`); applying for one in one submission (`POST
//! /api/v1/bundle-applications`, `?memberId=` for a family member) and following it as one
//! matter (`GET /api/v1/bundle-applications/{id}`). A supplement asked for one part is answered
//! on that part's application (`POST /api/v1/applications/{id}/supplements`).

use actix_web::{HttpRequest, HttpResponse, web};
use miniprogram_api::bundles as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::applications::{FieldProblem, MaterialRef, Obtain};
use services::bundles::{
    BundleApplyError, BundleCode, BundleGuide, BundleState, BundleView, NewBundleApplication,
};
use services::catalogue::SearchError;
use services::province::PostAddress;

use super::applications::{delivery_to_wire, problem_to_wire, to_wire};
use super::resource;
use crate::error::ApiError;
use crate::extract::{ActingCitizen, CurrentCitizen, idempotency_key};
use crate::startup::AppState;

pub fn configure_public(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/bundles", [web::get().to(search)]))
        .service(resource("/bundles/{bundle_code}", [web::get().to(guide)]));
}

pub fn configure_citizen(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/bundle-applications",
        [web::get().to(mine), web::post().to(apply)],
    ))
    .service(resource("/bundle-applications/{id}", [web::get().to(get)]));
}

fn guide_to_wire(g: BundleGuide) -> wire::BundleGuide {
    wire::BundleGuide {
        items: g
            .items
            .into_iter()
            .map(|i| wire::BundleItem {
                item_code: i.item_code,
                name: i.name,
                department: i.department,
                required: i.required,
                fee: i.fee,
                promised_days: i.promised_days,
                materials: i
                    .materials
                    .into_iter()
                    .map(|m| miniprogram_api::catalogue::RequiredMaterial {
                        code: m.code,
                        name: m.name,
                        required: m.required,
                        formats: m.formats,
                        max_size_kb: m.max_size_kb,
                        note: m.note,
                    })
                    .collect(),
            })
            .collect(),
        materials: g
            .materials
            .into_iter()
            .map(|m| wire::BundleMaterial {
                code: m.code,
                name: m.name,
                formats: m.formats,
                max_size_kb: m.max_size_kb,
                required: m.required,
                used_by: m.used_by,
                shared: m.shared,
            })
            .collect(),
        halls: g
            .halls
            .into_iter()
            .map(|h| wire::BundleHall {
                code: h.code,
                name: h.name,
                address: h.address,
                bookable: h.bookable,
            })
            .collect(),
        bundle_code: g.bundle_code,
        name: g.name,
        description: g.description,
        total_fee: g.total_fee,
        promised_days: g.promised_days,
        online_level: g.online_level,
        synced_at: g.synced_at,
    }
}

fn state_to_wire(s: BundleState) -> (wire::BundleState, &'static str) {
    match s {
        BundleState::Submitting => (wire::BundleState::Submitting, "提交中"),
        BundleState::Queued => (wire::BundleState::Queued, "排队等待提交至省平台"),
        BundleState::Invalid => (wire::BundleState::Invalid, "提交未通过，请按提示修改"),
        BundleState::Parked => (wire::BundleState::Parked, "排队等待提交至省平台"),
        BundleState::InProgress => (wire::BundleState::InProgress, "办理中"),
        BundleState::SupplementRequired => {
            (wire::BundleState::SupplementRequired, "有事项需要补正材料")
        }
        BundleState::Concluded => (wire::BundleState::Concluded, "全部办结"),
        BundleState::PartlyRejected => (
            wire::BundleState::PartlyRejected,
            "已办结，部分事项不予受理",
        ),
        BundleState::Rejected => (wire::BundleState::Rejected, "不予受理"),
        BundleState::AwaitingConsent => (wire::BundleState::AwaitingConsent, "等待办事人授权"),
        BundleState::ConsentRefused => {
            (wire::BundleState::ConsentRefused, "办事人拒绝授权，未提交")
        }
        BundleState::ConsentExpired => (wire::BundleState::ConsentExpired, "授权已过期，未提交"),
    }
}

fn view_to_wire(v: BundleView) -> wire::BundleApplication {
    let (state, text) = state_to_wire(v.state);
    wire::BundleApplication {
        id: v.id,
        bundle_code: v.bundle_code,
        bundle_name: v.bundle_name,
        status: delivery_to_wire(v.status),
        state,
        state_text: text.to_owned(),
        bundle_no: v.bundle_no,
        item_codes: v.items,
        materials: v
            .materials
            .into_iter()
            .map(|m| miniprogram_api::applications::MaterialRef {
                code: m.code,
                material_id: m.material_id,
            })
            .collect(),
        obtain_way: if v.obtain_way == 1 {
            miniprogram_api::applications::ObtainWay::Post
        } else {
            miniprogram_api::applications::ObtainWay::Collect
        },
        on_behalf: v.on_behalf,
        member_id: v.member_id,
        consent: v
            .consent
            .map(|c| miniprogram_api::applications::ApplicationConsent {
                id: c.id,
                status: super::applications::consent_status_to_wire(c.status),
                expires_at: c.expires_at,
                answered_at: c.answered_at,
            }),
        problem: v.problem.map(problem_to_wire),
        submitted_at: v.submitted_at,
        received_at: v.received_at,
        updated_at: v.updated_at,
        deadline: v.deadline.map(|d| wire::BundleDeadline {
            date: d.date,
            working_days: d.working_days,
            paused: d.paused,
        }),
        parts: v
            .parts
            .into_iter()
            .map(|p| wire::BundlePart {
                item_code: p.item_code,
                sblsh: p.sblsh,
                application: to_wire(p.application, true),
            })
            .collect(),
    }
}

fn with_fields(mut e: ApiError, fields: Vec<FieldProblem>) -> ApiError {
    for f in fields {
        e = e.with_field(&f.field, f.reason);
    }
    e
}

/// Search 一件事 bundles by a keyword in their name or description (none: every bundle).
#[utoipa::path(
    get, path = "/api/v1/bundles", tag = "bundles",
    params(wire::BundleQuery),
    responses(
        (status = 200, body = wire::BundleList),
        (status = 422, description = "VALIDATION_FAILED: keyword over 50 characters, page outside 1–1000, pageSize outside 1–50", body = ErrorBody),
    )
)]
pub async fn search(
    state: web::Data<AppState>,
    query: web::Query<wire::BundleQuery>,
) -> Result<web::Json<wire::BundleList>, ApiError> {
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(20);
    let (found, total) = state
        .bundles
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
    Ok(web::Json(wire::BundleList {
        bundles: found
            .into_iter()
            .map(|b| wire::BundleSummary {
                bundle_code: b.bundle_code,
                name: b.name,
                description: b.description,
                item_count: u32::try_from(b.item_count).unwrap_or(u32::MAX),
                promised_days: b.promised_days,
                online_level: b.online_level,
            })
            .collect(),
        total,
        page,
        page_size,
    }))
}

/// A bundle's guide: its items (required and optional), each material once with the items using
/// it, fees, the bundle's promise in working days, and the halls that handle it.
#[utoipa::path(
    get, path = "/api/v1/bundles/{bundleCode}", tag = "bundles",
    params(("bundleCode" = String, Path)),
    responses(
        (status = 200, body = wire::BundleGuide),
        (status = 404, description = "BUNDLE_NOT_FOUND", body = ErrorBody),
    )
)]
pub async fn guide(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<wire::BundleGuide>, ApiError> {
    let code = BundleCode::parse(&path.into_inner())
        .map_err(|_| ApiError::new(ErrorCode::BundleNotFound))?;
    state
        .bundles
        .guide(&code)
        .await
        .map_err(ApiError::unexpected)?
        .map(|g| web::Json(guide_to_wire(g)))
        .ok_or_else(|| ApiError::new(ErrorCode::BundleNotFound))
}

/// Apply for a bundle: one form, each material once, for the citizen or a family member
/// (`?memberId=`); forwarded to the provincial platform exactly once, and on its answer one
/// case per item joins the bundle.
#[utoipa::path(
    post, path = "/api/v1/bundle-applications", tag = "bundles",
    request_body = wire::BundleApplicationRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1–64 visible ASCII characters; the same key returns the same bundle application"), miniprogram_api::family::ForMember),
    responses(
        (status = 201, description = "stored; status SUBMITTING (AWAITING_CONSENT with consentOf: sent only once the person accepts)", body = wire::BundleApplication),
        (status = 200, description = "an earlier answer to the same Idempotency-Key", body = wire::BundleApplication),
        (status = 403, description = "IDENTITY_REQUIRED, IDENTITY_NOT_VERIFIED, PHONE_REQUIRED", body = ErrorBody),
        (status = 404, description = "BUNDLE_NOT_FOUND, MATERIAL_NOT_FOUND, FAMILY_MEMBER_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "BUNDLE_NOT_ONLINE, MATERIALS_INVALID (fields name each missing material and the items needing it), VALIDATION_FAILED (fields), IDEMPOTENCY_KEY_REUSED, CONSENT_PERSON_NOT_FOUND (consentOf names no verified account)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn apply(
    state: web::Data<AppState>,
    req: HttpRequest,
    ActingCitizen { session, acting }: ActingCitizen,
    body: web::Json<wire::BundleApplicationRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let body = body.into_inner();
    let bundle_code = BundleCode::parse(&body.bundle_code)
        .map_err(|_| ApiError::new(ErrorCode::BundleNotFound))?;
    // 代办 with consent, asked and checked as for an application.
    let consent_of = super::applications::consent_person(&state, body.consent_of.as_ref()).await?;
    if body.materials.len() > 50 || body.optional_items.len() > 50 {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .with_message("材料或可选事项最多50项")
            .with_field("materials", "最多50份"));
    }
    let obtain = match (body.obtain_way, body.post_address) {
        (miniprogram_api::applications::ObtainWay::Collect, _) => Obtain::Collect,
        (miniprogram_api::applications::ObtainWay::Post, Some(a)) => Obtain::Post(PostAddress {
            name: a.name,
            phone: a.phone,
            province: a.province,
            city: a.city,
            district: a.district,
            detail: a.detail,
        }),
        (miniprogram_api::applications::ObtainWay::Post, None) => {
            return Err(ApiError::new(ErrorCode::ValidationFailed)
                .with_message("选择邮寄时请填写邮寄地址")
                .with_field("postAddress", "请填写邮寄地址"));
        }
    };
    let new = NewBundleApplication {
        bundle_code,
        optional_items: body
            .optional_items
            .into_iter()
            .map(|c| c.trim().to_owned())
            .collect(),
        form: body.form,
        materials: body
            .materials
            .into_iter()
            .map(|m| MaterialRef {
                code: m.code.trim().to_owned(),
                material_id: m.material_id.trim().to_owned(),
            })
            .collect(),
        obtain,
        for_member: acting.member,
        consent_of,
        idempotency_key: key,
    };
    let (view, replayed) = state
        .bundles
        .submit(session.citizen_id, new)
        .await
        .map_err(|e| match e {
            BundleApplyError::IdentityRequired => {
                ApiError::new(ErrorCode::IdentityRequired).with_message("请先完成实名认证后再申办")
            }
            BundleApplyError::IdentityNotVerified => ApiError::new(ErrorCode::IdentityNotVerified),
            BundleApplyError::PhoneRequired => ApiError::new(ErrorCode::PhoneRequired),
            BundleApplyError::BundleNotFound => ApiError::new(ErrorCode::BundleNotFound),
            BundleApplyError::BundleNotOnline => ApiError::new(ErrorCode::BundleNotOnline),
            BundleApplyError::Invalid(fields) => {
                with_fields(ApiError::new(ErrorCode::ValidationFailed), fields)
            }
            BundleApplyError::Materials(fields) => {
                with_fields(ApiError::new(ErrorCode::MaterialsInvalid), fields)
            }
            BundleApplyError::MaterialNotFound(_) => ApiError::new(ErrorCode::MaterialNotFound),
            BundleApplyError::IdempotencyKeyReused => {
                ApiError::new(ErrorCode::IdempotencyKeyReused)
            }
            BundleApplyError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    let mut response = if replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(response.json(view_to_wire(view)))
}

/// My bundle applications, newest first (without their parts).
#[utoipa::path(
    get, path = "/api/v1/bundle-applications", tag = "bundles",
    params(miniprogram_api::applications::PageQuery),
    responses(
        (status = 200, body = wire::BundleApplicationList),
        (status = 401, description = "UNAUTHENTICATED, SESSION_EXPIRED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn mine(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    query: web::Query<miniprogram_api::applications::PageQuery>,
) -> Result<web::Json<wire::BundleApplicationList>, ApiError> {
    let page = query.page.unwrap_or(1).clamp(1, 1000);
    let page_size = query.page_size.unwrap_or(20).clamp(1, 50);
    let (found, total) = state
        .bundles
        .mine(session.citizen_id, page, page_size)
        .await
        .map_err(ApiError::unexpected)?;
    Ok(web::Json(wire::BundleApplicationList {
        bundle_applications: found.into_iter().map(view_to_wire).collect(),
        total,
        page,
        page_size,
    }))
}

/// One of my bundle applications followed as one matter: the overall state, each part's
/// timeline, the bundle's deadline in working days.
#[utoipa::path(
    get, path = "/api/v1/bundle-applications/{id}", tag = "bundles",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = wire::BundleApplication),
        (status = 404, description = "BUNDLE_APPLICATION_NOT_FOUND (also for another citizen's)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
) -> Result<web::Json<wire::BundleApplication>, ApiError> {
    let id = path.into_inner();
    if id.len() > 36 {
        return Err(ApiError::new(ErrorCode::BundleApplicationNotFound));
    }
    state
        .bundles
        .get(session.citizen_id, &id)
        .await
        .map_err(ApiError::unexpected)?
        .map(|v| web::Json(view_to_wire(v)))
        .ok_or_else(|| ApiError::new(ErrorCode::BundleApplicationNotFound))
}
