//! Every date that enters from outside is held to one range, 2000-01-01 to 2100-12-31: a date
//! chrono can parse but the service cannot count with (`+262142-12-31`, the last one it knows)
//! is a 422 `VALIDATION_FAILED` naming its field, never a panic, a dropped connection or a row.

use miniprogram_api::booking::Availability;
use miniprogram_api::calendar::CalendarDays;
use reqwest::StatusCode;
use sea_orm::EntityTrait as _;
use serde_json::json;
use services::staff::Role;

use crate::booking_fixture::{HALL, ID_CARD, citizen, start};
use crate::halls::global_admin;
use crate::helpers::Reply;
use crate::queue_fixture::staff;

/// The last date chrono parses, URL-encoded, and the first dates on either side of the range.
const FAR: [&str; 4] = ["%2B262142-12-31", "-0001-01-01", "1999-12-31", "2101-01-01"];

fn refused_naming(reply: &Reply, field: &str) {
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    let error = reply.error();
    assert_eq!(error.code, "VALIDATION_FAILED", "{reply:?}");
    assert!(
        error.fields.iter().any(|f| f.field.contains(field)),
        "names {field}: {reply:?}"
    );
}

#[tokio::test]
async fn a_date_outside_2000_to_2100_is_refused_wherever_it_enters() {
    let (app, fx) = start().await;
    let c = citizen(&app, 1).await;
    let admin = staff(&app, "admin.dates", Role::Admin, fx.hall_id).await;
    let global = global_admin(&app).await;
    let hall = fx.hall_id;
    for far in FAR {
        // Availability: `from` alone (the default `to` is 13 days on), and `to`.
        let reply = app
            .get(
                &format!("/api/v1/halls/{HALL}/slots?itemCode={ID_CARD}&from={far}"),
                Some(&c.token),
            )
            .await;
        refused_naming(&reply, "from");
        let reply = app
            .get(
                &format!("/api/v1/halls/{HALL}/slots?itemCode={ID_CARD}&from=2026-11-17&to={far}"),
                Some(&c.token),
            )
            .await;
        refused_naming(&reply, "to");
        // The public calendar.
        let reply = app
            .get(&format!("/api/v1/calendar?from={far}&to=2026-11-20"), None)
            .await;
        refused_naming(&reply, "from");
        // Staff: a day's bookings, the queue's figures, closures and exceptions.
        let reply = app
            .get(
                &format!("/staff/v1/halls/{hall}/bookings?date={far}"),
                Some(&admin),
            )
            .await;
        refused_naming(&reply, "date");
        let reply = app
            .get(
                &format!("/staff/v1/halls/{hall}/queue/stats?date={far}"),
                Some(&admin),
            )
            .await;
        refused_naming(&reply, "date");
        let decoded = far.replace("%2B", "+");
        let reply = app
            .post(
                &format!("/staff/v1/halls/{hall}/closures"),
                Some(&admin),
                &json!({ "date": decoded, "reason": "系统升级" }),
            )
            .await;
        refused_naming(&reply, "date");
        let reply = app
            .put(
                &format!("/staff/v1/halls/{hall}/exceptions/{decoded}"),
                Some(&admin),
                &json!({ "closed": true, "note": "停电" }),
            )
            .await;
        refused_naming(&reply, "date");
        let reply = app
            .send(
                app.http
                    .delete(app.url(&format!("/staff/v1/halls/{hall}/exceptions/{decoded}")))
                    .bearer_auth(&admin),
            )
            .await;
        refused_naming(&reply, "date");
    }
    // A calendar year, the same range.
    for year in [1999, 2101, 262_142] {
        let reply = app
            .get(&format!("/staff/v1/calendar/{year}"), Some(&global))
            .await;
        refused_naming(&reply, "year");
    }
    // Nothing was stored (audited in the table: no route lists another hall's exceptions of
    // such dates) and the gateway still answers.
    let stored = entities::hall_exception::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
    let reply = app
        .get(
            &format!("/api/v1/halls/{HALL}/slots?itemCode={ID_CARD}&from=2026-11-17"),
            Some(&c.token),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn the_last_days_of_the_range_are_listed_without_running_past_it() {
    let (app, _fx) = start().await;
    let c = citizen(&app, 2).await;
    // The default `to` (13 days on) would fall past 2100: the answer stops at the range's end.
    let reply = app
        .get(
            &format!("/api/v1/halls/{HALL}/slots?itemCode={ID_CARD}&from=2100-12-31"),
            Some(&c.token),
        )
        .await;
    let days = reply.ok::<Availability>().days;
    assert_eq!(days.len(), 1, "{reply:?}");
    assert_eq!(days[0].date.to_string(), "2100-12-31");
    let listed: CalendarDays = app
        .get("/api/v1/calendar?from=2100-12-01&to=2100-12-31", None)
        .await
        .ok();
    assert_eq!(listed.days.len(), 31);
}
