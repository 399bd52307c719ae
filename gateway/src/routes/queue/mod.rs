//! Queue numbers (取号 / 叫号): a citizen's tickets and their live socket, the hall's display
//! board, and the counter's calls.
//!
//! The WebSockets (`wx.connectSocket`) authenticate like every other citizen route, with the
//! `Authorization: Bearer` header (wx.connectSocket sends headers); there is no `?token=`. The
//! board's socket is public: it shows numbers and counters, nothing personal. Each socket
//! listens to its hall through this instance's [`QueueHub`](services::queue::QueueHub), which
//! hears every instance's changes through the store's pub/sub; a ping goes out every 20 s, a
//! client silent for 60 s is dropped, and a citizen socket closes when its session ends.

mod live;

pub use self::live::*;

use actix_web::{HttpResponse, web};
use miniprogram_api::queue as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::catalogue::ItemCode;
use services::ids::{CounterId, HallId, StaffId};
use services::queue::{
    Board, CallError, CategoryStats, CounterAction, IssueError, TakeError, TicketError,
    TicketSource, TicketState, TicketView,
};
use services::staff::Role;

use crate::error::ApiError;
use crate::extract::{ActingCitizen, CurrentCitizen, CurrentStaff};
use crate::startup::AppState;

pub fn state_to_wire(s: TicketState) -> wire::TicketState {
    match s {
        TicketState::Waiting => wire::TicketState::Waiting,
        TicketState::Called => wire::TicketState::Called,
        TicketState::Serving => wire::TicketState::Serving,
        TicketState::Done => wire::TicketState::Done,
        TicketState::NoShow => wire::TicketState::NoShow,
        TicketState::Cancelled => wire::TicketState::Cancelled,
    }
}

pub fn to_wire(t: TicketView) -> wire::Ticket {
    wire::Ticket {
        id: t.id,
        number: t.number,
        state: state_to_wire(t.state),
        source: match t.source {
            TicketSource::Remote => wire::TicketSource::Remote,
            TicketSource::WalkIn => wire::TicketSource::WalkIn,
            TicketSource::Booking => wire::TicketSource::Booking,
        },
        green_channel: t.green_channel,
        hall_code: t.hall_code,
        hall_name: t.hall_name,
        category_id: t.category_id,
        category_name: t.category_name,
        date: t.day,
        issued_at: t.issued_at,
        called_at: t.called_at,
        calls: t.calls,
        counter_number: t.counter_number,
        counter_name: t.counter_name,
        ahead: t.position.map(|p| p.ahead),
        estimated_wait_minutes: t.position.and_then(|p| p.wait_minutes),
        booking_id: t.booking_id,
        member_id: t.member_id,
    }
}

fn board_to_wire(b: Board) -> wire::Board {
    wire::Board {
        hall_code: b.hall_code,
        hall_name: b.hall_name,
        calls: b
            .calls
            .into_iter()
            .map(|c| wire::BoardCall {
                call_id: c.call_id,
                ticket_id: c.ticket_id,
                number: c.number,
                counter_number: c.counter_number,
                counter_name: c.counter_name,
                announce: c.announce,
                at: c.at,
            })
            .collect(),
        waiting: b.waiting.iter().map(waiting_to_wire).collect(),
    }
}

fn waiting_to_wire(c: &services::queue::CategoryWaiting) -> wire::CategoryWaiting {
    wire::CategoryWaiting {
        prefix: c.prefix.clone(),
        name: c.name.clone(),
        waiting: c.waiting,
    }
}

fn stats_to_wire(c: CategoryStats) -> wire::CategoryStats {
    wire::CategoryStats {
        category_id: c.category_id,
        category_name: c.category_name,
        prefix: c.prefix,
        issued: c.issued,
        served: c.served,
        no_shows: c.no_shows,
        cancelled: c.cancelled,
        waiting: c.waiting,
        wait_avg_secs: c.wait_avg_secs,
        wait_p90_secs: c.wait_p90_secs,
        service_avg_secs: c.service_avg_secs,
        service_p90_secs: c.service_p90_secs,
    }
}

fn ticket_error(e: TicketError) -> ApiError {
    match e {
        TicketError::NotFound => ApiError::new(ErrorCode::TicketNotFound),
        TicketError::CounterNotFound => ApiError::new(ErrorCode::CounterNotFound),
        TicketError::CategoryNotFound => ApiError::new(ErrorCode::CategoryNotFound),
        TicketError::StateChanged { state } => ApiError::new(ErrorCode::TicketStateChanged)
            .with_message(format!(
                "该号码当前状态为{}，不能执行此操作，请刷新后重试",
                state_label(state)
            )),
        TicketError::RecallLimit => ApiError::new(ErrorCode::RecallLimitReached),
        TicketError::Unexpected(e) => ApiError::unexpected(e),
    }
}

fn state_label(s: TicketState) -> &'static str {
    match s {
        TicketState::Waiting => "等候中",
        TicketState::Called => "已叫号",
        TicketState::Serving => "办理中",
        TicketState::Done => "已办结",
        TicketState::NoShow => "已过号",
        TicketState::Cancelled => "已取消",
    }
}

// ---------------------------------------------------------------------------------------------
// Citizens.

/// Take a ticket for an item at a hall (线上取号), within its opening hours.
#[utoipa::path(
    post, path = "/api/v1/halls/{hallCode}/tickets", tag = "queue",
    params(("hallCode" = String, Path), miniprogram_api::family::ForMember),
    request_body = wire::TakeTicket,
    responses(
        (status = 201, body = wire::Ticket),
        (status = 403, description = "IDENTITY_REQUIRED, IDENTITY_NOT_VERIFIED (taking one for a family member needs one's own verified identity)", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND, ITEM_NOT_FOUND, FAMILY_MEMBER_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "TICKET_ALREADY_LIVE, NO_COUNTER_OPEN (no active counter serves the item's category)", body = ErrorBody),
        (status = 422, description = "HALL_NOT_OPEN, CATEGORY_NOT_FOR_ITEM", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn take(
    state: web::Data<AppState>,
    ActingCitizen { acting, .. }: ActingCitizen,
    path: web::Path<String>,
    body: web::Json<wire::TakeTicket>,
) -> Result<HttpResponse, ApiError> {
    let item_code =
        ItemCode::parse(&body.item_code).map_err(|_| ApiError::new(ErrorCode::ItemNotFound))?;
    let ticket = state
        .queue
        .take(
            acting.citizen_id,
            acting.member_id(),
            &path.into_inner(),
            &item_code,
        )
        .await
        .map_err(|e| match e {
            TakeError::HallNotFound => ApiError::new(ErrorCode::HallNotFound),
            TakeError::ItemNotFound => ApiError::new(ErrorCode::ItemNotFound),
            TakeError::CategoryNotForItem => ApiError::new(ErrorCode::CategoryNotForItem),
            TakeError::HallNotOpen => ApiError::new(ErrorCode::HallNotOpen),
            TakeError::AlreadyLive => ApiError::new(ErrorCode::TicketAlreadyLive),
            TakeError::NoCounterOpen => ApiError::new(ErrorCode::NoCounterOpen),
            TakeError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(HttpResponse::Created().json(to_wire(ticket)))
}

/// My tickets, newest first (at most 20).
#[utoipa::path(
    get, path = "/api/v1/tickets", tag = "queue",
    responses((status = 200, body = wire::TicketList)),
    security(("bearer" = []))
)]
pub async fn mine(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<web::Json<wire::TicketList>, ApiError> {
    let tickets = state.queue.mine(session.citizen_id).await?;
    Ok(web::Json(wire::TicketList {
        tickets: tickets.into_iter().map(to_wire).collect(),
    }))
}

/// One of my tickets, with the people ahead and the estimated wait while it waits: the polling
/// endpoint for clients that cannot hold a socket (same data as the socket's messages).
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}", tag = "queue",
    params(("id" = i64, Path)),
    responses((status = 200, body = wire::Ticket), (status = 404, description = "TICKET_NOT_FOUND", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
) -> Result<web::Json<wire::Ticket>, ApiError> {
    state
        .queue
        .of_citizen(session.citizen_id, path.into_inner())
        .await?
        .map(|t| web::Json(to_wire(t)))
        .ok_or_else(|| ApiError::new(ErrorCode::TicketNotFound))
}

/// Give up a waiting or called ticket.
#[utoipa::path(
    post, path = "/api/v1/tickets/{id}/cancel", tag = "queue",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = wire::Ticket),
        (status = 404, description = "TICKET_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "TICKET_STATE_CHANGED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
) -> Result<web::Json<wire::Ticket>, ApiError> {
    let ticket = state
        .queue
        .cancel(session.citizen_id, path.into_inner())
        .await
        .map_err(ticket_error)?;
    Ok(web::Json(to_wire(ticket)))
}

/// A code to show at the counter or kiosk (市民码) so that a walk-in ticket becomes mine: single
/// use, 5 minutes, and a new one voids the previous. Display `qr` as a QR code, or the code.
#[utoipa::path(
    post, path = "/api/v1/citizen-code", tag = "queue",
    responses((status = 201, body = wire::CitizenCode), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn citizen_code(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
) -> Result<HttpResponse, ApiError> {
    let issued = state.queue.citizen_code(session.citizen_id).await?;
    Ok(HttpResponse::Created().json(wire::CitizenCode {
        qr: format!(
            "{}{}",
            services::queue::citizen_code::QR_PREFIX,
            issued.code
        ),
        code: issued.code,
        expires_at: issued.expires_at,
    }))
}

// ---------------------------------------------------------------------------------------------
// The hall's display board (public: numbers and counters only).

/// The board: the latest calls with the text to announce, and who waits per category.
#[utoipa::path(
    get, path = "/api/v1/halls/{hallCode}/board", tag = "queue",
    params(("hallCode" = String, Path)),
    responses((status = 200, body = wire::Board), (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody)),
)]
pub async fn board(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<wire::Board>, ApiError> {
    state
        .queue
        .board(&path.into_inner())
        .await?
        .map(|b| web::Json(board_to_wire(b)))
        .ok_or_else(|| ApiError::new(ErrorCode::HallNotFound))
}

// ---------------------------------------------------------------------------------------------
// Staff: walk-ins, the counter, statistics.

/// The staff side of the queue, in the `/staff/v1` scope.
pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    use super::resource;
    cfg.service(resource(
        "/halls/{hall_id}/tickets",
        [web::post().to(issue)],
    ))
    .service(resource(
        "/halls/{hall_id}/counters/{counter_id}/desk",
        [web::get().to(desk)],
    ))
    .service(resource(
        "/halls/{hall_id}/counters/{counter_id}/call-next",
        [web::post().to(call_next)],
    ))
    .service(resource(
        "/halls/{hall_id}/counters/{counter_id}/tickets/{ticket_id}/{action}",
        [web::post().to(act)],
    ))
    .service(resource(
        "/halls/{hall_id}/queue/stats",
        [web::get().to(stats)],
    ))
    .service(resource(
        "/halls/{hall_id}/workstation",
        [web::get().to(workstation)],
    ))
    .service(resource(
        "/halls/{hall_id}/counters/{counter_id}/live",
        [web::get().to(counter_live)],
    ));
}

/// The hall's counters and categories, for a clerk choosing their counter (clerks of the hall).
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/workstation", tag = "staff",
    params(("hallId" = i64, Path)),
    responses(
        (status = 200, body = wire::Workstation),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn workstation(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
) -> Result<web::Json<wire::Workstation>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Clerk, hall_id)?;
    let w = state
        .queue
        .workstation(hall_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::HallNotFound))?;
    Ok(web::Json(wire::Workstation {
        hall_id: w.hall_id,
        hall_code: w.hall_code,
        hall_name: w.hall_name,
        categories: w
            .categories
            .into_iter()
            .map(|(id, prefix, name)| wire::WorkCategory { id, prefix, name })
            .collect(),
        counters: w
            .counters
            .into_iter()
            .map(|c| wire::WorkCounter {
                id: c.id,
                number: c.number,
                name: c.name,
                active: c.active,
                category_ids: c.category_ids,
            })
            .collect(),
    }))
}

fn line_to_wire(line: Vec<services::queue::desk::LineTicket>) -> Vec<wire::LineTicket> {
    line.into_iter()
        .map(|t| wire::LineTicket {
            id: t.id,
            number: t.number,
            category_id: t.category_id,
            green_channel: t.green_channel,
            source: match t.source {
                TicketSource::Remote => wire::TicketSource::Remote,
                TicketSource::WalkIn => wire::TicketSource::WalkIn,
                TicketSource::Booking => wire::TicketSource::Booking,
            },
            booking_id: t.booking_id,
            issued_at: t.issued_at,
        })
        .collect()
}

/// Issue a walk-in ticket (counter or kiosk); green channel goes first. Anonymous, or the
/// citizen's own when they show their code (`citizenCode`).
#[utoipa::path(
    post, path = "/staff/v1/halls/{hallId}/tickets", tag = "staff",
    params(("hallId" = i64, Path)),
    request_body = wire::IssueTicket,
    responses(
        (status = 201, body = wire::Ticket),
        (status = 400, description = "INVALID_JSON (an unknown field such as citizenId)", body = ErrorBody),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND, CATEGORY_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "CITIZEN_CODE_INVALID: unknown, expired, replaced or used", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED: too many citizen codes tried this minute", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn issue(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::IssueTicket>,
) -> Result<HttpResponse, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Clerk, hall_id)?;
    let ticket = state
        .queue
        .issue_walk_in(
            hall_id,
            staff.0.staff_id,
            body.category_id,
            body.green_channel,
            body.citizen_code.as_deref(),
        )
        .await
        .map_err(|e| match e {
            IssueError::HallNotFound => ApiError::new(ErrorCode::HallNotFound),
            IssueError::CategoryNotFound => ApiError::new(ErrorCode::CategoryNotFound),
            IssueError::CitizenCodeInvalid => ApiError::new(ErrorCode::CitizenCodeInvalid)
                .with_field("citizenCode", "市民码无效或已过期"),
            IssueError::RateLimited(l) => ApiError::rate_limited(l),
            IssueError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(HttpResponse::Created().json(to_wire(ticket)))
}

/// The ticket a counter holds (called or serving), if any.
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/counters/{counterId}/desk", tag = "staff",
    params(("hallId" = i64, Path), ("counterId" = i64, Path)),
    responses(
        (status = 200, body = wire::CounterState),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "COUNTER_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn desk(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(HallId, CounterId)>,
) -> Result<web::Json<wire::CounterState>, ApiError> {
    let (hall_id, counter_id) = path.into_inner();
    staff.require(Role::Clerk, hall_id.get())?;
    let ticket = state
        .queue
        .held_by(hall_id, counter_id)
        .await
        .map_err(ticket_error)?;
    Ok(web::Json(wire::CounterState {
        ticket: ticket.map(to_wire),
    }))
}

/// Call the next ticket to this counter.
#[utoipa::path(
    post, path = "/staff/v1/halls/{hallId}/counters/{counterId}/call-next", tag = "staff",
    params(("hallId" = i64, Path), ("counterId" = i64, Path)),
    responses(
        (status = 200, body = wire::Ticket),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "COUNTER_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "COUNTER_BUSY, NO_TICKET_WAITING, COUNTER_INACTIVE", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn call_next(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(HallId, CounterId)>,
) -> Result<web::Json<wire::Ticket>, ApiError> {
    let (hall_id, counter_id) = path.into_inner();
    staff.require(Role::Clerk, hall_id.get())?;
    let ticket = state
        .queue
        .call_next(hall_id, counter_id, StaffId::new(staff.0.staff_id))
        .await
        .map_err(|e| match e {
            CallError::CounterNotFound => ApiError::new(ErrorCode::CounterNotFound),
            CallError::CounterInactive => ApiError::new(ErrorCode::CounterInactive),
            CallError::CounterBusy { .. } => ApiError::new(ErrorCode::CounterBusy),
            CallError::NoTicketWaiting => ApiError::new(ErrorCode::NoTicketWaiting),
            CallError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(to_wire(ticket)))
}

/// A change of the ticket this counter holds: `recall`, `serve`, `done`, `no-show`, or
/// `transfer` (body `{"categoryId"}`: back to waiting in another category, keeping its time).
#[utoipa::path(
    post, path = "/staff/v1/halls/{hallId}/counters/{counterId}/tickets/{ticketId}/{action}", tag = "staff",
    params(
        ("hallId" = i64, Path), ("counterId" = i64, Path), ("ticketId" = i64, Path),
        ("action" = String, Path, description = "recall | serve | done | no-show | transfer"),
    ),
    request_body(content = Option<wire::Transfer>, description = "for transfer only"),
    responses(
        (status = 200, body = wire::Ticket),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "TICKET_NOT_FOUND, COUNTER_NOT_FOUND, CATEGORY_NOT_FOUND, NOT_FOUND (action)", body = ErrorBody),
        (status = 409, description = "TICKET_STATE_CHANGED, RECALL_LIMIT_REACHED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn act(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(HallId, CounterId, i64, String)>,
    body: Option<web::Json<wire::Transfer>>,
) -> Result<web::Json<wire::Ticket>, ApiError> {
    let (hall_id, counter_id, ticket_id, action) = path.into_inner();
    staff.require(Role::Clerk, hall_id.get())?;
    let action = match action.as_str() {
        "recall" => CounterAction::Recall,
        "serve" => CounterAction::Serve,
        "done" => CounterAction::Done,
        "no-show" => CounterAction::NoShow,
        "transfer" => {
            let Some(body) = body else {
                return Err(ApiError::new(ErrorCode::ValidationFailed)
                    .with_message("请选择转入的业务类别")
                    .with_field("categoryId", "必填"));
            };
            CounterAction::Transfer {
                category_id: body.category_id,
            }
        }
        _ => return Err(ApiError::new(ErrorCode::NotFound)),
    };
    let ticket = state
        .queue
        .at_counter(
            hall_id,
            counter_id,
            ticket_id,
            StaffId::new(staff.0.staff_id),
            action,
        )
        .await
        .map_err(ticket_error)?;
    Ok(web::Json(to_wire(ticket)))
}

/// A hall's queue figures of a day per category (administrators of the hall).
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/queue/stats", tag = "staff",
    params(("hallId" = i64, Path), wire::StatsQuery),
    responses(
        (status = 200, body = wire::QueueStats),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn stats(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    query: web::Query<wire::StatsQuery>,
) -> Result<web::Json<wire::QueueStats>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let date = crate::extract::day(
        "date",
        query.date.unwrap_or_else(|| state.queue.clock().today()),
    )?;
    let categories = state
        .queue
        .stats(hall_id, date)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::HallNotFound))?;
    Ok(web::Json(wire::QueueStats {
        hall_id,
        date: date.date(),
        categories: categories.into_iter().map(stats_to_wire).collect(),
    }))
}
