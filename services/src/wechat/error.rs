use crate::store::StoreError;

/// Why a call to WeChat failed. `Api` carries WeChat's own `errcode`; the domain decides what each
/// means for the citizen (see `identity`).
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    #[error("WeChat answered errcode {code}: {message}")]
    Api { code: i64, message: String },
    /// The request did not get an answer (connect error, timeout, cut connection). The URL is
    /// stripped from the source: it carries the app secret or the access token.
    #[error("WeChat could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("WeChat answered HTTP {0}")]
    Status(u16),
    #[error("unexpected answer from WeChat: {0}")]
    Malformed(String),
    #[error("waited too long for another instance to refresh the access token")]
    TokenRefreshTimeout,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// WeChat's errcode for "system busy, retry".
pub const BUSY: i64 = -1;

impl WechatError {
    pub(crate) fn unreachable(e: reqwest::Error) -> Self {
        Self::Unreachable(e.without_url())
    }

    /// WeChat's errcode, when WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Worth trying again after a pause: busy, unreachable, or a 5xx in front of WeChat.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { code, .. } => *code == BUSY,
            Self::Unreachable(_) => true,
            Self::Status(s) => *s >= 500,
            _ => false,
        }
    }

    /// WeChat certainly did not act on the request: it said busy, or no connection was made.
    /// Only these are retried inside a call that is not idempotent (sending a message): after a
    /// timeout or a cut connection WeChat may have sent it already.
    pub fn surely_not_done(&self) -> bool {
        match self {
            Self::Api { code, .. } => *code == BUSY,
            Self::Unreachable(e) => e.is_connect(),
            _ => false,
        }
    }

    /// The access token used is no longer good (invalid, not the latest, or expired).
    pub fn is_token_rejected(&self) -> bool {
        matches!(self.errcode(), Some(40001 | 40014 | 42001))
    }
}
