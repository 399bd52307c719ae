//! Health, readiness, metrics, the OpenAPI document and the one error shape.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.admin_get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    assert_eq!(ready.body["database"], "ok");
    assert_eq!(ready.body["store"], "ok");
    assert_eq!(app.admin_get("/healthz").await.status, StatusCode::OK);
}

/// Readiness and the business counters are for operators: the admin listener has them, the
/// public API port knows nothing of them (the error shape, as any unknown route).
#[tokio::test]
async fn readiness_and_metrics_are_on_the_admin_listener_only() {
    let app = TestApp::spawn().await;
    assert_ne!(app.address, app.admin_address);
    for path in ["/readyz", "/metrics"] {
        let public = app.get(path, None).await;
        assert_eq!(public.status, StatusCode::NOT_FOUND, "{path}: {public:?}");
        assert_eq!(public.error_code(), "NOT_FOUND");
        assert!(!public.text.contains("http_requests_total"), "{path}");
        assert_eq!(
            app.admin_get(path).await.status,
            StatusCode::OK,
            "{path} on the admin listener"
        );
    }
    // And the admin listener serves nothing of the API.
    let api = app.admin_get("/api/v1/items").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND, "{api:?}");
    assert_eq!(api.error_code(), "NOT_FOUND");
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
    let reply = app.admin_get("/metrics").await;
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
        assert_eq!(app.admin_get("/readyz").await.status, StatusCode::OK);
    }
    a.login().await;
}

/// Sends `head` as is on a fresh connection and returns everything the gateway answers.
async fn raw(app: &TestApp, head: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the gateway answers and closes")
    .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// A head actix-http cannot parse — a URL with raw UTF-8 (`?q=身份证` as typed, unencoded) or a
/// header with a control byte — gets the one error shape with a stable code, and a warning in
/// the log rather than an ERROR.
#[tokio::test]
async fn an_unparsable_request_head_gets_the_error_shape_and_no_error_in_the_log() {
    let app = TestApp::spawn().await;
    let marker = uuid::Uuid::new_v4().simple().to_string();
    for head in [
        format!("GET /api/v1/items?q=身份证&m={marker} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        format!("GET /healthz?m={marker} HTTP/1.1\r\nHost: x\r\nX-Note: a\u{1}b\r\n\r\n")
            .into_bytes(),
    ] {
        let answer = raw(&app, &head).await;
        let (status_and_headers, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        let headers = status_and_headers.to_ascii_lowercase();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(
            headers.contains("content-type: application/json"),
            "{answer}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(body["code"], "BAD_REQUEST", "{answer}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        );
        let id = body["requestId"].as_str().unwrap();
        assert!(headers.contains(&format!("x-request-id: {id}")), "{answer}");
    }
    // The same search, encoded as a client should, is answered.
    let encoded = app
        .get("/api/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81", None)
        .await;
    assert_eq!(encoded.status, StatusCode::OK, "{encoded:?}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = crate::helpers::captured_logs();
    let errors: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#) && l.contains("parse error"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        logs.lines()
            .any(|l| l.contains(r#""level":"WARN""#) && l.contains("does not parse")),
        "a warning says what happened"
    );
}
