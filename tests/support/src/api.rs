//! Speaking HTTP to a gateway: [`Api`] sends, [`Reply`] is what came back, read as the
//! `miniprogram-api` type the route answers ([`Reply::json`], [`Reply::expect`]) or, for what the
//! wire types do not cover (an unknown field, the exact JSON shape), as `body`.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use miniprogram_api::error::ErrorBody;
use miniprogram_api::staff::{StaffLoginRequest, StaffLoginResponse};
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A gateway's public listener: `http://127.0.0.1:<port>`, and a client for it.
#[derive(Debug, Clone)]
pub struct Api {
    pub address: String,
    pub http: reqwest::Client,
}

/// The response of a call: status, headers, and the body as JSON (or `Null`).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    /// The body as the wire type `T`; panics (naming the reply) when it is not one.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "the body is not a {}: {e}: {self:?}",
                std::any::type_name::<T>()
            )
        })
    }

    /// Asserts the status, then reads the body as `T`.
    #[track_caller]
    pub fn expect<T: DeserializeOwned>(&self, status: StatusCode) -> T {
        assert_eq!(self.status, status, "{self:?}");
        self.json()
    }

    /// Asserts `200 OK`, then reads the body as `T`.
    #[track_caller]
    pub fn ok<T: DeserializeOwned>(&self) -> T {
        self.expect(StatusCode::OK)
    }

    /// Asserts `201 Created`, then reads the body as `T`.
    #[track_caller]
    pub fn created<T: DeserializeOwned>(&self) -> T {
        self.expect(StatusCode::CREATED)
    }

    /// The answer as the error envelope ([`ErrorBody`]: code, Chinese message, request id,
    /// field problems); panics when it is not an error, does not parse as one (an unknown code
    /// included), its message is not Chinese or its `requestId` is not the header's.
    #[track_caller]
    pub fn error(&self) -> ErrorBody {
        assert!(
            self.status.is_client_error() || self.status.is_server_error(),
            "{self:?}"
        );
        let error: ErrorBody = self.json();
        assert!(
            error
                .message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "the message is for a Chinese citizen: {}",
            error.message
        );
        assert_eq!(
            self.headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            Some(error.request_id.as_str()),
            "the body's requestId is the header's"
        );
        error
    }

    /// Asserts the error shape ([`Reply::error`]) and returns the code as the wire writes it.
    #[track_caller]
    pub fn error_code(&self) -> &'static str {
        self.error().code.as_str()
    }

    /// Asserts an error answer: status, code and a Chinese message.
    #[track_caller]
    pub fn assert_refused(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.error_code(), code, "{self:?}");
    }
}

/// Every body any test received, to check that secrets never leave the server.
pub fn received_bodies() -> &'static Mutex<Vec<String>> {
    static BODIES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    BODIES.get_or_init(Default::default)
}

impl Api {
    /// A client of the gateway at `address` (`http://host:port`).
    pub fn new(address: impl Into<String>) -> Api {
        Api {
            address: address.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        received_bodies()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text.clone());
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    fn with_token(
        request: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Self::with_token(self.http.get(self.url(path)), token))
            .await
    }

    /// `POST` with a JSON body: a wire request type, or `json!(…)` for what it cannot say.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &(impl Serialize + ?Sized),
    ) -> Reply {
        self.send(Self::with_token(
            self.http.post(self.url(path)).json(body),
            token,
        ))
        .await
    }

    pub async fn put(
        &self,
        path: &str,
        token: Option<&str>,
        body: &(impl Serialize + ?Sized),
    ) -> Reply {
        self.send(Self::with_token(
            self.http.put(self.url(path)).json(body),
            token,
        ))
        .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Self::with_token(self.http.delete(self.url(path)), token))
            .await
    }

    pub async fn login_code(&self, code: &str) -> Reply {
        self.post(
            "/api/v1/auth/login",
            None,
            &miniprogram_api::auth::LoginRequest {
                code: code.to_owned(),
            },
        )
        .await
    }

    /// `POST /staff/v1/auth/login`, asserting it succeeds.
    pub async fn staff_login(&self, username: &str, password: &str) -> StaffLoginResponse {
        self.post(
            "/staff/v1/auth/login",
            None,
            &StaffLoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            },
        )
        .await
        .ok()
    }
}
