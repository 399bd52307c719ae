//! 好差评: the citizen's pending list, rating, list and 追评; for staff (hall admins for a hall's
//! tickets, global admins for online ones) the rectification tickets, comments in review,
//! the hall's limit and the statistics.

use actix_web::{HttpResponse, web};
use miniprogram_api::evaluations as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::evaluations::{
    Channel, CommentStatus, EvaluationView, FollowUpError, GroupBy, InboxEntry, InboxError,
    InboxScope, NewEvaluation, RateError, RectificationView, RectifyError, RectifyFilter,
    StatsScope, SubjectKind, grade_text,
};
use services::staff::{HallScope, Role};

use crate::error::ApiError;
use crate::extract::{CurrentCitizen, CurrentStaff};
use crate::startup::AppState;

pub fn configure_citizen(cfg: &mut web::ServiceConfig) {
    use super::resource;
    cfg.service(resource(
        "/evaluations",
        [web::get().to(mine), web::post().to(rate)],
    ))
    .service(resource("/evaluations/pending", [web::get().to(pending)]))
    .service(resource(
        "/evaluations/{id}/follow-up",
        [web::post().to(follow_up)],
    ));
}

pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    use super::resource;
    cfg.service(resource("/rectifications", [web::get().to(rectifications)]))
        .service(resource(
            "/rectifications/{id}/contact",
            [web::post().to(contact)],
        ))
        .service(resource(
            "/rectifications/{id}/rectify",
            [web::post().to(rectify)],
        ))
        .service(resource(
            "/evaluations/{id}/comment",
            [web::post().to(decide_comment)],
        ))
        .service(resource(
            "/halls/{hall_id}/evaluations/review",
            [web::get().to(in_review)],
        ))
        .service(resource(
            "/halls/{hall_id}/evaluations/stats",
            [web::get().to(stats)],
        ))
        .service(resource(
            "/halls/{hall_id}/evaluation-settings",
            [web::put().to(settings)],
        ))
        .service(resource(
            "/evaluations/departments",
            [web::get().to(department_stats)],
        ))
        .service(resource("/inbox", [web::get().to(inbox)]))
        .service(resource("/inbox/{id}/read", [web::post().to(mark_read)]));
}

fn kind_to_wire(k: SubjectKind) -> wire::SubjectKind {
    match k {
        SubjectKind::Ticket => wire::SubjectKind::Ticket,
        SubjectKind::Case => wire::SubjectKind::Case,
    }
}

fn comment_to_wire(s: CommentStatus) -> wire::CommentStatus {
    match s {
        CommentStatus::None => wire::CommentStatus::None,
        CommentStatus::Unchecked => wire::CommentStatus::Unchecked,
        CommentStatus::Pass => wire::CommentStatus::Pass,
        CommentStatus::Review => wire::CommentStatus::Review,
        CommentStatus::Cleared => wire::CommentStatus::Cleared,
        CommentStatus::Hidden => wire::CommentStatus::Hidden,
    }
}

fn rectification_to_wire(r: RectificationView) -> wire::Rectification {
    wire::Rectification {
        id: r.id,
        evaluation_id: r.evaluation_id,
        hall_id: r.hall_id,
        department: r.department,
        status: match r.status {
            services::evaluations::RectificationStatus::Open => wire::RectificationStatus::Open,
            services::evaluations::RectificationStatus::Contacted => {
                wire::RectificationStatus::Contacted
            }
            services::evaluations::RectificationStatus::Rectified => {
                wire::RectificationStatus::Rectified
            }
        },
        contact_due_date: r.contact_due_date,
        contact_due_at: r.contact_due_at,
        rectify_due_date: r.rectify_due_date,
        rectify_due_at: r.rectify_due_at,
        contacted_at: r.contacted_at,
        contact_note: r.contact_note,
        rectified_at: r.rectified_at,
        rectify_note: r.rectify_note,
        overdue: r.overdue,
        overdue_notified_at: r.overdue_notified_at,
        created_at: r.created_at,
        rating: r.rating.map(|s| wire::RectificationRating {
            item_name: s.item_name,
            grade: s.grade,
            grade_text: grade_text(s.grade).to_owned(),
            tags: s.tags,
            comment: s.comment,
            follow_up: match (s.follow_up_grade, s.follow_up_at) {
                (Some(grade), Some(at)) => Some(wire::FollowUp {
                    grade,
                    comment: s.follow_up_comment,
                    at,
                }),
                _ => None,
            },
        }),
    }
}

fn to_wire(e: EvaluationView) -> wire::Evaluation {
    wire::Evaluation {
        id: e.id,
        subject_kind: kind_to_wire(e.kind),
        subject_id: e.subject_id,
        grade: e.grade,
        grade_text: grade_text(e.grade).to_owned(),
        indicators: e.indicators,
        tags: e.tags,
        comment: e.comment,
        comment_status: comment_to_wire(e.comment_status),
        defaulted: e.defaulted,
        created_at: e.created_at,
        rectification: e.rectification.map(rectification_to_wire),
        follow_up: e.follow_up.map(|f| wire::FollowUp {
            grade: f.grade,
            comment: f.comment,
            at: f.at,
        }),
    }
}

fn invalid(problems: Vec<(String, String)>) -> ApiError {
    let mut e = ApiError::new(ErrorCode::ValidationFailed);
    for (field, reason) in problems {
        e = e.with_field(&field, reason);
    }
    e
}

/// What waits for my rating, with the indicators and tags to offer.
#[utoipa::path(
    get, path = "/api/v1/evaluations/pending", tag = "evaluations",
    responses((status = 200, body = wire::PendingList)),
    security(("bearer" = []))
)]
pub async fn pending(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<web::Json<wire::PendingList>, ApiError> {
    let config = state.evaluations.config();
    let tags: Vec<wire::TagChoice> = config
        .tags
        .iter()
        .map(|r| wire::TagChoice {
            min_grade: *r.grades.start(),
            max_grade: *r.grades.end(),
            tags: r.tags.clone(),
        })
        .collect();
    let pending = state
        .evaluations
        .pending(session.citizen_id)
        .await?
        .into_iter()
        .map(|p| wire::PendingEvaluation {
            subject_kind: kind_to_wire(p.kind),
            indicators: p
                .kind
                .indicators()
                .iter()
                .map(|i| wire::IndicatorInfo {
                    key: i.key.to_owned(),
                    name: i.name.to_owned(),
                })
                .collect(),
            subject_id: p.subject_id,
            item_name: p.item_name,
            place: p.place,
            invited_at: p.invited_at,
            due_at: p.due_at,
            tags: tags.clone(),
        })
        .collect();
    Ok(web::Json(wire::PendingList { pending }))
}

/// Rate a served ticket or a concluded case, once.
#[utoipa::path(
    post, path = "/api/v1/evaluations", tag = "evaluations",
    request_body = wire::NewEvaluation,
    responses(
        (status = 201, body = wire::Evaluation),
        (status = 404, description = "EVALUATION_SUBJECT_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "EVALUATION_NOT_OPEN, EVALUATION_WINDOW_CLOSED, ALREADY_EVALUATED", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED (fields name each bad input), EVALUATION_COMMENT_REJECTED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rate(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    body: web::Json<wire::NewEvaluation>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewEvaluation {
        kind: match body.subject_kind {
            wire::SubjectKind::Ticket => SubjectKind::Ticket,
            wire::SubjectKind::Case => SubjectKind::Case,
        },
        subject_id: body.subject_id.trim().chars().take(64).collect(),
        grade: body.grade,
        indicators: body.indicators,
        tags: body.tags,
        comment: body.comment,
    };
    let view = state
        .evaluations
        .rate(session.citizen_id, &session.openid, new)
        .await
        .map_err(|e| match e {
            RateError::NotFound => ApiError::new(ErrorCode::EvaluationSubjectNotFound),
            RateError::NotFinished => ApiError::new(ErrorCode::EvaluationNotOpen),
            RateError::WindowClosed => ApiError::new(ErrorCode::EvaluationWindowClosed),
            RateError::AlreadyEvaluated => ApiError::new(ErrorCode::AlreadyEvaluated),
            RateError::Invalid(problems) => invalid(problems),
            RateError::CommentRisky => ApiError::new(ErrorCode::EvaluationCommentRejected)
                .with_field("comment", "含有不当信息"),
            RateError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(HttpResponse::Created().json(to_wire(view)))
}

/// My evaluations, newest first, with their rectification.
#[utoipa::path(
    get, path = "/api/v1/evaluations", tag = "evaluations",
    responses((status = 200, body = wire::EvaluationList)),
    security(("bearer" = []))
)]
pub async fn mine(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<web::Json<wire::EvaluationList>, ApiError> {
    let evaluations = state
        .evaluations
        .mine(session.citizen_id)
        .await?
        .into_iter()
        .map(to_wire)
        .collect();
    Ok(web::Json(wire::EvaluationList { evaluations }))
}

/// The one 追评, after the 差评 was rectified.
#[utoipa::path(
    post, path = "/api/v1/evaluations/{id}/follow-up", tag = "evaluations",
    params(("id" = String, Path)),
    request_body = wire::NewFollowUp,
    responses(
        (status = 200, body = wire::Evaluation),
        (status = 404, description = "EVALUATION_SUBJECT_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "FOLLOW_UP_NOT_ALLOWED (not rectified yet, or followed up already)", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED, EVALUATION_COMMENT_REJECTED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn follow_up(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
    body: web::Json<wire::NewFollowUp>,
) -> Result<web::Json<wire::Evaluation>, ApiError> {
    let id = path.into_inner();
    let view = state
        .evaluations
        .follow_up(session.citizen_id, &id, body.grade, body.comment.as_deref())
        .await
        .map_err(|e| match e {
            FollowUpError::NotFound => ApiError::new(ErrorCode::EvaluationSubjectNotFound),
            FollowUpError::NotRectified | FollowUpError::AlreadyFollowedUp => {
                ApiError::new(ErrorCode::FollowUpNotAllowed)
            }
            FollowUpError::Invalid(problems) => invalid(problems),
            FollowUpError::CommentRisky => ApiError::new(ErrorCode::EvaluationCommentRejected),
            FollowUpError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(to_wire(view)))
}

/// Whether the member may handle what is attributed to `hall_id` (`None`: online, global
/// admins only).
fn may_handle(staff: &CurrentStaff, hall_id: Option<i64>) -> Result<(), ApiError> {
    match hall_id {
        Some(id) => staff.require(Role::Admin, id),
        None if staff.0.is_global_admin() => Ok(()),
        None => Err(ApiError::new(ErrorCode::Forbidden)),
    }
}

fn rectify_error(e: RectifyError) -> ApiError {
    match e {
        RectifyError::NotFound => ApiError::new(ErrorCode::RectificationNotFound),
        RectifyError::StateChanged => ApiError::new(ErrorCode::RectificationStateChanged),
        RectifyError::Invalid(problems) => invalid(problems),
        RectifyError::Unexpected(e) => ApiError::unexpected(e),
    }
}

/// Rectification tickets of a hall (its admins) or the online ones (global admins), overdue
/// first, then by deadline.
#[utoipa::path(
    get, path = "/staff/v1/rectifications", tag = "evaluations",
    params(wire::RectificationQuery),
    responses(
        (status = 200, body = wire::RectificationList),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rectifications(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    query: web::Query<wire::RectificationQuery>,
) -> Result<web::Json<wire::RectificationList>, ApiError> {
    let query = query.into_inner();
    may_handle(&staff, query.hall_id)?;
    let filter = RectifyFilter {
        hall_id: query.hall_id,
        department: query.department.filter(|d| !d.trim().is_empty()),
        open_only: query.status.as_deref() != Some("all"),
    };
    let rectifications = state
        .evaluations
        .rectifications(&filter, 200)
        .await?
        .into_iter()
        .map(rectification_to_wire)
        .collect();
    Ok(web::Json(wire::RectificationList { rectifications }))
}

async fn scoped(state: &AppState, staff: &CurrentStaff, id: i64) -> Result<(), ApiError> {
    let current = state
        .evaluations
        .rectification(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::RectificationNotFound))?;
    may_handle(staff, current.hall_id)
}

/// Record the contact with the citizen (回访).
#[utoipa::path(
    post, path = "/staff/v1/rectifications/{id}/contact", tag = "evaluations",
    params(("id" = i64, Path)),
    request_body = wire::RectificationNote,
    responses(
        (status = 200, body = wire::Rectification),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "RECTIFICATION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "RECTIFICATION_STATE_CHANGED", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn contact(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::RectificationNote>,
) -> Result<web::Json<wire::Rectification>, ApiError> {
    let id = path.into_inner();
    scoped(&state, &staff, id).await?;
    let view = state
        .evaluations
        .record_contact(id, staff.0.staff_id, &body.note)
        .await
        .map_err(rectify_error)?;
    Ok(web::Json(rectification_to_wire(view)))
}

/// Record the rectification; the citizen is told and may add one 追评.
#[utoipa::path(
    post, path = "/staff/v1/rectifications/{id}/rectify", tag = "evaluations",
    params(("id" = i64, Path)),
    request_body = wire::RectificationNote,
    responses(
        (status = 200, body = wire::Rectification),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "RECTIFICATION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "RECTIFICATION_STATE_CHANGED", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rectify(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::RectificationNote>,
) -> Result<web::Json<wire::Rectification>, ApiError> {
    let id = path.into_inner();
    scoped(&state, &staff, id).await?;
    let view = state
        .evaluations
        .record_rectification(id, staff.0.staff_id, &body.note)
        .await
        .map_err(rectify_error)?;
    Ok(web::Json(rectification_to_wire(view)))
}

/// Show or hide a comment WeChat sent to review.
#[utoipa::path(
    post, path = "/staff/v1/evaluations/{id}/comment", tag = "evaluations",
    params(("id" = String, Path)),
    request_body = wire::CommentDecision,
    responses(
        (status = 204, description = "Decided"),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "EVALUATION_SUBJECT_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "COMMENT_NOT_IN_REVIEW", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn decide_comment(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<String>,
    body: web::Json<wire::CommentDecision>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let hall = state
        .evaluations
        .evaluation_hall(&id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::EvaluationSubjectNotFound))?;
    may_handle(&staff, hall)?;
    state
        .evaluations
        .decide_comment(&id, body.visible)
        .await
        .map_err(|e| match e {
            RectifyError::NotFound => ApiError::new(ErrorCode::EvaluationSubjectNotFound),
            RectifyError::StateChanged => ApiError::new(ErrorCode::CommentNotInReview),
            other => rectify_error(other),
        })?;
    Ok(HttpResponse::NoContent().finish())
}

/// Comments of a hall's evaluations waiting for staff, oldest first.
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/evaluations/review", tag = "evaluations",
    params(("hallId" = i64, Path)),
    responses(
        (status = 200, body = wire::CommentsInReview),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn in_review(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
) -> Result<web::Json<wire::CommentsInReview>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let comments = state
        .evaluations
        .comments_in_review(Some(hall_id))
        .await?
        .into_iter()
        .map(
            |(evaluation_id, grade, comment, created_at)| wire::CommentInReview {
                evaluation_id,
                grade,
                comment,
                created_at,
            },
        )
        .collect();
    Ok(web::Json(wire::CommentsInReview { comments }))
}

/// Set the hall's rectification limit (working days).
#[utoipa::path(
    put, path = "/staff/v1/halls/{hallId}/evaluation-settings", tag = "evaluations",
    params(("hallId" = i64, Path)),
    request_body = wire::EvaluationSettings,
    responses(
        (status = 200, body = wire::EvaluationSettings),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn settings(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::EvaluationSettings>,
) -> Result<web::Json<wire::EvaluationSettings>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    state
        .evaluations
        .set_rectify_days(hall_id, body.rectify_days)
        .await
        .map_err(|e| match e {
            RectifyError::NotFound => ApiError::new(ErrorCode::HallNotFound),
            other => rectify_error(other),
        })?;
    Ok(body)
}

/// A hall's statistics over a period, by hall, category, counter, staff member or item; also
/// as CSV (`format=csv`). No citizen's identity in it.
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/evaluations/stats", tag = "evaluations",
    params(("hallId" = i64, Path), wire::StatsQuery),
    responses(
        (status = 200, body = wire::EvaluationStats, description = "JSON, or `text/csv` with `format=csv`"),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn stats(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    query: web::Query<wire::StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    statistics(
        &state,
        StatsScope::Hall(hall_id),
        query.into_inner(),
        "hall",
        &format!("evaluations-{hall_id}"),
        SubjectKind::Ticket,
    )
    .await
}

/// The online (case) ratings over a period, by the item's department (default) or by item,
/// for global administrators; also as CSV (`format=csv`). No citizen's identity in it.
#[utoipa::path(
    get, path = "/staff/v1/evaluations/departments", tag = "evaluations",
    params(wire::StatsQuery),
    responses(
        (status = 200, body = wire::EvaluationStats, description = "JSON, or `text/csv` with `format=csv`"),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn department_stats(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    query: web::Query<wire::StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    may_handle(&staff, None)?;
    let query = query.into_inner();
    if let Some(by) = query.by.as_deref()
        && !matches!(by, "department" | "item")
    {
        return Err(
            ApiError::new(ErrorCode::ValidationFailed).with_field("by", "须为department或item")
        );
    }
    statistics(
        &state,
        StatsScope::Online,
        query,
        "department",
        "evaluations-online",
        SubjectKind::Case,
    )
    .await
}

async fn statistics(
    state: &AppState,
    scope: StatsScope,
    query: wire::StatsQuery,
    default_by: &str,
    file: &str,
    kind: SubjectKind,
) -> Result<HttpResponse, ApiError> {
    let from = crate::extract::day("from", query.from)?.date();
    let to = crate::extract::day("to", query.to)?.date();
    if to < from || (to - from).num_days() > 366 {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .with_field("to", "须不早于from，且区间不超过一年"));
    }
    let by_name = query.by.unwrap_or_else(|| default_by.to_owned());
    let by = GroupBy::parse(&by_name).ok_or_else(|| {
        ApiError::new(ErrorCode::ValidationFailed)
            .with_field("by", "须为hall、category、counter、staff、item或department")
    })?;
    let rows = state.evaluations.statistics_of(scope, from, to, by).await?;
    if query.format.as_deref() == Some("csv") {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "content-disposition",
                format!("attachment; filename=\"{file}-{from}-{to}.csv\""),
            ))
            .body(services::evaluations::csv(&rows, kind)));
    }
    Ok(HttpResponse::Ok().json(wire::EvaluationStats {
        from,
        to,
        by: by_name,
        rows: rows
            .into_iter()
            .map(|r| wire::EvaluationStatsRow {
                key: r.key,
                name: r.name,
                count: r.count,
                good_rate: r.good_rate,
                bad_rate: r.bad_rate,
                defaulted_share: r.defaulted_share,
                indicators: r.indicators,
                bad_count: r.bad_count,
                rectified_in_time: r.rectified_in_time,
                rectification_rate: r.rectification_rate,
                overdue: r.overdue,
            })
            .collect(),
    }))
}

/// Whose alerts the member reads: a global admin every one (online business included), a hall
/// admin those of the halls they administer, anyone else none.
fn inbox_scope(staff: &CurrentStaff) -> InboxScope {
    if staff.0.is_global_admin() {
        return InboxScope::Everything;
    }
    InboxScope::Halls(
        staff
            .0
            .roles
            .iter()
            .filter_map(|(role, scope)| match (role, scope) {
                (Role::Admin, HallScope::Hall(id)) => Some(*id),
                _ => None,
            })
            .collect(),
    )
}

fn inbox_to_wire(e: InboxEntry) -> wire::InboxEntry {
    wire::InboxEntry {
        id: e.id,
        hall_id: e.hall_id,
        kind: e.kind,
        subject: e.subject,
        title: e.title,
        body: e.body,
        created_at: e.created_at,
        read_at: e.read_at,
    }
}

/// My staff inbox (the halls I administer), newest first, with the unread count: today the
/// 差评 rectifications that passed a deadline, each alerted once.
#[utoipa::path(
    get, path = "/staff/v1/inbox", tag = "inbox",
    params(wire::InboxQuery),
    responses((status = 200, body = wire::InboxList)),
    security(("bearer" = []))
)]
pub async fn inbox(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    query: web::Query<wire::InboxQuery>,
) -> Result<web::Json<wire::InboxList>, ApiError> {
    let (entries, unread) = state
        .evaluations
        .inbox(&inbox_scope(&staff), query.unread.unwrap_or(false), 100)
        .await?;
    Ok(web::Json(wire::InboxList {
        entries: entries.into_iter().map(inbox_to_wire).collect(),
        unread,
    }))
}

/// Mark an alert read, for every admin of its hall (again: it stays as the first reader left it).
#[utoipa::path(
    post, path = "/staff/v1/inbox/{id}/read", tag = "inbox",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = wire::InboxEntry),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "INBOX_ENTRY_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn mark_read(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
) -> Result<web::Json<wire::InboxEntry>, ApiError> {
    let id = path.into_inner();
    let current = state
        .evaluations
        .inbox_entry(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InboxEntryNotFound))?;
    may_handle(&staff, current.hall_id)?;
    let entry = state
        .evaluations
        .mark_read(id, staff.0.staff_id)
        .await
        .map_err(|e| match e {
            InboxError::NotFound => ApiError::new(ErrorCode::InboxEntryNotFound),
            InboxError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(inbox_to_wire(entry)))
}
