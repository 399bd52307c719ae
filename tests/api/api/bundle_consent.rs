//! A 一件事 bundle for someone who consents (代办 with consent), through the very consent request
//! an application asks (`applications::consent`): nothing is sent until the person accepts from
//! their own verified account; then the bundle is forwarded with them as the applicant and the
//! citizen as the agent. A consent answered for one bundle application does not serve another; a
//! refused or lapsed one sends nothing.

use std::time::Duration;

use miniprogram_api::applications::{
    ConsentRequest, ConsentRequestList, ConsentStatus, DeliveryStatus,
};
use miniprogram_api::bundles::{BundleApplication, BundleApplicationList, BundleState};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::json;
use simulators::province::{BIRTH_RECORD, HOUSEHOLD, PARENTS_ID};

use crate::bundles::{World, until};
use crate::helpers::{Citizen, Reply, TestApp, id_card_no};

async fn for_person(world: &World, agent: &Citizen, n: u32, key: &str) -> Reply {
    let materials = world
        .materials(agent, &[PARENTS_ID, BIRTH_RECORD, HOUSEHOLD])
        .await;
    let mut body = world.application(&materials, &[]);
    body["consentOf"] = json!({ "name": "王小二", "idCardNo": id_card_no(n) });
    world.apply(agent, &body, Some(key)).await
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

async fn bundle(app: &TestApp, citizen: &Citizen, id: &str) -> BundleApplication {
    app.get(
        &format!("/api/v1/bundle-applications/{id}"),
        Some(&citizen.token),
    )
    .await
    .ok()
}

/// The bundle application's outbox entries: audits "nothing is sent before the person accepts,
/// and then exactly once" below the API.
async fn outbox_rows(app: &TestApp, id: &str) -> u64 {
    entities::bundle_outbox::Entity::find()
        .filter(entities::bundle_outbox::Column::BundleApplicationId.eq(id))
        .count(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_consented_bundle_is_forwarded_with_the_agent_and_the_consent_serves_only_it() {
    let world = World::new().await;
    let app = &world.app;
    let agent = world.citizen(1941).await;
    let person = world.citizen(1942).await;

    let reply: BundleApplication = for_person(&world, &agent, 1942, "consent-1")
        .await
        .created();
    assert_eq!(reply.status, DeliveryStatus::AwaitingConsent);
    assert_eq!(reply.state, BundleState::AwaitingConsent);
    assert!(reply.on_behalf);
    let asked_for = reply.consent.clone().expect("a consent asked for");
    assert_eq!(asked_for.status, ConsentStatus::Pending);
    let id = reply.id.clone();
    // Nothing is sent before the person accepts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(world.province.bundle_ledger().is_empty());
    assert_eq!(outbox_rows(app, &id).await, 0);

    // The person sees the request, naming the bundle, from their own account …
    let asked = pending(app, &person).await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].application_id, id);
    assert_eq!(asked[0].item_name, "新生儿出生一件事");
    let consent = asked[0].id.clone();
    assert_eq!(consent, asked_for.id);
    // … and nobody else can answer it.
    let stranger = world.citizen(1943).await;
    let theirs = answer(app, &stranger, &consent, "accept").await;
    assert_eq!(theirs.error_code(), "CONSENT_NOT_FOUND");
    let accepted = answer(app, &person, &consent, "accept").await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");

    // Forwarded once: the person as the applicant, the citizen who applied as the agent.
    let view = until(app, &agent, &id, "the parts", |v| v.parts.len() == 3).await;
    assert_eq!(
        view.consent.as_ref().map(|c| c.status),
        Some(ConsentStatus::Accepted)
    );
    assert_eq!(view.state, BundleState::InProgress);
    let ledger = world.province.bundle_ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].client_request_id, id);
    assert_eq!(ledger[0].applicant_cert_no, id_card_no(1942));
    assert_eq!(
        ledger[0].agent_cert_no.as_deref(),
        Some(id_card_no(1941).as_str())
    );
    assert_eq!(outbox_rows(app, &id).await, 1);

    // That consent was for that bundle application only: another one for the same person waits
    // for its own, and answering the first again changes nothing.
    let second: BundleApplication = for_person(&world, &agent, 1942, "consent-2")
        .await
        .created();
    assert_eq!(second.status, DeliveryStatus::AwaitingConsent);
    let second_id = second.id;
    let again = answer(app, &person, &consent, "accept").await;
    assert_eq!(again.error_code(), "CONSENT_ALREADY_ANSWERED");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.province.bundle_ledger().len(), 1);
    assert_eq!(outbox_rows(app, &second_id).await, 0);
    assert_eq!(pending(app, &person).await.len(), 1);
    // The agent's list shows both, the second still waiting.
    let list: BundleApplicationList = app
        .get("/api/v1/bundle-applications", Some(&agent.token))
        .await
        .ok();
    assert_eq!(list.total, 2, "{list:?}");
    assert_eq!(
        list.bundle_applications[0].state,
        BundleState::AwaitingConsent
    );
    assert!(
        !serde_json::to_string(&view)
            .unwrap()
            .contains(&id_card_no(1942))
    );
}

#[tokio::test]
async fn a_refused_or_lapsed_consent_sends_nothing_and_the_person_is_checked_as_for_applications() {
    let world = World::new().await;
    let app = &world.app;
    let agent = world.citizen(1951).await;
    let person = world.citizen(1952).await;

    // Refused: never sent.
    let refused: BundleApplication = for_person(&world, &agent, 1952, "refused").await.created();
    let refused_id = refused.id;
    let consent = refused.consent.expect("a consent asked for").id;
    let no = answer(app, &person, &consent, "refuse").await;
    assert_eq!(no.status, StatusCode::OK, "{no:?}");
    let view = bundle(app, &agent, &refused_id).await;
    assert_eq!(view.state, BundleState::ConsentRefused);
    assert_eq!(view.consent.map(|c| c.status), Some(ConsentStatus::Refused));

    // Lapsed after 72 hours: the agent sees it expired, the person can no longer accept.
    let silent: BundleApplication = for_person(&world, &agent, 1952, "silent").await.created();
    let silent_id = silent.id;
    let silent_consent = silent.consent.expect("a consent asked for").id;
    app.clock.advance(chrono::Duration::hours(73));
    let view = bundle(app, &agent, &silent_id).await;
    assert_eq!(view.status, DeliveryStatus::ConsentExpired);
    assert_eq!(view.state, BundleState::ConsentExpired);
    assert_eq!(view.consent.map(|c| c.status), Some(ConsentStatus::Expired));
    let late = answer(app, &person, &silent_consent, "accept").await;
    assert_eq!(late.error_code(), "CONSENT_ALREADY_ANSWERED");
    assert!(pending(app, &person).await.is_empty());

    // Checked as an application's: not oneself, not with a family member, a verified account.
    let materials = world
        .materials(&agent, &[PARENTS_ID, BIRTH_RECORD, HOUSEHOLD])
        .await;
    let mut myself = world.application(&materials, &[]);
    myself["consentOf"] = json!({ "name": "王小二", "idCardNo": id_card_no(1951) });
    let reply = world.apply(&agent, &myself, None).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert_eq!(reply.error_code(), "VALIDATION_FAILED");
    let mut nobody = world.application(&materials, &[]);
    nobody["consentOf"] = json!({ "name": "王小二", "idCardNo": id_card_no(1959) });
    assert_eq!(
        world.apply(&agent, &nobody, None).await.error_code(),
        "CONSENT_PERSON_NOT_FOUND"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        world.province.bundle_ledger().is_empty(),
        "nothing was ever sent"
    );
    assert_eq!(outbox_rows(app, &refused_id).await, 0);
    assert_eq!(outbox_rows(app, &silent_id).await, 0);
}
