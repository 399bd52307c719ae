//! Why a call to the provincial platform failed, sorted by what the caller can do about it.

/// The outcome of a failed call. [`ProvinceError::is_retryable`] says whether trying the same
/// call later may succeed.
#[derive(Debug, thiserror::Error)]
pub enum ProvinceError {
    /// The platform refused the request for good (a 4xx other than 404 and 429): 400 bad
    /// parameters, 401 bad signature, 409 `IDEMPOTENCY_MISMATCH`, 413 materials too large, 422
    /// `VALIDATION` with the offending `fields` as `(field, reason)`.
    #[error("the platform refused the request: HTTP {status} {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
        fields: Vec<(String, String)>,
    },
    /// 404: no such case or licence.
    #[error("the platform knows no such resource")]
    NotFound,
    /// Every attempt failed with 429, a 5xx, a connect error or a timeout: try again later.
    #[error("the platform is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The circuit breaker is open after consecutive failures: no request was made.
    #[error("the platform's circuit breaker is open")]
    CircuitOpen,
    /// A 2xx answer that is not what the contract promises (unreadable JSON, a malformed
    /// `sblsh`, an empty id …).
    #[error("the platform answered something invalid")]
    Invalid(#[source] anyhow::Error),
}

impl ProvinceError {
    /// True for [`ProvinceError::Unavailable`] and [`ProvinceError::CircuitOpen`]: the same call
    /// may succeed later (for POSTs with the same `clientRequestId`, safely).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::CircuitOpen)
    }

    /// The platform's error code when it refused the request.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }
}
