//! Subscribe messages (`POST /cgi-bin/message/subscribe/send`): consent, quota, the per-type
//! value rules and what the simulator keeps of accepted messages.

use std::time::Duration;

use serde_json::{Map, Value, json};
use simulators::wechat::{Endpoint, Fault};

use super::{Harness, errcode};

/// A template with one key of every type.
const EVERY_TYPE: &str = "tpl-every-type";
const EVERY_KEY: [&str; 12] = [
    "thing1",
    "number2",
    "letter3",
    "symbol4",
    "character_string5",
    "time6",
    "date7",
    "amount8",
    "phone_number9",
    "car_number10",
    "name11",
    "phrase12",
];

/// A typical case-progress notice: what the gateway sends.
const NOTICE: &str = "tpl-case-progress";
const NOTICE_KEYS: [&str; 3] = ["thing1", "time2", "character_string3"];

/// A valid value for each key of [`EVERY_TYPE`].
fn valid_value(key: &str) -> &'static str {
    match key.trim_end_matches(|c: char| c.is_ascii_digit()) {
        "thing" => "您的申请已受理",
        "number" => "3",
        "letter" => "ABC",
        "symbol" => "#",
        "character_string" => "BJ-2026-000123",
        "time" => "2026年11月24日 09:00",
        "date" => "2026-11-24",
        "amount" => "¥12.50",
        "phone_number" => "010-12345678",
        "car_number" => "京A12345",
        "name" => "张三",
        "phrase" => "已受理",
        other => panic!("no valid value for {other}"),
    }
}

fn data_of(entries: &[(&str, &str)]) -> Value {
    let data: Map<String, Value> = entries
        .iter()
        .map(|(key, value)| ((*key).to_owned(), json!({ "value": value })))
        .collect();
    Value::Object(data)
}

/// Every key of [`EVERY_TYPE`] with a valid value, except `key`, which gets `value`.
fn every_type_with(key: &str, value: &str) -> Value {
    let entries: Vec<(&str, &str)> = EVERY_KEY
        .iter()
        .map(|k| (*k, if *k == key { value } else { valid_value(k) }))
        .collect();
    data_of(&entries)
}

fn notice_data() -> Value {
    data_of(&[
        ("thing1", "您的申请已受理"),
        ("time2", "2026年11月24日 09:00~09:30"),
        ("character_string3", "BJ-2026-000123"),
    ])
}

fn errmsg(body: &Value) -> &str {
    body["errmsg"].as_str().unwrap_or_default()
}

/// A 47003 naming `argument` exactly, followed by the request id every WeChat errmsg carries.
fn assert_argument_invalid(body: &Value, argument: &str) {
    assert_eq!(errcode(body), 47003, "{body}");
    let expected = format!("argument invalid! {argument} invalid, rid: ");
    assert!(errmsg(body).starts_with(&expected), "{body}");
}

impl Harness {
    async fn send_raw(&self, access_token: &str, body: &Value) -> Value {
        self.http
            .post(self.url("/cgi-bin/message/subscribe/send"))
            .query(&[("access_token", access_token)])
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn send_message(
        &self,
        access_token: &str,
        touser: &str,
        template_id: &str,
        data: Value,
    ) -> Value {
        let body = json!({ "touser": touser, "template_id": template_id, "data": data });
        self.send_raw(access_token, &body).await
    }

    /// A user who has opened the app (so WeChat knows the openid).
    fn citizen(&self) -> String {
        let openid = self.sim.new_openid();
        self.sim.mint_login_code(&openid);
        openid
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn each_type_takes_values_within_its_limits_and_refuses_the_rest_by_name() {
    let h = Harness::start().await;
    h.sim.register_template(EVERY_TYPE, &EVERY_KEY, true);
    let openid = h.citizen();
    h.sim.grant_consent(&openid, EVERY_TYPE, 1);
    let token = h.access_token().await;
    let twenty_one = "一二三四五六七八九十一二三四五六七八九十一";

    let cases: &[(&str, &str, bool)] = &[
        ("thing1", "二十个汉字二十个汉字二十个汉字二十个汉字", true),
        ("thing1", "Your application is ok", false), // 22 characters
        ("thing1", twenty_one, false),
        ("thing1", "", false),
        ("number2", "-12.5", true),
        ("number2", "12345678901234567890123456789012", true),
        ("number2", "123456789012345678901234567890123", false),
        ("number2", "1.2.3", false),
        ("number2", "十二", false),
        ("letter3", "abcdefghijklmnopqrstuvwxyzABCDEF", true),
        ("letter3", "abcdefghijklmnopqrstuvwxyzABCDEFG", false),
        ("letter3", "abc1", false),
        ("symbol4", "#%&*!", true),
        ("symbol4", "#%&*!?", false),
        ("symbol4", "#a", false),
        ("character_string5", "ORD-2026/11#0001", true),
        (
            "character_string5",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
            false,
        ),
        ("character_string5", "编号123", false),
        ("time6", "09:00", true),
        ("time6", "09:00~09:30", true),
        ("time6", "2026年11月24日 09:00~09:30", true),
        ("time6", "2026-11-24 09:00:30", true),
        ("time6", "2026/11/24 18:00", true),
        ("time6", "25:00", false),
        ("time6", "2026-11-24", false),
        ("time6", "明天上午", false),
        ("date7", "2026年11月24日", true),
        ("date7", "2026/11/24 09:00", true),
        ("date7", "2026-11-24~2026-11-30", true),
        ("date7", "2026-02-30", false),
        ("date7", "2026-13-01", false),
        ("date7", "24/11/2026", false),
        ("amount8", "100", true),
        ("amount8", "￥1234567890.99元", true),
        ("amount8", "$0.5", true),
        ("amount8", "12345678901", false),
        ("amount8", "¥$1", false),
        ("amount8", "一百元", false),
        ("phone_number9", "+86 138-0013-8000", true),
        ("phone_number9", "(010) 1234-5678", true),
        ("phone_number9", "+86 138-0013-80001", false),
        ("phone_number9", "call 110", false),
        ("car_number10", "粤B12345D", true),
        ("car_number10", "粤B12345DE", false),
        ("name11", "欧阳娜娜", true),
        ("name11", "一二三四五六七八九十", true),
        ("name11", "一二三四五六七八九十一", false),
        ("name11", "Zhang San", true),
        ("name11", "Abcdefghij Klmnopqrst", false),
        ("name11", "张San", false),
        ("name11", "Zhang3", false),
        ("phrase12", "已通过", true),
        ("phrase12", "审核未通过了", false),
        ("phrase12", "OK", false),
    ];
    let mut refused = 0;
    for (key, value, ok) in cases {
        let answer = h
            .send_message(&token, &openid, EVERY_TYPE, every_type_with(key, value))
            .await;
        if *ok {
            assert_eq!(errcode(&answer), 0, "{key} = {value:?}: {answer}");
        } else {
            refused += 1;
            assert_argument_invalid(&answer, &format!("data.{key}.value"));
        }
    }

    let accepted = cases.len() - refused;
    assert_eq!(h.sim.sent_to(&openid).len(), accepted);
    let stats = h.sim.stats();
    assert_eq!(stats.subscribe_send_calls, cases.len() as u64);
    assert_eq!(stats.messages_sent, accepted as u64);
}

#[tokio::test]
async fn keys_the_template_lacks_or_leaves_out_are_refused_by_name() {
    let h = Harness::start().await;
    h.sim.register_template(NOTICE, &NOTICE_KEYS, false);
    let openid = h.citizen();
    h.sim.grant_consent(&openid, NOTICE, 5);
    let token = h.access_token().await;

    let mut extra = notice_data();
    extra["foo1"] = json!({ "value": "x" });
    let mut other_type = notice_data();
    other_type["thing9"] = json!({ "value": "x" });
    let mut missing = notice_data();
    missing.as_object_mut().unwrap().remove("time2");
    let mut not_text = notice_data();
    not_text["thing1"] = json!({ "value": 12 });
    let mut no_value = notice_data();
    no_value["thing1"] = json!("您的申请已受理");

    assert_argument_invalid(
        &h.send_message(&token, &openid, NOTICE, extra).await,
        "data.foo1",
    );
    assert_argument_invalid(
        &h.send_message(&token, &openid, NOTICE, other_type).await,
        "data.thing9",
    );
    assert_argument_invalid(
        &h.send_message(&token, &openid, NOTICE, missing).await,
        "data.time2.value",
    );
    assert_argument_invalid(
        &h.send_message(&token, &openid, NOTICE, not_text).await,
        "data.thing1.value",
    );
    assert_argument_invalid(
        &h.send_message(&token, &openid, NOTICE, no_value).await,
        "data.thing1.value",
    );
    assert_eq!(h.sim.quota(&openid, NOTICE), 5, "refusals use no consent");
    assert!(h.sim.sent_messages().is_empty());
}

#[tokio::test]
async fn each_consent_allows_one_message_then_43101() {
    let h = Harness::start().await;
    h.sim.register_template(NOTICE, &NOTICE_KEYS, false);
    let openid = h.citizen();
    let token = h.access_token().await;

    let before_consent = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    h.sim.grant_consent(&openid, NOTICE, 1);
    h.sim.grant_consent(&openid, NOTICE, 1);
    assert_eq!(h.sim.quota(&openid, NOTICE), 2);
    let first = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    assert_eq!(h.sim.quota(&openid, NOTICE), 1);
    let second = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    assert_eq!(h.sim.quota(&openid, NOTICE), 0);
    let third = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    h.sim.grant_consent(&openid, NOTICE, 1);
    let after_new_consent = h.send_message(&token, &openid, NOTICE, notice_data()).await;

    assert_eq!(errcode(&before_consent), 43101);
    assert!(errmsg(&before_consent).starts_with("user refuse to accept the msg, rid: "));
    assert_eq!(errcode(&first), 0);
    assert_eq!(errcode(&second), 0);
    assert_eq!(errcode(&third), 43101);
    assert_eq!(errcode(&after_new_consent), 0);
    assert_eq!(h.sim.quota(&openid, NOTICE), 0);
    assert_eq!(h.sim.sent_to(&openid).len(), 3);
    // Consent is per user and per template.
    let other = h.citizen();
    h.sim.grant_consent(&other, "tpl-other", 3);
    assert_eq!(h.sim.quota(&other, NOTICE), 0);
    assert_eq!(
        errcode(&h.send_message(&token, &other, NOTICE, notice_data()).await),
        43101
    );
}

#[tokio::test]
async fn a_long_term_template_needs_one_consent_and_never_uses_it_up() {
    let h = Harness::start().await;
    h.sim.register_template(NOTICE, &NOTICE_KEYS, true);
    let openid = h.citizen();
    let token = h.access_token().await;

    let without_consent = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    h.sim.grant_consent(&openid, NOTICE, 1);
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(h.send_message(&token, &openid, NOTICE, notice_data()).await);
    }

    assert_eq!(errcode(&without_consent), 43101);
    assert!(answers.iter().all(|a| errcode(a) == 0), "{answers:?}");
    assert_eq!(h.sim.quota(&openid, NOTICE), 1);
    assert_eq!(h.sim.sent_to(&openid).len(), 4);
}

#[tokio::test]
async fn unknown_templates_users_pages_and_states_are_refused() {
    let h = Harness::start().await;
    h.sim.register_template(NOTICE, &NOTICE_KEYS, false);
    let openid = h.citizen();
    h.sim.grant_consent(&openid, NOTICE, 10);
    let token = h.access_token().await;
    let with = |extra: Value| {
        let mut body = json!({ "touser": openid, "template_id": NOTICE, "data": notice_data() });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };

    let unknown_template = h
        .send_message(&token, &openid, "tpl-nobody-registered", notice_data())
        .await;
    let unknown_user = h
        .send_message(&token, &h.sim.new_openid(), NOTICE, notice_data())
        .await;
    let no_user = h.send_raw(&token, &with(json!({ "touser": null }))).await;
    let bad_pages = [
        "pages/index.html",
        "/pages/页面",
        "?id=1",
        "",
        &format!("pages/{}", "a".repeat(1019)),
    ];
    let mut page_answers = Vec::new();
    for page in bad_pages {
        page_answers.push(h.send_raw(&token, &with(json!({ "page": page }))).await);
    }
    let longest_page = format!("pages/{}", "a".repeat(1018));
    let good_page = h
        .send_raw(
            &token,
            &with(json!({ "page": "pages/case/detail?id=1&from=msg" })),
        )
        .await;
    let long_page = h
        .send_raw(&token, &with(json!({ "page": longest_page })))
        .await;
    let bad_state = h
        .send_raw(&token, &with(json!({ "miniprogram_state": "production" })))
        .await;
    let bad_lang = h.send_raw(&token, &with(json!({ "lang": "fr_FR" }))).await;
    let good_options = h
        .send_raw(
            &token,
            &with(json!({ "miniprogram_state": "trial", "lang": "zh_TW" })),
        )
        .await;
    let not_an_object = h.send_raw(&token, &with(json!({ "data": "x" }))).await;

    assert_eq!(errcode(&unknown_template), 40037);
    assert!(errmsg(&unknown_template).starts_with("invalid template_id, rid: "));
    assert_eq!(errcode(&unknown_user), 40003);
    assert!(errmsg(&unknown_user).starts_with("invalid openid, rid: "));
    assert_eq!(errcode(&no_user), 40003);
    for (page, answer) in bad_pages.iter().zip(&page_answers) {
        assert_eq!(errcode(answer), 41030, "page {page:?}: {answer}");
    }
    assert_eq!(errcode(&good_page), 0, "{good_page}");
    assert_eq!(errcode(&long_page), 0, "{long_page}");
    assert_argument_invalid(&bad_state, "miniprogram_state");
    assert_argument_invalid(&bad_lang, "lang");
    assert_eq!(errcode(&good_options), 0, "{good_options}");
    assert_eq!(errcode(&not_an_object), 47001);
    assert_eq!(h.sim.quota(&openid, NOTICE), 7);
}

#[tokio::test]
async fn an_accepted_message_is_kept_as_sent() {
    let h = Harness::start().await;
    h.sim.register_template(NOTICE, &NOTICE_KEYS, false);
    let alice = h.citizen();
    let bob = h.citizen();
    h.sim.grant_consent(&alice, NOTICE, 2);
    h.sim.grant_consent(&bob, NOTICE, 1);
    h.sim.advance_clock(Duration::from_secs(86_400));
    let token = h.access_token().await;

    let body = json!({
        "touser": alice,
        "template_id": NOTICE,
        "page": "pages/case/detail?id=1",
        "miniprogram_state": "formal",
        "lang": "zh_CN",
        "data": notice_data(),
    });
    let first = h.send_raw(&token, &body).await;
    let to_bob = h.send_message(&token, &bob, NOTICE, notice_data()).await;
    h.sim.set_omit_errcode(true);
    let bare = h.send_message(&token, &alice, NOTICE, notice_data()).await;

    assert_eq!(errcode(&first), 0);
    assert_eq!(first["errmsg"], "ok");
    let msgid = first["msgid"].as_u64().unwrap();
    assert!(bare.get("errcode").is_none() && bare.get("errmsg").is_none());
    assert!(bare["msgid"].is_u64());
    let all = h.sim.sent_messages();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].msgid, to_bob["msgid"].as_u64().unwrap());
    let mut msgids: Vec<u64> = all.iter().map(|m| m.msgid).collect();
    msgids.sort_unstable();
    msgids.dedup();
    assert_eq!(msgids.len(), 3, "msgids are unique");

    let kept = &h.sim.sent_to(&alice)[0];
    assert_eq!(kept.msgid, msgid);
    assert_eq!(kept.touser, alice);
    assert_eq!(kept.template_id, NOTICE);
    assert_eq!(kept.page.as_deref(), Some("pages/case/detail?id=1"));
    assert_eq!(kept.miniprogram_state.as_deref(), Some("formal"));
    assert_eq!(kept.lang.as_deref(), Some("zh_CN"));
    assert_eq!(kept.data["thing1"], "您的申请已受理");
    assert_eq!(kept.data["time2"], "2026年11月24日 09:00~09:30");
    assert_eq!(kept.data.len(), 3);
    let lag = kept.at - chrono::Utc::now();
    assert!(
        lag > chrono::TimeDelta::hours(23),
        "stamped on the simulator's clock"
    );
    let to_bob = h.sim.sent_to(&bob);
    assert_eq!(to_bob.len(), 1);
    assert_eq!(to_bob[0].page, None);
    assert_eq!(to_bob[0].lang, None);
    assert_eq!(h.sim.stats().messages_sent, 3);
}

#[tokio::test]
async fn the_token_is_checked_first_as_for_every_api() {
    let h = Harness::start().await;
    h.sim.register_template(NOTICE, &NOTICE_KEYS, false);
    let openid = h.citizen();
    h.sim.grant_consent(&openid, NOTICE, 5);
    let url = h.url("/cgi-bin/message/subscribe/send");
    let body = json!({ "touser": openid, "template_id": NOTICE, "data": notice_data() });
    let mut in_body = body.clone();
    in_body["access_token"] = json!("x");

    let missing: Value = h
        .http
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_in_body: Value = h
        .http
        .post(&url)
        .json(&in_body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bogus = h.send_raw("86_not-a-token", &body).await;
    let token = h.access_token().await;
    h.sim.expire_access_tokens();
    let expired = h.send_raw(&token, &body).await;
    let fresh = h.access_token().await;
    h.sim.revoke_access_tokens();
    let revoked = h.send_raw(&fresh, &body).await;
    let get = h.get("/cgi-bin/message/subscribe/send").await;

    assert_eq!(errcode(&missing), 41001);
    assert_eq!(errcode(&token_in_body), 47001);
    assert_eq!(errcode(&bogus), 40001);
    assert_eq!(errcode(&expired), 42001);
    assert_eq!(errcode(&revoked), 40001);
    assert_eq!(errcode(&get), 43002);
    let stats = h.sim.stats();
    assert_eq!(stats.rejected_token_uses, 5);
    assert_eq!(stats.subscribe_send_calls, 5);
    assert_eq!(stats.messages_sent, 0);
    assert_eq!(h.sim.quota(&openid, NOTICE), 5);
}

#[tokio::test]
async fn faults_and_latency_apply_to_subscribe_send() {
    let h = Harness::start().await;
    h.sim.register_template(NOTICE, &NOTICE_KEYS, false);
    let openid = h.citizen();
    h.sim.grant_consent(&openid, NOTICE, 2);
    let token = h.access_token().await;
    h.sim.inject(Endpoint::SubscribeSend, Fault::Busy, 1);
    h.sim.inject(Endpoint::Any, Fault::MinuteQuota, 1);

    let busy = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    let quota = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    let retried = h.send_message(&token, &openid, NOTICE, notice_data()).await;

    assert_eq!(errcode(&busy), -1);
    assert_eq!(errcode(&quota), 45011);
    assert_eq!(errcode(&retried), 0);
    assert_eq!(
        h.sim.quota(&openid, NOTICE),
        1,
        "a faulted call uses no consent"
    );
    assert_eq!(h.sim.sent_to(&openid).len(), 1);

    h.sim.inject(Endpoint::SubscribeSend, Fault::Http5xx, 1);
    let response = h
        .http
        .post(h.url("/cgi-bin/message/subscribe/send"))
        .query(&[("access_token", &token)])
        .json(&json!({ "touser": openid, "template_id": NOTICE, "data": notice_data() }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);

    h.sim
        .set_latency(Endpoint::SubscribeSend, Duration::from_millis(150));
    let started = std::time::Instant::now();
    let slow = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    assert_eq!(errcode(&slow), 0);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(h.sim.stats().subscribe_send_calls, 5);
}

#[tokio::test]
async fn the_http_hooks_register_templates_grant_consent_and_list_messages() {
    let h = Harness::start().await;
    let openid = h.citizen();

    h.hook(
        "/__sim/templates",
        json!({ "templateId": NOTICE, "keys": NOTICE_KEYS, "longTerm": false }),
    )
    .await;
    let consent = h
        .hook(
            "/__sim/consent",
            json!({ "openid": openid, "templateId": NOTICE, "times": 2 }),
        )
        .await;
    let once_more = h
        .hook(
            "/__sim/consent",
            json!({ "openid": openid, "templateId": NOTICE }),
        )
        .await;
    h.hook(
        "/__sim/faults",
        json!({ "endpoint": "subscribe_send", "fault": "busy" }),
    )
    .await;
    let token = h.access_token().await;
    let busy = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    let sent = h.send_message(&token, &openid, NOTICE, notice_data()).await;
    let bad_template = h
        .http
        .post(h.url("/__sim/templates"))
        .json(&json!({ "templateId": "t", "keys": ["thing1", "foo2"] }))
        .send()
        .await
        .unwrap();
    let mine = h.get(&format!("/__sim/messages?openid={openid}")).await;
    let nobody = h
        .get(&format!("/__sim/messages?openid={}", h.sim.new_openid()))
        .await;
    let all = h.get("/__sim/messages").await;
    let stats = h.get("/__sim/stats").await;

    assert_eq!(consent["quota"], 2);
    assert_eq!(once_more["quota"], 3);
    assert_eq!(errcode(&busy), -1);
    assert_eq!(errcode(&sent), 0);
    assert_eq!(bad_template.status(), 400);
    let messages = mine["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["msgid"], sent["msgid"]);
    assert_eq!(messages[0]["touser"], openid.as_str());
    assert_eq!(messages[0]["template_id"], NOTICE);
    assert_eq!(messages[0]["data"]["character_string3"], "BJ-2026-000123");
    assert!(messages[0]["at"].is_string());
    assert_eq!(nobody["messages"], json!([]));
    assert_eq!(all["messages"].as_array().unwrap().len(), 1);
    assert_eq!(stats["subscribe_send_calls"], 2);
    assert_eq!(stats["messages_sent"], 1);
}
