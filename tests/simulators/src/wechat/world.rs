//! The simulated WeChat back end: users, codes, access tokens, subscribe-message templates,
//! consents and sent messages, injected faults and the clock.
//!
//! Plain state and rules, no HTTP: the routes take the lock, ask one question and turn the answer
//! into a body. Time is the wall clock plus an offset that tests can move forward, so codes and
//! tokens expire without a test having to wait.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use chrono::{DateTime, Utc};

use super::{Endpoint, Fault, SentMessage, WechatSimStats, ids, template, wire::WxError};

/// How long a face-verification `verify_id` lives (reference §8).
pub(crate) const VERIFY_ID_LIFETIME: Duration = Duration::from_secs(3600);
/// What `queryverifyinfo` answers for a verify_id whose outcome no test set: the user closed
/// the tutorial page (90002), as a user who never ran `wx.requestFacialVerify` looks.
const VERIFY_RET_UNFINISHED: i64 = 90002;

/// How long a `wx.login` code or a phone code can be redeemed.
const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// How long an access token lives.
const TOKEN_LIFETIME: Duration = Duration::from_secs(7200);
/// How long a superseded token keeps working.
const TOKEN_OVERLAP: Duration = Duration::from_secs(5 * 60);
/// `stable_token` hands out the current token until this long before it expires.
const STABLE_RENEW_BEFORE: Duration = Duration::from_secs(300);
const FORCE_REFRESHES_PER_DAY: u32 = 20;
const FORCE_REFRESH_GAP: Duration = Duration::from_secs(30);
const CLASSIC_TOKENS_PER_DAY: u32 = 2000;
/// WeChat's quotas reset at midnight Beijing time.
const BEIJING_OFFSET_SECS: u64 = 8 * 3600;
/// Below this many entries, expired codes and tokens are not worth sweeping.
const SWEEP_FLOOR: usize = 4096;

/// The values `miniprogram_state` may take.
const MINIPROGRAM_STATES: [&str; 3] = ["developer", "trial", "formal"];
/// The values `lang` may take.
const LANGS: [&str; 4] = ["zh_CN", "en_US", "zh_HK", "zh_TW"];

/// A moment on the simulator's clock: time since the Unix epoch.
type Moment = Duration;

pub(crate) struct User {
    session_key: String,
    unionid: Option<String>,
    risky: bool,
}

impl User {
    fn new() -> Self {
        Self {
            session_key: ids::key16(),
            unionid: None,
            risky: false,
        }
    }
}

/// What a successful `jscode2session` hands back.
pub(crate) struct Session {
    pub(crate) openid: String,
    pub(crate) session_key: String,
    pub(crate) unionid: Option<String>,
}

/// An access token handed out, with its remaining life in seconds.
pub(crate) struct IssuedToken {
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
}

/// Single-use codes of one kind, each bound to a subject (an openid or a phone number).
#[derive(Default)]
struct CodeBook {
    codes: HashMap<String, Code>,
    sweep_at: usize,
}

struct Code {
    subject: String,
    issued_at: Moment,
    used: bool,
}

impl CodeBook {
    fn issue(&mut self, code: String, subject: String, now: Moment) {
        // An expired code answers 40029 whether it is remembered or not, so forgetting it is safe.
        if self.codes.len() >= self.sweep_at.max(SWEEP_FLOOR) {
            self.codes.retain(|_, c| now < c.issued_at + CODE_LIFETIME);
            self.sweep_at = self.codes.len() * 2;
        }
        let record = Code {
            subject,
            issued_at: now,
            used: false,
        };
        self.codes.insert(code, record);
    }

    /// 40029 when unknown or expired, 40163 when already used; otherwise marks it used.
    fn redeem(&mut self, code: &str, now: Moment) -> Result<String, WxError> {
        let record = self.codes.get_mut(code).ok_or(WxError::InvalidCode)?;
        if now >= record.issued_at + CODE_LIFETIME {
            return Err(WxError::InvalidCode);
        }
        if record.used {
            return Err(WxError::CodeUsed);
        }
        record.used = true;
        Ok(record.subject.clone())
    }
}

struct Token {
    expires_at: Moment,
    /// Set when a newer token replaced this one: it works until then.
    retires_at: Option<Moment>,
    revoked: bool,
}

/// The two token endpoints keep separate lines, as WeChat documents for `stable_token`: minting
/// on one never retires the other's token.
#[derive(Clone, Copy)]
enum Line {
    Classic,
    Stable,
}

/// A count that starts again at midnight Beijing time.
#[derive(Default)]
struct DailyCounter {
    day: u64,
    count: u32,
}

impl DailyCounter {
    fn today(&mut self, now: Moment) -> &mut u32 {
        let day = (now.as_secs() + BEIJING_OFFSET_SECS) / 86_400;
        if day != self.day {
            self.day = day;
            self.count = 0;
        }
        &mut self.count
    }
}

/// A subscribe-message template the app has picked, with the keys of its fields.
struct Template {
    keys: BTreeSet<String>,
    /// Long-term subscriptions (some public-service categories) are not used up by a send.
    long_term: bool,
}

/// A `subscribe/send` body as the API received it, before any check.
pub(crate) struct Outgoing {
    pub(crate) touser: Option<String>,
    pub(crate) template_id: Option<String>,
    pub(crate) page: Option<String>,
    pub(crate) miniprogram_state: Option<String>,
    pub(crate) lang: Option<String>,
    /// Key → value; `None` when the entry is not `{"value": "<text>"}`.
    pub(crate) data: BTreeMap<String, Option<String>>,
}

/// One face verification begun with `getverifyid` (reference §8).
struct FaceSession {
    out_seq_no: String,
    cert_hash: String,
    openid: String,
    issued_at: Moment,
    /// Set by a test hook: what the user's `wx.requestFacialVerify` came to.
    verify_ret: Option<i64>,
}

/// A `getverifyid` body as the API received it.
pub(crate) struct VerifyRequest {
    pub(crate) out_seq_no: Option<String>,
    pub(crate) cert_type: Option<String>,
    pub(crate) cert_name: Option<String>,
    pub(crate) cert_no: Option<String>,
    pub(crate) openid: Option<String>,
}

/// A `queryverifyinfo` body as the API received it.
pub(crate) struct VerifyQuery {
    pub(crate) verify_id: Option<String>,
    pub(crate) out_seq_no: Option<String>,
    pub(crate) cert_hash: Option<String>,
    pub(crate) openid: Option<String>,
}

struct PendingFault {
    endpoint: Endpoint,
    fault: Fault,
    remaining: u32,
}

#[derive(Default)]
pub(crate) struct World {
    clock_offset: Duration,
    users: HashMap<String, User>,
    login_codes: CodeBook,
    phone_codes: CodeBook,
    tokens: HashMap<String, Token>,
    token_sweep_at: usize,
    classic_current: Option<String>,
    stable_current: Option<String>,
    classic_quota: DailyCounter,
    force_quota: DailyCounter,
    last_force_refresh: Option<Moment>,
    faults: VecDeque<PendingFault>,
    latency: HashMap<Endpoint, Duration>,
    omit_errcode: bool,
    phone_answers: u64,
    templates: HashMap<String, Template>,
    /// Messages each user still accepts, by (openid, template id).
    consents: HashMap<(String, String), u32>,
    sent: Vec<SentMessage>,
    msgid_base: Option<u64>,
    /// Face verifications by verify_id, and the verify_id of each `out_seq_no`.
    faces: HashMap<String, FaceSession>,
    face_seq: HashMap<String, String>,
    stats: WechatSimStats,
    /// The verdict `msg_sec_check` gives (`None`: pass, 100), and every text it was asked about.
    sec_verdict: Option<(String, i64)>,
    sec_checked: Vec<(String, i64, String)>,
    /// Sends left to answer late, and how late.
    stalls: (u32, Duration),
}

impl World {
    pub(crate) fn now(&self) -> Moment {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        wall + self.clock_offset
    }

    pub(crate) fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    pub(crate) fn set_sec_check(&mut self, suggest: &str, label: i64) {
        self.sec_verdict = Some((suggest.to_owned(), label));
    }

    pub(crate) fn sec_checked(&self) -> Vec<(String, i64, String)> {
        self.sec_checked.clone()
    }

    /// `msg_sec_check` v2 (reference §5): 40129 for a scene not 1–4, 47003 for a missing openid,
    /// a version not 2 or content past 2,500 characters; otherwise the verdict set by the test.
    pub(crate) fn msg_sec_check(
        &mut self,
        version: Option<i64>,
        openid: Option<String>,
        scene: Option<i64>,
        content: Option<String>,
    ) -> Result<(String, i64), WxError> {
        if version != Some(2) {
            return Err(WxError::ArgumentInvalid("version".into()));
        }
        let scene = scene
            .filter(|s| (1..=4).contains(s))
            .ok_or(WxError::BadScene)?;
        let openid = openid
            .filter(|o| !o.is_empty())
            .ok_or_else(|| WxError::ArgumentInvalid("openid".into()))?;
        let content = content
            .filter(|c| c.chars().count() <= 2500)
            .ok_or_else(|| WxError::ArgumentInvalid("content".into()))?;
        self.sec_checked.push((openid, scene, content));
        Ok(self
            .sec_verdict
            .clone()
            .unwrap_or_else(|| ("pass".to_owned(), 100)))
    }

    /// Counts a call to `endpoint` and returns the latency to add and the fault to answer with,
    /// if one is pending for it.
    pub(crate) fn begin_call(&mut self, endpoint: Endpoint) -> (Duration, Option<Fault>) {
        let counter = match endpoint {
            Endpoint::Code2Session => Some(&mut self.stats.code2session_calls),
            Endpoint::Token => Some(&mut self.stats.token_calls),
            Endpoint::StableToken => Some(&mut self.stats.stable_token_calls),
            Endpoint::PhoneNumber => Some(&mut self.stats.phone_number_calls),
            Endpoint::SubscribeSend => Some(&mut self.stats.subscribe_send_calls),
            Endpoint::GetVerifyId => Some(&mut self.stats.getverifyid_calls),
            Endpoint::QueryVerifyInfo => Some(&mut self.stats.queryverifyinfo_calls),
            Endpoint::MsgSecCheck => Some(&mut self.stats.msg_sec_check_calls),
            Endpoint::Any => None,
        };
        if let Some(counter) = counter {
            *counter += 1;
        }
        let latency = self
            .latency
            .get(&endpoint)
            .or_else(|| self.latency.get(&Endpoint::Any))
            .copied()
            .unwrap_or_default();
        (latency, self.take_fault(endpoint))
    }

    fn take_fault(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.endpoint == endpoint || f.endpoint == Endpoint::Any)?;
        let pending = &mut self.faults[index];
        pending.remaining = pending.remaining.saturating_sub(1);
        let fault = pending.fault.clone();
        if pending.remaining == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }

    pub(crate) fn stall_after_send(&mut self, times: u32, stall: Duration) {
        self.stalls = (times, stall);
    }

    /// How long this send waits before answering, after doing its work.
    pub(crate) fn take_stall(&mut self) -> Option<Duration> {
        let (left, stall) = &mut self.stalls;
        (*left > 0).then(|| {
            *left -= 1;
            *stall
        })
    }

    pub(crate) fn inject(&mut self, endpoint: Endpoint, fault: Fault, times: u32) {
        if times > 0 {
            self.faults.push_back(PendingFault {
                endpoint,
                fault,
                remaining: times,
            });
        }
    }

    /// `Duration::ZERO` removes the latency. A latency set for a particular endpoint wins over
    /// the one set for [`Endpoint::Any`].
    pub(crate) fn set_latency(&mut self, endpoint: Endpoint, latency: Duration) {
        if latency.is_zero() {
            self.latency.remove(&endpoint);
        } else {
            self.latency.insert(endpoint, latency);
        }
    }

    pub(crate) fn omit_errcode(&self) -> bool {
        self.omit_errcode
    }

    pub(crate) fn set_omit_errcode(&mut self, on: bool) {
        self.omit_errcode = on;
    }

    pub(crate) fn stats(&self) -> WechatSimStats {
        self.stats.clone()
    }

    // ---- users and codes -------------------------------------------------------------------

    fn user(&mut self, openid: &str) -> &mut User {
        self.users
            .entry(openid.to_owned())
            .or_insert_with(User::new)
    }

    pub(crate) fn new_openid(&self) -> String {
        loop {
            let openid = ids::openid();
            if !self.users.contains_key(&openid) {
                return openid;
            }
        }
    }

    pub(crate) fn session_key(&self, openid: &str) -> Option<String> {
        self.users.get(openid).map(|u| u.session_key.clone())
    }

    pub(crate) fn set_unionid(&mut self, openid: &str, unionid: Option<String>) {
        self.user(openid).unionid = unionid;
    }

    pub(crate) fn mark_risky(&mut self, openid: &str) {
        self.user(openid).risky = true;
    }

    pub(crate) fn mint_login_code(&mut self, openid: &str) -> String {
        self.user(openid);
        let code = ids::login_code();
        let now = self.now();
        self.login_codes.issue(code.clone(), openid.to_owned(), now);
        code
    }

    pub(crate) fn mint_phone_code(&mut self, phone: &str) -> String {
        let code = ids::phone_code();
        let now = self.now();
        self.phone_codes.issue(code.clone(), phone.to_owned(), now);
        code
    }

    /// Redeems a `wx.login` code: 40029 / 40163 for a bad code (a phone code is unknown here),
    /// 40226 for a user marked risky. A success gives the user a new session key.
    pub(crate) fn login(&mut self, code: &str) -> Result<Session, WxError> {
        let now = self.now();
        let openid = self.login_codes.redeem(code, now)?;
        let user = self.user(&openid);
        if user.risky {
            return Err(WxError::RiskyUser);
        }
        user.session_key = ids::key16();
        Ok(Session {
            session_key: user.session_key.clone(),
            unionid: user.unionid.clone(),
            openid,
        })
    }

    /// Redeems a phone code for its phone number; 40029 / 40163 as for login codes.
    pub(crate) fn redeem_phone_code(&mut self, code: &str) -> Result<String, WxError> {
        let now = self.now();
        self.phone_codes.redeem(code, now)
    }

    /// WeChat sends `countryCode` sometimes as a string, sometimes as a number: alternate, so a
    /// client that accepts only one of them fails at once.
    pub(crate) fn next_country_code_is_string(&mut self) -> bool {
        self.phone_answers += 1;
        self.phone_answers % 2 == 1
    }

    // ---- subscribe messages ----------------------------------------------------------------

    /// Adds the template, or replaces its keys and kind. The keys are assumed checked with
    /// [`template::check_keys`].
    pub(crate) fn register_template(&mut self, template_id: &str, keys: &[&str], long_term: bool) {
        let keys = keys.iter().map(|key| (*key).to_owned()).collect();
        self.templates
            .insert(template_id.to_owned(), Template { keys, long_term });
    }

    /// The user accepted the template `times` more times in `wx.requestSubscribeMessage`; the user
    /// is created if unknown, as one who has opened the app.
    pub(crate) fn grant_consent(&mut self, openid: &str, template_id: &str, times: u32) {
        self.user(openid);
        let left = self
            .consents
            .entry((openid.to_owned(), template_id.to_owned()))
            .or_default();
        *left = left.saturating_add(times);
    }

    pub(crate) fn quota(&self, openid: &str, template_id: &str) -> u32 {
        self.consents
            .get(&(openid.to_owned(), template_id.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Every accepted message in order, or only those to `openid`.
    pub(crate) fn sent_messages(&self, openid: Option<&str>) -> Vec<SentMessage> {
        self.sent
            .iter()
            .filter(|message| openid.is_none_or(|openid| message.touser == openid))
            .cloned()
            .collect()
    }

    /// `subscribe/send`, after the token check: 40003 for an unknown user, 40037 for a template
    /// the app does not have, 41030 for a malformed page, 47003 for a bad `miniprogram_state`,
    /// `lang` or data entry, then 43101 when the user has no consent left. A send uses up one
    /// consent unless the template is long-term, which needs one consent but never uses it.
    /// Returns the new message's `msgid`.
    pub(crate) fn send_subscribe(&mut self, message: Outgoing) -> Result<u64, WxError> {
        let touser = message
            .touser
            .filter(|openid| self.users.contains_key(openid))
            .ok_or(WxError::InvalidOpenid)?;
        let template_id = message.template_id.ok_or(WxError::InvalidTemplateId)?;
        let template = self
            .templates
            .get(&template_id)
            .ok_or(WxError::InvalidTemplateId)?;
        if message
            .page
            .as_deref()
            .is_some_and(|page| !template::is_valid_page(page))
        {
            return Err(WxError::InvalidPage);
        }
        let one_of = |value: Option<&str>, allowed: &[&str], name: &str| match value {
            Some(value) if !allowed.contains(&value) => {
                Err(WxError::ArgumentInvalid(name.to_owned()))
            }
            _ => Ok(()),
        };
        one_of(
            message.miniprogram_state.as_deref(),
            &MINIPROGRAM_STATES,
            "miniprogram_state",
        )?;
        one_of(message.lang.as_deref(), &LANGS, "lang")?;
        let data = template::check_data(&template.keys, message.data)?;
        let long_term = template.long_term;

        let left = self
            .consents
            .get_mut(&(touser.clone(), template_id.clone()))
            .filter(|left| **left > 0)
            .ok_or(WxError::UserRefused)?;
        if !long_term {
            *left -= 1;
        }

        let base = *self.msgid_base.get_or_insert_with(ids::msgid_base);
        let msgid = base + self.stats.messages_sent;
        self.stats.messages_sent += 1;
        let at = self.now();
        self.sent.push(SentMessage {
            msgid,
            touser,
            template_id,
            page: message.page,
            miniprogram_state: message.miniprogram_state,
            lang: message.lang,
            data,
            at: to_utc(at),
        });
        Ok(msgid)
    }

    // ---- face verification (reference §8) ---------------------------------------------------

    /// `getverifyid`, after the token check: 40003 for a user who never opened the app, 47003
    /// naming the argument for an `out_seq_no` that is not 5–32 of `[0-9A-Za-z_-]`, a `cert_type`
    /// other than `IDENTITY_CARD`, an empty name or a number that is not 18 characters, and for an
    /// `out_seq_no` used before with another person or user (the same request again gets the same
    /// verify_id while it lives). Returns the verify_id and its remaining life in seconds.
    pub(crate) fn get_verify_id(
        &mut self,
        request: VerifyRequest,
    ) -> Result<(String, u64), WxError> {
        let argument = |name: &str| WxError::ArgumentInvalid(name.to_owned());
        let openid = request
            .openid
            .filter(|openid| self.users.contains_key(openid))
            .ok_or(WxError::InvalidOpenid)?;
        let out_seq_no = request
            .out_seq_no
            .filter(|s| {
                (5..=32).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
            .ok_or_else(|| argument("out_seq_no"))?;
        let cert_type = request
            .cert_type
            .filter(|t| t == "IDENTITY_CARD")
            .ok_or_else(|| argument("cert_info.cert_type"))?;
        let cert_name = request
            .cert_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| argument("cert_info.cert_name"))?;
        let cert_no = request
            .cert_no
            .filter(|n| n.len() == 18 && n.is_ascii())
            .ok_or_else(|| argument("cert_info.cert_no"))?;
        let cert_hash = cert_hash(&cert_type, &cert_name, &cert_no);
        let now = self.now();
        if let Some(verify_id) = self.face_seq.get(&out_seq_no) {
            let face = self
                .faces
                .get(verify_id)
                .ok_or_else(|| argument("out_seq_no"))?;
            let alive = now < face.issued_at + VERIFY_ID_LIFETIME;
            if face.cert_hash != cert_hash || face.openid != openid || !alive {
                return Err(argument("out_seq_no"));
            }
            let left = (face.issued_at + VERIFY_ID_LIFETIME).saturating_sub(now);
            return Ok((verify_id.clone(), left.as_secs()));
        }
        let verify_id = ids::verify_id();
        self.face_seq.insert(out_seq_no.clone(), verify_id.clone());
        self.faces.insert(
            verify_id.clone(),
            FaceSession {
                out_seq_no,
                cert_hash,
                openid,
                issued_at: now,
                verify_ret: None,
            },
        );
        Ok((verify_id, VERIFY_ID_LIFETIME.as_secs()))
    }

    /// `queryverifyinfo`, after the token check: 47003 naming the argument for an unknown or
    /// expired `verify_id`, or an `out_seq_no`, `cert_hash` or `openid` that is not step 1's
    /// (WeChat answers these with an errcode, never with a `verify_ret`); otherwise the outcome a
    /// test set, or 90002 (cancelled) when none was set.
    pub(crate) fn query_verify_info(&mut self, query: VerifyQuery) -> Result<i64, WxError> {
        let argument = |name: &str| WxError::ArgumentInvalid(name.to_owned());
        let now = self.now();
        let face = query
            .verify_id
            .as_ref()
            .and_then(|id| self.faces.get(id))
            .filter(|face| now < face.issued_at + VERIFY_ID_LIFETIME)
            .ok_or_else(|| argument("verify_id"))?;
        if query.out_seq_no.as_deref() != Some(face.out_seq_no.as_str()) {
            return Err(argument("out_seq_no"));
        }
        if query.cert_hash.as_deref() != Some(face.cert_hash.as_str()) {
            return Err(argument("cert_hash"));
        }
        if query.openid.as_deref() != Some(face.openid.as_str()) {
            return Err(argument("openid"));
        }
        Ok(face.verify_ret.unwrap_or(VERIFY_RET_UNFINISHED))
    }

    /// What the user's `wx.requestFacialVerify` for `verify_id` came to: 10000 passed, 90002–90006
    /// cancelled, 90017 timed out, 10004 (another face) … False when the verify_id is unknown.
    pub(crate) fn set_face_result(&mut self, verify_id: &str, verify_ret: i64) -> bool {
        match self.faces.get_mut(verify_id) {
            Some(face) => {
                face.verify_ret = Some(verify_ret);
                true
            }
            None => false,
        }
    }

    /// The verify_ids handed out for `openid`, oldest first.
    pub(crate) fn verify_ids_of(&self, openid: &str) -> Vec<String> {
        let mut found: Vec<(&Moment, &String)> = self
            .faces
            .iter()
            .filter(|(_, face)| face.openid == openid)
            .map(|(id, face)| (&face.issued_at, id))
            .collect();
        found.sort();
        found.into_iter().map(|(_, id)| id.clone()).collect()
    }

    // ---- access tokens ---------------------------------------------------------------------

    /// `/cgi-bin/token`: a new token every call, 2000 a day; the previous one retires in 5 minutes.
    pub(crate) fn classic_token(&mut self) -> Result<IssuedToken, WxError> {
        let now = self.now();
        let minted_today = self.classic_quota.today(now);
        if *minted_today >= CLASSIC_TOKENS_PER_DAY {
            return Err(WxError::DailyQuota);
        }
        *minted_today += 1;
        Ok(self.mint(Line::Classic, now))
    }

    /// `/cgi-bin/stable_token`: the current token until 300 s before it expires; `force` mints a
    /// new one, at most 20 a day (45009) and 30 s apart (45011).
    pub(crate) fn stable_token(&mut self, force: bool) -> Result<IssuedToken, WxError> {
        let now = self.now();
        if force {
            let forced_today = self.force_quota.today(now);
            if *forced_today >= FORCE_REFRESHES_PER_DAY {
                return Err(WxError::DailyQuota);
            }
            if self
                .last_force_refresh
                .is_some_and(|last| now < last + FORCE_REFRESH_GAP)
            {
                return Err(WxError::MinuteQuota);
            }
            *forced_today += 1;
            self.last_force_refresh = Some(now);
            self.stats.force_refreshes += 1;
            return Ok(self.mint(Line::Stable, now));
        }
        let current = self.stable_current.as_ref().and_then(|value| {
            let token = self.tokens.get(value)?;
            let usable = !token.revoked && now + STABLE_RENEW_BEFORE < token.expires_at;
            usable.then(|| IssuedToken {
                access_token: value.clone(),
                expires_in: (token.expires_at - now).as_secs(),
            })
        });
        Ok(match current {
            Some(issued) => issued,
            None => self.mint(Line::Stable, now),
        })
    }

    fn mint(&mut self, line: Line, now: Moment) -> IssuedToken {
        if self.tokens.len() >= self.token_sweep_at.max(SWEEP_FLOOR) {
            self.tokens
                .retain(|_, t| now < t.expires_at + TOKEN_LIFETIME);
            self.token_sweep_at = self.tokens.len() * 2;
        }
        let access_token = loop {
            let candidate = ids::access_token();
            if !self.tokens.contains_key(&candidate) {
                break candidate;
            }
        };
        self.tokens.insert(
            access_token.clone(),
            Token {
                expires_at: now + TOKEN_LIFETIME,
                retires_at: None,
                revoked: false,
            },
        );
        let current = match line {
            Line::Classic => &mut self.classic_current,
            Line::Stable => &mut self.stable_current,
        };
        if let Some(previous) = current.replace(access_token.clone())
            && let Some(token) = self.tokens.get_mut(&previous)
        {
            token.retires_at.get_or_insert(now + TOKEN_OVERLAP);
        }
        self.stats.tokens_minted += 1;
        IssuedToken {
            access_token,
            expires_in: TOKEN_LIFETIME.as_secs(),
        }
    }

    /// The access-token check of every API that takes one in its query string: 41001 when missing
    /// (47001 when it was put in the JSON body instead), 40001 when unknown, revoked or retired,
    /// 42001 when expired. Every refusal is counted in `rejected_token_uses`.
    pub(crate) fn authorize(
        &mut self,
        access_token: Option<&str>,
        in_body: bool,
    ) -> Result<(), WxError> {
        let verdict = self.judge_token(access_token, in_body);
        if verdict.is_err() {
            self.stats.rejected_token_uses += 1;
        }
        verdict
    }

    fn judge_token(&self, access_token: Option<&str>, in_body: bool) -> Result<(), WxError> {
        let Some(value) = access_token.filter(|t| !t.is_empty()) else {
            return Err(if in_body {
                WxError::DataFormat
            } else {
                WxError::AccessTokenMissing
            });
        };
        let token = self.tokens.get(value).ok_or(WxError::InvalidCredential)?;
        let now = self.now();
        if token.revoked {
            Err(WxError::InvalidCredential)
        } else if now >= token.expires_at {
            Err(WxError::AccessTokenExpired)
        } else if token.retires_at.is_some_and(|at| now >= at) {
            Err(WxError::InvalidCredential)
        } else {
            Ok(())
        }
    }

    /// Every token ever issued stops working now; both endpoints mint afresh on their next call.
    pub(crate) fn revoke_tokens(&mut self) {
        for token in self.tokens.values_mut() {
            token.revoked = true;
        }
        self.classic_current = None;
        self.stable_current = None;
    }

    /// Every token ever issued is expired from now on.
    pub(crate) fn expire_tokens(&mut self) {
        let now = self.now();
        for token in self.tokens.values_mut() {
            token.expires_at = token.expires_at.min(now);
        }
    }
}

/// `cert_hash` as reference §8 defines it, computed here on its own so that the gateway's
/// implementation is checked against a second one.
pub(crate) fn cert_hash(cert_type: &str, cert_name: &str, cert_no: &str) -> String {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use sha2::{Digest as _, Sha256};
    let joined = format!(
        "cert_type={}&cert_name={}&cert_no={}",
        STANDARD.encode(cert_type.as_bytes()),
        STANDARD.encode(cert_name.as_bytes()),
        STANDARD.encode(cert_no.as_bytes()),
    );
    hex::encode(Sha256::digest(joined.as_bytes()))
}

fn to_utc(moment: Moment) -> DateTime<Utc> {
    i64::try_from(moment.as_secs())
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, moment.subsec_nanos()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stable_token_is_renewed_in_its_last_five_minutes_and_the_old_one_keeps_working() {
        let mut world = World::default();
        let first = world.stable_token(false).unwrap();
        assert_eq!(first.expires_in, 7200);

        world.advance_clock(Duration::from_secs(7200 - 301));
        let same = world.stable_token(false).unwrap();
        assert_eq!(same.access_token, first.access_token);
        assert!(same.expires_in >= 300);

        world.advance_clock(Duration::from_secs(2));
        let renewed = world.stable_token(false).unwrap();
        assert_ne!(renewed.access_token, first.access_token);
        assert_eq!(world.authorize(Some(&first.access_token), false), Ok(()));

        world.advance_clock(Duration::from_secs(300));
        assert_eq!(
            world.authorize(Some(&first.access_token), false),
            Err(WxError::AccessTokenExpired)
        );
        assert_eq!(world.authorize(Some(&renewed.access_token), false), Ok(()));
        assert_eq!(world.stats.tokens_minted, 2);
    }

    /// Moves the clock to just after the next midnight in Beijing, so that a test of daily
    /// quotas does not straddle two days.
    fn start_a_new_day(world: &mut World) {
        let seconds_into_day = (world.now().as_secs() + BEIJING_OFFSET_SECS) % 86_400;
        world.advance_clock(Duration::from_secs(86_400 - seconds_into_day));
    }

    #[test]
    fn force_refresh_is_limited_to_one_per_30_seconds_and_20_per_day() {
        let mut world = World::default();
        start_a_new_day(&mut world);
        world.stable_token(true).unwrap();
        assert_eq!(world.stable_token(true).err(), Some(WxError::MinuteQuota));
        for _ in 1..FORCE_REFRESHES_PER_DAY {
            world.advance_clock(FORCE_REFRESH_GAP);
            world.stable_token(true).unwrap();
        }
        world.advance_clock(FORCE_REFRESH_GAP);
        assert_eq!(world.stable_token(true).err(), Some(WxError::DailyQuota));
        assert_eq!(world.stats.force_refreshes, 20);
        assert_eq!(world.stats.tokens_minted, 20);

        start_a_new_day(&mut world);
        assert!(world.stable_token(true).is_ok());
    }

    #[test]
    fn a_classic_token_retires_its_predecessor_after_five_minutes() {
        let mut world = World::default();
        let first = world.classic_token().unwrap();
        let second = world.classic_token().unwrap();
        assert_eq!(world.authorize(Some(&first.access_token), false), Ok(()));
        world.advance_clock(TOKEN_OVERLAP);
        assert_eq!(
            world.authorize(Some(&first.access_token), false),
            Err(WxError::InvalidCredential)
        );
        assert_eq!(world.authorize(Some(&second.access_token), false), Ok(()));
    }

    #[test]
    fn a_missing_token_is_41001_unless_it_was_put_in_the_body() {
        let mut world = World::default();
        assert_eq!(
            world.authorize(None, false),
            Err(WxError::AccessTokenMissing)
        );
        assert_eq!(world.authorize(None, true), Err(WxError::DataFormat));
        assert_eq!(
            world.authorize(Some("nope"), false),
            Err(WxError::InvalidCredential)
        );
        assert_eq!(world.stats.rejected_token_uses, 3);
    }

    #[test]
    fn the_simulators_cert_hash_matches_the_documented_vector() {
        assert_eq!(
            cert_hash("IDENTITY_CARD", "张三", "310101199801011234"),
            "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
        );
    }

    fn verify_request(world: &mut World, openid: &str, out_seq_no: &str) -> VerifyRequest {
        world.user(openid);
        VerifyRequest {
            out_seq_no: Some(out_seq_no.into()),
            cert_type: Some("IDENTITY_CARD".into()),
            cert_name: Some("张三".into()),
            cert_no: Some("310101199801011234".into()),
            openid: Some(openid.into()),
        }
    }

    #[test]
    fn a_verify_id_answers_its_outcome_only_to_step_ones_person_and_user() {
        let mut world = World::default();
        let request = verify_request(&mut world, "o-user", "seq-00001");
        let (verify_id, expires_in) = world.get_verify_id(request).unwrap();
        assert_eq!(expires_in, 3600);
        let hash = cert_hash("IDENTITY_CARD", "张三", "310101199801011234");
        let query = |hash: &str, openid: &str| VerifyQuery {
            verify_id: Some(verify_id.clone()),
            out_seq_no: Some("seq-00001".into()),
            cert_hash: Some(hash.into()),
            openid: Some(openid.into()),
        };
        assert_eq!(world.query_verify_info(query(&hash, "o-user")), Ok(90002));
        assert!(world.set_face_result(&verify_id, 10000));
        assert_eq!(world.query_verify_info(query(&hash, "o-user")), Ok(10000));
        let other = cert_hash("IDENTITY_CARD", "李四", "310101199801011234");
        assert_eq!(
            world.query_verify_info(query(&other, "o-user")),
            Err(WxError::ArgumentInvalid("cert_hash".into()))
        );
        assert_eq!(
            world.query_verify_info(query(&hash, "o-other")),
            Err(WxError::ArgumentInvalid("openid".into()))
        );
        world.advance_clock(VERIFY_ID_LIFETIME);
        assert_eq!(
            world.query_verify_info(query(&hash, "o-user")),
            Err(WxError::ArgumentInvalid("verify_id".into()))
        );
    }

    #[test]
    fn an_out_seq_no_is_unique_and_a_stranger_is_40003() {
        let mut world = World::default();
        let request = verify_request(&mut world, "o-user", "seq-00002");
        let (first, _) = world.get_verify_id(request).unwrap();
        let again = verify_request(&mut world, "o-user", "seq-00002");
        assert_eq!(world.get_verify_id(again).unwrap().0, first);
        let mut other = verify_request(&mut world, "o-user", "seq-00002");
        other.cert_name = Some("李四".into());
        assert_eq!(
            world.get_verify_id(other).err(),
            Some(WxError::ArgumentInvalid("out_seq_no".into()))
        );
        let mut short = verify_request(&mut world, "o-user", "s1");
        short.out_seq_no = Some("s1".into());
        assert!(world.get_verify_id(short).is_err());
        let mut stranger = verify_request(&mut world, "o-user", "seq-00003");
        stranger.openid = Some("o-nobody".into());
        assert_eq!(
            world.get_verify_id(stranger).err(),
            Some(WxError::InvalidOpenid)
        );
    }

    #[test]
    fn faults_for_any_endpoint_are_consumed_in_order() {
        let mut world = World::default();
        world.inject(Endpoint::Any, Fault::Busy, 1);
        world.inject(Endpoint::Token, Fault::MinuteQuota, 2);
        assert!(matches!(
            world.begin_call(Endpoint::Token).1,
            Some(Fault::Busy)
        ));
        assert!(world.begin_call(Endpoint::Code2Session).1.is_none());
        assert!(matches!(
            world.begin_call(Endpoint::Token).1,
            Some(Fault::MinuteQuota)
        ));
        assert!(matches!(
            world.begin_call(Endpoint::Token).1,
            Some(Fault::MinuteQuota)
        ));
        assert!(world.begin_call(Endpoint::Token).1.is_none());
        assert_eq!(world.stats.token_calls, 4);
    }
}
