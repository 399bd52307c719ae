//! Electronic licences: the holder's masked view, reveals and presentations audited, and
//! verification at a hall (signature, expiry, replay, live status), with key rotation.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use miniprogram_api::halls::RulesPatch;
use miniprogram_api::licences::{
    LicenceDetail, LicenceList, LicenceUses, PresentationResponse, Verdict, VerificationResponse,
};
use miniprogram_api::me::{IdentityNoticeKind, Me};
use miniprogram_api::staff::StaffRole;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use simulators::province::{LicenceSpec, LicenceStatus, ProvinceSim, ProvinceSimConfig};
use support::HallSpec;

use crate::helpers::{Citizen, Deployment, TestApp, captured_logs, id_card_no};

const HALL_CODE: &str = "HALL-LIC-01";

/// A deployment with a province simulator, its first instance, and a verifier at one hall.
struct World {
    deployment: Deployment,
    province: ProvinceSim,
    app: TestApp,
    hall_id: i64,
    verifier: String,
}

fn key(kid: &str, byte: u8) -> (String, String) {
    (kid.to_owned(), STANDARD.encode([byte; 32]))
}

async fn instance(
    deployment: &Deployment,
    province: &ProvinceSim,
    keys: &[(String, String)],
) -> TestApp {
    let base_url = province.base_url();
    let app_key = province.app_key().to_owned();
    let app_secret = province.app_secret().to_owned();
    let keys = keys.to_vec();
    deployment
        .instance(move |s| {
            s.province.base_url = base_url;
            s.province.app_key = app_key;
            s.province.app_secret = SecretString::from(app_secret);
            s.province.sync_interval_secs = 0;
            s.licences.signing_keys = keys
                .into_iter()
                .map(|(kid, k)| gateway::configuration::SigningKeySettings {
                    kid,
                    private_key: SecretString::from(k),
                })
                .collect();
        })
        .await
}

impl World {
    async fn new() -> World {
        Self::with_keys(&[key("k1", 1)]).await
    }

    async fn with_keys(keys: &[(String, String)]) -> World {
        let deployment = Deployment::new().await;
        let province = ProvinceSim::start(ProvinceSimConfig {
            demo_data: false,
            ..ProvinceSimConfig::default()
        })
        .await
        .expect("start the province simulator");
        let app = instance(&deployment, &province, keys).await;
        let hall_id = hall(&app, HALL_CODE).await;
        let verifier = format!("verifier{}", uuid::Uuid::new_v4().simple());
        let verifier = app
            .admin()
            .await
            .staff_token(&verifier, "李核验", &[(StaffRole::Verifier, Some(hall_id))])
            .await;
        World {
            deployment,
            province,
            app,
            hall_id,
            verifier,
        }
    }

    /// A citizen with a bound identity (`n` picks the ID number) holding one ID-card licence.
    async fn holder(&self, n: u32, name: &str) -> (Citizen, String, String) {
        let citizen = self.app.login().await;
        let id_no = id_card_no(n);
        let bound = self.app.verify_identity(&citizen.token, name, &id_no).await;
        assert_eq!(bound.status, StatusCode::OK, "{bound:?}");
        let licence = self
            .province
            .add_licence(&id_no, LicenceSpec::id_card(name, &id_no));
        (citizen, id_no, licence)
    }

    async fn present(&self, citizen: &Citizen, licence: &str) -> crate::helpers::Reply {
        self.app
            .post(
                &format!("/api/v1/licences/{licence}/presentations"),
                Some(&citizen.token),
                &json!({}),
            )
            .await
    }

    async fn payload(&self, citizen: &Citizen, licence: &str) -> String {
        self.present(citizen, licence)
            .await
            .created::<PresentationResponse>()
            .payload
    }

    async fn verify_at(&self, app: &TestApp, token: &str, payload: &str) -> crate::helpers::Reply {
        app.post(
            &format!("/staff/v1/halls/{}/licence-verifications", self.hall_id),
            Some(token),
            &json!({ "payload": payload }),
        )
        .await
    }

    async fn verify(&self, payload: &str) -> VerificationResponse {
        self.verify_at(&self.app, &self.verifier, payload)
            .await
            .ok()
    }
}

/// A hall made through the admin API (its rules as a licence office's; the licence tests do
/// not book); its id.
pub(crate) async fn hall(app: &TestApp, code: &str) -> i64 {
    let rules = RulesPatch {
        release_days_ahead: Some(5),
        checkin_after_minutes: Some(15),
        weekly_limit: Some(3),
        no_show_limit: Some(3),
        penalty_window_days: Some(90),
        ban_days: Some(30),
        ..RulesPatch::default()
    };
    HallSpec::new(code, "观山湖区政务服务大厅", "贵阳市观山湖区")
        .rules(rules)
        .create(&app.admin().await)
        .await
        .id
}

fn actions(uses: &LicenceUses) -> Vec<&str> {
    uses.uses.iter().map(|u| u.action.as_str()).collect()
}

#[tokio::test]
async fn the_holder_sees_licences_masked_and_reveals_a_field_on_request_only() {
    let w = World::new().await;
    let (citizen, id_no, licence) = w.holder(301, "张三").await;

    let list: LicenceList = w
        .app
        .get("/api/v1/licences", Some(&citizen.token))
        .await
        .ok();
    let first = &list.licences[0];
    assert_eq!(first.licence_id, licence);
    assert_eq!(first.type_name, "居民身份证");
    assert_eq!(first.holder_name, "张*");
    assert_eq!(
        first.status,
        miniprogram_api::licences::LicenceStatus::Valid
    );
    assert!(
        !first.issuer.is_empty() && first.valid_until.is_some(),
        "{first:?}"
    );

    let detail = w
        .app
        .get(&format!("/api/v1/licences/{licence}"), Some(&citizen.token))
        .await;
    assert!(!detail.text.contains(&id_no));
    assert!(!detail.text.contains("张三"), "names are masked too");
    let detail: LicenceDetail = detail.ok();
    let id_field = detail.fields.iter().find(|f| f.key == "idNo").unwrap();
    assert_eq!(
        id_field.value,
        format!("{}***********{}", &id_no[..3], &id_no[14..])
    );

    let revealed = w
        .app
        .post(
            &format!("/api/v1/licences/{licence}/reveal"),
            Some(&citizen.token),
            &json!({ "field": "idNo" }),
        )
        .await;
    let revealed: miniprogram_api::licences::LicenceField = revealed.ok();
    assert_eq!(revealed.value, id_no);
    let unknown = w
        .app
        .post(
            &format!("/api/v1/licences/{licence}/reveal"),
            Some(&citizen.token),
            &json!({ "field": "nope" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "LICENCE_NOT_FOUND");

    let uses: LicenceUses = w
        .app
        .get(
            &format!("/api/v1/licences/{licence}/uses"),
            Some(&citizen.token),
        )
        .await
        .ok();
    assert_eq!(actions(&uses), ["REVEAL", "DISPLAY"]);
    assert_eq!(uses.uses[0].cause, "REVEAL:idNo");
    assert_eq!(uses.uses[1].cause, "HOLDER_DISPLAY");

    // Every read at the province carried the holder's use cause; the list is cached.
    let reads = w.province.licence_reads();
    assert!(
        reads.iter().all(|r| r.cause == "HOLDER_DISPLAY"),
        "{reads:?}"
    );
    let lists = reads
        .iter()
        .filter(|r| matches!(r.kind, simulators::province::LicenceReadKind::List))
        .count();
    assert_eq!(lists, 1, "the list is cached between calls: {reads:?}");
}

#[tokio::test]
async fn a_citizen_without_an_identity_is_told_to_bind_one() {
    let w = World::new().await;
    let citizen = w.app.login().await;
    let reply = w.app.get("/api/v1/licences", Some(&citizen.token)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "IDENTITY_REQUIRED");
}

#[tokio::test]
async fn an_unverified_identity_sees_no_licence() {
    let w = World::new().await;
    let (citizen, _, licence) = w.holder(320, "冯二").await;
    crate::helpers::unverify(&w.app, &citizen).await;
    for reply in [
        w.app.get("/api/v1/licences", Some(&citizen.token)).await,
        w.app
            .get(&format!("/api/v1/licences/{licence}"), Some(&citizen.token))
            .await,
        w.present(&citizen, &licence).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
        assert_eq!(reply.error_code(), "IDENTITY_NOT_VERIFIED");
    }
}

/// The QR names the licence's holder as the licence library reports them; a licence whose
/// holder is not the presenting citizen is refused at presentation.
#[tokio::test]
async fn a_licence_whose_holder_is_not_the_presenter_is_refused_at_presentation() {
    let w = World::new().await;
    let citizen = w.app.login().await;
    let id_no = id_card_no(321);
    let bound = w.app.verify_identity(&citizen.token, "陈三", &id_no).await;
    assert_eq!(bound.status, StatusCode::OK, "{bound:?}");
    let foreign = w
        .province
        .add_licence(&id_no, LicenceSpec::id_card("林四", &id_no));
    let reply = w.present(&citizen, &foreign).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    assert_eq!(reply.error_code(), "LICENCE_HOLDER_MISMATCH");
}

/// The security review's journey (issue 13): a fresh WeChat account claims 张三's ID number under
/// another name to show 张三's identity card at a hall. Every step is refused now, and the real
/// 张三 proves himself by face and takes his identity (and his licence) back.
#[tokio::test]
async fn the_impostor_journey_ends_in_refusals_at_every_step() {
    let w = World::new().await;
    let number = "11010519491231002X";
    let card = w
        .province
        .add_licence(number, LicenceSpec::id_card("张三", number));
    let impostor = w.app.login().await;

    // Declaring the identity binds nothing any more.
    let declared = w
        .app
        .put(
            "/api/v1/me/identity",
            Some(&impostor.token),
            &json!({ "name": "李四", "idCardNo": number }),
        )
        .await;
    assert_eq!(declared.status, StatusCode::GONE);
    assert_eq!(declared.error_code(), "FACE_VERIFICATION_REQUIRED");
    // The face WeChat sees is not the person named.
    for name in ["李四", "张三"] {
        let face = w
            .app
            .verify_identity_with(&impostor.token, name, number, 10004)
            .await;
        assert_eq!(face.status, StatusCode::UNPROCESSABLE_ENTITY, "{face:?}");
        assert_eq!(face.error_code(), "FACE_NOT_MATCHED");
    }
    let me: Me = w.app.get("/api/v1/me", Some(&impostor.token)).await.ok();
    assert!(me.identity.is_none(), "{me:?}");
    // Without an identity: no licence to list, reveal or present.
    for reply in [
        w.app.get("/api/v1/licences", Some(&impostor.token)).await,
        w.app
            .post(
                &format!("/api/v1/licences/{card}/reveal"),
                Some(&impostor.token),
                &json!({ "field": "idNo" }),
            )
            .await,
        w.present(&impostor, &card).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
        assert_eq!(reply.error_code(), "IDENTITY_REQUIRED");
    }

    // An impostor who declared the identity before face verification existed (the migration
    // left it unverified) gets no further.
    let old = w.app.login().await;
    w.app.verify_identity(&old.token, "李四", number).await;
    crate::helpers::unverify(&w.app, &old).await;
    for reply in [
        w.app.get("/api/v1/licences", Some(&old.token)).await,
        w.present(&old, &card).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
        assert_eq!(reply.error_code(), "IDENTITY_NOT_VERIFIED");
    }

    // The real 张三 is not locked out: his face takes the identity from the declared binding.
    let zhang = w.app.login().await;
    let proven = w.app.verify_identity(&zhang.token, "张三", number).await;
    assert_eq!(proven.status, StatusCode::OK, "{proven:?}");
    let lost: Me = w.app.get("/api/v1/me", Some(&old.token)).await.ok();
    assert!(lost.identity.is_none(), "{lost:?}");
    assert_eq!(
        lost.identity_notice.map(|n| n.kind),
        Some(IdentityNoticeKind::VerifiedElsewhere)
    );
    let after = w.app.get("/api/v1/licences", Some(&old.token)).await;
    assert_eq!(after.error_code(), "IDENTITY_REQUIRED");

    // 张三 shows his card; the verifier sees the holder's name.
    let payload = w.payload(&zhang, &card).await;
    let verdict = w.verify(&payload).await;
    assert_eq!(verdict.verdict, Verdict::Valid, "{verdict:?}");
    assert_eq!(verdict.licence.expect("shown").holder_name, "张*");
}

#[tokio::test]
async fn a_presentation_is_small_and_verifies_once_at_the_hall() {
    let w = World::new().await;
    let (citizen, id_no, licence) = w.holder(302, "王小明").await;

    let shown: PresentationResponse = w.present(&citizen, &licence).await.created();
    let payload = shown.payload.as_str();
    assert!(payload.len() <= 300, "{} characters", payload.len());
    assert!(shown.watermark.ends_with("王**"), "{shown:?}");
    assert!(shown.expires_at > chrono::Utc::now(), "{shown:?}");
    let claims = URL_SAFE_NO_PAD
        .decode(payload.split('.').nth(1).unwrap())
        .unwrap();
    let claims = String::from_utf8(claims).unwrap();
    assert!(
        !claims.contains(&id_no) && !claims.contains("王小明"),
        "{claims}"
    );

    let verdict = w.verify(payload).await;
    assert_eq!(verdict.verdict, Verdict::Valid, "{verdict:?}");
    assert_eq!(verdict.reason, "VALID");
    let shown = verdict.licence.expect("shown");
    assert_eq!(shown.licence_id, licence);
    assert_eq!(shown.holder_name, "王**");
    assert_eq!(shown.type_name.as_deref(), Some("居民身份证"));
    assert_eq!(
        shown.status,
        Some(miniprogram_api::licences::LicenceStatus::Valid)
    );
    let verify_reads: Vec<_> = w
        .province
        .licence_reads()
        .into_iter()
        .filter(|r| r.cause.starts_with("VERIFY"))
        .collect();
    assert!(!verify_reads.is_empty());
    assert!(
        verify_reads
            .iter()
            .all(|r| r.cause == format!("VERIFY:{HALL_CODE}"))
    );

    // A screenshot scanned again is refused.
    let again = w.verify(payload).await;
    assert_eq!(again.verdict, Verdict::Invalid);
    assert_eq!(again.reason, "ALREADY_SCANNED");

    // The holder sees who checked, and is told.
    let uses: LicenceUses = w
        .app
        .get(
            &format!("/api/v1/licences/{licence}/uses"),
            Some(&citizen.token),
        )
        .await
        .ok();
    assert_eq!(actions(&uses), ["VERIFY", "VERIFY", "PRESENT"]);
    assert_eq!(uses.uses[1].verdict, Some(Verdict::Valid));
    assert_eq!(uses.uses[1].cause, format!("VERIFY:{HALL_CODE}"));
    assert_eq!(uses.uses[1].hall_id, Some(w.hall_id));
    let inbox = w.app.get("/api/v1/messages", Some(&citizen.token)).await;
    assert_eq!(inbox.status, StatusCode::OK, "{inbox:?}");
    assert!(inbox.text.contains("核验"), "{}", inbox.text);
    assert!(inbox.text.contains("李核验"), "{}", inbox.text);
}

#[tokio::test]
async fn tampered_foreign_and_expired_payloads_are_invalid() {
    let w = World::new().await;
    let (citizen, _, licence) = w.holder(303, "赵六").await;
    let payload = w.payload(&citizen, &licence).await;
    let parts: Vec<&str> = payload.split('.').collect();

    // Tampered claims: a longer life.
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    let v = w.verify(&tampered).await;
    assert_eq!(v.verdict, Verdict::Invalid);
    assert_eq!(v.reason, "SIGNATURE_INVALID");
    assert!(
        v.licence.is_none(),
        "nothing of an untrusted payload is shown"
    );

    // An unknown kid.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"zz"}"#);
    let v = w
        .verify(&format!("{header}.{}.{}", parts[1], parts[2]))
        .await;
    assert_eq!(v.reason, "UNKNOWN_KEY");

    let v = w.verify("not a payload").await;
    assert_eq!(v.reason, "MALFORMED");

    // Expired: the gateway's clock moves past the 60 s.
    w.app.clock.advance(chrono::Duration::seconds(61));
    let v = w.verify(&payload).await;
    assert_eq!(v.verdict, Verdict::Invalid);
    assert_eq!(v.reason, "EXPIRED");
}

#[tokio::test]
async fn a_revoked_or_suspended_licence_is_invalid_though_its_signature_is_good() {
    let w = World::new().await;
    let (citizen, _, licence) = w.holder(304, "钱七").await;
    for (status, reason) in [
        (LicenceStatus::Revoked, "LICENCE_REVOKED"),
        (LicenceStatus::Suspended, "LICENCE_SUSPENDED"),
    ] {
        let payload = w.payload(&citizen, &licence).await;
        w.province.set_licence_status(&licence, status).unwrap();
        let v = w.verify(&payload).await;
        assert_eq!(v.verdict, Verdict::Invalid, "{v:?}");
        assert_eq!(v.reason, reason);
        w.province
            .set_licence_status(&licence, LicenceStatus::Valid)
            .unwrap();
    }
}

#[tokio::test]
async fn a_payload_of_the_previous_key_verifies_after_rotation_and_jwks_lists_both() {
    let w = World::with_keys(&[key("k1", 1)]).await;
    let (citizen, _, licence) = w.holder(305, "孙八").await;
    let old = w.payload(&citizen, &licence).await;

    let rotated = instance(&w.deployment, &w.province, &[key("k2", 2), key("k1", 1)]).await;
    let jwks = rotated.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    // The JWKS is RFC 7517's shape, not a miniprogram-api type: read as JSON.
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["k2", "k1"]);
    assert_eq!(jwks.body["keys"][0]["kty"], "OKP");
    assert_eq!(jwks.body["keys"][0]["crv"], "Ed25519");

    let v = w.verify_at(&rotated, &w.verifier, &old).await;
    assert_eq!(
        v.ok::<VerificationResponse>().verdict,
        Verdict::Valid,
        "{v:?}"
    );
    let fresh = rotated
        .post(
            &format!("/api/v1/licences/{licence}/presentations"),
            Some(&citizen.token),
            &json!({}),
        )
        .await;
    let fresh: PresentationResponse = fresh.created();
    let header = fresh.payload.split('.').next().unwrap();
    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert!(header.contains(r#""kid":"k2""#), "{header}");

    // Once the old key is gone, its payloads are unknown.
    let later = w.payload(&citizen, &licence).await;
    let retired = instance(&w.deployment, &w.province, &[key("k2", 2)]).await;
    let v = w.verify_at(&retired, &w.verifier, &later).await;
    assert_eq!(
        v.ok::<VerificationResponse>().reason,
        "UNKNOWN_KEY",
        "{v:?}"
    );
}

#[tokio::test]
async fn citizens_cannot_touch_each_others_licences_nor_verify() {
    let w = World::new().await;
    let (alice, _, _) = w.holder(306, "周九").await;
    let (_bob, _, bobs) = w.holder(307, "吴十").await;
    for reply in [
        w.app
            .get(&format!("/api/v1/licences/{bobs}"), Some(&alice.token))
            .await,
        w.app
            .post(
                &format!("/api/v1/licences/{bobs}/reveal"),
                Some(&alice.token),
                &json!({ "field": "idNo" }),
            )
            .await,
        w.present(&alice, &bobs).await,
        w.app
            .get(&format!("/api/v1/licences/{bobs}/uses"), Some(&alice.token))
            .await,
    ] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
        assert_eq!(reply.error_code(), "LICENCE_NOT_FOUND");
    }
    let list = w.app.get("/api/v1/licences", Some(&alice.token)).await;
    assert!(!list.text.contains(&bobs));

    let (carol, _, carols) = w.holder(308, "郑一").await;
    let payload = w.payload(&carol, &carols).await;
    let as_citizen = w.verify_at(&w.app, &alice.token, &payload).await;
    assert_eq!(
        as_citizen.status,
        StatusCode::UNAUTHORIZED,
        "{as_citizen:?}"
    );
    let anonymous = w
        .app
        .post(
            &format!("/staff/v1/halls/{}/licence-verifications", w.hall_id),
            None,
            &json!({ "payload": payload }),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // A verifier of this hall may not verify at another.
    let other = hall(&w.app, "HALL-LIC-02").await;
    let elsewhere = w
        .app
        .post(
            &format!("/staff/v1/halls/{other}/licence-verifications"),
            Some(&w.verifier),
            &json!({ "payload": payload }),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn no_full_id_number_reaches_a_response_or_a_log_line() {
    let w = World::new().await;
    let (citizen, id_no, licence) = w.holder(309, "冯二").await;
    let list = w.app.get("/api/v1/licences", Some(&citizen.token)).await;
    let detail = w
        .app
        .get(&format!("/api/v1/licences/{licence}"), Some(&citizen.token))
        .await;
    let shown = w.present(&citizen, &licence).await;
    let payload = shown.json::<PresentationResponse>().payload;
    let verdict = w.verify_at(&w.app, &w.verifier, &payload).await;
    assert_eq!(verdict.status, StatusCode::OK, "{verdict:?}");
    let uses = w
        .app
        .get(
            &format!("/api/v1/licences/{licence}/uses"),
            Some(&citizen.token),
        )
        .await;
    for text in [
        &list.text,
        &detail.text,
        &shown.text,
        &verdict.text,
        &uses.text,
    ] {
        assert!(!text.contains(&id_no), "{text}");
    }
    let logs = captured_logs();
    assert!(
        logs.contains("licence verified"),
        "the capture sees the verification"
    );
    assert!(
        !logs.contains(&id_no),
        "a log line holds the full ID number"
    );
}

#[tokio::test]
async fn a_payload_is_refused_the_second_time_even_when_the_store_forgot_it() {
    let w = World::new().await;
    let (citizen, _, licence) = w.holder(310, "陈三").await;
    let payload = w.payload(&citizen, &licence).await;
    assert_eq!(w.verify(&payload).await.verdict, Verdict::Valid);

    // The store is flushed: the audit table's unique jti is the last word.
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(payload.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let jti = claims["jti"].as_str().unwrap();
    assert!(
        w.app
            .store
            .delete(&format!("licence-jti:{jti}"))
            .await
            .unwrap()
    );
    let again = w.verify(&payload).await;
    assert_eq!(again.verdict, Verdict::Invalid, "{again:?}");
    assert_eq!(again.reason, "ALREADY_SCANNED");
}

#[tokio::test]
async fn a_third_party_checks_signature_and_expiry_offline_with_the_jwks_only() {
    let w = World::new().await;
    let (citizen, _, licence) = w.holder(311, "褚四").await;
    let payload = w.payload(&citizen, &licence).await;

    let jwks = gateway::verify_qr::load_jwks(&w.app.url("/.well-known/jwks.json"))
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let ok = gateway::verify_qr::check(&payload, &jwks, now);
    assert!(ok.valid, "{}", ok.report);
    assert!(ok.report.contains(&licence), "{}", ok.report);
    assert!(ok.report.contains("褚*"), "{}", ok.report);

    let expired = gateway::verify_qr::check(&payload, &jwks, now + 61);
    assert!(!expired.valid);
    assert!(expired.report.contains("expired"), "{}", expired.report);
    let mut tampered = payload.clone();
    tampered.replace_range(tampered.len() - 3.., "AAA");
    assert!(!gateway::verify_qr::check(&tampered, &jwks, now).valid);

    // Offline it cannot know of a revocation: that is what the online check is for.
    w.province
        .set_licence_status(&licence, LicenceStatus::Revoked)
        .unwrap();
    assert!(gateway::verify_qr::check(&payload, &jwks, now).valid);
    assert_eq!(w.verify(&payload).await.reason, "LICENCE_REVOKED");
}

#[tokio::test]
async fn a_province_outage_is_a_503_and_the_scanned_payload_can_be_scanned_again() {
    use simulators::province::{Fault, Group};
    let w = World::new().await;
    let (citizen, id_no, licence) = w.holder(312, "卫五").await;
    w.province.fault(Group::Licences, Fault::Http5xx(3));
    let list = w.app.get("/api/v1/licences", Some(&citizen.token)).await;
    assert_eq!(list.status, StatusCode::SERVICE_UNAVAILABLE, "{list:?}");
    assert_eq!(list.error_code(), "UPSTREAM_UNAVAILABLE");
    w.province.clear_faults();

    let payload = w.payload(&citizen, &licence).await;
    w.province.fault(Group::Licences, Fault::Http5xx(3));
    let down = w.verify_at(&w.app, &w.verifier, &payload).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE, "{down:?}");
    w.province.clear_faults();
    assert_eq!(w.verify(&payload).await.verdict, Verdict::Valid);
    assert!(!captured_logs().contains(&id_no));
}

#[tokio::test]
async fn the_openapi_document_lists_the_licence_api() {
    let w = World::new().await;
    let doc = w.app.get("/openapi.json", None).await;
    for path in [
        "/api/v1/licences",
        "/api/v1/licences/{id}",
        "/api/v1/licences/{id}/reveal",
        "/api/v1/licences/{id}/presentations",
        "/api/v1/licences/{id}/uses",
        "/staff/v1/halls/{hallId}/licence-verifications",
        "/.well-known/jwks.json",
    ] {
        assert!(doc.body["paths"][path].is_object(), "{path} missing");
    }
}

#[tokio::test]
async fn the_audit_log_is_append_only_in_the_database() {
    // Audits the use ledger's append-only guarantee, which only the database can show.
    use sea_orm::ConnectionTrait as _;
    let w = World::new().await;
    let (citizen, _, licence) = w.holder(313, "蒋六").await;
    w.payload(&citizen, &licence).await;
    assert!(
        w.app
            .db
            .execute_unprepared("UPDATE licence_uses SET cause = 'x'")
            .await
            .is_err()
    );
    assert!(
        w.app
            .db
            .execute_unprepared("DELETE FROM licence_uses")
            .await
            .is_err()
    );
}
