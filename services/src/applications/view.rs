//! Reading applications: the citizen's list, and one with its timeline, deadline, supplements
//! and consent, read in one snapshot so that they agree.

use anyhow::Context as _;
use entities::{application, case_event, item, material, supplement};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};
use serde_json::Value;

use super::*;

pub(super) fn to_material(row: material::Model) -> Material {
    Material {
        id: row.id,
        sha256: row.sha256,
        size: u64::try_from(row.size).unwrap_or(0),
        content_type: row.content_type,
        file_name: row.file_name,
        created_at: row.created_at,
    }
}

pub(super) fn plain_view(row: application::Model) -> ApplicationView {
    ApplicationView {
        status: row.status,
        phase: row.phase.map(events::phase_of),
        problem: row
            .problem
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        materials: serde_json::from_str(&row.materials).unwrap_or_default(),
        form: serde_json::from_str(&row.form).unwrap_or(Value::Null),
        obtain_way: u8::try_from(row.obtain_way).unwrap_or(0),
        id: row.id,
        item_code: row.item_code,
        item_name: row.item_name,
        sblsh: row.sblsh,
        submitted_at: row.submitted_at,
        received_at: row.received_at,
        tracking_no: row.tracking_no,
        on_behalf: row.on_behalf,
        member_id: row.member_id,
        updated_at: row.updated_at,
        timeline: Vec::new(),
        deadline: None,
        supplement_request: None,
        supplements: Vec::new(),
        consent: None,
    }
}

impl ApplicationService {
    /// The citizen's applications, newest first.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn mine(
        &self,
        citizen_id: i64,
        page: u64,
        page_size: u64,
    ) -> anyhow::Result<ApplicationPage> {
        self.lapse_due(consent::Side::Requester(citizen_id)).await?;
        let query = application::Entity::find()
            .filter(application::Column::CitizenId.eq(citizen_id))
            .order_by_desc(application::Column::SubmittedAt)
            .order_by_desc(application::Column::Id);
        let total = query.clone().count(&self.inner.db).await?;
        let rows = query
            .offset(page.saturating_sub(1) * page_size)
            .limit(page_size)
            .all(&self.inner.db)
            .await?;
        Ok(ApplicationPage {
            items: rows.into_iter().map(plain_view).collect(),
            total,
        })
    }

    /// One of the citizen's applications with its timeline, deadline and supplements; `None`
    /// when it is not theirs.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn get(&self, citizen_id: i64, id: &str) -> anyhow::Result<Option<ApplicationView>> {
        self.lapse_due(consent::Side::Requester(citizen_id)).await?;
        // One snapshot for the row and its events: a callback committing between two reads
        // would otherwise show a timeline one event ahead of the phase.
        let snapshot = crate::db::snapshot(&self.inner.db).await?;
        let Some(row) = application::Entity::find_by_id(id)
            .filter(application::Column::CitizenId.eq(citizen_id))
            .one(&snapshot)
            .await
            .context("read the application")?
        else {
            return Ok(None);
        };
        let view = self.view_in(&snapshot, row).await?;
        snapshot.commit().await.context("end the snapshot")?;
        Ok(Some(view))
    }

    pub(super) async fn view(
        &self,
        row: application::Model,
        full: bool,
    ) -> anyhow::Result<ApplicationView> {
        if !full {
            return Ok(plain_view(row));
        }
        let snapshot = crate::db::snapshot(&self.inner.db).await?;
        let view = self.view_in(&snapshot, row).await?;
        snapshot.commit().await.context("end the snapshot")?;
        Ok(view)
    }

    /// The full view of `row`, every read in `db` (one snapshot, so that the phase, the timeline
    /// and the supplements agree).
    pub(super) async fn view_in(
        &self,
        db: &impl ConnectionTrait,
        row: application::Model,
    ) -> anyhow::Result<ApplicationView> {
        let mut view = plain_view(row);
        if let Some(sblsh) = &view.sblsh {
            let events = case_event::Entity::find()
                .filter(case_event::Column::Sblsh.eq(sblsh.as_str()))
                .order_by_asc(case_event::Column::Version)
                .all(db)
                .await?;
            // A number the platform gave twice: what came from the moment the second
            // application was sent may be its case's, not this one's.
            let disputed_since = entities::case_number_dispute::Entity::find_by_id(sblsh.as_str())
                .one(db)
                .await?
                .map(|d| d.since);
            view.timeline = events
                .iter()
                .filter(|e| disputed_since.is_none_or(|since| e.received_at < since))
                .filter_map(events::to_entry)
                .collect();
        }
        let promised = item::Entity::find_by_id(view.item_code.as_str())
            .one(db)
            .await?
            .map(|i| u32::try_from(i.promised_days).unwrap_or(0));
        if let Some(days) = promised {
            let calendar = self.inner.calendar.calendar().await?;
            view.deadline =
                events::deadline(&calendar, &view.timeline, days, self.inner.clock.today());
        }
        view.supplement_request = events::open_request(&view.timeline);
        view.consent = consent::of_application(db, &view.id).await?;
        view.supplements = supplement::Entity::find()
            .filter(supplement::Column::ApplicationId.eq(view.id.as_str()))
            .order_by_asc(supplement::Column::CreatedAt)
            .all(db)
            .await?
            .into_iter()
            .map(|s| SupplementView {
                id: s.id,
                requested_version: u64::try_from(s.requested_version).unwrap_or(0),
                status: s.status,
                problem: s
                    .problem
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok()),
                created_at: s.created_at,
            })
            .collect();
        Ok(view)
    }
}
