//! Subscribe-message consent and the inbox.

use actix_web::{HttpResponse, web};
use miniprogram_api::notify::{
    Message, Messages, PageQuery, SubscribeAction, SubscribeResults, Subscriptions,
    TemplateSubscription,
};
use miniprogram_api::{ErrorBody, ErrorCode};
use services::notify::{ConsentError, MarkReadError, TemplateStatus};

use crate::error::ApiError;
use crate::extract::CurrentCitizen;
use crate::startup::AppState;

fn to_wire(templates: Vec<TemplateStatus>) -> Subscriptions {
    Subscriptions {
        templates: templates
            .into_iter()
            .map(|t| TemplateSubscription {
                template_id: t.template_id,
                kinds: t.kinds,
                actions: t.actions.into_iter().map(action_to_wire).collect(),
                long_term: t.long_term,
                remaining: t.remaining,
                last_result: t.last_result.map(|r| r.as_str().to_owned()),
                ask_again: t.ask_again,
            })
            .collect(),
    }
}

fn action_to_wire(action: services::notify::SubscribeAction) -> SubscribeAction {
    use services::notify::SubscribeAction as Domain;
    match action {
        Domain::Booking => SubscribeAction::Booking,
        Domain::Ticket => SubscribeAction::Ticket,
        Domain::Application => SubscribeAction::Application,
        Domain::Licence => SubscribeAction::Licence,
    }
}

/// Record what `wx.requestSubscribeMessage` answered.
#[utoipa::path(
    post, path = "/api/v1/subscriptions", tag = "notifications",
    request_body = SubscribeResults,
    responses(
        (status = 200, body = Subscriptions),
        (status = 422, description = "VALIDATION_FAILED: unknown template id or result", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn record(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    body: web::Json<SubscribeResults>,
) -> Result<web::Json<Subscriptions>, ApiError> {
    let templates = state
        .notifications
        .record_consent(session.citizen_id, &body.into_inner().0)
        .await
        .map_err(|e| match e {
            ConsentError::UnknownTemplate(id) => ApiError::new(ErrorCode::ValidationFailed)
                .with_message("未知的订阅消息模板")
                .with_field(&id, "未知的订阅消息模板"),
            ConsentError::BadResult(result) => ApiError::new(ErrorCode::ValidationFailed)
                .with_field("result", format!("无法识别的订阅结果：{result}")),
            ConsentError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(to_wire(templates)))
}

/// Which templates the citizen has allowed, and which to ask for again.
#[utoipa::path(
    get, path = "/api/v1/subscriptions", tag = "notifications",
    responses((status = 200, body = Subscriptions)),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<web::Json<Subscriptions>, ApiError> {
    let templates = state
        .notifications
        .subscriptions(session.citizen_id)
        .await?;
    Ok(web::Json(to_wire(templates)))
}

/// Deeper pages than this are refused: nobody reads them, and the offset must stay in range.
const MAX_PAGE: u64 = 10_000;

/// The citizen's messages, newest first, with the unread count.
#[utoipa::path(
    get, path = "/api/v1/messages", tag = "notifications",
    params(PageQuery),
    responses((status = 200, body = Messages), (status = 400, description = "BAD_REQUEST: a query that does not parse", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn inbox(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Messages>, ApiError> {
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&page) || !(1..=50).contains(&page_size) {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .with_message("分页参数不正确：page 为 1 至 10000，pageSize 为 1 至 50"));
    }
    let found = state
        .notifications
        .inbox(session.citizen_id, page, page_size)
        .await?;
    Ok(web::Json(Messages {
        messages: found
            .messages
            .into_iter()
            .map(|m| Message {
                id: m.id,
                kind: m.kind,
                title: m.title,
                body: m.body,
                page: m.page,
                created_at: m.created_at,
                read: m.read,
            })
            .collect(),
        page,
        page_size,
        total: found.total,
        unread: found.unread,
    }))
}

/// Mark one message read.
#[utoipa::path(
    post, path = "/api/v1/messages/{id}/read", tag = "notifications",
    params(("id" = i64, Path, description = "message id")),
    responses((status = 204), (status = 404, description = "NOT_FOUND: no such message of this citizen", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn mark_read(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .notifications
        .mark_read(session.citizen_id, id.into_inner())
        .await
        .map_err(|e| match e {
            MarkReadError::NotFound => {
                ApiError::new(ErrorCode::NotFound).with_message("消息不存在")
            }
            MarkReadError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(HttpResponse::NoContent().finish())
}
