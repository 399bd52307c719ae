//! The staff side of appointments over HTTP: a clerk checks a citizen in by the booking's code,
//! an administrator cancels a day, and neither can act at another hall.

use reqwest::StatusCode;
use serde_json::json;
use services::staff::Role;

use crate::booking_fixture::{
    HALL, ID_CARD, booked, booking, citizen, id, message_kinds, minutes, refused, shanghai, slots,
    start,
};
use crate::queue_fixture::staff;

#[tokio::test]
async fn a_clerk_checks_a_citizen_in_by_code_at_their_own_hall_only() {
    let (app, fx) = start().await;
    let other = fx.other_hall.id;
    let clerk = staff(&app, "clerk.a", Role::Clerk, fx.hall_id).await;
    let stranger = staff(&app, "clerk.b", Role::Clerk, other).await;
    let c = citizen(&app, 1).await;
    let slot = slots(&app, &c.token, HALL, ID_CARD, "2026-11-17").await[0].clone();
    let b = booked(&app, &c.token, id(&slot), ID_CARD).await;
    let qr = b["checkinQr"].as_str().unwrap().to_owned();
    let path = format!("/staff/v1/halls/{}/check-ins", fx.hall_id);

    // The day before: too early, with the moment check-in opens.
    let early = app.post(&path, Some(&clerk), &json!({ "code": qr })).await;
    let body = refused(&early, StatusCode::CONFLICT, "CHECKIN_TOO_EARLY");
    assert!(body["until"].is_string(), "{body}");

    app.clock.set(shanghai(2026, 11, 17, 9, 0) - minutes(10));
    // A clerk of another hall can neither check in here nor at their own hall with our code.
    let foreign = app
        .post(&path, Some(&stranger), &json!({ "code": qr }))
        .await;
    refused(&foreign, StatusCode::FORBIDDEN, "FORBIDDEN");
    let elsewhere = app
        .post(
            &format!("/staff/v1/halls/{other}/check-ins"),
            Some(&stranger),
            &json!({ "code": qr }),
        )
        .await;
    refused(&elsewhere, StatusCode::CONFLICT, "WRONG_HALL");
    // A citizen's token never opens staff routes.
    let citizen_try = app
        .post(&path, Some(&c.token), &json!({ "code": qr }))
        .await;
    refused(&citizen_try, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // The code typed in lower case works as well as the scanned QR.
    let typed = b["code"].as_str().unwrap().to_lowercase();
    let done = app
        .post(&path, Some(&clerk), &json!({ "code": typed }))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{done:?}");
    assert_eq!(done.body["status"], "CHECKED_IN");
    assert_eq!(
        booking(&app, &c.token, id(&b)).await["status"],
        "CHECKED_IN"
    );
    let unknown = app
        .post(&path, Some(&clerk), &json!({ "code": "ZSBBK:AAAAAAAA" }))
        .await;
    refused(&unknown, StatusCode::NOT_FOUND, "BOOKING_NOT_FOUND");

    let list = app
        .get(
            &format!("/staff/v1/halls/{}/bookings?date=2026-11-17", fx.hall_id),
            Some(&clerk),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    assert_eq!(list.body["bookings"][0]["id"], b["id"]);
}

#[tokio::test]
async fn an_admin_cancels_a_day_over_http_and_a_clerk_may_not() {
    let (app, fx) = start().await;
    let admin = staff(&app, "admin.a", Role::Admin, fx.hall_id).await;
    let clerk = staff(&app, "clerk.a", Role::Clerk, fx.hall_id).await;
    let c = citizen(&app, 1).await;
    let slot = slots(&app, &c.token, HALL, ID_CARD, "2026-11-18").await[0].clone();
    let b = booked(&app, &c.token, id(&slot), ID_CARD).await;
    let path = format!("/staff/v1/halls/{}/closures", fx.hall_id);
    let body = json!({ "date": "2026-11-18", "reason": "系统升级" });

    refused(
        &app.post(&path, Some(&clerk), &body).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    refused(
        &app.post(
            &path,
            Some(&admin),
            &json!({ "date": "2026-11-16", "reason": "停电" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    refused(
        &app.post(
            &path,
            Some(&admin),
            &json!({ "date": "2026-11-18", "reason": " " }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );

    let closed = app.post(&path, Some(&admin), &body).await;
    assert_eq!(closed.status, StatusCode::OK, "{closed:?}");
    assert_eq!(closed.body["cancelledBookings"], 1);
    assert_eq!(
        booking(&app, &c.token, id(&b)).await["status"],
        "CANCELLED_BY_HALL"
    );
    assert!(
        message_kinds(&app, &c.token)
            .await
            .contains(&"booking_cancelled_by_hall".to_owned())
    );
}
