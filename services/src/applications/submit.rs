//! Uploading materials and submitting an application: checked, snapshotted (encrypted) and
//! written with its outbox row (or its consent request) in one transaction.

use crate::identity::{ID_CARD, IdentityGate, NAME, PHONE, field_context, find_citizen, proven};
use crate::province::{Agent, MaterialSpec};
use anyhow::Context as _;
use chrono::DateTime;
use entities::{application, item, material};
use sea_orm::{ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use super::check::*;
use super::view::*;
use super::*;

impl ApplicationService {
    /// Stores one uploaded file for `citizen_id`: recognised by content, at most 8 MiB.
    ///
    /// # Errors
    /// `TooLarge`, `Empty`, `UnsupportedType`; `Unexpected` for the blob store or database.
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, size = bytes.len()))]
    pub async fn upload(
        &self,
        citizen_id: i64,
        file_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<Material, UploadError> {
        if bytes.len() > MAX_MATERIAL_BYTES {
            return Err(UploadError::TooLarge);
        }
        if bytes.is_empty() {
            return Err(UploadError::Empty);
        }
        let kind = MaterialType::sniff(bytes).ok_or(UploadError::UnsupportedType)?;
        let sha256 = self
            .inner
            .blobs
            .put(bytes)
            .await
            .context("store the material's bytes")?;
        let file_name = file_name
            .map(|n| n.trim().chars().take(200).collect::<String>())
            .filter(|n| !n.is_empty());
        let row = material::Model {
            id: uuid::Uuid::now_v7().to_string(),
            citizen_id,
            sha256,
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            content_type: kind.content_type().to_owned(),
            file_name,
            created_at: self.inner.clock.now(),
        };
        material::Entity::insert(material::ActiveModel {
            id: Set(row.id.clone()),
            citizen_id: Set(row.citizen_id),
            sha256: Set(row.sha256.clone()),
            size: Set(row.size),
            content_type: Set(row.content_type.clone()),
            file_name: Set(row.file_name.clone()),
            created_at: Set(row.created_at),
        })
        .exec_without_returning(&self.inner.db)
        .await
        .context("record the material")?;
        metrics::counter!("materials_uploaded_total").increment(1);
        Ok(to_material(row))
    }

    /// One of the citizen's own uploads; `None` for anyone else's.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn material(&self, citizen_id: i64, id: &str) -> anyhow::Result<Option<Material>> {
        Ok(own_materials(&self.inner.db, citizen_id, &[id.to_owned()])
            .await?
            .into_iter()
            .next()
            .map(to_material))
    }

    /// Validates and stores an application with its outbox row, in one transaction. The
    /// answer comes at once, `SUBMITTING`; the forwarder sends it.
    ///
    /// The flag is true when an earlier request under the same idempotency key made it.
    ///
    /// # Errors
    /// See [`ApplyError`].
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, item_code = %new.item_code))]
    pub async fn submit(
        &self,
        citizen_id: i64,
        new: NewApplication,
    ) -> Result<(ApplicationView, bool), ApplyError> {
        let db = &self.inner.db;
        let fingerprint = fingerprint(&new);
        if let Some(key) = &new.idempotency_key
            && let Some(found) = application::Entity::find()
                .filter(application::Column::CitizenId.eq(citizen_id))
                .filter(application::Column::IdempotencyKey.eq(key.as_str()))
                .one(db)
                .await
                .context("look up the idempotency key")?
        {
            return self.replayed(found, &fingerprint);
        }
        let citizen = find_citizen(db, citizen_id)
            .await
            .context("find the citizen")?
            .ok_or(ApplyError::IdentityRequired)?;
        let (name_cipher, id_cipher) = match proven(&citizen) {
            Ok(p) => (p.name_cipher, p.id_card_cipher),
            Err(IdentityGate::Missing) => return Err(ApplyError::IdentityRequired),
            Err(IdentityGate::Unverified) => return Err(ApplyError::IdentityNotVerified),
        };
        let phone_cipher = citizen
            .phone_cipher
            .as_ref()
            .ok_or(ApplyError::PhoneRequired)?;
        let item = item::Entity::find_by_id(new.item_code.as_str())
            .one(db)
            .await
            .context("find the item")?
            .ok_or(ApplyError::ItemNotFound)?;
        if item.online_level < MIN_ONLINE_LEVEL {
            return Err(ApplyError::ItemNotOnline);
        }
        let form_text = check_form(&new.form)?;
        let specs: Vec<MaterialSpec> =
            serde_json::from_str(&item.materials).context("stored materials of the item")?;
        let rows = self.owned(citizen_id, &new.materials).await?;
        check_materials(&specs, &new.materials, &rows, true).map_err(ApplyError::Materials)?;

        let cipher = &self.inner.cipher;
        let decrypt = |stored: &str, column: &'static str| {
            cipher
                .decrypt_string(stored, &field_context(column, citizen.id))
                .context("decrypt the bound identity")
        };
        let me = (
            decrypt(name_cipher, NAME)?,
            decrypt(id_cipher, ID_CARD)?,
            decrypt(phone_cipher, PHONE)?,
        );
        let mut problems = Vec::new();
        let agent_of = |me: &(String, String, String)| Agent {
            name: me.0.clone(),
            cert_type: "111".into(),
            cert_no: me.1.clone(),
            phone: me.2.clone(),
        };
        let (applicant, agent) = match (&new.for_member, &new.consent_of) {
            (Some(_), Some(_)) => {
                problems.push(problem("consentOf", "为家庭成员申办时不能再填写代办对象"));
                (person_applicant(&me.0, &me.1, &me.2), None)
            }
            // The member has no phone of their own here: the platform reaches them through
            // the agent's, who applied.
            (Some(member), None) => (
                person_applicant(member.name.as_str(), member.id_card_no.as_str(), &me.2),
                Some(agent_of(&me)),
            ),
            (None, Some(person))
                if person.citizen_id == citizen_id || person.id_card_no.as_str() == me.1 =>
            {
                problems.push(problem("consentOf.idCardNo", "代办对象不能是您本人"));
                (person_applicant(&me.0, &me.1, &me.2), None)
            }
            (None, Some(person)) => (
                person_applicant(
                    person.name.as_str(),
                    person.id_card_no.as_str(),
                    person.phone.as_ref().map_or(me.2.as_str(), |p| p.as_str()),
                ),
                Some(agent_of(&me)),
            ),
            (None, None) => (person_applicant(&me.0, &me.1, &me.2), None),
        };
        let post_address = match &new.obtain {
            Obtain::Collect => None,
            Obtain::Post(address) => {
                problems.extend(check_address(address));
                Some(address.clone())
            }
        };
        if !problems.is_empty() {
            return Err(ApplyError::Invalid(problems));
        }
        let private = Private {
            applicant,
            agent,
            post_address,
        };
        let private = serde_json::to_string(&private).context("encode the private part")?;
        let now = self.inner.clock.now();
        // Whole milliseconds: every resend must carry the same `submittedAt`, and PostgreSQL
        // keeps microseconds while SQLite keeps what it is given.
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let row = application::Model {
            id: uuid::Uuid::now_v7().to_string(),
            citizen_id,
            item_code: item.item_code.clone(),
            handle_item_code: item.handle_item_code.clone(),
            item_name: item.name.clone(),
            idempotency_key: new.idempotency_key.clone(),
            fingerprint: Some(fingerprint.clone()),
            form: form_text,
            materials: serde_json::to_string(&new.materials).context("encode materials")?,
            obtain_way: i16::from(matches!(new.obtain, Obtain::Post(_))),
            private_cipher: cipher.encrypt_str(&private, &private_context(citizen_id)),
            on_behalf: new.consent_of.is_some() || new.for_member.is_some(),
            member_id: new.for_member.as_ref().map(|m| m.id),
            status: if new.consent_of.is_some() {
                Delivery::AwaitingConsent
            } else {
                Delivery::Submitting
            },
            phase: None,
            case_version: 0,
            sblsh: None,
            received_at: None,
            problem: None,
            tracking_no: None,
            submitted_at: now,
            updated_at: now,
            last_event_at: None,
            polled_at: None,
            poll_due_at: None,
        };
        let txn = crate::db::write(db)
            .await
            .context("begin the application")?;
        let inserted = application::Entity::insert(application::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await;
        if let Err(e) = inserted {
            if crate::db::unique_violation(&e, None)
                && let Some(key) = &new.idempotency_key
            {
                drop(txn);
                let found = application::Entity::find()
                    .filter(application::Column::CitizenId.eq(citizen_id))
                    .filter(application::Column::IdempotencyKey.eq(key.as_str()))
                    .one(db)
                    .await
                    .context("read the application under the key")?
                    .context("the key's application vanished")?;
                return self.replayed(found, &fingerprint);
            }
            return Err(anyhow::Error::new(e)
                .context("insert the application")
                .into());
        }
        // For someone not on the phone: a consent request, and no outbox row until they accept.
        let consent = match &new.consent_of {
            Some(person) => Some(
                consent::request(
                    &txn,
                    &self.inner.notifications,
                    &row.id,
                    &consent::Asking {
                        requester_id: citizen_id,
                        requester_name: &me.0,
                        item_name: &row.item_name,
                    },
                    person,
                    now,
                    self.inner.config.consent_ttl,
                )
                .await?,
            ),
            None => {
                forward::enqueue(&txn, &row.id, None, now).await?;
                None
            }
        };
        txn.commit().await.context("commit the application")?;
        let mut view = self.view(row, false).await?;
        if consent.is_none() {
            metrics::counter!("applications_submitted_total").increment(1);
            self.inner.wake.notify_one();
        } else {
            self.inner.notifications.wake().await;
        }
        view.consent = consent;
        Ok((view, false))
    }

    pub(super) fn replayed(
        &self,
        found: application::Model,
        fingerprint: &str,
    ) -> Result<(ApplicationView, bool), ApplyError> {
        if found.fingerprint.as_deref() != Some(fingerprint) {
            return Err(ApplyError::IdempotencyKeyReused);
        }
        Ok((plain_view(found), true))
    }

    /// The citizen's uploads among `refs`, each checked to exist.
    pub(super) async fn owned(
        &self,
        citizen_id: i64,
        refs: &[MaterialRef],
    ) -> Result<Vec<material::Model>, ApplyError> {
        let ids: Vec<String> = refs.iter().map(|r| r.material_id.clone()).collect();
        let rows = own_materials(&self.inner.db, citizen_id, &ids).await?;
        if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| &r.id == *id)) {
            return Err(ApplyError::MaterialNotFound(missing.clone()));
        }
        Ok(rows)
    }
}
