//! Applications (申办): uploads recognised by content and kept to their owner; submitting
//! through the outbox and the real province client to the simulator, exactly once through lost
//! answers, outages, two instances and a restart; signed callbacks; the timeline in version order;
//! supplements; polling for lost callbacks; parking and an operator's replay.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt as _;

use miniprogram_api::applications::{
    Application, ApplicationList, CasePhase, DeliveryStatus, Material, ParkedList,
};
use miniprogram_api::notify::Messages;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use secrecy::SecretString;
use serde_json::{Value, json};
use services::province::outbox::Forward as _;
use services::province::{Credentials, sign};
use simulators::province::{Fault, Group, Phase, ProvinceSim, ProvinceSimConfig};

use crate::helpers::{Citizen, Deployment, Reply, TestApp, id_card_no, postgres_admin_url};

/// 不动产登记资料查询: online level 4; M001 查询申请书 (PDF, required), M002 申请人身份证明
/// (images, required).
const ITEM: &str = "查询";
const CALLBACK: &str = "/callbacks/province/case-events";

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";

pub(crate) struct World {
    pub(crate) deployment: Deployment,
    pub(crate) province: ProvinceSim,
    pub(crate) app: TestApp,
    pub(crate) item_code: String,
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
        let app = deployment.instance(settings_for(&province)).await;
        // The catalogue, as an administrator syncs it from the platform.
        sync_catalogue(&app).await;
        let item_code = simulators::province::demo_items()
            .iter()
            .find(|i| i["name"].as_str().unwrap().contains(ITEM))
            .and_then(|i| i["itemCode"].as_str())
            .unwrap()
            .to_owned();
        province.set_callback_url(Some(app.url(CALLBACK)));
        World {
            deployment,
            province,
            app,
            item_code,
        }
    }

    pub(crate) async fn instance(&self) -> TestApp {
        self.deployment.instance(settings_for(&self.province)).await
    }

    /// A citizen with a bound identity and phone.
    pub(crate) async fn citizen(&self, app: &TestApp, n: u32) -> Citizen {
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

    /// The two required materials of the item, uploaded.
    pub(crate) async fn materials(&self, app: &TestApp, citizen: &Citizen) -> Value {
        let form: Material = upload(app, citizen, "申请书.pdf", PDF).await.created();
        let id: Material = upload(app, citizen, "身份证.png", PNG).await.created();
        json!([
            { "code": "M001", "materialId": form.id },
            { "code": "M002", "materialId": id.id },
        ])
    }

    pub(crate) fn application(&self, materials: &Value) -> Value {
        json!({
            "itemCode": self.item_code,
            "form": { "purpose": "办理贷款", "parcel": "观山湖区 12-3" },
            "materials": materials,
            "obtainWay": "COLLECT",
        })
    }

    async fn submitted(&self, citizen: &Citizen) -> (String, Application) {
        let materials = self.materials(&self.app, citizen).await;
        let reply: Application = self
            .app
            .post(
                "/api/v1/applications",
                Some(&citizen.token),
                &self.application(&materials),
            )
            .await
            .created();
        let view = until_status(&self.app, citizen, &reply.id, DeliveryStatus::Submitted).await;
        (reply.id, view)
    }

    async fn admin(&self) -> String {
        self.app.admin().await.token
    }
}

/// `POST /staff/v1/catalogue/sync?full=true`, as an administrator.
async fn sync_catalogue(app: &TestApp) {
    let admin = app.admin().await;
    let _: miniprogram_api::catalogue::SyncReport = app
        .post(
            "/staff/v1/catalogue/sync?full=true",
            Some(&admin.token),
            &json!({}),
        )
        .await
        .ok();
}

/// A multipart/form-data body with one file field, as wx.uploadFile sends it.
fn multipart(field: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("zsb{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
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

pub(crate) async fn until_view(
    app: &TestApp,
    citizen: &Citizen,
    id: &str,
    what: &str,
    done: impl Fn(&Application) -> bool,
) -> Application {
    let path = format!("/api/v1/applications/{id}");
    let start = std::time::Instant::now();
    loop {
        let view: Application = app.get(&path, Some(&citizen.token)).await.ok();
        if done(&view) {
            return view;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {id} {what}: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn until_status(
    app: &TestApp,
    citizen: &Citizen,
    id: &str,
    status: DeliveryStatus,
) -> Application {
    until_view(app, citizen, id, &format!("to be {status:?}"), |v| {
        v.status == status
    })
    .await
}

async fn until_phase(app: &TestApp, citizen: &Citizen, id: &str, version: u64) -> Application {
    until_view(
        app,
        citizen,
        id,
        &format!("to reach version {version}"),
        |v| {
            v.timeline
                .as_ref()
                .is_some_and(|t| t.len() as u64 >= version)
        },
    )
    .await
}

fn phases(view: &Application) -> Vec<CasePhase> {
    view.timeline
        .as_ref()
        .expect("a single case's view has its timeline")
        .iter()
        .map(|e| e.phase)
        .collect()
}

/// The case's id and the sblsh the platform gave it.
fn sblsh(view: &Application) -> String {
    view.sblsh.clone().expect("the platform's case number")
}

/// The titles of the case's progress messages (an invitation to evaluate a concluded case is
/// the evaluations' own, tested there).
async fn inbox_titles(app: &TestApp, citizen: &Citizen) -> Vec<String> {
    let inbox: Messages = app.get("/api/v1/messages", Some(&citizen.token)).await.ok();
    inbox
        .messages
        .into_iter()
        .filter(|m| m.kind != "evaluation_invited")
        .map(|m| m.title)
        .collect()
}

#[tokio::test]
async fn uploads_are_recognised_by_content_and_kept_to_their_owner() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let b = world.citizen(app, 2).await;

    let pdf: Material = upload(app, &a, "申请书.pdf", PDF).await.created();
    assert_eq!(pdf.content_type, "application/pdf");
    assert_eq!(pdf.size, PDF.len() as u64);
    assert_eq!(
        pdf.sha256,
        services::applications::address_of(PDF),
        "content-addressed"
    );
    // The name says PDF, the content says PNG: the content wins.
    let png: Material = upload(app, &a, "scan.pdf", PNG).await.created();
    assert_eq!(png.content_type, "image/png");
    let jpeg: Material = upload(app, &a, "photo.jpg", JPEG).await.created();
    assert_eq!(jpeg.content_type, "image/jpeg");
    // A program named like a photo, and a text file named like a PDF.
    for (name, bytes) in [
        ("photo.jpg", &b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"[..]),
        ("form.pdf", &b"just some text, not a PDF"[..]),
    ] {
        let reply = upload(app, &a, name, bytes).await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{reply:?}"
        );
        assert_eq!(reply.error_code(), "MATERIAL_TYPE_UNSUPPORTED");
    }
    // Over 8 MiB, even if it starts like a PDF.
    let mut big = PDF.to_vec();
    big.resize(8 * 1024 * 1024 + 1, b' ');
    let reply = upload(app, &a, "big.pdf", &big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{reply:?}");
    assert_eq!(reply.error_code(), "MATERIAL_TOO_LARGE");
    let mut exact = PDF.to_vec();
    exact.resize(8 * 1024 * 1024, b' ');
    assert_eq!(
        upload(app, &a, "max.pdf", &exact).await.status,
        StatusCode::CREATED
    );
    // Empty, the wrong field, not multipart.
    assert_eq!(
        upload(app, &a, "e.pdf", b"").await.error_code(),
        "VALIDATION_FAILED"
    );
    let (content_type, body) = multipart("other", "x.pdf", PDF);
    let reply = app
        .send(
            app.http
                .post(app.url("/api/v1/materials"))
                .bearer_auth(&a.token)
                .header("content-type", content_type)
                .body(body),
        )
        .await;
    assert_eq!(reply.error_code(), "VALIDATION_FAILED");
    let reply = app
        .send(
            app.http
                .post(app.url("/api/v1/materials"))
                .bearer_auth(&a.token)
                .header("content-type", "application/pdf")
                .body(PDF.to_vec()),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{reply:?}"
    );
    // No session.
    let (content_type, body) = multipart("file", "x.pdf", PDF);
    let reply = app
        .send(
            app.http
                .post(app.url("/api/v1/materials"))
                .header("content-type", content_type)
                .body(body),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Only the owner sees it, or uses it.
    let id = pdf.id.as_str();
    let mine: Material = app
        .get(&format!("/api/v1/materials/{id}"), Some(&a.token))
        .await
        .ok();
    assert_eq!(mine.id, pdf.id);
    let theirs = app
        .get(&format!("/api/v1/materials/{id}"), Some(&b.token))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.error_code(), "MATERIAL_NOT_FOUND");
    let b_materials = world.materials(app, &b).await;
    let mut stolen = b_materials.clone();
    stolen[0]["materialId"] = json!(id);
    let reply = app
        .post(
            "/api/v1/applications",
            Some(&b.token),
            &world.application(&stolen),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
    assert_eq!(reply.error_code(), "MATERIAL_NOT_FOUND");
}

#[tokio::test]
async fn an_application_is_answered_at_once_and_reaches_the_platform_exactly_once() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let b = world.citizen(app, 2).await;
    let materials = world.materials(app, &a).await;
    let body = world.application(&materials);
    let reply = app
        .send(
            app.http
                .post(app.url("/api/v1/applications"))
                .bearer_auth(&a.token)
                .header("idempotency-key", "tap-1")
                .json(&body),
        )
        .await;
    let reply: Application = reply.created();
    assert_eq!(reply.status, DeliveryStatus::Submitting);
    assert_eq!(reply.status_text, "提交中");
    let id = reply.id;

    // A double tap under the same key: the same application, 200.
    let again = app
        .send(
            app.http
                .post(app.url("/api/v1/applications"))
                .bearer_auth(&a.token)
                .header("idempotency-key", "tap-1")
                .json(&body),
        )
        .await;
    let again: Application = again.ok();
    assert_eq!(again.id, id);
    let mut changed = body.clone();
    changed["form"]["purpose"] = json!("其他");
    let reused = app
        .send(
            app.http
                .post(app.url("/api/v1/applications"))
                .bearer_auth(&a.token)
                .header("idempotency-key", "tap-1")
                .json(&changed),
        )
        .await;
    assert_eq!(reused.error_code(), "IDEMPOTENCY_KEY_REUSED");

    let view = until_status(app, &a, &id, DeliveryStatus::Submitted).await;
    let ledger = world.province.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        ledger[0].client_request_id, id,
        "clientRequestId is the application id"
    );
    assert_eq!(ledger[0].submissions, 1);
    assert_eq!(view.sblsh.as_deref(), Some(ledger[0].sblsh.as_str()));
    assert_eq!(
        view.form.as_ref().and_then(|f| f.get("purpose")),
        Some(&json!("办理贷款"))
    );
    assert_eq!(view.timeline.as_deref().map(<[_]>::len), Some(0));

    let list = app.get("/api/v1/applications", Some(&a.token)).await;
    // Lists are named after what they list, as bookings, tickets and halls are (the exact shape).
    assert!(list.body.get("items").is_none(), "{list:?}");
    let list: ApplicationList = list.ok();
    assert_eq!(list.total, 1);
    assert_eq!(list.applications[0].id, id);
    assert!(list.applications[0].timeline.is_none());
    // Another citizen sees nothing of it.
    let theirs = app
        .get(&format!("/api/v1/applications/{id}"), Some(&b.token))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.error_code(), "APPLICATION_NOT_FOUND");
    let theirs: ApplicationList = app.get("/api/v1/applications", Some(&b.token)).await.ok();
    assert_eq!(theirs.total, 0);
    // No ID number in any answer.
    assert!(
        !serde_json::to_string(&view)
            .unwrap()
            .contains(&id_card_no(1))
    );
}

#[tokio::test]
async fn a_lost_answer_is_sent_again_and_the_platform_keeps_one_case() {
    let world = World::new().await;
    let a = world.citizen(&world.app, 1).await;
    // The platform accepts, and the answer never comes back.
    world
        .province
        .fault(Group::Applications, Fault::TimeoutAfterAccept(1));
    let (_id, view) = world.submitted(&a).await;
    let ledger = world.province.ledger();
    assert_eq!(ledger.len(), 1, "one case, whatever the retries");
    assert!(ledger[0].submissions >= 2, "it was sent again: {ledger:?}");
    assert_eq!(
        view.sblsh.as_deref(),
        Some(ledger[0].sblsh.as_str()),
        "the retry got the same sblsh"
    );
}

/// An identity bound before face verification existed applies for nothing until verified.
#[tokio::test]
async fn an_unverified_identity_cannot_apply() {
    let world = World::new().await;
    let app = &world.app;
    let bound = world.citizen(app, 1).await;
    let materials = world.materials(app, &bound).await;
    crate::helpers::unverify(app, &bound).await;
    let reply = app
        .post(
            "/api/v1/applications",
            Some(&bound.token),
            &world.application(&materials),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    assert_eq!(reply.error_code(), "IDENTITY_NOT_VERIFIED");
    assert!(world.province.ledger().is_empty());
}

#[tokio::test]
async fn bad_applications_are_refused_before_anything_is_stored() {
    let world = World::new().await;
    let app = &world.app;
    let bound = world.citizen(app, 1).await;
    let materials = world.materials(app, &bound).await;
    let post = |token: String, body: Value| async move {
        app.post("/api/v1/applications", Some(&token), &body).await
    };

    // No identity; identity but no phone.
    let stranger = app.login().await;
    let reply = post(stranger.token.clone(), world.application(&json!([]))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "IDENTITY_REQUIRED");
    app.verify_identity(&stranger.token, "赵六", &id_card_no(9))
        .await;
    let reply = post(stranger.token.clone(), world.application(&json!([]))).await;
    assert_eq!(reply.error_code(), "PHONE_REQUIRED");

    let token = bound.token.clone();
    let mut unknown = world.application(&materials);
    unknown["itemCode"] = json!("no-such-item");
    assert_eq!(
        post(token.clone(), unknown).await.error_code(),
        "ITEM_NOT_FOUND"
    );
    // 居民身份证换领 is online level 3 … but level 2 items cannot be applied for online: the
    // platform publishes one such and the catalogue is synced again.
    let mut offline = simulators::province::demo_items()
        .into_iter()
        .find(|i| i["itemCode"] != world.item_code.as_str())
        .unwrap();
    offline["onlineLevel"] = json!(2);
    world.province.upsert_item(offline.clone()).unwrap();
    sync_catalogue(app).await;
    let mut body = world.application(&materials);
    body["itemCode"] = offline["itemCode"].clone();
    let reply = post(token.clone(), body).await;
    assert_eq!(reply.error_code(), "ITEM_NOT_ONLINE");

    // A required material missing; a PNG where only PDF is taken; a code the item lacks.
    let reply = post(
        token.clone(),
        world.application(&json!([materials[1].clone()])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert_eq!(reply.error_code(), "MATERIALS_INVALID");
    assert!(reply.text.contains("materials.M001"), "{reply:?}");
    assert!(reply.text.contains("查询申请书"), "{reply:?}");
    let wrong = json!([
        { "code": "M001", "materialId": materials[1]["materialId"] },
        materials[1].clone(),
        { "code": "M999", "materialId": materials[0]["materialId"] },
    ]);
    let reply = post(token.clone(), world.application(&wrong)).await;
    assert_eq!(reply.error_code(), "MATERIALS_INVALID");
    assert!(reply.text.contains("只接受"), "{reply:?}");
    assert!(reply.text.contains("M999"), "{reply:?}");

    // The form, the address, the person applied for.
    let mut body = world.application(&materials);
    body["form"] = json!(["not", "an", "object"]);
    assert_eq!(
        post(token.clone(), body).await.error_code(),
        "VALIDATION_FAILED"
    );
    let mut body = world.application(&materials);
    body["obtainWay"] = json!("POST");
    let reply = post(token.clone(), body.clone()).await;
    assert_eq!(reply.error_code(), "VALIDATION_FAILED");
    body["postAddress"] = json!({ "name": "王小二", "phone": "12345", "province": "贵州省",
        "city": "贵阳市", "district": "", "detail": "长岭北路" });
    let reply = post(token.clone(), body).await;
    assert!(
        reply.text.contains("postAddress.phone") && reply.text.contains("postAddress.district"),
        "{reply:?}"
    );
    // The free-text 代办 path is retired (consent.rs tests what replaces it).
    let mut body = world.application(&materials);
    body["onBehalfOf"] =
        json!({ "name": "王老汉", "idCardNo": "110105194912310021", "phone": "13900000000" });
    let reply = post(token.clone(), body).await;
    assert_eq!(reply.error_code(), "ON_BEHALF_NEEDS_CONSENT");
    let mut body = world.application(&materials);
    body["consentOf"] = json!({ "name": "王小二", "idCardNo": id_card_no(1) });
    let reply = post(token.clone(), body).await;
    assert!(reply.text.contains("本人"), "{reply:?}");

    // Audits "refused before anything is stored": no application, no outbox entry.
    assert_eq!(
        entities::application::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        entities::province_outbox::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_refusal_by_the_platform_is_final_and_says_what_to_fix() {
    let world = World::new().await;
    let a = world.citizen(&world.app, 1).await;
    // The platform no longer knows the item: 422 VALIDATION with the field.
    world.province.remove_all_items();
    let materials = world.materials(&world.app, &a).await;
    let id = world
        .app
        .post(
            "/api/v1/applications",
            Some(&a.token),
            &world.application(&materials),
        )
        .await
        .created::<Application>()
        .id;
    let view = until_status(&world.app, &a, &id, DeliveryStatus::Invalid).await;
    let problem = view.problem.as_ref().expect("what to fix");
    assert_eq!(problem.code, "VALIDATION");
    assert_eq!(problem.fields[0].field, "itemCode");
    assert!(view.sblsh.is_none());
    assert_eq!(world.province.ledger_len(), 0);
    // Sent once: a final refusal is not retried.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.province.requests(Group::Applications), 1);
    let titles = inbox_titles(&world.app, &a).await;
    assert!(titles.iter().any(|t| t == "申请未予受理"), "{titles:?}");
}

#[tokio::test]
async fn an_outage_queues_then_parks_after_a_day_and_an_operator_replays() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    world.province.fault(Group::Applications, Fault::Down);
    let materials = world.materials(app, &a).await;
    let reply = app
        .post(
            "/api/v1/applications",
            Some(&a.token),
            &world.application(&materials),
        )
        .await;
    let id = reply.created::<Application>().id;
    let view = until_status(app, &a, &id, DeliveryStatus::Queued).await;
    assert_eq!(view.status_text, "排队等待提交至省平台");

    // A day later it is still failing: parked for an operator.
    app.clock.advance(chrono::Duration::hours(25));
    let view = until_status(app, &a, &id, DeliveryStatus::Parked).await;
    assert!(
        view.problem
            .as_ref()
            .is_some_and(|p| p.message.contains("工作人员")),
        "{view:?}"
    );
    let admin = world.admin().await;
    let parked: ParkedList = app
        .get("/staff/v1/applications/parked", Some(&admin))
        .await
        .ok();
    let items = &parked.applications;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].application_id, id);
    assert!(
        items[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("failing for")),
        "{parked:?}"
    );
    // Parked means left alone.
    let before = world.province.requests(Group::Applications);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(world.province.requests(Group::Applications), before);

    // Citizens and clerks cannot replay; an operator can, once.
    let replay = format!("/staff/v1/applications/{id}/replay");
    assert_eq!(
        app.post(&replay, Some(&a.token), &json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
    world.province.clear_faults();
    let reply = app.post(&replay, Some(&admin), &json!({})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    until_status(app, &a, &id, DeliveryStatus::Submitted).await;
    assert_eq!(world.province.ledger_len(), 1);
    assert_eq!(
        app.post(&replay, Some(&admin), &json!({}))
            .await
            .error_code(),
        "APPLICATION_NOT_PARKED"
    );
    let none = app
        .post(
            "/staff/v1/applications/00000000-0000-0000-0000-000000000000/replay",
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(none.error_code(), "APPLICATION_NOT_FOUND");
}

fn signed(
    app: &TestApp,
    world: &World,
    body: &Value,
    secret: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> (reqwest::RequestBuilder, Vec<u8>) {
    let bytes = serde_json::to_vec(body).unwrap();
    let creds = Credentials {
        app_key: world.province.callback_app_key().to_owned(),
        app_secret: SecretString::from(secret.to_owned()),
    };
    let headers = sign(&creds, "POST", CALLBACK, &bytes, at);
    let mut request = app
        .http
        .post(app.url(CALLBACK))
        .header("content-type", "application/json");
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    (request.body(bytes.clone()), bytes)
}

#[tokio::test]
async fn callbacks_are_verified_before_anything_is_stored() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let (id, view) = world.submitted(&a).await;
    let sblsh = sblsh(&view);
    let event = json!({ "eventId": "forged-1", "sblsh": sblsh, "version": 1, "phase": "REJECTED",
        "at": "2026-11-23T10:00:00Z", "handler": "冒充者", "detail": { "reason": "伪造" } });
    let secret = world.province.callback_app_secret().to_owned();
    let now = chrono::Utc::now();

    let (forged, _) = signed(app, &world, &event, "not the secret", now);
    let reply = app.send(forged).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "BAD_SIGNATURE");
    let (stale, _) = signed(
        app,
        &world,
        &event,
        &secret,
        now - chrono::Duration::seconds(400),
    );
    assert_eq!(app.send(stale).await.error_code(), "STALE_REQUEST");
    let unsigned = app
        .send(app.http.post(app.url(CALLBACK)).json(&event))
        .await;
    assert_eq!(unsigned.error_code(), "BAD_SIGNATURE");
    // A body changed after signing.
    let (good, _) = signed(app, &world, &event, &secret, now);
    let mut tampered = event.clone();
    tampered["phase"] = json!("CONCLUDED");
    let reply = app
        .send(good.body(serde_json::to_vec(&tampered).unwrap()))
        .await;
    assert_eq!(reply.error_code(), "BAD_SIGNATURE");
    // Audits "nothing stored from a refused callback", and below exactly one entry per event.
    assert_eq!(
        entities::case_event::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0,
        "nothing stored from a refused callback"
    );

    // A good one is stored; the very same request again is a replay.
    let (good, _) = signed(app, &world, &event, &secret, now);
    let replayed = good.try_clone().unwrap();
    let reply = app.send(good).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, json!({ "ok": true }));
    let reply = app.send(replayed).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "REPLAYED_NONCE");
    assert_eq!(
        entities::case_event::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );
    // The same event signed afresh (the platform's retry) is a duplicate: 200, one entry.
    let (retry, _) = signed(app, &world, &event, &secret, chrono::Utc::now());
    assert_eq!(app.send(retry).await.status, StatusCode::OK);
    assert_eq!(
        entities::case_event::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );
    // A signed event that breaks the contract: 400, not stored.
    let mut broken = event.clone();
    broken["eventId"] = json!("");
    broken["version"] = json!(2);
    let (bad, _) = signed(app, &world, &broken, &secret, chrono::Utc::now());
    assert_eq!(app.send(bad).await.status, StatusCode::BAD_REQUEST);
    let view: Application = app
        .get(&format!("/api/v1/applications/{id}"), Some(&a.token))
        .await
        .ok();
    assert_eq!(phases(&view), vec![CasePhase::Rejected]);
}

#[tokio::test]
async fn duplicates_and_disorder_still_make_one_timeline_in_version_order() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let (id, view) = world.submitted(&a).await;
    let sblsh = sblsh(&view);
    let sim = &world.province;

    // Each callback delivered twice, and the lot released newest first.
    sim.duplicate_next(6);
    sim.hold_callbacks(true);
    sim.advance(&sblsh, Phase::PreAccepted, json!({})).unwrap();
    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    sim.advance(&sblsh, Phase::InReview, json!({ "step": "审查" }))
        .unwrap();
    sim.advance(
        &sblsh,
        Phase::Concluded,
        json!({ "result": "0", "licenceIds": [] }),
    )
    .unwrap();
    sim.advance(
        &sblsh,
        Phase::Delivered,
        json!({ "way": "post", "trackingNo": "SF1234567890" }),
    )
    .unwrap();
    // Five events, each held twice.
    assert_eq!(sim.release_callbacks_reversed(), 10);
    let view = until_phase(app, &a, &id, 5).await;
    eventually("duplicates to arrive", Duration::from_secs(10), || async {
        sim.callbacks_delivered().delivered >= 10
    })
    .await;
    let view: Application = {
        let _ = view;
        app.get(&format!("/api/v1/applications/{id}"), Some(&a.token))
            .await
            .ok()
    };
    assert_eq!(
        phases(&view),
        vec![
            CasePhase::PreAccepted,
            CasePhase::Accepted,
            CasePhase::InReview,
            CasePhase::Concluded,
            CasePhase::Delivered
        ]
    );
    let versions: Vec<u64> = view
        .timeline
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    assert_eq!(view.phase, Some(CasePhase::Delivered));
    assert_eq!(view.tracking_no.as_deref(), Some("SF1234567890"));
    assert_eq!(view.status_text, "已寄出");
    // Audits exactly once below the API: one stored event per version, duplicates dropped.
    assert_eq!(
        entities::case_event::Entity::find()
            .filter(entities::case_event::Column::Sblsh.eq(sblsh.as_str()))
            .count(&app.db)
            .await
            .unwrap(),
        5
    );
    // Told once, of the newest thing that matters: posted. The older ones (accepted,
    // concluded) arrived after it and are filed silently.
    eventually("the notification", Duration::from_secs(5), || async {
        inbox_titles(app, &a).await.len() == 1
    })
    .await;
    assert_eq!(inbox_titles(app, &a).await, vec!["办理结果已寄出"]);
}

/// The view is read from one snapshot: its phase is the phase of the newest entry of the timeline
/// it shows, even while the case's events arrive (a read between the callback's commit and the
/// view's second query once showed a timeline one event ahead of its phase).
#[tokio::test]
async fn a_case_view_never_shows_a_timeline_ahead_of_its_phase() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let (id, view) = world.submitted(&a).await;
    let sblsh = sblsh(&view);
    const EVENTS: usize = 12;
    let sim = world.province.clone();
    let advancing = tokio::spawn(async move {
        sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
        for n in 1..EVENTS {
            tokio::time::sleep(Duration::from_millis(15)).await;
            sim.advance(
                &sblsh,
                Phase::InReview,
                json!({ "step": format!("第{n}步") }),
            )
            .unwrap();
        }
    });
    let path = format!("/api/v1/applications/{id}");
    let start = std::time::Instant::now();
    let mut reads = 0;
    loop {
        let view: Application = app.get(&path, Some(&a.token)).await.ok();
        reads += 1;
        let timeline = view.timeline.clone().unwrap_or_default();
        if let Some(newest) = timeline.last() {
            assert_eq!(
                view.phase,
                Some(newest.phase),
                "read {reads}: the phase is not the newest event's: {view:?}"
            );
        }
        if timeline.len() == EVENTS {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{view:?}");
    }
    advancing.await.unwrap();
}

#[tokio::test]
async fn a_supplement_is_asked_for_sent_once_and_pauses_the_deadline() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let (id, view) = world.submitted(&a).await;
    let sblsh = sblsh(&view);
    let sim = &world.province;
    let path = format!("/api/v1/applications/{id}");
    let supplements = format!("{path}/supplements");

    // Nothing asked yet.
    let materials = world.materials(app, &a).await;
    let one = json!({ "materials": [materials[1].clone()] });
    assert_eq!(
        app.post(&supplements, Some(&a.token), &one)
            .await
            .error_code(),
        "SUPPLEMENT_NOT_REQUESTED"
    );

    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    let view = until_phase(app, &a, &id, 1).await;
    let deadline = view.deadline.clone().expect("a deadline once accepted");
    let promised = deadline.date;
    assert!(!deadline.paused);
    assert_eq!(deadline.working_days, 1);
    sim.advance(
        &sblsh,
        Phase::SupplementRequired,
        json!({ "reason": "身份证明不清晰", "materials": ["M002"] }),
    )
    .unwrap();
    let view = until_phase(app, &a, &id, 2).await;
    assert_eq!(view.phase, Some(CasePhase::SupplementRequired));
    let request = view.supplement_request.clone().expect("asked");
    assert_eq!(request.materials, vec!["M002"]);
    assert_eq!(request.reason, "身份证明不清晰");
    let deadline = view.deadline.clone().expect("a deadline");
    assert!(deadline.paused);
    assert!(deadline.date >= promised);

    // The asked-for material is required; B cannot supplement A's case.
    let wrong = json!({ "materials": [materials[0].clone()] });
    let reply = app.post(&supplements, Some(&a.token), &wrong).await;
    assert_eq!(reply.error_code(), "MATERIALS_INVALID");
    assert!(reply.text.contains("申请人身份证明"), "{reply:?}");
    let b = world.citizen(app, 2).await;
    assert_eq!(
        app.post(&supplements, Some(&b.token), &one)
            .await
            .error_code(),
        "APPLICATION_NOT_FOUND"
    );
    // Twice at once: one supplement.
    let note = json!({ "materials": [materials[1].clone()], "note": "已重新拍摄" });
    let (first, second) = tokio::join!(
        app.post(&supplements, Some(&a.token), &note),
        app.post(&supplements, Some(&a.token), &note)
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{first:?} {second:?}"
    );
    // Forwarded exactly once; the platform answers SUPPLEMENTED by callback.
    until_phase(app, &a, &id, 3).await;
    let view = until_view(app, &a, &id, "supplement delivered", |v| {
        v.supplements
            .as_ref()
            .and_then(|s| s.first())
            .is_some_and(|s| s.status == DeliveryStatus::Submitted)
    })
    .await;
    assert_eq!(phases(&view).last(), Some(&CasePhase::Supplemented));
    assert_eq!(view.supplements.as_ref().map(Vec::len), Some(1));
    assert!(view.supplement_request.is_none());
    assert!(!view.deadline.expect("a deadline").paused);
    let events = sim.case_events(&sblsh).unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.phase == Phase::Supplemented)
            .count(),
        1
    );
    assert_eq!(events.last().unwrap().detail["materials"], json!(["M002"]));
    // Answered: nothing more to supplement.
    assert_eq!(
        app.post(&supplements, Some(&a.token), &note)
            .await
            .error_code(),
        "SUPPLEMENT_NOT_REQUESTED"
    );
    let titles = inbox_titles(app, &a).await;
    assert!(titles.contains(&"申请已受理".to_owned()), "{titles:?}");
    assert!(titles.contains(&"请补正材料".to_owned()), "{titles:?}");
}

#[tokio::test]
async fn lost_callbacks_are_recovered_by_polling() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let (id, view) = world.submitted(&a).await;
    let sblsh = sblsh(&view);
    // The callbacks go nowhere.
    world.province.set_callback_url(None);
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
    let forwarder = app.applications.forwarder();
    // Not overdue yet: nothing polled.
    assert_eq!(forwarder.reconcile_once().await.unwrap(), 0);
    app.clock.advance(chrono::Duration::hours(1));
    assert_eq!(forwarder.reconcile_once().await.unwrap(), 1);
    // Polled once per interval, not every round.
    assert_eq!(forwarder.reconcile_once().await.unwrap(), 0);
    let view: Application = app
        .get(&format!("/api/v1/applications/{id}"), Some(&a.token))
        .await
        .ok();
    assert_eq!(
        phases(&view),
        vec![CasePhase::Accepted, CasePhase::Concluded]
    );
    assert_eq!(view.status_text, "已办结");
    // Audits where the stored events came from: every one by polling, none by callback.
    let sources: HashSet<String> = entities::case_event::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.source)
        .collect();
    assert_eq!(sources, HashSet::from(["POLL".to_owned()]));
    let titles = inbox_titles(app, &a).await;
    assert!(titles.contains(&"申请已办结".to_owned()), "{titles:?}");
}

#[tokio::test]
async fn submissions_through_an_outage_two_instances_and_a_restart_arrive_exactly_once() {
    let (citizens, each) = if postgres_admin_url().is_some() {
        (100, 10)
    } else {
        (20, 4)
    };
    let total = citizens * each;
    let world = World::new().await;
    let second = world.instance().await;
    let people: Vec<(Citizen, Value)> = futures::stream::iter(0..citizens)
        .map(|n| {
            let world = &world;
            async move {
                let c = world.citizen(&world.app, 1000 + n).await;
                let m = world.materials(&world.app, &c).await;
                (c, m)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;

    world.province.fault(Group::Applications, Fault::Down);
    // Half through the first instance, which is then stopped; half through the second.
    let mut ids = submit_half(&world, &world.app, &people, each).await;
    world.app.stop().await;
    ids.extend(submit_half(&world, &second, &people, each).await);
    assert_eq!(ids.len(), total as usize);
    let restarted = world.instance().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        world.province.ledger_len(),
        0,
        "nothing got through the outage"
    );
    // Kept, and shown to their citizens as queued for the platform. The counts below audit
    // exactly once across instances and a restart (every application kept, each sent once).
    let queued_now = || async {
        entities::application::Entity::find()
            .filter(entities::application::Column::Status.eq("QUEUED"))
            .count(&restarted.db)
            .await
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut queued = queued_now().await;
    while queued != u64::from(total) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        queued = queued_now().await;
    }
    if queued != u64::from(total) {
        let odd: Vec<_> = entities::application::Entity::find()
            .filter(entities::application::Column::Status.ne("QUEUED"))
            .all(&restarted.db)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.status, a.problem))
            .collect();
        let outbox: Vec<_> = entities::province_outbox::Entity::find()
            .filter(entities::province_outbox::Column::Status.ne("PENDING"))
            .all(&restarted.db)
            .await
            .unwrap()
            .into_iter()
            .map(|o| (o.status, o.attempts, o.last_error))
            .collect();
        panic!("every one kept, queued: {queued} of {total}; {odd:?} {outbox:?}");
    }

    // The platform returns; the second instance stops mid-drain; the restarted one finishes.
    world.province.clear_faults();
    eventually("the drain to start", Duration::from_secs(30), || async {
        world.province.ledger_len() > 0
    })
    .await;
    second.stop().await;
    let db = restarted.db.clone();
    eventually(
        "every application to be SUBMITTED",
        Duration::from_secs(180),
        || async {
            entities::application::Entity::find()
                .filter(entities::application::Column::Status.eq("SUBMITTED"))
                .count(&db)
                .await
                .unwrap()
                == u64::from(total)
        },
    )
    .await;

    // Exactly once, as the platform's ledger sees it: every application once, nothing else.
    let ledger = world.province.ledger();
    assert_eq!(ledger.len(), total as usize);
    let in_ledger: HashMap<&str, &str> = ledger
        .iter()
        .map(|e| (e.client_request_id.as_str(), e.sblsh.as_str()))
        .collect();
    assert_eq!(in_ledger.len(), total as usize, "no clientRequestId twice");
    let ids: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(ids.len(), total as usize);
    assert_eq!(in_ledger.keys().copied().collect::<HashSet<_>>(), ids);
    for row in entities::application::Entity::find()
        .all(&db)
        .await
        .unwrap()
    {
        assert_eq!(
            row.sblsh.as_deref(),
            in_ledger.get(row.id.as_str()).copied(),
            "each application holds its own case number"
        );
    }
    let resent: u32 = ledger.iter().map(|e| e.submissions - 1).sum();
    eprintln!("{total} applications, {resent} resends answered from the platform's ledger");
}

/// Every citizen submits half of their `each` applications through `app`.
async fn submit_half(
    world: &World,
    app: &TestApp,
    people: &[(Citizen, Value)],
    each: u32,
) -> Vec<String> {
    let jobs: Vec<usize> = (0..people.len())
        .flat_map(|c| std::iter::repeat_n(c, each as usize / 2))
        .collect();
    futures::stream::iter(jobs)
        .map(|c| async move {
            let (citizen, materials) = &people[c];
            let reply = app
                .post(
                    "/api/v1/applications",
                    Some(&citizen.token),
                    &world.application(materials),
                )
                .await;
            reply.created::<Application>().id
        })
        .buffer_unordered(32)
        .collect()
        .await
}

#[tokio::test]
async fn a_citizen_may_submit_sixty_applications_an_hour() {
    let world = World::new().await;
    let a = world.citizen(&world.app, 1).await;
    let materials = world.materials(&world.app, &a).await;
    let body = world.application(&materials);
    let statuses: Vec<StatusCode> = futures::stream::iter(0..60)
        .map(|_| async {
            world
                .app
                .post("/api/v1/applications", Some(&a.token), &body)
                .await
                .status
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let reply = world
        .app
        .post("/api/v1/applications", Some(&a.token), &body)
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{reply:?}");
    assert_eq!(reply.error_code(), "RATE_LIMITED");
    assert!(reply.headers.contains_key("retry-after"));
    // Another citizen is not held back.
    let b = world.citizen(&world.app, 2).await;
    let theirs = world.materials(&world.app, &b).await;
    let reply = world
        .app
        .post(
            "/api/v1/applications",
            Some(&b.token),
            &world.application(&theirs),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
}

#[tokio::test]
async fn a_supplement_request_arriving_late_is_still_told() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let (id, view) = world.submitted(&a).await;
    let sblsh = sblsh(&view);
    let sim = &world.province;
    sim.hold_callbacks(true);
    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    sim.advance(
        &sblsh,
        Phase::SupplementRequired,
        json!({ "reason": "缺少签字", "materials": ["M001"] }),
    )
    .unwrap();
    sim.advance(
        &sblsh,
        Phase::SpecialProcedure,
        json!({ "kind": "现场核查", "until": "2026-12-31" }),
    )
    .unwrap();
    // Newest first: the special procedure, then the request, then the acceptance.
    assert_eq!(sim.release_callbacks_reversed(), 3);
    let view = until_phase(app, &a, &id, 3).await;
    assert_eq!(view.phase, Some(CasePhase::SpecialProcedure));
    assert_eq!(view.supplement_request.map(|r| r.version), Some(2));
    eventually("the notification", Duration::from_secs(5), || async {
        !inbox_titles(app, &a).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The citizen must act on the request, so it is told although a later event came first;
    // the acceptance, superseded by it, is filed silently.
    assert_eq!(inbox_titles(app, &a).await, vec!["请补正材料"]);
}

/// An upload still streaming when its citizen logs out (on another device, say) is not stored:
/// the session is checked again once the file is in, before anything is kept.
#[tokio::test]
async fn an_upload_that_outlives_its_session_is_refused_and_nothing_is_stored() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let (content_type, body) = multipart("file", "form.pdf", PDF);
    // Hold back the second half of the file and the closing boundary.
    let file_at = body
        .windows(PDF.len())
        .position(|w| w == PDF)
        .expect("the file in the body");
    let (first, rest) = body.split_at(file_at + PDF.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/materials HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        citizen.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    // The handler has the session and is reading the file when the citizen logs out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logout = app
        .post("/api/v1/auth/logout", Some(&citizen.token), &json!({}))
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{logout:?}");
    stream.write_all(rest).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);

    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains(r#""code":"SESSION_EXPIRED""#), "{answer}");
    // Audits "nothing of a refused upload is kept": no route lists another's materials.
    let stored = entities::material::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing of the upload is kept");
    // The same upload in a live session is kept.
    let again = app.login().await;
    assert_eq!(
        upload(&app, &again, "form.pdf", PDF).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        entities::material::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );
}

/// The platform hands out a case number an earlier application holds (as a demo simulator
/// restarted without its counter did). The unique index refuses it: the later application is
/// parked for an operator with the reason instead of being sent again every minute, the
/// number's events from then on are attached to neither application, and each citizen reads
/// what is true.
#[tokio::test]
async fn a_case_number_already_held_parks_the_application_and_attaches_its_events_to_nobody() {
    let world = World::new().await;
    let app = &world.app;
    let a = world.citizen(app, 1).await;
    let (first_id, first) = world.submitted(&a).await;
    let sblsh = sblsh(&first);

    world.province.set_sequence(0);
    let b = world.citizen(app, 2).await;
    let materials = world.materials(app, &b).await;
    let reply = app
        .post(
            "/api/v1/applications",
            Some(&b.token),
            &world.application(&materials),
        )
        .await;
    let second_id = reply.created::<Application>().id;
    let view = until_status(app, &b, &second_id, DeliveryStatus::Parked).await;
    assert_eq!(view.sblsh, None, "{view:?}");
    assert!(
        view.problem
            .as_ref()
            .is_some_and(|p| p.message.contains("工作人员")),
        "{view:?}"
    );
    let reissued = world
        .province
        .ledger()
        .into_iter()
        .find(|e| e.client_request_id == second_id)
        .unwrap();
    assert_eq!(
        reissued.sblsh, sblsh,
        "the simulator did reissue the number"
    );

    // Parked means left alone: not sent again.
    for _ in 0..3 {
        app.applications.forwarder().forward_once().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = world
        .province
        .ledger()
        .into_iter()
        .find(|e| e.client_request_id == second_id)
        .unwrap();
    assert_eq!(again.submissions, 1, "sent once");

    // The operator sees why.
    let admin = world.admin().await;
    let parked: ParkedList = app
        .get("/staff/v1/applications/parked", Some(&admin))
        .await
        .ok();
    let items = &parked.applications;
    assert_eq!(items.len(), 1, "{parked:?}");
    assert_eq!(items[0].application_id, second_id);
    let reason = items[0].last_error.as_deref().unwrap();
    assert!(reason.contains(&sblsh), "{reason}");
    assert!(reason.contains(&first_id), "{reason}");

    // The platform moves the case of that number on: neither application takes its events.
    world
        .province
        .advance(&sblsh, Phase::Accepted, json!({}))
        .unwrap();
    world
        .province
        .advance(&sblsh, Phase::InReview, json!({ "step": "审查" }))
        .unwrap();
    eventually("the callbacks", Duration::from_secs(10), || async {
        world.province.callbacks_delivered().delivered >= 2
    })
    .await;
    let first: Application = app
        .get(&format!("/api/v1/applications/{first_id}"), Some(&a.token))
        .await
        .ok();
    assert_eq!(
        first.timeline.as_deref().map(<[_]>::len),
        Some(0),
        "{first:?}"
    );
    assert_eq!(first.status, DeliveryStatus::Submitted);
    assert!(inbox_titles(app, &a).await.is_empty());
    let second: Application = app
        .get(&format!("/api/v1/applications/{second_id}"), Some(&b.token))
        .await
        .ok();
    assert_eq!(second.status, DeliveryStatus::Parked);
    assert!(
        second.timeline.as_ref().is_none_or(|t| t.is_empty()),
        "{second:?}"
    );
}

/// ACCEPTED (version 1) and CONCLUDED (version 2) of one case arrive at two instances at the
/// same moment, case after case. Each case's events are decided one at a time, so "已受理" is
/// never told after "已办结": it is told before it, or not at all (superseded).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_callbacks_of_one_case_never_tell_accepted_after_concluded() {
    const CASES: usize = 20;
    let world = World::new().await;
    let one = &world.app;
    let two = world.instance().await;
    let citizen = world.citizen(one, 1).await;
    let mut cases = Vec::new();
    for _ in 0..CASES {
        let (_, view) = world.submitted(&citizen).await;
        cases.push(sblsh(&view));
    }
    let secret = world.province.callback_app_secret().to_owned();
    for (n, sblsh) in cases.iter().enumerate() {
        let accepted = json!({ "eventId": format!("race-{n}-1"), "sblsh": sblsh, "version": 1,
            "phase": "ACCEPTED", "at": "2026-11-23T10:00:00Z", "handler": "窗口", "detail": {} });
        let concluded = json!({ "eventId": format!("race-{n}-2"), "sblsh": sblsh, "version": 2,
            "phase": "CONCLUDED", "at": "2026-11-23T10:00:01Z", "handler": "窗口",
            "detail": { "result": "6", "licenceIds": [] } });
        let now = chrono::Utc::now();
        let (first, _) = signed(one, &world, &accepted, &secret, now);
        let (second, _) = signed(&two, &world, &concluded, &secret, now);
        let (a, b) = tokio::join!(one.send(first), two.send(second));
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(b.status, StatusCode::OK, "{b:?}");
    }
    // Audits the order of what was told: the notifications' ids, which no route shows.
    let told: HashMap<String, i64> = entities::notification::Entity::find()
        .all(&one.db)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.dedup_key, n.id))
        .collect();
    let mut wrong = Vec::new();
    for sblsh in &cases {
        let concluded = told
            .get(&format!("case:{sblsh}:2"))
            .unwrap_or_else(|| panic!("{sblsh}: 已办结 is always told"));
        if let Some(accepted) = told.get(&format!("case:{sblsh}:1"))
            && accepted > concluded
        {
            wrong.push(sblsh.clone());
        }
    }
    assert!(
        wrong.is_empty(),
        "已受理 told after 已办结 in {} of {CASES} cases: {wrong:?}",
        wrong.len()
    );
}
