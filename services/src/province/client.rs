//! Calls to the provincial platform. Every request is signed (a fresh nonce per attempt, over the
//! exact bytes sent); each attempt has its own timeout; 429, 5xx, connect errors and timeouts are
//! retried with full-jitter exponential backoff (honouring a bounded `Retry-After`); other 4xx
//! are final. A circuit breaker stops calling a platform that keeps failing.
//!
//! Retrying the POSTs (applications, supplements, evaluations) is safe even when an earlier
//! attempt may have got through — a timeout after the platform stored it — because the platform
//! is idempotent on `clientRequestId`: the repeat is answered 200 with the first attempt's result
//! (`SubmitReceipt::replayed`) and nothing is stored twice.

mod bundles;

pub use self::bundles::{
    BundleApplicationRequest, BundleCase, BundleItem, BundleReceipt, BundlesPage, CatalogueBundle,
    SharedMaterial,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backoff;
use super::breaker::Breaker;
use super::error::ProvinceError;
use super::signing::{Credentials, sign};
use super::wire::{
    ApplicationRequest, CaseState, ErrorBody, EvaluationRequest, ItemsBody, ItemsPage,
    LicenceDetail, LicenceStatusReply, LicenceSummary, LicencesBody, ReceiptBody, SubmitReceipt,
    SupplementRequest, UseCause, VersionBody,
};

/// Where the platform is, who we are to it, and how hard to try.
#[derive(Debug, Clone)]
pub struct ProvinceConfig {
    /// The platform's base URL (a path prefix is allowed: `https://gov.example/api`).
    pub base_url: String,
    pub app_key: String,
    pub app_secret: SecretString,
    /// Time limit of one attempt (connect, send, and read the whole answer).
    pub timeout: Duration,
    /// Attempts of one call, the first included; 0 counts as 1.
    pub max_attempts: u32,
    /// Consecutive failed calls (each with all its attempts) that open the breaker; 0 disables it.
    pub breaker_failures: u32,
    /// How long the breaker stays open before it lets one probe through.
    pub breaker_cooldown: Duration,
}

/// The provincial platform client: cheap to clone, clones share the breaker.
#[derive(Clone)]
pub struct ProvinceClient {
    http: reqwest::Client,
    base: Url,
    creds: Arc<Credentials>,
    max_attempts: u32,
    breaker: Breaker,
}

impl std::fmt::Debug for ProvinceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvinceClient")
            .field("base_url", &self.base.as_str())
            .field("app_key", &self.creds.app_key)
            .finish_non_exhaustive()
    }
}

/// The body and status of a 2xx answer.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

/// How one attempt ended, before the retry loop judges it.
enum Attempt {
    Done(Answer),
    /// Not retryable: a 4xx other than 429.
    Final(ProvinceError),
    /// Retryable, with the pause the platform asked for.
    Transient {
        error: anyhow::Error,
        retry_after: Option<Duration>,
    },
}

impl ProvinceClient {
    /// # Errors
    /// When the base URL cannot be parsed or the HTTP client cannot be built (TLS backend).
    pub fn new(config: ProvinceConfig) -> anyhow::Result<Self> {
        let mut base = Url::parse(&config.base_url)
            .with_context(|| format!("parse the province base URL {:?}", config.base_url))?;
        if base.cannot_be_a_base() {
            anyhow::bail!(
                "the province base URL {:?} cannot be a base",
                config.base_url
            );
        }
        // Path segments are appended to the base: drop a trailing empty one.
        if let Ok(mut segments) = base.path_segments_mut() {
            segments.pop_if_empty();
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)))
            .user_agent(concat!("zhangshangban-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("build the province HTTP client")?;
        Ok(Self {
            http,
            base,
            creds: Arc::new(Credentials {
                app_key: config.app_key,
                app_secret: config.app_secret,
            }),
            max_attempts: config.max_attempts.max(1),
            breaker: Breaker::new(config.breaker_failures, config.breaker_cooldown),
        })
    }

    /// One page of the service catalogue, items changed at or after `updated_since` (all when
    /// `None`). Pages start at 1.
    ///
    /// # Errors
    /// [`ProvinceError::Rejected`] 400 for a bad page or size; [`ProvinceError::Invalid`] when an
    /// item lacks its code or name or its code is not 31 characters; `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(page = page, page_size = page_size))]
    pub async fn list_items(
        &self,
        updated_since: Option<DateTime<Utc>>,
        page: u32,
        page_size: u32,
    ) -> Result<ItemsPage, ProvinceError> {
        let mut url = self.url(&["gov", "v1", "items"]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(since) = updated_since {
                query.append_pair(
                    "updatedSince",
                    &since.to_rfc3339_opts(SecondsFormat::Micros, true),
                );
            }
            query
                .append_pair("page", &page.to_string())
                .append_pair("pageSize", &page_size.to_string());
        }
        let answer = self.call("items", Method::GET, url, None, None).await?;
        let body: ItemsBody = parse(&answer)?;
        for (i, item) in body.items.iter().enumerate() {
            if item.item_code.chars().count() != 31 || item.name.trim().is_empty() {
                return Err(ProvinceError::Invalid(anyhow!(
                    "item {i} of page {page} has an item code of {} characters or no name",
                    item.item_code.chars().count()
                )));
            }
        }
        if body.next_page.is_some_and(|next| next <= page) {
            return Err(ProvinceError::Invalid(anyhow!(
                "page {page} names {:?} as the next page",
                body.next_page
            )));
        }
        Ok(ItemsPage {
            items: body.items,
            next_page: body.next_page,
        })
    }

    /// Submits an application (申办). Safe to call again with the same `clientRequestId` after
    /// any error: the platform answers a repeat with the first receipt (`replayed: true`).
    ///
    /// # Errors
    /// [`ProvinceError::Rejected`] with 422 `VALIDATION` and its `fields` (tell the citizen what
    /// to fix), 409 `IDEMPOTENCY_MISMATCH` (the id was used for a different body), 413 (materials
    /// too large); [`ProvinceError::Invalid`] when the `sblsh` is not `itemCode` + date + 4–6
    /// digits; `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(client_request_id = %body.client_request_id, item_code = %body.item_code))]
    pub async fn submit_application(
        &self,
        body: &ApplicationRequest,
    ) -> Result<SubmitReceipt, ProvinceError> {
        let url = self.url(&["gov", "v1", "applications"]);
        let bytes = to_json(body)?;
        let answer = self
            .call("applications", Method::POST, url, Some(bytes), None)
            .await?;
        let receipt: ReceiptBody = parse(&answer)?;
        check_sblsh(&receipt.sblsh, &body.item_code)?;
        if receipt.status.trim().is_empty() {
            return Err(ProvinceError::Invalid(anyhow!("the receipt has no status")));
        }
        Ok(SubmitReceipt {
            sblsh: receipt.sblsh,
            received_at: receipt.received_at,
            status: receipt.status,
            replayed: answer.status == StatusCode::OK,
        })
    }

    /// The state of a case with every event so far: to reconcile after lost callbacks.
    ///
    /// # Errors
    /// [`ProvinceError::NotFound`] for an unknown `sblsh`; [`ProvinceError::Invalid`] when the
    /// answer is about another case; `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(sblsh = %sblsh))]
    pub async fn case_state(&self, sblsh: &str) -> Result<CaseState, ProvinceError> {
        let url = self.url(&["gov", "v1", "applications", sblsh]);
        let answer = self.call("case", Method::GET, url, None, None).await?;
        let state: CaseState = parse(&answer)?;
        if state.sblsh != sblsh || state.events.iter().any(|e| e.sblsh != sblsh) {
            return Err(ProvinceError::Invalid(anyhow!(
                "asked for case {sblsh}, the answer is about another"
            )));
        }
        Ok(state)
    }

    /// Sends the supplement (补正) the platform asked for; returns the case's new version.
    /// Idempotent on `clientRequestId` like applications.
    ///
    /// # Errors
    /// [`ProvinceError::NotFound`] for an unknown case; [`ProvinceError::Rejected`] 422 / 409 /
    /// 413 as for applications; `Invalid` for a version of 0; `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(sblsh = %sblsh, client_request_id = %body.client_request_id))]
    pub async fn submit_supplement(
        &self,
        sblsh: &str,
        body: &SupplementRequest,
    ) -> Result<u64, ProvinceError> {
        let url = self.url(&["gov", "v1", "applications", sblsh, "supplements"]);
        let bytes = to_json(body)?;
        let answer = self
            .call("supplements", Method::POST, url, Some(bytes), None)
            .await?;
        let reply: VersionBody = parse(&answer)?;
        if reply.version == 0 {
            return Err(ProvinceError::Invalid(anyhow!(
                "a supplement answered version 0"
            )));
        }
        Ok(reply.version)
    }

    /// The licences of a holder. The certificate number never reaches a log.
    ///
    /// # Errors
    /// [`ProvinceError::Rejected`] 400 for a bad holder or use cause; `Invalid` for a licence
    /// without an id; `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(cert_type = %cert_type, use_cause = %use_cause.header_value()))]
    pub async fn licences(
        &self,
        cert_type: &str,
        cert_no: &str,
        use_cause: &UseCause,
    ) -> Result<Vec<LicenceSummary>, ProvinceError> {
        let mut url = self.url(&["gov", "v1", "licences"]);
        url.query_pairs_mut()
            .append_pair("holderCertType", cert_type)
            .append_pair("holderCertNo", cert_no);
        let cause = cause_header(use_cause)?;
        let answer = self
            .call("licences", Method::GET, url, None, Some(cause))
            .await?;
        let body: LicencesBody = parse(&answer)?;
        if body.licences.iter().any(|l| l.licence_id.trim().is_empty()) {
            return Err(ProvinceError::Invalid(anyhow!("a licence has no id")));
        }
        Ok(body.licences)
    }

    /// One licence in full, sensitive fields included (the caller masks them).
    ///
    /// # Errors
    /// [`ProvinceError::NotFound`] for an unknown id; `Invalid` when the answer is about another
    /// licence; `Rejected` 400 for a bad use cause; `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(licence_id = %licence_id, use_cause = %use_cause.header_value()))]
    pub async fn licence(
        &self,
        licence_id: &str,
        use_cause: &UseCause,
    ) -> Result<LicenceDetail, ProvinceError> {
        let url = self.url(&["gov", "v1", "licences", licence_id]);
        let cause = cause_header(use_cause)?;
        let answer = self
            .call("licence", Method::GET, url, None, Some(cause))
            .await?;
        let detail: LicenceDetail = parse(&answer)?;
        if detail.summary.licence_id != licence_id {
            return Err(ProvinceError::Invalid(anyhow!(
                "asked for one licence, the answer is about another"
            )));
        }
        Ok(detail)
    }

    /// The live status of a licence, as a verifier must see it.
    ///
    /// # Errors
    /// [`ProvinceError::NotFound`] for an unknown id; `Rejected` 400 for a bad use cause;
    /// `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(licence_id = %licence_id, use_cause = %use_cause.header_value()))]
    pub async fn licence_status(
        &self,
        licence_id: &str,
        use_cause: &UseCause,
    ) -> Result<LicenceStatusReply, ProvinceError> {
        let url = self.url(&["gov", "v1", "licences", licence_id, "status"]);
        let cause = cause_header(use_cause)?;
        let answer = self
            .call("licence_status", Method::GET, url, None, Some(cause))
            .await?;
        parse(&answer)
    }

    /// Sends an evaluation (好差评). Idempotent on `clientRequestId`.
    ///
    /// # Errors
    /// [`ProvinceError::Rejected`] 422 for a bad grade or unknown case, 409 on a reused id;
    /// `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(client_request_id = %body.client_request_id))]
    pub async fn submit_evaluation(&self, body: &EvaluationRequest) -> Result<(), ProvinceError> {
        let url = self.url(&["gov", "v1", "evaluations"]);
        let bytes = to_json(body)?;
        self.call("evaluations", Method::POST, url, Some(bytes), None)
            .await?;
        Ok(())
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// While the circuit breaker is open, how much longer it stays so (no request would be
    /// made); `None` when a call would go out. Lets a caller with a queue wait instead of
    /// turning each queued item into an immediate `CircuitOpen`.
    pub fn unavailable_for(&self) -> Option<Duration> {
        self.breaker.closed_for(Instant::now())
    }

    /// One call: the breaker's permission, then up to `max_attempts` signed attempts.
    async fn call(
        &self,
        endpoint: &'static str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        use_cause: Option<HeaderValue>,
    ) -> Result<Answer, ProvinceError> {
        let Some(permit) = self.breaker.acquire(Instant::now()) else {
            record(endpoint, "circuit_open", None);
            return Err(ProvinceError::CircuitOpen);
        };
        let body = body.unwrap_or_default();
        let mut retry = 0u32;
        loop {
            let outcome = self
                .attempt(endpoint, &method, &url, &body, use_cause.as_ref())
                .await;
            let (error, asked) = match outcome {
                Attempt::Done(answer) => {
                    permit.success();
                    return Ok(answer);
                }
                Attempt::Final(error) => {
                    // The platform answered: it is up, whatever it said.
                    permit.success();
                    return Err(error);
                }
                Attempt::Transient { error, retry_after } => (error, retry_after),
            };
            if retry + 1 >= self.max_attempts {
                permit.failure(Instant::now());
                return Err(ProvinceError::Unavailable(error.context(format!(
                    "{endpoint}: {} attempt(s) failed",
                    self.max_attempts
                ))));
            }
            let jittered =
                backoff::full_jitter(retry, backoff::BASE, backoff::CAP, &mut rand::rng());
            let pause = asked.map_or(jittered, |asked| asked.max(jittered));
            tracing::warn!(error = %format!("{error:#}"), ?pause, "province call failed, retrying");
            tokio::time::sleep(pause).await;
            retry += 1;
        }
    }

    async fn attempt(
        &self,
        endpoint: &'static str,
        method: &Method,
        url: &Url,
        body: &[u8],
        use_cause: Option<&HeaderValue>,
    ) -> Attempt {
        // Signed afresh every attempt: the platform refuses a nonce it has seen.
        let path_with_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let signed = sign(
            &self.creds,
            method.as_str(),
            &path_with_query,
            body,
            // The platform's clock, not the domain's: see `wall_now`.
            crate::time::wall_now(),
        );
        let mut request = self.http.request(method.clone(), url.clone());
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        if let Some(cause) = use_cause {
            request = request.header(UseCause::HEADER, cause.clone());
        }
        if *method == Method::POST {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let started = Instant::now();
        let outcome = exchange(request).await;
        let label = match &outcome {
            Attempt::Done(_) => "ok".to_owned(),
            Attempt::Final(ProvinceError::Rejected { status, .. }) => format!("http_{status}"),
            Attempt::Final(ProvinceError::NotFound) => "http_404".to_owned(),
            Attempt::Final(_) => "error".to_owned(),
            Attempt::Transient { error, .. } => transient_label(error),
        };
        record(endpoint, &label, Some(started.elapsed()));
        outcome
    }
}

/// Counts one attempt (or one refused call) and records how long it took.
fn record(endpoint: &'static str, outcome: &str, took: Option<Duration>) {
    metrics::counter!("upstream_calls_total", "upstream" => "province", "api" => endpoint, "outcome" => outcome.to_owned())
        .increment(1);
    if let Some(took) = took {
        metrics::histogram!("upstream_call_duration_seconds", "upstream" => "province", "api" => endpoint)
            .record(took.as_secs_f64());
    }
}

fn transient_label(error: &anyhow::Error) -> String {
    if let Some(status) = error.downcast_ref::<HttpStatus>() {
        return format!("http_{}", status.0);
    }
    match error.downcast_ref::<reqwest::Error>() {
        Some(e) if e.is_timeout() => "timeout".to_owned(),
        _ => "unreachable".to_owned(),
    }
}

/// A retryable status, kept as the error so the metric can name it.
#[derive(Debug, thiserror::Error)]
#[error("the platform answered HTTP {0}")]
struct HttpStatus(u16);

async fn exchange(request: reqwest::RequestBuilder) -> Attempt {
    // Without the URL: it may carry a certificate number in its query.
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            return Attempt::Transient {
                error: anyhow::Error::new(e.without_url()),
                retry_after: None,
            };
        }
    };
    let status = response.status();
    let retry_after = backoff::retry_after(
        response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    );
    let body = match response.bytes().await {
        Ok(body) => body.to_vec(),
        Err(e) => {
            return Attempt::Transient {
                error: anyhow::Error::new(e.without_url()).context("read the answer"),
                retry_after: None,
            };
        }
    };
    if status.is_success() {
        return Attempt::Done(Answer { status, body });
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Attempt::Transient {
            error: anyhow::Error::new(HttpStatus(status.as_u16())),
            retry_after: if status == StatusCode::TOO_MANY_REQUESTS {
                retry_after
            } else {
                None
            },
        };
    }
    if status == StatusCode::NOT_FOUND {
        return Attempt::Final(ProvinceError::NotFound);
    }
    let error: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
    Attempt::Final(ProvinceError::Rejected {
        status: status.as_u16(),
        code: error.code,
        message: error.message,
        fields: error
            .fields
            .into_iter()
            .map(|f| (f.field, f.reason))
            .collect(),
    })
}

fn parse<T: DeserializeOwned>(answer: &Answer) -> Result<T, ProvinceError> {
    serde_json::from_slice(&answer.body)
        .map_err(|e| ProvinceError::Invalid(anyhow::Error::new(e).context("read the answer")))
}

fn to_json(body: &impl Serialize) -> Result<Vec<u8>, ProvinceError> {
    // Serialising our own types cannot fail in practice; if it did, nothing was sent.
    serde_json::to_vec(body)
        .map_err(|e| ProvinceError::Invalid(anyhow::Error::new(e).context("encode the request")))
}

fn cause_header(cause: &UseCause) -> Result<HeaderValue, ProvinceError> {
    HeaderValue::from_str(&cause.header_value())
        .map_err(|_| ProvinceError::Invalid(anyhow!("the use cause is not a valid header value")))
}

/// `sblsh` = `item_code` + `yyyyMMdd` (a real date) + 4 to 6 digits.
pub(crate) fn check_sblsh(sblsh: &str, item_code: &str) -> Result<(), ProvinceError> {
    let invalid = || ProvinceError::Invalid(anyhow!("sblsh {sblsh:?} is not of the item's form"));
    let rest = sblsh.strip_prefix(item_code).ok_or_else(invalid)?;
    if item_code.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    if !(12..=14).contains(&rest.len()) {
        return Err(invalid());
    }
    let (date, _sequence) = rest.split_at(8);
    NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|_| invalid())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEM: &str = "11330100002489753F3000125003000";

    #[test]
    fn an_sblsh_is_the_item_code_a_date_and_4_to_6_digits() {
        for ok in ["20261124000001", "202611240001", "2026112400001"] {
            check_sblsh(&format!("{ITEM}{ok}"), ITEM).unwrap();
        }
        for bad in [
            "2026112400000001",
            "20261124001",
            "20261324000001",
            "2026112400000A",
            "",
        ] {
            assert!(check_sblsh(&format!("{ITEM}{bad}"), ITEM).is_err(), "{bad}");
        }
        assert!(check_sblsh("X1330100002489753F300012500300020261124000001", ITEM).is_err());
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        let client = ProvinceClient::new(ProvinceConfig {
            base_url: "http://127.0.0.1:1/api/".into(),
            app_key: "k".into(),
            app_secret: SecretString::from("s"),
            timeout: Duration::from_secs(1),
            max_attempts: 1,
            breaker_failures: 0,
            breaker_cooldown: Duration::from_secs(1),
        })
        .unwrap();
        let url = client.url(&["gov", "v1", "licences", "a/b c"]);
        assert_eq!(url.path(), "/api/gov/v1/licences/a%2Fb%20c");
    }
}
