//! Face verification (人脸核身 2.0, reference §8), driven by the gateway's own WeChat client: the
//! client that runs in production is the code under test, the simulator the other side.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use services::store::MemoryStore;
use services::wechat::face::{CertInfo, IDENTITY_CARD, cert_hash};
use services::wechat::{WechatClient, WechatConfig, WechatError};
use simulators::wechat::{Endpoint, Fault, WechatSim, WechatSimConfig};

use super::{Harness, errcode};

fn client(sim: &WechatSim) -> WechatClient {
    WechatClient::new(
        WechatConfig {
            base_url: sim.base_url(),
            app_id: sim.app_id().to_owned(),
            app_secret: SecretString::from(sim.app_secret().to_owned()),
            timeout: Duration::from_secs(5),
            max_attempts: 3,
        },
        Arc::new(MemoryStore::new("face-test:")),
        services::time::Clock::system(),
    )
    .unwrap()
}

const NAME: &str = "张三";
const NUMBER: &str = "310101199801011234";

fn zhang_san() -> CertInfo<'static> {
    CertInfo {
        cert_name: NAME,
        cert_no: NUMBER,
    }
}

#[tokio::test]
async fn a_verification_answers_the_outcome_the_test_set_for_its_verify_id() {
    let sim = WechatSim::start(WechatSimConfig::default()).await.unwrap();
    let wx = client(&sim);
    let openid = sim.new_openid();
    sim.mint_login_code(&openid);
    let hash = cert_hash(IDENTITY_CARD, NAME, NUMBER);
    for (seq, verify_ret) in [
        ("seq-pass-1", 10000),
        ("seq-cancel", 90004),
        ("seq-timeout", 90017),
        ("seq-face-2", 10004),
    ] {
        let started = wx.get_verify_id(seq, &zhang_san(), &openid).await.unwrap();
        assert_eq!(started.expires_in, 3600);
        assert!(started.verify_id.len() <= 256);
        assert!(sim.set_face_result(&started.verify_id, verify_ret));
        let got = wx
            .query_verify_info(&started.verify_id, seq, &hash, &openid)
            .await
            .unwrap();
        assert_eq!(got, verify_ret, "{seq}");
    }
    let stats = sim.stats();
    assert_eq!(stats.getverifyid_calls, 4);
    assert_eq!(stats.queryverifyinfo_calls, 4);
}

#[tokio::test]
async fn another_cert_hash_or_openid_than_step_ones_is_a_non_zero_errcode() {
    let sim = WechatSim::start(WechatSimConfig::default()).await.unwrap();
    let wx = client(&sim);
    let openid = sim.new_openid();
    let stranger = sim.new_openid();
    sim.mint_login_code(&openid);
    sim.mint_login_code(&stranger);
    let started = wx
        .get_verify_id("seq-mismatch", &zhang_san(), &openid)
        .await
        .unwrap();
    sim.set_face_result(&started.verify_id, 10000);
    let other_person = cert_hash(IDENTITY_CARD, "李四", NUMBER);
    let refused = wx
        .query_verify_info(&started.verify_id, "seq-mismatch", &other_person, &openid)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WechatError::Api { code, .. } if code != 0),
        "{refused:?}"
    );
    let hash = cert_hash(IDENTITY_CARD, NAME, NUMBER);
    let refused = wx
        .query_verify_info(&started.verify_id, "seq-mismatch", &hash, &stranger)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WechatError::Api { code, .. } if code != 0),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_verify_id_dies_after_an_hour() {
    let sim = WechatSim::start(WechatSimConfig::default()).await.unwrap();
    let wx = client(&sim);
    let openid = sim.new_openid();
    sim.mint_login_code(&openid);
    let started = wx
        .get_verify_id("seq-expiry", &zhang_san(), &openid)
        .await
        .unwrap();
    sim.set_face_result(&started.verify_id, 10000);
    sim.advance_clock(Duration::from_secs(3600));
    let hash = cert_hash(IDENTITY_CARD, NAME, NUMBER);
    let expired = wx
        .query_verify_info(&started.verify_id, "seq-expiry", &hash, &openid)
        .await
        .unwrap_err();
    assert!(matches!(expired, WechatError::Api { .. }), "{expired:?}");
}

#[tokio::test]
async fn the_client_retries_busy_and_refreshes_a_rejected_token() {
    let sim = WechatSim::start(WechatSimConfig::default()).await.unwrap();
    let wx = client(&sim);
    let openid = sim.new_openid();
    sim.mint_login_code(&openid);
    wx.access_token().await.unwrap();
    sim.revoke_access_tokens();
    sim.inject(Endpoint::GetVerifyId, Fault::Busy, 1);
    let started = wx
        .get_verify_id("seq-retry", &zhang_san(), &openid)
        .await
        .unwrap();
    sim.inject(Endpoint::QueryVerifyInfo, Fault::DropConnection, 1);
    sim.set_face_result(&started.verify_id, 10000);
    let hash = cert_hash(IDENTITY_CARD, NAME, NUMBER);
    let got = wx
        .query_verify_info(&started.verify_id, "seq-retry", &hash, &openid)
        .await
        .unwrap();
    assert_eq!(got, 10000);
}

#[tokio::test]
async fn the_http_hooks_set_an_outcome_by_openid_and_the_api_checks_its_arguments() {
    let h = Harness::start().await;
    let openid = h.sim.new_openid();
    h.sim.mint_login_code(&openid);
    let token = client(&h.sim).access_token().await.unwrap();
    let body = |seq: &str, cert_type: &str| {
        json!({
            "out_seq_no": seq,
            "cert_info": { "cert_type": cert_type, "cert_name": NAME, "cert_no": NUMBER },
            "openid": openid,
        })
    };
    let post = |path: &'static str, body: serde_json::Value| {
        let request = h
            .http
            .post(h.url(path))
            .query(&[("access_token", token.as_str())])
            .json(&body);
        async move {
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let wrong_type = post(
        "/cityservice/face/identify/getverifyid",
        body("seq-hook-1", "PASSPORT"),
    )
    .await;
    assert_eq!(errcode(&wrong_type), 47003, "{wrong_type}");
    let started = post(
        "/cityservice/face/identify/getverifyid",
        body("seq-hook-1", "IDENTITY_CARD"),
    )
    .await;
    assert_eq!(errcode(&started), 0, "{started}");
    let hook: serde_json::Value = h
        .http
        .post(h.url("/__sim/face-result"))
        .json(&json!({ "openid": openid, "verifyRet": 10000 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hook["verifyId"], started["verify_id"]);
    let answer = post(
        "/cityservice/face/identify/queryverifyinfo",
        json!({
            "verify_id": started["verify_id"],
            "out_seq_no": "seq-hook-1",
            "cert_hash": cert_hash(IDENTITY_CARD, NAME, NUMBER),
            "openid": openid,
        }),
    )
    .await;
    assert_eq!(answer["errcode"], 0);
    assert_eq!(answer["verify_ret"], 10000);
}
