//! Health, readiness, metrics, the OpenAPI document and the one error shape.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    assert_eq!(ready.body["database"], "ok");
    assert_eq!(ready.body["store"], "ok");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_safe_incoming_one_is_kept() {
    let app = TestApp::spawn().await;
    let minted = app.get("/healthz", None).await;
    let id = minted.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32);
    let kept = app
        .send(
            app.http
                .get(app.url("/healthz"))
                .header("x-request-id", "proxy-abc-123"),
        )
        .await;
    assert_eq!(kept.headers["x-request-id"], "proxy-abc-123");
    let replaced = app
        .send(
            app.http
                .get(app.url("/healthz"))
                .header("x-request-id", "bad id <script>"),
        )
        .await;
    assert_ne!(replaced.headers["x-request-id"], "bad id <script>");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let reply = app.get("/api/v1/nothing-here", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "NOT_FOUND");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let reply = app.get("/api/v1/auth/login", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn malformed_json_is_a_400_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let reply = app
        .send(
            app.http
                .post(app.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body("{\"code\": "),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "INVALID_JSON");

    let wrong_shape = app
        .post("/api/v1/auth/login", None, &json!({ "code": 42 }))
        .await;
    assert_eq!(wrong_shape.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_shape.error_code(), "INVALID_JSON");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(70 * 1024);
    let reply = app
        .post("/api/v1/auth/login", None, &json!({ "code": huge }))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_with_415() {
    let app = TestApp::spawn().await;
    let reply = app
        .send(
            app.http
                .post(app.url("/api/v1/auth/login"))
                .header("content-type", "text/plain")
                .body("code=1"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.error_code(), "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_upstream_calls() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    app.get("/api/v1/me", Some(&citizen.token)).await;
    let reply = app.get("/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let text = reply.text;
    assert!(text.contains("http_requests_total{"), "{text}");
    assert!(text.contains(r#"route="/api/v1/me""#), "{text}");
    assert!(text.contains(r#"status="200""#));
    assert!(text.contains("http_request_duration_seconds_bucket{"));
    assert!(
        text.contains(r#"upstream_calls_total{upstream="wechat",api="jscode2session""#),
        "{text}"
    );
    assert!(text.contains("store_calls_total{"), "{text}");
}

#[tokio::test]
async fn the_openapi_document_lists_the_citizen_api() {
    let app = TestApp::spawn().await;
    let reply = app.get("/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/me/phone",
        "/api/v1/me/identity",
        "/api/v1/me/identity/verifications",
        "/api/v1/me/identity/verifications/{id}/complete",
    ] {
        assert!(reply.body["paths"][path].is_object(), "{path} missing");
    }
    assert!(reply.body["components"]["schemas"]["ErrorBody"].is_object());
    assert!(reply.body["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_request_id() {
    let app = TestApp::spawn().await;
    let openid = app.wechat.new_openid();
    let code = app.wechat.mint_login_code(&openid);
    let reply = app
        .send(
            app.http
                .post(app.url("/api/v1/auth/login"))
                .header("x-request-id", format!("trace-{openid}"))
                .json(&json!({ "code": code })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let id = format!("trace-{openid}");
    let logs = crate::helpers::captured_logs();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&openid)).collect();
    assert!(
        lines.iter().any(|l| l.contains("citizen logged in")),
        "the login is logged: {lines:?}"
    );
    for line in &lines {
        let parsed: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        let spans = parsed["spans"]
            .as_array()
            .expect("the line names its spans");
        assert!(
            spans.iter().any(|s| s["request_id"] == id.as_str()),
            "a line of the request without its id: {line}"
        );
    }
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_refused_without_echoing_it() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let reply = app
        .post(
            "/api/v1/me/identity/verifications",
            Some(&citizen.token),
            &json!({ "name": "张三", "idCardNo": 110105194912310020_u64 }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "INVALID_JSON");
    assert!(!reply.text.contains("110105194912310020"), "{}", reply.text);
    assert!(!crate::helpers::captured_logs().contains("110105194912310020"));
}

#[tokio::test]
async fn an_absurd_page_is_refused_not_a_crash() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    for query in [
        "page=18446744073709551615&pageSize=50",
        "page=461168601842738792&pageSize=20",
        "page=10001",
    ] {
        let reply = app
            .get(&format!("/api/v1/messages?{query}"), Some(&citizen.token))
            .await;
        assert!(reply.status.is_client_error(), "{query}: {reply:?}");
    }
    assert_eq!(
        app.get("/api/v1/messages?page=10000", Some(&citizen.token))
            .await
            .status,
        StatusCode::OK
    );
}

/// Several instances of a fresh deployment start at once: they take turns on the migrations
/// instead of racing on `CREATE TABLE`. (The embedded default runs one instance by design.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_on_a_fresh_database_all_come_up() {
    if crate::helpers::postgres_admin_url().is_none() {
        return;
    }
    let deployment = crate::helpers::Deployment::new().await;
    let (a, b, c) = tokio::join!(
        deployment.instance(|_| {}),
        deployment.instance(|_| {}),
        deployment.instance(|_| {})
    );
    for app in [&a, &b, &c] {
        assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
    }
    a.login().await;
}
