//! The queue across two gateway instances sharing the database and the store: twenty counters
//! calling at once never call one ticket twice and keep each category's order, and a socket on
//! one instance hears a call made on the other.
//!
//! On SQLite the race runs smaller (one writer at a time, so it proves little there besides "no
//! `database is locked`"); on PostgreSQL + Redis it runs at full size, and that run is the
//! proof.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _,
};
use serde_json::{Value, json};
use services::queue::TicketState;
use services::staff::Role;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::booking_fixture::{HALL, ID_CARD, citizen, id, monday_nine, seed, settings};
use crate::helpers::{Deployment, TestApp, postgres_admin_url};
use crate::queue_fixture::{act, call_next, called, set_counter_active, staff, taken, walk_in};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
) -> Result<Socket, tungstenite::Error> {
    let url = format!("{}{path}", app.address.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    Ok(tokio_tungstenite::connect_async(request).await?.0)
}

/// The next JSON text frame (pings are answered by the client as it reads).
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket stays open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

/// The board's next frame that is not a `waiting` recount: a recount may come at any time (each
/// change of the line sends one, coalesced), so a test waiting for a call skips them; any other
/// frame is returned, so a missing or wrong call still fails.
async fn next_board_event(socket: &mut Socket) -> Value {
    loop {
        let frame = next_json(socket).await;
        if frame["type"] != "waiting" {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_socket_on_one_instance_hears_a_call_made_on_the_other() {
    let deployment = Deployment::new().await;
    let one = deployment.instance(settings).await;
    let two = deployment.instance(settings).await;
    let fx = seed(&one).await;
    one.clock.set(monday_nine());
    let clerk = staff(&two, "clerk.live", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let counter1 = fx.hall.counter(1);
    let before = walk_in(&two, &clerk, fx.hall_id, a, false).await;
    one.clock.advance(chrono::Duration::seconds(1));
    let c = citizen(&one, 20).await;
    let mine = taken(&one, &c.token, HALL, ID_CARD).await;

    let refused = connect(&one, &format!("/api/v1/tickets/{}/live", id(&mine)), None).await;
    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("a socket without a token is refused: {other:?}"),
    }
    let mut ticket = connect(
        &one,
        &format!("/api/v1/tickets/{}/live", id(&mine)),
        Some(&c.token),
    )
    .await
    .unwrap();
    let hello = next_json(&mut ticket).await;
    assert_eq!(
        (hello["type"].as_str(), hello["ticket"]["ahead"].as_u64()),
        (Some("ticket"), Some(1)),
        "{hello}"
    );
    let mut board = connect(&one, &format!("/api/v1/halls/{HALL}/board/live"), None)
        .await
        .unwrap();
    assert_eq!(next_json(&mut board).await["type"], "board");

    // A call on the other instance: the citizen moves up, the board announces.
    let first = called(&two, &clerk, fx.hall_id, counter1).await;
    assert_eq!(first["id"], before["id"]);
    let moved = next_json(&mut ticket).await;
    assert_eq!(
        (moved["type"].as_str(), moved["ahead"].as_u64()),
        (Some("position"), Some(0)),
        "{moved}"
    );
    let call = next_json(&mut board).await;
    assert_eq!(call["type"], "call", "{call}");
    assert_eq!(call["call"]["announce"], "请A001号到1号窗口办理");
    let recount = next_json(&mut board).await;
    assert_eq!(recount["type"], "waiting", "{recount}");

    act(
        &two,
        &clerk,
        fx.hall_id,
        counter1,
        id(&first),
        "no-show",
        &json!({}),
    )
    .await;
    called(&two, &clerk, fx.hall_id, counter1).await;
    let mine_called = next_json(&mut ticket).await;
    assert_eq!(mine_called["type"], "ticket", "{mine_called}");
    assert_eq!(mine_called["ticket"]["state"], "CALLED");
    assert_eq!(mine_called["ticket"]["counterNumber"], 1);
    let call = next_board_event(&mut board).await;
    assert_eq!(call["type"], "call", "{call}");
    assert_eq!(call["call"]["number"], mine["number"]);
    // The polling endpoint says the same.
    let polled = one.get("/api/v1/halls/SZ-SMZX/board", None).await;
    assert_eq!(
        polled.body["calls"][0]["number"], mine["number"],
        "{polled:?}"
    );
    ticket.send(Message::Close(None)).await.ok();
}

/// The waiting counts of a `waiting` frame, by prefix.
fn counts(frame: &Value) -> BTreeMap<String, u64> {
    assert_eq!(frame["type"], "waiting", "{frame}");
    frame["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["prefix"].as_str().unwrap().to_owned(),
                c["waiting"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// 13: the board's socket sends the waiting counts whenever one changes — a walk-in or a remote
/// ticket taken, a call, a cancellation — whichever instance made the change, and nothing when
/// no count moved (a ticket served and done).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_board_hears_every_change_of_a_waiting_count_from_either_instance() {
    let deployment = Deployment::new().await;
    let one = deployment.instance(settings).await;
    let two = deployment.instance(settings).await;
    let fx = seed(&one).await;
    one.clock.set(monday_nine());
    let clerk = staff(&two, "clerk.counts", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let b = fx.hall.category("B");
    let counter1 = fx.hall.counter(1);
    let mut board = connect(&one, &format!("/api/v1/halls/{HALL}/board/live"), None)
        .await
        .unwrap();
    let hello = next_json(&mut board).await;
    assert_eq!(hello["type"], "board");
    let zero = |frame: &Value| {
        frame["board"]["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["waiting"] == 0)
    };
    assert!(zero(&hello), "{hello}");
    let expect = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        let mut all: BTreeMap<String, u64> = ["A", "B", "C"]
            .iter()
            .map(|p| ((*p).to_owned(), 0))
            .collect();
        for (p, n) in pairs {
            all.insert((*p).to_owned(), *n);
        }
        all
    };

    // A walk-in on the other instance, a remote ticket on this one.
    let first = walk_in(&two, &clerk, fx.hall_id, a, false).await;
    assert_eq!(counts(&next_json(&mut board).await), expect(&[("A", 1)]));
    let c = citizen(&one, 21).await;
    let remote = taken(&one, &c.token, HALL, ID_CARD).await;
    assert_eq!(counts(&next_json(&mut board).await), expect(&[("A", 2)]));
    walk_in(&two, &clerk, fx.hall_id, b, false).await;
    assert_eq!(
        counts(&next_json(&mut board).await),
        expect(&[("A", 2), ("B", 1)])
    );

    // A call: the announcement, then the count.
    let called_first = called(&two, &clerk, fx.hall_id, counter1).await;
    assert_eq!(called_first["id"], first["id"]);
    assert_eq!(next_json(&mut board).await["type"], "call");
    assert_eq!(
        counts(&next_json(&mut board).await),
        expect(&[("A", 1), ("B", 1)])
    );
    // Served and done: no count moves, so the next frame is the cancellation's.
    for action in ["serve", "done"] {
        let reply = act(
            &two,
            &clerk,
            fx.hall_id,
            counter1,
            id(&first),
            action,
            &json!({}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let reply = one
        .post(
            &format!("/api/v1/tickets/{}/cancel", id(&remote)),
            Some(&c.token),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(counts(&next_json(&mut board).await), expect(&[("B", 1)]));
    board.send(Message::Close(None)).await.ok();
}

/// The full number on PostgreSQL, a smaller one on SQLite.
fn scale(full: usize, sqlite: usize) -> usize {
    if postgres_admin_url().is_some() {
        full
    } else {
        sqlite
    }
}

#[derive(Debug, Clone)]
struct Call {
    ticket: i64,
    category: i64,
    order: (i32, chrono::DateTime<chrono::Utc>, i64),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_counters_calling_at_once_call_every_ticket_exactly_once_in_order() {
    let tickets = scale(2000, 200);
    let deployment = Deployment::new().await;
    // One clerk's session drives every counter here: lift the per-session request budget.
    let busy = |s: &mut gateway::configuration::Settings| {
        settings(s);
        s.staff.requests_per_minute = 1_000_000;
    };
    // Idle connections are dropped by the client before actix's 5 s keep-alive closes them, so
    // a loaded machine never has a call sent on a connection the server is closing.
    let instance = async || {
        let mut app = deployment.instance(busy).await;
        app.http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        Arc::new(app)
    };
    let apps = [instance().await, instance().await];
    let fx = seed(&apps[0]).await;
    apps[0].clock.set(monday_nine());
    let db = apps[0].db.clone();
    let cats = [
        fx.hall.category("A"),
        fx.hall.category("B"),
        fx.hall.category("C"),
    ];
    // Twenty counters: A alone, A and B at 2:1, B and C at 1:3, by turns.
    let mut counters: Vec<(i64, Vec<i64>)> = Vec::new();
    for n in 0..20 {
        let row = entities::counter::ActiveModel {
            hall_id: Set(fx.hall_id),
            number: Set(100 + n),
            name: Set(format!("{}号窗口", 100 + n)),
            active: Set(true),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let serves: Vec<(i64, i32)> = match n % 3 {
            0 => vec![(cats[0], 1)],
            1 => vec![(cats[0], 2), (cats[1], 1)],
            _ => vec![(cats[1], 1), (cats[2], 3)],
        };
        for &(category_id, weight) in &serves {
            entities::counter_category::ActiveModel {
                counter_id: Set(row.id),
                category_id: Set(category_id),
                weight: Set(weight),
            }
            .insert(&db)
            .await
            .unwrap();
        }
        counters.push((row.id, serves.iter().map(|&(c, _)| c).collect()));
    }
    let clerk = staff(&apps[0], "clerk.race", Role::Clerk, fx.hall_id).await;
    let issued: Vec<Value> = futures::stream::iter(0..tickets)
        .map(|i| {
            let (app, clerk) = (Arc::clone(&apps[i % 2]), clerk.clone());
            async move { walk_in(&app, &clerk, fx.hall_id, cats[i % 3], i % 25 == 0).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(issued.len(), tickets);

    let tasks: Vec<_> = counters
        .iter()
        .enumerate()
        .map(|(i, (counter_id, _))| {
            let (apps, clerk, counter_id) = (apps.clone(), clerk.clone(), *counter_id);
            tokio::spawn(async move {
                let mut calls = Vec::new();
                loop {
                    let reply =
                        call_next(&apps[(i + calls.len()) % 2], &clerk, fx.hall_id, counter_id)
                            .await;
                    if reply.status == StatusCode::CONFLICT
                        && reply.error_code() == "NO_TICKET_WAITING"
                    {
                        return calls;
                    }
                    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
                    let t = reply.body;
                    calls.push(id(&t));
                    let done = act(
                        &apps[(i + calls.len() + 1) % 2],
                        &clerk,
                        fx.hall_id,
                        counter_id,
                        id(&t),
                        "no-show",
                        &json!({}),
                    )
                    .await;
                    assert_eq!(done.status, StatusCode::OK, "{done:?}");
                }
            })
        })
        .collect();
    let by_counter: Vec<Vec<i64>> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    // Each ticket called exactly once, and every one of them called.
    let rows: HashMap<i64, entities::ticket::Model> = entities::ticket::Entity::find()
        .filter(entities::ticket::Column::HallId.eq(fx.hall_id))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let all: Vec<i64> = by_counter.iter().flatten().copied().collect();
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "a ticket was called twice");
    assert_eq!(distinct.len(), tickets, "every ticket was called");
    assert!(rows.values().all(|t| t.state == TicketState::NoShow));
    let call_events = entities::ticket_event::Entity::find()
        .filter(entities::ticket_event::Column::ToState.eq(TicketState::Called.as_str()))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(call_events.len(), tickets, "one CALLED event per ticket");

    // Per counter: only its categories, and within each, priority then time.
    for ((_, serves), calls) in counters.iter().zip(&by_counter) {
        let mut per_category: BTreeMap<i64, Vec<Call>> = BTreeMap::new();
        for ticket in calls {
            let t = &rows[ticket];
            assert!(
                serves.contains(&t.category_id),
                "a counter called a category it does not serve"
            );
            per_category.entry(t.category_id).or_default().push(Call {
                ticket: t.id,
                category: t.category_id,
                order: (t.priority, t.issued_at, t.id),
            });
        }
        for line in per_category.values() {
            for pair in line.windows(2) {
                assert!(
                    pair[0].order < pair[1].order,
                    "out of order in category {}: {} then {}",
                    pair[0].category,
                    pair[0].ticket,
                    pair[1].ticket
                );
            }
        }
    }
}

/// `GET /api/v1/tickets/{id}` as its citizen: 200 and the ticket.
async fn poll(app: &TestApp, token: &str, ticket: &Value) -> Value {
    let reply = app
        .get(&format!("/api/v1/tickets/{}", id(ticket)), Some(token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body
}

/// A poll is answered from each instance's snapshot of the line: a call made on one instance
/// shows in a poll on the other within `services::queue::SNAPSHOT_FOR` (usually at once, when
/// the other hears the event), and a ticket the snapshot does not hold (taken since) is read
/// from the database, never answered wrongly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_one_instance_shows_in_a_poll_on_the_other_within_the_bound() {
    let deployment = Deployment::new().await;
    let one = deployment.instance(settings).await;
    let two = deployment.instance(settings).await;
    let fx = seed(&one).await;
    one.clock.set(monday_nine());
    let clerk = staff(&two, "clerk.poll", Role::Clerk, fx.hall_id).await;
    let counter1 = fx.hall.counter(1);
    let c = citizen(&one, 30).await;
    let d = citizen(&one, 31).await;
    let mine = taken(&one, &c.token, HALL, ID_CARD).await;
    one.clock.advance(chrono::Duration::seconds(1));
    let later = taken(&one, &d.token, HALL, ID_CARD).await;
    // Both polled on instance one: its snapshot of the line now holds them.
    assert_eq!(poll(&one, &c.token, &mine).await["ahead"], 0);
    assert_eq!(poll(&one, &d.token, &later).await["ahead"], 1);
    // Another's ticket is not answered from the snapshot either.
    let other = one
        .get(&format!("/api/v1/tickets/{}", id(&mine)), Some(&d.token))
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{other:?}");

    let call = called(&two, &clerk, fx.hall_id, counter1).await;
    assert_eq!(call["id"], mine["id"]);
    let called_at = std::time::Instant::now();
    loop {
        let polled = poll(&one, &c.token, &mine).await;
        if polled["state"] == "CALLED" {
            assert_eq!(polled["counterNumber"], 1, "{polled}");
            break;
        }
        assert_eq!(polled["state"], "WAITING", "{polled}");
        assert!(
            called_at.elapsed() <= services::queue::SNAPSHOT_FOR,
            "a call made on instance two still unseen on instance one after {:?}",
            called_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let polled = poll(&one, &d.token, &later).await;
        if polled["ahead"] == 0 {
            break;
        }
        assert!(
            called_at.elapsed() <= services::queue::SNAPSHOT_FOR * 2,
            "the next in line still not first after {:?}: {polled}",
            called_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Taken on instance two after the snapshot: read from the database, one behind `later`.
    let e = citizen(&two, 32).await;
    one.clock.advance(chrono::Duration::seconds(1));
    let last = taken(&two, &e.token, HALL, ID_CARD).await;
    let polled = poll(&one, &e.token, &last).await;
    assert_eq!(
        (polled["state"].as_str(), polled["ahead"].as_u64()),
        (Some("WAITING"), Some(1)),
        "{polled}"
    );
}

/// A call reads its counter from the hall's read model, trusted for a few seconds; a counter
/// the model knows as inactive is read again, so one activated on another instance calls at
/// once (the bound applies only to a deactivation made elsewhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_counter_activated_on_one_instance_calls_at_once_on_the_other() {
    let deployment = Deployment::new().await;
    let one = deployment.instance(settings).await;
    let two = deployment.instance(settings).await;
    let fx = seed(&one).await;
    one.clock.set(monday_nine());
    let admin = staff(&one, "admin.reactivate", Role::Admin, fx.hall_id).await;
    let a = fx.hall.category("A");
    let counter1 = fx.hall.counter(1);
    set_counter_active(&one, &admin, fx.hall_id, 1, &[a], false).await;
    // Instance two reads (and keeps) the hall's model with counter 1 inactive.
    let waiting = walk_in(&two, &admin, fx.hall_id, a, false).await;
    let reply = call_next(&two, &admin, fx.hall_id, counter1).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{reply:?}");
    assert_eq!(reply.error_code(), "COUNTER_INACTIVE", "{reply:?}");

    set_counter_active(&one, &admin, fx.hall_id, 1, &[a], true).await;
    let first = called(&two, &admin, fx.hall_id, counter1).await;
    assert_eq!(first["id"], waiting["id"]);
}
