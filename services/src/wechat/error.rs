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
    /// Getting an access token failed, so the call was never made. WeChat's code in it is the
    /// token endpoint's, not the call's: a 43101 here says nothing of a citizen's consent.
    #[error("getting an access token failed")]
    Token(#[source] Box<WechatError>),
}

/// WeChat's errcode for "system busy, retry".
pub const BUSY: i64 = -1;
/// WeChat's errcode for "too many calls this minute": the call was refused, retry later.
pub const MINUTE_QUOTA: i64 = 45011;

impl WechatError {
    pub(crate) fn unreachable(e: reqwest::Error) -> Self {
        Self::Unreachable(e.without_url())
    }

    /// Wraps an error met while getting the access token for a call.
    pub(crate) fn token(e: WechatError) -> Self {
        match e {
            Self::Token(_) => e,
            other => Self::Token(Box::new(other)),
        }
    }

    /// WeChat's errcode for the call itself, when WeChat answered with one (never the token
    /// endpoint's: see [`WechatError::Token`]).
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Worth trying again after a pause: busy, unreachable, or a 5xx in front of WeChat; for a
    /// token that could not be had, also the token endpoint's minute quota and a refresh by
    /// another instance that never finished.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { code, .. } => *code == BUSY,
            Self::Unreachable(_) => true,
            Self::Status(s) => *s >= 500,
            Self::Token(inner) => {
                inner.is_transient()
                    || inner.is_rate_limited()
                    || matches!(**inner, Self::TokenRefreshTimeout | Self::Store(_))
            }
            _ => false,
        }
    }

    /// 45011: the minute quota of this API is spent. Nothing was done; retry after a pause.
    pub fn is_rate_limited(&self) -> bool {
        self.errcode() == Some(MINUTE_QUOTA)
    }

    /// WeChat certainly did not act on the request: it said busy or rate limited, no
    /// connection was made, or no token could be had to make the call. Only these are retried
    /// inside a call that is not idempotent (sending a message): after a timeout or a cut
    /// connection WeChat may have sent it already.
    pub fn surely_not_done(&self) -> bool {
        match self {
            Self::Api { code, .. } => *code == BUSY || *code == MINUTE_QUOTA,
            Self::Unreachable(e) => e.is_connect(),
            Self::Token(_) => true,
            _ => false,
        }
    }

    /// The request was written and no answer was read (a timeout or a cut connection after
    /// connecting): WeChat may well have acted on it.
    pub fn maybe_done(&self) -> bool {
        matches!(self, Self::Unreachable(e) if !e.is_connect())
    }

    /// The access token used is no longer good (invalid, not the latest, or expired).
    pub fn is_token_rejected(&self) -> bool {
        matches!(self.errcode(), Some(40001 | 40014 | 42001))
    }
}
