//! The operator's audit trail (issue 20, item 3): every staff request that asks to change
//! something is appended with who, when, from where, what and the answer; an administrator of
//! every hall lists and exports it; nothing in it can be updated or deleted.

use miniprogram_api::staff::{AuditEntry, AuditLogPage, StaffMember};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use services::staff::{HallScope, Role};

use crate::helpers::{TestApp, staff_token};

const PASSWORD: &str = "a long enough password";

/// A staff member created as `gateway create-staff` does, outside the API: the audit log under
/// test holds only the test's own changes (an administrator's `POST /staff/v1/staff` would be
/// one more entry).
async fn staff(app: &TestApp, username: &str, roles: Vec<(Role, HallScope)>) -> i64 {
    gateway::startup::offline_staff_service(app.db.clone())
        .create(username, SecretString::from(PASSWORD), "测试人员", roles)
        .await
        .expect("create staff")
}

async fn entries(app: &TestApp, token: &str, query: &str) -> Vec<AuditEntry> {
    app.get(&format!("/staff/v1/audit-log{query}"), Some(token))
        .await
        .ok::<AuditLogPage>()
        .entries
}

#[tokio::test]
async fn a_staff_change_is_recorded_with_who_where_what_and_the_answer_and_secrets_never() {
    let app = TestApp::spawn().await;
    let admin_id = staff(&app, "audit.admin", vec![(Role::Admin, HallScope::All)]).await;
    let admin = staff_token(&app, "audit.admin", PASSWORD).await;

    let created = app
        .post(
            "/staff/v1/staff",
            Some(&admin),
            &json!({
                "username": "new.clerk",
                "password": "the clerk's own secret",
                "displayName": "新窗口人员",
                "roles": [{ "role": "clerk", "hallId": null }],
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let request_id = created.headers["x-request-id"].to_str().unwrap().to_owned();

    // Reads are not changes: none of these is recorded.
    assert_eq!(
        app.get("/staff/v1/me", Some(&admin)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/staff/v1/staff", Some(&admin)).await.status,
        StatusCode::OK
    );

    let log = entries(&app, &admin, "").await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let entry = &log[0];
    assert_eq!(entry.staff_id, Some(admin_id));
    assert_eq!(entry.actor, "audit.admin");
    assert_eq!(entry.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(entry.method, "POST");
    assert_eq!(entry.route, "/staff/v1/staff");
    assert_eq!(entry.path, "/staff/v1/staff");
    assert_eq!(entry.status, 201);
    assert_eq!(entry.request_id.as_deref(), Some(request_id.as_str()));
    // The recorded body is the request's JSON, as the staff member sent it (redacted).
    let body: Value = serde_json::from_str(entry.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["username"], "new.clerk");
    assert_eq!(body["displayName"], "新窗口人员");
    assert_eq!(body["password"], "[已隐去]");
    let all = app.get("/staff/v1/audit-log", Some(&admin)).await;
    assert!(!all.text.contains("the clerk's own secret"), "{}", all.text);

    // The handler still received the body the middleware read for the log: the clerk can log in
    // with the password that was sent.
    let clerk = staff_token(&app, "new.clerk", "the clerk's own secret").await;

    // A refusal is recorded too, with its status; a request that never authenticated is not
    // (there is nobody to attribute it to), nor is the login itself.
    let refused = app
        .post(
            "/staff/v1/staff",
            Some(&clerk),
            &json!({
                "username": "sneaky.admin",
                "password": "another long password",
                "displayName": "越权",
                "roles": [{ "role": "admin", "hallId": null }],
            }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let anonymous = app
        .post("/staff/v1/staff", Some("zst_not-a-real-token"), &json!({}))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let changed_own = app
        .post(
            "/staff/v1/me/password",
            Some(&clerk),
            &json!({
                "currentPassword": "the clerk's own secret",
                "newPassword": "a brand new clerk secret",
            }),
        )
        .await;
    assert!(changed_own.status.is_success(), "{changed_own:?}");

    let log = entries(&app, &admin, "").await;
    let summary: Vec<(String, String, u64)> = log
        .iter()
        .map(|e| (e.actor.clone(), e.route.clone(), u64::from(e.status)))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("new.clerk".into(), "/staff/v1/me/password".into(), 204),
            ("new.clerk".into(), "/staff/v1/staff".into(), 403),
            ("audit.admin".into(), "/staff/v1/staff".into(), 201),
        ]
    );
    let text = app.get("/staff/v1/audit-log", Some(&admin)).await.text;
    for secret in [
        "the clerk's own secret",
        "a brand new clerk secret",
        "another long password",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[tokio::test]
async fn the_address_is_the_one_the_trusted_proxy_appended() {
    let app = TestApp::spawn_with(|s| s.server.trust_forwarded_for = true).await;
    staff(&app, "proxy.admin", vec![(Role::Admin, HallScope::All)]).await;
    let admin = staff_token(&app, "proxy.admin", PASSWORD).await;
    let reply = app
        .send(
            app.http
                .post(app.url("/staff/v1/staff"))
                .bearer_auth(&admin)
                .header("X-Forwarded-For", "1.1.1.1, 203.0.113.7")
                .json(&json!({
                    "username": "via.proxy",
                    "password": "a long enough password",
                    "displayName": "代理后",
                    "roles": [{ "role": "verifier", "hallId": null }],
                })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let log = entries(&app, &admin, "").await;
    assert_eq!(log[0].address.as_deref(), Some("203.0.113.7"));
}

#[tokio::test]
async fn only_an_administrator_of_every_hall_reads_pages_and_exports_the_trail() {
    let app = TestApp::spawn().await;
    let admin_id = staff(&app, "paging.admin", vec![(Role::Admin, HallScope::All)]).await;
    staff(&app, "all.clerk", vec![(Role::Clerk, HallScope::All)]).await;
    let admin = staff_token(&app, "paging.admin", PASSWORD).await;
    let clerk = staff_token(&app, "all.clerk", PASSWORD).await;

    let mut ids = Vec::new();
    for n in 0..5 {
        let reply = app
            .post(
                "/staff/v1/staff",
                Some(&admin),
                &json!({
                    "username": format!("member.{n}"),
                    "password": "a long enough password",
                    "displayName": format!("成员{n}"),
                    "roles": [{ "role": "verifier", "hallId": null }],
                }),
            )
            .await;
        ids.push(reply.created::<StaffMember>().id);
    }

    // Pages of two, newest first, until the last one says there is no next.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page: AuditLogPage = app
            .get(&format!("/staff/v1/audit-log{query}"), Some(&admin))
            .await
            .ok();
        for e in &page.entries {
            let body: Value = serde_json::from_str(e.body.as_deref().unwrap()).unwrap();
            seen.push(body["username"].as_str().unwrap().to_owned());
        }
        match page.next_before {
            Some(before) => query = format!("?limit=2&before={before}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["member.4", "member.3", "member.2", "member.1", "member.0"]
    );
    assert_eq!(
        entries(&app, &admin, &format!("?staffId={admin_id}"))
            .await
            .len(),
        5
    );
    assert!(entries(&app, &admin, "?staffId=999999").await.is_empty());

    // The export: every entry, oldest first, as CSV a spreadsheet opens in UTF-8.
    let export = app.get("/staff/v1/audit-log/export", Some(&admin)).await;
    assert_eq!(export.status, StatusCode::OK, "{export:?}");
    assert!(
        export.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(export.text.starts_with('\u{feff}'), "no BOM");
    let lines: Vec<&str> = export.text.trim_end().lines().collect();
    assert_eq!(lines.len(), 1 + 5, "{}", export.text);
    assert!(lines[0].contains("操作人") && lines[0].contains("路由"));
    assert!(lines[1].contains("member.0") && lines[5].contains("member.4"));

    // A clerk, even of every hall, is refused both.
    for path in ["/staff/v1/audit-log", "/staff/v1/audit-log/export"] {
        let reply = app.get(path, Some(&clerk)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
        assert_eq!(reply.error_code(), "FORBIDDEN");
    }
    // Bad queries are named.
    let reply = app.get("/staff/v1/audit-log?limit=0", Some(&admin)).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    let reply = app
        .get(
            "/staff/v1/audit-log?from=2027-01-02T00:00:00Z&until=2027-01-01T00:00:00Z",
            Some(&admin),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
}

#[tokio::test]
async fn the_trail_refuses_every_update_and_delete_in_the_database_itself() {
    let app = TestApp::spawn().await;
    staff(&app, "ledger.admin", vec![(Role::Admin, HallScope::All)]).await;
    let admin = staff_token(&app, "ledger.admin", PASSWORD).await;
    let reply = app
        .post(
            "/staff/v1/staff",
            Some(&admin),
            &json!({
                "username": "kept.forever",
                "password": "a long enough password",
                "displayName": "永久",
                "roles": [{ "role": "verifier", "hallId": null }],
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    // Audits the log's append-only guarantee, which only the database can show.
    for sql in [
        "UPDATE staff_audit_log SET actor = 'someone else'",
        "DELETE FROM staff_audit_log",
    ] {
        let refused = app.db.execute_unprepared(sql).await;
        let error = refused.expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    let log = entries(&app, &admin, "").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].actor, "ledger.admin");
}
