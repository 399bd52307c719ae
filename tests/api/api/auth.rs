//! Logging in with WeChat, sessions, and the limits on both.

use std::time::Duration;

use miniprogram_api::auth::LoginResponse;
use miniprogram_api::me::Me;
use reqwest::StatusCode;
use serde_json::json;
use simulators::wechat::{Endpoint, Fault};

use crate::helpers::{TestApp, fresh_minute};

#[tokio::test]
async fn a_citizen_logs_in_with_a_wx_login_code_and_sees_themselves() {
    let app = TestApp::spawn().await;
    let openid = app.wechat.new_openid();
    let login: LoginResponse = app
        .login_code(&app.wechat.mint_login_code(&openid))
        .await
        .ok();
    let token = login.token.as_str();
    assert!(token.len() >= 40, "a token of at least 128 random bits");
    assert_eq!(login.expires_in, 7200);
    assert!(login.user.id > 0);
    assert!(login.user.phone.is_none());
    assert!(login.user.identity.is_none());

    let me: Me = app.get("/api/v1/me", Some(token)).await.ok();
    assert_eq!(me, login.user);
}

#[tokio::test]
async fn the_same_wechat_user_is_the_same_citizen_on_every_login() {
    let app = TestApp::spawn().await;
    let openid = app.wechat.new_openid();
    let first = app.login_as(&openid).await;
    let second = app.login_as(&openid).await;
    assert_eq!(first.id(), second.id());
    assert_ne!(first.token, second.token);
    let other = app.login().await;
    assert_ne!(other.id(), first.id());
}

#[tokio::test]
async fn a_reused_code_is_a_clear_400_not_a_500() {
    let app = TestApp::spawn().await;
    let code = app.wechat.mint_login_code(&app.wechat.new_openid());
    assert_eq!(app.login_code(&code).await.status, StatusCode::OK);
    let again = app.login_code(&code).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.error_code(), "WECHAT_CODE_USED");
}

#[tokio::test]
async fn an_unknown_or_expired_code_is_refused() {
    let app = TestApp::spawn().await;
    let unknown = app.login_code("0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.error_code(), "WECHAT_CODE_INVALID");

    let code = app.wechat.mint_login_code(&app.wechat.new_openid());
    app.wechat.advance_clock(Duration::from_secs(301));
    let expired = app.login_code(&code).await;
    assert_eq!(expired.error_code(), "WECHAT_CODE_INVALID");

    let phone_code = app.wechat.mint_phone_code("13800138000");
    assert_eq!(
        app.login_code(&phone_code).await.error_code(),
        "WECHAT_CODE_INVALID"
    );
}

#[tokio::test]
async fn an_empty_or_absurd_code_is_refused_without_asking_wechat() {
    let app = TestApp::spawn().await;
    for code in ["", "   ", "has spaces inside", "代码"] {
        let reply = app.login_code(code).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{code:?}");
        assert_eq!(reply.error_code(), "WECHAT_CODE_INVALID");
    }
    assert_eq!(app.wechat.stats().code2session_calls, 0);
    let missing = app.post("/api/v1/auth/login", None, &json!({})).await;
    assert_eq!(missing.error_code(), "INVALID_JSON");
}

#[tokio::test]
async fn a_high_risk_wechat_user_is_refused_with_403() {
    let app = TestApp::spawn().await;
    let openid = app.wechat.new_openid();
    app.wechat.mark_risky(&openid);
    let reply = app.login_code(&app.wechat.mint_login_code(&openid)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "WECHAT_USER_BLOCKED");
}

#[tokio::test]
async fn wechat_busy_then_recovering_is_retried_and_the_login_succeeds() {
    let app = TestApp::spawn().await;
    app.wechat.inject(Endpoint::Code2Session, Fault::Busy, 2);
    let reply = app
        .login_code(&app.wechat.mint_login_code(&app.wechat.new_openid()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(app.wechat.stats().code2session_calls, 3);
}

#[tokio::test]
async fn wechat_staying_busy_is_a_503_after_the_retries() {
    let app = TestApp::spawn().await;
    app.wechat.inject(Endpoint::Code2Session, Fault::Busy, 10);
    let reply = app
        .login_code(&app.wechat.mint_login_code(&app.wechat.new_openid()))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.error_code(), "UPSTREAM_UNAVAILABLE");
    assert_eq!(
        app.wechat.stats().code2session_calls,
        3,
        "three attempts, no more"
    );
}

#[tokio::test]
async fn a_dropped_connection_and_a_5xx_in_front_of_wechat_are_retried() {
    let app = TestApp::spawn().await;
    app.wechat
        .inject(Endpoint::Code2Session, Fault::DropConnection, 1);
    app.wechat.inject(Endpoint::Code2Session, Fault::Http5xx, 1);
    let reply = app
        .login_code(&app.wechat.mint_login_code(&app.wechat.new_openid()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn a_success_body_without_errcode_is_a_success() {
    let app = TestApp::spawn().await;
    app.wechat.set_omit_errcode(true);
    app.login().await;
}

#[tokio::test]
async fn wechat_minute_quota_for_a_user_is_a_429_with_retry_after() {
    let app = TestApp::spawn().await;
    app.wechat
        .inject(Endpoint::Code2Session, Fault::MinuteQuota, 1);
    let reply = app
        .login_code(&app.wechat.mint_login_code(&app.wechat.new_openid()))
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.error_code(), "RATE_LIMITED");
    assert!(reply.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn no_token_a_malformed_one_and_a_forged_one_are_401() {
    let app = TestApp::spawn().await;
    let none = app.get("/api/v1/me", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.error_code(), "UNAUTHENTICATED");
    assert_eq!(none.headers["www-authenticate"], "Bearer");

    let malformed = app.get("/api/v1/me", Some("not-a-token")).await;
    assert_eq!(malformed.error_code(), "UNAUTHENTICATED");

    let basic = app
        .send(
            app.http
                .get(app.url("/api/v1/me"))
                .header("authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
    assert_eq!(basic.error_code(), "UNAUTHENTICATED");

    let citizen = app.login().await;
    // Same shape, one character changed: unknown to the store.
    let mut forged = citizen.token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let reply = app.get("/api/v1/me", Some(&forged)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "SESSION_EXPIRED");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let out = app
        .post("/api/v1/auth/logout", Some(&citizen.token), &json!({}))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = app.get("/api/v1/me", Some(&citizen.token)).await;
    assert_eq!(me.error_code(), "SESSION_EXPIRED");
}

#[tokio::test]
async fn an_idle_session_expires_and_a_used_one_slides() {
    let app = TestApp::spawn_with(|s| s.sessions.idle_ttl_secs = 2).await;
    let citizen = app.login().await;
    assert_eq!(citizen.login.expires_in, 2);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            app.get("/api/v1/me", Some(&citizen.token)).await.status,
            StatusCode::OK
        );
    }
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&citizen.token))
            .await
            .error_code(),
        "SESSION_EXPIRED"
    );
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_busy() {
    let app = TestApp::spawn_with(|s| s.sessions.absolute_ttl_secs = 2).await;
    let citizen = app.login().await;
    assert_eq!(
        app.get("/api/v1/me", Some(&citizen.token)).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&citizen.token))
            .await
            .error_code(),
        "SESSION_EXPIRED"
    );
}

#[tokio::test]
async fn a_flushed_store_means_logging_in_again_silently() {
    let app = TestApp::spawn().await;
    let openid = app.wechat.new_openid();
    let citizen = app.login_as(&openid).await;
    // Redis flushed: the session is gone (here: removed), the citizen is not.
    let sessions = app
        .store
        .set_members(&format!("citizen-sessions:{}", citizen.id()))
        .await
        .unwrap();
    for hash in sessions {
        app.store.delete(&format!("sess:{{{hash}}}")).await.unwrap();
    }
    assert_eq!(
        app.get("/api/v1/me", Some(&citizen.token))
            .await
            .error_code(),
        "SESSION_EXPIRED"
    );
    let again = app.login_as(&openid).await;
    assert_eq!(again.id(), citizen.id());
}

#[tokio::test]
async fn too_many_requests_on_one_session_are_429_with_retry_after() {
    fresh_minute().await;
    let app = TestApp::spawn_with(|s| s.sessions.requests_per_minute = 5).await;
    let citizen = app.login().await;
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/me", Some(&citizen.token)).await.status,
            StatusCode::OK
        );
    }
    let limited = app.get("/api/v1/me", Some(&citizen.token)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_code(), "RATE_LIMITED");
    let after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&after));
    // Another citizen is not affected.
    let other = app.login().await;
    assert_eq!(
        app.get("/api/v1/me", Some(&other.token)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn too_many_logins_of_one_wechat_user_are_429() {
    fresh_minute().await;
    let app = TestApp::spawn_with(|s| s.limits.login_per_openid_per_minute = 3).await;
    let openid = app.wechat.new_openid();
    for _ in 0..3 {
        app.login_as(&openid).await;
    }
    let reply = app.login_code(&app.wechat.mint_login_code(&openid)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.error_code(), "RATE_LIMITED");
    assert!(reply.headers.contains_key("retry-after"));
    app.login().await;
}

#[tokio::test]
async fn too_many_logins_from_one_address_are_429_before_wechat_is_asked() {
    fresh_minute().await;
    let app = TestApp::spawn_with(|s| s.limits.login_per_ip_per_minute = 4).await;
    for _ in 0..4 {
        app.login().await;
    }
    let calls = app.wechat.stats().code2session_calls;
    let reply = app
        .login_code(&app.wechat.mint_login_code(&app.wechat.new_openid()))
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.error_code(), "RATE_LIMITED");
    assert_eq!(app.wechat.stats().code2session_calls, calls);
}
