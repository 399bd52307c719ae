//! Staff sessions, kept by the one session store (`crate::sessions::store`) apart from
//! citizens' ones: their own token prefix (`zst_`), their own keys (`staff-sess:{sha256}`), their
//! own per-member set (`staff-sessions:{id}`), their own invalidation channel. A citizen's token
//! can never open one, nor a staff token a citizen's session.
//!
//! A session carries a snapshot of the member's roles, so authorising a request costs no
//! database query (and, within the cache's depth, no store round trip). The snapshot is never
//! patched: deactivating a member or changing their roles revokes every one of their sessions
//! (on every instance within `crate::sessions::CACHE_DEPTH`, usually at once), and they log in
//! again.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::roles::{self, Grant, HallScope, Role};
use crate::sessions::store::{self, Kind, SessionStore};
use crate::sessions::{AuthError, SessionConfig};
use crate::store::{Store, StoreError};
use crate::time::Clock;

/// How long staff sessions live and how hard they may be used: the one [`SessionConfig`]
/// (8 h idle and a 12 h shift by default; `staff.requests_per_minute`).
pub type StaffSessionConfig = SessionConfig;

/// An authenticated staff member, as they were when they logged in.
#[derive(Debug, Clone)]
pub struct StaffSession {
    pub staff_id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Grant>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    token_hash: String,
}

impl StaffSession {
    /// Whether the member may act as `role` at `hall_id`: an admin (of that hall or of every
    /// hall) may do anything there, a clerk may act as clerk and verifier, a verifier only
    /// verifies.
    pub fn allows(&self, role: Role, hall_id: i64) -> bool {
        roles::allows(&self.roles, role, hall_id)
    }

    /// An admin of every hall.
    pub fn is_global_admin(&self) -> bool {
        roles::is_global_admin(&self.roles)
    }

    /// Whether the member may give someone `role` at `scope` (see [`roles::may_grant`]).
    pub fn may_grant(&self, role: Role, scope: HallScope) -> bool {
        roles::may_grant(&self.roles, (role, scope))
    }

    /// Whether the member may manage someone holding `theirs` (see [`roles::may_manage`]).
    pub fn may_manage(&self, theirs: &[Grant]) -> bool {
        roles::may_manage(&self.roles, theirs)
    }

    /// The halls this member administers: `None` for every hall.
    pub fn admin_halls(&self) -> Option<Vec<i64>> {
        if self.is_global_admin() {
            return None;
        }
        Some(
            self.roles
                .iter()
                .filter(|(role, _)| *role == Role::Admin)
                .filter_map(|(_, scope)| scope.hall_id())
                .collect(),
        )
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    sid: i64,
    usr: String,
    dn: String,
    roles: Vec<(Role, Option<i64>)>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    iat: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    exp: DateTime<Utc>,
}

/// Staff sessions: `zst_` tokens, `staff-sess:{…}` entries, `staff-sessions:{id}` sets.
pub(crate) struct Staff;

impl Kind for Staff {
    const TOKEN_PREFIX: &'static str = "zst_";
    const ENTRY: &'static str = "staff-sess";
    const OWNERS: &'static str = "staff-sessions";
    const CHANNEL: &'static str = "sessions:staff";
    type Stored = Stored;

    fn owner(stored: &Stored) -> i64 {
        stored.sid
    }

    fn expires_at(stored: &Stored) -> DateTime<Utc> {
        stored.exp
    }
}

/// The staff session store.
#[derive(Clone)]
pub struct StaffSessions {
    inner: SessionStore<Staff>,
}

/// Whether `token` looks like one of ours: `zst_` and 43 characters of base64url.
pub fn is_staff_token(token: &str) -> bool {
    store::is_well_formed(token, Staff::TOKEN_PREFIX)
}

/// What a new session is made of.
pub(super) struct NewSession<'a> {
    pub staff_id: i64,
    pub username: &'a str,
    pub display_name: &'a str,
    pub roles: Vec<Grant>,
}

impl StaffSessions {
    pub fn new(store: Arc<dyn Store>, config: StaffSessionConfig, clock: Clock) -> Self {
        Self {
            inner: SessionStore::new(store, config, clock),
        }
    }

    pub fn config(&self) -> StaffSessionConfig {
        self.inner.config()
    }

    /// Opens a session and returns its bearer token (shown once, stored only as a hash).
    pub(super) async fn create(
        &self,
        new: NewSession<'_>,
    ) -> Result<(SecretString, StaffSession), StoreError> {
        let (token, hash, stored) = self
            .inner
            .create(|iat, exp| Stored {
                sid: new.staff_id,
                usr: new.username.to_owned(),
                dn: new.display_name.to_owned(),
                roles: new
                    .roles
                    .iter()
                    .map(|(role, scope)| (*role, scope.hall_id()))
                    .collect(),
                iat,
                exp,
            })
            .await?;
        Ok((token, into_session(&stored, hash)))
    }

    /// The session behind a bearer token; pushes its idle expiry and counts the request.
    ///
    /// # Errors
    /// [`AuthError::Malformed`] for anything but a staff token (a citizen's included; the
    /// store is not asked), [`AuthError::Expired`] for an unknown, revoked or expired one,
    /// [`AuthError::RateLimited`] past the per-session request budget.
    pub async fn authenticate(&self, token: &str) -> Result<StaffSession, AuthError> {
        let (stored, hash) = self.inner.authenticate(token).await?;
        Ok(into_session(&stored, hash))
    }

    /// Ends one session.
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn revoke(&self, session: &StaffSession) -> Result<(), StoreError> {
        self.inner.end(session.staff_id, &session.token_hash).await
    }

    /// Ends every session of a member.
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn revoke_all(&self, staff_id: i64) -> Result<(), StoreError> {
        self.inner.end_all(staff_id).await
    }
}

fn into_session(stored: &Stored, token_hash: String) -> StaffSession {
    StaffSession {
        staff_id: stored.sid,
        username: stored.usr.clone(),
        display_name: stored.dn.clone(),
        roles: stored
            .roles
            .iter()
            .map(|(role, hall)| (*role, HallScope::from_hall_id(*hall)))
            .collect(),
        issued_at: stored.iat,
        expires_at: stored.exp,
        token_hash,
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use std::time::Duration;

    use super::*;
    use crate::limits::Quota;
    use crate::store::MemoryStore;

    fn sessions(idle: Duration, absolute: Duration) -> StaffSessions {
        StaffSessions::new(
            Arc::new(MemoryStore::new("t:")),
            StaffSessionConfig {
                idle_ttl: idle,
                absolute_ttl: absolute,
                request_budget: Quota::per_minute(1000),
            },
            Clock::system(),
        )
    }

    fn new(id: i64) -> NewSession<'static> {
        NewSession {
            staff_id: id,
            username: "clerk",
            display_name: "王芳",
            roles: vec![(Role::Clerk, HallScope::Hall(3))],
        }
    }

    #[tokio::test]
    async fn a_staff_token_opens_its_session_with_the_roles_snapshot() {
        let s = sessions(Duration::from_secs(60), Duration::from_secs(600));
        let (token, _) = s.create(new(7)).await.unwrap();
        assert!(token.expose_secret().starts_with("zst_"));
        assert_eq!(token.expose_secret().len(), 4 + 43);
        let session = s.authenticate(token.expose_secret()).await.unwrap();
        assert_eq!(session.staff_id, 7);
        assert_eq!(session.roles, vec![(Role::Clerk, HallScope::Hall(3))]);
        assert!(session.allows(Role::Verifier, 3));
        assert!(!session.allows(Role::Verifier, 4));
    }

    #[tokio::test]
    async fn a_citizen_token_is_malformed_here() {
        let s = sessions(Duration::from_secs(60), Duration::from_secs(600));
        let citizen = format!("zsb_{}", "A".repeat(43));
        assert!(matches!(
            s.authenticate(&citizen).await,
            Err(AuthError::Malformed)
        ));
        let forged = format!("zst_{}", "A".repeat(43));
        assert!(matches!(
            s.authenticate(&forged).await,
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn revoking_all_ends_every_session_of_the_member_only() {
        let s = sessions(Duration::from_secs(60), Duration::from_secs(600));
        let (a, _) = s.create(new(1)).await.unwrap();
        let (b, _) = s.create(new(1)).await.unwrap();
        let (other, _) = s.create(new(2)).await.unwrap();
        s.revoke_all(1).await.unwrap();
        for t in [&a, &b] {
            assert!(matches!(
                s.authenticate(t.expose_secret()).await,
                Err(AuthError::Expired)
            ));
        }
        s.authenticate(other.expose_secret()).await.unwrap();
    }

    #[tokio::test]
    async fn a_busy_session_still_ends_at_its_absolute_lifetime() {
        let s = sessions(Duration::from_secs(60), Duration::from_millis(300));
        let (token, _) = s.create(new(1)).await.unwrap();
        s.authenticate(token.expose_secret()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(matches!(
            s.authenticate(token.expose_secret()).await,
            Err(AuthError::Expired)
        ));
    }
}
