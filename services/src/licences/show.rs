//! The holder shows a licence: its detail masked, one field revealed, a signed QR to present.
//! Each is audited before it is returned, so a holder's list of uses names every showing.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use rand::RngCore as _;

use super::uses::{self, Action};
use super::{
    Claims, Field, LicenceError, LicenceService, LicenceView, Presentation, mask, to_licence,
};
use crate::identity::Acting;
use crate::time::SHANGHAI;
impl LicenceService {
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
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
