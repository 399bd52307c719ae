//! 代办 for someone not on the citizen's phone: the application waits for that person's
//! consent from their own verified account. Accepted → sent to the province simulator exactly
//! once (its ledger); refused or never answered → never sent; a request lapses after its time.
//! The free-text path (`onBehalfOf`) is retired.

use std::time::Duration;

use miniprogram_api::applications::{
    Application, ApplicationList, ConsentRequest, ConsentRequestList, ConsentStatus, DeliveryStatus,
};
use miniprogram_api::notify::{Message, Messages};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::{Value, json};

use crate::applications::{World, until_status};
use crate::helpers::{Citizen, Reply, TestApp, id_card_no};

/// The name `World::citizen` verifies everyone as.
const NAME: &str = "王小二";

async fn ask(world: &World, requester: &Citizen, person: Value) -> Reply {
    let materials = world.materials(&world.app, requester).await;
    let mut body = world.application(&materials);
    body["consentOf"] = person;
    world
        .app
        .post("/api/v1/applications", Some(&requester.token), &body)
        .await
}

async fn asked(world: &World, requester: &Citizen, n: u32) -> String {
    let reply = ask(
        world,
        requester,
        json!({ "name": NAME, "idCardNo": id_card_no(n) }),
    )
    .await;
    let asked: Application = reply.created();
    assert_eq!(asked.status, DeliveryStatus::AwaitingConsent);
    assert!(asked.on_behalf);
    assert_eq!(
        asked.consent.map(|c| c.status),
        Some(ConsentStatus::Pending)
    );
    asked.id
}

async fn pending(app: &TestApp, citizen: &Citizen) -> Vec<ConsentRequest> {
    app.get("/api/v1/consents", Some(&citizen.token))
        .await
        .ok::<ConsentRequestList>()
        .consents
}

async fn answer(app: &TestApp, citizen: &Citizen, id: &str, verb: &str) -> Reply {
    app.post(
        &format!("/api/v1/consents/{id}/{verb}"),
        Some(&citizen.token),
        &json!({}),
    )
    .await
}

/// The application's outbox entries: audits "nothing is sent before the person accepts, and
/// then exactly once" below the API.
async fn outbox_rows(app: &TestApp, application_id: &str) -> u64 {
    entities::province_outbox::Entity::find()
        .filter(entities::province_outbox::Column::ApplicationId.eq(application_id))
        .count(&app.db)
        .await
        .unwrap()
}

/// The citizen's inbox messages about consent (their other messages left out).
async fn consent_messages(app: &TestApp, citizen: &Citizen) -> Vec<Message> {
    app.get("/api/v1/messages?pageSize=50", Some(&citizen.token))
        .await
        .ok::<Messages>()
        .messages
        .into_iter()
        .filter(|m| m.kind.starts_with("consent_"))
        .collect()
}

async fn application(app: &TestApp, citizen: &Citizen, id: &str) -> Application {
    app.get(&format!("/api/v1/applications/{id}"), Some(&citizen.token))
        .await
        .ok()
}

#[tokio::test]
async fn an_accepted_request_is_sent_to_the_platform_exactly_once() {
    let world = World::new().await;
    let app = &world.app;
    let agent = world.citizen(app, 1501).await;
    let person = world.citizen(app, 1502).await;
    let id = asked(&world, &agent, 1502).await;

    // Nothing reaches the platform, nor the outbox, before the person answers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.province.ledger_len(), 0);
    assert_eq!(outbox_rows(app, &id).await, 0);
    let waiting = pending(app, &person).await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].application_id, id);
    assert_eq!(waiting[0].requester_name, "王**");
    let consent = waiting[0].id.clone();
    // Only the person asked may answer.
    assert!(pending(app, &agent).await.is_empty());
    let refused = answer(app, &agent, &consent, "accept").await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(refused.error_code(), "CONSENT_NOT_FOUND");

    let accepted: ConsentRequest = answer(app, &person, &consent, "accept").await.ok();
    assert_eq!(accepted.status, ConsentStatus::Accepted);
    assert!(accepted.answered_at.is_some(), "{accepted:?}");
    until_status(app, &agent, &id, DeliveryStatus::Submitted).await;
    // Answering again changes nothing.
    let again = answer(app, &person, &consent, "accept").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "CONSENT_ALREADY_ANSWERED");
    let again = answer(app, &person, &consent, "refuse").await;
    assert_eq!(again.error_code(), "CONSENT_ALREADY_ANSWERED");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ledger = world.province.ledger();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0].client_request_id, id);
    assert_eq!(ledger[0].submissions, 1, "{ledger:?}");
    assert_eq!(outbox_rows(app, &id).await, 1);
    // The consent and its moment are kept with the application.
    let kept = application(app, &agent, &id).await.consent.expect("kept");
    assert_eq!(kept.status, ConsentStatus::Accepted);
    assert_eq!(kept.answered_at, accepted.answered_at);
    assert!(pending(app, &person).await.is_empty());
}

#[tokio::test]
async fn a_refused_or_unanswered_request_is_never_sent_and_lapses_after_its_time() {
    let world = World::new().await;
    let app = &world.app;
    let agent = world.citizen(app, 1511).await;
    let refuser = world.citizen(app, 1512).await;
    let silent = world.citizen(app, 1513).await;
    let refused_id = asked(&world, &agent, 1512).await;
    let silent_id = asked(&world, &agent, 1513).await;

    let consent = pending(app, &refuser).await[0].id.clone();
    let refused: ConsentRequest = answer(app, &refuser, &consent, "refuse").await.ok();
    assert_eq!(refused.status, ConsentStatus::Refused);
    let view = application(app, &agent, &refused_id).await;
    assert_eq!(view.status, DeliveryStatus::ConsentRefused);
    assert_eq!(view.consent.map(|c| c.status), Some(ConsentStatus::Refused));
    let late = answer(app, &refuser, &consent, "accept").await;
    assert_eq!(late.error_code(), "CONSENT_ALREADY_ANSWERED");

    // Just before its time the request still waits; after it, it has lapsed.
    let silent_consent = pending(app, &silent).await[0].id.clone();
    app.clock.advance(chrono::Duration::hours(71));
    assert_eq!(pending(app, &silent).await.len(), 1);
    app.clock.advance(chrono::Duration::hours(2));
    let lapsed = answer(app, &silent, &silent_consent, "accept").await;
    assert_eq!(lapsed.status, StatusCode::CONFLICT, "{lapsed:?}");
    assert_eq!(lapsed.error_code(), "CONSENT_EXPIRED");
    assert!(pending(app, &silent).await.is_empty());
    let view = application(app, &agent, &silent_id).await;
    assert_eq!(view.status, DeliveryStatus::ConsentExpired);
    assert_eq!(view.consent.map(|c| c.status), Some(ConsentStatus::Expired));

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.province.ledger_len(), 0, "nothing was ever sent");
    assert_eq!(outbox_rows(app, &refused_id).await, 0);
    assert_eq!(outbox_rows(app, &silent_id).await, 0);
}

#[tokio::test]
async fn a_request_lapses_for_the_agent_too_when_nobody_looks() {
    let world = World::new().await;
    let app = &world.app;
    let agent = world.citizen(app, 1521).await;
    world.citizen(app, 1522).await;
    let id = asked(&world, &agent, 1522).await;
    app.clock.advance(chrono::Duration::hours(73));
    let listed: ApplicationList = app
        .get("/api/v1/applications", Some(&agent.token))
        .await
        .ok();
    assert_eq!(
        listed.applications[0].status,
        DeliveryStatus::ConsentExpired
    );
    assert_eq!(
        application(app, &agent, &id).await.status,
        DeliveryStatus::ConsentExpired
    );
    assert_eq!(world.province.ledger_len(), 0);
}

#[tokio::test]
async fn the_free_text_path_is_retired_and_consent_needs_a_verified_account() {
    let world = World::new().await;
    let app = &world.app;
    let agent = world.citizen(app, 1531).await;
    let materials = world.materials(app, &agent).await;
    let mut body = world.application(&materials);
    body["onBehalfOf"] =
        json!({ "name": "王老汉", "idCardNo": id_card_no(1532), "phone": "13900000077" });
    let reply = app
        .post("/api/v1/applications", Some(&agent.token), &body)
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert_eq!(reply.error_code(), "ON_BEHALF_NEEDS_CONSENT");

    // Nobody verified holds this ID number; a verified one under another name is not found
    // either (the same answer: the lookup tells nothing).
    let none = ask(
        &world,
        &agent,
        json!({ "name": "王老汉", "idCardNo": id_card_no(1532) }),
    )
    .await;
    assert_eq!(none.error_code(), "CONSENT_PERSON_NOT_FOUND");
    world.citizen(app, 1533).await;
    let wrong_name = ask(
        &world,
        &agent,
        json!({ "name": "王老汉", "idCardNo": id_card_no(1533) }),
    )
    .await;
    assert_eq!(wrong_name.error_code(), "CONSENT_PERSON_NOT_FOUND");
    let bad = ask(&world, &agent, json!({ "name": NAME, "idCardNo": "123" })).await;
    assert_eq!(bad.error_code(), "VALIDATION_FAILED");
    let me = ask(
        &world,
        &agent,
        json!({ "name": NAME, "idCardNo": id_card_no(1531) }),
    )
    .await;
    assert_eq!(me.error_code(), "VALIDATION_FAILED");
    assert!(me.text.contains("本人"), "{me:?}");

    // Audits "refused before anything is stored".
    assert_eq!(
        entities::application::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0,
        "nothing was stored"
    );
}

/// Two answers at once, through two instances: one wins, and the platform gets the application
/// once (hammered on PostgreSQL).
#[tokio::test]
async fn racing_acceptances_send_the_application_once() {
    let world = World::new().await;
    let other = world.instance().await;
    let app = &world.app;
    let agent = world.citizen(app, 1541).await;
    let person = world.citizen(app, 1542).await;
    let id = asked(&world, &agent, 1542).await;
    let consent = pending(app, &person).await[0].id.clone();
    let answers = (0..6).map(|i| {
        let instance = if i % 2 == 0 { app } else { &other };
        let (person, consent) = (&person, &consent);
        async move { answer(instance, person, consent, "accept").await }
    });
    let replies = futures::future::join_all(answers).await;
    let won = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(won, 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(r.error_code(), "CONSENT_ALREADY_ANSWERED", "{r:?}");
    }
    until_status(app, &agent, &id, DeliveryStatus::Submitted).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outbox_rows(app, &id).await, 1);
    let ledger = world.province.ledger();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0].submissions, 1);
}

#[tokio::test]
async fn the_person_is_told_of_the_request_and_the_agent_of_the_answer_once_each() {
    let world = World::new().await;
    let app = &world.app;
    let agent = world.citizen(app, 1531).await;
    let accepter = world.citizen(app, 1532).await;
    let refuser = world.citizen(app, 1533).await;
    let accepted_id = asked(&world, &agent, 1532).await;
    let refused_id = asked(&world, &agent, 1533).await;

    // The person's inbox has the request, once, naming the agent (masked) and the item, and
    // opening the request; the agent is told nothing yet.
    let waiting = pending(app, &accepter).await;
    let consent = waiting[0].id.clone();
    let item_name = waiting[0].item_name.clone();
    let told = consent_messages(app, &accepter).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].kind, "consent_requested");
    let body = told[0].body.as_str();
    assert!(body.contains("王**"), "{body}");
    assert!(body.contains(&item_name), "{body}");
    assert!(!body.contains(NAME), "the agent's name is masked: {body}");
    assert!(
        told[0]
            .page
            .as_deref()
            .is_some_and(|p| p.ends_with(&consent)),
        "{told:?}"
    );
    assert!(consent_messages(app, &agent).await.is_empty());

    let accepted = answer(app, &accepter, &consent, "accept").await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    let again = answer(app, &accepter, &consent, "accept").await;
    assert_eq!(again.error_code(), "CONSENT_ALREADY_ANSWERED");
    let refused_consent = pending(app, &refuser).await[0].id.clone();
    let refused = answer(app, &refuser, &refused_consent, "refuse").await;
    assert_eq!(refused.status, StatusCode::OK, "{refused:?}");
    let again = answer(app, &refuser, &refused_consent, "refuse").await;
    assert_eq!(again.error_code(), "CONSENT_ALREADY_ANSWERED");

    // The agent hears each answer once, opening the application; the persons hear nothing new.
    let answers = consent_messages(app, &agent).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    let of = |kind: &str| {
        answers
            .iter()
            .filter(|m| m.kind == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    let yes = of("consent_accepted");
    assert_eq!(yes.len(), 1, "{answers:?}");
    assert!(
        yes[0]
            .page
            .as_deref()
            .is_some_and(|p| p.ends_with(&accepted_id))
    );
    assert!(yes[0].body.contains(&item_name));
    assert!(yes[0].body.contains("王**"));
    let no = of("consent_refused");
    assert_eq!(no.len(), 1, "{answers:?}");
    assert!(
        no[0]
            .page
            .as_deref()
            .is_some_and(|p| p.ends_with(&refused_id))
    );
    assert_eq!(consent_messages(app, &accepter).await.len(), 1);
    assert_eq!(consent_messages(app, &refuser).await.len(), 1);
}
