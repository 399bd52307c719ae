//! Electronic licences (电子证照): the citizen's licences as the provincial licence library holds
//! them, shown masked (亮证) with a short-lived signed QR payload, verified by hall staff, every
//! use written to an append-only audit table (`licence_uses`) and told to the holder.
//!
//! The decision a reader needs: the citizen's ID number is decrypted only to ask the province
//! for their licences and is never cached, logged or sent back; what the citizen may see of a
//! licence is decided by asking the province for the citizen's own list, so a licence id of
//! someone else is simply "not found". A presentation is accepted once: its `jti` is taken in
//! the store (fast, every instance) and written to the unique `licence_uses.jti` (durable).
//!
//! Split by operation: here the list and what every operation shares (whose licence it is);
//! `show` (detail, reveal, present), `verify` (a hall scans a QR), `uses` (the audit log),
//! `token` (the signed payload), `mask`.

mod mask;
mod show;
pub mod token;
mod uses;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::crypto::FieldCipher;
use crate::identity::{Acting, ID_CARD, IdentityGate, NAME, field_context, find_citizen};
use crate::notify::Notifications;
use crate::province::{
    LicenceDetail, LicenceStatus, LicenceSummary, ProvinceClient, ProvinceError, UseCause,
};
use crate::store::Store;
use crate::time::Clock;

pub use self::token::{
    Claims, Jwk, Jwks, KeyEntry, KeyError, PresentationKeys, TokenError, verify as verify_token,
};
pub use self::uses::{Action, LicenceUse};
pub use self::verify::{Reason, Verdict, Verification, VerifiedLicence, Verifier, VerifyError};

/// The holder's certificate type at the province: resident ID card.
const RESIDENT_ID: &str = "111";
/// The licence type of the resident identity card (居民身份证): shown only by its holder.
pub const IDENTITY_CARD_TYPE: &str = "111000000000000001";

/// How long presentations live and the licence list is cached.
#[derive(Debug, Clone)]
pub struct LicenceConfig {
    pub presentation_ttl: Duration,
    pub cache_ttl: Duration,
    /// The licence types (证照类型代码) an account may show for a family member; the resident
    /// identity card is never one of them, whatever is configured.
    pub member_types: Vec<String>,
}

impl Default for LicenceConfig {
    fn default() -> Self {
        Self {
            presentation_ttl: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(60),
            member_types: Vec::new(),
        }
    }
}

/// The licence service; cheap to clone.
#[derive(Clone)]
pub struct LicenceService {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    store: Arc<dyn Store>,
    /// `None` when no province is configured: every licence call is then `Unavailable`.
    province: Option<ProvinceClient>,
    cipher: Arc<FieldCipher>,
    signer: PresentationKeys,
    clock: Clock,
    notifications: Notifications,
    config: LicenceConfig,
}

/// Why a citizen's licence request failed.
#[derive(Debug, thiserror::Error)]
pub enum LicenceError {
    /// The citizen has no real-name identity bound: the province cannot be asked.
    #[error("the citizen has no bound identity")]
    IdentityRequired,
    /// The bound identity was never proven by face verification.
    #[error("the citizen's identity is not verified")]
    IdentityNotVerified,
    /// The licence's holder, as the licence library names them, is not the presenting citizen.
    #[error("the licence holder is not the presenter")]
    HolderMismatch,
    /// No such licence among the citizen's own (or no such field of it).
    #[error("no such licence of this citizen")]
    NotFound,
    /// A family member's licence of a type only its holder may show (the identity card, and
    /// every type not in the configured list).
    #[error("only the holder may show this licence")]
    HolderOnly,
    /// The province is down, slow, refuses, or is not configured.
    #[error("the licence library is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A licence as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Licence {
    pub licence_id: String,
    pub type_code: String,
    pub type_name: String,
    /// Masked.
    pub holder_name: String,
    pub issuer: String,
    pub issued_at: DateTime<Utc>,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub status: LicenceStatus,
}

/// One field of a licence; sensitive ones masked unless revealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub key: String,
    pub label: String,
    pub value: String,
    pub sensitive: bool,
}

/// A licence's detail, masked.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenceView {
    pub licence: Licence,
    pub fields: Vec<Field>,
    pub face_image: Option<String>,
}

/// A presentation (亮证): the QR payload and what the page overlays.
#[derive(Debug, Clone, PartialEq)]
pub struct Presentation {
    pub payload: String,
    /// Time (Asia/Shanghai) and masked name: `2026-11-23 21:30:05 张*`.
    pub watermark: String,
    pub expires_at: DateTime<Utc>,
    pub jti: String,
}

fn province_error(e: ProvinceError) -> LicenceError {
    match e {
        ProvinceError::NotFound => LicenceError::NotFound,
        other => LicenceError::Unavailable(other.into()),
    }
}

fn cache_key(citizen_id: i64) -> String {
    format!("licences:{citizen_id}")
}

impl LicenceService {
    /// The licence service of `deps`, signing presentations with `signer`.
    pub fn new(deps: &Deps, signer: PresentationKeys, config: LicenceConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: deps.db.clone(),
                store: Arc::clone(&deps.store),
                province: Some(deps.province.clone()),
                cipher: Arc::clone(&deps.cipher),
                signer,
                clock: deps.clock.clone(),
                notifications: deps.notifications.clone(),
                config,
            }),
        }
    }

    /// The published keys.
    pub fn jwks(&self) -> Jwks {
        self.inner.signer.jwks()
    }

    fn province(&self) -> Result<&ProvinceClient, anyhow::Error> {
        self.inner
            .province
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no province is configured (province.base_url)"))
    }

    /// The licences of the person acted for (the citizen, or a family member — then only the
    /// types shown for members), from a 60-second cache or the province (`HOLDER_DISPLAY`).
    ///
    /// # Errors
    /// `IdentityRequired` without a bound identity; `Unavailable` when the province cannot be
    /// asked; `Unexpected` for the database, the store or a key that does not decrypt.
    #[tracing::instrument(skip_all, fields(citizen_id = acting.citizen_id, member_id = acting.member_id()))]
    pub async fn list(&self, acting: &Acting) -> Result<Vec<Licence>, LicenceError> {
        Ok(self
            .summaries(acting)
            .await?
            .iter()
            .filter(|l| acting.member.is_none() || self.shown_for_members(&l.type_code))
            .map(to_licence)
            .collect())
    }

    /// Whether an account may show a family member's licence of this type.
    fn shown_for_members(&self, type_code: &str) -> bool {
        type_code != IDENTITY_CARD_TYPE
            && self
                .inner
                .config
                .member_types
                .iter()
                .any(|t| t == type_code)
    }

    async fn summaries(&self, acting: &Acting) -> Result<Vec<LicenceSummary>, LicenceError> {
        let key = match &acting.member {
            None => cache_key(acting.citizen_id),
            Some(m) => format!("{}:m{}", cache_key(acting.citizen_id), m.id),
        };
        let cached = self
            .inner
            .store
            .get(&key)
            .await
            .context("read licence cache")?;
        // Checked before the cache too: an identity that moved to another account (or was never
        // verified) shows nothing, even what was cached a moment ago. A member's relation was
        // checked live where `acting` was made.
        let (_, cert_no) = self.person(acting).await?;
        if let Some(cached) = cached.and_then(|b| serde_json::from_slice(&b).ok()) {
            return Ok(cached);
        }
        let summaries = self
            .province()
            .map_err(LicenceError::Unavailable)?
            .licences(RESIDENT_ID, &cert_no, &UseCause::HolderDisplay)
            .await
            .map_err(|e| LicenceError::Unavailable(e.into()))?;
        let bytes = serde_json::to_vec(&summaries).context("encode licence cache")?;
        self.inner
            .store
            .set(&key, &bytes, Some(self.inner.config.cache_ttl))
            .await
            .context("write licence cache")?;
        Ok(summaries)
    }

    /// The person acted for, decrypted: (name, ID number) — the citizen's proven identity, or
    /// the family member's.
    async fn person(&self, acting: &Acting) -> Result<(String, String), LicenceError> {
        match &acting.member {
            None => self.proven_identity(acting.citizen_id).await,
            Some(m) => Ok((m.name.as_str().to_owned(), m.id_card_no.as_str().to_owned())),
        }
    }

    /// The citizen's identity, proven by face verification, decrypted: (name, ID number).
    async fn proven_identity(&self, citizen_id: i64) -> Result<(String, String), LicenceError> {
        let row = find_citizen(&self.inner.db, citizen_id)
            .await
            .context("find citizen")?
            .ok_or(LicenceError::IdentityRequired)?;
        let proven = crate::identity::proven(&row).map_err(|gate| match gate {
            IdentityGate::Missing => LicenceError::IdentityRequired,
            IdentityGate::Unverified => LicenceError::IdentityNotVerified,
        })?;
        let cipher = &self.inner.cipher;
        let name = cipher
            .decrypt_string(proven.name_cipher, &field_context(NAME, row.id))
            .context("decrypt the bound name")?;
        let id_number = cipher
            .decrypt_string(proven.id_card_cipher, &field_context(ID_CARD, row.id))
            .context("decrypt the bound ID number")?;
        Ok((name, id_number))
    }

    /// The licence `licence_id` of the person acted for, or `NotFound` when it is not theirs;
    /// `HolderOnly` for a member's licence of a type only its holder shows.
    async fn own(&self, acting: &Acting, licence_id: &str) -> Result<LicenceSummary, LicenceError> {
        let found = self
            .summaries(acting)
            .await?
            .into_iter()
            .find(|l| l.licence_id == licence_id)
            .ok_or(LicenceError::NotFound)?;
        if acting.member.is_some() && !self.shown_for_members(&found.type_code) {
            tracing::info!(type_code = %found.type_code, "a member's licence only its holder shows");
            return Err(LicenceError::HolderOnly);
        }
        Ok(found)
    }

    async fn full(&self, acting: &Acting, licence_id: &str) -> Result<LicenceDetail, LicenceError> {
        self.own(acting, licence_id).await?;
        self.province()
            .map_err(LicenceError::Unavailable)?
            .licence(licence_id, &UseCause::HolderDisplay)
            .await
            .map_err(province_error)
    }

    /// Every use of the citizen's licence, newest first.
    ///
    /// # Errors
    /// `NotFound` when the licence is not the citizen's; otherwise as [`LicenceService::list`].
    pub async fn uses(
        &self,
        acting: &Acting,
        licence_id: &str,
    ) -> Result<Vec<LicenceUse>, LicenceError> {
        self.own(acting, licence_id).await?;
        Ok(uses::of(&self.inner.db, acting.citizen_id, licence_id)
            .await
            .context("list licence uses")?)
    }
}

fn to_licence(s: &LicenceSummary) -> Licence {
    Licence {
        licence_id: s.licence_id.clone(),
        type_code: s.type_code.clone(),
        type_name: s.type_name.clone(),
        holder_name: mask::name(&s.holder_name),
        issuer: s.issuer.clone(),
        issued_at: s.issued_at,
        valid_from: s.valid_from,
        valid_until: s.valid_until,
        status: s.status,
    }
}
