//! What the staff console and the hall board need beyond the counter's calls (issue 17): call
//! ids that let a board announce each call once and in order, the counter's live waiting line,
//! the hall's counters for a clerk, the booking's masked brief, and the embedded pages.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use miniprogram_api::booking::BookingBrief;
use miniprogram_api::queue::{Board, Workstation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use services::staff::Role;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::booking_fixture::{
    HALL, ID_CARD, booked, check_in, citizen, id, monday_nine, refused, shanghai, slots, start,
};
use crate::helpers::TestApp;
use crate::queue_fixture::{act, called, staff, walk_in};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, path: &str, token: Option<&str>) -> Socket {
    let url = format!("{}{path}", app.address.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next frame that is JSON text or a close (pings are answered by the client as it reads).
async fn next(socket: &mut Socket) -> Result<Value, Option<CloseCode>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).unwrap());
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// No frame within `wait`.
async fn quiet(socket: &mut Socket, wait: Duration) -> bool {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Text(t)))) => panic!("unexpected frame {t}"),
            Ok(Some(Ok(_))) => {}
            Ok(_) => return false,
        }
    }
}

fn line_numbers(frame: &Value) -> Vec<String> {
    assert_eq!(frame["type"], "line", "{frame}");
    frame["line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_call_and_recall_has_its_own_increasing_call_id_on_the_socket_and_the_board() {
    let (app, fx) = start().await;
    app.clock.set(monday_nine());
    let clerk = staff(&app, "clerk.callid", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let counter1 = fx.hall.counter(1);
    walk_in(&app, &clerk, fx.hall_id, a, false).await;
    walk_in(&app, &clerk, fx.hall_id, a, false).await;
    let mut board = connect(&app, &format!("/api/v1/halls/{HALL}/board/live"), None).await;
    assert_eq!(next(&mut board).await.unwrap()["type"], "board");

    let first = called(&app, &clerk, fx.hall_id, counter1).await;
    let call = |frame: Value| {
        assert_eq!(frame["type"], "call", "{frame}");
        frame["call"].clone()
    };
    let mut ids = Vec::new();
    let c1 = call(next(&mut board).await.unwrap());
    ids.push(c1["callId"].as_i64().unwrap());
    next(&mut board).await.unwrap(); // the recount
    let recall = act(
        &app,
        &clerk,
        fx.hall_id,
        counter1,
        id(&first),
        "recall",
        &json!({}),
    )
    .await;
    assert_eq!(recall.status, StatusCode::OK, "{recall:?}");
    let c2 = call(next(&mut board).await.unwrap());
    assert_eq!(
        c2["ticketId"], c1["ticketId"],
        "a recall announces the same ticket"
    );
    ids.push(c2["callId"].as_i64().unwrap());
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
    called(&app, &clerk, fx.hall_id, counter1).await;
    let c3 = loop {
        let frame = next(&mut board).await.unwrap();
        if frame["type"] == "call" {
            break frame["call"].clone();
        }
    };
    ids.push(c3["callId"].as_i64().unwrap());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "increasing: {ids:?}");

    // The snapshot (what a board gets on reconnecting) names the same calls by the same ids.
    let snapshot: Board = app
        .get(&format!("/api/v1/halls/{HALL}/board"), None)
        .await
        .ok();
    let shown: Vec<i64> = snapshot.calls.iter().map(|c| c.call_id).collect();
    assert_eq!(
        shown,
        ids.iter().rev().copied().collect::<Vec<_>>(),
        "{snapshot:?}"
    );
    board.send(Message::Close(None)).await.ok();
}

#[tokio::test]
async fn a_counter_socket_shows_the_line_of_its_categories_live_to_a_clerk_of_the_hall() {
    let (app, fx) = start().await;
    app.clock.set(monday_nine());
    let clerk = staff(&app, "clerk.line", Role::Clerk, fx.hall_id).await;
    let other_hall = fx.other_hall.id;
    let stranger = staff(&app, "clerk.elsewhere", Role::Clerk, other_hall).await;
    let counter1 = fx.hall.counter(1);
    let w: Workstation = app
        .get(
            &format!("/staff/v1/halls/{}/workstation", fx.hall_id),
            Some(&clerk),
        )
        .await
        .ok();
    let serves: Vec<i64> = w
        .counters
        .iter()
        .find(|c| c.id == counter1)
        .unwrap()
        .category_ids
        .clone();
    let categories: Vec<i64> = w.categories.iter().map(|c| c.id).collect();
    let mine = serves[0];
    let not_mine = *categories
        .iter()
        .find(|c| !serves.contains(c))
        .expect("a category counter 1 does not serve");
    let refused_w = app
        .get(
            &format!("/staff/v1/halls/{}/workstation", fx.hall_id),
            Some(&stranger),
        )
        .await;
    refused(&refused_w, StatusCode::FORBIDDEN, "FORBIDDEN");

    let path = format!("/staff/v1/halls/{}/counters/{counter1}/live", fx.hall_id);
    // A browser: no header, the token in the first frame.
    let mut socket = connect(&app, &path, None).await;
    socket
        .send(Message::text(
            json!({ "type": "auth", "token": clerk }).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(
        line_numbers(&next(&mut socket).await.unwrap()),
        Vec::<String>::new()
    );
    let t1 = walk_in(&app, &clerk, fx.hall_id, mine, false).await;
    assert_eq!(
        line_numbers(&next(&mut socket).await.unwrap()),
        vec![t1["number"].as_str().unwrap()]
    );
    // A ticket of a category this counter does not call: no frame.
    walk_in(&app, &clerk, fx.hall_id, not_mine, false).await;
    assert!(quiet(&mut socket, Duration::from_millis(700)).await);
    let green = walk_in(&app, &clerk, fx.hall_id, mine, true).await;
    let frame = next(&mut socket).await.unwrap();
    assert_eq!(
        line_numbers(&frame),
        vec![
            green["number"].as_str().unwrap(),
            t1["number"].as_str().unwrap()
        ],
        "calling order: green channel first"
    );
    assert_eq!(frame["line"][0]["greenChannel"], true);
    assert_eq!(frame["line"][0]["source"], "WALK_IN");
    called(&app, &clerk, fx.hall_id, counter1).await;
    assert_eq!(
        line_numbers(&next(&mut socket).await.unwrap()),
        vec![t1["number"].as_str().unwrap()]
    );

    // The bearer header works too.
    let mut with_header = connect(&app, &path, Some(&clerk)).await;
    assert_eq!(
        line_numbers(&next(&mut with_header).await.unwrap()).len(),
        1
    );

    // A wrong token, a clerk of another hall, a citizen's token: closed with 1008.
    let mut bad = connect(&app, &path, None).await;
    bad.send(Message::text(
        json!({ "type": "auth", "token": "zst_nope" }).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut bad).await.unwrap_err(), Some(CloseCode::Policy));
    let mut elsewhere = connect(&app, &path, Some(&stranger)).await;
    assert_eq!(
        next(&mut elsewhere).await.unwrap_err(),
        Some(CloseCode::Policy)
    );
    let c = app.login().await;
    let mut citizen_socket = connect(&app, &path, Some(&c.token)).await;
    assert_eq!(
        next(&mut citizen_socket).await.unwrap_err(),
        Some(CloseCode::Policy)
    );
    // An unknown counter is a 404 before the upgrade.
    let url = format!(
        "{}/staff/v1/halls/{}/counters/999999/live",
        app.address.replacen("http://", "ws://", 1),
        fx.hall_id
    );
    match tokio_tungstenite::connect_async(url.into_client_request().unwrap()).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("an unknown counter is refused: {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn the_counter_sees_the_booking_holder_masked() {
    let (app, fx) = start().await;
    let clerk = staff(&app, "clerk.brief", Role::Clerk, fx.hall_id).await;
    let booker = citizen(&app, 7).await;
    let phone = app.wechat.mint_phone_code("13800138000");
    let bound = app
        .post(
            "/api/v1/me/phone",
            Some(&booker.token),
            &json!({ "code": phone }),
        )
        .await;
    assert_eq!(bound.status, StatusCode::OK, "{bound:?}");
    let slot = slots(&app, &booker.token, HALL, ID_CARD, "2026-11-17").await[0].clone();
    let booking = booked(&app, &booker.token, id(&slot), ID_CARD).await;
    app.clock.set(shanghai(2026, 11, 17, 8, 52));
    let reply = check_in(&app, &booker.token, id(&booking), &fx.hall_qr).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let counter1 = fx.hall.counter(1);
    let ticket = called(&app, &clerk, fx.hall_id, counter1).await;
    assert_eq!(ticket["bookingId"], booking["id"]);

    let brief = app
        .get(
            &format!(
                "/staff/v1/halls/{}/bookings/{}/brief",
                fx.hall_id,
                id(&booking)
            ),
            Some(&clerk),
        )
        .await;
    assert!(!brief.text.contains("13800138000"));
    assert!(!brief.text.contains("张三"));
    let brief: BookingBrief = brief.ok();
    assert_eq!(brief.holder_name.as_deref(), Some("张*"));
    assert_eq!(brief.phone.as_deref(), Some("138****8000"));
    assert_eq!(Some(brief.code.as_str()), booking["code"].as_str());

    // Not of this hall, or not a clerk of it.
    let other_hall = fx.other_hall.id;
    let stranger = staff(&app, "clerk.brief.other", Role::Clerk, other_hall).await;
    let refused_other = app
        .get(
            &format!(
                "/staff/v1/halls/{other_hall}/bookings/{}/brief",
                id(&booking)
            ),
            Some(&stranger),
        )
        .await;
    refused(&refused_other, StatusCode::NOT_FOUND, "BOOKING_NOT_FOUND");
    let forbidden = app
        .get(
            &format!(
                "/staff/v1/halls/{}/bookings/{}/brief",
                fx.hall_id,
                id(&booking)
            ),
            Some(&stranger),
        )
        .await;
    refused(&forbidden, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn the_console_and_the_board_are_served_with_strict_headers() {
    let (app, _fx) = start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(app.url("/console/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&page, "cache-control"), "no-store");
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert!(header(&page, "content-type").starts_with("text/html"));
    let html = page.text().await.unwrap();
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page loads a script");
    assert!(script.starts_with("/assets/"), "{script}");
    let asset = client.get(app.url(script)).send().await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(header(&asset, "cache-control").contains("immutable"));
    assert!(header(&asset, "content-type").starts_with("text/javascript"));

    let board = client
        .get(app.url(&format!("/board/{HALL}")))
        .send()
        .await
        .unwrap();
    assert_eq!(board.status(), StatusCode::OK);
    assert!(!header(&board, "content-security-policy").is_empty());
    let missing = client.get(app.url("/assets/none.js")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let redirect = client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&redirect, "location"), "/console/");
}
