//! The WeChat simulator, driven over HTTP with reqwest as the gateway's client would.

use std::time::{Duration, Instant};

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use simulators::wechat::{Endpoint, Fault, WechatSim, WechatSimConfig};

mod face;
mod subscribe;

/// A running simulator and a client that speaks to it.
struct Harness {
    sim: WechatSim,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        let sim = WechatSim::start(WechatSimConfig::default()).await.unwrap();
        Self {
            sim,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn login_with(&self, appid: &str, secret: &str, code: &str) -> Value {
        self.http
            .get(self.url("/sns/jscode2session"))
            .query(&[
                ("appid", appid),
                ("secret", secret),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn login(&self, code: &str) -> Value {
        self.login_with(self.sim.app_id(), self.sim.app_secret(), code)
            .await
    }

    async fn stable_token(&self, force_refresh: bool) -> Value {
        let body = json!({
            "grant_type": "client_credential",
            "appid": self.sim.app_id(),
            "secret": self.sim.app_secret(),
            "force_refresh": force_refresh,
        });
        let response = self
            .http
            .post(self.url("/cgi-bin/stable_token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    async fn classic_token(&self) -> Value {
        self.http
            .get(self.url("/cgi-bin/token"))
            .query(&[
                ("grant_type", "client_credential"),
                ("appid", self.sim.app_id()),
                ("secret", self.sim.app_secret()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn access_token(&self) -> String {
        token_of(&self.stable_token(false).await)
    }

    async fn phone_number(&self, access_token: &str, code: &str) -> Value {
        self.http
            .post(self.url("/wxa/business/getuserphonenumber"))
            .query(&[("access_token", access_token)])
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn hook(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }
}

fn errcode(body: &Value) -> i64 {
    body["errcode"].as_i64().unwrap_or(0)
}

fn token_of(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_login_code_gives_the_session_once_and_40163_after() {
    let h = Harness::start().await;
    let openid = h.sim.new_openid();
    let code = h.sim.mint_login_code(&openid);

    let first = h.login(&code).await;
    let again = h.login(&code).await;

    assert_eq!(errcode(&first), 0);
    assert_eq!(first["openid"], openid.as_str());
    assert_eq!(
        first["session_key"].as_str(),
        h.sim.session_key(&openid).as_deref()
    );
    assert!(first.get("unionid").is_none());
    assert_eq!(errcode(&again), 40163);
    assert!(again["errmsg"].as_str().unwrap().contains(", rid: "));
    assert_eq!(h.sim.stats().code2session_calls, 2);
}

#[tokio::test]
async fn each_login_issues_a_new_session_key_and_the_unionid_when_bound() {
    let h = Harness::start().await;
    let openid = h.sim.new_openid();
    let unionid = h.sim.bind_new_unionid(&openid);

    let first = h.login(&h.sim.mint_login_code(&openid)).await;
    let second = h.login(&h.sim.mint_login_code(&openid)).await;

    assert_ne!(first["session_key"], second["session_key"]);
    assert_eq!(
        second["session_key"].as_str(),
        h.sim.session_key(&openid).as_deref()
    );
    assert_eq!(second["unionid"], unionid.as_str());
}

#[tokio::test]
async fn jscode2session_answers_json_labelled_text_plain_as_wechat_does() {
    let h = Harness::start().await;
    let response = h
        .http
        .get(h.url("/sns/jscode2session"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let body: Value = response.json().await.unwrap();
    assert_eq!(errcode(&body), 41002);
}

#[tokio::test]
async fn codes_of_the_other_kind_are_40029() {
    let h = Harness::start().await;
    let phone_code = h.sim.mint_phone_code("13800138000");
    let login_code = h.sim.mint_login_code(&h.sim.new_openid());
    let token = h.access_token().await;

    assert_eq!(errcode(&h.login(&phone_code).await), 40029);
    assert_eq!(errcode(&h.phone_number(&token, &login_code).await), 40029);
}

#[tokio::test]
async fn codes_expire_after_five_minutes() {
    let h = Harness::start().await;
    let login_code = h.sim.mint_login_code(&h.sim.new_openid());
    let phone_code = h.sim.mint_phone_code("13800138000");

    h.sim.advance_clock(Duration::from_secs(5 * 60));
    let token = h.access_token().await;

    assert_eq!(errcode(&h.login(&login_code).await), 40029);
    assert_eq!(errcode(&h.phone_number(&token, &phone_code).await), 40029);
}

#[tokio::test]
async fn a_foreign_appid_a_wrong_secret_and_a_risky_user_are_refused() {
    let h = Harness::start().await;
    let openid = h.sim.new_openid();
    let code = h.sim.mint_login_code(&openid);
    h.sim.mark_risky(&openid);

    let foreign = h
        .login_with("wx1111111111111111", h.sim.app_secret(), &code)
        .await;
    let wrong_secret = h.login_with(h.sim.app_id(), "nope", &code).await;
    let risky = h.login(&code).await;

    assert_eq!(errcode(&foreign), 40013);
    assert_eq!(errcode(&wrong_secret), 40125);
    assert_eq!(errcode(&risky), 40226);
}

#[tokio::test]
async fn stable_token_returns_the_same_token_until_a_force_refresh() {
    let h = Harness::start().await;

    let first = h.stable_token(false).await;
    let second = h.stable_token(false).await;
    let forced = h.stable_token(true).await;
    let too_soon = h.stable_token(true).await;

    assert_eq!(errcode(&first), 0);
    assert_eq!(first["expires_in"], 7200);
    assert!(token_of(&first).len() > 100);
    assert_eq!(token_of(&first), token_of(&second));
    assert_ne!(token_of(&forced), token_of(&first));
    assert_eq!(errcode(&too_soon), 45011);
    let stats = h.sim.stats();
    assert_eq!(stats.tokens_minted, 2);
    assert_eq!(stats.force_refreshes, 1);
    assert_eq!(stats.stable_token_calls, 4);
}

#[tokio::test]
async fn stable_token_renews_in_the_last_five_minutes_with_an_overlap() {
    let h = Harness::start().await;
    let first = token_of(&h.stable_token(false).await);

    h.sim.advance_clock(Duration::from_secs(7200 - 299));
    let renewed = h.stable_token(false).await;
    let code = h.sim.mint_phone_code("13800138000");

    assert_ne!(token_of(&renewed), first);
    assert_eq!(renewed["expires_in"], 7200);
    assert_eq!(errcode(&h.phone_number(&first, &code).await), 0);
}

#[tokio::test]
async fn each_classic_token_call_mints_and_the_previous_token_works_for_five_minutes() {
    let h = Harness::start().await;
    let first = token_of(&h.classic_token().await);
    let second = token_of(&h.classic_token().await);
    assert_ne!(first, second);

    let code = h.sim.mint_phone_code("13800138000");
    assert_eq!(errcode(&h.phone_number(&first, &code).await), 0);

    h.sim.advance_clock(Duration::from_secs(5 * 60));
    let code = h.sim.mint_phone_code("13800138000");
    assert_eq!(errcode(&h.phone_number(&first, &code).await), 40001);
    assert_eq!(errcode(&h.phone_number(&second, &code).await), 0);
    assert_eq!(h.sim.stats().tokens_minted, 2);
}

#[tokio::test]
async fn revoked_tokens_are_40001_and_expired_ones_42001() {
    let h = Harness::start().await;
    let code = h.sim.mint_phone_code("13800138000");

    let revoked = h.access_token().await;
    h.sim.revoke_access_tokens();
    let after_revoke = h.phone_number(&revoked, &code).await;

    let fresh = h.access_token().await;
    h.sim.expire_access_tokens();
    let after_expiry = h.phone_number(&fresh, &code).await;
    let renewed = h.access_token().await;

    assert_eq!(errcode(&after_revoke), 40001);
    assert_ne!(fresh, revoked);
    assert_eq!(errcode(&after_expiry), 42001);
    assert_ne!(renewed, fresh);
    assert_eq!(errcode(&h.phone_number(&renewed, &code).await), 0);
    let stats = h.sim.stats();
    assert_eq!(stats.rejected_token_uses, 2);
    assert_eq!(stats.tokens_minted, 3);
}

#[tokio::test]
async fn a_missing_token_is_41001_and_one_in_the_body_47001() {
    let h = Harness::start().await;
    let url = h.url("/wxa/business/getuserphonenumber");

    let missing: Value = h
        .http
        .post(&url)
        .json(&json!({ "code": "x" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let in_body: Value = h
        .http
        .post(&url)
        .json(&json!({ "code": "x", "access_token": "y" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(errcode(&missing), 41001);
    assert_eq!(errcode(&in_body), 47001);
    assert_eq!(h.sim.stats().rejected_token_uses, 2);
}

#[tokio::test]
async fn the_phone_number_arrives_with_a_country_code_as_string_then_number() {
    let h = Harness::start().await;
    let token = h.access_token().await;

    let first = h
        .phone_number(&token, &h.sim.mint_phone_code("13800138000"))
        .await;
    let second = h
        .phone_number(&token, &h.sim.mint_phone_code("13900139000"))
        .await;

    assert_eq!(errcode(&first), 0);
    assert_eq!(first["errmsg"], "ok");
    let info = &first["phone_info"];
    assert_eq!(info["phoneNumber"], "13800138000");
    assert_eq!(info["purePhoneNumber"], "13800138000");
    assert_eq!(info["countryCode"], "86");
    assert_eq!(info["watermark"]["appid"], h.sim.app_id());
    assert!(info["watermark"]["timestamp"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(second["phone_info"]["phoneNumber"], "13900139000");
    assert_eq!(second["phone_info"]["countryCode"], 86);
    assert_eq!(h.sim.stats().phone_number_calls, 2);
}

#[tokio::test]
async fn a_phone_code_works_once() {
    let h = Harness::start().await;
    let token = h.access_token().await;
    let code = h.sim.mint_phone_code("13800138000");

    assert_eq!(errcode(&h.phone_number(&token, &code).await), 0);
    assert_eq!(errcode(&h.phone_number(&token, &code).await), 40163);
}

#[tokio::test]
async fn success_bodies_can_omit_errcode() {
    let h = Harness::start().await;
    h.sim.set_omit_errcode(true);

    let login = h.login(&h.sim.mint_login_code(&h.sim.new_openid())).await;
    let token = h.stable_token(false).await;
    let refused = h.login("unknown").await;

    assert!(login.get("errcode").is_none());
    assert!(login.get("errmsg").is_none());
    assert!(login["openid"].is_string());
    assert!(token.get("errcode").is_none());
    assert_eq!(errcode(&refused), 40029);
}

#[tokio::test]
async fn an_injected_busy_answers_once_then_the_call_succeeds() {
    let h = Harness::start().await;
    let code = h.sim.mint_login_code(&h.sim.new_openid());
    h.sim.inject(Endpoint::Code2Session, Fault::Busy, 1);

    let busy = h.login(&code).await;
    let retried = h.login(&code).await;

    assert_eq!(errcode(&busy), -1);
    assert!(
        busy["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("system error, rid: ")
    );
    assert_eq!(errcode(&retried), 0);
    assert_eq!(h.sim.stats().code2session_calls, 2);
}

#[tokio::test]
async fn faults_for_any_endpoint_hit_the_next_calls_whatever_they_are() {
    let h = Harness::start().await;
    h.sim.inject(Endpoint::Any, Fault::MinuteQuota, 2);

    let token = h.stable_token(false).await;
    let login = h.login("whatever").await;
    let then = h.stable_token(false).await;

    assert_eq!(errcode(&token), 45011);
    assert_eq!(errcode(&login), 45011);
    assert_eq!(errcode(&then), 0);
}

#[tokio::test]
async fn a_dropped_connection_fails_the_client_call() {
    let h = Harness::start().await;
    h.sim
        .inject(Endpoint::StableToken, Fault::DropConnection, 1);
    let body = json!({
        "grant_type": "client_credential",
        "appid": h.sim.app_id(),
        "secret": h.sim.app_secret(),
    });

    // actix never flushes the head, so today `send` itself fails (hyper's IncompleteMessage);
    // reading the body is included so the test does not depend on that detail.
    let outcome = async {
        h.http
            .post(h.url("/cgi-bin/stable_token"))
            .json(&body)
            .send()
            .await?
            .json::<Value>()
            .await
    }
    .await;

    assert!(
        outcome.is_err(),
        "expected a broken response, got {outcome:?}"
    );
    assert_eq!(errcode(&h.stable_token(false).await), 0);
}

#[tokio::test]
async fn an_injected_5xx_is_a_502_with_an_html_body() {
    let h = Harness::start().await;
    h.sim.inject(Endpoint::Token, Fault::Http5xx, 1);

    let response = h.http.get(h.url("/cgi-bin/token")).send().await.unwrap();

    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("502 Bad Gateway"));
}

#[tokio::test]
async fn latency_is_added_before_answering() {
    let h = Harness::start().await;
    h.sim
        .set_latency(Endpoint::StableToken, Duration::from_millis(200));

    let started = Instant::now();
    let token = h.stable_token(false).await;

    assert_eq!(errcode(&token), 0);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn the_legacy_encrypted_phone_decrypts_with_the_current_session_key() {
    let h = Harness::start().await;
    let openid = h.sim.new_openid();
    h.login(&h.sim.mint_login_code(&openid)).await;

    let (encrypted_data, iv) = h.sim.encrypted_phone(&openid, "13800138000").unwrap();

    let key = STANDARD
        .decode(h.sim.session_key(&openid).unwrap())
        .unwrap();
    let iv = STANDARD.decode(iv).unwrap();
    let mut buffer = STANDARD.decode(encrypted_data).unwrap();
    let plaintext = cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
        .unwrap()
        .decrypt_padded_mut::<Pkcs7>(&mut buffer)
        .unwrap();
    let payload: Value = serde_json::from_slice(plaintext).unwrap();
    assert_eq!(payload["phoneNumber"], "13800138000");
    assert_eq!(payload["purePhoneNumber"], "13800138000");
    assert_eq!(payload["countryCode"], "86");
    assert_eq!(payload["watermark"]["appid"], h.sim.app_id());
    assert!(h.sim.encrypted_phone(&h.sim.new_openid(), "1").is_err());
}

#[tokio::test]
async fn the_http_hooks_drive_the_simulator() {
    let h = Harness::start().await;

    let minted = h.hook("/__sim/login-code", json!({})).await;
    h.hook(
        "/__sim/faults",
        json!({ "endpoint": "code2session", "fault": "busy", "times": 1 }),
    )
    .await;
    let busy = h.login(minted["code"].as_str().unwrap()).await;
    let login = h.login(minted["code"].as_str().unwrap()).await;
    let phone_code = h
        .hook("/__sim/phone-code", json!({ "phone": "13800138000" }))
        .await;
    let encrypted = h
        .hook(
            "/__sim/encrypted-phone",
            json!({ "openid": minted["openid"], "phone": "13800138000" }),
        )
        .await;
    h.hook("/__sim/revoke-tokens", json!(null)).await;
    let stats: Value = h
        .http
        .get(h.url("/__sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = h
        .http
        .post(h.url("/__sim/faults"))
        .json(&json!({ "endpoint": "nowhere", "fault": "busy" }))
        .send()
        .await
        .unwrap();

    assert_eq!(minted["openid"].as_str().unwrap().len(), 28);
    assert_eq!(errcode(&busy), -1);
    assert_eq!(login["openid"], minted["openid"]);
    assert_eq!(phone_code["code"].as_str().unwrap().len(), 64);
    assert!(encrypted["encryptedData"].is_string() && encrypted["iv"].is_string());
    assert_eq!(stats["code2session_calls"], 2);
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn bad_input_gets_wechat_errors_not_a_crash() {
    let h = Harness::start().await;

    let not_json: Value = h
        .http
        .post(h.url("/cgi-bin/stable_token"))
        .body("{not json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let get_on_post: Value = h
        .http
        .get(h.url("/cgi-bin/stable_token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = h.access_token().await;
    let no_code: Value = h
        .http
        .post(h.url("/wxa/business/getuserphonenumber"))
        .query(&[("access_token", &token)])
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(errcode(&not_json), 47001);
    assert_eq!(errcode(&get_on_post), 43002);
    assert_eq!(errcode(&no_code), 41008);
}

#[tokio::test]
async fn stop_closes_the_listener() {
    let h = Harness::start().await;
    h.sim.stop().await;

    let outcome = h.http.get(h.url("/__sim/stats")).send().await;

    assert!(outcome.is_err());
}
