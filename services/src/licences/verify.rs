//! A hall verifies a presented QR: signature and expiry first, then the payload's id taken once
//! (the store, then the unique `licence_uses.jti`), then the live status at the province. A
//! verdict is an answer, not an error: `VerifyError` is only for "could not decide, try again".

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::EntityTrait as _;
use serde_json::json;

use super::uses::{self, Action};
use super::{LicenceService, TokenError, token};
use crate::notify::NotificationKind;
use crate::province::{LicenceStatus, ProvinceError, UseCause};

/// Who verifies, where.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub staff_id: i64,
    pub display_name: String,
    pub hall_id: i64,
}

/// Valid or not: the stored vocabulary (`licence_uses.verdict`).
pub use entities::status::LicenceVerdict as Verdict;

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

fn jti_key(jti: &str) -> String {
    format!("licence-jti:{jti}")
}

impl LicenceService {
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
