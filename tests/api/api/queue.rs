//! Queue numbers over HTTP: numbering per hall, day and prefix (across midnight in Shanghai and
//! after the store is flushed), the calling order (green channel, checked-in bookings, time,
//! the counter's weights), recall, transfer, no-show, cancelling while called, the
//! notifications, positions, statistics, and who may do what.

use std::sync::Arc;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};
use serde_json::{Value, json};
use services::queue::TicketState;
use services::staff::Role;
use services::store::{MemoryStore, RedisStore, Store};

use crate::booking_fixture::{
    HALL, ID_CARD, OTHER_HALL, PASSPORT, PROPERTY, booked, check_in, citizen, id, message_kinds,
    monday_nine, refused, seed, settings, shanghai, slots, start,
};
use crate::helpers::{Deployment, redis_url};
use crate::queue_fixture::{
    act, call_next, called, number, set_counter_active, staff, take, taken, walk_in,
};

#[tokio::test]
async fn numbers_run_per_prefix_and_day_and_restart_only_at_midnight_in_shanghai() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.numbers", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let b = fx.hall.category("B");

    assert_eq!(
        number(&walk_in(&app, &clerk, fx.hall_id, a, false).await),
        "A001"
    );
    assert_eq!(
        number(&walk_in(&app, &clerk, fx.hall_id, a, false).await),
        "A002"
    );
    assert_eq!(
        number(&walk_in(&app, &clerk, fx.hall_id, b, false).await),
        "B001"
    );
    let c = citizen(&app, 1).await;
    let remote = taken(&app, &c.token, HALL, ID_CARD).await;
    assert_eq!(number(&remote), "A003");
    assert_eq!(remote["date"], "2026-11-16");

    // 23:59 in Shanghai is still Monday; one minute past midnight starts Tuesday's numbers.
    app.clock.set(shanghai(2026, 11, 16, 23, 59));
    let late = walk_in(&app, &clerk, fx.hall_id, a, false).await;
    assert_eq!(
        (number(&late), late["date"].as_str()),
        ("A004", Some("2026-11-16"))
    );
    app.clock.set(shanghai(2026, 11, 17, 0, 1));
    let early = walk_in(&app, &clerk, fx.hall_id, a, false).await;
    assert_eq!(
        (number(&early), early["date"].as_str()),
        ("A001", Some("2026-11-17"))
    );
    // Midnight in UTC (08:00 in Shanghai) changes nothing.
    app.clock.set(shanghai(2026, 11, 17, 7, 59));
    assert_eq!(
        number(&walk_in(&app, &clerk, fx.hall_id, a, false).await),
        "A002"
    );
    app.clock.set(shanghai(2026, 11, 17, 8, 1));
    assert_eq!(
        number(&walk_in(&app, &clerk, fx.hall_id, a, false).await),
        "A003"
    );

    let rows = entities::ticket::Entity::find()
        .filter(entities::ticket::Column::HallId.eq(fx.hall_id))
        .all(&app.db)
        .await
        .unwrap();
    let mut keys: Vec<(chrono::NaiveDate, String)> =
        rows.iter().map(|t| (t.day, t.number.clone())).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), rows.len(), "no number twice in one day");
}

#[tokio::test]
async fn numbers_continue_after_the_store_is_flushed() {
    let mut deployment = Deployment::new().await;
    let first = deployment.instance(settings).await;
    let fx = seed(&first).await;
    first.clock.set(monday_nine());
    let clerk = staff(&first, "clerk.flush", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    for expected in ["A001", "A002", "A003"] {
        assert_eq!(
            number(&walk_in(&first, &clerk, fx.hall_id, a, false).await),
            expected
        );
    }

    // A flushed store: an instance on an empty one (an unused Redis prefix, or a new in-process
    // store), the same database. Sessions are gone, so the clerk logs in again.
    let empty: Arc<dyn Store> = match redis_url() {
        Some(url) => Arc::new(
            RedisStore::connect(
                &url,
                format!("zsb-test-flushed-{}:", uuid::Uuid::new_v4().simple()),
            )
            .await
            .unwrap(),
        ),
        None => Arc::new(MemoryStore::new("flushed:")),
    };
    deployment.store = empty;
    let second = deployment.instance(settings).await;
    let stale = second
        .post(
            &format!("/staff/v1/halls/{}/tickets", fx.hall_id),
            Some(&clerk),
            &json!({ "categoryId": a }),
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::UNAUTHORIZED,
        "the store was flushed: {stale:?}"
    );
    let reply = second
        .post(
            "/staff/v1/auth/login",
            None,
            &json!({ "username": "clerk.flush", "password": "a long enough password" }),
        )
        .await;
    let clerk = reply.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        number(&walk_in(&second, &clerk, fx.hall_id, a, false).await),
        "A004"
    );
    let c = citizen(&second, 7).await;
    assert_eq!(
        number(&taken(&second, &c.token, HALL, ID_CARD).await),
        "A005"
    );
}

#[tokio::test]
async fn green_channel_then_checked_in_bookings_then_time() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.order", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let counter1 = fx.hall.counter(1);
    let booker = citizen(&app, 2).await;
    let slot = slots(&app, &booker.token, HALL, ID_CARD, "2026-11-17").await[0].clone();
    let booking = booked(&app, &booker.token, id(&slot), ID_CARD).await;

    app.clock.set(shanghai(2026, 11, 17, 8, 50));
    let first = walk_in(&app, &clerk, fx.hall_id, a, false).await;
    let second = walk_in(&app, &clerk, fx.hall_id, a, false).await;
    app.clock.set(shanghai(2026, 11, 17, 8, 52));
    let reply = check_in(&app, &booker.token, id(&booking), &fx.hall_qr).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let ticket = reply.body["ticket"].clone();
    assert_eq!(
        ticket["number"], "A003",
        "the check-in answer carries its ticket: {}",
        reply.body
    );
    assert_eq!(ticket["state"], "WAITING");
    // Scanning again is not an error and shows the same ticket.
    let again = check_in(&app, &booker.token, id(&booking), &fx.hall_qr).await;
    assert_eq!(again.body["ticket"]["id"], ticket["id"], "{again:?}");
    app.clock.set(shanghai(2026, 11, 17, 8, 54));
    let green = walk_in(&app, &clerk, fx.hall_id, a, true).await;

    let mut order = Vec::new();
    for _ in 0..4 {
        let t = called(&app, &clerk, fx.hall_id, counter1).await;
        order.push(t["id"].clone());
        let r = act(
            &app,
            &clerk,
            fx.hall_id,
            counter1,
            id(&t),
            "no-show",
            &json!({}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    assert_eq!(
        order,
        vec![
            green["id"].clone(),
            ticket["id"].clone(),
            first["id"].clone(),
            second["id"].clone()
        ]
    );
    let none = call_next(&app, &clerk, fx.hall_id, counter1).await;
    refused(&none, StatusCode::CONFLICT, "NO_TICKET_WAITING");
}

#[tokio::test]
async fn a_counter_shares_its_calls_among_its_categories_by_weight() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.weights", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let b = fx.hall.category("B");
    let counter2 = fx.hall.counter(2);
    // Counter 2 serves A twice as often as B, as its administrator sets it.
    let admin = app.admin().await;
    let weighted: miniprogram_api::halls::Counter = app
        .put(
            &format!("/staff/v1/halls/{}/counters/{counter2}", fx.hall_id),
            Some(&admin.token),
            &miniprogram_api::halls::CounterRequest {
                number: 2,
                name: "2号窗口".into(),
                active: true,
                categories: vec![
                    miniprogram_api::halls::CounterCategory {
                        category_id: a,
                        weight: 2,
                    },
                    miniprogram_api::halls::CounterCategory {
                        category_id: b,
                        weight: 1,
                    },
                ],
                spoken_name: None,
            },
        )
        .await
        .ok();
    assert_eq!(weighted.categories.len(), 2);
    for _ in 0..6 {
        walk_in(&app, &clerk, fx.hall_id, a, false).await;
        walk_in(&app, &clerk, fx.hall_id, b, false).await;
    }
    let mut prefixes = String::new();
    for _ in 0..6 {
        let t = called(&app, &clerk, fx.hall_id, counter2).await;
        prefixes.push_str(&number(&t)[..1]);
        act(
            &app,
            &clerk,
            fx.hall_id,
            counter2,
            id(&t),
            "serve",
            &json!({}),
        )
        .await;
        let done = act(
            &app,
            &clerk,
            fx.hall_id,
            counter2,
            id(&t),
            "done",
            &json!({}),
        )
        .await;
        assert_eq!(done.status, StatusCode::OK, "{done:?}");
    }
    assert_eq!(prefixes, "ABAABA", "weights 2:1, spread smoothly");
}

#[tokio::test]
async fn recall_no_show_transfer_and_cancel_while_called() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.ops", Role::Clerk, fx.hall_id).await;
    let other = fx.other_hall.id;
    let stranger = staff(&app, "clerk.other", Role::Clerk, other).await;
    let a = fx.hall.category("A");
    let b = fx.hall.category("B");
    let (counter1, counter2) = (fx.hall.counter(1), fx.hall.counter(2));

    let c = citizen(&app, 3).await;
    let mine = taken(&app, &c.token, HALL, ID_CARD).await;
    refused(
        &take(&app, &c.token, HALL, PASSPORT).await,
        StatusCode::CONFLICT,
        "TICKET_ALREADY_LIVE",
    );
    app.clock.set(monday_nine() + chrono::Duration::minutes(1));
    let walk = walk_in(&app, &clerk, fx.hall_id, a, false).await;

    // A clerk of another hall can do nothing here.
    refused(
        &call_next(&app, &stranger, fx.hall_id, counter1).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    let foreign = app
        .post(
            &format!("/staff/v1/halls/{}/tickets", fx.hall_id),
            Some(&stranger),
            &json!({ "categoryId": a }),
        )
        .await;
    refused(&foreign, StatusCode::FORBIDDEN, "FORBIDDEN");
    // Nor can a citizen.
    refused(
        &call_next(&app, &c.token, fx.hall_id, counter1).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );

    // Called, recalled twice, then the limit.
    let t = called(&app, &clerk, fx.hall_id, counter1).await;
    assert_eq!(t["id"], mine["id"]);
    assert_eq!(
        (t["calls"].as_i64(), t["counterNumber"].as_i64()),
        (Some(1), Some(1))
    );
    refused(
        &call_next(&app, &clerk, fx.hall_id, counter1).await,
        StatusCode::CONFLICT,
        "COUNTER_BUSY",
    );
    for calls in [2, 3] {
        let r = act(
            &app,
            &clerk,
            fx.hall_id,
            counter1,
            id(&t),
            "recall",
            &json!({}),
        )
        .await;
        assert_eq!(r.body["calls"], calls, "{r:?}");
    }
    let limit = act(
        &app,
        &clerk,
        fx.hall_id,
        counter1,
        id(&t),
        "recall",
        &json!({}),
    )
    .await;
    refused(&limit, StatusCode::CONFLICT, "RECALL_LIMIT_REACHED");
    // Another counter cannot touch it.
    let elsewhere = act(
        &app,
        &clerk,
        fx.hall_id,
        counter2,
        id(&t),
        "serve",
        &json!({}),
    )
    .await;
    refused(&elsewhere, StatusCode::CONFLICT, "TICKET_STATE_CHANGED");
    let gone = act(
        &app,
        &clerk,
        fx.hall_id,
        counter1,
        id(&t),
        "no-show",
        &json!({}),
    )
    .await;
    assert_eq!(gone.body["state"], "NO_SHOW", "{gone:?}");
    // No longer live: the citizen may take another.
    let retake = take(&app, &c.token, HALL, ID_CARD).await;
    assert_eq!(retake.status, StatusCode::CREATED, "{retake:?}");

    // Every change is recorded with who and where.
    let events = entities::ticket_event::Entity::find()
        .filter(entities::ticket_event::Column::TicketId.eq(id(&t)))
        .order_by_asc(entities::ticket_event::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    let trail: Vec<&str> = events.iter().map(|e| e.to_state.as_str()).collect();
    assert_eq!(trail, ["WAITING", "CALLED", "CALLED", "CALLED", "NO_SHOW"]);
    assert!(
        events[1..]
            .iter()
            .all(|e| e.counter_id == Some(counter1) && e.staff_id.is_some())
    );

    // Transfer: back to waiting in B with its original time, so before a B ticket taken later.
    let later_b = walk_in(&app, &clerk, fx.hall_id, b, false).await;
    let w = called(&app, &clerk, fx.hall_id, counter1).await;
    assert_eq!(w["id"], walk["id"]);
    let missing = act(
        &app,
        &clerk,
        fx.hall_id,
        counter1,
        id(&w),
        "transfer",
        &json!({ "categoryId": 999_999 }),
    )
    .await;
    refused(&missing, StatusCode::NOT_FOUND, "CATEGORY_NOT_FOUND");
    let moved = act(
        &app,
        &clerk,
        fx.hall_id,
        counter1,
        id(&w),
        "transfer",
        &json!({ "categoryId": b }),
    )
    .await;
    assert_eq!(
        (
            moved.body["state"].as_str(),
            moved.body["categoryId"].as_i64()
        ),
        (Some("WAITING"), Some(b)),
        "{moved:?}"
    );
    assert_eq!(moved.body["issuedAt"], walk["issuedAt"]);
    assert_eq!(moved.body["number"], walk["number"]);
    assert_eq!(moved.body["ahead"], 0, "{moved:?}");
    let next_b = called(&app, &clerk, fx.hall_id, counter2).await;
    // Counter 2 serves A and B: the retaken A ticket competes; weights 1:1 start with A.
    let next_b = if next_b["categoryId"] == b {
        next_b
    } else {
        act(
            &app,
            &clerk,
            fx.hall_id,
            counter2,
            id(&next_b),
            "no-show",
            &json!({}),
        )
        .await;
        called(&app, &clerk, fx.hall_id, counter2).await
    };
    assert_eq!(
        next_b["id"], walk["id"],
        "the transferred ticket keeps its place"
    );
    act(
        &app,
        &clerk,
        fx.hall_id,
        counter2,
        id(&next_b),
        "no-show",
        &json!({}),
    )
    .await;
    let after = called(&app, &clerk, fx.hall_id, counter2).await;
    assert_eq!(after["id"], later_b["id"]);
    act(
        &app,
        &clerk,
        fx.hall_id,
        counter2,
        id(&after),
        "no-show",
        &json!({}),
    )
    .await;

    // Cancel while called: the counter is freed and the clerk's next change is refused.
    let d = citizen(&app, 4).await;
    let theirs = taken(&app, &d.token, HALL, PASSPORT).await;
    let t = called(&app, &clerk, fx.hall_id, counter2).await;
    assert_eq!(t["id"], theirs["id"]);
    let cancel = app
        .post(
            &format!("/api/v1/tickets/{}/cancel", id(&t)),
            Some(&d.token),
            &json!({}),
        )
        .await;
    assert_eq!(cancel.body["state"], "CANCELLED", "{cancel:?}");
    let serve = act(
        &app,
        &clerk,
        fx.hall_id,
        counter2,
        id(&t),
        "serve",
        &json!({}),
    )
    .await;
    refused(&serve, StatusCode::CONFLICT, "TICKET_STATE_CHANGED");
    refused(
        &call_next(&app, &clerk, fx.hall_id, counter2).await,
        StatusCode::CONFLICT,
        "NO_TICKET_WAITING",
    );
    let twice = app
        .post(
            &format!("/api/v1/tickets/{}/cancel", id(&t)),
            Some(&d.token),
            &json!({}),
        )
        .await;
    refused(&twice, StatusCode::CONFLICT, "TICKET_STATE_CHANGED");
    // Someone else's ticket is not found.
    let theft = app
        .post(
            &format!("/api/v1/tickets/{}/cancel", id(&t)),
            Some(&c.token),
            &json!({}),
        )
        .await;
    refused(&theft, StatusCode::NOT_FOUND, "TICKET_NOT_FOUND");
    let bogus = act(
        &app,
        &clerk,
        fx.hall_id,
        counter2,
        id(&t),
        "dance",
        &json!({}),
    )
    .await;
    refused(&bogus, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn remote_tickets_need_open_hours_and_an_item_of_the_hall() {
    let (app, _fx) = start().await;
    let c = citizen(&app, 5).await;
    refused(
        &take(&app, &c.token, "NO-SUCH-HALL", ID_CARD).await,
        StatusCode::NOT_FOUND,
        "HALL_NOT_FOUND",
    );
    refused(
        &take(&app, &c.token, HALL, "ITEM-NOPE").await,
        StatusCode::NOT_FOUND,
        "ITEM_NOT_FOUND",
    );
    refused(
        &take(&app, &c.token, OTHER_HALL, PASSPORT).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CATEGORY_NOT_FOR_ITEM",
    );
    app.clock.set(shanghai(2026, 11, 16, 8, 30));
    refused(
        &take(&app, &c.token, HALL, ID_CARD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "HALL_NOT_OPEN",
    );
    app.clock.set(shanghai(2026, 11, 21, 10, 0));
    refused(
        &take(&app, &c.token, HALL, ID_CARD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "HALL_NOT_OPEN",
    );
    app.clock.set(shanghai(2026, 11, 16, 12, 30));
    let lunch = take(&app, &c.token, HALL, ID_CARD).await;
    assert_eq!(
        lunch.status,
        StatusCode::CREATED,
        "the lunch break keeps the line: {lunch:?}"
    );
    let bad = app
        .post(
            &format!("/api/v1/halls/{HALL}/tickets"),
            Some(&c.token),
            &json!({ "item": 1 }),
        )
        .await;
    refused(&bad, StatusCode::BAD_REQUEST, "INVALID_JSON");
    let bad_id = app.get("/api/v1/tickets/abc", Some(&c.token)).await;
    refused(&bad_id, StatusCode::BAD_REQUEST, "BAD_REQUEST");
}

#[tokio::test]
async fn about_three_ahead_and_called_are_told_once_each() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.notify", Role::Clerk, fx.hall_id).await;
    let counter1 = fx.hall.counter(1);
    let mut people = Vec::new();
    for n in 0..6u32 {
        let c = citizen(&app, 10 + n).await;
        let t = taken(&app, &c.token, HALL, ID_CARD).await;
        app.clock.advance(chrono::Duration::seconds(1));
        people.push((c, t));
    }
    // Positions: five, four … ahead, three counters serve A, five minutes each by default.
    let last = app
        .get(
            &format!("/api/v1/tickets/{}", id(&people[5].1)),
            Some(&people[5].0.token),
        )
        .await;
    assert_eq!(
        (
            last.body["ahead"].as_u64(),
            last.body["estimatedWaitMinutes"].as_u64()
        ),
        (Some(5), Some(9)),
        "{last:?}"
    );

    let first = called(&app, &clerk, fx.hall_id, counter1).await;
    assert_eq!(first["id"], people[0].1["id"]);
    let kinds = |i: usize| message_kinds(&app, &people[i].0.token);
    assert_eq!(kinds(0).await, ["ticket_called"]);
    for i in 1..=4 {
        assert_eq!(
            kinds(i).await,
            ["ticket_near"],
            "person {i} is within three"
        );
    }
    assert!(kinds(5).await.is_empty(), "four ahead: not yet");
    act(
        &app,
        &clerk,
        fx.hall_id,
        counter1,
        id(&first),
        "recall",
        &json!({}),
    )
    .await;
    assert_eq!(
        kinds(0).await,
        ["ticket_called"],
        "a recall does not push again"
    );
    act(
        &app,
        &clerk,
        fx.hall_id,
        counter1,
        id(&first),
        "no-show",
        &json!({}),
    )
    .await;
    let second = called(&app, &clerk, fx.hall_id, counter1).await;
    assert_eq!(second["id"], people[1].1["id"]);
    assert_eq!(kinds(1).await, ["ticket_called", "ticket_near"]);
    assert_eq!(kinds(2).await, ["ticket_near"], "told once");
    assert_eq!(kinds(5).await, ["ticket_near"]);
    let polled = app
        .get(
            &format!("/api/v1/tickets/{}", id(&second)),
            Some(&people[1].0.token),
        )
        .await;
    assert_eq!(
        (
            polled.body["state"].as_str(),
            polled.body["counterName"].as_str()
        ),
        (Some("CALLED"), Some("1号窗口"))
    );
    let mine = app.get("/api/v1/tickets", Some(&people[1].0.token)).await;
    assert_eq!(mine.body["tickets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn statistics_measure_waits_and_services_for_the_halls_admins() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.stats", Role::Clerk, fx.hall_id).await;
    let admin = staff(&app, "admin.stats", Role::Admin, fx.hall_id).await;
    let a = fx.hall.category("A");
    let counter1 = fx.hall.counter(1);
    for _ in 0..3 {
        walk_in(&app, &clerk, fx.hall_id, a, false).await;
    }
    // Calls after 2, 10 and 18 minutes; services of 4 minutes each, but the third is a no-show.
    for (i, minutes) in [2i64, 4, 4].into_iter().enumerate() {
        app.clock.advance(chrono::Duration::minutes(minutes));
        let t = called(&app, &clerk, fx.hall_id, counter1).await;
        if i == 2 {
            act(
                &app,
                &clerk,
                fx.hall_id,
                counter1,
                id(&t),
                "no-show",
                &json!({}),
            )
            .await;
            break;
        }
        act(
            &app,
            &clerk,
            fx.hall_id,
            counter1,
            id(&t),
            "serve",
            &json!({}),
        )
        .await;
        app.clock.advance(chrono::Duration::minutes(4));
        act(
            &app,
            &clerk,
            fx.hall_id,
            counter1,
            id(&t),
            "done",
            &json!({}),
        )
        .await;
    }
    let path = format!("/staff/v1/halls/{}/queue/stats?date=2026-11-16", fx.hall_id);
    refused(
        &app.get(&path, Some(&clerk)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    let reply = app.get(&path, Some(&admin)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let row = reply.body["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["prefix"] == "A")
        .unwrap()
        .clone();
    assert_eq!(
        (
            row["issued"].as_u64(),
            row["served"].as_u64(),
            row["noShows"].as_u64()
        ),
        (Some(3), Some(2), Some(1)),
        "{row}"
    );
    let approx = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 5.0;
    assert!(approx(&row["waitAvgSecs"], 10.0 * 60.0), "{row}");
    assert!(approx(&row["waitP90Secs"], 18.0 * 60.0), "{row}");
    assert!(approx(&row["serviceAvgSecs"], 240.0), "{row}");
    let empty = app
        .get(
            &format!("/staff/v1/halls/{}/queue/stats?date=2026-11-01", fx.hall_id),
            Some(&admin),
        )
        .await;
    assert_eq!(empty.body["categories"][0]["issued"], 0, "{empty:?}");
    let bad = app
        .get(
            &format!("/staff/v1/halls/{}/queue/stats?date=yesterday", fx.hall_id),
            Some(&admin),
        )
        .await;
    refused(&bad, StatusCode::BAD_REQUEST, "BAD_REQUEST");
}

#[tokio::test]
async fn the_openapi_document_lists_the_queue_api() {
    let (app, _fx) = start().await;
    let reply = app.get("/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    for path in [
        "/api/v1/halls/{hallCode}/tickets",
        "/api/v1/tickets",
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/{id}/cancel",
        "/api/v1/tickets/{id}/live",
        "/api/v1/halls/{hallCode}/board",
        "/api/v1/halls/{hallCode}/board/live",
        "/staff/v1/halls/{hallId}/tickets",
        "/staff/v1/halls/{hallId}/counters/{counterId}/call-next",
        "/staff/v1/halls/{hallId}/counters/{counterId}/desk",
        "/staff/v1/halls/{hallId}/counters/{counterId}/tickets/{ticketId}/{action}",
        "/staff/v1/halls/{hallId}/queue/stats",
    ] {
        assert!(reply.body["paths"][path].is_object(), "{path} missing");
    }
    // A plain GET on a socket route (no upgrade) is a clear 400, not a 500.
    let c = citizen(&app, 30).await;
    let t = taken(&app, &c.token, HALL, ID_CARD).await;
    let plain = app
        .get(&format!("/api/v1/tickets/{}/live", id(&t)), Some(&c.token))
        .await;
    refused(&plain, StatusCode::BAD_REQUEST, "BAD_REQUEST");
}

#[tokio::test]
async fn tickets_left_open_by_yesterday_are_closed_and_free_their_counter_and_citizen() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.sweep", Role::Clerk, fx.hall_id).await;
    let counter_1 = fx.hall.counter(1);
    let c = citizen(&app, 11).await;
    let remote = taken(&app, &c.token, HALL, ID_CARD).await;
    let a = fx.hall.category("A");
    let walk = walk_in(&app, &clerk, fx.hall_id, a, false).await;
    // The counter calls the remote ticket and the day ends with it still called, the walk-in
    // still waiting.
    let first = called(&app, &clerk, fx.hall_id, counter_1).await;
    assert_eq!(first["id"], remote["id"]);

    app.clock.set(shanghai(2026, 11, 17, 9, 0));
    // Before the sweep, yesterday holds the counter and the citizen's live-ticket slot.
    refused(
        &call_next(&app, &clerk, fx.hall_id, counter_1).await,
        StatusCode::CONFLICT,
        "COUNTER_BUSY",
    );
    refused(
        &take(&app, &c.token, HALL, ID_CARD).await,
        StatusCode::CONFLICT,
        "TICKET_ALREADY_LIVE",
    );
    assert_eq!(app.queue.close_past_days().await.unwrap(), 2);
    assert_eq!(app.queue.close_past_days().await.unwrap(), 0, "once");
    for (ticket, by) in [(&remote, Some(&c.token)), (&walk, None)] {
        let id = id(ticket);
        let row = entities::ticket::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.state, TicketState::Cancelled, "{row:?}");
        assert!(row.live_key.is_none());
        if let Some(token) = by {
            let mine = app.get(&format!("/api/v1/tickets/{id}"), Some(token)).await;
            assert_eq!(mine.body["state"], "CANCELLED", "{mine:?}");
        }
        let events = entities::ticket_event::Entity::find()
            .filter(entities::ticket_event::Column::TicketId.eq(id))
            .order_by_asc(entities::ticket_event::Column::Id)
            .all(&app.db)
            .await
            .unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.detail, "closed at the end of its day");
        assert_eq!(last.staff_id, None);
    }
    // Today starts clean: the citizen takes a number, the counter calls it.
    let today = taken(&app, &c.token, HALL, ID_CARD).await;
    assert_eq!(number(&today), "A001");
    let next = called(&app, &clerk, fx.hall_id, counter_1).await;
    assert_eq!(next["id"], today["id"]);
}

#[tokio::test]
async fn a_clerk_cannot_name_a_citizen_and_learns_nothing_of_which_ids_exist() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.unknown", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let c = citizen(&app, 12).await;
    let me = app.get("/api/v1/me", Some(&c.token)).await;
    let real = me.body["id"].as_i64().expect("the citizen's id");
    let issue = |citizen_id: i64| {
        let (app, clerk) = (&app, clerk.clone());
        async move {
            app.post(
                &format!("/staff/v1/halls/{}/tickets", fx.hall_id),
                Some(&clerk),
                &json!({ "categoryId": a, "citizenId": citizen_id }),
            )
            .await
        }
    };
    let (known, unknown) = (issue(real).await, issue(987_654_321).await);
    for reply in [&known, &unknown] {
        refused(reply, StatusCode::BAD_REQUEST, "INVALID_JSON");
    }
    assert_eq!(known.body["message"], unknown.body["message"]);
    let tickets = app.get("/api/v1/tickets", Some(&c.token)).await;
    assert_eq!(tickets.body["tickets"], json!([]), "{tickets:?}");
}

#[tokio::test]
async fn a_walk_in_becomes_a_citizens_by_the_code_they_show() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.codes", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let c = citizen(&app, 13).await;
    let walk_in_with = |code: String| {
        let (app, clerk) = (&app, clerk.clone());
        async move {
            app.post(
                &format!("/staff/v1/halls/{}/tickets", fx.hall_id),
                Some(&clerk),
                &json!({ "categoryId": a, "citizenCode": code }),
            )
            .await
        }
    };
    let show = |token: String| {
        let app = &app;
        async move {
            let reply = app
                .post("/api/v1/citizen-code", Some(&token), &json!({}))
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
            reply.body
        }
    };

    crate::helpers::fresh_minute().await;
    let shown = show(c.token.clone()).await;
    let code = shown["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8, "{shown}");
    assert_eq!(shown["qr"], format!("ZSBCZ:{code}"));
    let expires = chrono::DateTime::parse_from_rfc3339(shown["expiresAt"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let left = expires - app.clock.now();
    assert!(
        left <= chrono::Duration::minutes(5) && left > chrono::Duration::minutes(4),
        "{left}"
    );

    // Scanned: the ticket is the citizen's, in their list, and the code is used up.
    let ticket = walk_in_with(shown["qr"].as_str().unwrap().to_owned()).await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{ticket:?}");
    assert_eq!(ticket.body["source"], "WALK_IN");
    let mine = app.get("/api/v1/tickets", Some(&c.token)).await;
    assert_eq!(mine.body["tickets"][0]["id"], ticket.body["id"], "{mine:?}");
    let again = walk_in_with(code.clone()).await;
    refused(
        &again,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CITIZEN_CODE_INVALID",
    );

    // A new code voids the one before; typed in lower case with a dash, it still reads.
    let old = show(c.token.clone()).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = show(c.token.clone()).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    refused(
        &walk_in_with(old).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CITIZEN_CODE_INVALID",
    );
    let typed = format!("{}-{}", &new[..4], &new[4..]).to_lowercase();
    assert_eq!(walk_in_with(typed).await.status, StatusCode::CREATED);

    // Made-up codes get the same answer as used ones, and a clerk cannot try many.
    for bad in ["ZSBCZ:00000000", "nonsense"] {
        refused(
            &walk_in_with(bad.to_owned()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "CITIZEN_CODE_INVALID",
        );
    }
    let mut limited = None;
    for _ in 0..30 {
        let reply = walk_in_with("ZSBCZ:00000000".to_owned()).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("guessing codes is limited");
    assert_eq!(limited.error_code(), "RATE_LIMITED");
    // Anonymous walk-ins are unaffected.
    walk_in(&app, &clerk, fx.hall_id, a, false).await;
    // A citizen's token is needed for a code, and a staff token is not one.
    assert_eq!(
        app.post("/api/v1/citizen-code", Some(&clerk), &json!({}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// Sets a counter active or not through the hall administrator's API, keeping what it serves.
#[tokio::test]
async fn an_inactive_counter_says_so_when_it_calls() {
    let (app, fx) = start().await;
    let admin = staff(&app, "admin.inactive", Role::Admin, fx.hall_id).await;
    let a = fx.hall.category("A");
    walk_in(&app, &admin, fx.hall_id, a, false).await;
    set_counter_active(&app, &admin, fx.hall_id, 1, &[a], false).await;
    let counter_1 = fx.hall.counter(1);

    let reply = call_next(&app, &admin, fx.hall_id, counter_1).await;
    refused(&reply, StatusCode::CONFLICT, "COUNTER_INACTIVE");
    // A counter of another hall is still not found.
    let elsewhere = call_next(&app, &admin, fx.hall_id, 999_999).await;
    refused(&elsewhere, StatusCode::NOT_FOUND, "COUNTER_NOT_FOUND");

    set_counter_active(&app, &admin, fx.hall_id, 1, &[a], true).await;
    called(&app, &admin, fx.hall_id, counter_1).await;
}

#[tokio::test]
async fn no_remote_ticket_is_given_while_no_active_counter_serves_its_category() {
    let (app, fx) = start().await;
    let admin = staff(&app, "admin.closed", Role::Admin, fx.hall_id).await;
    let a = fx.hall.category("A");
    let c_category = fx.hall.category("C");
    // 不动产 (category C) is served by counter 3 alone.
    set_counter_active(&app, &admin, fx.hall_id, 3, &[a, c_category], false).await;

    let c = citizen(&app, 31).await;
    let reply = take(&app, &c.token, HALL, PROPERTY).await;
    let body = refused(&reply, StatusCode::CONFLICT, "NO_COUNTER_OPEN");
    assert!(body["message"].as_str().unwrap().contains("窗口"), "{body}");
    // Other categories still have their counters.
    let id_card = taken(&app, &c.token, HALL, ID_CARD).await;
    assert_eq!(id_card["estimatedWaitMinutes"], 0, "{id_card}");

    // A walk-in the clerk still issues (their judgement), but with no estimate: nobody can
    // call it, so there is no honest number of minutes.
    let walk = walk_in(&app, &admin, fx.hall_id, c_category, false).await;
    assert_eq!(walk["state"], "WAITING");
    assert!(walk.get("estimatedWaitMinutes").is_none(), "{walk}");
    assert_eq!(walk["ahead"], 0);

    set_counter_active(&app, &admin, fx.hall_id, 3, &[a, c_category], true).await;
    let other = citizen(&app, 32).await;
    let reply = take(&app, &other.token, HALL, PROPERTY).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.body["ahead"], 1);
    assert!(
        reply.body["estimatedWaitMinutes"].as_u64().unwrap() > 0,
        "{reply:?}"
    );
}

#[tokio::test]
async fn a_deactivated_clerks_called_ticket_goes_back_to_the_queue() {
    let (app, fx) = start().await;
    let admin = staff(&app, "admin.returns", Role::Admin, fx.hall_id).await;
    let clerk = staff(&app, "clerk.leaving", Role::Clerk, fx.hall_id).await;
    let colleague = staff(&app, "clerk.staying", Role::Clerk, fx.hall_id).await;
    let clerk_id = app.get("/staff/v1/me", Some(&clerk)).await.body["id"]
        .as_i64()
        .unwrap();
    let counter_1 = fx.hall.counter(1);
    let c = citizen(&app, 41).await;
    let first = taken(&app, &c.token, HALL, ID_CARD).await;
    let later = taken(&app, &citizen(&app, 42).await.token, HALL, ID_CARD).await;
    let call = called(&app, &clerk, fx.hall_id, counter_1).await;
    assert_eq!(call["id"], first["id"]);

    let done = app
        .post(
            &format!("/staff/v1/staff/{clerk_id}/deactivate"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{done:?}");

    // The citizen waits again, first in line, with their number; the counter is free.
    let mine = app
        .get(&format!("/api/v1/tickets/{}", id(&first)), Some(&c.token))
        .await;
    assert_eq!(mine.body["state"], "WAITING", "{mine:?}");
    assert_eq!(mine.body["number"], first["number"]);
    assert_eq!(mine.body["ahead"], 0);
    let desk = app
        .get(
            &format!("/staff/v1/halls/{}/counters/{counter_1}/desk", fx.hall_id),
            Some(&colleague),
        )
        .await;
    assert!(desk.body["ticket"].is_null(), "{desk:?}");
    let next = called(&app, &colleague, fx.hall_id, counter_1).await;
    assert_eq!(next["id"], first["id"]);
    assert_ne!(next["id"], later["id"]);
    let events = entities::ticket_event::Entity::find()
        .filter(entities::ticket_event::Column::TicketId.eq(id(&first)))
        .order_by_asc(entities::ticket_event::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.from_state.as_deref() == Some("CALLED") && e.to_state == "WAITING"),
        "{events:?}"
    );
}

#[tokio::test]
async fn names_are_normalised_and_invisible_characters_never_reach_the_board() {
    let (app, fx) = start().await;
    let admin = staff(&app, "admin.names", Role::Admin, fx.hall_id).await;
    let a = fx.hall.category("A");
    let post = |path: String, body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move { app.post(&path, Some(&admin), &body).await }
    };
    let counters = format!("/staff/v1/halls/{}/counters", fx.hall_id);
    for bad in [
        "10号\u{202E}口窗",
        "10号\u{200B}窗口",
        "\u{115F}",
        "\u{1160}",
        "\u{3164}",
        "\u{FFA0}",
    ] {
        let reply = post(
            counters.clone(),
            json!({ "number": 10, "name": bad, "categories": [{ "categoryId": a, "weight": 1 }] }),
        )
        .await;
        let body = refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert!(body.to_string().contains("name"), "{bad:?}: {body}");
    }
    let category_reply = post(
        format!("/staff/v1/halls/{}/categories", fx.hall_id),
        json!({ "code": "D", "name": "户籍\u{200B}业务", "prefix": "D" }),
    )
    .await;
    refused(
        &category_reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    let staff_reply = post(
        "/staff/v1/staff".to_owned(),
        json!({
            "username": "clerk.rtl", "password": "a long enough password",
            "displayName": "王\u{202E}芳", "roles": [{ "role": "clerk", "hallId": fx.hall_id }],
        }),
    )
    .await;
    refused(
        &staff_reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    let c = citizen(&app, 51).await;
    let identity = app
        .post(
            "/api/v1/me/identity/verifications",
            Some(&c.token),
            &json!({ "name": "张\u{3164}", "idCardNo": crate::helpers::id_card_no(52) }),
        )
        .await;
    refused(&identity, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_NAME");

    // Full-width letters and digits are stored, shown and announced in their plain form.
    let created = post(
        counters.clone(),
        json!({ "number": 10, "name": "Ｂ区１０号窗口", "categories": [{ "categoryId": a, "weight": 1 }] }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["name"], "B区10号窗口");
    let counter_10 = id(&created.body);
    let ticket = walk_in(&app, &admin, fx.hall_id, a, false).await;
    let call = called(&app, &admin, fx.hall_id, counter_10).await;
    assert_eq!(call["id"], ticket["id"]);
    let board = app.get(&format!("/api/v1/halls/{HALL}/board"), None).await;
    let latest = &board.body["calls"][0];
    assert_eq!(latest["counterName"], "B区10号窗口", "{board:?}");
    let announce = latest["announce"].as_str().unwrap();
    assert!(
        !announce
            .chars()
            .any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c) || c == '\u{202E}'),
        "{announce}"
    );
}

/// 14: the board reads a counter by its spoken name, set on the counter admin routes, and by
/// its number when it has none — never by its full name (`5号窗口 公安户政`).
#[tokio::test]
async fn the_call_names_the_counter_by_its_spoken_name_else_its_number() {
    let (app, fx) = start().await;
    let admin = staff(&app, "admin.spoken", Role::Admin, fx.hall_id).await;
    let clerk = staff(&app, "clerk.spoken", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let counters = format!("/staff/v1/halls/{}/counters", fx.hall_id);
    let created = app
        .post(
            &counters,
            Some(&admin),
            &json!({ "number": 5, "name": "5号窗口 公安户政", "categories": [{ "categoryId": a, "weight": 1 }] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert!(created.body["spokenName"].is_null(), "{created:?}");
    let five = id(&created.body);
    let board = || async { app.get(&format!("/api/v1/halls/{HALL}/board"), None).await };

    walk_in(&app, &clerk, fx.hall_id, a, false).await;
    let first = called(&app, &clerk, fx.hall_id, five).await;
    assert_eq!(
        board().await.body["calls"][0]["announce"],
        format!("请{}号到5号窗口办理", number(&first))
    );
    act(
        &app,
        &clerk,
        fx.hall_id,
        five,
        id(&first),
        "serve",
        &json!({}),
    )
    .await;
    act(
        &app,
        &clerk,
        fx.hall_id,
        five,
        id(&first),
        "done",
        &json!({}),
    )
    .await;

    // Too long a spoken name is refused naming the field; a good one is kept and read out.
    let path = format!("{counters}/{five}");
    let body = |spoken: &str| {
        json!({ "number": 5, "name": "5号窗口 公安户政", "spokenName": spoken,
                "categories": [{ "categoryId": a, "weight": 1 }] })
    };
    let long = app.put(&path, Some(&admin), &body(&"长".repeat(21))).await;
    refused(&long, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert!(long.text.contains("spokenName"), "{long:?}");
    let renamed = app.put(&path, Some(&admin), &body("户政窗口")).await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    assert_eq!(renamed.body["spokenName"], "户政窗口");
    let hall = app
        .get(&format!("/staff/v1/halls/{}", fx.hall_id), Some(&admin))
        .await;
    assert!(hall.text.contains("户政窗口"), "{hall:?}");
    // The queue reads counters' names a moment ago (a few seconds' cache).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    walk_in(&app, &clerk, fx.hall_id, a, false).await;
    let second = called(&app, &clerk, fx.hall_id, five).await;
    assert_eq!(
        board().await.body["calls"][0]["announce"],
        format!("请{}号到户政窗口办理", number(&second))
    );
}
