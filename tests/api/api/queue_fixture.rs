//! What the queue tests stand on: the booking fixture's halls, staff logged in over HTTP, the
//! counters and categories by their numbers and codes, and the calls the counter makes.

use miniprogram_api::staff::StaffRole;
use reqwest::StatusCode;
use serde_json::{Value, json};
use services::staff::Role;

use crate::helpers::{Reply, TestApp};

/// A staff member with one role at one hall, created by the deployment's administrator through
/// `POST /staff/v1/staff` and logged in; returns the token.
pub async fn staff(app: &TestApp, username: &str, role: Role, hall_id: i64) -> String {
    app.admin()
        .await
        .staff_token(username, "窗口人员", &[(wire_role(role), Some(hall_id))])
        .await
}

/// A role as the wire spells it.
pub fn wire_role(role: Role) -> StaffRole {
    match role {
        Role::Admin => StaffRole::Admin,
        Role::Clerk => StaffRole::Clerk,
        Role::Verifier => StaffRole::Verifier,
    }
}

/// The id of the hall with `code`, as the deployment's administrator sees it.
pub async fn hall_id(app: &TestApp, code: &str) -> i64 {
    app.admin().await.hall_id(code).await
}

/// A counter of a hall by its number, as its administrator sees it.
pub async fn counter(app: &TestApp, hall_id: i64, number: i32) -> i64 {
    let hall = app.admin().await.hall(hall_id).await;
    hall.counters
        .iter()
        .find(|c| c.number == number)
        .unwrap_or_else(|| panic!("no counter {number} in {hall:?}"))
        .id
}

pub async fn walk_in(
    app: &TestApp,
    token: &str,
    hall_id: i64,
    category_id: i64,
    green: bool,
) -> Value {
    let reply = app
        .post(
            &format!("/staff/v1/halls/{hall_id}/tickets"),
            Some(token),
            &json!({ "categoryId": category_id, "greenChannel": green }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

pub async fn take(app: &TestApp, token: &str, hall: &str, item: &str) -> Reply {
    app.post(
        &format!("/api/v1/halls/{hall}/tickets"),
        Some(token),
        &json!({ "itemCode": item }),
    )
    .await
}

pub async fn taken(app: &TestApp, token: &str, hall: &str, item: &str) -> Value {
    let reply = take(app, token, hall, item).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

pub async fn call_next(app: &TestApp, token: &str, hall_id: i64, counter_id: i64) -> Reply {
    app.post(
        &format!("/staff/v1/halls/{hall_id}/counters/{counter_id}/call-next"),
        Some(token),
        &json!({}),
    )
    .await
}

pub async fn called(app: &TestApp, token: &str, hall_id: i64, counter_id: i64) -> Value {
    let reply = call_next(app, token, hall_id, counter_id).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body
}

pub async fn act(
    app: &TestApp,
    token: &str,
    hall_id: i64,
    counter_id: i64,
    ticket_id: i64,
    action: &str,
    body: &Value,
) -> Reply {
    app.post(
        &format!("/staff/v1/halls/{hall_id}/counters/{counter_id}/tickets/{ticket_id}/{action}"),
        Some(token),
        body,
    )
    .await
}

pub fn number(v: &Value) -> &str {
    v["number"].as_str().unwrap()
}

/// Sets a counter of the hall (by number) active or not, serving `categories` at weight 1.
pub async fn set_counter_active(
    app: &crate::helpers::TestApp,
    admin: &str,
    hall_id: i64,
    number: i32,
    categories: &[i64],
    active: bool,
) {
    let id = counter(app, hall_id, number).await;
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall_id}/counters/{id}"),
            Some(admin),
            &json!({
                "number": number,
                "name": format!("{number}号窗口"),
                "active": active,
                "categories": categories
                    .iter()
                    .map(|c| json!({ "categoryId": c, "weight": 1 }))
                    .collect::<Vec<_>>(),
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}
