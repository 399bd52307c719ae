//! A slot found full is refused from the instance's memory for at most
//! `services::booking::FULL_FLAG_TTL`, with the answer the database would give; a seat given back
//! on one instance (a cancellation, a hall closing the day) clears the flag on every instance
//! through the store's pub/sub, so the other instance books it (or says the hall is closed) at
//! once, and never later than the bound.
//!
//! "From memory" is shown as the session cache's tests show it: the database is changed behind
//! the gateways' backs (no message published), and the instance still answers from its flag.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, IntoActiveModel as _};
use serde_json::Value;
use services::booking::FULL_FLAG_TTL;

use crate::booking_fixture::{
    Fixture, HALL, PASSPORT, book, booked, cancel, citizen, date, id, monday_nine, refused, seed,
    settings, slot_row, slots,
};
use crate::helpers::{Deployment, Reply, TestApp};

/// Two instances of one deployment, seeded, the clock on Monday 09:00, both subscribed.
async fn two_instances() -> (TestApp, TestApp, Fixture) {
    let deployment = Deployment::new().await;
    let one = deployment.instance(settings).await;
    let two = deployment.instance(settings).await;
    let fixture = seed(&one).await;
    one.clock.set(monday_nine());
    // Instances subscribe to the clears as they start; until then they keep no flags.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (one, two, fixture)
}

/// Sets a slot's seat count behind the gateways' backs (no clear is published).
async fn set_booked(app: &TestApp, slot_id: i64, booked: i32) {
    let mut row = slot_row(&app.db, slot_id).await.into_active_model();
    row.booked = Set(booked);
    row.update(&app.db).await.unwrap();
}

/// An error body without its request id, to compare two answers.
fn without_request_id(reply: &Reply) -> Value {
    let mut body = reply.body.clone();
    body.as_object_mut().unwrap().remove("requestId");
    body
}

/// Books until the answer is no longer `SLOT_FULL`; panics if it still is after the flag's ttl
/// (and a margin for a loaded machine).
async fn until_not_full(app: &TestApp, token: &str, slot_id: i64) -> Reply {
    let deadline = Instant::now() + FULL_FLAG_TTL + Duration::from_secs(2);
    loop {
        let reply = book(app, token, slot_id, PASSPORT).await;
        if reply.body["code"] != "SLOT_FULL" {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "still SLOT_FULL past the flag's ttl: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A full slot of one seat (PASSPORT) on Tuesday, booked by a first citizen through `one`;
/// a second citizen is refused through `flagged`, which raises that instance's flag. Returns
/// the slot, the second citizen's token, when the refusal was sent, and the refusal.
async fn full_and_flagged(one: &TestApp, flagged: &TestApp) -> (i64, String, Instant, Reply) {
    let (first, second) = (citizen(one, 1).await, citizen(one, 2).await);
    let slot = id(&slots(one, &first.token, HALL, PASSPORT, "2026-11-17").await[0]);
    booked(one, &first.token, slot, PASSPORT).await;
    let sent = Instant::now();
    let from_db = book(flagged, &second.token, slot, PASSPORT).await;
    refused(&from_db, StatusCode::CONFLICT, "SLOT_FULL");
    (slot, second.token, sent, from_db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_found_full_is_refused_from_memory_with_the_databases_answer() {
    let (one, _two, _) = two_instances().await;
    let (slot, token, sent, from_db) = full_and_flagged(&one, &one).await;

    // The seat comes back behind the gateway's back: only the flag can still refuse it.
    set_booked(&one, slot, 0).await;
    let from_memory = book(&one, &token, slot, PASSPORT).await;

    if sent.elapsed() < FULL_FLAG_TTL {
        refused(&from_memory, StatusCode::CONFLICT, "SLOT_FULL");
        assert_eq!(
            without_request_id(&from_memory),
            without_request_id(&from_db),
            "the same body from memory as from the database"
        );
    }
    // Past the flag's ttl the database is asked again (and, here, has a seat).
    let reply = until_not_full(&one, &token, slot).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
}

/// One slot found full in the database flags the other full slots of its hall's day with the
/// same read, so that at opening time the refusals after the first are decided from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_found_full_flags_its_full_siblings_of_the_day() {
    let (one, _two, _) = two_instances().await;
    let (first, second, third) = (
        citizen(&one, 1).await,
        citizen(&one, 2).await,
        citizen(&one, 3).await,
    );
    let day = slots(&one, &first.token, HALL, PASSPORT, "2026-11-17").await;
    let (slot, sibling) = (id(&day[0]), id(&day[1]));
    // The sibling fills behind the gateway's back: no instance has found it full yet.
    set_booked(&one, sibling, slot_row(&one.db, sibling).await.capacity).await;
    booked(&one, &first.token, slot, PASSPORT).await;
    let sent = Instant::now();
    refused(
        &book(&one, &second.token, slot, PASSPORT).await,
        StatusCode::CONFLICT,
        "SLOT_FULL",
    );

    // The sibling's seat comes back behind the gateway's back: only its flag refuses it now.
    set_booked(&one, sibling, 0).await;
    let from_memory = book(&one, &third.token, sibling, PASSPORT).await;
    if sent.elapsed() < FULL_FLAG_TTL {
        refused(&from_memory, StatusCode::CONFLICT, "SLOT_FULL");
    }
    let reply = until_not_full(&one, &third.token, sibling).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_on_one_instance_lets_the_other_book_the_seat() {
    let (one, two, _) = two_instances().await;
    let first = citizen(&one, 1).await;
    let second = citizen(&one, 2).await;
    let slot = id(&slots(&one, &first.token, HALL, PASSPORT, "2026-11-17").await[0]);
    let booking = booked(&one, &first.token, slot, PASSPORT).await;
    let sent = Instant::now();
    refused(
        &book(&two, &second.token, slot, PASSPORT).await,
        StatusCode::CONFLICT,
        "SLOT_FULL",
    );
    // The second instance now holds the flag (shown behind its back, while it is fresh).
    set_booked(&one, slot, 0).await;
    if sent.elapsed() < FULL_FLAG_TTL {
        refused(
            &book(&two, &second.token, slot, PASSPORT).await,
            StatusCode::CONFLICT,
            "SLOT_FULL",
        );
    }
    set_booked(&one, slot, 1).await;

    let cancelled = cancel(&one, &first.token, id(&booking)).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    let reply = until_not_full(&two, &second.token, slot).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(slot_row(&one.db, slot).await.booked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_closed_on_one_instance_is_closed_not_full_on_the_other() {
    let (one, two, fixture) = two_instances().await;
    let (slot, token, _, _) = full_and_flagged(&one, &two).await;

    let cancelled = one
        .booking
        .close_day(
            fixture.hall_id,
            services::time::Day::new(date("2026-11-17")).unwrap(),
            "系统升级",
        )
        .await
        .unwrap();

    assert_eq!(cancelled, 1);
    let reply = until_not_full(&two, &token, slot).await;
    refused(&reply, StatusCode::UNPROCESSABLE_ENTITY, "HALL_CLOSED");
}

/// Waits until `app` keeps full flags (it subscribes to their clears as it starts).
async fn flags_live(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.booking.full_flags_live() {
        assert!(Instant::now() < deadline, "never subscribed to the clears");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first refusals of a full slot arrive together (on a fresh instance, or when a flag
/// lapsed): they share one read of the slot's day, decided before the citizen, the rules or the
/// limits are looked at, and every later one is answered from the flag that read raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_of_a_full_slot_on_a_fresh_instance_share_one_read() {
    let deployment = Deployment::new().await;
    let one = deployment.instance(settings).await;
    seed(&one).await;
    one.clock.set(monday_nine());
    let first = citizen(&one, 1).await;
    let slot = id(&slots(&one, &first.token, HALL, PASSPORT, "2026-11-17").await[0]);
    booked(&one, &first.token, slot, PASSPORT).await;
    let second = citizen(&one, 2).await;
    // A fresh instance: it has read nothing of that day yet.
    let fresh = deployment.instance(settings).await;
    flags_live(&fresh).await;
    assert_eq!(fresh.booking.day_reads(), 0);

    let replies =
        futures::future::join_all((0..64).map(|_| book(&fresh, &second.token, slot, PASSPORT)))
            .await;

    for reply in &replies {
        refused(reply, StatusCode::CONFLICT, "SLOT_FULL");
    }
    assert_eq!(
        fresh.booking.day_reads(),
        1,
        "64 concurrent refusals of one full slot made one read of its day"
    );
}
