//! 好差评 over HTTP: a served ticket and a concluded case rated once by their citizen (a second
//! rating and racing ratings meet the unique index), every bad input named, the window's
//! default once across instances, the comment through msgSecCheck (pass, review, risky, WeChat
//! down), a 差评's deadlines across a holiday and a 调休 Saturday with its rectification, 追评
//! and overdue mark, statistics without identities, and every rating in the province's ledger
//! exactly once through an outage.

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use secrecy::SecretString;
use serde_json::{Value, json};
use services::province::outbox::Forward as _;
use services::staff::Role;
use simulators::province::{Fault, Group, Phase, ProvinceSim, ProvinceSimConfig};
use simulators::wechat::{Endpoint, Fault as WxFault};

use crate::booking_fixture::{HALL, ID_CARD, citizen, id, message_kinds, seed, settings, shanghai};
use crate::helpers::{Citizen, Deployment, Reply, TestApp, id_card_no, use_province};
use crate::queue_fixture::{act, called, counter, staff, taken};

/// A deployment with the halls seeded, a province simulator, and the clock at `at`.
struct World {
    deployment: Deployment,
    province: ProvinceSim,
    app: TestApp,
    hall_id: i64,
}

fn customize(
    province: &ProvinceSim,
    workers: bool,
) -> impl FnOnce(&mut gateway::configuration::Settings) + use<> {
    let (url, key, secret) = (
        province.base_url(),
        province.app_key().to_owned(),
        province.app_secret().to_owned(),
    );
    let (cb_key, cb_secret) = (
        province.callback_app_key().to_owned(),
        province.callback_app_secret().to_owned(),
    );
    move |s| {
        settings(s);
        s.province.base_url = url;
        s.province.app_key = key;
        s.province.app_secret = SecretString::from(secret);
        s.province.callback_app_key = cb_key;
        s.province.callback_app_secret = Some(SecretString::from(cb_secret));
        s.province.sync_interval_secs = 0;
        s.province.timeout_ms = 800;
        s.province.max_attempts = 2;
        s.province.breaker_cooldown_secs = 1;
        s.evaluations.worker = workers;
        s.evaluations.worker_interval_ms = 200;
        s.evaluations.retry_base_ms = 50;
        s.evaluations.retry_cap_secs = 1;
        // The shortest lease the settings allow: a row claimed by an instance that a test stops
        // mid-send returns to the others after it, well inside the tests' waits.
        s.evaluations.lease_secs = 5;
    }
}

impl World {
    async fn new(at: chrono::DateTime<chrono::Utc>, workers: bool) -> World {
        let deployment = Deployment::new().await;
        let province = ProvinceSim::start(ProvinceSimConfig {
            callback_retry_base: Duration::from_millis(50),
            callback_retry_cap: Duration::from_millis(500),
            ..ProvinceSimConfig::default()
        })
        .await
        .expect("start the province simulator");
        let app = deployment.instance(customize(&province, workers)).await;
        let fx = seed(&app).await;
        app.clock.set(at);
        World {
            deployment,
            province,
            app,
            hall_id: fx.hall_id,
        }
    }

    async fn instance(&self, workers: bool) -> TestApp {
        self.deployment
            .instance(customize(&self.province, workers))
            .await
    }

    /// A clerk at counter 1 of the hall.
    async fn clerk(&self, name: &str) -> (String, i64) {
        let token = staff(&self.app, name, Role::Clerk, self.hall_id).await;
        (token, counter(&self.app, self.hall_id, 1).await)
    }

    /// The citizen's remote ticket, called, served and (when `finish`) done at counter 1.
    async fn ticket(&self, c: &Citizen, clerk: &(String, i64), finish: bool) -> i64 {
        let app = &self.app;
        let t = taken(app, &c.token, HALL, ID_CARD).await;
        let called = called(app, &clerk.0, self.hall_id, clerk.1).await;
        assert_eq!(id(&called), id(&t));
        let serving = act(
            app,
            &clerk.0,
            self.hall_id,
            clerk.1,
            id(&t),
            "serve",
            &json!({}),
        )
        .await;
        assert_eq!(serving.status, StatusCode::OK, "{serving:?}");
        if finish {
            let done = act(
                app,
                &clerk.0,
                self.hall_id,
                clerk.1,
                id(&t),
                "done",
                &json!({}),
            )
            .await;
            assert_eq!(done.status, StatusCode::OK, "{done:?}");
        }
        id(&t)
    }
}

fn offline(grade: i64) -> Value {
    json!({ "overall": grade, "efficiency": grade, "serviceLevel": grade, "attitude": grade })
}

fn ticket_rating(ticket_id: i64, grade: i64) -> Value {
    json!({
        "subjectKind": "TICKET",
        "subjectId": ticket_id.to_string(),
        "grade": grade,
        "indicators": offline(grade),
    })
}

async fn rate(app: &TestApp, c: &Citizen, body: &Value) -> Reply {
    app.post("/api/v1/evaluations", Some(&c.token), body).await
}

async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ledger's entries for one evaluation.
fn ledger_of(province: &ProvinceSim, evaluation_id: &str) -> Vec<Value> {
    province
        .evaluations()
        .into_iter()
        .filter(|e| e["clientRequestId"] == evaluation_id)
        .collect()
}

#[tokio::test]
async fn a_served_ticket_is_rated_once_by_its_citizen_and_reaches_the_province() {
    let world = World::new(crate::booking_fixture::monday_nine(), true).await;
    let app = &world.app;
    let clerk = world.clerk("clerk.rate").await;
    let a = citizen(app, 1).await;
    let b = citizen(app, 2).await;

    // Not done yet: nothing to rate.
    let ticket = world.ticket(&a, &clerk, false).await;
    let early = rate(app, &a, &ticket_rating(ticket, 5)).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{early:?}");
    assert_eq!(early.error_code(), "EVALUATION_NOT_OPEN");
    let pending = app.get("/api/v1/evaluations/pending", Some(&a.token)).await;
    assert_eq!(pending.body["pending"], json!([]));

    let done = act(
        app,
        &clerk.0,
        world.hall_id,
        clerk.1,
        ticket,
        "done",
        &json!({}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{done:?}");
    // Invited: in the inbox and in the pending list, with the offline indicators.
    assert!(
        message_kinds(app, &a.token)
            .await
            .contains(&"evaluation_invited".to_owned())
    );
    let pending = app.get("/api/v1/evaluations/pending", Some(&a.token)).await;
    assert_eq!(pending.status, StatusCode::OK, "{pending:?}");
    let entry = &pending.body["pending"][0];
    assert_eq!(entry["subjectKind"], "TICKET");
    assert_eq!(entry["subjectId"], ticket.to_string());
    assert_eq!(entry["place"], "市民中心政务服务大厅");
    let keys: Vec<&str> = entry["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["overall", "efficiency", "serviceLevel", "attitude"]);

    // Another citizen's ticket is not found; an unknown one neither.
    let theirs = rate(app, &b, &ticket_rating(ticket, 1)).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{theirs:?}");
    assert_eq!(theirs.error_code(), "EVALUATION_SUBJECT_NOT_FOUND");
    let unknown = rate(app, &a, &ticket_rating(ticket + 1000, 5)).await;
    assert_eq!(unknown.error_code(), "EVALUATION_SUBJECT_NOT_FOUND");

    // Every bad input is named.
    let bad = rate(
        app,
        &a,
        &json!({
            "subjectKind": "TICKET",
            "subjectId": ticket.to_string(),
            "grade": 6,
            "indicators": { "overall": 0, "efficiency": 3, "attitude": 9, "guideAccuracy": 5 },
            "tags": ["不存在的标签"],
            "comment": "很".repeat(501),
        }),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    assert_eq!(bad.error_code(), "VALIDATION_FAILED");
    let mut fields: Vec<&str> = bad.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "comment",
            "grade",
            "indicators.attitude",
            "indicators.guideAccuracy",
            "indicators.overall",
            "indicators.serviceLevel",
        ]
    );
    // A 差评 tag on a 好评 is refused too.
    let mut wrong_tag = ticket_rating(ticket, 5);
    wrong_tag["tags"] = json!(["服务态度差"]);
    let wrong = rate(app, &a, &wrong_tag).await;
    assert_eq!(wrong.error_code(), "VALIDATION_FAILED");
    assert_eq!(wrong.body["fields"][0]["field"], "tags[0]");
    let unreadable = rate(
        app,
        &a,
        &json!({ "subjectKind": "SOMETHING", "subjectId": "1" }),
    )
    .await;
    assert_eq!(unreadable.status, StatusCode::BAD_REQUEST, "{unreadable:?}");

    let mut good = ticket_rating(ticket, 5);
    good["tags"] = json!(["一次办好", "服务热情"]);
    good["comment"] = json!("窗口工作人员很耐心");
    let rated = rate(app, &a, &good).await;
    assert_eq!(rated.status, StatusCode::CREATED, "{rated:?}");
    assert_eq!(rated.body["grade"], 5);
    assert_eq!(rated.body["gradeText"], "非常满意");
    assert_eq!(rated.body["commentStatus"], "PASS");
    assert_eq!(rated.body["defaulted"], false);
    assert!(rated.body.get("rectification").is_none());
    let evaluation_id = rated.body["id"].as_str().unwrap().to_owned();
    // It took its backend's path: one statement on PostgreSQL, the transaction on SQLite.
    let path = if support::postgres_admin_url().is_some() {
        "one_statement"
    } else {
        "transaction"
    };
    let metrics = app.admin_get("/metrics").await.text;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("evaluations_total{") && l.contains(&format!(r#"path="{path}""#))
        ),
        "{metrics}"
    );
    // WeChat checked the comment as a comment (scene 2) of the citizen's openid.
    let checked = app.wechat.sec_checked();
    assert_eq!(
        checked.last().unwrap(),
        &(a.openid.clone(), 2, "窗口工作人员很耐心".to_owned())
    );

    // Once.
    let again = rate(app, &a, &ticket_rating(ticket, 1)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    assert_eq!(again.error_code(), "ALREADY_EVALUATED");
    let pending = app.get("/api/v1/evaluations/pending", Some(&a.token)).await;
    assert_eq!(pending.body["pending"], json!([]));
    let mine = app.get("/api/v1/evaluations", Some(&a.token)).await;
    assert_eq!(mine.body["evaluations"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["evaluations"][0]["id"], evaluation_id.as_str());
    assert_eq!(
        app.get("/api/v1/evaluations", Some(&b.token)).await.body["evaluations"],
        json!([])
    );

    // To the province: channel 3, the hall's code and the counter's number, the indicators by
    // their names.
    eventually("the ledger entry", Duration::from_secs(10), || async {
        !ledger_of(&world.province, &evaluation_id).is_empty()
    })
    .await;
    let sent = ledger_of(&world.province, &evaluation_id);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["channel"], "3");
    assert_eq!(sent[0]["hallCode"], HALL);
    assert_eq!(sent[0]["windowNo"], "1");
    assert_eq!(sent[0]["sblsh"], Value::Null);
    assert_eq!(sent[0]["grade"], 5);
    assert_eq!(sent[0]["indicators"]["服务态度"], 5);
    assert_eq!(sent[0]["comment"], "窗口工作人员很耐心");
    assert_eq!(world.province.evaluation_submissions(&evaluation_id), 1);
}

/// Grades 1–5 race on two instances: on PostgreSQL grades 3–5 are the one-statement rating and
/// 1–2 the transaction of a real-name 差评, so both paths meet each other at the unique index.
#[tokio::test]
async fn racing_ratings_of_one_ticket_leave_exactly_one() {
    let world = World::new(crate::booking_fixture::monday_nine(), false).await;
    let clerk = world.clerk("clerk.race").await;
    let a = citizen(&world.app, 1).await;
    let ticket = world.ticket(&a, &clerk, true).await;
    let second = world.instance(false).await;
    let apps = [&world.app, &second];
    let replies: Vec<Reply> = futures::stream::iter(0..12)
        .map(|n| {
            let app = apps[n % 2];
            let body = ticket_rating(ticket, i64::try_from(n % 5 + 1).unwrap());
            let a = &a;
            async move { rate(app, a, &body).await }
        })
        .buffer_unordered(12)
        .collect()
        .await;
    let won = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(won, 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
        assert_eq!(r.error_code(), "ALREADY_EVALUATED");
    }
    assert_eq!(
        entities::evaluation::Entity::find()
            .count(&world.app.db)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        entities::evaluation_outbox::Entity::find()
            .count(&world.app.db)
            .await
            .unwrap(),
        1,
        "one outbox row: the loser wrote nothing"
    );
}

/// The window's edge, on every path a rating takes (on PostgreSQL a rating without comment
/// is one statement, one with a comment reads the invitation first, a real-name 差评 is a
/// transaction): a moment before it each is taken, with the invitation's attribution and the
/// citizen's real-name mark copied; from it on each is refused and nothing is written.
#[tokio::test]
async fn a_rating_a_moment_before_the_window_closes_is_taken_and_from_its_edge_refused() {
    let world = World::new(crate::booking_fixture::monday_nine(), false).await;
    let app = &world.app;
    let clerk = world.clerk("clerk.edge").await;
    let a = citizen(app, 1).await;
    let mut tickets = Vec::new();
    for _ in 0..6 {
        tickets.push(world.ticket(&a, &clerk, true).await);
    }
    let pending = app.get("/api/v1/evaluations/pending", Some(&a.token)).await;
    assert_eq!(pending.status, StatusCode::OK, "{pending:?}");
    let due = |ticket: i64| -> chrono::DateTime<chrono::Utc> {
        let entry = pending.body["pending"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["subjectId"].as_str() == Some(ticket.to_string().as_str()))
            .unwrap_or_else(|| panic!("ticket {ticket} pending: {pending:?}"));
        entry["dueAt"].as_str().unwrap().parse().unwrap()
    };
    let with_comment = |ticket: i64, grade: i64| {
        let mut body = ticket_rating(ticket, grade);
        body["comment"] = json!("办得很快");
        body
    };
    let bodies = [
        ticket_rating(tickets[0], 5),
        with_comment(tickets[1], 4),
        ticket_rating(tickets[2], 1),
    ];
    // A second before the edge: taken (tickets are done in order, so the clock only moves on).
    for (ticket, body) in tickets.iter().zip(&bodies) {
        app.clock.set(due(*ticket) - chrono::Duration::seconds(1));
        let taken = rate(app, &a, body).await;
        assert_eq!(taken.status, StatusCode::CREATED, "{ticket}: {taken:?}");
    }
    let rows = entities::evaluation::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row.hall_id, Some(world.hall_id), "{row:?}");
        assert_eq!(row.counter_id, Some(clerk.1), "{row:?}");
        assert!(row.staff_id.is_some(), "{row:?}");
        assert!(row.real_name, "the citizen proved their identity: {row:?}");
        assert!(!row.defaulted);
    }
    assert_eq!(
        entities::evaluation_invitation::Entity::find()
            .filter(entities::evaluation_invitation::Column::Settled.eq(true))
            .count(&app.db)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        entities::evaluation_outbox::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        3
    );

    // From the edge on (the test clock lands on it or a few milliseconds past): refused.
    let late = [
        ticket_rating(tickets[3], 5),
        with_comment(tickets[4], 4),
        ticket_rating(tickets[5], 1),
    ];
    for (ticket, body) in tickets[3..].iter().zip(&late) {
        app.clock.set(due(*ticket));
        let refused = rate(app, &a, body).await;
        assert_eq!(
            refused.status,
            StatusCode::CONFLICT,
            "{ticket}: {refused:?}"
        );
        assert_eq!(refused.error_code(), "EVALUATION_WINDOW_CLOSED");
    }
    assert_eq!(
        entities::evaluation::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        entities::evaluation_outbox::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn the_window_passes_into_one_default_across_two_instances() {
    let world = World::new(crate::booking_fixture::monday_nine(), false).await;
    let clerk = world.clerk("clerk.default").await;
    let a = citizen(&world.app, 1).await;
    let tickets = [
        world.ticket(&a, &clerk, true).await,
        world.ticket(&a, &clerk, true).await,
        world.ticket(&a, &clerk, true).await,
    ];
    let second = world.instance(false).await;
    // One of three is rated in time.
    let rated = rate(&world.app, &a, &ticket_rating(tickets[0], 4)).await;
    assert_eq!(rated.status, StatusCode::CREATED, "{rated:?}");

    // Six days later nothing defaults; past seven days the two instances race.
    world.app.clock.advance(chrono::Duration::days(6));
    assert_eq!(
        world.app.evaluations.worker().default_once().await.unwrap(),
        0
    );
    world
        .app
        .clock
        .advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    let late = rate(&world.app, &a, &ticket_rating(tickets[1], 5)).await;
    assert_eq!(late.error_code(), "EVALUATION_WINDOW_CLOSED");
    let (w1, w2) = (world.app.evaluations.worker(), second.evaluations.worker());
    let (x, y) = tokio::join!(w1.default_once(), w2.default_once());
    let (x2, y2) = tokio::join!(w1.default_once(), w2.default_once());
    assert_eq!(
        x.unwrap() + y.unwrap() + x2.unwrap() + y2.unwrap(),
        2,
        "one default for each unrated ticket"
    );
    let rows = entities::evaluation::Entity::find()
        .filter(entities::evaluation::Column::Defaulted.eq(true))
        .all(&world.app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.grade == 3 && r.comment.is_none()));
    assert_eq!(
        entities::evaluation_outbox::Entity::find()
            .count(&world.app.db)
            .await
            .unwrap(),
        3
    );
    // The citizen sees them as defaulted, not as their words; a rating now is a second one.
    let mine = world.app.get("/api/v1/evaluations", Some(&a.token)).await;
    let defaulted: Vec<&Value> = mine.body["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["defaulted"] == true)
        .collect();
    assert_eq!(defaulted.len(), 2);
    assert!(defaulted.iter().all(|e| e["gradeText"] == "基本满意"));
    let after = rate(&world.app, &a, &ticket_rating(tickets[1], 5)).await;
    assert_eq!(after.error_code(), "ALREADY_EVALUATED");

    // Both forwarders drain the outbox: three entries, once each.
    for _ in 0..20 {
        let f1 = world.app.evaluations.forwarder();
        let f2 = second.evaluations.forwarder();
        let _ = tokio::join!(f1.forward_once(), f2.forward_once());
        if world.province.evaluations().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ledger = world.province.evaluations();
    assert_eq!(ledger.len(), 3, "{ledger:?}");
    assert_eq!(ledger.iter().filter(|e| e["grade"] == 3).count(), 2);
}

#[tokio::test]
async fn comments_pass_wait_for_review_are_refused_when_risky_and_survive_wechat_down() {
    let world = World::new(crate::booking_fixture::monday_nine(), true).await;
    let app = &world.app;
    let clerk = world.clerk("clerk.comments").await;
    let admin = staff(app, "admin.comments", Role::Admin, world.hall_id).await;
    let a = citizen(app, 1).await;
    let tickets = [
        world.ticket(&a, &clerk, true).await,
        world.ticket(&a, &clerk, true).await,
        world.ticket(&a, &clerk, true).await,
    ];
    let with_comment = |t: i64, text: &str| {
        let mut body = ticket_rating(t, 4);
        body["comment"] = json!(text);
        body
    };

    // Risky: refused with its code, nothing kept; the citizen may write again.
    app.wechat.set_sec_check("risky", 20003);
    let risky = rate(app, &a, &with_comment(tickets[0], "骂人的话")).await;
    assert_eq!(risky.status, StatusCode::UNPROCESSABLE_ENTITY, "{risky:?}");
    assert_eq!(risky.error_code(), "EVALUATION_COMMENT_REJECTED");
    assert_eq!(
        entities::evaluation::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );

    // Review: kept, hidden; staff clear it and then it is shown and sent with its words.
    app.wechat.set_sec_check("review", 20012);
    let review = rate(app, &a, &with_comment(tickets[0], "有点粗俗的话")).await;
    assert_eq!(review.status, StatusCode::CREATED, "{review:?}");
    assert_eq!(review.body["commentStatus"], "REVIEW");
    let review_id = review.body["id"].as_str().unwrap().to_owned();
    let listed = app
        .get(
            &format!("/staff/v1/halls/{}/evaluations/review", world.hall_id),
            Some(&admin),
        )
        .await;
    assert_eq!(
        listed.body["comments"][0]["evaluationId"],
        review_id.as_str()
    );
    eventually(
        "the review's ledger entry",
        Duration::from_secs(10),
        || async { !ledger_of(&world.province, &review_id).is_empty() },
    )
    .await;
    assert_eq!(
        ledger_of(&world.province, &review_id)[0]["comment"],
        "",
        "hidden words do not leave"
    );
    let clerk_tries = app
        .post(
            &format!("/staff/v1/evaluations/{review_id}/comment"),
            Some(&clerk.0),
            &json!({ "visible": true }),
        )
        .await;
    assert_eq!(clerk_tries.status, StatusCode::FORBIDDEN);
    let cleared = app
        .post(
            &format!("/staff/v1/evaluations/{review_id}/comment"),
            Some(&admin),
            &json!({ "visible": true }),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT, "{cleared:?}");
    let twice = app
        .post(
            &format!("/staff/v1/evaluations/{review_id}/comment"),
            Some(&admin),
            &json!({ "visible": false }),
        )
        .await;
    assert_eq!(twice.error_code(), "COMMENT_NOT_IN_REVIEW");

    // WeChat down: the rating is kept, its comment unchecked and not sent until WeChat answers.
    app.wechat.set_sec_check("pass", 100);
    app.wechat
        .inject(Endpoint::MsgSecCheck, WxFault::Http5xx, 3);
    let down = rate(app, &a, &with_comment(tickets[1], "办得很快")).await;
    assert_eq!(down.status, StatusCode::CREATED, "{down:?}");
    assert_eq!(down.body["commentStatus"], "UNCHECKED");
    let down_id = down.body["id"].as_str().unwrap().to_owned();
    // The worker asks again (WeChat answers now) and the evaluation goes out with its words.
    eventually(
        "the comment to be checked",
        Duration::from_secs(10),
        || async {
            app.get("/api/v1/evaluations", Some(&a.token)).await.body["evaluations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["id"] == down_id.as_str() && e["commentStatus"] == "PASS")
        },
    )
    .await;
    eventually("the ledger entry", Duration::from_secs(10), || async {
        !ledger_of(&world.province, &down_id).is_empty()
    })
    .await;
    assert_eq!(
        ledger_of(&world.province, &down_id)[0]["comment"],
        "办得很快"
    );

    // No comment: nothing asked of WeChat.
    let asked = app.wechat.stats().msg_sec_check_calls;
    let plain = rate(app, &a, &ticket_rating(tickets[2], 5)).await;
    assert_eq!(plain.body["commentStatus"], "NONE");
    assert_eq!(app.wechat.stats().msg_sec_check_calls, asked);
}

#[tokio::test]
async fn a_bad_rating_is_rectified_on_the_working_day_calendar_and_followed_up_once() {
    // Wednesday 30 September 2026: 1–7 October are the National Day holiday, Saturday 10 October
    // is a working day (调休).
    let world = World::new(shanghai(2026, 9, 30, 10, 0), true).await;
    let app = &world.app;
    let clerk = world.clerk("clerk.rectify").await;
    let admin = staff(app, "admin.rectify", Role::Admin, world.hall_id).await;
    let a = citizen(app, 1).await;
    let ticket = world.ticket(&a, &clerk, true).await;
    let mut body = ticket_rating(ticket, 1);
    body["tags"] = json!(["服务态度差", "等候时间长"]);
    let rated = rate(app, &a, &body).await;
    assert_eq!(rated.status, StatusCode::CREATED, "{rated:?}");
    let r = &rated.body["rectification"];
    assert_eq!(r["status"], "OPEN");
    // Contact within one working day: the holiday is skipped to Thursday 8 October.
    assert_eq!(r["contactDueDate"], "2026-10-08");
    // Five working days: 8, 9, Saturday 10 (调休), 12, 13.
    assert_eq!(r["rectifyDueDate"], "2026-10-13");
    let rectification_id = r["id"].as_i64().unwrap();

    // A clerk may not handle it; the hall's admin sees it.
    let refused = app
        .get(
            &format!("/staff/v1/rectifications?hallId={}", world.hall_id),
            Some(&clerk.0),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // A second 差评, and the clock past the first's contact deadline: the overdue one is first.
    app.clock.set(shanghai(2026, 10, 9, 10, 0));
    let ticket2 = world.ticket(&a, &clerk, true).await;
    let second = rate(app, &a, &ticket_rating(ticket2, 2)).await;
    assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
    assert_eq!(second.body["rectification"]["contactDueDate"], "2026-10-10");
    let list = app
        .get(
            &format!("/staff/v1/rectifications?hallId={}", world.hall_id),
            Some(&admin),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let open = list.body["rectifications"].as_array().unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open[0]["id"], rectification_id);
    assert_eq!(open[0]["overdue"], true);
    assert_eq!(open[1]["overdue"], false);
    assert!(!list.text.contains(&id_card_no(1)) && !list.text.contains(&a.openid));
    // The hall admin is alerted once.
    let w = app.evaluations.worker();
    eventually("the overdue mark", Duration::from_secs(10), || async {
        app.get(
            &format!("/staff/v1/rectifications?hallId={}", world.hall_id),
            Some(&admin),
        )
        .await
        .body["rectifications"][0]["overdueNotifiedAt"]
            .is_string()
    })
    .await;
    assert_eq!(w.overdue_once().await.unwrap(), 0, "once");

    // 追评 only after the rectification.
    let evaluation_id = rated.body["id"].as_str().unwrap().to_owned();
    let early = app
        .post(
            &format!("/api/v1/evaluations/{evaluation_id}/follow-up"),
            Some(&a.token),
            &json!({ "grade": 4 }),
        )
        .await;
    assert_eq!(early.error_code(), "FOLLOW_UP_NOT_ALLOWED");
    let contacted = app
        .post(
            &format!("/staff/v1/rectifications/{rectification_id}/contact"),
            Some(&admin),
            &json!({ "note": "已电话回访，向群众致歉" }),
        )
        .await;
    assert_eq!(contacted.status, StatusCode::OK, "{contacted:?}");
    assert_eq!(contacted.body["status"], "CONTACTED");
    let again = app
        .post(
            &format!("/staff/v1/rectifications/{rectification_id}/contact"),
            Some(&admin),
            &json!({ "note": "再次回访" }),
        )
        .await;
    assert_eq!(again.error_code(), "RECTIFICATION_STATE_CHANGED");
    let empty = app
        .post(
            &format!("/staff/v1/rectifications/{rectification_id}/rectify"),
            Some(&admin),
            &json!({ "note": "  " }),
        )
        .await;
    assert_eq!(empty.error_code(), "VALIDATION_FAILED");
    let rectified = app
        .post(
            &format!("/staff/v1/rectifications/{rectification_id}/rectify"),
            Some(&admin),
            &json!({ "note": "已对窗口人员进行服务规范培训" }),
        )
        .await;
    assert_eq!(rectified.status, StatusCode::OK, "{rectified:?}");
    assert_eq!(rectified.body["status"], "RECTIFIED");
    // The citizen is told and sees the outcome.
    assert!(
        message_kinds(app, &a.token)
            .await
            .contains(&"evaluation_rectified".to_owned())
    );
    let mine = app.get("/api/v1/evaluations", Some(&a.token)).await;
    let first = mine.body["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == evaluation_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        first["rectification"]["rectifyNote"],
        "已对窗口人员进行服务规范培训"
    );
    let follow = app
        .post(
            &format!("/api/v1/evaluations/{evaluation_id}/follow-up"),
            Some(&a.token),
            &json!({ "grade": 4, "comment": "整改后态度好多了" }),
        )
        .await;
    assert_eq!(follow.status, StatusCode::OK, "{follow:?}");
    assert_eq!(follow.body["followUp"]["grade"], 4);
    // Staff see what was rated and the 追评, never who.
    let all = app
        .get(
            &format!(
                "/staff/v1/rectifications?hallId={}&status=all",
                world.hall_id
            ),
            Some(&admin),
        )
        .await;
    let seen = all.body["rectifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == rectification_id)
        .unwrap()
        .clone();
    assert_eq!(seen["rating"]["grade"], 1, "{seen}");
    assert_eq!(seen["rating"]["gradeText"], "非常不满意");
    assert_eq!(seen["rating"]["tags"], json!(["服务态度差", "等候时间长"]));
    assert_eq!(seen["rating"]["followUp"]["grade"], 4);
    assert!(!all.text.contains(&a.openid) && !all.text.contains(&id_card_no(1)));
    let twice = app
        .post(
            &format!("/api/v1/evaluations/{evaluation_id}/follow-up"),
            Some(&a.token),
            &json!({ "grade": 5 }),
        )
        .await;
    assert_eq!(twice.error_code(), "FOLLOW_UP_NOT_ALLOWED");

    // Statistics: two 差评, one rectified after the contact deadline but within its limit.
    let stats = app
        .get(
            &format!(
                "/staff/v1/halls/{}/evaluations/stats?from=2026-09-01&to=2026-10-31&by=counter",
                world.hall_id
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{stats:?}");
    let row = &stats.body["rows"][0];
    assert_eq!(row["count"], 2);
    assert_eq!(row["badRate"], 1.0);
    assert_eq!(row["rectifiedInTime"], 1);
    assert_eq!(row["rectificationRate"], 0.5);
    assert_eq!(row["indicators"]["attitude"], 1.5);
    let csv = app
        .get(
            &format!(
                "/staff/v1/halls/{}/evaluations/stats?from=2026-09-01&to=2026-10-31&by=staff&format=csv",
                world.hall_id
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.text.contains("差评整改率"), "{}", csv.text);
    assert!(!csv.text.contains(&a.openid) && !csv.text.contains("张三"));
    let bad_by = app
        .get(
            &format!(
                "/staff/v1/halls/{}/evaluations/stats?from=2026-10-31&to=2026-09-01",
                world.hall_id
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(bad_by.error_code(), "VALIDATION_FAILED");
}

#[tokio::test]
async fn ratings_through_a_province_outage_reach_its_ledger_once_each() {
    let world = World::new(crate::booking_fixture::monday_nine(), true).await;
    let app = &world.app;
    let clerk = world.clerk("clerk.outage").await;
    let a = citizen(app, 1).await;
    let tickets = [
        world.ticket(&a, &clerk, true).await,
        world.ticket(&a, &clerk, true).await,
        world.ticket(&a, &clerk, true).await,
    ];
    // The first answer is lost after the platform took it; then the platform is down.
    world
        .province
        .fault(Group::Evaluations, Fault::TimeoutAfterAccept(1));
    let first = rate(app, &a, &ticket_rating(tickets[0], 5)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let first_id = first.body["id"].as_str().unwrap().to_owned();
    eventually(
        "the lost answer's resend",
        Duration::from_secs(15),
        || async { world.province.evaluation_submissions(&first_id) >= 2 },
    )
    .await;
    world.province.fault(Group::Evaluations, Fault::Down);
    let mut ids = vec![first_id];
    for t in &tickets[1..] {
        let r = rate(app, &a, &ticket_rating(*t, 4)).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "the citizen never waits for the platform"
        );
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A restart while it is down: a new instance takes over the outbox.
    app.stop().await;
    let next = world.instance(true).await;
    world.province.clear_faults();
    // A send the stopped instance had claimed returns to `next` when its lease passes (5 s here).
    eventually("every entry", Duration::from_secs(30), || async {
        world.province.evaluations().len() == 3
    })
    .await;
    for id in &ids {
        assert_eq!(ledger_of(&world.province, id).len(), 1, "{id}");
    }
    // The platform may hold a rating whose answer was lost: its row settles on the resend, after a
    // backoff or a lease. On a timeout the rows are printed, so that a failure says which and why.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = entities::evaluation_outbox::Entity::find()
            .all(&next.db)
            .await
            .unwrap();
        if rows
            .iter()
            .all(|r| r.status == entities::status::OutboxStatus::Done)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox did not settle: {rows:#?} (clock now {})",
            next.clock.now()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- 网上: a case ----

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

async fn upload(app: &TestApp, c: &Citizen, name: &str, bytes: &[u8]) -> Value {
    let boundary = "----zsb-evaluations";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let reply = app
        .send(
            app.http
                .post(app.url("/api/v1/materials"))
                .bearer_auth(&c.token)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

#[tokio::test]
async fn a_concluded_case_is_rated_online_by_its_applicant_with_its_case_number() {
    let world = World::new(crate::booking_fixture::monday_nine(), true).await;
    let app = &world.app;
    world
        .province
        .set_callback_url(Some(app.url("/callbacks/province/case-events")));
    let mut s = world.deployment.settings();
    use_province(&mut s, &world.province);
    let (catalogue, client) = gateway::startup::offline_catalogue(&s, app.db.clone())
        .await
        .unwrap();
    catalogue.sync(&client, true).await.unwrap();
    let item_code = simulators::province::demo_items()
        .iter()
        .find(|i| i["name"].as_str().unwrap().contains("查询"))
        .and_then(|i| i["itemCode"].as_str())
        .unwrap()
        .to_owned();
    let a = citizen(app, 7).await;
    let phone = app
        .post(
            "/api/v1/me/phone",
            Some(&a.token),
            &json!({ "code": app.wechat.mint_phone_code("13900000007") }),
        )
        .await;
    assert_eq!(phone.status, StatusCode::OK, "{phone:?}");
    let form = upload(app, &a, "申请书.pdf", PDF).await;
    let idc = upload(app, &a, "身份证.png", PNG).await;
    let submitted = app
        .post(
            "/api/v1/applications",
            Some(&a.token),
            &json!({
                "itemCode": item_code,
                "form": { "purpose": "办理贷款", "parcel": "观山湖区 12-3" },
                "materials": [
                    { "code": "M001", "materialId": form["id"] },
                    { "code": "M002", "materialId": idc["id"] },
                ],
                "obtainWay": "COLLECT",
            }),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::CREATED, "{submitted:?}");
    let application_id = submitted.body["id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let sblsh = loop {
        let view = app
            .get(
                &format!("/api/v1/applications/{application_id}"),
                Some(&a.token),
            )
            .await;
        if let Some(sblsh) = view.body["sblsh"].as_str() {
            break sblsh.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no case number: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let online = json!({
        "overall": 5, "efficiency": 5, "guideAccuracy": 4, "convenience": 5, "usability": 4
    });
    let case_rating = json!({
        "subjectKind": "CASE", "subjectId": application_id, "grade": 5, "indicators": online,
    });
    let early = rate(app, &a, &case_rating).await;
    assert_eq!(early.error_code(), "EVALUATION_NOT_OPEN");

    world
        .province
        .advance(&sblsh, Phase::Accepted, json!({}))
        .unwrap();
    world
        .province
        .advance(
            &sblsh,
            Phase::Concluded,
            json!({ "result": "6", "licenceIds": [] }),
        )
        .unwrap();
    eventually("the invitation", Duration::from_secs(15), || async {
        app.get("/api/v1/evaluations/pending", Some(&a.token))
            .await
            .body["pending"]
            .as_array()
            .is_some_and(|p| p.iter().any(|e| e["subjectKind"] == "CASE"))
    })
    .await;
    // Offline indicators do not fit an online case.
    let wrong = rate(
        app,
        &a,
        &json!({ "subjectKind": "CASE", "subjectId": application_id, "grade": 5, "indicators": offline(5) }),
    )
    .await;
    assert_eq!(wrong.error_code(), "VALIDATION_FAILED");
    let rated = rate(app, &a, &case_rating).await;
    assert_eq!(rated.status, StatusCode::CREATED, "{rated:?}");
    let evaluation_id = rated.body["id"].as_str().unwrap().to_owned();
    eventually("the ledger entry", Duration::from_secs(10), || async {
        !ledger_of(&world.province, &evaluation_id).is_empty()
    })
    .await;
    let sent = &ledger_of(&world.province, &evaluation_id)[0];
    assert_eq!(sent["sblsh"], sblsh.as_str());
    assert_eq!(sent["hallCode"], Value::Null);
    assert_eq!(sent["indicators"]["平台操作性"], 4);
    let again = rate(app, &a, &case_rating).await;
    assert_eq!(again.error_code(), "ALREADY_EVALUATED");
    assert_eq!(
        entities::evaluation_invitation::Entity::find()
            .filter(entities::evaluation_invitation::Column::SubjectKind.eq("CASE"))
            .count(&app.db)
            .await
            .unwrap(),
        1,
        "one invitation whatever the callbacks repeat"
    );

    // The online ratings by the item's department: global admins only, never an identity.
    let department = entities::evaluation::Entity::find_by_id(evaluation_id.as_str())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .department
        .expect("attributed to the item's department");
    let today = app.clock.now().date_naive();
    let period = format!(
        "from={}&to={}",
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(1)
    );
    let hall_admin = staff(app, "admin.case", Role::Admin, world.hall_id).await;
    let refused = app
        .get(
            &format!("/staff/v1/evaluations/departments?{period}"),
            Some(&hall_admin),
        )
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN");
    let global = global_admin(app, "admin.global").await;
    let stats = app
        .get(
            &format!("/staff/v1/evaluations/departments?{period}"),
            Some(&global),
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{stats:?}");
    assert_eq!(stats.body["by"], "department");
    let rows = stats.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["key"], department.as_str());
    assert_eq!(rows[0]["count"], 1);
    assert_eq!(rows[0]["goodRate"], 1.0);
    assert_eq!(rows[0]["indicators"]["usability"], 4.0);
    let csv = app
        .get(
            &format!("/staff/v1/evaluations/departments?{period}&format=csv"),
            Some(&global),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.text.contains("平台操作性") && csv.text.contains(&department),
        "{}",
        csv.text
    );
    for text in [&stats.text, &csv.text] {
        assert!(!text.contains(&a.openid) && !text.contains(&id_card_no(1)));
    }
    let bad_by = app
        .get(
            &format!("/staff/v1/evaluations/departments?{period}&by=counter"),
            Some(&global),
        )
        .await;
    assert_eq!(bad_by.error_code(), "VALIDATION_FAILED");
}

/// A staff member who administers every hall (and the online business).
async fn global_admin(app: &TestApp, username: &str) -> String {
    gateway::startup::offline_staff_service(app.db.clone())
        .create(
            username,
            SecretString::from("a long enough password"),
            "省级管理员",
            vec![(Role::Admin, services::staff::HallScope::All)],
        )
        .await
        .expect("create the global admin");
    let reply = app
        .post(
            "/staff/v1/auth/login",
            None,
            &json!({ "username": username, "password": "a long enough password" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["token"].as_str().unwrap().to_owned()
}

// ---- the staff inbox ----

#[tokio::test]
async fn an_overdue_rectification_alerts_the_hall_admins_once_across_two_instances() {
    // Wednesday 30 September 2026: the contact deadline is Thursday 8 October (after the
    // National Day holiday).
    let world = World::new(shanghai(2026, 9, 30, 10, 0), false).await;
    let app = &world.app;
    let clerk = world.clerk("clerk.inbox").await;
    let admin = staff(app, "admin.inbox", Role::Admin, world.hall_id).await;
    let other_hall = crate::queue_fixture::hall_id(app, crate::booking_fixture::OTHER_HALL).await;
    assert_ne!(other_hall, world.hall_id);
    let other = staff(app, "admin.elsewhere", Role::Admin, other_hall).await;
    let a = citizen(app, 1).await;
    let ticket = world.ticket(&a, &clerk, true).await;
    let rated = rate(app, &a, &ticket_rating(ticket, 1)).await;
    assert_eq!(rated.status, StatusCode::CREATED, "{rated:?}");
    let rectification_id = rated.body["rectification"]["id"].as_i64().unwrap();
    let second = world.instance(false).await;

    // Before the deadline: nothing, on either instance.
    let (w1, w2) = (app.evaluations.worker(), second.evaluations.worker());
    app.clock.set(shanghai(2026, 10, 8, 23, 0));
    let (x, y) = tokio::join!(w1.overdue_once(), w2.overdue_once());
    assert_eq!(x.unwrap() + y.unwrap(), 0);
    let empty = app.get("/staff/v1/inbox", Some(&admin)).await;
    assert_eq!(empty.status, StatusCode::OK, "{empty:?}");
    assert_eq!(empty.body["unread"], 0);

    // Past the contact deadline the two instances race: one alert.
    app.clock.set(shanghai(2026, 10, 9, 9, 0));
    let (x, y) = tokio::join!(w1.overdue_once(), w2.overdue_once());
    let (x2, y2) = tokio::join!(w1.overdue_once(), w2.overdue_once());
    assert_eq!(
        x.unwrap() + y.unwrap() + x2.unwrap() + y2.unwrap(),
        1,
        "alerted once"
    );
    // Past the rectification deadline too: still the one alert for the ticket.
    app.clock.set(shanghai(2026, 10, 20, 9, 0));
    assert_eq!(w2.overdue_once().await.unwrap(), 0);
    assert_eq!(
        entities::staff_inbox::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );

    let inbox = app.get("/staff/v1/inbox", Some(&admin)).await;
    assert_eq!(inbox.status, StatusCode::OK, "{inbox:?}");
    assert_eq!(inbox.body["unread"], 1);
    let entry = &inbox.body["entries"][0];
    assert_eq!(entry["kind"], "RECTIFICATION_OVERDUE");
    assert_eq!(entry["subject"], rectification_id.to_string());
    assert_eq!(entry["hallId"], world.hall_id);
    assert!(
        entry["body"].as_str().unwrap().contains("未按期回访"),
        "{entry}"
    );
    assert!(!inbox.text.contains(&a.openid) && !inbox.text.contains(&id_card_no(1)));
    // The ticket shows when its admins were alerted.
    let list = app
        .get(
            &format!("/staff/v1/rectifications?hallId={}", world.hall_id),
            Some(&admin),
        )
        .await;
    assert!(list.body["rectifications"][0]["overdueNotifiedAt"].is_string());

    // Only the hall's admins: a clerk and another hall's admin see nothing and may not mark it.
    let entry_id = entry["id"].as_i64().unwrap();
    for token in [&clerk.0, &other] {
        let theirs = app.get("/staff/v1/inbox", Some(token)).await;
        assert_eq!(theirs.status, StatusCode::OK);
        assert_eq!(theirs.body["unread"], 0);
        assert_eq!(theirs.body["entries"].as_array().unwrap().len(), 0);
        let refused = app
            .post(
                &format!("/staff/v1/inbox/{entry_id}/read"),
                Some(token),
                &json!({}),
            )
            .await;
        assert_eq!(refused.error_code(), "FORBIDDEN");
    }

    // Read once for the hall; the unread list empties, the entry stays.
    let read = app
        .post(
            &format!("/staff/v1/inbox/{entry_id}/read"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{read:?}");
    let read_at = read.body["readAt"].as_str().unwrap().to_owned();
    let again = app
        .post(
            &format!("/staff/v1/inbox/{entry_id}/read"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(again.body["readAt"], read_at.as_str());
    let unread = app.get("/staff/v1/inbox?unread=true", Some(&admin)).await;
    assert_eq!(unread.body["unread"], 0);
    assert_eq!(unread.body["entries"].as_array().unwrap().len(), 0);
    let all = app.get("/staff/v1/inbox", Some(&admin)).await;
    assert_eq!(all.body["entries"].as_array().unwrap().len(), 1);
    let missing = app
        .post("/staff/v1/inbox/999999/read", Some(&admin), &json!({}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "INBOX_ENTRY_NOT_FOUND");
}

/// Whether a statement of this test's database waits for a lock (PostgreSQL).
async fn a_statement_waits_for_a_lock(db: &sea_orm::DatabaseConnection) -> bool {
    use sea_orm::ConnectionTrait as _;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap() > 0
}

/// Group commit (PostgreSQL, one statement in flight): while a rating's statement is held on
/// a lock, seven more queue behind it and then go together into one statement — and each gets
/// its own answer: a second rating of the held ticket 409, two ratings of one ticket in the
/// same batch one 201 and one 409, a closed window 409, another citizen's ticket 404, the rest
/// 201, written by that one statement (one transaction id). On SQLite (no group commit) the
/// same mix, at once, gets the same answers.
#[tokio::test]
async fn ratings_written_together_each_get_their_own_answer() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};

    let world = World::new(crate::booking_fixture::monday_nine(), false).await;
    let clerk = world.clerk("clerk.batch").await;
    let a = citizen(&world.app, 1).await;
    let b = citizen(&world.app, 2).await;
    let mut t = Vec::new();
    for _ in 0..6 {
        t.push(world.ticket(&a, &clerk, true).await);
    }
    // Ticket 3's window has passed (no worker here: its default is not recorded yet).
    entities::evaluation_invitation::Entity::update_many()
        .col_expr(
            entities::evaluation_invitation::Column::InvitedAt,
            Expr::value(world.app.clock.now() - chrono::Duration::days(30)),
        )
        .filter(entities::evaluation_invitation::Column::SubjectId.eq(t[3].to_string()))
        .exec(&world.app.db)
        .await
        .unwrap();
    let base = customize(&world.province, false);
    let one = world
        .deployment
        .instance(move |s| {
            base(s);
            s.evaluations.statements_in_flight = 1;
        })
        .await;
    let pg = support::postgres_admin_url().is_some();
    // PostgreSQL: ticket 0's invitation locked, so its rating's statement (which settles it)
    // waits, holding the one slot.
    let mut hold = None;
    if pg {
        let txn = world.app.db.begin().await.unwrap();
        txn.execute_unprepared(&format!(
            "SELECT 1 FROM evaluation_invitations \
             WHERE subject_kind = 'TICKET' AND subject_id = '{}' FOR UPDATE",
            t[0]
        ))
        .await
        .unwrap();
        hold = Some(txn);
    }
    let mix = [
        (&a, ticket_rating(t[0], 4)),
        (&a, ticket_rating(t[1], 5)),
        (&a, ticket_rating(t[2], 4)),
        (&a, ticket_rating(t[2], 3)),
        (&a, ticket_rating(t[3], 5)),
        (&b, ticket_rating(t[4], 5)),
        (&a, ticket_rating(t[5], 4)),
    ];
    let held = ticket_rating(t[0], 5);
    let first = rate(&one, &a, &held);
    let rest = async {
        if pg {
            eventually(
                "ticket 0's statement waiting for the lock",
                Duration::from_secs(30),
                || a_statement_waits_for_a_lock(&world.app.db),
            )
            .await;
        }
        let replies =
            futures::future::join_all(mix.iter().map(|(who, body)| rate(&one, who, body)));
        let release = async {
            if let Some(txn) = hold.take() {
                eventually(
                    "seven ratings queued behind the held statement",
                    Duration::from_secs(30),
                    || async { one.evaluations.ratings_waiting() == mix.len() },
                )
                .await;
                txn.rollback().await.unwrap();
            }
        };
        tokio::join!(replies, release).0
    };
    // On SQLite nothing holds ticket 0's first rating: it goes alone, before the mix (as it is
    // the first arrival on PostgreSQL), or it would race the mix's rating of the same ticket.
    let (first, replies) = if pg {
        tokio::join!(first, rest)
    } else {
        let first = first.await;
        (first, rest.await)
    };

    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let code = |r: &Reply| {
        if r.status.is_success() {
            (r.status, String::new())
        } else {
            (r.status, r.error_code().to_owned())
        }
    };
    assert_eq!(
        code(&replies[0]),
        (StatusCode::CONFLICT, "ALREADY_EVALUATED".to_owned()),
        "{:?}",
        replies[0]
    );
    assert_eq!(replies[1].status, StatusCode::CREATED, "{:?}", replies[1]);
    let mut twice = [code(&replies[2]), code(&replies[3])];
    twice.sort();
    assert_eq!(
        twice,
        [
            (StatusCode::CREATED, String::new()),
            (StatusCode::CONFLICT, "ALREADY_EVALUATED".to_owned()),
        ],
        "{:?} {:?}",
        replies[2],
        replies[3]
    );
    assert_eq!(
        code(&replies[4]),
        (StatusCode::CONFLICT, "EVALUATION_WINDOW_CLOSED".to_owned()),
        "{:?}",
        replies[4]
    );
    assert_eq!(
        code(&replies[5]),
        (
            StatusCode::NOT_FOUND,
            "EVALUATION_SUBJECT_NOT_FOUND".to_owned()
        ),
        "{:?}",
        replies[5]
    );
    assert_eq!(replies[6].status, StatusCode::CREATED, "{:?}", replies[6]);
    // Written: tickets 0, 1, 2 and 5, each once, each with its outbox row and settled
    // invitation; nothing for the others.
    let rows = entities::evaluation::Entity::find()
        .all(&world.app.db)
        .await
        .unwrap();
    let mut subjects: Vec<String> = rows.iter().map(|r| r.subject_id.clone()).collect();
    subjects.sort();
    let mut expected: Vec<String> = [t[0], t[1], t[2], t[5]]
        .iter()
        .map(ToString::to_string)
        .collect();
    expected.sort();
    assert_eq!(subjects, expected);
    assert_eq!(
        entities::evaluation_outbox::Entity::find()
            .count(&world.app.db)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        entities::evaluation_invitation::Entity::find()
            .filter(entities::evaluation_invitation::Column::Settled.eq(true))
            .count(&world.app.db)
            .await
            .unwrap(),
        4
    );
    if pg {
        // Tickets 1, 2 and 5 went in one statement: one transaction wrote them.
        let row = world
            .app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT count(DISTINCT xmin::text) FROM evaluations \
                     WHERE subject_id IN ('{}', '{}', '{}')",
                    t[1], t[2], t[5]
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 1);
    }
}
