//! The queue's WebSockets, the gateway side of the live hub
//! ([`QueueHub`](services::queue::QueueHub)): a citizen's ticket, the hall's display board, and
//! a counter's waiting line. Each listens to its hall through this instance's hub; a ping goes
//! out every 20 s, a client silent for 60 s is dropped, and a socket closes when its session
//! ends. A citizen socket authenticates with the `Authorization: Bearer` header (the extractor's
//! parser); a counter socket with the header or, from a browser, a first `auth` frame.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use miniprogram_api::queue as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::ids::{CounterId, HallId};
use services::sessions::AuthError;
use services::staff::Role;
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::extract::CurrentCitizen;
use crate::startup::AppState;

use super::*;
use crate::extract::bearer;

const PING_EVERY: Duration = Duration::from_secs(20);
const SILENT_FOR: Duration = Duration::from_secs(60);

fn text<T: serde::Serialize>(message: &T) -> String {
    serde_json::to_string(message).unwrap_or_default()
}

/// WebSocket of one of my tickets: `ticket` on connecting and on every change of it (called to
/// counter N, recalled …), `position` when it moves up. Upgrade with the bearer header.
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}/live", tag = "queue",
    params(("id" = i64, Path)),
    responses(
        (status = 101, description = "WebSocket; JSON text frames of LiveMessage", body = wire::LiveMessage),
        (status = 404, description = "TICKET_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn ticket_live(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let ticket_id = path.into_inner();
    let citizen_id = session.citizen_id;
    let first = state
        .queue
        .of_citizen(citizen_id, ticket_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::TicketNotFound))?;
    let mut updates = state.queue_hub.listen(first.hall_id).await?;
    // Read again once listening: a change between the two reads is in the view or the updates.
    let first = state
        .queue
        .of_citizen(citizen_id, ticket_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::TicketNotFound))?;
    let (response, mut ws, mut messages) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest).caused_by(anyhow::anyhow!("{e}")))?;
    let token = bearer(&req).unwrap_or_default().to_owned();
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let mut last_ahead = first.position.map(|p| p.ahead);
        if ws
            .text(text(&wire::LiveMessage::Ticket {
                ticket: to_wire(first),
            }))
            .await
            .is_err()
        {
            return;
        }
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut heard = Instant::now();
        let reason = loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        heard = Instant::now();
                        if ws.pong(&bytes).await.is_err() { break None; }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => heard = Instant::now(),
                },
                update = updates.recv() => match update {
                    Ok(update) if update.event.ticket_id == ticket_id => {
                        let Ok(Some(view)) = state.queue.of_citizen(citizen_id, ticket_id).await else {
                            continue;
                        };
                        last_ahead = view.position.map(|p| p.ahead);
                        let message = wire::LiveMessage::Ticket { ticket: to_wire(view) };
                        if ws.text(text(&message)).await.is_err() { break None; }
                    }
                    Ok(update) => {
                        let Some(p) = update.positions.get(&ticket_id) else { continue };
                        if last_ahead == Some(p.ahead) { continue; }
                        last_ahead = Some(p.ahead);
                        let message = wire::LiveMessage::Position {
                            ticket_id,
                            ahead: p.ahead,
                            estimated_wait_minutes: p.wait_minutes,
                        };
                        if ws.text(text(&message)).await.is_err() { break None; }
                    }
                    // Fell behind: the next update carries fresh positions.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break Some(CloseReason::from(CloseCode::Restart)),
                },
                _ = ping.tick() => {
                    if heard.elapsed() > SILENT_FOR { break None; }
                    if let Err(AuthError::Expired | AuthError::Malformed) =
                        state.identity.sessions().authenticate(&token).await
                    {
                        break Some(CloseReason {
                            code: CloseCode::Policy,
                            description: Some("session ended".to_owned()),
                        });
                    }
                    if ws.ping(b"").await.is_err() { break None; }
                }
            }
        };
        let _ = ws.close(reason).await;
    });
    Ok(response)
}

/// WebSocket of the board: `board` on connecting, then a `call` for every call and recall, in
/// order, with the text to announce, and `waiting` (every category's count) whenever a
/// category's waiting count changes, on whichever instance the change was made.
#[utoipa::path(
    get, path = "/api/v1/halls/{hallCode}/board/live", tag = "queue",
    params(("hallCode" = String, Path)),
    responses(
        (status = 101, description = "WebSocket; JSON text frames of LiveMessage", body = wire::LiveMessage),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
    ),
)]
pub async fn board_live(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hall_code = path.into_inner();
    let hall_id = state
        .queue
        .hall_id(&hall_code)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::HallNotFound))?;
    let mut updates = state.queue_hub.listen(hall_id).await?;
    let first = state
        .queue
        .board(&hall_code)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::HallNotFound))?;
    let (response, mut ws, mut messages) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest).caused_by(anyhow::anyhow!("{e}")))?;
    actix_web::rt::spawn(async move {
        // The categories as the board showed them on connecting, with the counts last sent.
        let mut shown = first.waiting.clone();
        let message = wire::LiveMessage::Board {
            board: board_to_wire(first),
        };
        if ws.text(text(&message)).await.is_err() {
            return;
        }
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut heard = Instant::now();
        loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        heard = Instant::now();
                        if ws.pong(&bytes).await.is_err() { break; }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => heard = Instant::now(),
                },
                update = updates.recv() => match update {
                    Ok(update) => {
                        let e = &update.event;
                        if let (Some(call_id), Some(announce), Some(counter_number), Some(counter_name)) =
                            (e.event_id, e.announce.clone(), e.counter_number, e.counter_name.clone())
                        {
                            let message = wire::LiveMessage::Call {
                                call: wire::BoardCall {
                                    call_id,
                                    ticket_id: e.ticket_id,
                                    number: e.number.clone(),
                                    counter_number,
                                    counter_name,
                                    announce,
                                    at: e.at,
                                },
                            };
                            if ws.text(text(&message)).await.is_err() { break; }
                        }
                        // After the call, so a display announces before it recounts.
                        if let Some(counts) = &update.waiting
                            && recount(&mut shown, counts)
                        {
                            let message = wire::LiveMessage::Waiting {
                                waiting: shown.iter().map(waiting_to_wire).collect(),
                            };
                            if ws.text(text(&message)).await.is_err() { break; }
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                },
                _ = ping.tick() => {
                    if heard.elapsed() > SILENT_FOR { break; }
                    if ws.ping(b"").await.is_err() { break; }
                }
            }
        }
        let _ = ws.close(None).await;
    });
    Ok(response)
}

/// Sets each shown category's count from `counts` (absent: nobody waits); whether any moved.
fn recount(
    shown: &mut [services::queue::CategoryWaiting],
    counts: &std::collections::BTreeMap<i64, u32>,
) -> bool {
    let mut moved = false;
    for c in shown {
        let now = counts.get(&c.category_id).copied().unwrap_or(0);
        if c.waiting != now {
            c.waiting = now;
            moved = true;
        }
    }
    moved
}

/// How long a counter socket may take to send its `auth` frame.
const AUTH_WITHIN: Duration = Duration::from_secs(10);

/// The staff member of a counter socket: from the upgrade's bearer header, or else from the
/// first frame (`{"type":"auth","token":"zst_…"}`), since a browser cannot set headers on a
/// WebSocket and a token in the URL would end up in access logs.
async fn socket_staff(
    state: &AppState,
    header_token: Option<String>,
    messages: &mut actix_ws::MessageStream,
) -> Option<(services::staff::StaffSession, String)> {
    let token = match header_token {
        Some(t) => t,
        None => {
            let first = tokio::time::timeout(AUTH_WITHIN, async {
                while let Some(Ok(message)) = messages.recv().await {
                    match message {
                        Message::Text(text) => return Some(text),
                        Message::Ping(_) | Message::Pong(_) => {}
                        _ => return None,
                    }
                }
                None
            })
            .await
            .ok()
            .flatten()?;
            match serde_json::from_str::<wire::StaffLiveMessage>(&first) {
                Ok(wire::StaffLiveMessage::Auth { token }) => token,
                _ => return None,
            }
        }
    };
    let session = state.staff.authenticate(&token).await.ok()?;
    Some((session, token))
}

/// WebSocket of a counter's waiting line (clerks of the hall): `line` on connecting and whenever
/// the line of the counter's categories changed, on whichever instance the change was made.
/// Authenticate with the bearer header, or with an `auth` frame first (browsers): a socket whose
/// first frame is not a valid staff token of a clerk of the hall is closed with code 1008.
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/counters/{counterId}/live", tag = "staff",
    params(("hallId" = i64, Path), ("counterId" = i64, Path)),
    responses(
        (status = 101, description = "WebSocket; JSON text frames of StaffLiveMessage", body = wire::StaffLiveMessage),
        (status = 404, description = "COUNTER_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn counter_live(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<(HallId, CounterId)>,
) -> Result<HttpResponse, ApiError> {
    let (hall_id, counter_id) = path.into_inner();
    // The counter exists (a 404 before the upgrade); who asks is checked once upgraded.
    state
        .queue
        .counter_line(hall_id, counter_id)
        .await
        .map_err(ticket_error)?;
    let (response, mut ws, mut messages) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest).caused_by(anyhow::anyhow!("{e}")))?;
    let header_token = bearer(&req).map(str::to_owned);
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let refused = CloseReason {
            code: CloseCode::Policy,
            description: Some("UNAUTHENTICATED".to_owned()),
        };
        let Some((session, token)) = socket_staff(&state, header_token, &mut messages).await else {
            let _ = ws.close(Some(refused)).await;
            return;
        };
        if !session.allows(Role::Clerk, hall_id.get()) {
            let _ = ws
                .close(Some(CloseReason {
                    code: CloseCode::Policy,
                    description: Some("FORBIDDEN".to_owned()),
                }))
                .await;
            return;
        }
        let Ok(mut updates) = state.queue_hub.listen(hall_id.get()).await else {
            let _ = ws.close(Some(CloseReason::from(CloseCode::Restart))).await;
            return;
        };
        // Read once listening: a change after this read comes as an update.
        let Ok(mut shown) = state.queue.counter_line(hall_id, counter_id).await else {
            let _ = ws.close(Some(CloseReason::from(CloseCode::Restart))).await;
            return;
        };
        let first = wire::StaffLiveMessage::Line {
            line: line_to_wire(shown.clone()),
        };
        if ws.text(text(&first)).await.is_err() {
            return;
        }
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut heard = Instant::now();
        let reason = loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        heard = Instant::now();
                        if ws.pong(&bytes).await.is_err() { break None; }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => heard = Instant::now(),
                },
                update = updates.recv() => match update {
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        let Ok(line) = state.queue.counter_line(hall_id, counter_id).await else {
                            continue;
                        };
                        if line == shown { continue; }
                        shown = line;
                        let message = wire::StaffLiveMessage::Line { line: line_to_wire(shown.clone()) };
                        if ws.text(text(&message)).await.is_err() { break None; }
                    }
                    Err(RecvError::Closed) => break Some(CloseReason::from(CloseCode::Restart)),
                },
                _ = ping.tick() => {
                    if heard.elapsed() > SILENT_FOR { break None; }
                    if let Err(AuthError::Expired | AuthError::Malformed) =
                        state.staff.authenticate(&token).await
                    {
                        break Some(CloseReason {
                            code: CloseCode::Policy,
                            description: Some("session ended".to_owned()),
                        });
                    }
                    if ws.ping(b"").await.is_err() { break None; }
                }
            }
        };
        let _ = ws.close(reason).await;
    });
    Ok(response)
}
