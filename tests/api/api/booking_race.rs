//! The rush after a release, against two gateway instances of one deployment sharing the
//! database and the store: seats are never oversold, a citizen never holds two bookings of an
//! item on one day, a move between slots never leaves the mover with none or two, a double tap
//! with one `Idempotency-Key` books once, and a booking changed by its citizen and by its hall
//! at the same moment ends exactly once.
//!
//! The suite runs these on SQLite with fewer citizens (one writer at a time, so they prove
//! little there besides "no `database is locked`"); on PostgreSQL + Redis
//! (`APP_TEST_DATABASE_URL`, `APP_TEST_REDIS_URL`) they run at full size, and that run is the
//! proof.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt as _;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use tokio::sync::Barrier;

use crate::booking_fixture::{
    HALL, ID_CARD, PROPERTY, PROPERTY_SEATS, book, book_with_key, cancel, citizen, date, id,
    message_kinds, monday_nine, refused, reschedule, seed, settings, shanghai, slot_row, slots,
};
use crate::helpers::{Citizen, Deployment, Reply, TestApp, postgres_admin_url};

/// The full number on PostgreSQL, a smaller one on SQLite (each race there stays well under
/// 20 s on two cores).
fn scale(full: usize, sqlite: usize) -> usize {
    if postgres_admin_url().is_some() {
        full
    } else {
        sqlite
    }
}

/// Two instances of one deployment, seeded, the clock on Monday 09:00.
async fn two_instances() -> [Arc<TestApp>; 2] {
    let deployment = Deployment::new().await;
    let first = deployment.instance(settings).await;
    let second = deployment.instance(settings).await;
    seed(&first).await;
    first.clock.set(monday_nine());
    [Arc::new(first), Arc::new(second)]
}

/// `n` citizens with identities, logged in through alternating instances.
async fn citizens(apps: &[Arc<TestApp>; 2], first: usize, n: usize) -> Vec<Citizen> {
    futures::stream::iter(first..first + n)
        .map(|i| citizen(&apps[i % 2], u32::try_from(i).unwrap()))
        .buffered(16)
        .collect()
        .await
}

fn citizen_id(c: &Citizen) -> i64 {
    c.id()
}

/// Live bookings of one citizen, from the database.
async fn live_of(app: &TestApp, citizen_id: i64) -> Vec<entities::booking::Model> {
    entities::booking::Entity::find()
        .filter(entities::booking::Column::CitizenId.eq(citizen_id))
        .filter(entities::booking::Column::Status.eq("BOOKED"))
        .all(&app.db)
        .await
        .unwrap()
}

async fn live_in(app: &TestApp, slot_id: i64) -> Vec<entities::booking::Model> {
    entities::booking::Entity::find()
        .filter(entities::booking::Column::SlotId.eq(slot_id))
        .filter(entities::booking::Column::Status.eq("BOOKED"))
        .all(&app.db)
        .await
        .unwrap()
}

/// A reply's code for a refusal, or `CREATED`; anything else (a 500 "database is locked" …)
/// fails the test with the reply.
fn outcome(reply: &Reply, allowed: &[&str]) -> String {
    if reply.status == StatusCode::CREATED {
        return "CREATED".to_owned();
    }
    let code = reply.error_code().to_owned();
    assert!(allowed.contains(&code.as_str()), "unexpected: {reply:?}");
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rush_on_a_slot_fills_exactly_its_seats() {
    let apps = two_instances().await;
    let n = scale(200, 60);
    let crowd = citizens(&apps, 0, n).await;
    let slot = id(&slots(&apps[0], &crowd[0].token, HALL, PROPERTY, "2026-11-17").await[0]);
    // The other instance reads the hall too, so both are warm when the gate opens.
    slots(&apps[1], &crowd[1].token, HALL, PROPERTY, "2026-11-17").await;
    let gate = Arc::new(Barrier::new(n));

    let tasks: Vec<_> = crowd
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (app, gate, token) = (Arc::clone(&apps[i % 2]), Arc::clone(&gate), c.token.clone());
            tokio::spawn(async move {
                gate.wait().await;
                book(&app, &token, slot, PROPERTY).await
            })
        })
        .collect();
    let replies: Vec<Reply> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let outcomes: Vec<String> = replies.iter().map(|r| outcome(r, &["SLOT_FULL"])).collect();
    let won: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(won.len() as i64, PROPERTY_SEATS, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| *o == "SLOT_FULL").count(),
        n - won.len()
    );
    let row = slot_row(&apps[0].db, slot).await;
    assert_eq!(i64::from(row.booked), PROPERTY_SEATS);
    assert_eq!(row.booked, row.capacity);
    let live = live_in(&apps[0], slot).await;
    assert_eq!(live.len() as i64, PROPERTY_SEATS);
    let holders: HashSet<i64> = live.iter().map(|b| b.citizen_id).collect();
    assert_eq!(holders.len(), live.len(), "nobody holds two seats");
    let codes: HashSet<&str> = won
        .iter()
        .map(|r| r.body["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), won.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_citizen_booking_the_same_day_twenty_times_at_once_gets_one() {
    let apps = two_instances().await;
    let c = citizens(&apps, 0, 1).await.remove(0);
    let day = slots(&apps[0], &c.token, HALL, PROPERTY, "2026-11-17").await;
    slots(&apps[1], &c.token, HALL, PROPERTY, "2026-11-17").await;
    let gate = Arc::new(Barrier::new(20));

    // Twenty taps spread over the day's 13 slots, through both instances.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (app, gate, token) = (Arc::clone(&apps[i % 2]), Arc::clone(&gate), c.token.clone());
            let slot = id(&day[i % day.len()]);
            tokio::spawn(async move {
                gate.wait().await;
                book(&app, &token, slot, PROPERTY).await
            })
        })
        .collect();
    let replies: Vec<Reply> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let outcomes: Vec<String> = replies
        .iter()
        .map(|r| outcome(r, &["ALREADY_BOOKED"]))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "CREATED").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(live_of(&apps[0], citizen_id(&c)).await.len(), 1);
    let mut seats = 0;
    for s in &day {
        seats += slot_row(&apps[0].db, id(s)).await.booked;
    }
    assert_eq!(seats, 1, "the refused attempts gave their seats back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_back_and_forth_during_a_rush_keeps_one_booking_and_honest_seats() {
    let apps = two_instances().await;
    let others = scale(100, 40);
    let mover = citizens(&apps, 0, 1).await.remove(0);
    let crowd = citizens(&apps, 1, others).await;
    let day = slots(&apps[0], &mover.token, HALL, PROPERTY, "2026-11-17").await;
    slots(&apps[1], &mover.token, HALL, PROPERTY, "2026-11-17").await;
    let pair = [id(&day[0]), id(&day[1])];
    let first = book(&apps[0], &mover.token, pair[0], PROPERTY).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let gate = Arc::new(Barrier::new(others + 1));

    let rush: Vec<_> = crowd
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (app, gate, token) = (Arc::clone(&apps[i % 2]), Arc::clone(&gate), c.token.clone());
            let slot = pair[i % 2];
            tokio::spawn(async move {
                gate.wait().await;
                // Whoever wins changes their mind twice: seats keep coming free in the rush.
                for attempt in 0..3 {
                    let reply = book(&app, &token, slot, PROPERTY).await;
                    if outcome(&reply, &["SLOT_FULL"]) != "CREATED" {
                        continue;
                    }
                    if attempt == 2 {
                        return Some(id(&reply.body));
                    }
                    let cancelled = cancel(&app, &token, id(&reply.body)).await;
                    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
                }
                None
            })
        })
        .collect();
    let moves = {
        let (apps, gate, token) = (apps.clone(), Arc::clone(&gate), mover.token.clone());
        let mover_id = citizen_id(&mover);
        let mut current = (id(&first.body), 0);
        tokio::spawn(async move {
            gate.wait().await;
            let mut moved = 0;
            for round in 0..20 {
                let app = &apps[round % 2];
                let target = 1 - current.1;
                let reply = reschedule(app, &token, current.0, pair[target]).await;
                if outcome(&reply, &["SLOT_FULL"]) == "CREATED" {
                    current = (id(&reply.body), target);
                    moved += 1;
                }
                // At every end of a move, won or lost: exactly one live booking, the one we hold.
                let live = live_of(app, mover_id).await;
                assert_eq!(live.len(), 1, "after round {round}: {live:?}");
                assert_eq!(live[0].id, current.0);
                assert_eq!(live[0].slot_id, pair[current.1]);
            }
            moved
        })
    };
    let kept: Vec<Option<i64>> = futures::future::join_all(rush)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let moved = moves.await.unwrap();

    let won = kept.iter().flatten().count();
    let mut booked = 0;
    for slot in pair {
        let row = slot_row(&apps[0].db, slot).await;
        assert!(row.booked <= row.capacity, "{row:?}");
        assert_eq!(
            usize::try_from(row.booked).unwrap(),
            live_in(&apps[0], slot).await.len(),
            "{row:?}"
        );
        booked += usize::try_from(row.booked).unwrap();
    }
    assert_eq!(
        booked,
        won + 1,
        "the crowd's seats and the mover's, nothing lost"
    );
    assert_eq!(live_of(&apps[0], citizen_id(&mover)).await.len(), 1);
    eprintln!("mover moved {moved} times of 20; the crowd took {won} seats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_double_tap_with_one_idempotency_key_books_once() {
    let apps = two_instances().await;
    let c = citizens(&apps, 0, 1).await.remove(0);
    let slot = id(&slots(&apps[0], &c.token, HALL, ID_CARD, "2026-11-17").await[0]);
    slots(&apps[1], &c.token, HALL, ID_CARD, "2026-11-17").await;
    let gate = Arc::new(Barrier::new(10));

    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (app, gate, token) = (Arc::clone(&apps[i % 2]), Arc::clone(&gate), c.token.clone());
            tokio::spawn(async move {
                gate.wait().await;
                book_with_key(&app, &token, "tap-2b7e", slot, ID_CARD).await
            })
        })
        .collect();
    let replies: Vec<Reply> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{replies:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        9,
        "{replies:?}"
    );
    let ids: HashSet<i64> = replies.iter().map(|r| id(&r.body)).collect();
    assert_eq!(ids.len(), 1, "every answer is the one booking");
    assert_eq!(slot_row(&apps[0].db, slot).await.booked, 1);
    assert_eq!(live_of(&apps[0], citizen_id(&c)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_and_moving_one_booking_at_once_lets_exactly_one_win() {
    let apps = two_instances().await;
    let crowd = citizens(&apps, 0, 8).await;
    let day = slots(&apps[0], &crowd[0].token, HALL, ID_CARD, "2026-11-17").await;
    slots(&apps[1], &crowd[0].token, HALL, ID_CARD, "2026-11-17").await;
    let (from, to) = (id(&day[0]), id(&day[1]));

    let mut moved = 0;
    for c in &crowd {
        let b = book(&apps[0], &c.token, from, ID_CARD).await;
        assert_eq!(b.status, StatusCode::CREATED, "{b:?}");
        let (cancelled, rescheduled) = tokio::join!(
            cancel(&apps[0], &c.token, id(&b.body)),
            reschedule(&apps[1], &c.token, id(&b.body), to)
        );
        match (cancelled.status, rescheduled.status) {
            (StatusCode::OK, _) => {
                refused(&rescheduled, StatusCode::CONFLICT, "BOOKING_NOT_CHANGEABLE");
                assert!(live_of(&apps[0], citizen_id(c)).await.is_empty());
            }
            (_, StatusCode::CREATED) => {
                refused(&cancelled, StatusCode::CONFLICT, "BOOKING_NOT_CHANGEABLE");
                assert_eq!(live_of(&apps[0], citizen_id(c)).await.len(), 1);
                moved += 1;
            }
            _ => panic!("neither won: {cancelled:?} {rescheduled:?}"),
        }
    }

    for slot in [from, to] {
        let row = slot_row(&apps[0].db, slot).await;
        assert_eq!(
            usize::try_from(row.booked).unwrap(),
            live_in(&apps[0], slot).await.len(),
            "{row:?}"
        );
    }
    assert_eq!(slot_row(&apps[0].db, from).await.booked, 0);
    assert_eq!(slot_row(&apps[0].db, to).await.booked, moved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_running_the_worker_at_once_mark_a_no_show_once() {
    let apps = two_instances().await;
    let c = citizens(&apps, 0, 1).await.remove(0);
    let slot = id(&slots(&apps[0], &c.token, HALL, ID_CARD, "2026-11-17").await[0]);
    let b = book(&apps[0], &c.token, slot, ID_CARD).await;
    assert_eq!(b.status, StatusCode::CREATED, "{b:?}");
    apps[0].clock.set(shanghai(2026, 11, 17, 9, 31));

    let (one, other) = (apps[0].booking.worker(), apps[1].booking.worker());
    let (first, second) = tokio::join!(one.run_once(), other.run_once());

    assert_eq!(first.unwrap().no_shows + second.unwrap().no_shows, 1);
    assert_eq!(
        message_kinds(&apps[1], &c.token).await,
        ["booking_no_show", "booking_confirmed"]
    );
}

/// A hall closes a day while its citizens cancel or move their bookings of it: every booking
/// ends exactly once, by its citizen or by the hall, and neither side fails. On PostgreSQL this
/// is a question of lock order (slot rows before booking rows, in every transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hall_closing_a_day_while_its_citizens_cancel_or_move_ends_each_booking_once() {
    let apps = two_instances().await;
    let n = scale(36, 24);
    let crowd = citizens(&apps, 0, n).await;
    let closing_day = slots(&apps[0], &crowd[0].token, HALL, ID_CARD, "2026-11-18").await;
    let next_day = slots(&apps[1], &crowd[0].token, HALL, ID_CARD, "2026-11-19").await;
    let mut bookings = Vec::new();
    for (i, c) in crowd.iter().enumerate() {
        let slot = id(&closing_day[i % closing_day.len()]);
        let b = book(&apps[i % 2], &c.token, slot, ID_CARD).await;
        assert_eq!(b.status, StatusCode::CREATED, "{b:?}");
        bookings.push(id(&b.body));
    }
    let gate = Arc::new(Barrier::new(n + 1));

    // Even citizens cancel, odd ones move to the next day.
    let changes: Vec<_> = crowd
        .iter()
        .zip(&bookings)
        .enumerate()
        .map(|(i, (c, &b))| {
            let (app, gate, token) = (Arc::clone(&apps[i % 2]), Arc::clone(&gate), c.token.clone());
            let to = id(&next_day[i % next_day.len()]);
            tokio::spawn(async move {
                gate.wait().await;
                if i % 2 == 0 {
                    cancel(&app, &token, b).await
                } else {
                    reschedule(&app, &token, b, to).await
                }
            })
        })
        .collect();
    let closing = {
        let (service, gate) = (apps[0].booking.clone(), Arc::clone(&gate));
        let hall_id = hall_id(&apps[0]).await;
        tokio::spawn(async move {
            gate.wait().await;
            service
                .close_day(
                    hall_id,
                    services::time::Day::new(date("2026-11-18")).unwrap(),
                    "停电检修",
                )
                .await
        })
    };
    let replies: Vec<Reply> = futures::future::join_all(changes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let closed = closing.await.unwrap();

    let by_hall = closed.unwrap_or_else(|e| panic!("closing the day failed: {e:?}"));
    let mut by_citizen = 0;
    for reply in &replies {
        if reply.status.is_success() {
            by_citizen += 1;
        } else {
            refused(reply, StatusCode::CONFLICT, "BOOKING_NOT_CHANGEABLE");
        }
    }
    assert_eq!(by_citizen + by_hall, n, "each booking ended once");
    for (c, b) in crowd.iter().zip(&bookings) {
        let row = entities::booking::Entity::find_by_id(*b)
            .one(&apps[0].db)
            .await
            .unwrap()
            .unwrap();
        let kinds = message_kinds(&apps[0], &c.token).await;
        let live = live_of(&apps[0], citizen_id(c)).await;
        match row.status.as_str() {
            "CANCELLED" => {
                assert_eq!(kinds, ["booking_confirmed"]);
                assert!(live.is_empty());
            }
            "RESCHEDULED" => {
                assert_eq!(kinds, ["booking_confirmed", "booking_confirmed"]);
                assert_eq!(live.len(), 1);
                assert_eq!(row.rescheduled_to, Some(live[0].id));
            }
            "CANCELLED_BY_HALL" => {
                assert_eq!(kinds, ["booking_cancelled_by_hall", "booking_confirmed"]);
                assert!(live.is_empty());
            }
            other => panic!("booking {b} ended {other}"),
        }
    }
    for s in &next_day {
        let row = slot_row(&apps[0].db, id(s)).await;
        assert_eq!(
            usize::try_from(row.booked).unwrap(),
            live_in(&apps[0], row.id).await.len()
        );
    }
}

async fn hall_id(app: &TestApp) -> i64 {
    entities::hall::Entity::find()
        .filter(entities::hall::Column::Code.eq(HALL))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id
}
