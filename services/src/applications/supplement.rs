//! Submitting the materials a 补正告知 asked for, forwarded the same exactly-once way.

use crate::province::MaterialSpec;
use anyhow::Context as _;
use chrono::DateTime;
use entities::{application, item, supplement};
use sea_orm::{ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use super::check::*;
use super::*;

impl ApplicationService {
    /// Submits the materials a 补正告知 asked for; forwarded the same exactly-once way.
    ///
    /// # Errors
    /// See [`SupplementError`].
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, application_id = %application_id))]
    pub async fn supplement(
        &self,
        citizen_id: i64,
        application_id: &str,
        materials: Vec<MaterialRef>,
        note: Option<String>,
    ) -> Result<SupplementView, SupplementError> {
        let db = &self.inner.db;
        let app = application::Entity::find_by_id(application_id)
            .filter(application::Column::CitizenId.eq(citizen_id))
            .one(db)
            .await
            .context("find the application")?
            .ok_or(SupplementError::NotFound)?;
        let view = self.view(app, true).await?;
        let request = view
            .supplement_request
            .ok_or(SupplementError::NotRequested)?;
        // A supplement the platform refused (422) may be made again; any other stands.
        if view
            .supplements
            .iter()
            .any(|s| s.requested_version == request.version && s.status != Delivery::Invalid)
        {
            return Err(SupplementError::AlreadySubmitted);
        }
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            return Err(SupplementError::Invalid(vec![problem(
                "note",
                "说明不能超过500个字",
            )]));
        }
        let ids: Vec<String> = materials.iter().map(|r| r.material_id.clone()).collect();
        let rows = own_materials(db, citizen_id, &ids).await?;
        if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| &r.id == *id)) {
            return Err(SupplementError::MaterialNotFound(missing.clone()));
        }
        let item = item::Entity::find_by_id(view.item_code.as_str())
            .one(db)
            .await
            .context("find the item")?;
        let specs: Vec<MaterialSpec> = match item {
            Some(item) => serde_json::from_str(&item.materials).context("item materials")?,
            None => Vec::new(),
        };
        let mut problems = Vec::new();
        if materials.is_empty() {
            problems.push(problem("materials", "请上传需要补正的材料"));
        }
        for code in &request.materials {
            if !materials.iter().any(|m| &m.code == code) {
                let name = specs
                    .iter()
                    .find(|s| &s.code == code)
                    .map_or(code.as_str(), |s| s.name.as_str());
                problems.push(problem(
                    &format!("materials.{code}"),
                    &format!("请补正材料：{name}"),
                ));
            }
        }
        if let Err(mut found) = check_materials(&specs, &materials, &rows, false) {
            problems.append(&mut found);
        }
        if !problems.is_empty() {
            return Err(SupplementError::Materials(problems));
        }
        let now = self.inner.clock.now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let id = uuid::Uuid::now_v7().to_string();
        let requested = i64::try_from(request.version).unwrap_or(i64::MAX);
        let txn = crate::db::write(db).await.context("begin the supplement")?;
        supplement::Entity::delete_many()
            .filter(supplement::Column::ApplicationId.eq(view.id.as_str()))
            .filter(supplement::Column::RequestedVersion.eq(requested))
            .filter(supplement::Column::Status.eq(Delivery::Invalid))
            .exec(&txn)
            .await
            .context("clear a refused supplement")?;
        let inserted = supplement::Entity::insert(supplement::ActiveModel {
            id: Set(id.clone()),
            application_id: Set(view.id.clone()),
            requested_version: Set(requested),
            materials: Set(serde_json::to_string(&materials).context("encode materials")?),
            note: Set(note),
            status: Set(Delivery::Submitting),
            result_version: Set(None),
            problem: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if crate::db::unique_violation(&e, None) => {
                return Err(SupplementError::AlreadySubmitted);
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context("insert the supplement")
                    .into());
            }
        }
        forward::enqueue(&txn, &view.id, Some(&id), now).await?;
        txn.commit().await.context("commit the supplement")?;
        self.inner.wake.notify_one();
        Ok(SupplementView {
            id,
            requested_version: request.version,
            status: Delivery::Submitting,
            problem: None,
            created_at: now,
        })
    }
}
