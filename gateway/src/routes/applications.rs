//! Applications (申办): materials upload, submitting, progress, supplements; the platform's
//! case-event callbacks; operators' parked list and replay.

use actix_multipart::{Multipart, MultipartError};
use actix_web::{HttpRequest, HttpResponse, web};
use futures::TryStreamExt as _;
use miniprogram_api::applications as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::applications::{
    ApplicationView, ApplyError, ConsentStatus, Delivery, EventSource, FieldProblem,
    MAX_MATERIAL_BYTES, Material, MaterialRef, NewApplication, Obtain, Problem, RecordError,
    ReplayError, SupplementError, SupplementView, UploadError,
};
use services::catalogue::ItemCode;
use services::identity::LookupError;
use services::limits::{LimitError, Quota, RateLimiter};
use services::province::{CaseEvent, HeaderInput, Phase, PostAddress, VerifyError};

use super::resource;
use crate::error::ApiError;
use crate::extract::{ActingCitizen, CurrentCitizen, CurrentStaff, idempotency_key};
use crate::startup::AppState;

/// Uploads per citizen per hour: a whole family's papers, several times over.
const UPLOADS_PER_HOUR: u64 = 200;
/// Applications per citizen per hour.
const APPLICATIONS_PER_HOUR: u64 = 60;

async fn per_hour(state: &AppState, subject: String, max: u64) -> Result<(), ApiError> {
    let quota = Quota {
        max,
        window: std::time::Duration::from_secs(3600),
    };
    RateLimiter::new(std::sync::Arc::clone(&state.store))
        .hit(&subject, quota)
        .await
        .map_err(|e| match e {
            LimitError::Limited(limited) => ApiError::rate_limited(limited),
            LimitError::Store(e) => ApiError::unexpected(e),
        })
}

/// The platform's callback path, as signed.
pub const CALLBACK_PATH: &str = "/callbacks/province/case-events";

pub fn configure_citizen(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/materials", [web::post().to(upload)]))
        .service(resource("/materials/{id}", [web::get().to(material)]))
        .service(resource(
            "/applications",
            [web::get().to(mine), web::post().to(submit)],
        ))
        .service(resource("/applications/{id}", [web::get().to(get)]))
        .service(resource(
            "/applications/{id}/supplements",
            [web::post().to(supplement)],
        ));
}

pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/applications/parked", [web::get().to(parked)]))
        .service(resource(
            "/applications/{id}/replay",
            [web::post().to(replay)],
        ));
}

pub(crate) fn problem_to_wire(p: Problem) -> wire::Problem {
    wire::Problem {
        code: p.code,
        message: p.message,
        fields: p.fields.into_iter().map(field_to_wire).collect(),
    }
}

fn field_to_wire(f: FieldProblem) -> wire::FieldProblem {
    wire::FieldProblem {
        field: f.field,
        reason: f.reason,
    }
}

pub(crate) fn delivery_to_wire(d: Delivery) -> wire::DeliveryStatus {
    match d {
        Delivery::Submitting => wire::DeliveryStatus::Submitting,
        Delivery::Queued => wire::DeliveryStatus::Queued,
        Delivery::Submitted => wire::DeliveryStatus::Submitted,
        Delivery::Invalid => wire::DeliveryStatus::Invalid,
        Delivery::Parked => wire::DeliveryStatus::Parked,
        Delivery::AwaitingConsent => wire::DeliveryStatus::AwaitingConsent,
        Delivery::ConsentRefused => wire::DeliveryStatus::ConsentRefused,
        Delivery::ConsentExpired => wire::DeliveryStatus::ConsentExpired,
    }
}

fn phase_to_wire(p: Phase) -> wire::CasePhase {
    match p {
        Phase::PreAccepted => wire::CasePhase::PreAccepted,
        Phase::Accepted => wire::CasePhase::Accepted,
        Phase::Rejected => wire::CasePhase::Rejected,
        Phase::InReview => wire::CasePhase::InReview,
        Phase::SupplementRequired => wire::CasePhase::SupplementRequired,
        Phase::Supplemented => wire::CasePhase::Supplemented,
        Phase::SpecialProcedure => wire::CasePhase::SpecialProcedure,
        Phase::Concluded => wire::CasePhase::Concluded,
        Phase::Delivered => wire::CasePhase::Delivered,
    }
}

fn phase_title(p: Phase) -> &'static str {
    match p {
        Phase::PreAccepted => "已预受理",
        Phase::Accepted => "已受理",
        Phase::Rejected => "不予受理",
        Phase::InReview => "审查中",
        Phase::SupplementRequired => "待补正",
        Phase::Supplemented => "已补正",
        Phase::SpecialProcedure => "特别程序",
        Phase::Concluded => "已办结",
        Phase::Delivered => "已送达",
    }
}

fn status_text(view: &ApplicationView) -> String {
    match (view.status, view.phase) {
        (Delivery::Submitting, _) => "提交中".into(),
        (Delivery::Queued | Delivery::Parked, _) => "排队等待提交至省平台".into(),
        (Delivery::Invalid, _) => "提交未通过，请按提示修改".into(),
        (Delivery::AwaitingConsent, _) => "等待办事人本人同意授权".into(),
        (Delivery::ConsentRefused, _) => "办事人已拒绝授权，申请未提交".into(),
        (Delivery::ConsentExpired, _) => "授权请求已过期，申请未提交".into(),
        (Delivery::Submitted, None) => "已提交".into(),
        (Delivery::Submitted, Some(Phase::Delivered)) if view.tracking_no.is_some() => {
            "已寄出".into()
        }
        (Delivery::Submitted, Some(p)) => phase_title(p).into(),
    }
}

fn material_ref_to_wire(m: MaterialRef) -> wire::MaterialRef {
    wire::MaterialRef {
        code: m.code,
        material_id: m.material_id,
    }
}

fn supplement_to_wire(s: SupplementView) -> wire::Supplement {
    wire::Supplement {
        id: s.id,
        requested_version: s.requested_version,
        status: delivery_to_wire(s.status),
        problem: s.problem.map(problem_to_wire),
        created_at: s.created_at,
    }
}

pub(crate) fn to_wire(view: ApplicationView, full: bool) -> wire::Application {
    let status_text = status_text(&view);
    wire::Application {
        status_text,
        id: view.id,
        item_code: view.item_code,
        item_name: view.item_name,
        status: delivery_to_wire(view.status),
        phase: view.phase.map(phase_to_wire),
        sblsh: view.sblsh,
        submitted_at: view.submitted_at,
        received_at: view.received_at,
        problem: view.problem.map(problem_to_wire),
        tracking_no: view.tracking_no,
        on_behalf: view.on_behalf,
        member_id: view.member_id,
        obtain_way: if view.obtain_way == 1 {
            wire::ObtainWay::Post
        } else {
            wire::ObtainWay::Collect
        },
        materials: view
            .materials
            .into_iter()
            .map(material_ref_to_wire)
            .collect(),
        form: full.then_some(view.form),
        updated_at: view.updated_at,
        timeline: full.then(|| {
            view.timeline
                .into_iter()
                .map(|e| wire::TimelineEntry {
                    version: e.version,
                    phase: phase_to_wire(e.phase),
                    title: phase_title(e.phase).into(),
                    at: e.at,
                    handler: e.handler,
                    detail: e.detail,
                })
                .collect()
        }),
        deadline: view.deadline.map(|d| wire::Deadline {
            date: d.date,
            working_days: d.working_days,
            paused: d.paused,
        }),
        supplement_request: view.supplement_request.map(|r| wire::SupplementRequest {
            version: r.version,
            reason: r.reason,
            materials: r.materials,
        }),
        supplements: full.then(|| {
            view.supplements
                .into_iter()
                .map(supplement_to_wire)
                .collect()
        }),
        consent: view.consent.map(|c| wire::ApplicationConsent {
            id: c.id,
            status: consent_status_to_wire(c.status),
            expires_at: c.expires_at,
            answered_at: c.answered_at,
        }),
    }
}

pub(crate) fn consent_status_to_wire(s: ConsentStatus) -> wire::ConsentStatus {
    match s {
        ConsentStatus::Pending => wire::ConsentStatus::Pending,
        ConsentStatus::Accepted => wire::ConsentStatus::Accepted,
        ConsentStatus::Refused => wire::ConsentStatus::Refused,
        ConsentStatus::Expired => wire::ConsentStatus::Expired,
    }
}

fn material_to_wire(m: Material) -> wire::Material {
    wire::Material {
        id: m.id,
        sha256: m.sha256,
        size: m.size,
        content_type: m.content_type,
        file_name: m.file_name,
        created_at: m.created_at,
    }
}

fn with_fields(mut e: ApiError, fields: Vec<FieldProblem>) -> ApiError {
    for f in fields {
        e = e.with_field(&f.field, f.reason);
    }
    e
}

fn multipart_error(e: &MultipartError) -> ApiError {
    match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible
        | MultipartError::BoundaryMissing => ApiError::new(ErrorCode::UnsupportedMediaType)
            .with_message("请以 multipart/form-data 上传文件（字段名 file）"),
        _ => ApiError::new(ErrorCode::BadRequest).with_message("上传内容不完整，请重新上传"),
    }
}

/// Upload one material (wx.uploadFile, field `file`).
#[utoipa::path(
    post, path = "/api/v1/materials", tag = "applications",
    request_body(content_type = "multipart/form-data", description = "one file in the field `file`: PDF, JPEG or PNG (by content), at most 8 MiB"),
    responses(
        (status = 201, body = wire::Material),
        (status = 401, description = "UNAUTHENTICATED, SESSION_EXPIRED (also when the session ends while the file streams in)", body = ErrorBody),
        (status = 413, description = "MATERIAL_TOO_LARGE", body = ErrorBody),
        (status = 415, description = "MATERIAL_TYPE_UNSUPPORTED, UNSUPPORTED_MEDIA_TYPE (not multipart)", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED (no `file` field, empty file)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn upload(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    mut payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    per_hour(
        &state,
        format!("upload:{}", session.citizen_id),
        UPLOADS_PER_HOUR,
    )
    .await?;
    while let Some(mut field) = payload
        .try_next()
        .await
        .map_err(|e| multipart_error(&e).caused_by(anyhow::anyhow!("{e}")))?
    {
        if field.name() != Some("file") {
            // Other form fields (wx.uploadFile's formData) are drained and ignored.
            while field
                .try_next()
                .await
                .map_err(|e| multipart_error(&e))?
                .is_some()
            {}
            continue;
        }
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(|e| multipart_error(&e))? {
            if bytes.len() + chunk.len() > MAX_MATERIAL_BYTES {
                return Err(ApiError::new(ErrorCode::MaterialTooLarge));
            }
            bytes.extend_from_slice(&chunk);
        }
        // The session was checked when the request began; a slow upload can outlive it (a
        // logout on another device). Nothing is kept for a session that no longer stands.
        if !state
            .identity
            .sessions()
            .is_live(&session)
            .await
            .map_err(ApiError::unexpected)?
        {
            tracing::info!(
                citizen_id = session.citizen_id,
                "upload refused: the session ended while it streamed"
            );
            return Err(ApiError::new(ErrorCode::SessionExpired));
        }
        let stored = state
            .applications
            .upload(session.citizen_id, file_name.as_deref(), &bytes)
            .await
            .map_err(|e| match e {
                UploadError::TooLarge => ApiError::new(ErrorCode::MaterialTooLarge),
                UploadError::Empty => ApiError::new(ErrorCode::ValidationFailed)
                    .with_message("上传的文件是空的")
                    .with_field("file", "文件为空"),
                UploadError::UnsupportedType => ApiError::new(ErrorCode::MaterialTypeUnsupported),
                UploadError::Unexpected(e) => ApiError::unexpected(e),
            })?;
        return Ok(HttpResponse::Created().json(material_to_wire(stored)));
    }
    Err(ApiError::new(ErrorCode::ValidationFailed)
        .with_message("请选择要上传的文件")
        .with_field("file", "缺少文件"))
}

/// One of my uploads.
#[utoipa::path(
    get, path = "/api/v1/materials/{id}", tag = "applications",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = wire::Material),
        (status = 404, description = "MATERIAL_NOT_FOUND (also for another citizen's)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn material(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
) -> Result<web::Json<wire::Material>, ApiError> {
    let id = path.into_inner();
    if id.len() > 36 {
        return Err(ApiError::new(ErrorCode::MaterialNotFound));
    }
    state
        .applications
        .material(session.citizen_id, &id)
        .await
        .map_err(ApiError::unexpected)?
        .map(|m| web::Json(material_to_wire(m)))
        .ok_or_else(|| ApiError::new(ErrorCode::MaterialNotFound))
}

fn refs(materials: Vec<wire::MaterialRef>) -> Result<Vec<MaterialRef>, ApiError> {
    if materials.len() > 50 {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .with_message("材料最多50份")
            .with_field("materials", "最多50份"));
    }
    Ok(materials
        .into_iter()
        .map(|m| MaterialRef {
            code: m.code.trim().to_owned(),
            material_id: m.material_id.trim().to_owned(),
        })
        .collect())
}

/// Submit an application; it is forwarded to the provincial platform exactly once.
#[utoipa::path(
    post, path = "/api/v1/applications", tag = "applications",
    request_body = wire::ApplicationRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1–64 visible ASCII characters; the same key returns the same application"), miniprogram_api::family::ForMember),
    responses(
        (status = 201, description = "stored; status SUBMITTING (AWAITING_CONSENT with consentOf: sent only once the person accepts)", body = wire::Application),
        (status = 200, description = "an earlier answer to the same Idempotency-Key", body = wire::Application),
        (status = 403, description = "IDENTITY_REQUIRED, IDENTITY_NOT_VERIFIED, PHONE_REQUIRED", body = ErrorBody),
        (status = 404, description = "ITEM_NOT_FOUND, MATERIAL_NOT_FOUND, FAMILY_MEMBER_NOT_FOUND (memberId is not a live family member)", body = ErrorBody),
        (status = 422, description = "ITEM_NOT_ONLINE, MATERIALS_INVALID, VALIDATION_FAILED (fields), IDEMPOTENCY_KEY_REUSED, ON_BEHALF_NEEDS_CONSENT (the retired onBehalfOf), CONSENT_PERSON_NOT_FOUND (consentOf names no verified account)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    ActingCitizen { session, acting }: ActingCitizen,
    body: web::Json<wire::ApplicationRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    per_hour(
        &state,
        format!("apply:{}", session.citizen_id),
        APPLICATIONS_PER_HOUR,
    )
    .await?;
    let body = body.into_inner();
    let item_code =
        ItemCode::parse(&body.item_code).map_err(|_| ApiError::new(ErrorCode::ItemNotFound))?;
    let obtain = match (body.obtain_way, body.post_address) {
        (wire::ObtainWay::Collect, _) => Obtain::Collect,
        (wire::ObtainWay::Post, Some(a)) => Obtain::Post(PostAddress {
            name: a.name,
            phone: a.phone,
            province: a.province,
            city: a.city,
            district: a.district,
            detail: a.detail,
        }),
        (wire::ObtainWay::Post, None) => {
            return Err(ApiError::new(ErrorCode::ValidationFailed)
                .with_message("选择邮寄时请填写邮寄地址")
                .with_field("postAddress", "请填写邮寄地址"));
        }
    };
    // The free-text path is retired: another person's name typed in is never sent.
    if body.on_behalf_of.is_some() {
        return Err(ApiError::new(ErrorCode::OnBehalfNeedsConsent).with_field(
            "onBehalfOf",
            "请改为添加家庭成员，或通过 consentOf 请对方授权",
        ));
    }
    let consent_of = consent_person(&state, body.consent_of.as_ref()).await?;
    let new = NewApplication {
        item_code,
        form: body.form,
        materials: refs(body.materials)?,
        obtain,
        consent_of,
        for_member: acting.member,
        idempotency_key: key,
    };
    let (view, replayed) = state
        .applications
        .submit(session.citizen_id, new)
        .await
        .map_err(|e| match e {
            ApplyError::IdentityRequired => {
                ApiError::new(ErrorCode::IdentityRequired).with_message("请先完成实名认证后再申办")
            }
            ApplyError::IdentityNotVerified => ApiError::new(ErrorCode::IdentityNotVerified),
            ApplyError::PhoneRequired => ApiError::new(ErrorCode::PhoneRequired),
            ApplyError::ItemNotFound => ApiError::new(ErrorCode::ItemNotFound),
            ApplyError::ItemNotOnline => ApiError::new(ErrorCode::ItemNotOnline),
            ApplyError::Invalid(fields) => {
                with_fields(ApiError::new(ErrorCode::ValidationFailed), fields)
            }
            ApplyError::Materials(fields) => {
                with_fields(ApiError::new(ErrorCode::MaterialsInvalid), fields)
            }
            ApplyError::MaterialNotFound(_) => ApiError::new(ErrorCode::MaterialNotFound),
            ApplyError::IdempotencyKeyReused => ApiError::new(ErrorCode::IdempotencyKeyReused),
            ApplyError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    let mut response = if replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(response.json(to_wire(view, false)))
}

/// My applications, newest first.
#[utoipa::path(
    get, path = "/api/v1/applications", tag = "applications",
    params(wire::PageQuery),
    responses((status = 200, body = wire::ApplicationList)),
    security(("bearer" = []))
)]
pub async fn mine(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    query: web::Query<wire::PageQuery>,
) -> Result<web::Json<wire::ApplicationList>, ApiError> {
    let page = query.page.unwrap_or(1).clamp(1, 1000);
    let page_size = query.page_size.unwrap_or(20).clamp(1, 50);
    let found = state
        .applications
        .mine(session.citizen_id, page, page_size)
        .await
        .map_err(ApiError::unexpected)?;
    Ok(web::Json(wire::ApplicationList {
        applications: found.items.into_iter().map(|v| to_wire(v, false)).collect(),
        total: found.total,
        page,
        page_size,
    }))
}

/// One of my applications: its timeline, deadline and supplements.
#[utoipa::path(
    get, path = "/api/v1/applications/{id}", tag = "applications",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = wire::Application),
        (status = 404, description = "APPLICATION_NOT_FOUND (also for another citizen's)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
) -> Result<web::Json<wire::Application>, ApiError> {
    let id = path.into_inner();
    if id.len() > 36 {
        return Err(ApiError::new(ErrorCode::ApplicationNotFound));
    }
    state
        .applications
        .get(session.citizen_id, &id)
        .await
        .map_err(ApiError::unexpected)?
        .map(|v| web::Json(to_wire(v, true)))
        .ok_or_else(|| ApiError::new(ErrorCode::ApplicationNotFound))
}

/// Submit the materials a 补正告知 asked for.
#[utoipa::path(
    post, path = "/api/v1/applications/{id}/supplements", tag = "applications",
    params(("id" = String, Path)),
    request_body = wire::SupplementSubmission,
    responses(
        (status = 201, body = wire::Supplement),
        (status = 404, description = "APPLICATION_NOT_FOUND, MATERIAL_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "SUPPLEMENT_NOT_REQUESTED, SUPPLEMENT_ALREADY_SUBMITTED", body = ErrorBody),
        (status = 422, description = "MATERIALS_INVALID, VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn supplement(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
    body: web::Json<wire::SupplementSubmission>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id.len() > 36 {
        return Err(ApiError::new(ErrorCode::ApplicationNotFound));
    }
    let body = body.into_inner();
    let made = state
        .applications
        .supplement(session.citizen_id, &id, refs(body.materials)?, body.note)
        .await
        .map_err(|e| match e {
            SupplementError::NotFound => ApiError::new(ErrorCode::ApplicationNotFound),
            SupplementError::NotRequested => ApiError::new(ErrorCode::SupplementNotRequested),
            SupplementError::AlreadySubmitted => {
                ApiError::new(ErrorCode::SupplementAlreadySubmitted)
            }
            SupplementError::Materials(fields) => {
                with_fields(ApiError::new(ErrorCode::MaterialsInvalid), fields)
            }
            SupplementError::MaterialNotFound(_) => ApiError::new(ErrorCode::MaterialNotFound),
            SupplementError::Invalid(fields) => {
                with_fields(ApiError::new(ErrorCode::ValidationFailed), fields)
            }
            SupplementError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(HttpResponse::Created().json(supplement_to_wire(made)))
}

/// The platform's case-event callback: verified (signature, timestamp, nonce), stored, then
/// acknowledged with `{"ok":true}`. Anything but 200 makes the platform retry.
#[utoipa::path(
    post, path = "/callbacks/province/case-events", tag = "applications",
    request_body(content = Object, description = "a case event: eventId, sblsh, version, phase, at, handler, detail"),
    responses(
        (status = 200, description = "stored (or already stored)"),
        (status = 400, description = "INVALID_JSON: not a case event", body = ErrorBody),
        (status = 401, description = "BAD_SIGNATURE, STALE_REQUEST, REPLAYED_NONCE", body = ErrorBody),
    )
)]
pub async fn case_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let headers =
        HeaderInput::from_lookup(|name| req.headers().get(name).and_then(|v| v.to_str().ok()));
    let path = req
        .uri()
        .path_and_query()
        .map_or(CALLBACK_PATH, |p| p.as_str());
    // Freshness is judged by the real clock, never the domain's (which tests move).
    state
        .callbacks
        .verify(
            "POST",
            path,
            &headers,
            &body,
            services::time::Clock::system().now(),
        )
        .await
        .map_err(|e| {
            let code = match e {
                VerifyError::StaleRequest => ErrorCode::StaleRequest,
                VerifyError::ReplayedNonce => ErrorCode::ReplayedNonce,
                VerifyError::Store(e) => return ApiError::unexpected(e),
                _ => ErrorCode::BadSignature,
            };
            tracing::warn!(code = code.as_str(), "a province callback was refused");
            ApiError::new(code)
        })?;
    let event: CaseEvent = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(ErrorCode::InvalidJson).caused_by(anyhow::anyhow!("not a case event: {e}"))
    })?;
    let recorded = state
        .applications
        .record_events(std::slice::from_ref(&event), EventSource::Callback)
        .await;
    let outcome = match recorded {
        Ok(outcome) => outcome,
        Err(RecordError::Invalid(reason)) => {
            return Err(ApiError::new(ErrorCode::BadRequest)
                .caused_by(anyhow::anyhow!("refused a case event: {reason}")));
        }
        Err(RecordError::Unexpected(e)) => {
            // Nothing was stored: let the platform's resend of this very request through.
            if let Err(release) = state.callbacks.release_nonce(&headers).await {
                tracing::warn!(error = %release, "could not give a callback's nonce back");
            }
            return Err(ApiError::unexpected(e));
        }
    };
    tracing::info!(sblsh = %event.sblsh, version = event.version, duplicate = outcome.duplicates > 0, "case event received");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "ok": true })))
}

/// Parked applications, for operators (global administrators).
#[utoipa::path(
    get, path = "/staff/v1/applications/parked", tag = "applications",
    responses(
        (status = 200, body = wire::ParkedList),
        (status = 403, description = "FORBIDDEN: not a global administrator", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn parked(
    state: web::Data<AppState>,
    staff: CurrentStaff,
) -> Result<web::Json<wire::ParkedList>, ApiError> {
    if !staff.0.is_global_admin() {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    let applications = state
        .applications
        .parked(200)
        .await
        .map_err(ApiError::unexpected)?
        .into_iter()
        .map(|p| wire::ParkedApplication {
            application_id: p.application_id,
            supplement_id: p.supplement_id,
            item_code: p.item_code,
            item_name: p.item_name,
            attempts: p.attempts,
            first_failure_at: p.first_failure_at,
            last_error: p.last_error,
            parked_at: p.parked_at,
        })
        .collect();
    Ok(web::Json(wire::ParkedList { applications }))
}

/// Send a parked application again (global administrators).
#[utoipa::path(
    post, path = "/staff/v1/applications/{id}/replay", tag = "applications",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "queued again"),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "APPLICATION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "APPLICATION_NOT_PARKED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn replay(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !staff.0.is_global_admin() {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    let id = path.into_inner();
    if id.len() > 36 {
        return Err(ApiError::new(ErrorCode::ApplicationNotFound));
    }
    state.applications.replay(&id).await.map_err(|e| match e {
        ReplayError::NotFound => ApiError::new(ErrorCode::ApplicationNotFound),
        ReplayError::NotParked => ApiError::new(ErrorCode::ApplicationNotParked),
        ReplayError::Unexpected(e) => ApiError::unexpected(e),
    })?;
    tracing::info!(application_id = %id, staff_id = staff.0.staff_id, "parked application replayed");
    Ok(HttpResponse::NoContent().finish())
}

/// The person named in `consentOf` (代办 with consent): a verified account holding that name and
/// ID number. Applications and 一件事 bundles ask consent the same way.
pub(crate) async fn consent_person(
    state: &AppState,
    consent_of: Option<&miniprogram_api::applications::ConsentOf>,
) -> Result<Option<services::identity::VerifiedPerson>, ApiError> {
    let Some(person) = consent_of else {
        return Ok(None);
    };
    state
        .identity
        .verified_person(&person.name, &person.id_card_no)
        .await
        .map(Some)
        .map_err(|e| match e {
            LookupError::Name(e) => ApiError::new(ErrorCode::ValidationFailed)
                .with_field("consentOf.name", e.to_string()),
            LookupError::IdCardNo(e) => ApiError::new(ErrorCode::ValidationFailed)
                .with_field("consentOf.idCardNo", e.to_string()),
            LookupError::NotFound => ApiError::new(ErrorCode::ConsentPersonNotFound),
            LookupError::Unexpected(e) => ApiError::unexpected(e),
        })
}
