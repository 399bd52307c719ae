//! Binding a phone number: the getPhoneNumber code (with the shared access token) and the legacy
//! encrypted data.

use miniprogram_api::me::Me;
use reqwest::StatusCode;
use serde_json::json;
use simulators::wechat::{Endpoint, Fault};

use crate::helpers::{Deployment, TestApp, captured_logs, received_bodies};

#[tokio::test]
async fn a_phone_code_binds_the_phone_and_the_profile_shows_it_masked() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let code = app.wechat.mint_phone_code("13800138000");
    let reply = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": code }),
        )
        .await;
    assert!(!reply.text.contains("13800138000"));
    let bound: Me = reply.ok();
    assert_eq!(bound.phone.as_deref(), Some("138****8000"));
    let me: Me = app.get("/api/v1/me", Some(&citizen.token)).await.ok();
    assert_eq!(me.phone.as_deref(), Some("138****8000"));
}

#[tokio::test]
async fn a_used_phone_code_or_a_login_code_is_a_clear_400() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let code = app.wechat.mint_phone_code("13900139000");
    let ok = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": code }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let again = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": code }),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.error_code(), "PHONE_CODE_INVALID");
    let login_code = app.wechat.mint_login_code(&citizen.openid);
    let wrong_kind = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": login_code }),
        )
        .await;
    assert_eq!(wrong_kind.error_code(), "PHONE_CODE_INVALID");
}

#[tokio::test]
async fn binding_a_phone_needs_a_session() {
    let app = TestApp::spawn().await;
    let reply = app
        .post("/api/v1/me/phone", None, &json!({ "code": "abc" }))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_body_that_is_neither_form_is_a_400() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let reply = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "phone": "13800138000" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "INVALID_JSON");
}

#[tokio::test]
async fn legacy_encrypted_data_binds_the_phone_even_with_plus_turned_to_space() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let (data, iv) = app
        .wechat
        .encrypted_phone(&citizen.openid, "13700137000")
        .unwrap();
    let mangled = data.replace('+', " ");
    let reply = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "encryptedData": mangled, "iv": iv }),
        )
        .await;
    assert_eq!(reply.ok::<Me>().phone.as_deref(), Some("137****7000"));
}

#[tokio::test]
async fn legacy_data_made_for_an_older_session_key_is_refused() {
    let app = TestApp::spawn().await;
    let openid = app.wechat.new_openid();
    app.login_as(&openid).await;
    let (data, iv) = app.wechat.encrypted_phone(&openid, "13700137000").unwrap();
    // A new login gives a new session key: the old data no longer decrypts with it.
    let citizen = app.login_as(&openid).await;
    let reply = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "encryptedData": data, "iv": iv }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "PHONE_DATA_INVALID");
    let garbage = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "encryptedData": "!!!", "iv": "short" }),
        )
        .await;
    assert_eq!(garbage.error_code(), "PHONE_DATA_INVALID");
}

#[tokio::test]
async fn a_rejected_access_token_is_dropped_and_the_call_retried_once() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let first = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": app.wechat.mint_phone_code("13800138000") }),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let before = app.wechat.stats();
    app.wechat.revoke_access_tokens();
    let second = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": app.wechat.mint_phone_code("13900139000") }),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{second:?}");
    let after = app.wechat.stats();
    assert_eq!(
        after.rejected_token_uses - before.rejected_token_uses,
        1,
        "one rejected use"
    );
    assert_eq!(
        after.phone_number_calls - before.phone_number_calls,
        2,
        "the call was retried once"
    );
    assert_eq!(second.ok::<Me>().phone.as_deref(), Some("139****9000"));
}

#[tokio::test]
async fn an_expired_access_token_is_replaced_too() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    app.post(
        "/api/v1/me/phone",
        Some(&citizen.token),
        &json!({ "code": app.wechat.mint_phone_code("13800138000") }),
    )
    .await;
    app.wechat.expire_access_tokens();
    let reply = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": app.wechat.mint_phone_code("13800138001") }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn a_busy_token_endpoint_is_retried() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    app.wechat.inject(Endpoint::StableToken, Fault::Busy, 2);
    let reply = app
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": app.wechat.mint_phone_code("13800138000") }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

/// Many citizens bind their phones at once on two gateway instances sharing one store: the
/// access token is fetched exactly once in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_phone_bindings_on_two_instances_cause_one_token_refresh() {
    let deployment = Deployment::new().await;
    let one = deployment.instance(|_| {}).await;
    let two = deployment.instance(|_| {}).await;
    let mut citizens = Vec::new();
    for i in 0..40 {
        let app = if i % 2 == 0 { &one } else { &two };
        citizens.push((app, app.login().await));
    }
    let minted_before = deployment.wechat.stats().tokens_minted;
    assert_eq!(minted_before, 0, "logins need no access token");
    let bindings = citizens.iter().enumerate().map(|(i, (app, citizen))| {
        let code = deployment.wechat.mint_phone_code(&format!("138{:08}", i));
        async move {
            app.post(
                "/api/v1/me/phone",
                Some(&citizen.token),
                &json!({ "code": code }),
            )
            .await
        }
    });
    let replies = futures::future::join_all(bindings).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let stats = deployment.wechat.stats();
    assert_eq!(stats.tokens_minted, 1, "one refresh in total: {stats:?}");
    assert_eq!(stats.phone_number_calls, 40);
}

#[tokio::test]
async fn the_session_key_never_leaves_the_server() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let (data, iv) = app
        .wechat
        .encrypted_phone(&citizen.openid, "13700137000")
        .unwrap();
    app.post(
        "/api/v1/me/phone",
        Some(&citizen.token),
        &json!({ "encryptedData": data, "iv": iv }),
    )
    .await;
    app.get("/api/v1/me", Some(&citizen.token)).await;
    let session_key = app.wechat.session_key(&citizen.openid).unwrap();
    let logs = captured_logs();
    assert!(
        logs.contains("citizen logged in"),
        "the capture sees the gateway's logs"
    );
    assert!(!logs.contains(&session_key), "session_key in a log line");
    for body in received_bodies().lock().unwrap().iter() {
        assert!(!body.contains(&session_key), "session_key in a response");
    }
    assert!(
        !logs.contains(app.wechat.app_secret()),
        "the app secret in a log line"
    );
}
