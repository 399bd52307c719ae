//! The outermost middleware: request id, the request's span, the access log line, metrics, and a
//! last pass that gives any bare error response (unknown route, wrong method, framework errors)
//! the one error shape.

use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError as _};
use tracing::Instrument as _;

use crate::error::{ApiError, Shaped};
use crate::request_id;
use crate::startup::AppState;

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
    let method = method_label(&method);
    metrics::counter!(
        "http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => res.status().as_str().to_owned()
    )
    .increment(1);
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(elapsed.as_secs_f64());
    // Errors and slow requests are worth a line at info; the fast, successful many are counted in
    // the metrics and logged at debug (a JSON line per request would cost a quarter of the
    // throughput). Every line still carries the request id.
    let slow = res
        .request()
        .app_data::<actix_web::web::Data<AppState>>()
        .map_or(Duration::from_secs(1), |s| s.slow_request);
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, latency_us, "request finished");
        } else if status >= 400 || elapsed >= slow {
            tracing::info!(status, latency_us, "request finished");
        } else {
            tracing::debug!(status, latency_us, "request finished");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(request_id::HEADER), value);
    }
    Ok(res)
}

/// Label values without an allocation per request.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
