//! 一件事 bundles (province-api.md, "一件事 bundles"): the demo bundle 新生儿出生一件事 synced
//! into the catalogue with its guide; one application for several items — an optional item left
//! out, a shared material serving three items, a material missing for one item named — forwarded
//! exactly once through lost answers and an outage (the simulator's ledger); followed as one
//! matter, one part rejected while the others conclude, a supplement for one part; two
//! concurrent submissions under one key make one bundle.

use std::time::Duration;

use miniprogram_api::applications::{CasePhase, DeliveryStatus, Material};
use miniprogram_api::bundles::{
    BundleApplication, BundleApplicationList, BundleGuide, BundleList, BundlePart, BundleState,
};
use miniprogram_api::catalogue::ItemList;
use miniprogram_api::notify::Messages;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use simulators::province::{
    BIRTH_RECORD, DEMO_BUNDLE_CODE, Fault, Group, HOUSEHOLD, PARENTS_ID, PHOTO, Phase, ProvinceSim,
    ProvinceSimConfig, demo_bundle_items,
};

use crate::helpers::{Citizen, Deployment, Reply, TestApp, id_card_no};

const CALLBACK: &str = "/callbacks/province/case-events";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

pub(crate) struct World {
    /// Kept for as long as the world lives: the deployment the app is an instance of.
    _deployment: Deployment,
    pub(crate) province: ProvinceSim,
    pub(crate) app: TestApp,
    /// The four items' codes, in the bundle's order (the last optional).
    pub(crate) items: Vec<String>,
}

fn settings_for(
    province: &ProvinceSim,
) -> impl FnOnce(&mut gateway::configuration::Settings) + use<> {
    let (base_url, key, secret) = (
        province.base_url(),
        province.app_key().to_owned(),
        province.app_secret().to_owned(),
    );
    let (cb_key, cb_secret) = (
        province.callback_app_key().to_owned(),
        province.callback_app_secret().to_owned(),
    );
    move |s| {
        s.province.base_url = base_url;
        s.province.app_key = key;
        s.province.app_secret = SecretString::from(secret);
        s.province.callback_app_key = cb_key;
        s.province.callback_app_secret = Some(SecretString::from(cb_secret));
        s.province.sync_interval_secs = 0;
        s.province.timeout_ms = 800;
        s.province.max_attempts = 2;
        s.province.breaker_cooldown_secs = 1;
    }
}

impl World {
    pub(crate) async fn new() -> World {
        let deployment = Deployment::new().await;
        let province = ProvinceSim::start(ProvinceSimConfig {
            callback_retry_base: Duration::from_millis(50),
            callback_retry_cap: Duration::from_millis(500),
            ..ProvinceSimConfig::default()
        })
        .await
        .expect("start the province simulator");
        province.add_demo_bundle().expect("the demo bundle");
        let app = deployment.instance(settings_for(&province)).await;
        sync_catalogue(&app, true).await;
        province.set_callback_url(Some(app.url(CALLBACK)));
        let items = demo_bundle_items()
            .iter()
            .map(|i| i["itemCode"].as_str().unwrap().to_owned())
            .collect();
        World {
            _deployment: deployment,
            province,
            app,
            items,
        }
    }

    pub(crate) async fn citizen(&self, n: u32) -> Citizen {
        let app = &self.app;
        let citizen = app.login().await;
        let bound = app
            .verify_identity(&citizen.token, "王小二", &id_card_no(n))
            .await;
        assert_eq!(bound.status, StatusCode::OK, "{bound:?}");
        let phone = app
            .post(
                "/api/v1/me/phone",
                Some(&citizen.token),
                &json!({ "code": app.wechat.mint_phone_code(&format!("139{:08}", n)) }),
            )
            .await;
        assert_eq!(phone.status, StatusCode::OK, "{phone:?}");
        citizen
    }

    /// One upload per code, as `[{code, materialId}]`.
    pub(crate) async fn materials(&self, citizen: &Citizen, codes: &[&str]) -> Value {
        let mut out = Vec::new();
        for code in codes {
            let uploaded: Material = upload(&self.app, citizen, &format!("{code}.png"), PNG)
                .await
                .created();
            out.push(json!({ "code": code, "materialId": uploaded.id }));
        }
        Value::Array(out)
    }

    pub(crate) fn application(&self, materials: &Value, optional: &[&str]) -> Value {
        json!({
            "bundleCode": DEMO_BUNDLE_CODE,
            "optionalItems": optional,
            "form": { "childName": "王小宝", "birthDate": "2026-12-01", "hospital": "浙江大学医学院附属妇产科医院" },
            "materials": materials,
            "obtainWay": "COLLECT",
        })
    }

    pub(crate) async fn apply(&self, citizen: &Citizen, body: &Value, key: Option<&str>) -> Reply {
        let mut request = self
            .app
            .http
            .post(self.app.url("/api/v1/bundle-applications"))
            .bearer_auth(&citizen.token)
            .json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        self.app.send(request).await
    }

    /// Applies for the three required items (the optional one left out) and waits for the parts.
    async fn submitted(&self, citizen: &Citizen) -> (String, BundleApplication) {
        let materials = self
            .materials(citizen, &[PARENTS_ID, BIRTH_RECORD, HOUSEHOLD])
            .await;
        let id = self
            .apply(citizen, &self.application(&materials, &[]), None)
            .await
            .created::<BundleApplication>()
            .id;
        let view = until(&self.app, citizen, &id, "the parts", |v| v.parts.len() == 3).await;
        (id, view)
    }
}

/// `POST /staff/v1/catalogue/sync?full=…`, as an administrator.
async fn sync_catalogue(app: &TestApp, full: bool) {
    let admin = app.admin().await;
    let _: miniprogram_api::catalogue::SyncReport = app
        .post(
            &format!("/staff/v1/catalogue/sync?full={full}"),
            Some(&admin.token),
            &json!({}),
        )
        .await
        .ok();
}

fn multipart(field: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("zsb{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(app: &TestApp, citizen: &Citizen, name: &str, bytes: &[u8]) -> Reply {
    let (content_type, body) = multipart("file", name, bytes);
    app.send(
        app.http
            .post(app.url("/api/v1/materials"))
            .bearer_auth(&citizen.token)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

pub(crate) async fn until(
    app: &TestApp,
    citizen: &Citizen,
    id: &str,
    what: &str,
    done: impl Fn(&BundleApplication) -> bool,
) -> BundleApplication {
    let path = format!("/api/v1/bundle-applications/{id}");
    let start = std::time::Instant::now();
    loop {
        let view: BundleApplication = app.get(&path, Some(&citizen.token)).await.ok();
        if done(&view) {
            return view;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {id}: {what}: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The part of `item_code` in a bundle view.
pub(crate) fn part<'a>(view: &'a BundleApplication, item_code: &str) -> &'a BundlePart {
    view.parts
        .iter()
        .find(|p| p.item_code == item_code)
        .unwrap_or_else(|| panic!("no part {item_code}: {view:?}"))
}

fn phases(part: &BundlePart) -> Vec<CasePhase> {
    part.application
        .timeline
        .as_ref()
        .expect("a part's view has its timeline")
        .iter()
        .map(|e| e.phase)
        .collect()
}

#[tokio::test]
async fn the_demo_bundle_is_synced_searchable_and_has_a_guide() {
    let world = World::new().await;
    let app = &world.app;
    let found: BundleList = app.get("/api/v1/bundles?q=出生", None).await.ok();
    assert_eq!(found.total, 1);
    assert_eq!(found.bundles[0].bundle_code, DEMO_BUNDLE_CODE);
    assert_eq!(found.bundles[0].name, "新生儿出生一件事");
    assert_eq!(found.bundles[0].item_count, 4);
    let none: BundleList = app.get("/api/v1/bundles?q=营业执照", None).await.ok();
    assert_eq!(none.total, 0);
    // Its items are searchable beside it, in the item catalogue.
    let items: ItemList = app.get("/api/v1/items?q=出生登记", None).await.ok();
    assert_eq!(items.total, 1, "{items:?}");

    let g: BundleGuide = app
        .get(&format!("/api/v1/bundles/{DEMO_BUNDLE_CODE}"), None)
        .await
        .ok();
    assert_eq!(g.promised_days, 5);
    assert_eq!(g.total_fee, "0");
    let items = &g.items;
    assert_eq!(items.len(), 4);
    assert_eq!(items.iter().filter(|i| !i.required).count(), 1);
    assert_eq!(items[3].name, "社会保障卡申领");
    // Each material once, with the items using it: the birth record serves three.
    let materials = &g.materials;
    assert_eq!(materials.len(), 4, "{materials:?}");
    let birth = materials.iter().find(|m| m.code == BIRTH_RECORD).unwrap();
    assert_eq!(birth.used_by.len(), 3);
    assert!(birth.shared);
    let photo = materials.iter().find(|m| m.code == PHOTO).unwrap();
    assert!(!photo.required, "only the optional item needs it");
    assert!(g.halls.is_empty(), "no hall of the gateway handles it yet");

    // A hall whose one category (无差别综合窗口) handles the three required items offers the
    // bundle for booking; with one of them mapped elsewhere it does not.
    let admin = crate::halls::global_admin(app).await;
    let hall = crate::halls::create_hall(app, &admin, simulators::province::DEMO_HALL_CODE).await;
    let general = crate::halls::create_category(app, &admin, hall, "A").await;
    let police = crate::halls::create_category(app, &admin, hall, "B").await;
    let map = |code: String, category: i64| {
        let admin = admin.clone();
        async move {
            let reply = app
                .put(
                    &format!("/staff/v1/halls/{hall}/items/{code}"),
                    Some(&admin),
                    &json!({ "categoryId": category }),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        }
    };
    map(world.items[0].clone(), general).await;
    map(world.items[1].clone(), police).await;
    map(world.items[2].clone(), general).await;
    let guide_path = format!("/api/v1/bundles/{DEMO_BUNDLE_CODE}");
    let guide_of = || app.get(&guide_path, None);
    let halls = guide_of().await.ok::<BundleGuide>().halls;
    assert_eq!(halls[0].code, simulators::province::DEMO_HALL_CODE);
    assert!(!halls[0].bookable, "two windows: {halls:?}");
    map(world.items[1].clone(), general).await;
    assert!(guide_of().await.ok::<BundleGuide>().halls[0].bookable);

    let missing = app.get("/api/v1/bundles/NO-SUCH-BUNDLE", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "BUNDLE_NOT_FOUND");
    assert!(missing.text.contains("一件事"), "{missing:?}");

    // Incremental: a changed bundle is fetched again, an unchanged one is not.
    let mut changed = simulators::province::demo_bundle();
    changed["name"] = json!("出生一件事（新生儿）");
    world.province.upsert_bundle(changed).unwrap();
    sync_catalogue(app, false).await;
    let found: BundleList = app.get("/api/v1/bundles?q=新生儿", None).await.ok();
    assert_eq!(found.bundles[0].name, "出生一件事（新生儿）");
}

#[tokio::test]
async fn one_application_with_the_optional_item_left_out_makes_three_cases_once() {
    let world = World::new().await;
    let a = world.citizen(1).await;
    // One upload of the birth record serves three items; the optional one is left out, so its
    // photo is not needed.
    let (id, view) = world.submitted(&a).await;
    assert_eq!(view.bundle_name, "新生儿出生一件事");
    assert_eq!(view.status, DeliveryStatus::Submitted);
    assert_eq!(view.state, BundleState::InProgress);
    assert_eq!(view.item_codes.len(), 3);
    let ledger = world.province.bundle_ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        ledger[0].client_request_id, id,
        "clientRequestId is the bundle's id"
    );
    assert_eq!(ledger[0].submissions, 1);
    assert_eq!(ledger[0].cases.len(), 3);
    assert!(
        !ledger[0]
            .cases
            .iter()
            .any(|(code, _)| *code == world.items[3])
    );
    assert_eq!(
        view.bundle_no.as_deref(),
        Some(ledger[0].bundle_no.as_str())
    );
    for (code, sblsh) in &ledger[0].cases {
        let p = part(&view, code);
        assert_eq!(&p.sblsh, sblsh);
        assert_eq!(p.application.sblsh.as_ref(), Some(sblsh));
        assert!(
            p.application.item_name.starts_with("新生儿出生一件事·"),
            "{p:?}"
        );
    }
    // The parts are the citizen's applications too; no single application reached the platform.
    assert!(world.province.ledger().is_empty());
    let list: BundleApplicationList = world
        .app
        .get("/api/v1/bundle-applications", Some(&a.token))
        .await
        .ok();
    assert_eq!(list.total, 1);
    assert_eq!(list.bundle_applications[0].id, id);
    // Another citizen sees nothing of it.
    let b = world.citizen(2).await;
    let theirs = world
        .app
        .get(&format!("/api/v1/bundle-applications/{id}"), Some(&b.token))
        .await;
    assert_eq!(theirs.error_code(), "BUNDLE_APPLICATION_NOT_FOUND");
    assert!(
        !serde_json::to_string(&view)
            .unwrap()
            .contains(&id_card_no(1))
    );
}

#[tokio::test]
async fn a_material_missing_for_one_item_is_named_with_that_item() {
    let world = World::new().await;
    let a = world.citizen(1).await;
    let optional = world.items[3].clone();
    // The optional 社保卡 chosen without its photo: 422 naming the photo and the item.
    let materials = world
        .materials(&a, &[PARENTS_ID, BIRTH_RECORD, HOUSEHOLD])
        .await;
    let reply = world
        .apply(
            &a,
            &world.application(&materials, &[optional.as_str()]),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    let error = reply.error();
    assert_eq!(error.code, "MATERIALS_INVALID");
    let fields = &error.fields;
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(fields[0].field, format!("materials.{PHOTO}"));
    let reason = fields[0].reason.as_str();
    assert!(
        reason.contains("新生儿近期免冠照片") && reason.contains("社会保障卡申领"),
        "{reason}"
    );
    // The shared birth record missing: named once, with the three items needing it.
    let without_birth = world.materials(&a, &[PARENTS_ID, HOUSEHOLD]).await;
    let reply = world
        .apply(&a, &world.application(&without_birth, &[]), None)
        .await;
    let error = reply.error();
    assert_eq!(error.code, "MATERIALS_INVALID");
    let fields = &error.fields;
    assert_eq!(fields.len(), 1, "{fields:?}");
    let reason = fields[0].reason.as_str();
    assert!(
        reason.contains("出生登记")
            && reason.contains("医疗保险")
            && !reason.contains("社会保障卡"),
        "three items, not the one left out: {reason}"
    );
    // A material given twice, an item not of the bundle, a required item "chosen".
    let mut twice = materials.as_array().unwrap().clone();
    twice.push(twice[0].clone());
    let reply = world
        .apply(&a, &world.application(&Value::Array(twice), &[]), None)
        .await;
    assert_eq!(reply.error_code(), "MATERIALS_INVALID");
    assert!(reply.text.contains("只需上传一次"), "{reply:?}");
    let reply = world
        .apply(
            &a,
            &world.application(&materials, &["NOT-AN-ITEM", world.items[0].as_str()]),
            None,
        )
        .await;
    let error = reply.error();
    assert_eq!(error.code, "VALIDATION_FAILED");
    assert_eq!(error.fields.len(), 2, "{reply:?}");
    let mut unknown = world.application(&materials, &[]);
    unknown["bundleCode"] = json!("NO-SUCH-BUNDLE");
    assert_eq!(
        world.apply(&a, &unknown, None).await.error_code(),
        "BUNDLE_NOT_FOUND"
    );
    let mut consent = world.application(&materials, &[]);
    // 代办 with consent needs a verified account of that person (see `bundle_consent.rs`).
    consent["consentOf"] = json!({ "name": "李四", "idCardNo": id_card_no(9) });
    assert_eq!(
        world.apply(&a, &consent, None).await.error_code(),
        "CONSENT_PERSON_NOT_FOUND"
    );
    // Nothing was stored or sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(world.province.bundle_ledger().is_empty());
    let list: BundleApplicationList = world
        .app
        .get("/api/v1/bundle-applications", Some(&a.token))
        .await
        .ok();
    assert_eq!(list.total, 0);

    // With the photo, all four items: four cases.
    let all = world
        .materials(&a, &[PARENTS_ID, BIRTH_RECORD, HOUSEHOLD, PHOTO])
        .await;
    let reply = world
        .apply(&a, &world.application(&all, &[optional.as_str()]), None)
        .await;
    let id = reply.created::<BundleApplication>().id;
    until(&world.app, &a, &id, "four parts", |v| v.parts.len() == 4).await;
}

#[tokio::test]
async fn lost_answers_and_an_outage_still_reach_the_platform_exactly_once() {
    let world = World::new().await;
    let a = world.citizen(1).await;
    // The platform accepts, and the answer never comes back: sent again, one bundle.
    world
        .province
        .fault(Group::Applications, Fault::TimeoutAfterAccept(1));
    let (_, view) = world.submitted(&a).await;
    let ledger = world.province.bundle_ledger();
    assert_eq!(ledger.len(), 1, "one bundle, whatever the retries");
    assert!(ledger[0].submissions >= 2, "it was sent again: {ledger:?}");
    assert_eq!(
        view.bundle_no.as_deref(),
        Some(ledger[0].bundle_no.as_str())
    );

    // Down: kept and shown queued; back: delivered once.
    world.province.fault(Group::Applications, Fault::Down);
    let materials = world
        .materials(&a, &[PARENTS_ID, BIRTH_RECORD, HOUSEHOLD])
        .await;
    let reply = world
        .apply(&a, &world.application(&materials, &[]), Some("outage-1"))
        .await;
    let id = reply.created::<BundleApplication>().id;
    until(&world.app, &a, &id, "queued", |v| {
        v.status == DeliveryStatus::Queued
    })
    .await;
    assert_eq!(world.province.bundle_ledger().len(), 1);
    world.province.clear_faults();
    let view = until(&world.app, &a, &id, "delivered", |v| v.parts.len() == 3).await;
    let ledger = world.province.bundle_ledger();
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger[1].client_request_id, id);
    assert_eq!(
        view.bundle_no.as_deref(),
        Some(ledger[1].bundle_no.as_str())
    );
    // Audits exactly once below the API: one stored part per case, six for the two bundles.
    let db = &world.app.db;
    use sea_orm::{EntityTrait as _, PaginatorTrait as _};
    assert_eq!(
        entities::bundle_part::Entity::find()
            .count(db)
            .await
            .unwrap(),
        6
    );
}

#[tokio::test]
async fn two_concurrent_submissions_under_one_key_make_one_bundle() {
    let world = World::new().await;
    let a = world.citizen(1).await;
    let materials = world
        .materials(&a, &[PARENTS_ID, BIRTH_RECORD, HOUSEHOLD])
        .await;
    let body = world.application(&materials, &[]);
    let (first, second) = tokio::join!(
        world.apply(&a, &body, Some("tap-1")),
        world.apply(&a, &body, Some("tap-1"))
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CREATED],
        "{first:?} {second:?}"
    );
    let (first, second): (BundleApplication, BundleApplication) = (first.json(), second.json());
    assert_eq!(first.id, second.id);
    let id = first.id;
    until(&world.app, &a, &id, "the parts", |v| v.parts.len() == 3).await;
    assert_eq!(world.province.bundle_ledger().len(), 1);
    // The key with another body is refused.
    let mut changed = body.clone();
    changed["form"]["childName"] = json!("王小贝");
    assert_eq!(
        world.apply(&a, &changed, Some("tap-1")).await.error_code(),
        "IDEMPOTENCY_KEY_REUSED"
    );
}

#[tokio::test]
async fn one_part_rejected_while_the_others_conclude_and_each_is_told_once_by_the_bundle_name() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(1).await;
    let (id, view) = world.submitted(&a).await;
    let sim = &world.province;
    let sblsh = |i: usize| part(&view, &world.items[i]).sblsh.clone();
    for i in 0..3 {
        sim.advance(&sblsh(i), Phase::Accepted, json!({})).unwrap();
    }
    let view = until(app, &a, &id, "accepted", |v| {
        v.parts
            .iter()
            .all(|p| p.application.phase == Some(CasePhase::Accepted))
    })
    .await;
    assert_eq!(view.state, BundleState::InProgress);
    assert_eq!(view.deadline.map(|d| d.working_days), Some(5));
    sim.advance(
        &sblsh(0),
        Phase::Concluded,
        json!({ "result": "0", "licenceIds": [] }),
    )
    .unwrap();
    sim.advance(
        &sblsh(1),
        Phase::Rejected,
        json!({ "reason": "户籍地不符" }),
    )
    .unwrap();
    sim.advance(
        &sblsh(2),
        Phase::Concluded,
        json!({ "result": "6", "licenceIds": [] }),
    )
    .unwrap();
    let view = until(app, &a, &id, "every part ended", |v| {
        v.state != BundleState::InProgress
    })
    .await;
    assert_eq!(view.state, BundleState::PartlyRejected, "{view:?}");
    assert_eq!(view.state_text, "已办结，部分事项不予受理");
    assert_eq!(
        phases(part(&view, &world.items[1])).last(),
        Some(&CasePhase::Rejected)
    );
    assert_eq!(
        phases(part(&view, &world.items[0])).last(),
        Some(&CasePhase::Concluded)
    );
    // Told once per event that matters, each naming the bundle.
    let messages = until_messages(app, &a, 6).await;
    assert_eq!(
        messages.len(),
        6,
        "3 accepted + 2 concluded + 1 rejected: {messages:?}"
    );
    for m in &messages {
        assert!(m.contains("新生儿出生一件事"), "{m}");
    }
}

/// The citizen's case progress messages (not evaluation invitations), once `n` have come.
async fn until_messages(app: &TestApp, citizen: &Citizen, n: usize) -> Vec<String> {
    let start = std::time::Instant::now();
    let progress = || async {
        let inbox: Messages = app.get("/api/v1/messages", Some(&citizen.token)).await.ok();
        inbox
            .messages
            .into_iter()
            .filter(|m| m.kind != "evaluation_invited")
            .map(|m| format!("{}: {}", m.title, m.body))
            .collect::<Vec<String>>()
    };
    loop {
        let found = progress().await;
        if found.len() >= n || start.elapsed() > Duration::from_secs(10) {
            // A moment more: nothing is told twice.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return progress().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_supplement_for_one_part_is_answered_on_that_part() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(1).await;
    let (id, view) = world.submitted(&a).await;
    let sim = &world.province;
    let police = part(&view, &world.items[1]);
    let sblsh = police.sblsh.clone();
    let part_id = police.application.id.clone();
    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    sim.advance(
        &sblsh,
        Phase::SupplementRequired,
        json!({ "reason": "户口簿页面不清晰", "materials": [HOUSEHOLD] }),
    )
    .unwrap();
    let view = until(app, &a, &id, "a supplement asked", |v| {
        v.state == BundleState::SupplementRequired
    })
    .await;
    let police = part(&view, &world.items[1]);
    assert_eq!(
        police
            .application
            .supplement_request
            .as_ref()
            .map(|r| r.materials.clone()),
        Some(vec![HOUSEHOLD.to_owned()])
    );
    assert!(
        part(&view, &world.items[0])
            .application
            .supplement_request
            .is_none()
    );
    let again = world.materials(&a, &[HOUSEHOLD]).await;
    let reply = app
        .post(
            &format!("/api/v1/applications/{part_id}/supplements"),
            Some(&a.token),
            &json!({ "materials": again, "note": "已重新拍摄" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let view = until(app, &a, &id, "supplemented", |v| {
        phases(part(v, &world.items[1])).last() == Some(&CasePhase::Supplemented)
    })
    .await;
    assert_eq!(view.state, BundleState::InProgress);
    // Only that part's case got the supplement.
    for (i, code) in world.items[..3].iter().enumerate() {
        let s = part(&view, code).sblsh.clone();
        let supplemented = sim
            .case_events(&s)
            .unwrap()
            .iter()
            .filter(|e| e.phase == Phase::Supplemented)
            .count();
        assert_eq!(supplemented, usize::from(i == 1), "part {code}");
    }
}
