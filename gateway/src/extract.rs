//! Extractors: the current citizen or staff member from `Authorization: Bearer …`, and the
//! client's address. Citizen (`zsb_`) and staff (`zst_`) tokens live apart: each extractor
//! answers 401 `UNAUTHENTICATED` to the other kind without asking the store.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use futures::future::LocalBoxFuture;
use miniprogram_api::ErrorCode;
use services::sessions::{AuthError, Session};
use services::staff::{Role, StaffSession};

use crate::audit::StaffActor;
use crate::error::ApiError;
use crate::startup::AppState;

/// The citizen whose session the bearer token opens.
#[derive(Debug)]
pub struct CurrentCitizen(pub Session);

impl FromRequest for CurrentCitizen {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = authenticated(req, async |state: &AppState, token: &str| {
            state.identity.sessions().authenticate(token).await
        });
        Box::pin(async move { Ok(CurrentCitizen(session.await?)) })
    }
}

/// The citizen and whom they act for: themselves, or — with `?memberId=` — a live family member
/// (一部手机绑定多人). The relation is checked here, once, for every route that acts for a
/// member (booking, tickets, applications, licences); handlers only pass the [`Acting`] on.
///
/// [`Acting`]: services::identity::Acting
#[derive(Debug)]
pub struct ActingCitizen {
    pub session: Session,
    pub acting: services::identity::Acting,
}

impl FromRequest for ActingCitizen {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let citizen = CurrentCitizen::from_request(req, payload);
        let member =
            web::Query::<miniprogram_api::family::ForMember>::from_query(req.query_string())
                .map(|q| q.into_inner().member_id);
        Box::pin(async move {
            let CurrentCitizen(session) = citizen.await?;
            let state =
                state.ok_or_else(|| ApiError::unexpected(anyhow::anyhow!("no app state")))?;
            // As every query that does not parse (`QueryConfig`): 400 `BAD_REQUEST`.
            let member = member.map_err(|e| {
                ApiError::new(ErrorCode::BadRequest)
                    .with_message("memberId 须为家庭成员的编号")
                    .caused_by(anyhow::anyhow!("{e}"))
            })?;
            let acting = state
                .identity
                .acting(session.citizen_id, member)
                .await
                .map_err(crate::routes::family::family_error)?;
            Ok(ActingCitizen { session, acting })
        })
    }
}

/// The staff member whose session the bearer token opens (a `zst_` token; a citizen's is 401).
#[derive(Debug)]
pub struct CurrentStaff(pub StaffSession);

impl CurrentStaff {
    /// 403 `FORBIDDEN` unless the member may act as `role` at `hall_id`.
    pub fn require(&self, role: Role, hall_id: i64) -> Result<(), ApiError> {
        if self.0.allows(role, hall_id) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden))
        }
    }
}

impl FromRequest for CurrentStaff {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = authenticated(req, async |state: &AppState, token: &str| {
            state.staff.authenticate(token).await
        });
        let req = req.clone();
        Box::pin(async move {
            let session = session.await?;
            // Who acted, for the audit trail's middleware (`crate::audit`).
            req.extensions_mut().insert(StaffActor {
                staff_id: session.staff_id,
                username: session.username.clone(),
            });
            Ok(CurrentStaff(session))
        })
    }
}

/// The one shape of every session extractor: the bearer token, opened by `open` (the citizen's
/// or the staff's store), its failures answered alike — 401 `UNAUTHENTICATED` without a token
/// or for a malformed one or one of the other kind, 401 `SESSION_EXPIRED` for an ended session,
/// 429 over the session's request budget.
fn authenticated<T: 'static>(
    req: &HttpRequest,
    open: impl AsyncFnOnce(&AppState, &str) -> Result<T, AuthError> + 'static,
) -> impl Future<Output = Result<T, ApiError>> + 'static {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer(req).map(str::to_owned);
    async move {
        let state = state.ok_or_else(|| ApiError::unexpected(anyhow::anyhow!("no app state")))?;
        let token = token.ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))?;
        open(&state, &token).await.map_err(auth_error)
    }
}

/// A session that did not open, as the API answers it.
pub(crate) fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Malformed => ApiError::new(ErrorCode::Unauthenticated),
        AuthError::Expired => ApiError::new(ErrorCode::SessionExpired),
        AuthError::RateLimited(l) => ApiError::rate_limited(l),
        AuthError::Store(e) => ApiError::unexpected(e),
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case), for the extractors
/// and for the WebSockets, which read it before the upgrade.
pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The client's IP: the peer, or — when configured to trust the proxy in front — the last
/// `X-Forwarded-For` entry, the one that proxy appended. Earlier entries (and `Forwarded`) come
/// from the client and would let it pick any address to dodge the per-IP login limit.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> Option<IpAddr> {
    let forwarded = trust_forwarded_for
        .then(|| {
            req.headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .last()
                .and_then(|last| parse_ip(last.trim()))
        })
        .flatten();
    forwarded.or_else(|| req.peer_addr().map(|a| a.ip()))
}

/// `1.2.3.4`, `::1`, or either with a port.
fn parse_ip(addr: &str) -> Option<IpAddr> {
    addr.parse::<IpAddr>()
        .ok()
        .or_else(|| addr.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// The `Idempotency-Key` header, if sent: 1 to 64 visible ASCII characters, else a 422 naming it.
///
/// # Errors
/// `VALIDATION_FAILED` for a key of another form.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=64).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| {
            ApiError::new(ErrorCode::ValidationFailed)
                .with_message("Idempotency-Key 须为1至64个可见ASCII字符")
                .with_field("Idempotency-Key", "须为1至64个可见ASCII字符")
        })
}

/// A date from a query, a path or a body, as the one [`Day`](services::time::Day) range every
/// input date is held to: 422 `VALIDATION_FAILED` naming `field` otherwise.
pub fn day(field: &str, date: chrono::NaiveDate) -> Result<services::time::Day, ApiError> {
    services::time::Day::new(date).map_err(|e| out_of_range(field, &e))
}

/// A year of the working-day calendar, in the same range as [`day`].
pub fn year(field: &str, raw: i32) -> Result<i32, ApiError> {
    services::time::Day::year(raw).map_err(|e| out_of_range(field, &e))
}

fn out_of_range(field: &str, e: &services::time::OutOfRange) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed)
        .with_message(format!("{field}：{e}"))
        .with_field(field, e.to_string())
}
