//! The audit trail's one recording point: a middleware around `/staff/v1` that appends every
//! staff request that asks to change something (any method but GET, HEAD and OPTIONS) to
//! `staff_audit_log` once it has been answered — who (the [`StaffActor`] the staff extractor left
//! on the request), when, from which address, the route and path, the body with its secrets
//! redacted (`services::audit::body_for_log`) and the status. A route added later is audited
//! without anyone remembering to.
//!
//! A request that never authenticated (a bad token, the login itself) has no one to attribute it
//! to and is not recorded here; the access log has it. Refusals (403, 409, 422 …) of an
//! authenticated member are recorded with their status: an attempt matters to an auditor too.
//!
//! The row is written after the handler, before the answer leaves: when a client sees the
//! answer, its entry exists. If the write fails the action has already happened, so the answer
//! stands; the failure is logged at ERROR and counted (`staff_audit_write_failures_total`) for
//! an alert.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage as _, web};
use services::audit::{self, Action, Actor};

use crate::extract::client_ip;
use crate::request_id;
use crate::startup::AppState;

/// The staff member a request authenticated as, left in the request's extensions by the
/// `CurrentStaff` extractor.
#[derive(Debug, Clone)]
pub struct StaffActor {
    pub staff_id: i64,
    pub username: String,
}

pub async fn record(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.call(req).await;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    // Only a body small enough to keep is read here (and put back for the handler); a larger
    // or streamed one flows to its handler untouched and is logged by its declared size.
    let body = match declared {
        Some(0) => None,
        Some(len) if len <= audit::MAX_BODY => {
            let bytes = req.extract::<web::Bytes>().await?;
            req.set_payload(replay(bytes.clone()));
            audit::body_for_log(content_type.as_deref(), &bytes)
        }
        Some(len) => Some(
            serde_json::json!({ "contentType": content_type, "bytes": len, "kept": false })
                .to_string(),
        ),
        None => None,
    };
    let method = req.method().to_string();
    let path = req.uri().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();

    let res = next.call(req).await?;

    let actor = res.request().extensions().get::<StaffActor>().cloned();
    if let (Some(actor), Some(state)) = (actor, state) {
        let action = Action {
            actor: Actor::Staff {
                id: actor.staff_id,
                username: actor.username,
            },
            address: client_ip(res.request(), state.trust_forwarded_for).map(|ip| ip.to_string()),
            method,
            route: res
                .request()
                .match_pattern()
                .unwrap_or_else(|| path.clone()),
            path,
            status: res.status().as_u16(),
            request_id: Some(request_id::current()),
            body,
        };
        if let Err(e) = state.audit.record(action).await {
            metrics::counter!("staff_audit_write_failures_total").increment(1);
            tracing::error!(error = %format!("{e:#}"), "a staff action was not written to the audit log");
        }
    }
    Ok(res)
}

/// A payload that yields `bytes` once: the body read for the log, given back to the handler.
fn replay(bytes: web::Bytes) -> Payload {
    let stream =
        futures::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(bytes) });
    Payload::Stream {
        payload: Box::pin(stream),
    }
}
