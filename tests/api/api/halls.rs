//! Halls: administrators set a hall up through `/staff/v1/halls…`, each refusal with its code;
//! only admins of that hall (or of every hall) may; citizens see open halls without logging in.

use miniprogram_api::halls::{
    Category, CheckInQr, Counter, CounterCategory, Hall, HallItem, HallList, HallSummary,
    OpeningHours, PublicHall, PublicHallList,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use services::staff::{HallScope, Role};

use crate::helpers::{Reply, TestApp};

/// A staff member with `roles`, created by the deployment's administrator
/// (`POST /staff/v1/staff`) and logged in; the bearer token.
pub async fn staff_token(app: &TestApp, roles: Vec<(Role, HallScope)>) -> String {
    let username = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let roles: Vec<_> = roles
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
        .staff_token(&username, "测试人员", &roles)
        .await
}

/// An admin of every hall: the deployment's administrator.
pub async fn global_admin(app: &TestApp) -> String {
    app.admin().await.token
}

/// Creates a hall through the API; its id.
pub async fn create_hall(app: &TestApp, admin: &str, code: &str) -> i64 {
    let reply = app
        .post(
            "/staff/v1/halls",
            Some(admin),
            &json!({ "code": code, "name": format!("{code} 政务服务中心"), "address": "杭州市上城区" }),
        )
        .await;
    reply.created::<Hall>().id
}

/// Creates a category through the API; its id.
pub async fn create_category(app: &TestApp, admin: &str, hall: i64, code: &str) -> i64 {
    let reply = app
        .post(
            &format!("/staff/v1/halls/{hall}/categories"),
            Some(admin),
            &json!({ "code": code, "name": format!("{code} 类"), "prefix": code }),
        )
        .await;
    reply.created::<Category>().id
}

/// An item in the catalogue, published by a simulated province and synced (the catalogue is
/// not under test here).
pub async fn catalogue_item(app: &TestApp, code: &str, name: &str, halls: &[&str]) {
    let mut item = support::catalogue::item(code, name, "杭州市公安局", true);
    item["halls"] = json!(halls);
    support::catalogue::publish(&app.db, &app.store, vec![item]).await;
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Reply {
    app.send(app.http.delete(app.url(path)).bearer_auth(token))
        .await
}

fn assert_refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.error_code(), code, "{reply:?}");
}

/// 422 `VALIDATION_FAILED` naming `field`.
fn assert_invalid(reply: &Reply, field: &str) {
    assert_refused(reply, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert_eq!(reply.error().fields[0].field, field, "{reply:?}");
}

fn weekdays(hours: &[OpeningHours]) -> Vec<i64> {
    hours.iter().map(|d| d.weekday).collect()
}

#[tokio::test]
async fn an_admin_sets_up_a_hall_that_citizens_then_see() {
    let app = TestApp::spawn().await;
    let admin = global_admin(&app).await;

    // Create, with one rule changed and the others at their defaults.
    let reply = app
        .post(
            "/staff/v1/halls",
            Some(&admin),
            &json!({
                "code": "HALL-0571-01", "name": "杭州市民中心", "address": "杭州市上城区解放东路18号",
                "rules": { "slotMinutes": 40, "releaseTime": "07:30" }
            }),
        )
        .await;
    let created: Hall = reply.created();
    let hall = created.id;
    assert_eq!(created.rules.slot_minutes, 40);
    assert_eq!(created.rules.release_time, "07:30");
    assert_eq!(created.rules.book_max_working_days, 5);
    assert_eq!(created.rules.ban_days, 90);

    // Hours: Monday to Friday with a lunch break.
    let days: Vec<Value> = (1..=5)
        .map(|d| json!({ "weekday": d, "opens": "09:00", "closes": "17:00", "breakStart": "12:00", "breakEnd": "13:30" }))
        .collect();
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/hours"),
            Some(&admin),
            &json!({ "days": days }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // Replacing the week replaces every day: Friday afternoon off now, the rest closed.
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/hours"),
            Some(&admin),
            &json!({ "days": [
                { "weekday": 5, "opens": "9:00", "closes": "12:00" },
                { "weekday": 1, "opens": "08:30", "closes": "17:30", "breakStart": "12:00", "breakEnd": "13:00" },
            ] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");

    // A closed day and a shortened one; then one removed.
    for (date, body) in [
        (
            "2099-10-01",
            json!({ "closed": true, "note": "国庆节闭厅" }),
        ),
        (
            "2099-10-09",
            json!({ "closed": false, "opens": "09:00", "closes": "12:00" }),
        ),
        ("2099-10-10", json!({ "closed": true })),
    ] {
        let reply = app
            .put(
                &format!("/staff/v1/halls/{hall}/exceptions/{date}"),
                Some(&admin),
                &body,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let reply = delete(
        &app,
        &format!("/staff/v1/halls/{hall}/exceptions/2099-10-10"),
        &admin,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");

    // Categories, counters, an item.
    let a = create_category(&app, &admin, hall, "A").await;
    let reply = app
        .post(
            &format!("/staff/v1/halls/{hall}/categories"),
            Some(&admin),
            &json!({ "code": "HUZHENG", "name": "公安户政", "prefix": "B", "seatsPerSlot": 4 }),
        )
        .await;
    let b = reply.created::<Category>().id;
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/categories/{b}"),
            Some(&admin),
            &json!({ "code": "HUZHENG", "name": "公安户政业务", "prefix": "BH", "seatsPerSlot": null }),
        )
        .await;
    let category: Category = reply.ok();
    assert_eq!(category.prefix, "BH");
    assert_eq!(category.seats_per_slot, None);

    let reply = app
        .post(
            &format!("/staff/v1/halls/{hall}/counters"),
            Some(&admin),
            &json!({ "number": 1, "name": "1号窗口", "categories": [
                { "categoryId": a, "weight": 2 }, { "categoryId": b, "weight": 1 }
            ] }),
        )
        .await;
    let created: Counter = reply.created();
    let counter = created.id;
    assert!(created.active);
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/counters/{counter}"),
            Some(&admin),
            &json!({ "number": 2, "name": "2号窗口", "active": false, "categories": [
                { "categoryId": b, "weight": 10 }
            ] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");

    let item = "11330100002489612T2000121001000";
    catalogue_item(&app, item, "居民身份证换领", &["HALL-0571-01"]).await;
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/items/{item}"),
            Some(&admin),
            &json!({ "categoryId": a }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // Mapping again moves it.
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/items/{item}"),
            Some(&admin),
            &json!({ "categoryId": b }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");

    // The administrator's view has it all.
    let reply = app
        .get(&format!("/staff/v1/halls/{hall}"), Some(&admin))
        .await;
    // The exact shape: a day without a break has no `breakStart` key.
    assert!(
        reply
            .body
            .get("hours")
            .and_then(|h| h.get(1))
            .is_some_and(|d| d.get("breakStart").is_none()),
        "{reply:?}"
    );
    let body: Hall = reply.ok();
    assert_eq!(weekdays(&body.hours), vec![1, 5]);
    assert_eq!(body.hours[0].opens, "08:30");
    assert_eq!(body.hours[0].break_end.as_deref(), Some("13:00"));
    assert_eq!(body.hours[1].opens, "09:00");
    assert_eq!(body.hours[1].break_start, None);
    let exceptions = &body.exceptions;
    assert_eq!(exceptions.len(), 2, "{body:?}");
    assert_eq!(exceptions[0].date.to_string(), "2099-10-01");
    assert!(exceptions[0].closed);
    assert_eq!(exceptions[0].note, "国庆节闭厅");
    assert_eq!(exceptions[1].closes.as_deref(), Some("12:00"));
    assert_eq!(body.categories.len(), 2);
    assert_eq!(body.counters[0].number, 2);
    assert!(!body.counters[0].active);
    assert_eq!(
        body.counters[0].categories,
        vec![CounterCategory {
            category_id: b,
            weight: 10
        }]
    );
    assert_eq!(
        body.items,
        vec![HallItem {
            item_code: item.to_owned(),
            item_name: Some("居民身份证换领".to_owned()),
            category_id: b
        }]
    );

    // The check-in QR for the wall.
    let reply = app
        .get(&format!("/staff/v1/halls/{hall}/check-in-qr"), Some(&admin))
        .await;
    let qr: CheckInQr = reply.ok();
    let payload = qr.payload.as_str();
    let secret = payload.strip_prefix("ZSBHALL:HALL-0571-01:").unwrap();
    assert_eq!(secret.len(), 32);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));

    // Citizens, without logging in.
    let reply = app.get("/api/v1/halls", None).await;
    assert!(
        !reply.text.contains(secret),
        "the check-in secret is not public"
    );
    let halls = reply.ok::<PublicHallList>().halls;
    assert_eq!(halls.len(), 1);
    assert_eq!(halls[0].code, "HALL-0571-01");
    assert_eq!(halls[0].address, "杭州市上城区解放东路18号");
    assert_eq!(weekdays(&halls[0].hours), vec![1, 5]);
    let one: PublicHall = app.get("/api/v1/halls/HALL-0571-01", None).await.ok();
    assert_eq!(one.name, "杭州市民中心");

    // Renamed and deactivated: gone from the citizens' list.
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}"),
            Some(&admin),
            &json!({ "name": "杭州市民中心（东区）", "active": false, "rules": { "weeklyLimit": 3 } }),
        )
        .await;
    let updated: HallSummary = reply.ok();
    // Names are NFKC-normalised: full-width brackets are stored as plain ones.
    assert_eq!(updated.name, "杭州市民中心(东区)");
    assert_eq!(updated.rules.weekly_limit, 3);
    assert_eq!(updated.rules.slot_minutes, 40, "other rules stay");
    let listed: PublicHallList = app.get("/api/v1/halls", None).await.ok();
    assert_eq!(listed.halls, vec![]);
    let reply = app.get("/api/v1/halls/HALL-0571-01", None).await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "HALL_NOT_FOUND");
}

#[tokio::test]
async fn each_bad_input_is_refused_with_its_code() {
    let app = TestApp::spawn().await;
    let admin = global_admin(&app).await;
    let hall = create_hall(&app, &admin, "HZ-01").await;
    let other = create_hall(&app, &admin, "HZ-02").await;
    let a = create_category(&app, &admin, hall, "A").await;
    let elsewhere = create_category(&app, &admin, other, "A").await;

    // Halls.
    let new_hall = |code: &str, rules: Value| json!({ "code": code, "name": "大厅", "address": "地址", "rules": rules });
    let reply = app
        .post(
            "/staff/v1/halls",
            Some(&admin),
            &new_hall("HZ-01", json!({})),
        )
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, "HALL_CODE_TAKEN");
    let reply = app
        .post(
            "/staff/v1/halls",
            Some(&admin),
            &new_hall("HZ:03", json!({})),
        )
        .await;
    assert_invalid(&reply, "code");
    for (rules, field) in [
        (json!({ "slotMinutes": 4 }), "rules.slotMinutes"),
        (json!({ "slotMinutes": 241 }), "rules.slotMinutes"),
        (json!({ "releaseTime": "25:00" }), "rules.releaseTime"),
        (
            json!({ "bookMinWorkingDays": 3, "bookMaxWorkingDays": 2 }),
            "rules.bookMaxWorkingDays",
        ),
        (
            json!({ "weeklyLimit": 5, "monthlyLimit": 4 }),
            "rules.monthlyLimit",
        ),
        (json!({ "banDays": 0 }), "rules.banDays"),
    ] {
        let reply = app
            .post("/staff/v1/halls", Some(&admin), &new_hall("HZ-03", rules))
            .await;
        assert_invalid(&reply, field);
    }
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}"),
            Some(&admin),
            &json!({ "name": "  " }),
        )
        .await;
    assert_invalid(&reply, "name");
    let reply = app
        .put(
            "/staff/v1/halls/999999",
            Some(&admin),
            &json!({ "name": "x" }),
        )
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "HALL_NOT_FOUND");

    // Hours.
    let hours = |days: Value| json!({ "days": days });
    for (days, field) in [
        (
            json!([{ "weekday": 8, "opens": "09:00", "closes": "17:00" }]),
            "days[0].weekday",
        ),
        (
            json!([{ "weekday": 1, "opens": "9", "closes": "17:00" }]),
            "days[0].opens",
        ),
        (
            json!([{ "weekday": 1, "opens": "17:00", "closes": "09:00" }]),
            "days[0].closes",
        ),
        (
            json!([{ "weekday": 1, "opens": "09:00", "closes": "17:00", "breakStart": "08:00", "breakEnd": "09:30" }]),
            "days[0].breakStart",
        ),
        (
            json!([{ "weekday": 1, "opens": "09:00", "closes": "17:00", "breakStart": "12:00" }]),
            "days[0].breakEnd",
        ),
        (
            json!([
                { "weekday": 2, "opens": "09:00", "closes": "17:00" },
                { "weekday": 2, "opens": "09:00", "closes": "12:00" },
            ]),
            "days[1].weekday",
        ),
    ] {
        let reply = app
            .put(
                &format!("/staff/v1/halls/{hall}/hours"),
                Some(&admin),
                &hours(days),
            )
            .await;
        assert_invalid(&reply, field);
    }
    let reply = app
        .put(
            "/staff/v1/halls/999999/hours",
            Some(&admin),
            &hours(json!([])),
        )
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "HALL_NOT_FOUND");

    // Exceptions.
    let path = format!("/staff/v1/halls/{hall}/exceptions/2099-05-01");
    let reply = app
        .put(
            &path,
            Some(&admin),
            &json!({ "closed": true, "opens": "09:00", "closes": "12:00" }),
        )
        .await;
    assert_invalid(&reply, "opens");
    let reply = app
        .put(&path, Some(&admin), &json!({ "closed": false }))
        .await;
    assert_invalid(&reply, "opens");
    let reply = app
        .put(
            &path,
            Some(&admin),
            &json!({ "closed": false, "opens": "12:00", "closes": "09:00" }),
        )
        .await;
    assert_invalid(&reply, "closes");
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/exceptions/2099-02-30"),
            Some(&admin),
            &json!({ "closed": true }),
        )
        .await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");

    // Categories.
    let categories = format!("/staff/v1/halls/{hall}/categories");
    let category =
        |code: &str, prefix: &str| json!({ "code": code, "name": "综合", "prefix": prefix });
    let reply = app
        .post(&categories, Some(&admin), &category("A", "Z"))
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, "CATEGORY_CODE_TAKEN");
    let reply = app
        .post(&categories, Some(&admin), &category("B", "A"))
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, "QUEUE_PREFIX_TAKEN");
    for prefix in ["a", "ABC", "A1", ""] {
        let reply = app
            .post(&categories, Some(&admin), &category("B", prefix))
            .await;
        assert_invalid(&reply, "prefix");
    }
    let reply = app
        .post(
            &categories,
            Some(&admin),
            &json!({ "code": "B", "name": "x", "prefix": "B", "seatsPerSlot": 0 }),
        )
        .await;
    assert_invalid(&reply, "seatsPerSlot");
    // The same code and prefix at another hall is fine; a category of another hall is unknown.
    let reply = app
        .put(
            &format!("{categories}/{elsewhere}"),
            Some(&admin),
            &category("A", "A"),
        )
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "CATEGORY_NOT_FOUND");
    let reply = app
        .put(
            &format!("{categories}/{a}"),
            Some(&admin),
            &category("A", "A"),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "keeping its own prefix: {reply:?}"
    );

    // Counters.
    let counters = format!("/staff/v1/halls/{hall}/counters");
    let counter = |number: i64, served: Value| json!({ "number": number, "name": "窗口", "categories": served });
    let reply = app
        .post(
            &counters,
            Some(&admin),
            &counter(1, json!([{ "categoryId": a, "weight": 1 }])),
        )
        .await;
    let first = reply.created::<Counter>().id;
    let reply = app
        .post(&counters, Some(&admin), &counter(1, json!([])))
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, "COUNTER_NUMBER_TAKEN");
    let reply = app
        .post(&counters, Some(&admin), &counter(1000, json!([])))
        .await;
    assert_invalid(&reply, "number");
    let reply = app
        .post(
            &counters,
            Some(&admin),
            &counter(2, json!([{ "categoryId": a, "weight": 11 }])),
        )
        .await;
    assert_invalid(&reply, "categories[0].weight");
    let reply = app
        .post(
            &counters,
            Some(&admin),
            &counter(2, json!([{ "categoryId": elsewhere, "weight": 1 }])),
        )
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "CATEGORY_NOT_FOUND");
    let reply = app
        .put(
            &format!("/staff/v1/halls/{other}/counters/{first}"),
            Some(&admin),
            &counter(5, json!([])),
        )
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "COUNTER_NOT_FOUND");

    // Items.
    let item = "11330100002489612T2000121001000";
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/items/{item}"),
            Some(&admin),
            &json!({ "categoryId": a }),
        )
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "ITEM_NOT_FOUND");
    assert!(reply.error().message.contains("事项"), "{reply:?}");
    catalogue_item(&app, item, "居民身份证换领", &["HZ-01"]).await;
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/items/{item}"),
            Some(&admin),
            &json!({ "categoryId": elsewhere }),
        )
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "CATEGORY_NOT_FOUND");
    let reply = app
        .get("/staff/v1/halls/999999/check-in-qr", Some(&admin))
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "HALL_NOT_FOUND");
}

#[tokio::test]
async fn only_admins_of_the_hall_may_change_it() {
    let app = TestApp::spawn().await;
    let admin = global_admin(&app).await;
    let hall = create_hall(&app, &admin, "HZ-A").await;
    let other = create_hall(&app, &admin, "HZ-B").await;
    let clerk = staff_token(&app, vec![(Role::Clerk, HallScope::Hall(hall))]).await;
    let other_admin = staff_token(&app, vec![(Role::Admin, HallScope::Hall(other))]).await;
    let hall_admin = staff_token(&app, vec![(Role::Admin, HallScope::Hall(hall))]).await;

    let week = json!({ "days": [{ "weekday": 1, "opens": "09:00", "closes": "17:00" }] });
    for token in [&clerk, &other_admin] {
        let reply = app
            .put(&format!("/staff/v1/halls/{hall}/hours"), Some(token), &week)
            .await;
        assert_refused(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        let reply = app
            .get(&format!("/staff/v1/halls/{hall}"), Some(token))
            .await;
        assert_refused(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        let reply = app
            .get(&format!("/staff/v1/halls/{hall}/check-in-qr"), Some(token))
            .await;
        assert_refused(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        let reply = app
            .post(
                &format!("/staff/v1/halls/{hall}/categories"),
                Some(token),
                &json!({ "code": "A", "name": "综合", "prefix": "A" }),
            )
            .await;
        assert_refused(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    // Only a global admin creates halls.
    let reply = app
        .post(
            "/staff/v1/halls",
            Some(&hall_admin),
            &json!({ "code": "HZ-C", "name": "x", "address": "y" }),
        )
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    // Without a token, or with a citizen's: 401.
    let reply = app.get(&format!("/staff/v1/halls/{hall}"), None).await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let citizen = app.login().await;
    let reply = app
        .get(&format!("/staff/v1/halls/{hall}"), Some(&citizen.token))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");

    // The hall's own admin may.
    let reply = app
        .put(
            &format!("/staff/v1/halls/{hall}/hours"),
            Some(&hall_admin),
            &week,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");

    // Each lists the halls they have a role at.
    let codes = |reply: &Reply| -> Vec<String> {
        reply
            .ok::<HallList>()
            .halls
            .into_iter()
            .map(|h| h.code)
            .collect()
    };
    let reply = app.get("/staff/v1/halls", Some(&clerk)).await;
    assert_eq!(codes(&reply), vec!["HZ-A"]);
    let reply = app.get("/staff/v1/halls", Some(&other_admin)).await;
    assert_eq!(codes(&reply), vec!["HZ-B"]);
    let reply = app.get("/staff/v1/halls", Some(&admin)).await;
    assert_eq!(codes(&reply), vec!["HZ-A", "HZ-B"]);

    // A method the route does not take.
    let reply = delete(&app, &format!("/staff/v1/halls/{hall}"), &admin).await;
    assert_refused(&reply, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn an_unknown_hall_is_not_found_for_citizens() {
    let app = TestApp::spawn().await;
    let reply = app.get("/api/v1/halls/NO-SUCH-HALL", None).await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "HALL_NOT_FOUND");
    let listed: PublicHallList = app.get("/api/v1/halls", None).await.ok();
    assert_eq!(listed.halls, vec![]);
}
