//! Electronic licences (电子证照): the citizen's licences as the provincial licence library holds
//! them, shown masked (亮证) with a short-lived signed QR payload, verified by hall staff, every
//! use written to an append-only audit table (`licence_uses`) and told to the holder.
//!
//! The decision a reader needs: the citizen's ID number is decrypted only to ask the province
//! for their licences and is never cached, logged or sent back; what the citizen may see of a
//! licence is decided by asking the province for the citizen's own list, so a licence id of
//! someone else is simply "not found". A presentation is accepted once: its `jti` is taken in
//! the store (fast, every instance) and written to the unique `licence_uses.jti` (durable).

mod mask;
pub mod token;
mod uses;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore as _;
use sea_orm::{DatabaseConnection, EntityTrait as _};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Deps;
use crate::crypto::FieldCipher;
use crate::identity::{Acting, ID_CARD, IdentityGate, NAME, field_context, find_citizen};
use crate::notify::{NotificationKind, Notifications};
use crate::province::{
    LicenceDetail, LicenceStatus, LicenceSummary, ProvinceClient, ProvinceError, UseCause,
};
use crate::store::Store;
use crate::time::{Clock, SHANGHAI};

pub use self::token::{
    Claims, Jwk, Jwks, KeyEntry, KeyError, PresentationKeys, TokenError, verify as verify_token,
};
pub use self::uses::{Action, LicenceUse};

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

/// Who verifies, where.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub staff_id: i64,
    pub display_name: String,
    pub hall_id: i64,
}

/// Valid or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Valid,
    Invalid,
}

/// Why a verdict is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Valid,
    Malformed,
    BadSignature,
    UnknownKey,
    Expired,
    AlreadyScanned,
    /// The province knows no such licence.
    NotFound,
    /// The province's live status is not `VALID`.
    Status(LicenceStatus),
}

impl Reason {
    /// The stable code the wire carries.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Valid => "VALID",
            Reason::Malformed => "MALFORMED",
            Reason::BadSignature => "SIGNATURE_INVALID",
            Reason::UnknownKey => "UNKNOWN_KEY",
            Reason::Expired => "EXPIRED",
            Reason::AlreadyScanned => "ALREADY_SCANNED",
            Reason::NotFound => "LICENCE_NOT_FOUND",
            Reason::Status(LicenceStatus::Valid) => "VALID",
            Reason::Status(LicenceStatus::Suspended) => "LICENCE_SUSPENDED",
            Reason::Status(LicenceStatus::Revoked) => "LICENCE_REVOKED",
            Reason::Status(LicenceStatus::Expired) => "LICENCE_EXPIRED",
        }
    }

    /// What the verifier is told, in Chinese.
    pub fn message(self) -> &'static str {
        match self {
            Reason::Valid | Reason::Status(LicenceStatus::Valid) => "证照有效",
            Reason::Malformed => "二维码内容无法识别",
            Reason::BadSignature => "二维码签名无效，可能被篡改",
            Reason::UnknownKey => "二维码签名密钥未知",
            Reason::Expired => "二维码已过期，请持证人刷新后重新出示",
            Reason::AlreadyScanned => "该二维码已被核验过，请持证人刷新后重新出示",
            Reason::NotFound => "证照库中未找到该证照",
            Reason::Status(LicenceStatus::Suspended) => "证照已被暂停使用",
            Reason::Status(LicenceStatus::Revoked) => "证照已被吊销或注销",
            Reason::Status(LicenceStatus::Expired) => "证照已过有效期",
        }
    }

    fn of_token(e: TokenError) -> Self {
        match e {
            TokenError::Malformed | TokenError::UnsupportedAlg => Reason::Malformed,
            TokenError::UnknownKey => Reason::UnknownKey,
            TokenError::BadSignature => Reason::BadSignature,
            TokenError::Expired => Reason::Expired,
        }
    }
}

/// What a verifier sees.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub verdict: Verdict,
    pub reason: Reason,
    /// Present once the signature checked out.
    pub licence: Option<VerifiedLicence>,
    pub checked_at: DateTime<Utc>,
}

/// The fields a verifier may see, masked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedLicence {
    pub licence_id: String,
    pub type_code: String,
    pub type_name: Option<String>,
    pub holder_name: String,
    pub issuer: Option<String>,
    pub valid_until: Option<NaiveDate>,
    /// The live status, when the province answered.
    pub status: Option<LicenceStatus>,
}

/// Why a verification could not be made (as opposed to an `INVALID` verdict).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no such hall")]
    HallNotFound,
    /// The province could not be asked for the live status: try again.
    #[error("the licence library is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
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

fn jti_key(jti: &str) -> String {
    format!("licence-jti:{jti}")
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

    /// One of the citizen's licences with its sensitive fields masked; audited as `DISPLAY`.
    ///
    /// # Errors
    /// `NotFound` when the licence is not the citizen's; otherwise as [`LicenceService::list`].
    #[tracing::instrument(skip_all, fields(citizen_id = acting.citizen_id, member_id = acting.member_id()))]
    pub async fn detail(
        &self,
        acting: &Acting,
        licence_id: &str,
    ) -> Result<LicenceView, LicenceError> {
        let detail = self.full(acting, licence_id).await?;
        uses::record(
            &self.inner.db,
            uses::NewUse::holder(
                acting.citizen_id,
                licence_id,
                Action::Display,
                "HOLDER_DISPLAY",
            )
            .for_member(acting.member_id()),
            self.inner.clock.now(),
        )
        .await
        .context("audit licence display")?;
        Ok(LicenceView {
            licence: to_licence(&detail.summary),
            fields: detail
                .fields
                .iter()
                .map(|f| Field {
                    key: f.key.clone(),
                    label: f.label.clone(),
                    value: if f.sensitive {
                        mask::field(&f.key, &f.value)
                    } else if f.key.to_ascii_lowercase().contains("name") {
                        mask::name(&f.value)
                    } else {
                        f.value.clone()
                    },
                    sensitive: f.sensitive,
                })
                .collect(),
            face_image: detail.face_image,
        })
    }

    /// The plain value of one field of the citizen's licence, at their explicit request;
    /// audited as `REVEAL` with the field's key.
    ///
    /// # Errors
    /// `NotFound` when the licence is not the citizen's or has no such field; otherwise as
    /// [`LicenceService::list`].
    #[tracing::instrument(skip_all, fields(citizen_id = acting.citizen_id, member_id = acting.member_id()))]
    pub async fn reveal(
        &self,
        acting: &Acting,
        licence_id: &str,
        field: &str,
    ) -> Result<Field, LicenceError> {
        let detail = self.full(acting, licence_id).await?;
        let found = detail
            .fields
            .iter()
            .find(|f| f.key == field)
            .ok_or(LicenceError::NotFound)?;
        // The key of a field that exists, never what the client sent.
        let cause = format!("REVEAL:{}", truncate(&found.key, 80));
        uses::record(
            &self.inner.db,
            uses::NewUse::holder(acting.citizen_id, licence_id, Action::Reveal, &cause)
                .for_member(acting.member_id()),
            self.inner.clock.now(),
        )
        .await
        .context("audit licence reveal")?;
        tracing::info!("licence field revealed to its holder");
        Ok(Field {
            key: found.key.clone(),
            label: found.label.clone(),
            value: found.value.clone(),
            sensitive: found.sensitive,
        })
    }

    /// A signed, short-lived QR payload for one of the citizen's licences; audited as `PRESENT`.
    ///
    /// # Errors
    /// `NotFound` when the licence is not the citizen's; otherwise as [`LicenceService::list`].
    #[tracing::instrument(skip_all, fields(citizen_id = acting.citizen_id, member_id = acting.member_id()))]
    pub async fn present(
        &self,
        acting: &Acting,
        licence_id: &str,
    ) -> Result<Presentation, LicenceError> {
        let summary = self.own(acting, licence_id).await?;
        // The QR names the licence's holder as the licence library reports it, never the
        // presenter; a licence whose holder is not the presenting (face-verified) citizen is
        // refused here rather than shown to a verifier.
        // For a family member, the presented identity is the member's (face-verified when added).
        let (presenter, _) = self.person(acting).await?;
        if summary.holder_name.trim() != presenter {
            tracing::warn!("licence holder is not the presenter; presentation refused");
            return Err(LicenceError::HolderMismatch);
        }
        let holder = mask::name(&summary.holder_name);
        let now = self.inner.clock.now();
        let ttl = i64::try_from(self.inner.config.presentation_ttl.as_secs()).unwrap_or(60);
        // 72 bits: unique enough for a minute's payloads; the audit table's unique `jti` is the
        // last word anyway.
        let mut id = [0u8; 9];
        rand::rng().fill_bytes(&mut id);
        let jti = URL_SAFE_NO_PAD.encode(id);
        let claims = Claims::new(
            licence_id,
            &holder,
            now.timestamp(),
            now.timestamp() + ttl,
            jti.clone(),
        );
        let payload = self
            .inner
            .signer
            .sign(&claims)
            .context("sign the presentation")?;
        uses::record(
            &self.inner.db,
            uses::NewUse::holder(
                acting.citizen_id,
                licence_id,
                Action::Present,
                "HOLDER_DISPLAY",
            )
            .for_member(acting.member_id()),
            now,
        )
        .await
        .context("audit licence presentation")?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
        Ok(Presentation {
            payload,
            watermark: format!(
                "{} {holder}",
                now.with_timezone(&SHANGHAI).format("%Y-%m-%d %H:%M:%S")
            ),
            expires_at,
            jti,
        })
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

    /// Verifies a scanned payload at a hall: signature, expiry, first use, and the live status at
    /// the province (`VERIFY:<hall code>`). An accepted payload (good signature, not expired) is
    /// audited as `VERIFY` and its holder notified, in one transaction.
    ///
    /// # Errors
    /// `HallNotFound`; `Unavailable` when the province cannot tell the live status (the payload
    /// may then be scanned again); `Unexpected` for the database or the store.
    #[tracing::instrument(skip_all, fields(staff_id = verifier.staff_id, hall_id = verifier.hall_id))]
    pub async fn verify(
        &self,
        verifier: &Verifier,
        payload: &str,
    ) -> Result<Verification, VerifyError> {
        let hall = entities::hall::Entity::find_by_id(verifier.hall_id)
            .one(&self.inner.db)
            .await
            .context("find hall")?
            .ok_or(VerifyError::HallNotFound)?;
        let now = self.inner.clock.now();
        let claims = match token::verify(payload, &self.inner.signer.jwks(), now.timestamp()) {
            Ok(claims) => claims,
            Err(e) => {
                let reason = Reason::of_token(e);
                tracing::info!(reason = reason.code(), "presentation refused");
                return Ok(Verification {
                    verdict: Verdict::Invalid,
                    reason,
                    licence: None,
                    checked_at: now,
                });
            }
        };
        let licence_id = claims.licence_id();
        let mut seen = VerifiedLicence {
            licence_id: licence_id.clone(),
            type_code: claims.type_code().to_owned(),
            type_name: None,
            holder_name: claims.hn.clone(),
            issuer: None,
            valid_until: None,
            status: None,
        };
        let holder = uses::presenter(&self.inner.db, &licence_id)
            .await
            .context("find the presenter")?;
        // Good signature and time, but we never presented it: our key signed for another
        // deployment sharing it. Refuse without auditing (there is no holder to audit for).
        let Some((citizen_id, member_id)) = holder else {
            return Ok(Verification {
                verdict: Verdict::Invalid,
                reason: Reason::NotFound,
                licence: Some(seen),
                checked_at: now,
            });
        };
        let province = self.province().map_err(VerifyError::Unavailable)?;
        let remaining = u64::try_from(claims.exp - now.timestamp()).unwrap_or(0);
        let ttl = Duration::from_secs(remaining + 60);
        let first = self
            .inner
            .store
            .set_nx(&jti_key(&claims.jti), b"1", ttl)
            .await
            .context("take the presentation id")?;
        let cause = UseCause::Verify {
            hall: hall.code.clone(),
        };
        let mut reason = Reason::AlreadyScanned;
        let mut jti = None;
        if first {
            let live = match province.licence_status(&licence_id, &cause).await {
                Ok(s) => Some(s.status),
                Err(ProvinceError::NotFound) => None,
                Err(e) => {
                    // Let the holder's QR be scanned again once the province answers.
                    let _ = self.inner.store.delete(&jti_key(&claims.jti)).await;
                    return Err(VerifyError::Unavailable(e.into()));
                }
            };
            reason = match live {
                None => Reason::NotFound,
                Some(LicenceStatus::Valid) => Reason::Valid,
                Some(other) => Reason::Status(other),
            };
            seen.status = live;
            if live.is_some()
                && let Ok(detail) = province.licence(&licence_id, &cause).await
            {
                seen.type_name = Some(detail.summary.type_name);
                seen.issuer = Some(detail.summary.issuer);
                seen.valid_until = detail.summary.valid_until;
            }
            jti = Some(claims.jti.clone());
        }
        let verdict = if reason == Reason::Valid {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        let took_jti = jti.is_some();
        let first_use = match self
            .audit_verification(
                (citizen_id, member_id),
                &seen,
                verifier,
                &hall,
                &cause,
                jti,
                verdict,
                now,
            )
            .await
        {
            Ok(first_use) => first_use,
            Err(e) => {
                if took_jti {
                    // Nothing was recorded: let the QR be scanned again.
                    let _ = self.inner.store.delete(&jti_key(&claims.jti)).await;
                }
                return Err(e.into());
            }
        };
        let verdict = if first_use {
            verdict
        } else {
            // The store forgot the id (flushed), the audit table did not.
            reason = Reason::AlreadyScanned;
            self.audit_verification(
                (citizen_id, member_id),
                &seen,
                verifier,
                &hall,
                &cause,
                None,
                Verdict::Invalid,
                now,
            )
            .await?;
            Verdict::Invalid
        };
        tracing::info!(
            verdict = ?verdict,
            reason = reason.code(),
            "licence verified"
        );
        Ok(Verification {
            verdict,
            reason,
            licence: Some(seen),
            checked_at: now,
        })
    }

    /// The `VERIFY` row and the holder's notification, in one transaction. `Ok(false)` when the
    /// `jti` is in the table already (nothing was written).
    #[allow(clippy::too_many_arguments)]
    async fn audit_verification(
        &self,
        (citizen_id, member_id): (i64, Option<i64>),
        seen: &VerifiedLicence,
        verifier: &Verifier,
        hall: &entities::hall::Model,
        cause: &UseCause,
        jti: Option<String>,
        verdict: Verdict,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let txn = crate::db::write(&self.inner.db)
            .await
            .context("begin verification")?;
        let row = uses::NewUse {
            citizen_id,
            licence_id: &seen.licence_id,
            action: Action::Verify,
            cause: &cause.header_value(),
            staff_id: Some(verifier.staff_id),
            hall_id: Some(hall.id),
            jti,
            verdict: Some(verdict),
            // A family member's licence shown from the account that presented it: the scan is
            // recorded with both people, as the presentation was.
            member_id,
        };
        let id = match uses::record(&txn, row, now).await {
            Ok(id) => id,
            Err(e) if crate::db::unique_violation(&e, None) => {
                txn.rollback().await.context("roll back a replay")?;
                return Ok(false);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("audit verification")),
        };
        let payload = json!({
            "licence_name": seen.type_name.clone().unwrap_or_else(|| "电子证照".to_owned()),
            "verifier": format!("{}工作人员{}", hall.name, verifier.display_name),
            "at": now.to_rfc3339(),
            "licence_ref": seen.licence_id,
        });
        self.inner
            .notifications
            .notify(
                &txn,
                citizen_id,
                NotificationKind::LicenceVerified,
                &payload,
                &format!("licence-verify:{id}"),
            )
            .await
            .context("notify the holder")?;
        txn.commit().await.context("commit verification")?;
        self.inner.notifications.wake().await;
        Ok(true)
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

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
