//! A WeChat server simulator: a real HTTP server that answers the paths, fields, error codes and
//! limits of `api.weixin.qq.com` that the gateway uses (login, access tokens, phone numbers,
//! subscribe messages), so that the gateway's production HTTP client is the code under test.
//!
//! The one decision to know: everything WeChat would decide (who a code belongs to, which token
//! is current, when things expire) lives in one `World` (`wechat/world.rs`) behind one lock, on a
//! clock that tests move with [`WechatSim::advance_clock`]. Tests drive it through the hooks on
//! [`WechatSim`]; a curl user or a separate benchmark process drives it through the same hooks
//! over HTTP (`wechat/routes/hooks.rs`):
//!
//! | hook | body | answer |
//! | --- | --- | --- |
//! | `POST /__sim/login-code` | `{"openid"?}` (a new user when omitted) | `{"code","openid"}` |
//! | `POST /__sim/phone-code` | `{"phone"}` | `{"code"}` |
//! | `POST /__sim/encrypted-phone` | `{"openid","phone"}` | `{"encryptedData","iv"}` |
//! | `POST /__sim/faults` | `{"endpoint","fault","times"?}` (`times` defaults to 1) | `{"ok":true}` |
//! | `POST /__sim/latency` | `{"endpoint","millis"}` | `{"ok":true}` |
//! | `POST /__sim/omit-errcode` | `{"on"}` | `{"ok":true}` |
//! | `POST /__sim/risky` | `{"openid"}` | `{"ok":true}` |
//! | `POST /__sim/unionid` | `{"openid","unionid"?}` | `{"ok":true}` |
//! | `POST /__sim/revoke-tokens` | — | `{"ok":true}` |
//! | `POST /__sim/expire-tokens` | — | `{"ok":true}` |
//! | `POST /__sim/advance-clock` | `{"seconds"}` | `{"ok":true}` |
//! | `POST /__sim/templates` | `{"templateId","keys":["thing1",…],"longTerm"?}` | `{"ok":true}` |
//! | `POST /__sim/consent` | `{"openid","templateId","times"?}` (`times` defaults to 1) | `{"ok":true,"quota"}` |
//! | `GET /__sim/messages?openid=` | — (every user's when `openid` is omitted) | `{"messages":[`[`SentMessage`]`…]}` |
//! | `POST /__sim/face-result` | `{"verifyId"?,"openid"?,"verifyRet"}` (the openid's latest verify_id when `verifyId` is omitted) | `{"ok":true,"verifyId"}` |
//! | `POST /__sim/sec-check` | `{"suggest":"pass"\|"review"\|"risky","label"?}` (every later `msg_sec_check`'s verdict) | `{"ok":true}` |
//! | `GET /__sim/stats` | — | [`WechatSimStats`] |
//!
//! `endpoint` is one of `code2session`, `token`, `stable_token`, `phone_number`,
//! `subscribe_send`, `getverifyid`, `queryverifyinfo`, `msg_sec_check`, `any`; `fault` one of `busy`,
//! `minute_quota`, `drop_connection`, `http_5xx`, `user_refused`.
//! A body a hook cannot read, or a template key of no known type, gets 400 `{"error"}`;
//! `encrypted-phone` for an unknown user gets 404.
//!
//! Face verification (人脸核身 2.0, reference §8): `getverifyid` hands out a verify_id for one
//! person and user; [`WechatSim::set_face_result`] is what that user's `wx.requestFacialVerify`
//! came to (10000, a cancel, a timeout, another face …), which `queryverifyinfo` then answers —
//! or errcode 47003 naming the argument when the `cert_hash`, `openid` or `out_seq_no` is not
//! step 1's, or the verify_id is unknown or older than an hour.
//!
//! Subscribe messages follow a consent model: [`WechatSim::register_template`] declares a template
//! and its keys, [`WechatSim::grant_consent`] is the user accepting it in
//! `wx.requestSubscribeMessage`, and each send uses one consent (43101 at none left) unless the
//! template is long-term. Every accepted message is kept for [`WechatSim::sent_messages`].
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use simulators::wechat::{WechatSim, WechatSimConfig};
//! let sim = WechatSim::start(WechatSimConfig::default()).await?;
//! let openid = sim.new_openid();
//! let code = sim.mint_login_code(&openid); // what wx.login would give the mini-program
//! // … point the gateway at sim.base_url() and log in with `code` …
//! sim.stop().await;
//! # Ok(()) }
//! ```

mod crypto;
mod ids;
mod routes;
mod template;
mod wire;
mod world;

use std::{
    collections::BTreeMap,
    net::TcpListener,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use actix_web::{App, HttpServer, dev::ServerHandle, web};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use self::{wire::WxError, world::World};

/// How to start a [`WechatSim`].
#[derive(Clone, Debug)]
pub struct WechatSimConfig {
    /// The mini-program's appid; any other appid is answered with 40013.
    pub app_id: String,
    /// The app secret; any other secret is answered with 40125.
    pub app_secret: String,
    /// The port to listen on; 0 picks a free one.
    pub port: u16,
    /// The address to listen on.
    pub host: String,
}

impl Default for WechatSimConfig {
    fn default() -> Self {
        Self {
            app_id: "wx0000000000demo1".into(),
            app_secret: "demo-secret-0123456789abcdef".into(),
            port: 0,
            host: "127.0.0.1".into(),
        }
    }
}

/// The WeChat APIs a fault or a latency can be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    /// `GET /sns/jscode2session`
    #[serde(rename = "code2session")]
    Code2Session,
    /// `GET /cgi-bin/token`
    #[serde(rename = "token")]
    Token,
    /// `POST /cgi-bin/stable_token`
    #[serde(rename = "stable_token")]
    StableToken,
    /// `POST /wxa/business/getuserphonenumber`
    #[serde(rename = "phone_number")]
    PhoneNumber,
    /// `POST /cgi-bin/message/subscribe/send`
    #[serde(rename = "subscribe_send")]
    SubscribeSend,
    /// `POST /cityservice/face/identify/getverifyid`
    #[serde(rename = "getverifyid")]
    GetVerifyId,
    /// `POST /cityservice/face/identify/queryverifyinfo`
    #[serde(rename = "queryverifyinfo")]
    QueryVerifyInfo,
    /// `POST /wxa/msg_sec_check`
    #[serde(rename = "msg_sec_check")]
    MsgSecCheck,
    /// Every endpoint above.
    #[serde(rename = "any")]
    Any,
}

/// A way for a call to fail on demand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// `{"errcode":-1,"errmsg":"system error, rid: …"}`
    Busy,
    /// `{"errcode":45011,…}`: the minute quota is spent.
    MinuteQuota,
    /// The connection is closed with no complete response.
    DropConnection,
    /// A 502 with an HTML body, as a proxy in front of WeChat answers.
    #[serde(rename = "http_5xx", alias = "http5xx")]
    Http5xx,
    /// `{"errcode":43101,…}` whatever the endpoint: for checking that a client reads a consent
    /// refusal only where WeChat means one (`subscribe/send`), not from the token endpoint.
    UserRefused,
}

/// What the simulator has seen. Each `*_calls` counts every request to that endpoint, faulted
/// ones included.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WechatSimStats {
    pub code2session_calls: u64,
    pub token_calls: u64,
    pub stable_token_calls: u64,
    /// New access tokens created by either token endpoint.
    pub tokens_minted: u64,
    /// Successful `stable_token` calls with `force_refresh: true`.
    pub force_refreshes: u64,
    pub phone_number_calls: u64,
    /// API calls refused for their access token (41001, 47001, 40001, 42001).
    pub rejected_token_uses: u64,
    pub subscribe_send_calls: u64,
    /// Subscribe messages accepted (answered with a `msgid`).
    pub messages_sent: u64,
    pub getverifyid_calls: u64,
    pub queryverifyinfo_calls: u64,
    pub msg_sec_check_calls: u64,
}

/// A subscribe message WeChat accepted, as the citizen would read it.
#[derive(Clone, Debug, Serialize)]
pub struct SentMessage {
    pub msgid: u64,
    /// The recipient's openid.
    pub touser: String,
    pub template_id: String,
    /// The page the message opens, e.g. `pages/case/detail?id=1`.
    pub page: Option<String>,
    /// `developer`, `trial` or `formal`, as sent (WeChat's default is `formal`).
    pub miniprogram_state: Option<String>,
    /// `zh_CN`, `en_US`, `zh_HK` or `zh_TW`, as sent (WeChat's default is `zh_CN`).
    pub lang: Option<String>,
    /// Each field's key (`thing1`) and value.
    pub data: BTreeMap<String, String>,
    /// When it was accepted, on the simulator's clock.
    pub at: DateTime<Utc>,
}

/// A running simulator. Cheap to clone; every clone drives the same server.
#[derive(Clone)]
pub struct WechatSim {
    shared: web::Data<Shared>,
    base_url: String,
    handle: ServerHandle,
}

impl WechatSim {
    /// Binds the listener, spawns the server on the current tokio runtime and returns once it
    /// accepts connections.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start(config: WechatSimConfig) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind((config.host.as_str(), config.port)).with_context(|| {
                format!(
                    "bind the WeChat simulator to {}:{}",
                    config.host, config.port
                )
            })?;
        let address = listener
            .local_addr()
            .context("read the simulator's address")?;
        let shared = web::Data::new(Shared {
            config,
            world: Mutex::new(World::default()),
        });
        let app_state = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .configure(routes::configure)
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)
        .context("listen for the WeChat simulator")?
        .run();
        let handle = server.handle();
        tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "the WeChat simulator stopped with an error");
            }
        });
        tracing::info!(%address, "WeChat simulator listening");
        Ok(Self {
            shared,
            base_url: format!("http://{address}"),
            handle,
        })
    }

    /// Where to point a WeChat client, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn app_id(&self) -> &str {
        &self.shared.config.app_id
    }

    pub fn app_secret(&self) -> &str {
        &self.shared.config.app_secret
    }

    /// Stops the server, letting requests in flight finish (for at most 5 seconds).
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// A `wx.login` code for `openid` (the user is created if unknown): 5-minute life, single use.
    pub fn mint_login_code(&self, openid: &str) -> String {
        self.shared.world().mint_login_code(openid)
    }

    /// A fresh openid of the real shape (28 characters starting with `o`). The user exists once a
    /// code is minted for it.
    pub fn new_openid(&self) -> String {
        self.shared.world().new_openid()
    }

    /// Binds the user to an Open Platform unionid (or unbinds with `None`).
    pub fn set_unionid(&self, openid: &str, unionid: Option<String>) {
        self.shared.world().set_unionid(openid, unionid);
    }

    /// Binds the user to a fresh, realistic unionid and returns it.
    pub fn bind_new_unionid(&self, openid: &str) -> String {
        let unionid = ids::unionid();
        self.set_unionid(openid, Some(unionid.clone()));
        unionid
    }

    /// From now on `jscode2session` answers 40226 for this user.
    pub fn mark_risky(&self, openid: &str) {
        self.shared.world().mark_risky(openid);
    }

    /// A getPhoneNumber code for `phone`: 5-minute life, single use, useless at `jscode2session`.
    pub fn mint_phone_code(&self, phone: &str) -> String {
        self.shared.world().mint_phone_code(phone)
    }

    /// The legacy `(encryptedData, iv)` pair carrying `phone`, encrypted under the user's current
    /// `session_key`.
    ///
    /// # Errors
    /// When the user is unknown (no code was ever minted for it).
    pub fn encrypted_phone(&self, openid: &str, phone: &str) -> anyhow::Result<(String, String)> {
        self.shared.encrypted_phone(openid, phone)
    }

    /// The user's current `session_key` (base64), so tests can check it never leaks.
    pub fn session_key(&self, openid: &str) -> Option<String> {
        self.shared.world().session_key(openid)
    }

    /// The next `times` calls to `endpoint` answer with `fault`. Faults are consumed in the order
    /// injected; [`Endpoint::Any`] matches every endpoint.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        self.shared.world().inject(endpoint, fault, times);
    }

    /// The next `times` calls to `subscribe/send` do their work (a message is delivered, a
    /// consent used) and then wait `stall` before answering: a client whose timeout is shorter
    /// sees a timeout after WeChat took the message.
    pub fn stall_after_send(&self, times: u32, stall: Duration) {
        self.shared.world().stall_after_send(times, stall);
    }

    /// Every call to `endpoint` waits `latency` before answering; `Duration::ZERO` removes it.
    /// A latency for a particular endpoint wins over one for [`Endpoint::Any`].
    pub fn set_latency(&self, endpoint: Endpoint, latency: Duration) {
        self.shared.world().set_latency(endpoint, latency);
    }

    /// Success bodies leave out `errcode` and `errmsg`, as several WeChat APIs really do.
    pub fn set_omit_errcode(&self, on: bool) {
        self.shared.world().set_omit_errcode(on);
    }

    /// Every issued access token stops working at once (40001), as if another party had
    /// force-refreshed and the overlap had passed; the next token call mints a fresh one.
    pub fn revoke_access_tokens(&self) {
        self.shared.world().revoke_tokens();
    }

    /// Every issued access token is expired from now on (42001).
    pub fn expire_access_tokens(&self) {
        self.shared.world().expire_tokens();
    }

    /// Declares a subscribe-message template of the app with the keys of its fields (`thing1`,
    /// `time2`, …), or redeclares it. A long-term template needs one consent, which sends never
    /// use up.
    ///
    /// # Panics
    /// When a key is not a known type followed by digits: that is a mistake in the test.
    pub fn register_template(&self, template_id: &str, keys: &[&str], long_term: bool) {
        if let Err(error) = template::check_keys(keys) {
            panic!("register_template({template_id:?}): {error}");
        }
        self.shared
            .world()
            .register_template(template_id, keys, long_term);
    }

    /// The user accepted the template `times` times in `wx.requestSubscribeMessage`: the app may
    /// send that many more messages of it. The user is created if unknown.
    pub fn grant_consent(&self, openid: &str, template_id: &str, times: u32) {
        self.shared
            .world()
            .grant_consent(openid, template_id, times);
    }

    /// How many more messages of the template the user accepts.
    pub fn quota(&self, openid: &str, template_id: &str) -> u32 {
        self.shared.world().quota(openid, template_id)
    }

    /// Every subscribe message accepted, in the order sent.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.shared.world().sent_messages(None)
    }

    /// The subscribe messages accepted for one user, in the order sent.
    pub fn sent_to(&self, openid: &str) -> Vec<SentMessage> {
        self.shared.world().sent_messages(Some(openid))
    }

    /// What the user's `wx.requestFacialVerify` for `verify_id` came to: `verify_ret` 10000 passes,
    /// 90002–90006 a cancel, 90008–90010 camera or microphone refused, 90017 a timeout, 10004
    /// another person's face. Returns false when no such verify_id was handed out.
    pub fn set_face_result(&self, verify_id: &str, verify_ret: i64) -> bool {
        self.shared.world().set_face_result(verify_id, verify_ret)
    }

    /// What every later `msg_sec_check` answers (reference §5): `suggest` `pass`, `review` or
    /// `risky` with `label` (100 normal, 20003 abuse …). The default is `pass`/100; WeChat down
    /// is a fault on [`Endpoint::MsgSecCheck`].
    pub fn set_sec_check(&self, suggest: &str, label: i64) {
        self.shared.world().set_sec_check(suggest, label);
    }

    /// Every text `msg_sec_check` was asked about: (openid, scene, content).
    pub fn sec_checked(&self) -> Vec<(String, i64, String)> {
        self.shared.world().sec_checked()
    }

    /// The verify_ids handed out for `openid`, oldest first.
    pub fn verify_ids_of(&self, openid: &str) -> Vec<String> {
        self.shared.world().verify_ids_of(openid)
    }

    /// Moves the simulator's clock forward: codes and tokens age by `by`.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.world().advance_clock(by);
    }

    pub fn stats(&self) -> WechatSimStats {
        self.shared.world().stats()
    }
}

/// What the HTTP handlers and [`WechatSim`] share.
pub(crate) struct Shared {
    config: WechatSimConfig,
    world: Mutex<World>,
}

impl Shared {
    /// The world, even if a thread panicked while holding it: every update leaves it consistent.
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// 41002 / 40013 for a missing or foreign appid, then 41004 / 40125 for the secret.
    fn check_app(&self, app_id: Option<&str>, secret: Option<&str>) -> Result<(), WxError> {
        match app_id {
            None => return Err(WxError::AppIdMissing),
            Some(id) if id != self.config.app_id => return Err(WxError::InvalidAppId),
            Some(_) => {}
        }
        match secret {
            None => Err(WxError::SecretMissing),
            Some(secret) if secret != self.config.app_secret => Err(WxError::InvalidSecret),
            Some(_) => Ok(()),
        }
    }

    fn encrypted_phone(&self, openid: &str, phone: &str) -> anyhow::Result<(String, String)> {
        let (session_key, now) = {
            let world = self.world();
            let key = world
                .session_key(openid)
                .with_context(|| format!("no simulated WeChat user {openid}"))?;
            (key, world.now())
        };
        crypto::encrypt_phone(&session_key, &self.config.app_id, phone, now.as_secs())
    }
}
