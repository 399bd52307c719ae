//! Staff accounts: password login, sessions apart from citizens', roles scoped to halls.

use miniprogram_api::staff::{
    StaffList, StaffLoginResponse, StaffMe, StaffMember, StaffRole, StaffRoleGrant,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use services::staff::{HallScope, Role};

use crate::helpers::{ADMIN, TestApp, fresh_minute};
use support::HallSpec;

const PASSWORD: &str = "a long enough password";

/// A hall made through the admin API by the deployment's administrator (the halls admin API is
/// not what is under test here).
async fn hall(app: &TestApp, code: &str) -> i64 {
    HallSpec::new(code, &format!("{code} 政务服务大厅"), "贵阳市观山湖区")
        .create(&app.admin().await)
        .await
        .id
}

/// A staff member with [`PASSWORD`], created by the deployment's administrator
/// (`POST /staff/v1/staff`).
async fn staff(app: &TestApp, username: &str, roles: Vec<(Role, HallScope)>) -> i64 {
    let roles: Vec<(StaffRole, Option<i64>)> = roles
        .into_iter()
        .map(|(role, scope)| {
            let hall = match scope {
                HallScope::All => None,
                HallScope::Hall(id) => Some(id),
            };
            (crate::queue_fixture::wire_role(role), hall)
        })
        .collect();
    app.admin()
        .await
        .create_staff(username, "测试人员", &roles)
        .await
        .id
}

async fn login(app: &TestApp, username: &str, password: &str) -> crate::helpers::Reply {
    app.post(
        "/staff/v1/auth/login",
        None,
        &json!({ "username": username, "password": password }),
    )
    .await
}

async fn token(app: &TestApp, username: &str) -> String {
    login(app, username, PASSWORD)
        .await
        .ok::<StaffLoginResponse>()
        .token
}

fn without_request_id(body: &Value) -> Value {
    let mut body = body.clone();
    body.as_object_mut().unwrap().remove("requestId");
    body
}

#[tokio::test]
async fn a_staff_member_logs_in_with_a_password_and_sees_themselves() {
    let app = TestApp::spawn().await;
    let id = staff(&app, "Chief.Admin", vec![(Role::Admin, HallScope::All)]).await;

    // Usernames are not case-sensitive.
    let reply = login(&app, "chief.ADMIN", PASSWORD).await;
    assert!(!reply.text.contains(PASSWORD));
    let login: StaffLoginResponse = reply.ok();
    let token = login.token.as_str();
    assert!(
        token.starts_with("zst_") && token.len() == 4 + 43,
        "{token}"
    );
    assert_eq!(login.expires_in, 8 * 3600);
    assert_eq!(
        login.staff,
        StaffMe {
            id,
            username: "chief.admin".to_owned(),
            display_name: "测试人员".to_owned(),
            roles: vec![StaffRoleGrant {
                role: StaffRole::Admin,
                hall_id: None
            }],
        }
    );

    let me: StaffMe = app.get("/staff/v1/me", Some(token)).await.ok();
    assert_eq!(me, login.staff);
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    staff(&app, "clerk.one", vec![(Role::Admin, HallScope::All)]).await;

    let wrong = login(&app, "clerk.one", "not the password at all").await;
    let unknown = login(&app, "nobody.here", PASSWORD).await;
    for reply in [&wrong, &unknown] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let error = reply.error();
        assert_eq!(error.code, "STAFF_LOGIN_FAILED");
        assert_eq!(error.message, "用户名或密码错误");
    }
    assert_eq!(
        without_request_id(&wrong.body),
        without_request_id(&unknown.body)
    );
    assert_eq!(
        wrong.headers.get("www-authenticate"),
        unknown.headers.get("www-authenticate")
    );
    let absurd = login(&app, "名字", PASSWORD).await;
    assert_eq!(
        without_request_id(&absurd.body),
        without_request_id(&wrong.body)
    );
}

/// A login from a given client address (documentation addresses, RFC 5737: only a header
/// value, no traffic goes there); the gateway trusts `X-Forwarded-For` in these tests.
async fn login_from(
    app: &TestApp,
    address: &str,
    username: &str,
    password: &str,
) -> crate::helpers::Reply {
    app.send(
        app.http
            .post(app.url("/staff/v1/auth/login"))
            .header("x-forwarded-for", address)
            .json(&json!({ "username": username, "password": password })),
    )
    .await
}

async fn behind_a_proxy() -> TestApp {
    TestApp::spawn_with(|s| s.server.trust_forwarded_for = true).await
}

#[tokio::test]
async fn guessing_from_one_address_stops_that_address_but_never_locks_the_member_out() {
    let app = behind_a_proxy().await;
    staff(&app, "admin", vec![(Role::Admin, HallScope::All)]).await;
    fresh_minute().await;

    let attacker = "203.0.113.7";
    for _ in 0..5 {
        let reply = login_from(&app, attacker, "admin", "wrong password guess").await;
        assert_eq!(reply.error_code(), "STAFF_LOGIN_FAILED", "{reply:?}");
    }
    for _ in 0..20 {
        let limited = login_from(&app, attacker, "admin", "wrong password guess").await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.error_code(), "RATE_LIMITED");
        assert!(limited.headers.contains_key("retry-after"));
    }
    // The attacker's address learns nothing more, even with the right password …
    assert_eq!(
        login_from(&app, attacker, "admin", PASSWORD)
            .await
            .error_code(),
        "RATE_LIMITED"
    );
    // … and the member, from their own address, logs in at once.
    let mine = login_from(&app, "198.51.100.20", "admin", PASSWORD).await;
    assert_eq!(mine.status, StatusCode::OK, "{mine:?}");
}

#[tokio::test]
async fn one_address_trying_many_usernames_is_stopped() {
    let app = behind_a_proxy().await;
    staff(&app, "bystander", vec![(Role::Clerk, HallScope::All)]).await;
    fresh_minute().await;

    let sprayer = "203.0.113.9";
    for n in 0..30 {
        let reply = login_from(&app, sprayer, &format!("user{n}"), "wrong password guess").await;
        assert_eq!(
            reply.error_code(),
            "STAFF_LOGIN_FAILED",
            "attempt {n}: {reply:?}"
        );
    }
    let limited = login_from(&app, sprayer, "user99", "wrong password guess").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    assert_eq!(
        login_from(&app, sprayer, "bystander", PASSWORD)
            .await
            .error_code(),
        "RATE_LIMITED"
    );
    // Names that cannot exist count as failures too.
    let other = "203.0.113.10";
    for _ in 0..30 {
        login_from(&app, other, "名字", PASSWORD).await;
    }
    assert_eq!(
        login_from(&app, other, "bystander", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "198.51.100.21", "bystander", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn successful_logins_are_not_counted() {
    let app = behind_a_proxy().await;
    staff(&app, "busy.clerk", vec![(Role::Clerk, HallScope::All)]).await;
    fresh_minute().await;

    // A hall's whole shift logging in behind one address: far past any failure limit.
    for n in 0..40 {
        let reply = login_from(&app, "198.51.100.30", "busy.clerk", PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "login {n}: {reply:?}");
    }
}

#[tokio::test]
async fn failures_from_many_addresses_slow_a_username_yet_its_right_password_gets_in() {
    let app = TestApp::spawn_with(|s| {
        s.server.trust_forwarded_for = true;
        s.staff.login_user_backoff_after = 6;
        s.staff.login_user_backoff_max_ms = 600;
    })
    .await;
    staff(&app, "admin", vec![(Role::Admin, HallScope::All)]).await;
    fresh_minute().await;

    // Four addresses, each within its own limit, fail eight times together.
    for n in 0..8 {
        let address = format!("203.0.113.{}", 20 + n % 4);
        let reply = login_from(&app, &address, "admin", "wrong password guess").await;
        assert_eq!(reply.error_code(), "STAFF_LOGIN_FAILED", "{reply:?}");
    }
    // Past six failures every attempt for `admin` waits (250 ms, then 500 ms, capped at
    // 600 ms), wrong and right alike — and the right one gets in.
    let started = std::time::Instant::now();
    let wrong = login_from(&app, "203.0.113.40", "admin", "wrong password guess").await;
    assert_eq!(wrong.error_code(), "STAFF_LOGIN_FAILED");
    let started_right = std::time::Instant::now();
    let right = login_from(&app, "198.51.100.40", "admin", PASSWORD).await;
    assert_eq!(right.status, StatusCode::OK, "{right:?}");
    assert!(
        started_right.elapsed() >= std::time::Duration::from_millis(600),
        "the back-off applies to every attempt: {:?}",
        started_right.elapsed()
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(1100));
    // Other usernames are not held back by it (that they do not wait is the unit test's:
    // a wall-clock upper bound would not hold on a loaded machine).
    staff(&app, "bystander", vec![(Role::Clerk, HallScope::All)]).await;
    assert_eq!(
        login_from(&app, "198.51.100.41", "bystander", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn citizen_and_staff_tokens_never_open_each_others_routes() {
    let app = TestApp::spawn().await;
    staff(&app, "admin", vec![(Role::Admin, HallScope::All)]).await;
    let staff_token = token(&app, "admin").await;
    let citizen = app.login().await;

    let reply = app.get("/staff/v1/me", Some(&citizen.token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "UNAUTHENTICATED");
    let reply = app
        .post(
            "/staff/v1/staff",
            Some(&citizen.token),
            &json!({ "username": "x", "password": PASSWORD, "displayName": "x", "roles": [] }),
        )
        .await;
    assert_eq!(reply.error_code(), "UNAUTHENTICATED");

    let reply = app.get("/api/v1/me", Some(&staff_token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "UNAUTHENTICATED");

    let none = app.get("/staff/v1/me", None).await;
    assert_eq!(none.error_code(), "UNAUTHENTICATED");
    let wrong_method = app.get("/staff/v1/auth/login", None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_hall_admin_creates_staff_for_their_own_hall_only() {
    let app = TestApp::spawn().await;
    let a = hall(&app, "HALL-A").await;
    let b = hall(&app, "HALL-B").await;
    staff(&app, "admin.a", vec![(Role::Admin, HallScope::Hall(a))]).await;
    let admin_a = token(&app, "admin.a").await;
    let create = |username: &str, role: &str, hall: Option<i64>| {
        json!({
            "username": username,
            "password": PASSWORD,
            "displayName": "新同事",
            "roles": [{ "role": role, "hallId": hall }],
        })
    };

    let created = app
        .post(
            "/staff/v1/staff",
            Some(&admin_a),
            &create("clerk.a", "clerk", Some(a)),
        )
        .await;
    let created: StaffMember = created.created();
    assert_eq!(created.username, "clerk.a");
    assert!(created.active);
    assert_eq!(
        created.roles,
        vec![StaffRoleGrant {
            role: StaffRole::Clerk,
            hall_id: Some(a)
        }]
    );
    assert!(created.last_login_at.is_none());

    for body in [
        create("clerk.b", "clerk", Some(b)),
        create("admin.b", "admin", Some(b)),
        create("everywhere", "verifier", None),
    ] {
        let reply = app.post("/staff/v1/staff", Some(&admin_a), &body).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(reply.error_code(), "FORBIDDEN");
        assert_eq!(reply.error().message, "无权执行此操作");
    }

    // A clerk creates no one, not even at their own hall.
    let clerk = token(&app, "clerk.a").await;
    let reply = app
        .post(
            "/staff/v1/staff",
            Some(&clerk),
            &create("verifier.a", "verifier", Some(a)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "FORBIDDEN");
    let reply = app.get("/staff/v1/staff", Some(&clerk)).await;
    assert_eq!(reply.error_code(), "FORBIDDEN");
}

#[tokio::test]
async fn creating_staff_refuses_taken_names_weak_passwords_and_unknown_halls() {
    let app = TestApp::spawn().await;
    let a = hall(&app, "HALL-A").await;
    staff(&app, "root", vec![(Role::Admin, HallScope::All)]).await;
    let root = token(&app, "root").await;
    let body = |username: &str, password: &str, hall: i64| {
        json!({
            "username": username,
            "password": password,
            "displayName": "新同事",
            "roles": [{ "role": "verifier", "hallId": hall }],
        })
    };

    let ok = app
        .post("/staff/v1/staff", Some(&root), &body("v.one", PASSWORD, a))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{ok:?}");

    let taken = app
        .post("/staff/v1/staff", Some(&root), &body("V.One", PASSWORD, a))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error_code(), "USERNAME_TAKEN");

    let weak = app
        .post("/staff/v1/staff", Some(&root), &body("v.two", "short", a))
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.error_code(), "WEAK_PASSWORD");

    let bad_name = app
        .post("/staff/v1/staff", Some(&root), &body("a b", PASSWORD, a))
        .await;
    let error = bad_name.error();
    assert_eq!(error.code, "VALIDATION_FAILED");
    assert_eq!(error.fields[0].field, "username");

    let unknown_hall = app
        .post(
            "/staff/v1/staff",
            Some(&root),
            &body("v.three", PASSWORD, a + 100),
        )
        .await;
    assert_eq!(unknown_hall.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_hall.error_code(), "VALIDATION_FAILED");

    let no_roles = app
        .post(
            "/staff/v1/staff",
            Some(&root),
            &json!({ "username": "v.four", "password": PASSWORD, "displayName": "x", "roles": [] }),
        )
        .await;
    assert_eq!(no_roles.error_code(), "VALIDATION_FAILED");
}

#[tokio::test]
async fn admins_list_the_staff_they_manage() {
    let app = TestApp::spawn().await;
    let a = hall(&app, "HALL-A").await;
    let b = hall(&app, "HALL-B").await;
    staff(&app, "root", vec![(Role::Admin, HallScope::All)]).await;
    staff(&app, "admin.a", vec![(Role::Admin, HallScope::Hall(a))]).await;
    staff(&app, "clerk.a", vec![(Role::Clerk, HallScope::Hall(a))]).await;
    staff(&app, "clerk.b", vec![(Role::Clerk, HallScope::Hall(b))]).await;

    let all: StaffList = app
        .get("/staff/v1/staff", Some(&token(&app, "root").await))
        .await
        .ok();
    // The deployment's administrator, who made the halls, first.
    assert_eq!(all.total, 5);
    let names: Vec<&str> = all.staff.iter().map(|m| m.username.as_str()).collect();
    assert_eq!(names, [ADMIN, "root", "admin.a", "clerk.a", "clerk.b"]);

    let at_a = app
        .get(
            "/staff/v1/staff?page=1&pageSize=1",
            Some(&token(&app, "admin.a").await),
        )
        .await;
    assert!(!at_a.text.contains("password"));
    let at_a: StaffList = at_a.ok();
    assert_eq!(at_a.total, 2);
    assert_eq!(at_a.staff.len(), 1);
    assert_eq!(at_a.staff[0].username, "admin.a");
}

#[tokio::test]
async fn deactivation_ends_every_live_session_at_once() {
    let app = TestApp::spawn().await;
    let a = hall(&app, "HALL-A").await;
    let b = hall(&app, "HALL-B").await;
    let admin_id = staff(&app, "admin.a", vec![(Role::Admin, HallScope::Hall(a))]).await;
    let clerk_a = staff(&app, "clerk.a", vec![(Role::Clerk, HallScope::Hall(a))]).await;
    let clerk_b = staff(&app, "clerk.b", vec![(Role::Clerk, HallScope::Hall(b))]).await;
    let admin = token(&app, "admin.a").await;
    let first = token(&app, "clerk.a").await;
    let second = token(&app, "clerk.a").await;
    assert_eq!(
        app.get("/staff/v1/me", Some(&first)).await.status,
        StatusCode::OK
    );

    // Not someone of another hall.
    let other = app
        .post(
            &format!("/staff/v1/staff/{clerk_b}/deactivate"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert_eq!(other.error_code(), "FORBIDDEN");
    // Nor oneself, nor by a clerk.
    let oneself = app
        .post(
            &format!("/staff/v1/staff/{admin_id}/deactivate"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(oneself.error_code(), "FORBIDDEN");
    let by_clerk = app
        .post(
            &format!("/staff/v1/staff/{clerk_b}/deactivate"),
            Some(&first),
            &json!({}),
        )
        .await;
    assert_eq!(by_clerk.error_code(), "FORBIDDEN");
    let missing = app
        .post(
            "/staff/v1/staff/999999/deactivate",
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let done = app
        .post(
            &format!("/staff/v1/staff/{clerk_a}/deactivate"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{done:?}");
    for t in [&first, &second] {
        let reply = app.get("/staff/v1/me", Some(t)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error_code(), "SESSION_EXPIRED");
    }
    let again = login(&app, "clerk.a", PASSWORD).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert_eq!(again.error_code(), "STAFF_DISABLED");
    // A wrong password learns nothing about the account being disabled.
    let wrong = login(&app, "clerk.a", "not the password at all").await;
    assert_eq!(wrong.error_code(), "STAFF_LOGIN_FAILED");
    // The admin's own session is untouched.
    assert_eq!(
        app.get("/staff/v1/me", Some(&admin)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_ends_the_staff_session_only() {
    let app = TestApp::spawn().await;
    staff(&app, "clerk", vec![(Role::Clerk, HallScope::All)]).await;
    let first = token(&app, "clerk").await;
    let second = token(&app, "clerk").await;
    let out = app
        .post("/staff/v1/auth/logout", Some(&first), &json!({}))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/staff/v1/me", Some(&first)).await.error_code(),
        "SESSION_EXPIRED"
    );
    assert_eq!(
        app.get("/staff/v1/me", Some(&second)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_openapi_document_lists_the_staff_api_and_no_log_holds_a_password() {
    let app = TestApp::spawn().await;
    staff(&app, "admin", vec![(Role::Admin, HallScope::All)]).await;
    token(&app, "admin").await;
    login(&app, "admin", "a wrong password here").await;
    let logs = crate::helpers::captured_logs();
    assert!(!logs.contains(PASSWORD) && !logs.contains("a wrong password here"));

    let reply = app.get("/openapi.json", None).await;
    for path in [
        "/staff/v1/auth/login",
        "/staff/v1/auth/logout",
        "/staff/v1/me",
        "/staff/v1/staff",
        "/staff/v1/staff/{id}/deactivate",
    ] {
        assert!(reply.body["paths"][path].is_object(), "{path} missing");
    }
    for schema in [
        "StaffLoginRequest",
        "StaffMe",
        "CreateStaffRequest",
        "StaffList",
    ] {
        assert!(
            reply.body["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
}

#[tokio::test]
async fn admins_reset_passwords_reactivate_and_change_roles_over_http() {
    let app = TestApp::spawn().await;
    let a = hall(&app, "HALL-A").await;
    let b = hall(&app, "HALL-B").await;
    let admin_id = staff(&app, "admin.a", vec![(Role::Admin, HallScope::Hall(a))]).await;
    let clerk_a = staff(&app, "clerk.a", vec![(Role::Clerk, HallScope::Hall(a))]).await;
    let clerk_b = staff(&app, "clerk.b", vec![(Role::Clerk, HallScope::Hall(b))]).await;
    let admin = token(&app, "admin.a").await;
    let clerk = token(&app, "clerk.a").await;
    const NEW: &str = "a brand new password";

    // A reset: the member's sessions end, the old password stops working, the new one works.
    let reset = |id: i64, password: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.post(
                &format!("/staff/v1/staff/{id}/password"),
                Some(&admin),
                &json!({ "password": password }),
            )
            .await
        }
    };
    let weak = reset(clerk_a, "short").await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.error_code(), "WEAK_PASSWORD");
    assert_eq!(reset(clerk_b, NEW).await.error_code(), "FORBIDDEN");
    assert_eq!(reset(admin_id, NEW).await.error_code(), "FORBIDDEN");
    assert_eq!(reset(999_999, NEW).await.status, StatusCode::NOT_FOUND);
    let by_clerk = app
        .post(
            &format!("/staff/v1/staff/{clerk_b}/password"),
            Some(&clerk),
            &json!({ "password": NEW }),
        )
        .await;
    assert_eq!(by_clerk.error_code(), "FORBIDDEN");
    assert_eq!(reset(clerk_a, NEW).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/staff/v1/me", Some(&clerk)).await.error_code(),
        "SESSION_EXPIRED"
    );
    assert_eq!(
        login(&app, "clerk.a", PASSWORD).await.error_code(),
        "STAFF_LOGIN_FAILED"
    );
    assert_eq!(login(&app, "clerk.a", NEW).await.status, StatusCode::OK);

    // Deactivated, then active again: they log in as before.
    let post = |path: String| {
        let (app, admin) = (&app, admin.clone());
        async move { app.post(&path, Some(&admin), &json!({})).await }
    };
    assert_eq!(
        post(format!("/staff/v1/staff/{clerk_a}/deactivate"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        login(&app, "clerk.a", NEW).await.error_code(),
        "STAFF_DISABLED"
    );
    assert_eq!(
        post(format!("/staff/v1/staff/{clerk_b}/activate"))
            .await
            .error_code(),
        "FORBIDDEN"
    );
    assert_eq!(
        post(format!("/staff/v1/staff/{clerk_a}/activate"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let clerk = login(&app, "clerk.a", NEW)
        .await
        .ok::<StaffLoginResponse>()
        .token;

    // Roles replaced: only ones the admin may give, never empty, never one's own; the member's
    // sessions end and the next login carries the new roles.
    let set = |id: i64, roles: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.put(
                &format!("/staff/v1/staff/{id}/roles"),
                Some(&admin),
                &json!({ "roles": roles }),
            )
            .await
        }
    };
    assert_eq!(
        set(clerk_a, json!([{ "role": "clerk", "hallId": b }]))
            .await
            .error_code(),
        "FORBIDDEN"
    );
    assert_eq!(
        set(clerk_a, json!([{ "role": "clerk", "hallId": null }]))
            .await
            .error_code(),
        "FORBIDDEN"
    );
    assert_eq!(
        set(clerk_b, json!([{ "role": "verifier", "hallId": a }]))
            .await
            .error_code(),
        "FORBIDDEN"
    );
    assert_eq!(
        set(admin_id, json!([{ "role": "clerk", "hallId": a }]))
            .await
            .error_code(),
        "FORBIDDEN"
    );
    let empty = set(clerk_a, json!([])).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.error_code(), "VALIDATION_FAILED");
    let changed = set(
        clerk_a,
        json!([{ "role": "verifier", "hallId": a }, { "role": "admin", "hallId": a }]),
    )
    .await;
    let changed: StaffMember = changed.ok();
    assert_eq!(
        changed.roles,
        vec![
            StaffRoleGrant {
                role: StaffRole::Admin,
                hall_id: Some(a)
            },
            StaffRoleGrant {
                role: StaffRole::Verifier,
                hall_id: Some(a)
            }
        ]
    );
    assert_eq!(
        app.get("/staff/v1/me", Some(&clerk)).await.error_code(),
        "SESSION_EXPIRED"
    );
    let relogged: StaffLoginResponse = login(&app, "clerk.a", NEW).await.ok();
    assert_eq!(relogged.staff.roles, changed.roles);
}

#[tokio::test]
async fn a_member_changes_their_own_password_with_the_current_one() {
    let app = TestApp::spawn().await;
    staff(&app, "clerk.self", vec![(Role::Clerk, HallScope::All)]).await;
    let first = token(&app, "clerk.self").await;
    let second = token(&app, "clerk.self").await;
    let change = |current: &'static str, new: &'static str| {
        let (app, first) = (&app, first.clone());
        async move {
            app.post(
                "/staff/v1/me/password",
                Some(&first),
                &json!({ "currentPassword": current, "newPassword": new }),
            )
            .await
        }
    };
    let wrong = change("not the password at all", "a brand new password").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.error_code(), "STAFF_PASSWORD_WRONG");
    let weak = change(PASSWORD, "short").await;
    assert_eq!(weak.error_code(), "WEAK_PASSWORD");
    assert_eq!(
        change(PASSWORD, "a brand new password").await.status,
        StatusCode::NO_CONTENT
    );
    // Every session ends, this one included.
    for t in [&first, &second] {
        assert_eq!(
            app.get("/staff/v1/me", Some(t)).await.error_code(),
            "SESSION_EXPIRED"
        );
    }
    assert_eq!(
        login(&app, "clerk.self", PASSWORD).await.error_code(),
        "STAFF_LOGIN_FAILED"
    );
    assert_eq!(
        login(&app, "clerk.self", "a brand new password")
            .await
            .status,
        StatusCode::OK
    );
    let citizen = app.login().await;
    assert_eq!(
        app.post(
            "/staff/v1/me/password",
            Some(&citizen.token),
            &json!({ "currentPassword": PASSWORD, "newPassword": "a brand new password" }),
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}
