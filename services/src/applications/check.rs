//! The checks of what a citizen submits, pure where they can be: the form, the postal address,
//! the materials against the item's specifications, and the fingerprint of a request under an
//! idempotency key.

use crate::identity::PhoneNumber;
use crate::province::{Applicant, MaterialSpec, PostAddress};
use anyhow::Context as _;
use entities::material;
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::*;

pub(super) fn problem(field: &str, reason: &str) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(super) fn person_applicant(name: &str, id_card: &str, phone: &str) -> Applicant {
    Applicant {
        applicant_type: 1,
        name: name.to_owned(),
        cert_type: "111".into(),
        cert_no: id_card.to_owned(),
        phone: phone.to_owned(),
    }
}

pub(super) fn check_address(address: &PostAddress) -> Vec<FieldProblem> {
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

pub(super) fn check_form(form: &Value) -> Result<String, ApplyError> {
    if !form.is_object() {
        return Err(ApplyError::Invalid(vec![problem(
            "form",
            "表单内容应为对象",
        )]));
    }
    let text = serde_json::to_string(form).context("encode the form")?;
    if text.len() > MAX_FORM_BYTES {
        return Err(ApplyError::Invalid(vec![problem("form", "表单内容过长")]));
    }
    Ok(text)
}

/// Checks materials against the item's specifications: each code is the item's, each file is
/// of an admitted format and within the size, the total within 32 MiB, and (for an application)
/// every required material is present.
pub(super) fn check_materials(
    specs: &[MaterialSpec],
    refs: &[MaterialRef],
    rows: &[material::Model],
    require_all: bool,
) -> Result<(), Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut total: u64 = 0;
    for (i, r) in refs.iter().enumerate() {
        let field = format!("materials[{i}]");
        let Some(spec) = specs.iter().find(|s| s.code == r.code) else {
            problems.push(problem(
                &field,
                &format!("该事项没有编号为{}的材料", r.code),
            ));
            continue;
        };
        let Some(row) = rows.iter().find(|m| m.id == r.material_id) else {
            continue;
        };
        let size = u64::try_from(row.size).unwrap_or(u64::MAX);
        total = total.saturating_add(size);
        let admitted = MaterialType::from_content_type(&row.content_type)
            .is_some_and(|t| t.admitted_by(&spec.formats));
        if !admitted {
            problems.push(problem(
                &field,
                &format!("{}只接受{}格式", spec.name, spec.formats.join("、")),
            ));
        }
        if spec.max_size_kb > 0 && size > u64::from(spec.max_size_kb) * 1024 {
            problems.push(problem(
                &field,
                &format!("{}不能超过{}KB", spec.name, spec.max_size_kb),
            ));
        }
    }
    if total > MAX_TOTAL_BYTES {
        problems.push(problem("materials", "材料合计不能超过32MB"));
    }
    if require_all {
        for spec in specs.iter().filter(|s| s.required) {
            if !refs.iter().any(|r| r.code == spec.code) {
                problems.push(problem(
                    &format!("materials.{}", spec.code),
                    &format!("缺少必交材料：{}", spec.name),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// What identifies a request under an idempotency key: the same key with anything else is a
/// reuse. Personal fields enter only as a digest.
pub(super) fn fingerprint(new: &NewApplication) -> String {
    let mut h = Sha256::new();
    h.update(new.item_code.as_str().as_bytes());
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
        Obtain::Post(a) => {
            h.update(serde_json::to_vec(a).unwrap_or_default());
        }
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

pub(super) async fn own_materials(
    db: &impl ConnectionTrait,
    citizen_id: i64,
    ids: &[String],
) -> anyhow::Result<Vec<material::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    material::Entity::find()
        .filter(material::Column::CitizenId.eq(citizen_id))
        .filter(material::Column::Id.is_in(ids.iter().map(String::as_str)))
        .all(db)
        .await
        .context("read the citizen's materials")
}
