//! Submitting a bundle application: checked like an application — each shared material against
//! every item that uses it — and written with its outbox row and idempotency key in one
//! transaction (province-api.md, "一件事 bundles").

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::DateTime;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{BundleService, BundleView, Private, bundle_private_context, catalogue::parts_of};
use crate::applications::{
    Delivery, FieldProblem, MAX_FORM_BYTES, MAX_TOTAL_BYTES, MIN_ONLINE_LEVEL, MaterialRef,
    MaterialType, Obtain,
};
use crate::identity::{
    ActingMember, ID_CARD, IdentityGate, NAME, PHONE, PhoneNumber, VerifiedPerson, field_context,
    find_citizen, proven,
};
use crate::province::{Agent, Applicant, MaterialSpec, PostAddress};
use entities::{bundle, bundle_application, bundle_outbox, item, material};

/// What a citizen submits for a bundle.
#[derive(Debug, Clone)]
pub struct NewBundleApplication {
    pub bundle_code: super::BundleCode,
    /// The optional items chosen (the required ones are always applied for). Plain strings: each
    /// is checked against the bundle's own items, with a message naming the field at fault.
    pub optional_items: Vec<String>,
    /// One form for the whole bundle.
    pub form: Value,
    /// Each material once, by code.
    pub materials: Vec<MaterialRef>,
    pub obtain: Obtain,
    /// Applying for a family member on the citizen's phone: the member is the applicant.
    pub for_member: Option<ActingMember>,
    /// Applying for someone not on the phone (代办): they consent from their own verified
    /// account first, through the same consent request an application asks
    /// (`applications::consent`); the citizen is the agent.
    pub consent_of: Option<VerifiedPerson>,
    pub idempotency_key: Option<String>,
}

/// Why a bundle application was refused before it was stored.
#[derive(Debug, thiserror::Error)]
pub enum BundleApplyError {
    #[error("no bound identity")]
    IdentityRequired,
    #[error("the bound identity is not verified")]
    IdentityNotVerified,
    #[error("no bound phone")]
    PhoneRequired,
    #[error("no such bundle")]
    BundleNotFound,
    #[error("the bundle cannot be applied for online")]
    BundleNotOnline,
    /// Fields of the request are wrong: the form, the items chosen, the address.
    #[error("invalid fields")]
    Invalid(Vec<FieldProblem>),
    /// The materials do not meet the needs of the items applied for.
    #[error("materials do not meet the items' requirements")]
    Materials(Vec<FieldProblem>),
    #[error("no such material")]
    MaterialNotFound(String),
    #[error("the idempotency key was used for another bundle application")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn problem(field: &str, reason: &str) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn person(name: &str, id_card: &str, phone: &str) -> Applicant {
    Applicant {
        applicant_type: 1,
        name: name.to_owned(),
        cert_type: "111".into(),
        cert_no: id_card.to_owned(),
        phone: phone.to_owned(),
    }
}

fn check_address(address: &PostAddress) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let fields = [
        ("postAddress.name", &address.name, 50),
        ("postAddress.province", &address.province, 50),
        ("postAddress.city", &address.city, 50),
        ("postAddress.district", &address.district, 50),
        ("postAddress.detail", &address.detail, 200),
    ];
    for (field, value, max) in fields {
        let n = value.trim().chars().count();
        if n == 0 {
            problems.push(problem(field, "请填写完整的邮寄信息"));
        } else if n > max {
            problems.push(problem(field, &format!("不能超过{max}个字")));
        }
    }
    if PhoneNumber::parse(&address.phone).is_err() {
        problems.push(problem("postAddress.phone", "收件人手机号码不正确"));
    }
    problems
}

/// One item applied for, with what the catalogue says of it.
pub(super) struct Applied {
    pub(super) item: item::Model,
    pub(super) specs: Vec<MaterialSpec>,
}

/// Checks the materials against every item applied for: each code once; each code used by some
/// item applied for; each file of a format and size every item using it admits; the total within
/// 32 MiB; and every required material of every item present — one upload of a shared material
/// serves every item using it. A missing one is named with the items that need it.
pub(super) fn check_materials(
    applied: &[Applied],
    shared_formats: &BTreeMap<String, (Vec<String>, u32)>,
    refs: &[MaterialRef],
    rows: &[material::Model],
) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let mut total: u64 = 0;
    for (i, r) in refs.iter().enumerate() {
        let field = format!("materials[{i}]");
        if refs[..i].iter().any(|earlier| earlier.code == r.code) {
            problems.push(problem(
                &field,
                &format!("材料{}只需上传一次，各事项共用", r.code),
            ));
            continue;
        }
        let users: Vec<(&Applied, &MaterialSpec)> = applied
            .iter()
            .filter_map(|a| a.specs.iter().find(|s| s.code == r.code).map(|s| (a, s)))
            .collect();
        if users.is_empty() && !shared_formats.contains_key(&r.code) {
            problems.push(problem(
                &field,
                &format!("所选事项没有编号为{}的材料", r.code),
            ));
            continue;
        }
        let Some(row) = rows.iter().find(|m| m.id == r.material_id) else {
            continue;
        };
        let size = u64::try_from(row.size).unwrap_or(u64::MAX);
        total = total.saturating_add(size);
        let kind = MaterialType::from_content_type(&row.content_type);
        let mut limits: Vec<(String, Vec<String>, u32)> = users
            .iter()
            .map(|(_, s)| (s.name.clone(), s.formats.clone(), s.max_size_kb))
            .collect();
        if let Some((formats, max)) = shared_formats.get(&r.code) {
            let name = users
                .first()
                .map_or_else(|| r.code.clone(), |(_, s)| s.name.clone());
            limits.push((name, formats.clone(), *max));
        }
        for (name, formats, max_kb) in limits {
            if !formats.is_empty() && !kind.is_some_and(|t| t.admitted_by(&formats)) {
                problems.push(problem(
                    &field,
                    &format!("{name}只接受{}格式", formats.join("、")),
                ));
                break;
            }
            if max_kb > 0 && size > u64::from(max_kb) * 1024 {
                problems.push(problem(&field, &format!("{name}不能超过{max_kb}KB")));
                break;
            }
        }
    }
    if total > MAX_TOTAL_BYTES {
        problems.push(problem("materials", "材料合计不能超过32MB"));
    }
    // Each missing material once, with every item applied for that needs it.
    let mut missing: Vec<(String, String, Vec<String>)> = Vec::new();
    for a in applied {
        for spec in a.specs.iter().filter(|s| s.required) {
            if refs.iter().any(|r| r.code == spec.code) {
                continue;
            }
            match missing.iter_mut().find(|(code, _, _)| *code == spec.code) {
                Some((_, _, items)) => items.push(a.item.name.clone()),
                None => missing.push((
                    spec.code.clone(),
                    spec.name.clone(),
                    vec![a.item.name.clone()],
                )),
            }
        }
    }
    for (code, name, items) in missing {
        problems.push(problem(
            &format!("materials.{code}"),
            &format!("缺少材料：{name}（{}需要）", items.join("、")),
        ));
    }
    problems
}

/// What identifies a request under an idempotency key.
fn fingerprint(new: &NewBundleApplication) -> String {
    let mut h = Sha256::new();
    h.update(new.bundle_code.as_str().as_bytes());
    h.update([0]);
    let mut optional = new.optional_items.clone();
    optional.sort();
    for code in &optional {
        h.update(code.as_bytes());
        h.update([1]);
    }
    h.update([0]);
    h.update(serde_json::to_vec(&new.form).unwrap_or_default());
    h.update([0]);
    for m in &new.materials {
        h.update(m.code.as_bytes());
        h.update([1]);
        h.update(m.material_id.as_bytes());
        h.update([2]);
    }
    match &new.obtain {
        Obtain::Collect => h.update([0]),
        Obtain::Post(a) => h.update(serde_json::to_vec(a).unwrap_or_default()),
    }
    if let Some(m) = &new.for_member {
        h.update(b"member");
        h.update(m.id.to_be_bytes());
    }
    if let Some(p) = &new.consent_of {
        h.update(b"consent");
        h.update(p.citizen_id.to_be_bytes());
    }
    hex::encode(h.finalize())
}

impl BundleService {
    /// Validates and stores a bundle application with its outbox row, in one transaction; the
    /// answer comes at once (`SUBMITTING`) and the forwarder sends it. The flag is true when an
    /// earlier request under the same idempotency key made it.
    ///
    /// # Errors
    /// See [`BundleApplyError`].
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, bundle_code = %new.bundle_code))]
    pub async fn submit(
        &self,
        citizen_id: i64,
        new: NewBundleApplication,
    ) -> Result<(BundleView, bool), BundleApplyError> {
        let db = &self.inner.db;
        let fingerprint = fingerprint(&new);
        if let Some(found) = self
            .under_key(citizen_id, new.idempotency_key.as_deref())
            .await?
        {
            return self.replayed(found, &fingerprint).await;
        }
        let citizen = find_citizen(db, citizen_id)
            .await
            .context("find the citizen")?
            .ok_or(BundleApplyError::IdentityRequired)?;
        let (name_cipher, id_cipher) = match proven(&citizen) {
            Ok(p) => (p.name_cipher, p.id_card_cipher),
            Err(IdentityGate::Missing) => return Err(BundleApplyError::IdentityRequired),
            Err(IdentityGate::Unverified) => return Err(BundleApplyError::IdentityNotVerified),
        };
        let phone_cipher = citizen
            .phone_cipher
            .as_ref()
            .ok_or(BundleApplyError::PhoneRequired)?;
        let row = bundle::Entity::find_by_id(new.bundle_code.as_str().to_owned())
            .one(db)
            .await
            .context("find the bundle")?
            .ok_or(BundleApplyError::BundleNotFound)?;
        if row.online_level < MIN_ONLINE_LEVEL {
            return Err(BundleApplyError::BundleNotOnline);
        }
        let (members, shared) = parts_of(&row)?;
        let mut problems = Vec::new();
        for (i, code) in new.optional_items.iter().enumerate() {
            let field = format!("optionalItems[{i}]");
            match members.iter().find(|m| &m.item_code == code) {
                None => problems.push(problem(&field, &format!("该一件事不包含事项{code}"))),
                Some(m) if m.required => {
                    problems.push(problem(&field, "必办事项无需选择，已包含在申请中"));
                }
                Some(_) if new.optional_items[..i].contains(code) => {
                    problems.push(problem(&field, "可选事项重复"));
                }
                Some(_) => {}
            }
        }
        let codes: Vec<String> = members
            .iter()
            .filter(|m| m.required || new.optional_items.contains(&m.item_code))
            .map(|m| m.item_code.clone())
            .collect();
        let items: BTreeMap<String, item::Model> = item::Entity::find()
            .filter(item::Column::ItemCode.is_in(codes.iter().map(String::as_str)))
            .all(db)
            .await
            .context("read the bundle's items")?
            .into_iter()
            .map(|i| (i.item_code.clone(), i))
            .collect();
        let mut applied = Vec::with_capacity(codes.len());
        for code in &codes {
            match items.get(code) {
                Some(it) => applied.push(Applied {
                    specs: serde_json::from_str(&it.materials).context("stored materials")?,
                    item: it.clone(),
                }),
                None => problems.push(problem(
                    "bundleCode",
                    &format!("事项{code}暂不在目录中，请稍后再试"),
                )),
            }
        }
        if !new.form.is_object() {
            problems.push(problem("form", "表单内容应为对象"));
        }
        let form_text = serde_json::to_string(&new.form).context("encode the form")?;
        if form_text.len() > MAX_FORM_BYTES {
            problems.push(problem("form", "表单内容过长"));
        }
        let post_address = match &new.obtain {
            Obtain::Collect => None,
            Obtain::Post(address) => {
                problems.extend(check_address(address));
                Some(address.clone())
            }
        };
        if !problems.is_empty() {
            return Err(BundleApplyError::Invalid(problems));
        }
        let ids: Vec<String> = new
            .materials
            .iter()
            .map(|r| r.material_id.clone())
            .collect();
        let rows = if ids.is_empty() {
            Vec::new()
        } else {
            material::Entity::find()
                .filter(material::Column::CitizenId.eq(citizen_id))
                .filter(material::Column::Id.is_in(ids.iter().map(String::as_str)))
                .all(db)
                .await
                .context("read the citizen's materials")?
        };
        if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| &r.id == *id)) {
            return Err(BundleApplyError::MaterialNotFound(missing.clone()));
        }
        let shared_formats: BTreeMap<String, (Vec<String>, u32)> = shared
            .iter()
            .filter(|s| s.used_by.iter().any(|u| codes.contains(u)))
            .map(|s| (s.code.clone(), (s.formats.clone(), s.max_size_kb)))
            .collect();
        let problems = check_materials(&applied, &shared_formats, &new.materials, &rows);
        if !problems.is_empty() {
            return Err(BundleApplyError::Materials(problems));
        }

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
        let agent_of = |me: &(String, String, String)| Agent {
            name: me.0.clone(),
            cert_type: "111".into(),
            cert_no: me.1.clone(),
            phone: me.2.clone(),
        };
        // As an application's (`applications::submit`): a member, or a person who consents.
        let (applicant, agent) = match (&new.for_member, &new.consent_of) {
            (Some(_), Some(_)) => {
                return Err(BundleApplyError::Invalid(vec![problem(
                    "consentOf",
                    "为家庭成员申办时不能再填写代办对象",
                )]));
            }
            // The member has no phone here: the platform reaches them through the agent's.
            (Some(member), None) => (
                person(member.name.as_str(), member.id_card_no.as_str(), &me.2),
                Some(agent_of(&me)),
            ),
            (None, Some(p)) if p.citizen_id == citizen_id || p.id_card_no.as_str() == me.1 => {
                return Err(BundleApplyError::Invalid(vec![problem(
                    "consentOf.idCardNo",
                    "代办对象不能是您本人",
                )]));
            }
            (None, Some(p)) => (
                person(
                    p.name.as_str(),
                    p.id_card_no.as_str(),
                    p.phone.as_ref().map_or(me.2.as_str(), |n| n.as_str()),
                ),
                Some(agent_of(&me)),
            ),
            (None, None) => (person(&me.0, &me.1, &me.2), None),
        };
        let private = serde_json::to_string(&Private {
            applicant,
            agent,
            post_address,
        })
        .context("encode the private part")?;
        let now = self.inner.clock.now();
        // Whole milliseconds: every resend carries the same `submittedAt`.
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let model = bundle_application::Model {
            id: uuid::Uuid::now_v7().to_string(),
            citizen_id,
            bundle_code: row.bundle_code.clone(),
            bundle_name: row.name.clone(),
            idempotency_key: new.idempotency_key.clone(),
            fingerprint: Some(fingerprint.clone()),
            items: serde_json::to_string(&codes).context("encode the items")?,
            form: form_text,
            materials: serde_json::to_string(&new.materials).context("encode materials")?,
            obtain_way: i16::from(matches!(new.obtain, Obtain::Post(_))),
            private_cipher: cipher.encrypt_str(&private, &bundle_private_context(citizen_id)),
            on_behalf: new.for_member.is_some() || new.consent_of.is_some(),
            member_id: new.for_member.as_ref().map(|m| m.id),
            status: if new.consent_of.is_some() {
                Delivery::AwaitingConsent
            } else {
                Delivery::Submitting
            },
            bundle_no: None,
            received_at: None,
            problem: None,
            submitted_at: now,
            updated_at: now,
        };
        let txn = crate::db::write(db)
            .await
            .context("begin the bundle application")?;
        let inserted = bundle_application::Entity::insert(bundle_application::ActiveModel::from(
            model.clone(),
        ))
        .exec_without_returning(&txn)
        .await;
        if let Err(e) = inserted {
            if crate::db::unique_violation(&e, None) && new.idempotency_key.is_some() {
                drop(txn);
                let found = self
                    .under_key(citizen_id, new.idempotency_key.as_deref())
                    .await?
                    .context("the key's bundle application vanished")?;
                return self.replayed(found, &fingerprint).await;
            }
            return Err(anyhow::Error::new(e)
                .context("insert the bundle application")
                .into());
        }
        // For someone not on the phone: a consent request, and no outbox row until they accept.
        let consent = match &new.consent_of {
            Some(person) => Some(
                crate::applications::request_consent(
                    &txn,
                    &self.inner.notifications,
                    &model.id,
                    &crate::applications::Asking {
                        requester_id: citizen_id,
                        requester_name: &me.0,
                        item_name: &model.bundle_name,
                    },
                    person,
                    now,
                    self.inner.config.consent_ttl,
                )
                .await?,
            ),
            None => {
                enqueue(&txn, &model.id, now).await?;
                None
            }
        };
        txn.commit()
            .await
            .context("commit the bundle application")?;
        let mut view = self.plain(model);
        if consent.is_none() {
            metrics::counter!("bundle_applications_submitted_total").increment(1);
            self.inner.wake.notify_one();
        } else {
            self.inner.notifications.wake().await;
        }
        view.consent = consent;
        Ok((view, false))
    }

    async fn under_key(
        &self,
        citizen_id: i64,
        key: Option<&str>,
    ) -> anyhow::Result<Option<bundle_application::Model>> {
        let Some(key) = key else {
            return Ok(None);
        };
        bundle_application::Entity::find()
            .filter(bundle_application::Column::CitizenId.eq(citizen_id))
            .filter(bundle_application::Column::IdempotencyKey.eq(key))
            .one(&self.inner.db)
            .await
            .context("look up the idempotency key")
    }

    async fn replayed(
        &self,
        found: bundle_application::Model,
        fingerprint: &str,
    ) -> Result<(BundleView, bool), BundleApplyError> {
        if found.fingerprint.as_deref() != Some(fingerprint) {
            return Err(BundleApplyError::IdempotencyKeyReused);
        }
        let view = self.view_of(found).await?;
        Ok((view, true))
    }
}

/// Adds the outbox row of a bundle application to the caller's transaction.
async fn enqueue(
    txn: &impl ConnectionTrait,
    bundle_application_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    bundle_outbox::Entity::insert(bundle_outbox::ActiveModel {
        bundle_application_id: Set(bundle_application_id.to_owned()),
        status: Set(crate::province::outbox::OutboxStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        first_failure_at: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await
    .context("enqueue the bundle for the province")?;
    Ok(())
}

/// Moves a bundle application out of `AWAITING_CONSENT` once its person answered (or the request
/// lapsed), inside the consent's transaction (`applications::consent`); on an acceptance
/// (`SUBMITTING`) its outbox row is written there too. The number of rows moved (0 or 1).
///
/// # Errors
/// The database failed.
pub(crate) async fn release_consented(
    conn: &impl ConnectionTrait,
    id: &str,
    to: Delivery,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<u64> {
    use sea_orm::sea_query::Expr;
    let moved = bundle_application::Entity::update_many()
        .col_expr(bundle_application::Column::Status, Expr::value(to.as_str()))
        .col_expr(bundle_application::Column::UpdatedAt, Expr::value(now))
        .filter(bundle_application::Column::Id.eq(id))
        .filter(bundle_application::Column::Status.eq(Delivery::AwaitingConsent.as_str()))
        .exec(conn)
        .await
        .context("release the bundle application")?
        .rows_affected;
    if moved == 1 && to == Delivery::Submitting {
        enqueue(conn, id, now).await?;
        metrics::counter!("bundle_applications_submitted_total").increment(1);
    }
    Ok(moved)
}

/// What a consent request about a bundle application asks: the bundle's code and name.
///
/// # Errors
/// The database failed.
pub(crate) async fn asked_about(
    conn: &impl ConnectionTrait,
    id: &str,
) -> anyhow::Result<Option<(String, String)>> {
    Ok(bundle_application::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("read the bundle application asked about")?
        .map(|b| (b.bundle_code, b.bundle_name)))
}
