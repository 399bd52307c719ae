//! The outermost middleware: request id, the request's span, the access log line, metrics, and a
//! last pass that gives any bare error response (unknown route, wrong method, framework errors)
//! the one error shape.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError as _};
use tracing::Instrument as _;

use crate::error::{ApiError, Shaped};
use crate::request_id;

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let id = request_id::from_header(
        req.headers()
            .get(request_id::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = %req.path(),
        citizen_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = request_id::scope(
        id.clone(),
        async {
            // Handlers and extractors turn their errors into responses; an `Err` here would come
            // from a framework layer and is left to actix.
            let res = next.call(req).await?;
            let status = res.status();
            if status.as_u16() >= 400 && res.response().extensions().get::<Shaped>().is_none() {
                let shaped = ApiError::for_status(status).error_response();
                let (req, _) = res.into_parts();
                return Ok(ServiceResponse::new(req, shaped).map_into_right_body());
            }
            Ok::<_, Error>(res.map_into_left_body())
        }
        .instrument(span.clone()),
    )
    .await;

    let mut res = result?;
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed();
    metrics::counter!(
        "http_requests_total",
        "method" => method.to_string(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route
    )
    .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_us = elapsed.as_micros() as u64,
            "request finished"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(request_id::HEADER), value);
    }
    Ok(res)
}
