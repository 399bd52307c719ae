//! Notifications: the consent ledger, the outbox and its worker, the inbox.

use std::time::Duration;

use miniprogram_api::notify::{Messages, SubscribeAction, Subscriptions, TemplateSubscription};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, EntityTrait as _, TransactionTrait as _};
use serde_json::{Value, json};
use services::notify::NotificationKind;
use simulators::wechat::{Endpoint, Fault};

use crate::helpers::{Citizen, Deployment, TestApp, captured_logs};

const BOOKING: &str = "demo-booking-result";
const CASE: &str = "demo-case-progress";

fn booking(n: u32) -> Value {
    json!({
        "item_name": "居民身份证换领",
        "hall_name": "市民中心政务服务大厅",
        "slot_start": "2026-11-24T01:00:00Z",
        "booking_code": format!("B{n:05}"),
        "booking_id": n,
    })
}

fn citizen_id(c: &Citizen) -> i64 {
    c.id()
}

/// What the mini-program does when the citizen taps "allow": WeChat records the consent, and
/// the mini-program reports the result to us.
async fn consent(app: &TestApp, citizen: &Citizen, template: &str) {
    app.wechat.grant_consent(&citizen.openid, template, 1);
    let reply = app
        .post(
            "/api/v1/subscriptions",
            Some(&citizen.token),
            &json!({ "errMsg": "requestSubscribeMessage:ok", template: "accept" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

/// `GET /api/v1/messages`.
async fn inbox(app: &TestApp, citizen: &Citizen) -> Messages {
    app.get("/api/v1/messages", Some(&citizen.token)).await.ok()
}

/// `GET /api/v1/subscriptions`: the template `id`.
async fn template(app: &TestApp, citizen: &Citizen, id: &str) -> TemplateSubscription {
    let subs: Subscriptions = app
        .get("/api/v1/subscriptions", Some(&citizen.token))
        .await
        .ok();
    subs.templates
        .into_iter()
        .find(|t| t.template_id == id)
        .unwrap_or_else(|| panic!("no template {id}"))
}

/// A committed change that notifies, as a booking or a case would (the service's own
/// transaction: what the capabilities do, no route does).
async fn notify(
    app: &TestApp,
    citizen: &Citizen,
    kind: NotificationKind,
    payload: &Value,
    dedup: &str,
) -> bool {
    let txn = app.db.begin().await.unwrap();
    let created = app
        .notifications
        .notify(&txn, citizen_id(citizen), kind, payload, dedup)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    app.notifications.wake().await;
    created
}

/// Waits until every notification has left the worker's hands. Reads the outbox's delivery
/// states, which no route shows: they audit exactly-once delivery.
async fn settled(app: &TestApp) {
    for _ in 0..400 {
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM notifications WHERE status IN ('PENDING', 'SENDING', 'IN_FLIGHT')",
            ))
            .await
            .unwrap()
            .unwrap();
        let pending: i64 = row.try_get("", "n").unwrap();
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("notifications still pending after 20 s");
}

/// The outbox's delivery states in order (audits exactly-once delivery; no route shows them).
async fn statuses(app: &TestApp) -> Vec<String> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT status FROM notifications ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "status").unwrap())
        .collect()
}

fn fast_retries(s: &mut gateway::configuration::Settings) {
    s.notifications.poll_interval_ms = 50;
    s.notifications.retry_base_ms = 50;
    s.notifications.retry_max_ms = 400;
    s.notifications.max_attempts = 100;
}

#[tokio::test]
async fn one_consent_gives_one_message_and_the_next_goes_to_the_inbox_only() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;

    assert!(
        notify(
            &app,
            &citizen,
            NotificationKind::BookingConfirmed,
            &booking(1),
            "booking:1:confirmed"
        )
        .await
    );
    settled(&app).await;
    let sent = app.wechat.sent_to(&citizen.openid);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].template_id, BOOKING);
    assert_eq!(sent[0].page.as_deref(), Some("pages/booking/detail?id=1"));
    assert_eq!(
        sent[0].data["time2"], "2026年11月24日 09:00",
        "shown in Asia/Shanghai"
    );
    assert_eq!(sent[0].data["character_string4"], "B00001");

    let calls = app.wechat.stats().subscribe_send_calls;
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(2),
        "booking:2:confirmed",
    )
    .await;
    settled(&app).await;
    assert_eq!(
        app.wechat.stats().subscribe_send_calls,
        calls,
        "no consent left: WeChat is not called"
    );
    assert_eq!(statuses(&app).await, vec!["SENT", "NO_QUOTA"]);

    let inbox = inbox(&app, &citizen).await;
    assert_eq!(inbox.total, 2);
    assert_eq!(inbox.unread, 2);
    assert_eq!(inbox.messages[0].title, "预约成功");
    assert!(inbox.messages[0].body.contains("B00002"), "newest first");

    let booking_t = template(&app, &citizen, BOOKING).await;
    assert_eq!(booking_t.remaining, 0);
    assert!(booking_t.ask_again);
}

#[tokio::test]
async fn a_long_item_name_is_shortened_and_a_time_range_shown_in_shanghai_time() {
    let app = TestApp::spawn_with(|s| {
        fast_retries(s);
        if let Some(kind) = s.notifications.kinds.get_mut("booking_confirmed") {
            kind.data
                .insert("time2".into(), "{slot_start}~{slot_end}".into());
        }
    })
    .await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;
    let long_name = "不动产登记（国有建设用地使用权及房屋所有权首次登记）申请审核办理";
    let mut payload = booking(3);
    payload["item_name"] = json!(long_name);
    payload["slot_end"] = json!("2026-11-24T01:30:00Z");
    payload["booking_code"] = json!("B-00003 号");
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &payload,
        "booking:3",
    )
    .await;
    settled(&app).await;
    assert_eq!(
        statuses(&app).await,
        vec!["SENT"],
        "sent, not refused with 47003"
    );
    let sent = &app.wechat.sent_to(&citizen.openid)[0];
    assert_eq!(sent.data["thing1"].chars().count(), 20);
    assert!(sent.data["thing1"].starts_with("不动产登记") && sent.data["thing1"].ends_with('…'));
    assert_eq!(
        sent.data["time2"],
        "2026年11月24日 09:00~2026年11月24日 09:30"
    );
    assert_eq!(sent.data["character_string4"], "B-00003");
    assert!(
        inbox(&app, &citizen).await.messages[0]
            .body
            .contains(long_name),
        "the inbox keeps the whole name"
    );
}

#[tokio::test]
async fn a_long_term_template_needs_one_consent_for_many_messages() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    consent(&app, &citizen, CASE).await;
    for (i, kind) in [
        NotificationKind::CaseAccepted,
        NotificationKind::SupplementRequired,
        NotificationKind::CaseConcluded,
    ]
    .into_iter()
    .enumerate()
    {
        let payload = json!({ "item_name": "个体工商户设立登记", "at": "2026-11-24T02:00:00Z", "promised_date": "2026-12-01",
                              "reason": "营业执照复印件不清晰", "result": "准予许可", "application_id": 7 });
        notify(&app, &citizen, kind, &payload, &format!("case:7:{i}")).await;
    }
    settled(&app).await;
    let sent = app.wechat.sent_to(&citizen.openid);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].data["phrase2"], "已受理");
    assert_eq!(sent[1].data["phrase2"], "待补正");
}

#[tokio::test]
async fn the_same_dedup_key_is_notified_once() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;
    consent(&app, &citizen, BOOKING).await;
    assert!(
        notify(
            &app,
            &citizen,
            NotificationKind::BookingConfirmed,
            &booking(4),
            "booking:4"
        )
        .await
    );
    assert!(
        !notify(
            &app,
            &citizen,
            NotificationKind::BookingConfirmed,
            &booking(4),
            "booking:4"
        )
        .await
    );
    settled(&app).await;
    assert_eq!(app.wechat.sent_to(&citizen.openid).len(), 1);
    assert_eq!(inbox(&app, &citizen).await.total, 1);
}

#[tokio::test]
async fn a_transaction_that_rolls_back_leaves_no_notification() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;
    // The service's own transaction, rolled back: no route can.
    let txn = app.db.begin().await.unwrap();
    app.notifications
        .notify(
            &txn,
            citizen_id(&citizen),
            NotificationKind::BookingConfirmed,
            &booking(5),
            "booking:5",
        )
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    app.notifications.wake().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(statuses(&app).await.is_empty());
    assert_eq!(inbox(&app, &citizen).await.total, 0);
    assert!(app.wechat.sent_to(&citizen.openid).is_empty());
    // And the key is free for the change when it does commit.
    assert!(
        notify(
            &app,
            &citizen,
            NotificationKind::BookingConfirmed,
            &booking(5),
            "booking:5"
        )
        .await
    );
}

#[tokio::test]
async fn wechat_saying_no_quota_empties_the_ledger_without_retrying() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    // The mini-program reports an accept WeChat never recorded (say, a replayed request).
    app.post(
        "/api/v1/subscriptions",
        Some(&citizen.token),
        &json!({ BOOKING: "accept" }),
    )
    .await;
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(6),
        "booking:6",
    )
    .await;
    settled(&app).await;
    assert_eq!(statuses(&app).await, vec!["NO_QUOTA"]);
    assert_eq!(app.wechat.stats().subscribe_send_calls, 1, "43101 is final");
    assert_eq!(template(&app, &citizen, BOOKING).await.remaining, 0);
}

#[tokio::test]
async fn a_ban_stops_messages_and_an_accept_lifts_it() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;
    app.post(
        "/api/v1/subscriptions",
        Some(&citizen.token),
        &json!({ BOOKING: "ban" }),
    )
    .await;
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(7),
        "booking:7",
    )
    .await;
    settled(&app).await;
    assert_eq!(statuses(&app).await, vec!["NO_QUOTA"]);
    let t = template(&app, &citizen, BOOKING).await;
    assert!(!t.ask_again, "a banned template is not asked for again");
    assert_eq!(t.last_result.as_deref(), Some("ban"));
    consent(&app, &citizen, BOOKING).await;
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(8),
        "booking:8",
    )
    .await;
    settled(&app).await;
    assert_eq!(app.wechat.sent_to(&citizen.openid).len(), 1);
}

#[tokio::test]
async fn subscriptions_list_templates_and_refuse_unknown_ones() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let subs: Subscriptions = app
        .get("/api/v1/subscriptions", Some(&citizen.token))
        .await
        .ok();
    let templates = &subs.templates;
    let booking_t = templates.iter().find(|t| t.template_id == BOOKING).unwrap();
    assert!(booking_t.kinds.iter().any(|k| k == "booking_confirmed"));
    assert!(booking_t.ask_again);
    let case = templates.iter().find(|t| t.template_id == CASE).unwrap();
    assert!(case.long_term);
    // Which action each template follows from, for the mini-program's prompt before it.
    let actions = |id: &str| {
        templates
            .iter()
            .find(|t| t.template_id == id)
            .map(|t| t.actions.clone())
    };
    use SubscribeAction as A;
    assert_eq!(actions(BOOKING), Some(vec![A::Booking]));
    assert_eq!(actions(CASE), Some(vec![A::Application]));
    assert_eq!(actions("demo-queue-call"), Some(vec![A::Ticket]));
    assert_eq!(
        actions("demo-evaluation-invite"),
        Some(vec![A::Ticket, A::Application])
    );
    assert_eq!(actions("demo-licence-use"), Some(vec![A::Licence]));

    let unknown = app
        .post(
            "/api/v1/subscriptions",
            Some(&citizen.token),
            &json!({ "not-ours": "accept" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_code(), "VALIDATION_FAILED");
    let bad = app
        .post(
            "/api/v1/subscriptions",
            Some(&citizen.token),
            &json!({ BOOKING: "maybe" }),
        )
        .await;
    assert_eq!(bad.error_code(), "VALIDATION_FAILED");
    let none = app.get("/api/v1/subscriptions", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_citizen_cannot_read_or_mark_anothers_messages() {
    let app = TestApp::spawn_with(fast_retries).await;
    let alice = app.login().await;
    let bob = app.login().await;
    notify(
        &app,
        &alice,
        NotificationKind::BookingConfirmed,
        &booking(9),
        "booking:9",
    )
    .await;
    let id = inbox(&app, &alice).await.messages[0].id;
    assert_eq!(inbox(&app, &bob).await.total, 0);
    let theft = app
        .post(
            &format!("/api/v1/messages/{id}/read"),
            Some(&bob.token),
            &json!({}),
        )
        .await;
    assert_eq!(theft.status, StatusCode::NOT_FOUND);
    assert_eq!(theft.error_code(), "NOT_FOUND");
    assert_eq!(inbox(&app, &alice).await.unread, 1);
    let read = app
        .post(
            &format!("/api/v1/messages/{id}/read"),
            Some(&alice.token),
            &json!({}),
        )
        .await;
    assert_eq!(read.status, StatusCode::NO_CONTENT);
    let again = app
        .post(
            &format!("/api/v1/messages/{id}/read"),
            Some(&alice.token),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let after = inbox(&app, &alice).await;
    assert_eq!(after.unread, 0);
    assert!(after.messages[0].read);
    let missing = app
        .post(
            "/api/v1/messages/999999/read",
            Some(&alice.token),
            &json!({}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let garbage = app
        .post("/api/v1/messages/abc/read", Some(&alice.token), &json!({}))
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_inbox_pages_newest_first_and_refuses_bad_paging() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    for i in 0..5 {
        notify(
            &app,
            &citizen,
            NotificationKind::BookingReminder,
            &booking(100 + i),
            &format!("r:{i}"),
        )
        .await;
    }
    let page: Messages = app
        .get("/api/v1/messages?page=2&pageSize=2", Some(&citizen.token))
        .await
        .ok();
    assert_eq!(page.total, 5);
    let ids: Vec<i64> = page.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1]);
    for bad in ["?page=0", "?pageSize=0", "?pageSize=51", "?page=x"] {
        let reply = app
            .get(&format!("/api/v1/messages{bad}"), Some(&citizen.token))
            .await;
        assert!(reply.status.is_client_error(), "{bad}");
    }
}

/// WeChat is down for a while; two instances run workers; every message arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_queued_while_wechat_is_down_arrive_once_each_after_it_recovers() {
    let deployment = Deployment::new().await;
    let one = deployment.instance(fast_retries).await;
    let two = deployment.instance(fast_retries).await;
    let mut citizens = Vec::new();
    for i in 0..30 {
        let app = if i % 2 == 0 { &one } else { &two };
        let citizen = app.login().await;
        consent(app, &citizen, BOOKING).await;
        citizens.push(citizen);
    }
    // Prime the access token, then take WeChat down.
    one.wechat
        .inject(Endpoint::SubscribeSend, Fault::Http5xx, 60);
    one.wechat.inject(Endpoint::SubscribeSend, Fault::Busy, 60);
    for (i, citizen) in citizens.iter().enumerate() {
        let app = if i % 2 == 0 { &one } else { &two };
        notify(
            app,
            citizen,
            NotificationKind::BookingConfirmed,
            &booking(i as u32),
            &format!("down:{i}"),
        )
        .await;
    }
    settled(&one).await;
    let sent = deployment.wechat.sent_messages();
    assert_eq!(sent.len(), 30, "every message delivered");
    for citizen in &citizens {
        assert_eq!(
            deployment.wechat.sent_to(&citizen.openid).len(),
            1,
            "exactly once each"
        );
    }
    assert!(statuses(&one).await.iter().all(|s| s == "SENT"));
    assert!(
        deployment.wechat.stats().subscribe_send_calls > 30,
        "the outage was real"
    );
}

/// A commit on one instance wakes the worker of another at once, not at its next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wake_reaches_the_worker_of_another_instance() {
    let deployment = Deployment::new().await;
    let writer = deployment
        .instance(|s| s.notifications.worker = false)
        .await;
    let _deliverer = deployment
        .instance(|s| {
            fast_retries(s);
            s.notifications.poll_interval_ms = 60_000;
        })
        .await;
    // Let the deliverer's worker make its first pass and start listening.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let citizen = writer.login().await;
    consent(&writer, &citizen, BOOKING).await;
    notify(
        &writer,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(1),
        "cross:1",
    )
    .await;
    for _ in 0..100 {
        if !deployment.wechat.sent_to(&citizen.openid).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the other instance's worker did not wake within 2 s (its poll is 60 s)");
}

#[tokio::test]
async fn a_dedup_key_too_long_for_the_database_is_refused_on_every_backend() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    // The service's own transaction: the dedup key is no route's input.
    let txn = app.db.begin().await.unwrap();
    let long = "k".repeat(201);
    let refused = app
        .notifications
        .notify(
            &txn,
            citizen_id(&citizen),
            NotificationKind::BookingConfirmed,
            &booking(1),
            &long,
        )
        .await;
    assert!(matches!(
        refused,
        Err(services::notify::NotifyError::BadDedupKey)
    ));
    let fits = "k".repeat(200);
    assert!(
        app.notifications
            .notify(
                &txn,
                citizen_id(&citizen),
                NotificationKind::BookingConfirmed,
                &booking(1),
                &fits
            )
            .await
            .unwrap()
    );
    txn.commit().await.unwrap();
}

/// The messages of `template` the citizen may still be sent, as the mini-program reads it.
async fn remaining(app: &TestApp, citizen: &Citizen, id: &str) -> i64 {
    i64::from(template(app, citizen, id).await.remaining)
}

/// 45011 (the minute quota is spent) on `subscribe/send` is a pause, not a refusal: the message
/// goes out, once, when WeChat takes calls again.
#[tokio::test]
async fn a_rate_limited_send_is_retried_and_delivered_once() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;
    // More than one worker attempt's worth of in-call retries (three).
    app.wechat
        .inject(Endpoint::SubscribeSend, Fault::MinuteQuota, 5);
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(7),
        "booking:7",
    )
    .await;
    settled(&app).await;
    assert_eq!(statuses(&app).await, vec!["SENT"]);
    assert_eq!(app.wechat.sent_to(&citizen.openid).len(), 1);
    assert_eq!(app.wechat.stats().subscribe_send_calls, 6);
}

/// 45011 on `stable_token` delays the message; it is not lost.
#[tokio::test]
async fn a_rate_limited_token_endpoint_delays_the_message_without_losing_it() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;
    app.wechat
        .inject(Endpoint::StableToken, Fault::MinuteQuota, 5);
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(8),
        "booking:8",
    )
    .await;
    settled(&app).await;
    assert_eq!(statuses(&app).await, vec!["SENT"]);
    assert_eq!(app.wechat.sent_to(&citizen.openid).len(), 1);
    assert_eq!(remaining(&app, &citizen, BOOKING).await, 0);
}

/// Only `subscribe/send` speaks for the citizen's consent: a 43101 from the token endpoint says
/// nothing about it, so the ledger keeps what the citizen allowed and the message still goes.
#[tokio::test]
async fn a_refusal_from_the_token_endpoint_leaves_the_consent_ledger_alone() {
    let app = TestApp::spawn_with(fast_retries).await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;
    consent(&app, &citizen, BOOKING).await;
    assert_eq!(remaining(&app, &citizen, BOOKING).await, 2);
    app.wechat
        .inject(Endpoint::StableToken, Fault::UserRefused, 1);
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(9),
        "booking:9",
    )
    .await;
    settled(&app).await;
    assert_eq!(statuses(&app).await, vec!["SENT"]);
    assert_eq!(app.wechat.sent_to(&citizen.openid).len(), 1);
    assert_eq!(
        remaining(&app, &citizen, BOOKING).await,
        1,
        "one consent spent on the message, none lost to the token endpoint"
    );
}

/// WeChat took the message but its answer came too late: probably delivered. It is not sent
/// again (WeChat has no idempotency key: a resend is a second message and a second consent),
/// it stays in the inbox, and its consent stays spent.
#[tokio::test]
async fn a_send_whose_answer_times_out_is_not_sent_again() {
    let app = TestApp::spawn_with(|s| {
        fast_retries(s);
        s.wechat.timeout_ms = 300;
    })
    .await;
    let citizen = app.login().await;
    consent(&app, &citizen, BOOKING).await;
    consent(&app, &citizen, BOOKING).await;
    app.wechat.stall_after_send(1, Duration::from_secs(2));
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(10),
        "booking:10",
    )
    .await;
    settled(&app).await;
    // Longer than the stall: a resend would have arrived by now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.wechat.sent_to(&citizen.openid).len(), 1, "one message");
    assert_eq!(app.wechat.stats().subscribe_send_calls, 1, "never resent");
    assert_eq!(statuses(&app).await, vec!["PROBABLY_SENT"]);
    assert_eq!(remaining(&app, &citizen, BOOKING).await, 1);
    assert_eq!(inbox(&app, &citizen).await.total, 1, "kept in the inbox");
}

/// A worker that stalls (or dies) after handing the message to WeChat loses its lease; the
/// worker of another instance must not send it again, and the first one's late answer still
/// records it as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_in_flight_when_its_lease_passes_is_not_sent_again_by_another_worker() {
    let short_lease = |s: &mut gateway::configuration::Settings| {
        fast_retries(s);
        s.notifications.lease_secs = 10;
        s.wechat.timeout_ms = 20_000;
    };
    let deployment = Deployment::new().await;
    let one = deployment.instance(short_lease).await;
    let two = deployment.instance(short_lease).await;
    let citizen = one.login().await;
    consent(&one, &citizen, BOOKING).await;
    consent(&one, &citizen, BOOKING).await;
    // WeChat takes the message, then answers after the lease has passed.
    deployment
        .wechat
        .stall_after_send(1, Duration::from_secs(12));
    notify(
        &one,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(11),
        "booking:11",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(14)).await;
    settled(&two).await;
    assert_eq!(
        deployment.wechat.sent_to(&citizen.openid).len(),
        1,
        "one message"
    );
    assert_eq!(deployment.wechat.stats().subscribe_send_calls, 1);
    assert_eq!(statuses(&one).await, vec!["SENT"], "the late answer counts");
    assert_eq!(remaining(&one, &citizen, BOOKING).await, 1);
}

/// The demo: the citizen taps "allow", the mini-program reports it, and that is enough for the
/// built-in WeChat simulator to take the message (no simulator hook), as WeChat would.
#[tokio::test]
async fn in_the_demo_a_reported_consent_is_enough_for_a_message_to_arrive() {
    let deployment = Deployment::new().await;
    let echo = gateway::demo::consent_echo(&deployment.wechat);
    let app = deployment
        .instance_with(fast_retries, |o| o.consent_echo = Some(echo))
        .await;
    let citizen = app.login().await;
    let reply = app
        .post(
            "/api/v1/subscriptions",
            Some(&citizen.token),
            &json!({ "errMsg": "requestSubscribeMessage:ok", BOOKING: "accept" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(12),
        "booking:12",
    )
    .await;
    settled(&app).await;
    assert_eq!(statuses(&app).await, vec!["SENT"]);
    assert_eq!(app.wechat.sent_to(&citizen.openid).len(), 1);
}

/// A message that goes to the inbox only for want of consent says so in the log, whether our
/// ledger was empty or WeChat said 43101.
#[tokio::test]
async fn each_message_refused_for_lack_of_quota_is_logged() {
    // A template id of this test's own, so the log lines found are this test's.
    let template = format!("t-{}", uuid::Uuid::new_v4().simple());
    let mut notifications = None;
    let app = TestApp::spawn_with(|s| {
        fast_retries(s);
        for t in s.notifications.templates.values_mut() {
            if t.id == BOOKING {
                t.id.clone_from(&template);
            }
        }
        notifications = Some(s.notifications.clone());
    })
    .await;
    gateway::demo::register_templates(&app.wechat, &notifications.unwrap());
    let citizen = app.login().await;
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(13),
        "booking:13",
    )
    .await;
    // An accept WeChat never recorded: WeChat answers 43101.
    let reply = app
        .post(
            "/api/v1/subscriptions",
            Some(&citizen.token),
            &json!({ template.as_str(): "accept" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    notify(
        &app,
        &citizen,
        NotificationKind::BookingConfirmed,
        &booking(14),
        "booking:14",
    )
    .await;
    settled(&app).await;
    assert_eq!(statuses(&app).await, vec!["NO_QUOTA", "NO_QUOTA"]);
    // Audits that every notification kept for the inbox only is logged: their ids, which no
    // route shows.
    let ids: Vec<i64> = entities::notification::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    let logs = captured_logs();
    for id in ids {
        assert!(
            logs.lines().any(|l| {
                l.contains(&format!("\"notification_id\":{id}"))
                    && l.contains(&template)
                    && l.contains("inbox only")
            }),
            "no log line for notification {id}"
        );
    }
}
