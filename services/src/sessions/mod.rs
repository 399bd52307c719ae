//! Sessions: citizens' here, staff's in `crate::staff::sessions`, both kept by the one
//! [`store`] (token, keys, sliding and absolute expiry, per-session budget) behind the one
//! in-process [`cache`] (whose revocation bound, [`CACHE_DEPTH`], is stated there).
//!
//! A citizen's session carries the citizen's masked profile, so an authenticated request costs
//! no database query, and — within the cache's depth — no store round trip either. When a
//! profile changes, every live session of that citizen is rewritten; they are found through a
//! per-citizen set.

mod cache;
pub(crate) mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

pub use self::cache::CACHE_DEPTH;
use self::store::{Kind, SessionStore};
use crate::identity::CitizenProfile;
use crate::limits::{Limited, Quota};
use crate::store::{Store, StoreError};
use crate::time::Clock;

/// How long sessions live and how hard they may be used (citizens' and staff's alike).
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// Expiry after the last use.
    pub idle_ttl: Duration,
    /// Expiry after login, however busy the session.
    pub absolute_ttl: Duration,
    /// Requests one session may make per window: `sessions.requests_per_minute` a minute in
    /// every deployment; a shorter window only where a test must see the limit reset quickly.
    pub request_budget: Quota,
}

/// An authenticated citizen's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub citizen_id: i64,
    pub openid: String,
    /// WeChat's session key for this login: decrypts legacy data. Never leaves the server.
    pub session_key: SecretString,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub profile: CitizenProfile,
    token_hash: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Stored {
    cid: i64,
    oid: String,
    sk: String,
    // Integers, not RFC 3339 text: read on every authenticated request.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    iat: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    exp: DateTime<Utc>,
    profile: CitizenProfile,
}

/// Citizens' sessions: `zsb_` tokens, `sess:{…}` entries, `citizen-sessions:{id}` sets.
pub(crate) struct Citizen;

impl Kind for Citizen {
    const TOKEN_PREFIX: &'static str = "zsb_";
    const ENTRY: &'static str = "sess";
    const OWNERS: &'static str = "citizen-sessions";
    const CHANNEL: &'static str = "sessions:citizen";
    type Stored = Stored;

    fn owner(stored: &Stored) -> i64 {
        stored.cid
    }

    fn expires_at(stored: &Stored) -> DateTime<Utc> {
        stored.exp
    }
}

/// Why a bearer token does not open a session.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not a token of ours at all.
    #[error("malformed token")]
    Malformed,
    /// Unknown, revoked, idle too long or past its absolute lifetime.
    #[error("session expired")]
    Expired,
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The citizens' session store.
#[derive(Clone)]
pub struct Sessions {
    inner: SessionStore<Citizen>,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>, config: SessionConfig, clock: Clock) -> Self {
        Self {
            inner: SessionStore::new(store, config, clock),
        }
    }

    /// As [`Sessions::new`] with the in-process cache `depth` deep (zero: every request reads
    /// the store).
    pub fn with_cache_depth(
        store: Arc<dyn Store>,
        config: SessionConfig,
        clock: Clock,
        depth: Duration,
    ) -> Self {
        Self {
            inner: SessionStore::with_cache_depth(store, config, clock, depth),
        }
    }

    pub fn config(&self) -> SessionConfig {
        self.inner.config()
    }

    /// Opens a session and returns its bearer token (shown once, stored only as a hash).
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn create(
        &self,
        citizen_id: i64,
        openid: &str,
        session_key: &SecretString,
        profile: CitizenProfile,
    ) -> Result<(SecretString, Session), StoreError> {
        let (token, hash, stored) = self
            .inner
            .create(|iat, exp| Stored {
                cid: citizen_id,
                oid: openid.to_owned(),
                sk: session_key.expose_secret().to_owned(),
                iat,
                exp,
                profile,
            })
            .await?;
        Ok((token, into_session(&stored, hash)))
    }

    /// The session behind a bearer token; pushes its idle expiry and counts the request.
    ///
    /// # Errors
    /// [`AuthError::Malformed`] for something that is not one of our tokens (the store is not
    /// asked), [`AuthError::Expired`] for an unknown or expired one, [`AuthError::RateLimited`]
    /// past the per-session request budget.
    pub async fn authenticate(&self, token: &str) -> Result<Session, AuthError> {
        let (stored, hash) = self.inner.authenticate(token).await?;
        Ok(into_session(&stored, hash))
    }

    /// Whether a session authenticated earlier still stands (not logged out, not expired).
    /// For work that outlasts its request's start, such as an upload still streaming in: it
    /// asks the store (not the cache), and neither slides the session nor counts as a request.
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn is_live(&self, session: &Session) -> Result<bool, StoreError> {
        self.inner
            .is_live(&session.token_hash, session.expires_at)
            .await
    }

    /// Ends a session (on every instance within [`CACHE_DEPTH`], usually at once).
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn revoke(&self, session: &Session) -> Result<(), StoreError> {
        self.inner
            .end(session.citizen_id, &session.token_hash)
            .await
    }

    /// Writes a changed profile into every live session of its citizen. Callers hold the
    /// citizen's profile lock, so two changes cannot interleave their rewrites.
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn update_profile(&self, profile: &CitizenProfile) -> Result<(), StoreError> {
        self.inner
            .rewrite_all(profile.citizen_id, |stored| {
                stored.profile = profile.clone()
            })
            .await
    }
}

fn into_session(stored: &Stored, token_hash: String) -> Session {
    Session {
        citizen_id: stored.cid,
        openid: stored.oid.clone(),
        session_key: SecretString::from(stored.sk.clone()),
        issued_at: stored.iat,
        expires_at: stored.exp,
        profile: stored.profile.clone(),
        token_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn profile(id: i64) -> CitizenProfile {
        CitizenProfile {
            citizen_id: id,
            phone: None,
            identity: None,
            identity_notice: None,
            created_at: Utc::now(),
        }
    }

    fn sessions(idle: Duration, absolute: Duration, rpm: u64) -> Sessions {
        Sessions::new(
            Arc::new(MemoryStore::new("t:")),
            SessionConfig {
                idle_ttl: idle,
                absolute_ttl: absolute,
                request_budget: Quota::per_minute(rpm),
            },
            Clock::system(),
        )
    }

    #[tokio::test]
    async fn a_token_opens_its_session_until_revoked() {
        let s = sessions(Duration::from_secs(60), Duration::from_secs(600), 100);
        let (token, _) = s
            .create(7, "o1", &SecretString::from("k"), profile(7))
            .await
            .unwrap();
        let session = s.authenticate(token.expose_secret()).await.unwrap();
        assert_eq!(session.citizen_id, 7);
        assert_eq!(session.session_key.expose_secret(), "k");
        s.revoke(&session).await.unwrap();
        assert!(matches!(
            s.authenticate(token.expose_secret()).await,
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn tokens_are_random_and_malformed_ones_are_refused_without_a_lookup() {
        let s = sessions(Duration::from_secs(60), Duration::from_secs(600), 100);
        let (a, _) = s
            .create(1, "o", &SecretString::from("k"), profile(1))
            .await
            .unwrap();
        let (b, _) = s
            .create(1, "o", &SecretString::from("k"), profile(1))
            .await
            .unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().len() >= 4 + 43);
        for bad in ["", "abc", "zsb_short", &format!("{}!", a.expose_secret())] {
            assert!(matches!(
                s.authenticate(bad).await,
                Err(AuthError::Malformed)
            ));
        }
        let forged = format!("zsb_{}", "A".repeat(43));
        assert!(matches!(
            s.authenticate(&forged).await,
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn an_idle_session_expires_and_a_used_one_slides() {
        let s = sessions(Duration::from_millis(300), Duration::from_secs(600), 1000);
        let (token, _) = s
            .create(1, "o", &SecretString::from("k"), profile(1))
            .await
            .unwrap();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            s.authenticate(token.expose_secret()).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert!(matches!(
            s.authenticate(token.expose_secret()).await,
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn a_busy_session_still_ends_at_its_absolute_lifetime() {
        let s = sessions(Duration::from_secs(60), Duration::from_millis(300), 1000);
        let (token, _) = s
            .create(1, "o", &SecretString::from("k"), profile(1))
            .await
            .unwrap();
        s.authenticate(token.expose_secret()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(matches!(
            s.authenticate(token.expose_secret()).await,
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn a_session_past_its_request_budget_is_limited() {
        let s = sessions(Duration::from_secs(60), Duration::from_secs(600), 3);
        crate::store::fresh_window(Duration::from_secs(60)).await;
        let (token, _) = s
            .create(1, "o", &SecretString::from("k"), profile(1))
            .await
            .unwrap();
        for _ in 0..3 {
            s.authenticate(token.expose_secret()).await.unwrap();
        }
        assert!(matches!(
            s.authenticate(token.expose_secret()).await,
            Err(AuthError::RateLimited(_))
        ));
    }

    #[tokio::test]
    async fn a_budget_of_a_shorter_window_resets_after_it_and_says_so() {
        let window = Duration::from_secs(2);
        let s = Sessions::new(
            Arc::new(MemoryStore::new("t:")),
            SessionConfig {
                idle_ttl: Duration::from_secs(60),
                absolute_ttl: Duration::from_secs(600),
                request_budget: Quota { max: 2, window },
            },
            Clock::system(),
        );
        let (token, _) = s
            .create(1, "o", &SecretString::from("k"), profile(1))
            .await
            .unwrap();
        crate::store::fresh_window(window).await;
        for _ in 0..2 {
            s.authenticate(token.expose_secret()).await.unwrap();
        }
        let Err(AuthError::RateLimited(limited)) = s.authenticate(token.expose_secret()).await
        else {
            panic!("the third request of the window must be limited");
        };
        assert!(
            limited.retry_after >= Duration::from_secs(1) && limited.retry_after <= window,
            "{limited:?}"
        );
        tokio::time::sleep(limited.retry_after).await;
        s.authenticate(token.expose_secret()).await.unwrap();
    }

    #[tokio::test]
    async fn a_profile_change_reaches_every_session_of_the_citizen() {
        let s = sessions(Duration::from_secs(60), Duration::from_secs(600), 100);
        let (a, _) = s
            .create(5, "o", &SecretString::from("k"), profile(5))
            .await
            .unwrap();
        let (b, _) = s
            .create(5, "o", &SecretString::from("k"), profile(5))
            .await
            .unwrap();
        let (other, _) = s
            .create(6, "p", &SecretString::from("k"), profile(6))
            .await
            .unwrap();
        let mut changed = profile(5);
        changed.phone = Some("138****8000".into());
        s.update_profile(&changed).await.unwrap();
        for t in [&a, &b] {
            let got = s.authenticate(t.expose_secret()).await.unwrap();
            assert_eq!(got.profile.phone.as_deref(), Some("138****8000"));
        }
        let untouched = s.authenticate(other.expose_secret()).await.unwrap();
        assert_eq!(untouched.profile.phone, None);
    }
}
