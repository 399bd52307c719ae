//! Family members on one phone (一部手机绑定多人): adding a member by face-verifying them on the
//! citizen's phone (the same two steps as `me`'s own verification), listing and revoking; the
//! member's side (who may act for me, and revoking that).

use actix_web::{HttpResponse, web};
use miniprogram_api::family as wire;
use miniprogram_api::me::{BindIdentityRequest, VerificationStarted};
use miniprogram_api::{ErrorBody, ErrorCode};
use services::identity::{AddMemberError, FamilyError, FamilyMember, RevokedBy};

use super::me::{complete_error, start_error, started_to_wire};
use super::resource;
use crate::error::ApiError;
use crate::extract::CurrentCitizen;
use crate::startup::AppState;

pub fn configure_citizen(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/family/members", [web::get().to(members)]))
        .service(resource(
            "/family/members/verifications",
            [web::post().to(start)],
        ))
        .service(resource(
            "/family/members/verifications/{id}/complete",
            [web::post().to(complete)],
        ))
        .service(resource(
            "/family/members/{id}/revoke",
            [web::post().to(revoke_member)],
        ))
        .service(resource("/family/relations", [web::get().to(relations)]))
        .service(resource(
            "/family/relations/{id}/revoke",
            [web::post().to(revoke_relation)],
        ));
}

fn member_to_wire(m: FamilyMember) -> wire::FamilyMember {
    wire::FamilyMember {
        id: m.id,
        name: m.name,
        id_card_no: m.id_card_no,
        added_at: m.added_at,
    }
}

fn add_error(e: AddMemberError) -> ApiError {
    match e {
        AddMemberError::IdentityRequired => ApiError::new(ErrorCode::IdentityRequired)
            .with_message("请先完成本人实名认证后再添加家庭成员"),
        AddMemberError::IdentityNotVerified => ApiError::new(ErrorCode::IdentityNotVerified),
        AddMemberError::IsSelf => ApiError::new(ErrorCode::FamilyMemberIsSelf),
        AddMemberError::AlreadyAdded => ApiError::new(ErrorCode::FamilyMemberAlreadyAdded),
        AddMemberError::LimitReached { max } => ApiError::new(ErrorCode::FamilyMemberLimitReached)
            .with_message(format!("最多可添加{max}位家庭成员，请先解除不再需要的成员")),
        AddMemberError::Start(e) => start_error(e),
        AddMemberError::Complete(e) => complete_error(e),
        AddMemberError::Unexpected(e) => ApiError::unexpected(e),
    }
}

pub(crate) fn family_error(e: FamilyError) -> ApiError {
    match e {
        FamilyError::NotFound => ApiError::new(ErrorCode::FamilyMemberNotFound),
        FamilyError::IdentityRequired => ApiError::new(ErrorCode::IdentityRequired)
            .with_message("请先完成本人实名认证后再为家庭成员办理"),
        FamilyError::IdentityNotVerified => ApiError::new(ErrorCode::IdentityNotVerified),
        FamilyError::Unexpected(e) => ApiError::unexpected(e),
    }
}

/// The family members I may act for.
#[utoipa::path(
    get, path = "/api/v1/family/members", tag = "family",
    responses((status = 200, body = wire::FamilyMemberList)),
    security(("bearer" = []))
)]
pub async fn members(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<web::Json<wire::FamilyMemberList>, ApiError> {
    let members = state
        .identity
        .members(session.citizen_id)
        .await
        .map_err(ApiError::unexpected)?;
    Ok(web::Json(wire::FamilyMemberList {
        members: members.into_iter().map(member_to_wire).collect(),
        max_members: state.identity.family_limit(),
    }))
}

/// Start adding a family member who is present: names them and asks WeChat for a verify_id;
/// the member then looks into this phone's camera (`wx.requestFacialVerify`). Counted with the
/// account's own face verifications against the daily limits.
#[utoipa::path(
    post, path = "/api/v1/family/members/verifications", tag = "family",
    request_body = BindIdentityRequest,
    responses(
        (status = 201, body = VerificationStarted),
        (status = 403, description = "IDENTITY_REQUIRED, IDENTITY_NOT_VERIFIED: verify yourself first", body = ErrorBody),
        (status = 409, description = "FAMILY_MEMBER_ALREADY_ADDED, FAMILY_MEMBER_LIMIT_REACHED", body = ErrorBody),
        (status = 422, description = "INVALID_NAME, INVALID_ID_CARD_NO, FAMILY_MEMBER_IS_SELF (WeChat is not asked)", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED: too many verifications today", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn start(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    body: web::Json<BindIdentityRequest>,
) -> Result<HttpResponse, ApiError> {
    let started = state
        .identity
        .start_member_verification(&session, &body.name, &body.id_card_no)
        .await
        .map_err(add_error)?;
    Ok(HttpResponse::Created().json(started_to_wire(started)))
}

/// After the member's `wx.requestFacialVerify`: asks WeChat for the result and adds the member
/// only when the face passed. Every other outcome has the same code as one's own verification.
#[utoipa::path(
    post, path = "/api/v1/family/members/verifications/{id}/complete", tag = "family",
    params(("id" = String, Path, description = "The verification's id")),
    responses(
        (status = 200, body = wire::FamilyMember),
        (status = 403, description = "IDENTITY_REQUIRED, IDENTITY_NOT_VERIFIED", body = ErrorBody),
        (status = 404, description = "VERIFICATION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "VERIFICATION_FINISHED, FAMILY_MEMBER_ALREADY_ADDED, FAMILY_MEMBER_LIMIT_REACHED", body = ErrorBody),
        (status = 422, description = "FAMILY_MEMBER_IS_SELF, FACE_VERIFY_CANCELLED, FACE_CAMERA_NOT_ALLOWED, FACE_NOT_MATCHED, FACE_VERIFY_TIMEOUT, FACE_DEVICE_UNSUPPORTED, FACE_VERIFY_SYSTEM_ERROR, FACE_VERIFY_REFUSED, VERIFICATION_EXPIRED", body = ErrorBody),
        (status = 503, description = "UPSTREAM_UNAVAILABLE: ask again", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn complete(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<String>,
) -> Result<web::Json<wire::FamilyMember>, ApiError> {
    let member = state
        .identity
        .complete_member_verification(&session, &path.into_inner())
        .await
        .map_err(add_error)?;
    Ok(web::Json(member_to_wire(member)))
}

/// Remove a family member from my phone: nobody can act for them through it any longer.
#[utoipa::path(
    post, path = "/api/v1/family/members/{id}/revoke", tag = "family",
    params(("id" = i64, Path, description = "The member's id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 404, description = "FAMILY_MEMBER_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_member(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .identity
        .revoke_member(session.citizen_id, path.into_inner(), RevokedBy::Citizen)
        .await
        .map_err(family_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who may act for me: the accounts that added me (by my verified identity) as a family member.
#[utoipa::path(
    get, path = "/api/v1/family/relations", tag = "family",
    responses((status = 200, body = wire::FamilyRelationList)),
    security(("bearer" = []))
)]
pub async fn relations(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<web::Json<wire::FamilyRelationList>, ApiError> {
    let relations = state
        .identity
        .relations(session.citizen_id)
        .await
        .map_err(ApiError::unexpected)?
        .into_iter()
        .map(|r| wire::FamilyRelation {
            id: r.id,
            holder_name: r.holder_name,
            holder_phone: r.holder_phone,
            since: r.since,
        })
        .collect();
    Ok(web::Json(wire::FamilyRelationList { relations }))
}

/// As the member: end a relation, so that its account can no longer act for me.
#[utoipa::path(
    post, path = "/api/v1/family/relations/{id}/revoke", tag = "family",
    params(("id" = i64, Path, description = "The relation's id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 404, description = "FAMILY_MEMBER_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_relation(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .identity
        .revoke_member(session.citizen_id, path.into_inner(), RevokedBy::Member)
        .await
        .map_err(family_error)?;
    Ok(HttpResponse::NoContent().finish())
}
