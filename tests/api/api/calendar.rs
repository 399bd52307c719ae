//! The working-day calendar: a global admin loads a year as text, bad text is refused naming its
//! line, and citizens read which dates the halls work.

use miniprogram_api::calendar::{CalendarDay, CalendarDays, CalendarYear, DayKind};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use services::calendar::DEMO_2026;
use services::staff::{HallScope, Role};

use crate::halls::{create_hall, global_admin, staff_token};
use crate::helpers::{Reply, TestApp};

async fn put_year(app: &TestApp, token: &str, year: i32, text: &str) -> Reply {
    app.send(
        app.http
            .put(app.url(&format!("/staff/v1/calendar/{year}")))
            .bearer_auth(token)
            .header("content-type", "text/plain; charset=utf-8")
            .body(text.to_owned()),
    )
    .await
}

fn day<'a>(days: &'a CalendarDays, date: &str) -> &'a CalendarDay {
    days.days
        .iter()
        .find(|d| d.date.to_string() == date)
        .unwrap_or_else(|| panic!("{date} not listed"))
}

#[tokio::test]
async fn a_loaded_year_moves_working_days_for_everyone() {
    let app = TestApp::spawn().await;
    let admin = global_admin(&app).await;

    // Before any year is loaded, only the weekdays decide.
    let listed: CalendarDays = app
        .get("/api/v1/calendar?from=2026-10-01&to=2026-10-10", None)
        .await
        .ok();
    assert!(day(&listed, "2026-10-01").is_working_day);
    assert!(!day(&listed, "2026-10-10").is_working_day);

    let loaded: CalendarYear = put_year(&app, &admin, 2026, DEMO_2026).await.ok();
    assert_eq!(loaded.year, 2026);
    assert_eq!(loaded.entries.len(), 33 + 6);
    assert!(loaded.loaded_by.is_some(), "{loaded:?}");

    let stored: CalendarYear = app.get("/staff/v1/calendar/2026", Some(&admin)).await.ok();
    assert_eq!(stored.source, DEMO_2026);
    let national_day = stored
        .entries
        .iter()
        .find(|e| e.date.to_string() == "2026-10-01")
        .unwrap();
    assert_eq!(national_day.kind, DayKind::Holiday);
    assert_eq!(national_day.note, "国庆节");

    // 国庆节: Thursday 1 October off, Saturday 10 October a make-up working day.
    let reply = app
        .get("/api/v1/calendar?from=2026-09-28&to=2026-10-11", None)
        .await;
    // The exact shape: an ordinary day has no `holiday` key at all.
    assert!(
        reply
            .body
            .get("days")
            .and_then(|d| d.get(0))
            .is_some_and(|monday| monday.get("holiday").is_none()),
        "{reply:?}"
    );
    let listed: CalendarDays = reply.ok();
    assert_eq!(listed.days.len(), 14);
    let monday = day(&listed, "2026-09-28");
    assert!(monday.is_working_day);
    assert_eq!(monday.weekday, 1);
    assert!(monday.holiday.is_none());
    let thursday = day(&listed, "2026-10-01");
    assert!(!thursday.is_working_day);
    assert_eq!(thursday.holiday.as_deref(), Some("国庆节"));
    assert_eq!(thursday.kind, Some(DayKind::Holiday));
    let saturday = day(&listed, "2026-10-10");
    assert_eq!(saturday.weekday, 6);
    assert!(saturday.is_working_day);
    assert_eq!(saturday.kind, Some(DayKind::Workday));
    assert!(saturday.holiday.is_none());
    assert!(!day(&listed, "2026-10-11").is_working_day);

    // Loading the year again replaces it.
    let reply = put_year(&app, &admin, 2026, "2026-10-01 holiday 国庆节").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let listed: CalendarDays = app
        .get("/api/v1/calendar?from=2026-10-10&to=2026-10-10", None)
        .await
        .ok();
    assert!(!day(&listed, "2026-10-10").is_working_day);
}

#[tokio::test]
async fn bad_calendar_text_is_refused_naming_the_line() {
    let app = TestApp::spawn().await;
    let admin = global_admin(&app).await;

    let reply = put_year(&app, &admin, 2026, "2026-10-01 holiday\n2026-13-01 holiday").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    let error = reply.error();
    assert_eq!(error.code, "CALENDAR_INVALID");
    let message = error.message;
    assert!(message.contains("第2行"), "{message}");

    let reply = put_year(&app, &admin, 2026, "2026-10-01 vacation").await;
    let error = reply.error();
    assert_eq!(error.code, "CALENDAR_INVALID");
    assert!(error.message.contains("vacation"), "{error:?}");

    let reply = put_year(&app, &admin, 2026, "# nothing\n").await;
    assert_eq!(reply.error_code(), "CALENDAR_INVALID");

    // The data of 2026 is not the data of 2027.
    let reply = put_year(&app, &admin, 2027, DEMO_2026).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    let error = reply.error();
    assert_eq!(error.code, "CALENDAR_INVALID");
    let message = error.message;
    assert!(
        message.contains("2026") && message.contains("2027"),
        "{message}"
    );

    // Nothing was stored.
    let reply = app.get("/staff/v1/calendar/2026", Some(&admin)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
    assert_eq!(reply.error_code(), "NOT_FOUND");

    // Not text, too large, not a global admin.
    let reply = app
        .send(
            app.http
                .put(app.url("/staff/v1/calendar/2026"))
                .bearer_auth(&admin)
                .json(&serde_json::json!({ "text": DEMO_2026 })),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{reply:?}"
    );
    assert_eq!(reply.error_code(), "UNSUPPORTED_MEDIA_TYPE");
    let huge = format!("{DEMO_2026}{}", "# padding\n".repeat(7000));
    let reply = put_year(&app, &admin, 2026, &huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{reply:?}");
    assert_eq!(reply.error_code(), "PAYLOAD_TOO_LARGE");
    let admin_token = admin;
    let hall = create_hall(&app, &admin_token, "HZ-CAL").await;
    let hall_admin = staff_token(&app, vec![(Role::Admin, HallScope::Hall(hall))]).await;
    let reply = put_year(&app, &hall_admin, 2026, DEMO_2026).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    assert_eq!(reply.error_code(), "FORBIDDEN");
    let reply = put_year(&app, &admin_token, 1999, "1999-10-01 holiday").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert_eq!(reply.error_code(), "VALIDATION_FAILED");
}

#[tokio::test]
async fn the_public_calendar_lists_at_most_62_days() {
    let app = TestApp::spawn().await;
    let reply = app
        .get("/api/v1/calendar?from=2026-01-01&to=2026-03-03", None)
        .await;
    assert_eq!(reply.ok::<CalendarDays>().days.len(), 62);

    for query in [
        "from=2026-01-01&to=2026-03-04",
        "from=2026-01-02&to=2026-01-01",
    ] {
        let reply = app.get(&format!("/api/v1/calendar?{query}"), None).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
        assert_eq!(reply.error_code(), "VALIDATION_FAILED");
    }
    for query in ["from=2026-02-30&to=2026-03-01", "from=2026-01-01", ""] {
        let reply = app.get(&format!("/api/v1/calendar?{query}"), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}: {reply:?}");
        assert_eq!(reply.error_code(), "BAD_REQUEST");
    }
}

/// 17: a year with no loaded calendar is not guessed from its weekdays. Its days are not
/// released (no `releasesAt`: when is not known), `/readyz` warns, and the booking worker logs
/// it once a day until the year is loaded. Years far from the other tests' (2030, 2031) keep
/// this test's log lines apart from theirs.
#[tokio::test]
async fn the_days_of_a_year_without_calendar_are_not_released_and_operators_are_told() {
    use crate::booking_fixture::{HALL, ID_CARD, citizen, day, days, seed, settings, shanghai};
    let app = crate::helpers::Deployment::new()
        .await
        .instance(settings)
        .await;
    seed(&app).await;
    let admin = global_admin(&app).await;
    let reply = put_year(&app, &admin, 2030, "2030-10-01 holiday 国庆节\n").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // Monday 30 December 2030: the window runs into 2031, which nobody loaded.
    app.clock.set(shanghai(2030, 12, 30, 9, 0));
    let c = citizen(&app, 1).await;
    let listed = days(&app, &c.token, HALL, ID_CARD, "2030-12-31", "2031-01-06").await;
    assert_eq!(day(&listed, "2030-12-31")["state"], "OPEN");
    for date in ["2031-01-01", "2031-01-02", "2031-01-03", "2031-01-06"] {
        let d = day(&listed, date);
        assert_eq!(d["state"], "NOT_RELEASED", "{date}: {d}");
        assert!(d.get("releasesAt").is_none(), "{date}: {d}");
        assert_eq!(d["slots"].as_array().unwrap().len(), 0);
    }
    // Audits "nothing is cut for a year without calendar": the slot rows, not only what the
    // availability route shows.
    let no_slots = entities::slot::Entity::find()
        .filter(entities::slot::Column::Day.gte(crate::booking_fixture::date("2031-01-01")))
        .all(&app.db)
        .await
        .unwrap();
    assert!(no_slots.is_empty(), "nothing cut for 2031: {no_slots:?}");

    // /readyz: still ready, with the warning (the admin listener's JSON, no wire type).
    let ready = app.admin_get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    assert_eq!(ready.body["calendar"]["status"], "missing", "{ready:?}");
    assert_eq!(
        ready.body["calendar"]["missingYears"],
        serde_json::json!([2031])
    );

    // The log: once a day, however many rounds.
    let logged = || {
        crate::helpers::captured_logs()
            .lines()
            .filter(|l| l.contains("no working-day calendar loaded for [2031]"))
            .count()
    };
    let worker = app.booking.worker();
    worker.run_once().await.unwrap();
    worker.run_once().await.unwrap();
    assert_eq!(logged(), 1);
    app.clock.advance(chrono::Duration::days(1));
    worker.run_once().await.unwrap();
    assert_eq!(logged(), 2);

    // Loaded: 元旦 is closed, the next day open, and nobody is told any more.
    let reply = put_year(&app, &admin, 2031, "2031-01-01 holiday 元旦\n").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    app.clock.set(shanghai(2030, 12, 30, 9, 0));
    let listed = days(&app, &c.token, HALL, ID_CARD, "2030-12-31", "2031-01-06").await;
    assert_eq!(day(&listed, "2031-01-01")["state"], "CLOSED");
    assert_eq!(day(&listed, "2031-01-02")["state"], "OPEN");
    let ready = app.admin_get("/readyz").await;
    assert_eq!(ready.body["calendar"]["status"], "ok", "{ready:?}");
    app.clock.advance(chrono::Duration::days(3));
    worker.run_once().await.unwrap();
    assert_eq!(logged(), 2);
}
