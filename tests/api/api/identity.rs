//! Binding a real-name identity: validation, one identity per WeChat account, and masking.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Deployment, TestApp, captured_logs, id_card_no, received_bodies};

#[tokio::test]
async fn a_valid_identity_is_bound_and_shown_masked() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let id = id_card_no(1);
    let reply = app
        .put(
            "/api/v1/me/identity",
            Some(&citizen.token),
            &json!({ "name": "张三", "idCardNo": id }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let shown = reply.body["identity"]["idCardNo"].as_str().unwrap();
    assert_eq!(shown, format!("{}***********{}", &id[..3], &id[14..]));
    assert_eq!(reply.body["identity"]["name"], "张*");
    assert!(reply.body["identity"]["boundAt"].is_string());
    let me = app.get("/api/v1/me", Some(&citizen.token)).await;
    assert_eq!(me.body["identity"], reply.body["identity"]);
}

#[tokio::test]
async fn a_lowercase_x_check_digit_is_accepted() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let reply = app
        .put(
            "/api/v1/me/identity",
            Some(&citizen.token),
            &json!({ "name": "李四", "idCardNo": "11010519491231002x" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["identity"]["idCardNo"], "110***********002X");
}

#[tokio::test]
async fn invalid_id_numbers_are_422_with_the_reason() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let valid = id_card_no(2);
    let mut wrong_check = valid.clone();
    wrong_check.replace_range(17..18, if &valid[17..] == "0" { "1" } else { "0" });
    let cases = [
        "123".to_owned(),                // length
        "11010519491231002Y".to_owned(), // characters
        "99010519491231002X".to_owned(), // region
        "110105194902300010".to_owned(), // 30 February
        "110105209901010011".to_owned(), // born in the future
        wrong_check,
    ];
    for id in cases {
        let reply = app
            .put(
                "/api/v1/me/identity",
                Some(&citizen.token),
                &json!({ "name": "张三", "idCardNo": id }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{id}: {reply:?}"
        );
        assert_eq!(reply.error_code(), "INVALID_ID_CARD_NO");
        assert_eq!(reply.body["fields"][0]["field"], "idCardNo");
    }
}

#[tokio::test]
async fn invalid_names_are_422() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    for name in ["", "   ", "张3", "<script>", &"长".repeat(31)] {
        let reply = app
            .put(
                "/api/v1/me/identity",
                Some(&citizen.token),
                &json!({ "name": name, "idCardNo": id_card_no(3) }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {reply:?}"
        );
        assert_eq!(reply.error_code(), "INVALID_NAME");
    }
    let minority = app
        .put(
            "/api/v1/me/identity",
            Some(&citizen.token),
            &json!({ "name": "阿依古丽·买买提", "idCardNo": id_card_no(3) }),
        )
        .await;
    assert_eq!(minority.status, StatusCode::OK, "{minority:?}");
}

#[tokio::test]
async fn one_identity_cannot_be_bound_to_two_wechat_accounts() {
    let app = TestApp::spawn().await;
    let first = app.login().await;
    let second = app.login().await;
    let id = id_card_no(4);
    let body = json!({ "name": "王五", "idCardNo": id });
    assert_eq!(
        app.put("/api/v1/me/identity", Some(&first.token), &body)
            .await
            .status,
        StatusCode::OK
    );
    let reply = app
        .put("/api/v1/me/identity", Some(&second.token), &body)
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "IDENTITY_TAKEN");
    let me = app.get("/api/v1/me", Some(&second.token)).await;
    assert!(me.body["identity"].is_null());
}

#[tokio::test]
async fn an_account_keeps_its_identity_but_may_bind_the_same_one_again() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let id = id_card_no(5);
    let body = json!({ "name": "赵六", "idCardNo": id });
    assert_eq!(
        app.put("/api/v1/me/identity", Some(&citizen.token), &body)
            .await
            .status,
        StatusCode::OK
    );
    let same = app
        .put("/api/v1/me/identity", Some(&citizen.token), &body)
        .await;
    assert_eq!(same.status, StatusCode::OK);
    let other = app
        .put(
            "/api/v1/me/identity",
            Some(&citizen.token),
            &json!({ "name": "赵六", "idCardNo": id_card_no(6) }),
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.error_code(), "IDENTITY_ALREADY_BOUND");
}

#[tokio::test]
async fn a_change_reaches_every_session_of_the_citizen() {
    let app = TestApp::spawn().await;
    let openid = app.wechat.new_openid();
    let phone_session = app.login_as(&openid).await;
    let pc_session = app.login_as(&openid).await;
    app.put(
        "/api/v1/me/identity",
        Some(&phone_session.token),
        &json!({ "name": "孙七", "idCardNo": id_card_no(7) }),
    )
    .await;
    let seen = app.get("/api/v1/me", Some(&pc_session.token)).await;
    assert_eq!(seen.body["identity"]["name"], "孙*");
}

/// Many accounts race to bind one identity, across two instances: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_accounts_bind_one_identity_exactly_once() {
    let deployment = Deployment::new().await;
    let one = deployment.instance(|_| {}).await;
    let two = deployment.instance(|_| {}).await;
    let mut citizens = Vec::new();
    for i in 0..30 {
        let app = if i % 2 == 0 { &one } else { &two };
        citizens.push((app, app.login().await));
    }
    let body = json!({ "name": "周八", "idCardNo": id_card_no(8) });
    let replies = futures::future::join_all(
        citizens
            .iter()
            .map(|(app, citizen)| app.put("/api/v1/me/identity", Some(&citizen.token), &body)),
    )
    .await;
    let won = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let taken = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT && r.body["code"] == "IDENTITY_TAKEN")
        .count();
    assert_eq!(won, 1, "{replies:?}");
    assert_eq!(taken, 29, "{replies:?}");
}

#[tokio::test]
async fn the_full_id_number_appears_in_no_response_and_no_log_line() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let id = id_card_no(9);
    app.put(
        "/api/v1/me/identity",
        Some(&citizen.token),
        &json!({ "name": "吴九", "idCardNo": id }),
    )
    .await;
    app.get("/api/v1/me", Some(&citizen.token)).await;
    let other = app.login().await;
    app.put(
        "/api/v1/me/identity",
        Some(&other.token),
        &json!({ "name": "吴九", "idCardNo": id }),
    )
    .await;
    let logs = captured_logs();
    assert!(
        logs.contains("identity bound"),
        "the capture sees the binding"
    );
    assert!(!logs.contains(&id), "the full ID number in a log line");
    assert!(!logs.contains("吴九"), "the full name in a log line");
    for body in received_bodies().lock().unwrap().iter() {
        assert!(!body.contains(&id), "the full ID number in a response");
    }
}
