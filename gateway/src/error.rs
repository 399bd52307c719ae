//! The one place where an error becomes an HTTP status and a body. Every error body is
//! `{"code","message","requestId"}` with a stable code from `miniprogram_api::ErrorCode`; an
//! unexpected error is a 500 whose body says nothing of its cause, which goes to the log instead.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use miniprogram_api::error::FieldError;
use miniprogram_api::{ErrorBody, ErrorCode};

use crate::request_id;

/// What a 503 for an unreachable database or store asks the client to wait: about the time a
/// PostgreSQL restart or a Redis failover takes.
const OUTAGE_RETRY_AFTER: Duration = Duration::from_secs(2);

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: Option<String>,
    fields: Vec<FieldError>,
    retry_after: Option<Duration>,
    until: Option<String>,
    cause: Option<anyhow::Error>,
}

/// When a refusal's condition ends: a day, or a moment.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    Day(chrono::NaiveDate),
    At(chrono::DateTime<chrono::Utc>),
}

impl From<chrono::NaiveDate> for Until {
    fn from(day: chrono::NaiveDate) -> Self {
        Self::Day(day)
    }
}

impl From<chrono::DateTime<chrono::Utc>> for Until {
    fn from(at: chrono::DateTime<chrono::Utc>) -> Self {
        Self::At(at)
    }
}

/// Marks a response whose body already has the error shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shaped;

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: None,
            fields: Vec::new(),
            retry_after: None,
            until: None,
            cause: None,
        }
    }

    /// Something went wrong that the citizen cannot fix; `cause` is logged, never sent.
    ///
    /// When the cause is that the database or the store cannot be reached (a restart, a
    /// failover, a lost network: [`services::outage::is_outage`]) the answer is 503
    /// `SERVICE_UNAVAILABLE` with `Retry-After`, which tells the client to try again, rather
    /// than a 500, which says the request itself broke something.
    pub fn unexpected(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        if services::outage::is_outage(&cause) {
            return Self {
                cause: Some(cause),
                ..Self::new(ErrorCode::ServiceUnavailable).with_retry_after(OUTAGE_RETRY_AFTER)
            };
        }
        Self {
            cause: Some(cause),
            ..Self::new(ErrorCode::Internal)
        }
    }

    /// A more precise message than the code's default.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Names the field at fault, with the reason shown to the citizen.
    pub fn with_field(mut self, field: &str, reason: impl Into<String>) -> Self {
        self.fields.push(FieldError {
            field: field.to_owned(),
            reason: reason.into(),
        });
        self
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(limited: services::limits::Limited) -> Self {
        Self::new(ErrorCode::RateLimited).with_retry_after(limited.retry_after)
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// When the condition ends: a ban's last day (`2027-02-21`) or a moment, written as every
    /// time of the API is (RFC 3339 in UTC with `Z`, as serde writes a `DateTime<Utc>`).
    pub fn with_until(mut self, until: impl Into<Until>) -> Self {
        self.until = Some(match until.into() {
            Until::Day(day) => day.format("%Y-%m-%d").to_string(),
            Until::At(at) => at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        });
        self
    }

    /// Keeps the cause of an expected error for the log (e.g. WeChat's errcode behind a 503).
    pub fn caused_by(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The error the gateway answers for a bare status produced outside our handlers
    /// (unknown route, wrong method, a framework error).
    pub(crate) fn for_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            429 => ErrorCode::RateLimited,
            401 => ErrorCode::Unauthenticated,
            503 => ErrorCode::ServiceUnavailable,
            s if (400..500).contains(&s) => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        };
        Self::new(code)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code.as_str())?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause:#}")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use ErrorCode as C;
        match self.code {
            C::BadRequest
            | C::InvalidJson
            | C::WechatCodeInvalid
            | C::WechatCodeUsed
            | C::PhoneCodeInvalid
            | C::PhoneDataInvalid => StatusCode::BAD_REQUEST,
            C::ValidationFailed
            | C::InvalidIdCardNo
            | C::InvalidName
            | C::ItemNotBookable
            | C::SlotNotForItem
            | C::SlotPast
            | C::OutsideBookingWindow
            | C::SlotNotReleased
            | C::SlotTooSoon
            | C::HallClosed
            | C::BookingLimitReached
            | C::IdempotencyKeyReused
            | C::HallQrInvalid
            | C::CalendarInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            C::IdentityRequired | C::IdentityNotVerified | C::BookingBanned => {
                StatusCode::FORBIDDEN
            }
            C::FaceVerificationRequired => StatusCode::GONE,
            C::LicenceHolderMismatch | C::LicenceHolderOnly => StatusCode::FORBIDDEN,
            C::FamilyMemberLimitReached | C::FamilyMemberAlreadyAdded => StatusCode::CONFLICT,
            C::FamilyMemberIsSelf => StatusCode::UNPROCESSABLE_ENTITY,
            C::FamilyMemberNotFound => StatusCode::NOT_FOUND,
            C::VerificationNotFound => StatusCode::NOT_FOUND,
            C::VerificationFinished => StatusCode::CONFLICT,
            // The attempt is over and nothing is bound: the citizen starts a new one.
            C::VerificationExpired
            | C::FaceVerifyCancelled
            | C::FaceCameraNotAllowed
            | C::FaceNotMatched
            | C::FaceVerifyTimeout
            | C::FaceDeviceUnsupported
            | C::FaceVerifySystemError
            | C::FaceVerifyRefused => StatusCode::UNPROCESSABLE_ENTITY,
            C::ItemNotFound | C::HallNotFound | C::SlotNotFound | C::BookingNotFound => {
                StatusCode::NOT_FOUND
            }
            C::CategoryNotFound | C::CounterNotFound => StatusCode::NOT_FOUND,
            C::LicenceNotFound | C::TicketNotFound => StatusCode::NOT_FOUND,
            C::HallNotOpen | C::CategoryNotForItem => StatusCode::UNPROCESSABLE_ENTITY,
            C::TicketAlreadyLive
            | C::NoTicketWaiting
            | C::TicketStateChanged
            | C::RecallLimitReached
            | C::CounterBusy
            | C::CounterInactive
            | C::NoCounterOpen => StatusCode::CONFLICT,
            C::CitizenCodeInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            C::StaffPasswordWrong => StatusCode::FORBIDDEN,
            C::MaterialNotFound | C::ApplicationNotFound => StatusCode::NOT_FOUND,
            C::OnBehalfNeedsConsent | C::ConsentPersonNotFound => StatusCode::UNPROCESSABLE_ENTITY,
            C::ConsentNotFound => StatusCode::NOT_FOUND,
            C::BundleNotFound | C::BundleApplicationNotFound => StatusCode::NOT_FOUND,
            C::BundleNotOnline | C::ItemOrBundleRequired | C::BundleNotBookable => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            C::ConsentAlreadyAnswered | C::ConsentExpired => StatusCode::CONFLICT,
            C::PhoneRequired => StatusCode::FORBIDDEN,
            C::ItemNotOnline | C::MaterialsInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            C::MaterialTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            C::MaterialTypeUnsupported => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            C::SupplementNotRequested | C::SupplementAlreadySubmitted | C::ApplicationNotParked => {
                StatusCode::CONFLICT
            }
            C::BadSignature | C::StaleRequest | C::ReplayedNonce => StatusCode::UNAUTHORIZED,
            C::EvaluationSubjectNotFound | C::RectificationNotFound | C::InboxEntryNotFound => {
                StatusCode::NOT_FOUND
            }
            C::EvaluationNotOpen
            | C::EvaluationWindowClosed
            | C::AlreadyEvaluated
            | C::FollowUpNotAllowed
            | C::RectificationStateChanged
            | C::CommentNotInReview => StatusCode::CONFLICT,
            C::EvaluationCommentRejected => StatusCode::UNPROCESSABLE_ENTITY,
            C::HallCodeTaken
            | C::CategoryCodeTaken
            | C::QueuePrefixTaken
            | C::CounterNumberTaken
            | C::SyncInProgress => StatusCode::CONFLICT,
            C::SlotFull
            | C::AlreadyBooked
            | C::BookingNotChangeable
            | C::CancelTooLate
            | C::CheckinTooEarly
            | C::CheckinTooLate
            | C::WrongHall => StatusCode::CONFLICT,
            C::Unauthenticated | C::SessionExpired | C::StaffLoginFailed => {
                StatusCode::UNAUTHORIZED
            }
            C::WechatUserBlocked | C::StaffDisabled | C::Forbidden => StatusCode::FORBIDDEN,
            C::UsernameTaken => StatusCode::CONFLICT,
            C::WeakPassword => StatusCode::UNPROCESSABLE_ENTITY,
            C::NotFound => StatusCode::NOT_FOUND,
            C::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            C::IdentityTaken | C::IdentityAlreadyBound => StatusCode::CONFLICT,
            C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            C::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            C::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            C::UpstreamUnavailable | C::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let request_id = request_id::current();
        match (&self.cause, status.is_server_error()) {
            // `{:#}`: the whole chain of causes on one line, without a backtrace.
            (Some(cause), true) => {
                let error = format!("{cause:#}");
                tracing::error!(code = self.code.as_str(), error, "request failed");
            }
            (Some(cause), false) => {
                let error = format!("{cause:#}");
                tracing::info!(code = self.code.as_str(), error, "request refused");
            }
            (None, _) => tracing::debug!(code = self.code.as_str(), "request refused"),
        }
        let body = ErrorBody {
            code: self.code,
            message: self
                .message
                .clone()
                .unwrap_or_else(|| self.code.message().to_owned()),
            request_id,
            fields: self.fields.clone(),
            until: self.until.clone(),
        };
        let mut response = HttpResponse::build(status);
        if let Some(after) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, after.as_secs().max(1)));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        let mut response = response.json(body);
        response.extensions_mut().insert(Shaped);
        response
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::unexpected(e)
    }
}
