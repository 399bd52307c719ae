//! Calls to WeChat's server API. Every call is retried on transient failures (errcode -1, no
//! answer, 5xx) with exponential backoff and jitter; calls that take an access token are retried
//! once with a fresh token when WeChat rejects the one used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::WechatError;
use super::token::TokenCache;
use crate::store::Store;
use crate::time::Clock;

/// Where WeChat is and who we are to it.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// `https://api.weixin.qq.com` in production; the simulator's address in tests and the demo.
    pub base_url: String,
    pub app_id: String,
    pub app_secret: SecretString,
    /// Time limit of one HTTP exchange.
    pub timeout: Duration,
    /// Attempts of one call on transient failures, the first included.
    pub max_attempts: usize,
}

/// What `jscode2session` tells about a user. The session key never leaves the server.
#[derive(Debug, Clone)]
pub struct WxSession {
    pub openid: String,
    pub unionid: Option<String>,
    pub session_key: SecretString,
}

/// A phone number WeChat vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPhone {
    /// Without country code.
    pub pure_phone_number: String,
    pub country_code: String,
}

/// A subscribe message (reference/wechat.md §4). Values must already fit their field types.
#[derive(Debug)]
pub struct SubscribeMessage<'a> {
    pub touser: &'a str,
    pub template_id: &'a str,
    pub page: Option<&'a str>,
    pub miniprogram_state: &'a str,
    pub lang: &'a str,
    /// Field key (`thing1`) → value.
    pub data: &'a std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct SendBody {
    #[serde(default)]
    msgid: serde_json::Value,
}

/// The WeChat client: cheap to clone.
#[derive(Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    config: Arc<WechatConfig>,
    tokens: TokenCache,
}

impl std::fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatClient")
            .field("base_url", &self.config.base_url)
            .field("app_id", &self.config.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Code2SessionBody {
    openid: String,
    session_key: String,
    #[serde(default)]
    unionid: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct TokenBody {
    pub access_token: String,
    pub expires_in: i64,
}

#[derive(Deserialize)]
struct PhoneBody {
    phone_info: PhoneInfoBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfoBody {
    pure_phone_number: String,
    /// `"86"` or `86`: WeChat sends both.
    country_code: serde_json::Value,
    watermark: Watermark,
}

#[derive(Deserialize)]
struct Watermark {
    appid: String,
}

impl WechatClient {
    /// # Errors
    /// Fails only if the HTTP client cannot be built (TLS backend).
    pub fn new(config: WechatConfig, store: Arc<dyn Store>, clock: Clock) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)))
            .user_agent(concat!("zhangshangban-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        // Every attempt may use the whole timeout, and the pauses between them stay under 1 s.
        let attempts = u32::try_from(config.max_attempts.max(1)).unwrap_or(u32::MAX);
        let longest_fetch = (config.timeout + Duration::from_secs(1)) * attempts;
        let tokens = TokenCache::new(store, clock, &config.app_id, longest_fetch);
        Ok(Self {
            http,
            config: Arc::new(config),
            tokens,
        })
    }

    pub fn app_id(&self) -> &str {
        &self.config.app_id
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url.trim_end_matches('/'), path)
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_millis(800))
            .with_max_times(self.config.max_attempts.saturating_sub(1))
            .with_jitter()
    }

    /// Exchanges a `wx.login` code for the user's openid and session key.
    ///
    /// # Errors
    /// [`WechatError::Api`] with 40029 (invalid or expired code), 40163 (used), 45011 (too many
    /// calls for this user), 40226 (high-risk user), 40125/40013 (our secret or appid is wrong);
    /// busy and unreachable after the retries are spent.
    #[tracing::instrument(skip_all)]
    pub async fn code_to_session(&self, code: &str) -> Result<WxSession, WechatError> {
        let body: Code2SessionBody = (|| async {
            let request = self.http.get(self.url("/sns/jscode2session")).query(&[
                ("appid", self.config.app_id.as_str()),
                ("secret", self.config.app_secret.expose_secret()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ]);
            self.send("jscode2session", request).await
        })
        .retry(self.backoff())
        .when(WechatError::is_transient)
        .notify(|e, pause| tracing::warn!(error = %e, ?pause, "jscode2session failed, retrying"))
        .await?;
        Ok(WxSession {
            openid: body.openid,
            unionid: body.unionid.filter(|u| !u.is_empty()),
            session_key: SecretString::from(body.session_key),
        })
    }

    /// The phone number behind a code from the getPhoneNumber button.
    ///
    /// # Errors
    /// [`WechatError::Api`] with 40029 (invalid code: expired, used, or a `wx.login` code),
    /// 45011; [`WechatError::Malformed`] if the watermark names another app.
    #[tracing::instrument(skip_all)]
    pub async fn phone_number(&self, code: &str, openid: &str) -> Result<UserPhone, WechatError> {
        let body: PhoneBody = self
            .with_token(WechatError::is_transient, |token| async move {
                let request = self
                    .http
                    .post(self.url("/wxa/business/getuserphonenumber"))
                    .query(&[("access_token", token.as_str())])
                    .json(&serde_json::json!({ "code": code, "openid": openid }));
                self.send("getuserphonenumber", request).await
            })
            .await?;
        let info = body.phone_info;
        if info.watermark.appid != self.config.app_id {
            return Err(WechatError::Malformed(
                "phone number watermark names another app".into(),
            ));
        }
        let country_code = match info.country_code {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            _ => {
                return Err(WechatError::Malformed(
                    "countryCode is neither text nor number".into(),
                ));
            }
        };
        Ok(UserPhone {
            pure_phone_number: info.pure_phone_number,
            country_code,
        })
    }

    /// Sends a subscribe message; returns WeChat's `msgid`.
    ///
    /// # Errors
    /// [`WechatError::Api`] with 43101 (no consent left), 47003 (a value breaks its field's
    /// rule), 40003 (openid), 40037 (template), 41030 (page); busy, 45011 and unreachable after
    /// retries; [`WechatError::Token`] when no access token could be had (nothing was sent).
    #[tracing::instrument(skip_all, fields(template_id = message.template_id))]
    pub async fn send_subscribe_message(
        &self,
        message: &SubscribeMessage<'_>,
    ) -> Result<String, WechatError> {
        let data: serde_json::Map<String, serde_json::Value> = message
            .data
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!({ "value": v })))
            .collect();
        let mut body = serde_json::json!({
            "touser": message.touser,
            "template_id": message.template_id,
            "miniprogram_state": message.miniprogram_state,
            "lang": message.lang,
            "data": data,
        });
        if let Some(page) = message.page {
            body["page"] = serde_json::Value::from(page);
        }
        let body = &body;
        // Not idempotent: retried here only when WeChat surely did not send it; the outbox
        // worker decides about the rest.
        let sent: SendBody = self
            .with_token(WechatError::surely_not_done, |token| async move {
                let request = self
                    .http
                    .post(self.url("/cgi-bin/message/subscribe/send"))
                    .query(&[("access_token", token.as_str())])
                    .json(body);
                self.send("subscribe_send", request).await
            })
            .await?;
        Ok(match sent.msgid {
            serde_json::Value::String(s) => s,
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        })
    }

    /// A valid access token, from the shared cache or freshly fetched (one instance at a time).
    ///
    /// # Errors
    /// WeChat's token errors (40164 IP not whitelisted, 45009 quota, 40125 bad secret …), the
    /// store being unreachable, or a refresh by another instance that never finished.
    pub async fn access_token(&self) -> Result<String, WechatError> {
        Ok(self
            .tokens
            .current(self)
            .await
            .map_err(WechatError::token)?
            .token)
    }

    /// Runs `call` with an access token; if WeChat rejects the token, drops it from the cache
    /// (only if it is still the cached one) and runs `call` once more with a fresh one. Failures
    /// for which `retry` holds are tried again after a pause.
    pub(super) async fn with_token<T, F, Fut>(
        &self,
        retry: fn(&WechatError) -> bool,
        call: F,
    ) -> Result<T, WechatError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let used = self
            .tokens
            .current(self)
            .await
            .map_err(WechatError::token)?;
        let first = (|| call(used.token.clone()))
            .retry(self.backoff())
            .when(retry)
            .notify(|e, pause| tracing::warn!(error = %crate::report::causes(e), ?pause, "WeChat call failed, retrying"))
            .await;
        match first {
            Err(e) if e.is_token_rejected() => {
                tracing::warn!(errcode = ?e.errcode(), "access token rejected, refreshing once");
                let fresh = self
                    .tokens
                    .replace_rejected(self, &used)
                    .await
                    .map_err(WechatError::token)?;
                (|| call(fresh.token.clone()))
                    .retry(self.backoff())
                    .when(retry)
                    .await
            }
            other => other,
        }
    }

    /// `POST /cgi-bin/stable_token`: the token every instance shares.
    pub(super) async fn fetch_stable_token(
        &self,
        force_refresh: bool,
    ) -> Result<TokenBody, WechatError> {
        (|| async {
            let request =
                self.http
                    .post(self.url("/cgi-bin/stable_token"))
                    .json(&serde_json::json!({
                        "grant_type": "client_credential",
                        "appid": self.config.app_id,
                        "secret": self.config.app_secret.expose_secret(),
                        "force_refresh": force_refresh,
                    }));
            self.send("stable_token", request).await
        })
        .retry(self.backoff())
        // 45011 (minute quota) passes like busy does; nothing else from here is retried.
        .when(|e| e.is_transient() || e.is_rate_limited())
        .notify(|e, pause| tracing::warn!(error = %crate::report::causes(e), ?pause, "stable_token failed, retrying"))
        .await
    }

    /// Sends one request and reads WeChat's envelope: a non-zero `errcode` is an error, a
    /// missing one counts as 0.
    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        api: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WechatError> {
        let started = Instant::now();
        let result = exchange(request).await;
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(WechatError::Api { code, .. }) => code.to_string(),
            Err(WechatError::Unreachable(_)) => "unreachable".into(),
            Err(WechatError::Status(s)) => format!("http_{s}"),
            Err(_) => "malformed".into(),
        };
        metrics::counter!("upstream_calls_total", "upstream" => "wechat", "api" => api, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("upstream_call_duration_seconds", "upstream" => "wechat", "api" => api)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

async fn exchange<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, WechatError> {
    let response = request.send().await.map_err(WechatError::unreachable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(WechatError::Status(status.as_u16()));
    }
    let bytes = response.bytes().await.map_err(WechatError::unreachable)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| WechatError::Malformed("the body is not JSON".into()))?;
    let code = value
        .get("errcode")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    if code != 0 {
        let message = value
            .get("errmsg")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        return Err(WechatError::Api { code, message });
    }
    serde_json::from_value(value).map_err(|e| WechatError::Malformed(e.to_string()))
}
