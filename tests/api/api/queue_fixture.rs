//! What the queue tests stand on: the booking fixture's halls, staff logged in over HTTP, the
//! counters and categories by their numbers and codes, and the calls the counter makes.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _};
use secrecy::SecretString;
use serde_json::{Value, json};
use services::staff::{HallScope, Role};

use crate::helpers::{Reply, TestApp};

const PASSWORD: &str = "a long enough password";

/// A staff member with one role at one hall, logged in; returns the token.
pub async fn staff(app: &TestApp, username: &str, role: Role, hall_id: i64) -> String {
    gateway::startup::offline_staff_service(app.db.clone())
        .create(
            username,
            SecretString::from(PASSWORD),
            "窗口人员",
            vec![(role, HallScope::Hall(hall_id))],
        )
        .await
        .expect("create staff");
    let reply = app
        .post(
            "/staff/v1/auth/login",
            None,
            &json!({ "username": username, "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["token"].as_str().unwrap().to_owned()
}

pub async fn hall_id(db: &DatabaseConnection, code: &str) -> i64 {
    entities::hall::Entity::find()
        .filter(entities::hall::Column::Code.eq(code))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A category of a hall by its code.
pub async fn category(db: &DatabaseConnection, hall_id: i64, code: &str) -> i64 {
    entities::category::Entity::find()
        .filter(entities::category::Column::HallId.eq(hall_id))
        .filter(entities::category::Column::Code.eq(code))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A counter of a hall by its number.
pub async fn counter(db: &DatabaseConnection, hall_id: i64, number: i32) -> i64 {
    entities::counter::Entity::find()
        .filter(entities::counter::Column::HallId.eq(hall_id))
        .filter(entities::counter::Column::Number.eq(number))
        .one(db)
        .await
        .unwrap()
        .unwrap()
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
