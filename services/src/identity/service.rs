//! Logging in with WeChat, binding a phone. A real-name identity is bound only through face
//! verification (`verification.rs`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait as _};
use secrecy::{ExposeSecret as _, SecretString};

use super::citizens::{self, PHONE, context};
use super::profile::{CitizenProfile, profile_of};
use super::verification::VerificationLimits;
use super::{PhoneNumber, PhoneNumberError};
use crate::Deps;
use crate::crypto::{BlindIndex, FieldCipher};
use crate::limits::{LimitError, Limited, Quota, RateLimiter};
use crate::sessions::{Session, Sessions};
use crate::store::{Lock, Store};
use crate::time::Clock;
use crate::wechat::{WechatClient, WechatError, legacy};
use entities::citizen;

/// Blind-index domains: the same value in two columns hashes differently.
pub(super) const ID_CARD_INDEX: &str = "citizens.id_card_no";
const PHONE_INDEX: &str = "citizens.phone";

/// How often one may try to log in.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Per client IP: generous, since a hall's Wi-Fi or a carrier's NAT puts many behind one.
    pub per_ip: Quota,
    /// Per WeChat user.
    pub per_openid: Quota,
}

/// A fresh session.
#[derive(Debug)]
pub struct LoggedIn {
    pub token: SecretString,
    pub idle_ttl: Duration,
    pub profile: CitizenProfile,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the login code is invalid or expired")]
    CodeInvalid,
    #[error("the login code was used already")]
    CodeUsed,
    #[error("WeChat blocks this user")]
    UserBlocked,
    #[error(transparent)]
    RateLimited(Limited),
    #[error("WeChat is busy or unreachable")]
    UpstreamBusy(#[source] WechatError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Proof of a phone number from the mini-program.
#[derive(Debug)]
pub enum PhoneProof {
    /// The code of the getPhoneNumber button.
    Code(String),
    /// Legacy: the encrypted data and iv, decrypted with the session key.
    Encrypted { encrypted_data: String, iv: String },
}

#[derive(Debug, thiserror::Error)]
pub enum BindPhoneError {
    #[error("the phone code is invalid, expired or used")]
    CodeInvalid,
    #[error("the encrypted phone data does not decrypt or is not ours")]
    DataInvalid,
    #[error(transparent)]
    Number(#[from] PhoneNumberError),
    #[error(transparent)]
    RateLimited(Limited),
    #[error("WeChat is busy or unreachable")]
    UpstreamBusy(#[source] WechatError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Citizens' identity: WeChat login, phone, real name.
#[derive(Clone)]
pub struct IdentityService {
    pub(super) db: DatabaseConnection,
    store: Arc<dyn Store>,
    pub(super) cipher: Arc<FieldCipher>,
    pub(super) index: Arc<BlindIndex>,
    pub(super) wechat: WechatClient,
    sessions: Sessions,
    pub(super) limiter: RateLimiter,
    limits: LoginLimits,
    pub(super) verification: VerificationLimits,
    pub(super) clock: Clock,
    /// Live family members one account may hold.
    pub(super) family_max: u32,
}

impl IdentityService {
    /// The identity service of `deps`, opening citizens' `sessions`, under `limits` and
    /// `verification`'s.
    pub fn new(
        deps: &Deps,
        sessions: Sessions,
        limits: LoginLimits,
        verification: VerificationLimits,
    ) -> Self {
        Self {
            verification,
            clock: deps.clock.clone(),
            family_max: super::DEFAULT_MAX_MEMBERS,
            limiter: RateLimiter::new(Arc::clone(&deps.store)),
            db: deps.db.clone(),
            store: Arc::clone(&deps.store),
            cipher: Arc::clone(&deps.cipher),
            index: Arc::clone(&deps.index),
            wechat: deps.wechat.clone(),
            sessions,
            limits,
        }
    }

    /// At most `max` live family members per account (`family.max_members`).
    #[must_use]
    pub fn with_family_limit(mut self, max: u32) -> Self {
        self.family_max = max;
        self
    }

    /// How many live family members one account may hold.
    pub fn family_limit(&self) -> u32 {
        self.family_max
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Logs a citizen in with a `wx.login` code; creates the citizen on first login.
    ///
    /// # Errors
    /// [`LoginError::CodeInvalid`] / [`LoginError::CodeUsed`]: get a new code with `wx.login`;
    /// [`LoginError::UserBlocked`]: WeChat flags the account as high-risk;
    /// [`LoginError::RateLimited`]: too many attempts from this IP or this WeChat user;
    /// [`LoginError::UpstreamBusy`]: WeChat stayed busy or unreachable through the retries.
    #[tracing::instrument(skip_all, fields(openid = tracing::field::Empty, citizen_id = tracing::field::Empty))]
    pub async fn login(
        &self,
        code: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<LoggedIn, LoginError> {
        if let Some(ip) = client_ip {
            self.limit(&format!("login:ip:{ip}"), self.limits.per_ip)
                .await?;
        }
        if !looks_like_code(code) {
            return Err(LoginError::CodeInvalid);
        }
        let wx = self
            .wechat
            .code_to_session(code)
            .await
            .map_err(login_error)?;
        tracing::Span::current().record("openid", wx.openid.as_str());
        self.limit(
            &format!("login:openid:{}", wx.openid),
            self.limits.per_openid,
        )
        .await?;
        let row = citizens::upsert_by_openid(
            &self.db,
            &wx.openid,
            wx.unionid.as_deref(),
            self.clock.now(),
        )
        .await
        .context("upsert citizen")?;
        tracing::Span::current().record("citizen_id", row.id);

        let guard = self.profile_lock(row.id).await?;
        let created = async {
            let profile = self.load_profile(row.id).await?;
            self.sessions
                .create(row.id, &wx.openid, &wx.session_key, profile.clone())
                .await
                .context("create session")
                .map(|(token, _)| (token, profile))
        }
        .await;
        release(guard).await;
        let (token, profile) = created?;
        tracing::info!("citizen logged in");
        Ok(LoggedIn {
            token,
            idle_ttl: self.sessions.config().idle_ttl,
            profile,
        })
    }

    /// Ends the session.
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn logout(&self, session: &Session) -> anyhow::Result<()> {
        self.sessions
            .revoke(session)
            .await
            .context("revoke session")
    }

    /// Binds the phone number WeChat vouches for.
    ///
    /// # Errors
    /// [`BindPhoneError::CodeInvalid`] for an expired, used or wrong-kind code;
    /// [`BindPhoneError::DataInvalid`] for legacy data that does not decrypt with this session's
    /// key or names another app; [`BindPhoneError::Number`] for a number that is not a mainland
    /// mobile number; busy and rate-limited as WeChat says.
    #[tracing::instrument(skip_all, fields(citizen_id = session.citizen_id))]
    pub async fn bind_phone(
        &self,
        session: &Session,
        proof: PhoneProof,
    ) -> Result<CitizenProfile, BindPhoneError> {
        let (country, number) = match proof {
            PhoneProof::Code(code) => {
                if !looks_like_code(&code) {
                    return Err(BindPhoneError::CodeInvalid);
                }
                let phone = self
                    .wechat
                    .phone_number(&code, &session.openid)
                    .await
                    .map_err(phone_error)?;
                (phone.country_code, phone.pure_phone_number)
            }
            PhoneProof::Encrypted { encrypted_data, iv } => {
                let info = legacy::decrypt_phone(
                    session.session_key.expose_secret(),
                    &encrypted_data,
                    &iv,
                    self.wechat.app_id(),
                )
                .map_err(|e| {
                    tracing::info!(error = %e, "legacy phone data refused");
                    BindPhoneError::DataInvalid
                })?;
                (info.country_code, info.pure_phone_number)
            }
        };
        if country != "86" {
            return Err(PhoneNumberError::NotMobile.into());
        }
        let phone = PhoneNumber::parse(&number)?;
        let id = session.citizen_id;
        let now = self.clock.now();
        citizen::Entity::update(citizen::ActiveModel {
            id: Set(id),
            phone_cipher: Set(Some(
                self.cipher
                    .encrypt(phone.as_str().as_bytes(), &context(PHONE, id)),
            )),
            phone_index: Set(Some(self.index.compute(PHONE_INDEX, phone.as_str()))),
            phone_bound_at: Set(Some(now)),
            updated_at: Set(now),
            ..Default::default()
        })
        .exec(&self.db)
        .await
        .context("store phone")?;
        tracing::info!("phone bound");
        Ok(self.publish_profile(id).await?)
    }

    /// A citizen's profile, masked (name `张*`, phone `138****8000`), for staff at the counter.
    ///
    /// # Errors
    /// The citizen is gone, or a stored value does not decrypt.
    pub async fn masked_profile(&self, citizen_id: i64) -> anyhow::Result<CitizenProfile> {
        self.load_profile(citizen_id).await
    }

    /// Loads and decrypts a citizen's profile.
    pub(super) async fn load_profile(&self, citizen_id: i64) -> anyhow::Result<CitizenProfile> {
        let row = citizens::find(&self.db, citizen_id)
            .await
            .context("load citizen")?
            .with_context(|| format!("citizen {citizen_id} is gone"))?;
        profile_of(&self.cipher, &row).context("decrypt citizen profile")
    }

    /// After a committed change: reloads the profile and writes it into every live session of
    /// the citizen, under the citizen's lock so that an older profile never overwrites a newer
    /// one. The change is committed whatever happens here: if the sessions cannot be rewritten,
    /// the citizen still gets the new profile, and their other sessions show the old one until
    /// they log in again (logged as an error).
    pub(super) async fn publish_profile(&self, citizen_id: i64) -> anyhow::Result<CitizenProfile> {
        let profile = self.load_profile(citizen_id).await?;
        let published = async {
            let guard = self.profile_lock(citizen_id).await?;
            // Reload under the lock: a change committed meanwhile must not be overwritten.
            let result = async {
                let latest = self.load_profile(citizen_id).await?;
                self.sessions
                    .update_profile(&latest)
                    .await
                    .context("update sessions")?;
                anyhow::Ok(latest)
            }
            .await;
            release(guard).await;
            result
        }
        .await;
        match published {
            Ok(latest) => Ok(latest),
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "profile changed but sessions not updated"
                );
                Ok(profile)
            }
        }
    }

    async fn profile_lock(&self, citizen_id: i64) -> anyhow::Result<crate::store::LockGuard> {
        Lock::new(
            format!("citizen-profile:{citizen_id}"),
            Duration::from_secs(5),
        )
        .acquire(&self.store, Duration::from_secs(5))
        .await
        .context("take the citizen profile lock")?
        .with_context(|| format!("citizen {citizen_id} profile lock stayed taken"))
    }

    async fn limit(&self, subject: &str, quota: Quota) -> Result<(), LoginError> {
        match self.limiter.hit(subject, quota).await {
            Ok(()) => Ok(()),
            Err(LimitError::Limited(l)) => Err(LoginError::RateLimited(l)),
            Err(LimitError::Store(e)) => Err(anyhow::Error::new(e).context("count login").into()),
        }
    }
}

async fn release(guard: crate::store::LockGuard) {
    if let Err(e) = guard.release().await {
        tracing::warn!(error = %e, "could not release a lock; its lease will");
    }
}

/// WeChat's codes are short printable tokens; anything else is refused without asking WeChat.
fn looks_like_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 128 && code.bytes().all(|b| b.is_ascii_graphic())
}

fn login_error(e: WechatError) -> LoginError {
    match e.errcode() {
        Some(40029) => LoginError::CodeInvalid,
        Some(40163) => LoginError::CodeUsed,
        Some(40226) => LoginError::UserBlocked,
        Some(45011) => LoginError::RateLimited(Limited {
            retry_after: Duration::from_secs(60),
        }),
        _ if e.is_transient() || matches!(e, WechatError::TokenRefreshTimeout) => {
            LoginError::UpstreamBusy(e)
        }
        _ => LoginError::Unexpected(anyhow::Error::new(e).context("jscode2session")),
    }
}

fn phone_error(e: WechatError) -> BindPhoneError {
    match e.errcode() {
        Some(40029 | 40163) => BindPhoneError::CodeInvalid,
        Some(45011) => BindPhoneError::RateLimited(Limited {
            retry_after: Duration::from_secs(60),
        }),
        _ if e.is_transient() || matches!(e, WechatError::TokenRefreshTimeout) => {
            BindPhoneError::UpstreamBusy(e)
        }
        _ => BindPhoneError::Unexpected(anyhow::Error::new(e).context("getuserphonenumber")),
    }
}
