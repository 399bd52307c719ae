//! A bundle application followed as one matter: its overall state, each part's timeline (the
//! part's own application), and the bundle's deadline on the working-day calendar.

use anyhow::Context as _;
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};

use super::BundleService;
use crate::applications::{
    ApplicationView, ConsentSummary, Deadline, Delivery, MaterialRef, Problem,
};
use crate::province::Phase;
use crate::time::SHANGHAI;
use entities::{bundle, bundle_application, bundle_part};

/// Where a bundle stands as one matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleState {
    /// Stored, not yet sent.
    Submitting,
    /// Waiting for the platform to be reachable.
    Queued,
    /// Refused by the platform: the citizen must fix it and apply again.
    Invalid,
    /// An operator's matter.
    Parked,
    /// The parts are being handled.
    InProgress,
    /// At least one part asks for a supplement (补正): the citizen must act.
    SupplementRequired,
    /// Every part concluded (or delivered).
    Concluded,
    /// Every part ended, one or more rejected (不予受理), the others concluded.
    PartlyRejected,
    /// Every part rejected.
    Rejected,
    /// For someone who must consent first: nothing is sent until they accept.
    AwaitingConsent,
    /// They refused: never sent.
    ConsentRefused,
    /// They did not answer in time: never sent.
    ConsentExpired,
}

/// One part of a bundle: the application of one item.
#[derive(Debug, Clone)]
pub struct BundlePartView {
    pub item_code: String,
    pub sblsh: String,
    /// The part's application (its id answers a supplement for this part only), with its
    /// timeline, deadline and supplement request.
    pub application: ApplicationView,
}

/// A bundle application as its citizen sees it.
#[derive(Debug, Clone)]
pub struct BundleView {
    pub id: String,
    pub bundle_code: String,
    pub bundle_name: String,
    pub status: Delivery,
    pub state: BundleState,
    pub bundle_no: Option<String>,
    /// The items applied for.
    pub items: Vec<String>,
    pub materials: Vec<MaterialRef>,
    pub obtain_way: u8,
    pub on_behalf: bool,
    pub member_id: Option<i64>,
    /// For someone not on the phone (代办 with consent): their consent request, the one an
    /// application asks (`applications::consent`); nothing is sent before it is accepted.
    pub consent: Option<ConsentSummary>,
    pub problem: Option<Problem>,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// The bundle's promise counted in working days from the day the platform received it;
    /// paused while a part waits for a supplement.
    pub deadline: Option<Deadline>,
    /// Filled for one bundle, empty in lists.
    pub parts: Vec<BundlePartView>,
}

fn delivery_state(status: Delivery) -> BundleState {
    match status {
        Delivery::Queued => BundleState::Queued,
        Delivery::Invalid => BundleState::Invalid,
        Delivery::Parked => BundleState::Parked,
        Delivery::Submitted => BundleState::InProgress,
        Delivery::AwaitingConsent => BundleState::AwaitingConsent,
        Delivery::ConsentRefused => BundleState::ConsentRefused,
        Delivery::ConsentExpired => BundleState::ConsentExpired,
        _ => BundleState::Submitting,
    }
}

/// The state of a bundle whose parts are known, from each part's timeline.
fn parts_state(parts: &[BundlePartView]) -> BundleState {
    if parts.is_empty() {
        return BundleState::InProgress;
    }
    if parts
        .iter()
        .any(|p| p.application.supplement_request.is_some())
    {
        return BundleState::SupplementRequired;
    }
    let ended =
        |p: &BundlePartView, phase: Phase| p.application.timeline.iter().any(|e| e.phase == phase);
    let rejected = parts.iter().filter(|p| ended(p, Phase::Rejected)).count();
    let concluded = parts
        .iter()
        .filter(|p| {
            !ended(p, Phase::Rejected) && (ended(p, Phase::Concluded) || ended(p, Phase::Delivered))
        })
        .count();
    if rejected + concluded < parts.len() {
        BundleState::InProgress
    } else if rejected == parts.len() {
        BundleState::Rejected
    } else if rejected > 0 {
        BundleState::PartlyRejected
    } else {
        BundleState::Concluded
    }
}

impl BundleService {
    pub(super) fn plain(&self, row: bundle_application::Model) -> BundleView {
        let status = row.status;
        BundleView {
            state: delivery_state(status),
            status,
            items: serde_json::from_str(&row.items).unwrap_or_default(),
            materials: serde_json::from_str(&row.materials).unwrap_or_default(),
            problem: row
                .problem
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            obtain_way: u8::try_from(row.obtain_way).unwrap_or(0),
            id: row.id,
            bundle_code: row.bundle_code,
            bundle_name: row.bundle_name,
            bundle_no: row.bundle_no,
            on_behalf: row.on_behalf,
            member_id: row.member_id,
            consent: None,
            submitted_at: row.submitted_at,
            received_at: row.received_at,
            updated_at: row.updated_at,
            deadline: None,
            parts: Vec::new(),
        }
    }

    /// The full view: each part with its timeline, the overall state and the deadline.
    pub(super) async fn view_of(
        &self,
        row: bundle_application::Model,
    ) -> anyhow::Result<BundleView> {
        let inner = &self.inner;
        let citizen_id = row.citizen_id;
        let on_behalf = row.on_behalf && row.member_id.is_none();
        let mut view = self.plain(row);
        if on_behalf {
            view.consent = crate::applications::consent_of(&inner.db, &view.id).await?;
        }
        // The parts are written with the bundle's number, in one transaction: a row read before
        // that shows none, whatever committed since.
        if view.bundle_no.is_none() {
            return Ok(view);
        }
        let parts = bundle_part::Entity::find()
            .filter(bundle_part::Column::BundleApplicationId.eq(view.id.as_str()))
            .order_by_asc(bundle_part::Column::Position)
            .all(&inner.db)
            .await
            .context("read the bundle's parts")?;
        for part in parts {
            let Some(application) = inner
                .applications
                .get(citizen_id, &part.application_id)
                .await?
            else {
                continue;
            };
            view.parts.push(BundlePartView {
                item_code: part.item_code,
                sblsh: part.sblsh,
                application,
            });
        }
        if view.status == Delivery::Submitted {
            view.state = parts_state(&view.parts);
        }
        if let Some(received) = view.received_at
            && !matches!(view.state, BundleState::Rejected)
        {
            let promised = bundle::Entity::find_by_id(view.bundle_code.clone())
                .one(&inner.db)
                .await
                .context("read the bundle")?
                .map(|b| u32::try_from(b.promised_days).unwrap_or(0));
            if let Some(days) = promised.filter(|d| *d > 0) {
                let calendar = inner.calendar.calendar().await?;
                let start = received.with_timezone(&SHANGHAI).date_naive();
                if let Ok(date) = calendar.add_working_days(start, days) {
                    let ended = matches!(
                        view.state,
                        BundleState::Concluded | BundleState::PartlyRejected
                    );
                    // A part waiting for a supplement stops its own clock; the bundle's ends no
                    // sooner than its latest part's.
                    let latest = view
                        .parts
                        .iter()
                        .filter_map(|p| p.application.deadline.as_ref())
                        .map(|d| d.date)
                        .max();
                    view.deadline = Some(Deadline {
                        date: latest.map_or(date, |l| l.max(date)),
                        working_days: days,
                        paused: !ended
                            && view
                                .parts
                                .iter()
                                .any(|p| p.application.deadline.as_ref().is_some_and(|d| d.paused)),
                    });
                }
            }
        }
        Ok(view)
    }

    /// One of the citizen's bundle applications, followed as one matter; `None` when it is not
    /// theirs.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn get(&self, citizen_id: i64, id: &str) -> anyhow::Result<Option<BundleView>> {
        // A consent request that lapsed is marked when its requester looks, as for applications.
        self.inner
            .applications
            .lapse_due(crate::applications::Side::Requester(citizen_id))
            .await?;
        let Some(row) = bundle_application::Entity::find_by_id(id)
            .filter(bundle_application::Column::CitizenId.eq(citizen_id))
            .one(&self.inner.db)
            .await
            .context("read the bundle application")?
        else {
            return Ok(None);
        };
        Ok(Some(self.view_of(row).await?))
    }

    /// The citizen's bundle applications, newest first, without their parts.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn mine(
        &self,
        citizen_id: i64,
        page: u64,
        page_size: u64,
    ) -> anyhow::Result<(Vec<BundleView>, u64)> {
        self.inner
            .applications
            .lapse_due(crate::applications::Side::Requester(citizen_id))
            .await?;
        let query = bundle_application::Entity::find()
            .filter(bundle_application::Column::CitizenId.eq(citizen_id))
            .order_by_desc(bundle_application::Column::SubmittedAt)
            .order_by_desc(bundle_application::Column::Id);
        let total = query.clone().count(&self.inner.db).await?;
        let rows = query
            .offset(page.saturating_sub(1) * page_size)
            .limit(page_size)
            .all(&self.inner.db)
            .await?;
        Ok((rows.into_iter().map(|r| self.plain(r)).collect(), total))
    }
}
