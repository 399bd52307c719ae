//! Invitations: written in the transaction that finished a ticket or recorded a case's
//! conclusion, once per subject (the unique index on the subject; a repeat does nothing), with
//! the `evaluation_invited` notification in the same transaction.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait as _};
use serde_json::json;

use super::SubjectKind;
use crate::notify::{NotificationKind, Notifications};
use entities::{application, counter, evaluation_invitation, hall, item, ticket};

/// Invites the citizen a served ticket was issued to. Anonymous walk-ins are not invited.
/// Returns whether an invitation was written (false: anonymous, or invited already). Wake the
/// notifications after committing.
///
/// # Errors
/// The database failed (the caller's transaction should roll back).
pub async fn invite_ticket(
    txn: &impl ConnectionTrait,
    notifications: &Notifications,
    t: &ticket::Model,
    served_at: &counter::Model,
    staff_id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let Some(citizen_id) = t.citizen_id else {
        return Ok(false);
    };
    let hall = hall::Entity::find_by_id(t.hall_id)
        .one(txn)
        .await
        .context("read the ticket's hall")?;
    let item = match &t.item_code {
        Some(code) => item::Entity::find_by_id(code.as_str())
            .one(txn)
            .await
            .context("read the ticket's item")?,
        None => None,
    };
    let row = evaluation_invitation::ActiveModel {
        subject_kind: Set(SubjectKind::Ticket),
        subject_id: Set(t.id.to_string()),
        citizen_id: Set(citizen_id),
        channel: Set("OFFLINE".to_owned()),
        hall_id: Set(Some(t.hall_id)),
        counter_id: Set(Some(served_at.id)),
        category_id: Set(Some(t.category_id)),
        staff_id: Set(Some(staff_id)),
        item_code: Set(t.item_code.clone()),
        item_name: Set(item.as_ref().map(|i| i.name.clone())),
        department: Set(item.as_ref().map(|i| i.department.clone())),
        sblsh: Set(None),
        hall_code: Set(hall.as_ref().map(|h| h.code.clone())),
        window_no: Set(Some(served_at.number.to_string())),
        invited_at: Set(now),
        settled: Set(false),
        ..Default::default()
    };
    let place = hall.as_ref().map_or_else(String::new, |h| h.name.clone());
    let item_name = item
        .as_ref()
        .map_or_else(|| format!("{}号业务", t.number), |i| i.name.clone());
    insert(
        txn,
        notifications,
        row,
        citizen_id,
        SubjectKind::Ticket,
        &t.id.to_string(),
        &item_name,
        &place,
        now,
    )
    .await
}

/// Invites the citizen who submitted an application (the applicant, or the agent) once its
/// case is concluded or rejected. Returns whether an invitation was written.
///
/// # Errors
/// The database failed (the caller's transaction should roll back).
pub async fn invite_case(
    txn: &impl ConnectionTrait,
    notifications: &Notifications,
    app: &application::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let item = item::Entity::find_by_id(app.item_code.as_str())
        .one(txn)
        .await
        .context("read the case's item")?;
    let department = item.as_ref().map(|i| i.department.clone());
    let row = evaluation_invitation::ActiveModel {
        subject_kind: Set(SubjectKind::Case),
        subject_id: Set(app.id.clone()),
        citizen_id: Set(app.citizen_id),
        channel: Set("ONLINE".to_owned()),
        hall_id: Set(None),
        counter_id: Set(None),
        category_id: Set(None),
        staff_id: Set(None),
        item_code: Set(Some(app.item_code.clone())),
        item_name: Set(Some(app.item_name.clone())),
        department: Set(department.clone()),
        sblsh: Set(app.sblsh.clone()),
        hall_code: Set(None),
        window_no: Set(None),
        invited_at: Set(now),
        settled: Set(false),
        ..Default::default()
    };
    insert(
        txn,
        notifications,
        row,
        app.citizen_id,
        SubjectKind::Case,
        &app.id,
        &app.item_name,
        &department.unwrap_or_else(|| "网上办事大厅".to_owned()),
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    txn: &impl ConnectionTrait,
    notifications: &Notifications,
    row: evaluation_invitation::ActiveModel,
    citizen_id: i64,
    kind: SubjectKind,
    subject_id: &str,
    item_name: &str,
    place: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let inserted = evaluation_invitation::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                evaluation_invitation::Column::SubjectKind,
                evaluation_invitation::Column::SubjectId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .context("invite to evaluate")?;
    if inserted == 0 {
        return Ok(false);
    }
    let reference = format!("{}:{subject_id}", kind.as_str().to_lowercase());
    notifications
        .notify(
            txn,
            citizen_id,
            NotificationKind::EvaluationInvited,
            &json!({
                "item_name": item_name,
                "place": place,
                "at": now.to_rfc3339(),
                "ref": reference,
            }),
            &format!("evaluation-invited:{reference}"),
        )
        .await
        .context("notify the invitation")?;
    metrics::counter!("evaluation_invitations_total", "kind" => kind.as_str()).increment(1);
    Ok(true)
}
