//! The provincial platform simulator, driven by the gateway's production client
//! (`services::province::ProvinceClient`): the two sides of the contract checked against each
//! other.

use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::{Value, json};
use services::province::{
    Applicant, ApplicationRequest, EvaluationRequest, ItemType, LicenceStatus, MaterialUpload,
    PostAddress, ProvinceClient, ProvinceConfig, ProvinceError, SupplementRequest, UseCause,
};
use simulators::province::{
    self as sim, DEMO_HALL_CODE, Fault, Group, LicenceReadKind, LicenceSpec, Phase, ProvinceSim,
    ProvinceSimConfig, demo_items,
};

mod callbacks;

const CERT_NO: &str = "330106199001011234";

async fn start() -> ProvinceSim {
    ProvinceSim::start(ProvinceSimConfig::default())
        .await
        .unwrap()
}

struct Tuning {
    timeout: Duration,
    max_attempts: u32,
    breaker_failures: u32,
    breaker_cooldown: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            breaker_failures: 0,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

fn client_with(sim: &ProvinceSim, secret: &str, tuning: Tuning) -> ProvinceClient {
    ProvinceClient::new(ProvinceConfig {
        base_url: sim.base_url(),
        app_key: sim.app_key().to_owned(),
        app_secret: SecretString::from(secret),
        timeout: tuning.timeout,
        max_attempts: tuning.max_attempts,
        breaker_failures: tuning.breaker_failures,
        breaker_cooldown: tuning.breaker_cooldown,
    })
    .unwrap()
}

fn client(sim: &ProvinceSim) -> ProvinceClient {
    client_with(sim, sim.app_secret(), Tuning::default())
}

/// The demo item named `name`, as JSON.
fn demo_item(name: &str) -> Value {
    demo_items()
        .into_iter()
        .find(|i| i["name"] == name)
        .unwrap()
}

/// A complete application for the demo item `name`, with every required material.
fn application(client_request_id: &str, name: &str) -> ApplicationRequest {
    let item = demo_item(name);
    let materials = item["materials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["required"] == true)
        .map(|m| {
            MaterialUpload::from_bytes(
                m["code"].as_str().unwrap(),
                m["name"].as_str().unwrap(),
                "image/jpeg",
                b"\xff\xd8\xff\xe0 a small jpeg",
            )
        })
        .collect();
    ApplicationRequest {
        client_request_id: client_request_id.to_owned(),
        item_code: item["itemCode"].as_str().unwrap().to_owned(),
        handle_item_code: item["handleItemCode"].as_str().unwrap().to_owned(),
        applicant: Applicant {
            applicant_type: 1,
            name: "张三".into(),
            cert_type: "111".into(),
            cert_no: CERT_NO.into(),
            phone: "13800000000".into(),
        },
        agent: None,
        channel: "3".into(),
        form: json!({ "reason": "有效期满换领" }),
        materials,
        obtain_way: 0,
        post_address: None,
        submitted_at: Utc::now(),
    }
}

fn rejected(error: &ProvinceError) -> (u16, &str, Vec<&str>) {
    match error {
        ProvinceError::Rejected {
            status,
            code,
            fields,
            ..
        } => (
            *status,
            code,
            fields.iter().map(|(f, _)| f.as_str()).collect(),
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn the_catalogue_is_paged_and_an_update_since_returns_only_the_changed_item() {
    let sim = start().await;
    let client = client(&sim);

    let mut codes = Vec::new();
    let mut page = 1;
    let mut pages = 0;
    loop {
        let got = client.list_items(None, page, 3).await.unwrap();
        pages += 1;
        assert!(got.items.len() <= 3);
        codes.extend(got.items.iter().map(|i| i.item_code.clone()));
        match got.next_page {
            Some(next) => page = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = demo_items()
        .iter()
        .map(|i| i["itemCode"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    codes.sort();
    assert_eq!(codes, expected);

    let all = client.list_items(None, 1, 50).await.unwrap();
    let id_card = all
        .items
        .iter()
        .find(|i| i.name == "居民身份证换领")
        .unwrap();
    assert_eq!(id_card.item_type, ItemType::Promised);
    assert_eq!(id_card.halls, [DEMO_HALL_CODE]);
    assert!(id_card.materials.iter().any(|m| m.required));

    let since = Utc::now();
    let mut changed = demo_item("生育登记");
    changed["fee"] = json!("0");
    changed["promisedDays"] = json!(0);
    sim.upsert_item(changed.clone()).unwrap();
    let delta = client.list_items(Some(since), 1, 50).await.unwrap();
    assert_eq!(delta.items.len(), 1);
    assert_eq!(
        delta.items[0].item_code,
        changed["itemCode"].as_str().unwrap()
    );
    assert_eq!(delta.items[0].promised_days, 0);
    assert_eq!(delta.next_page, None);

    let error = client.list_items(None, 1, 201).await.unwrap_err();
    assert_eq!(rejected(&error).0, 400);
    assert!(!error.is_retryable());

    sim.remove_all_items();
    assert!(
        client
            .list_items(None, 1, 50)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_lost_response_is_retried_and_the_application_is_recorded_once() {
    let sim = start().await;
    let client = client_with(
        &sim,
        sim.app_secret(),
        Tuning {
            timeout: Duration::from_millis(500),
            ..Tuning::default()
        },
    );
    sim.fault(Group::Applications, Fault::TimeoutAfterAccept(1));

    let receipt = client
        .submit_application(&application("req-lost-1", "居民身份证换领"))
        .await
        .unwrap();

    assert!(receipt.replayed, "the second attempt found the first");
    assert_eq!(receipt.status, "SUBMITTED");
    let ledger = sim.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].client_request_id, "req-lost-1");
    assert_eq!(ledger[0].sblsh, receipt.sblsh);
    assert_eq!(ledger[0].submissions, 2);
    assert!(receipt.sblsh.starts_with(&ledger[0].item_code));
    assert_eq!(receipt.sblsh.len(), 31 + 8 + 6);
    sim.stop().await;
}

/// The demo restarts its simulator over the same database: a case number issued before the
/// restart is never issued again, because the last one is kept in the demo's data folder.
#[tokio::test]
async fn a_restarted_simulator_never_reissues_a_case_number() {
    let file = std::env::temp_dir().join(format!(
        "province-sequence-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let config = || ProvinceSimConfig {
        sequence_file: Some(file.clone()),
        ..ProvinceSimConfig::default()
    };
    let mut issued = std::collections::HashSet::new();
    for run in 0..3 {
        let sim = ProvinceSim::start(config()).await.unwrap();
        let client = client(&sim);
        for n in 0..2 {
            let receipt = client
                .submit_application(&application(&format!("req-{run}-{n}"), "居民身份证换领"))
                .await
                .unwrap();
            assert!(
                issued.insert(receipt.sblsh.clone()),
                "{} issued twice",
                receipt.sblsh
            );
        }
        sim.stop().await;
    }
    assert_eq!(issued.len(), 6);
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn a_bad_application_is_refused_with_the_fields_to_fix() {
    let sim = start().await;
    let client = client(&sim);
    let mut bad = application("req-bad-1", "居民身份证换领");
    bad.materials.retain(|m| m.code != "M001");
    bad.applicant.cert_no = "3301061990".into();
    bad.obtain_way = 1;

    let error = client.submit_application(&bad).await.unwrap_err();

    let (status, code, fields) = rejected(&error);
    assert_eq!((status, code), (422, "VALIDATION"));
    for field in ["materials.M001", "applicant.certNo", "postAddress"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    assert!(!fields.contains(&"materials.M002"));
    assert_eq!(sim.ledger_len(), 0);

    let mut unknown = application("req-bad-2", "居民身份证换领");
    unknown.item_code = "X".repeat(31);
    let error = client.submit_application(&unknown).await.unwrap_err();
    assert_eq!(rejected(&error).2, ["itemCode"]);

    let mut posted = application("req-post-1", "居民身份证换领");
    posted.obtain_way = 1;
    posted.post_address = Some(PostAddress {
        name: "张三".into(),
        phone: "13800000000".into(),
        province: "浙江省".into(),
        city: "杭州市".into(),
        district: "西湖区".into(),
        detail: "文三路 1 号".into(),
    });
    client.submit_application(&posted).await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn the_same_request_id_with_another_body_is_an_idempotency_mismatch() {
    let sim = start().await;
    let client = client(&sim);
    let first = application("req-same-1", "社会保障卡补领");
    let receipt = client.submit_application(&first).await.unwrap();
    assert!(!receipt.replayed);

    let again = client.submit_application(&first).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.sblsh, receipt.sblsh);

    let mut changed = first.clone();
    changed.form = json!({ "reason": "遗失补领" });
    let error = client.submit_application(&changed).await.unwrap_err();
    assert_eq!(rejected(&error), (409, "IDEMPOTENCY_MISMATCH", vec![]));
    assert!(!error.is_retryable());
    assert_eq!(sim.ledger()[0].submissions, 3);
    sim.stop().await;
}

#[tokio::test]
async fn a_burst_of_5xx_and_a_429_are_retried_through() {
    let sim = start().await;
    let client = client(&sim);
    sim.fault(Group::Applications, Fault::Http5xx(2));

    client
        .submit_application(&application("req-5xx-1", "生育登记"))
        .await
        .unwrap();
    assert_eq!(sim.requests(Group::Applications), 3);
    assert_eq!(sim.ledger_len(), 1);

    sim.fault(Group::Items, Fault::TooMany(1));
    let started = std::time::Instant::now();
    client.list_items(None, 1, 10).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    assert_eq!(sim.requests(Group::Items), 2);

    sim.fault(Group::Any, Fault::Http5xx(3));
    let error = client.list_items(None, 1, 10).await.unwrap_err();
    assert!(matches!(error, ProvinceError::Unavailable(_)), "{error:?}");
    assert!(error.is_retryable());
    sim.stop().await;
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures_and_a_probe_closes_it() {
    let sim = start().await;
    let cooldown = Duration::from_millis(300);
    let client = client_with(
        &sim,
        sim.app_secret(),
        Tuning {
            max_attempts: 2,
            breaker_failures: 2,
            breaker_cooldown: cooldown,
            ..Tuning::default()
        },
    );
    sim.fault(Group::Items, Fault::Down);

    for _ in 0..2 {
        let error = client.list_items(None, 1, 10).await.unwrap_err();
        assert!(matches!(error, ProvinceError::Unavailable(_)), "{error:?}");
    }
    assert_eq!(sim.requests(Group::Items), 4);
    let error = client.list_items(None, 1, 10).await.unwrap_err();
    assert!(matches!(error, ProvinceError::CircuitOpen), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(sim.requests(Group::Items), 4, "no request while open");

    sim.clear_faults();
    tokio::time::sleep(cooldown).await;
    client.list_items(None, 1, 10).await.unwrap();

    // A refusal by the platform is an answer: it resets the count of consecutive failures.
    sim.fault(Group::Items, Fault::Down);
    client.list_items(None, 1, 10).await.unwrap_err();
    sim.clear_faults();
    client.list_items(None, 1, 201).await.unwrap_err();
    sim.fault(Group::Items, Fault::Down);
    let error = client.list_items(None, 1, 10).await.unwrap_err();
    assert!(matches!(error, ProvinceError::Unavailable(_)), "{error:?}");
    sim.clear_faults();
    client.list_items(None, 1, 10).await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn a_request_signed_with_the_wrong_secret_is_refused_as_bad_signature() {
    let sim = start().await;
    let client = client_with(&sim, "not-the-secret", Tuning::default());

    let error = client.list_items(None, 1, 10).await.unwrap_err();

    assert_eq!(rejected(&error), (401, "BAD_SIGNATURE", vec![]));
    assert_eq!(sim.requests(Group::Items), 1, "a 401 is final");

    let unsigned = reqwest::get(format!("{}/gov/v1/items", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let body: Value = unsigned.json().await.unwrap();
    assert_eq!(body["code"], "BAD_SIGNATURE");
    assert_eq!(sim.stats().unauthorised, 2);
    sim.stop().await;
}

#[tokio::test]
async fn a_replayed_nonce_and_a_stale_timestamp_are_refused() {
    let sim = start().await;
    let creds = services::province::Credentials {
        app_key: sim.app_key().to_owned(),
        app_secret: SecretString::from(sim.app_secret()),
    };
    let http = reqwest::Client::new();
    let send = |headers: services::province::SignedHeaders| {
        let mut request = http.get(format!("{}/gov/v1/items", sim.base_url()));
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        request.send()
    };
    let signed = services::province::sign(&creds, "GET", "/gov/v1/items", b"", Utc::now());
    assert_eq!(send(signed.clone()).await.unwrap().status(), 200);
    let replay: Value = send(signed).await.unwrap().json().await.unwrap();
    assert_eq!(replay["code"], "REPLAYED_NONCE");
    let old = Utc::now() - chrono::TimeDelta::seconds(301);
    let stale: Value = send(services::province::sign(
        &creds,
        "GET",
        "/gov/v1/items",
        b"",
        old,
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(stale["code"], "STALE_REQUEST");
    sim.stop().await;
}

#[tokio::test]
async fn licences_are_served_with_their_use_cause_and_live_status() {
    let sim = start().await;
    let client = client(&sim);
    let id = sim.add_licence(CERT_NO, LicenceSpec::id_card("张三", CERT_NO));
    assert!(id.starts_with("1.2.156.3005.2.111000000000000001.11330106002489836K."));

    let list = client
        .licences("111", CERT_NO, &UseCause::HolderDisplay)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].licence_id, id);
    assert_eq!(list[0].type_name, "居民身份证");
    assert_eq!(list[0].status, LicenceStatus::Valid);
    assert!(
        client
            .licences("111", "110101199003077777", &UseCause::HolderDisplay)
            .await
            .unwrap()
            .is_empty()
    );

    let verify = UseCause::Verify {
        hall: DEMO_HALL_CODE.into(),
    };
    let detail = client.licence(&id, &verify).await.unwrap();
    assert!(
        detail
            .fields
            .iter()
            .any(|f| f.sensitive && f.value == CERT_NO)
    );

    sim.set_licence_status(&id, sim::LicenceStatus::Revoked)
        .unwrap();
    let status = client.licence_status(&id, &verify).await.unwrap();
    assert_eq!(status.status, LicenceStatus::Revoked);

    let missing = client
        .licence("1.2.156.3005.2.x.y.000001.001.0", &verify)
        .await;
    assert!(
        matches!(missing, Err(ProvinceError::NotFound)),
        "{missing:?}"
    );

    let reads = sim.licence_reads();
    let kinds: Vec<_> = reads.iter().map(|r| (r.kind, r.cause.as_str())).collect();
    assert_eq!(
        kinds[..4],
        [
            (LicenceReadKind::List, "HOLDER_DISPLAY"),
            (LicenceReadKind::List, "HOLDER_DISPLAY"),
            (LicenceReadKind::Detail, "VERIFY:HALL-0571-01"),
            (LicenceReadKind::Status, "VERIFY:HALL-0571-01"),
        ]
    );

    let bad_cause = UseCause::Verify { hall: " ".into() };
    let error = client.licence(&id, &bad_cause).await.unwrap_err();
    assert_eq!(rejected(&error), (400, "BAD_USE_CAUSE", vec![]));
    sim.stop().await;
}

#[tokio::test]
async fn a_case_moves_on_takes_a_supplement_once_and_is_evaluated_once() {
    let sim = start().await;
    let client = client(&sim);
    let receipt = client
        .submit_application(&application("req-case-1", "营业执照变更登记"))
        .await
        .unwrap();
    let sblsh = receipt.sblsh;

    let fresh = client.case_state(&sblsh).await.unwrap();
    assert_eq!((fresh.status.as_str(), fresh.version), ("SUBMITTED", 0));
    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    sim.advance(
        &sblsh,
        Phase::SupplementRequired,
        json!({ "reason": "营业执照副本不清晰", "materials": ["M002"] }),
    )
    .unwrap();

    let supplement = SupplementRequest {
        client_request_id: "sup-1".into(),
        materials: vec![MaterialUpload::from_bytes(
            "M002",
            "营业执照正副本",
            "image/jpeg",
            b"clearer",
        )],
        note: Some("已重新扫描".into()),
    };
    assert_eq!(
        client.submit_supplement(&sblsh, &supplement).await.unwrap(),
        3
    );
    assert_eq!(
        client.submit_supplement(&sblsh, &supplement).await.unwrap(),
        3
    );
    let state = client.case_state(&sblsh).await.unwrap();
    assert_eq!((state.status.as_str(), state.version), ("SUPPLEMENTED", 3));
    let versions: Vec<u64> = state.events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(state.events[1].detail["materials"][0], "M002");

    let unknown = client.case_state(&format!("{sblsh}9")).await;
    assert!(
        matches!(unknown, Err(ProvinceError::NotFound)),
        "{unknown:?}"
    );

    let evaluation = EvaluationRequest {
        client_request_id: "eval-1".into(),
        sblsh: Some(sblsh.clone()),
        hall_code: Some(DEMO_HALL_CODE.into()),
        window_no: Some("A07".into()),
        channel: "3".into(),
        grade: 5,
        indicators: json!({ "attitude": 5 }),
        tags: vec!["一次办好".into()],
        comment: "很快".into(),
        evaluated_at: Utc::now(),
    };
    client.submit_evaluation(&evaluation).await.unwrap();
    client.submit_evaluation(&evaluation).await.unwrap();
    assert_eq!(sim.evaluations().len(), 1);
    let bad = EvaluationRequest {
        client_request_id: "eval-2".into(),
        grade: 6,
        ..evaluation
    };
    let error = client.submit_evaluation(&bad).await.unwrap_err();
    assert_eq!(rejected(&error), (422, "VALIDATION", vec!["grade"]));
    sim.stop().await;
}

#[tokio::test]
async fn the_hooks_work_over_http() {
    let sim = start().await;
    let client = client(&sim);
    let http = reqwest::Client::new();
    let hook = |path: &str, body: Value| {
        http.post(format!("{}/__sim{path}", sim.base_url()))
            .json(&body)
            .send()
    };
    let receipt = client
        .submit_application(&application("req-hook-1", "生育登记"))
        .await
        .unwrap();

    let event: Value = hook(
        "/advance",
        json!({ "sblsh": receipt.sblsh, "phase": "ACCEPTED" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(event["version"], 1);
    let ledger: Value = http
        .get(format!("{}/__sim/ledger", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger["entries"][0]["clientRequestId"], "req-hook-1");

    let status = hook(
        "/faults",
        json!({ "group": "items", "fault": "http5xx", "times": 5 }),
    )
    .await
    .unwrap()
    .status();
    assert_eq!(status, 200);
    assert!(client.list_items(None, 1, 10).await.is_err());
    hook("/faults/clear", json!({})).await.unwrap();
    client.list_items(None, 1, 10).await.unwrap();

    let added: Value = hook(
        "/licences",
        json!({
            "holderCertNo": CERT_NO, "typeCode": "111000000000000002", "typeName": "机动车驾驶证",
            "holderName": "张三", "issuer": "杭州市公安局交通管理局",
            "issuerCode": "11330100002489663E", "validFrom": "2022-05-01",
            "validUntil": "2028-05-01", "status": "VALID",
        }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = added["licenceId"].as_str().unwrap();
    let status = hook(
        "/licences/status",
        json!({ "licenceId": id, "status": "SUSPENDED" }),
    )
    .await
    .unwrap()
    .status();
    assert_eq!(status, 200);
    let live = client
        .licence_status(id, &UseCause::HolderDisplay)
        .await
        .unwrap();
    assert_eq!(live.status, LicenceStatus::Suspended);

    let mut item = demo_item("生育登记");
    item["itemCode"] = json!("11330100002489847A1200130009000");
    item["name"] = json!("再生育登记");
    assert_eq!(hook("/items", item).await.unwrap().status(), 200);
    assert_eq!(client.list_items(None, 1, 50).await.unwrap().items.len(), 9);

    let unknown = hook("/advance", json!({ "sblsh": "nope", "phase": "ACCEPTED" }))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    sim.stop().await;
}

#[tokio::test]
async fn a_material_over_8_mib_is_refused_with_413() {
    let sim = start().await;
    let client = client(&sim);
    let mut big = application("req-big-1", "生育登记");
    let nine_mib = vec![0u8; 9 << 20];
    big.materials[0] =
        MaterialUpload::from_bytes(&big.materials[0].code, "扫描件", "image/png", &nine_mib);

    let error = client.submit_application(&big).await.unwrap_err();

    assert_eq!(rejected(&error).0, 413);
    assert_eq!(sim.ledger_len(), 0);
    sim.stop().await;
}
