//! Syncing the catalogue from the platform, and reading it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{LikeExpr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, DatabaseConnection,
    EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::search::{
    ItemPage, ItemSummary, MAX_PAGE, MAX_PAGE_SIZE, SearchError, contains_pattern, keyword,
};
use crate::province::{CatalogueItem, ItemType, MaterialSpec, ProvinceClient, ProvinceError};
use crate::store::{Lock, Store};
use entities::{hall, hall_item, item, sync_state};

/// The row of `sync_state` the catalogue keeps.
const SYNC_NAME: &str = "items";
/// Items asked for per page.
const SYNC_PAGE_SIZE: u32 = 100;
/// A sync that never ends is a bug; stop paging here.
const SYNC_MAX_PAGES: u32 = 10_000;
/// How far the next sync reaches back before the previous one started.
const OVERLAP: chrono::Duration = chrono::Duration::minutes(5);
/// The sync lock's lease: longer than any sync, short enough that a dead holder frees it soon.
const SYNC_LEASE: Duration = Duration::from_secs(30 * 60);

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether every item was asked for, ignoring the watermark.
    pub full: bool,
    /// Items the platform sent.
    pub fetched: usize,
    /// Items stored (inserted or updated).
    pub upserted: usize,
    /// Items refused because a field does not fit (logged with their code).
    pub skipped: usize,
    /// Where the next incremental sync starts.
    pub watermark: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Another sync (on this or another instance) is running.
    #[error("another catalogue sync is running")]
    Busy,
    /// The platform failed or refused; the watermark is unchanged.
    #[error("the provincial platform failed")]
    Province(#[source] ProvinceError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Where an item can be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemHall {
    pub code: String,
    pub name: String,
    pub address: String,
    /// The item is bookable and this hall has a category for it.
    pub bookable: bool,
}

/// An item's guide (办事指南).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemGuide {
    pub item_code: String,
    pub handle_item_code: String,
    pub name: String,
    pub department: String,
    pub item_type: ItemType,
    pub legal_days: i32,
    pub promised_days: i32,
    /// Yuan, as the platform writes it.
    pub fee: String,
    pub materials: Vec<MaterialSpec>,
    pub online_level: i32,
    /// Bookable somewhere (each hall says whether there).
    pub bookable: bool,
    pub guide_url: Option<String>,
    /// The halls of the item that this gateway knows and that are open, by code.
    pub halls: Vec<ItemHall>,
    pub synced_at: DateTime<Utc>,
}

/// The catalogue.
#[derive(Clone)]
pub struct CatalogueService {
    db: DatabaseConnection,
    store: Arc<dyn Store>,
    clock: crate::time::Clock,
}

impl CatalogueService {
    pub fn new(db: DatabaseConnection, store: Arc<dyn Store>) -> Self {
        Self {
            db,
            store,
            clock: crate::time::Clock::system(),
        }
    }

    /// The same service reading "now" from `clock` (the application's, which tests move).
    #[must_use]
    pub fn with_clock(mut self, clock: crate::time::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Fetches the items changed since the last successful sync (every item when `full`, or
    /// when none succeeded yet) and upserts them.
    ///
    /// # Errors
    /// [`SyncError::Busy`] when another sync holds the lock; [`SyncError::Province`] when the
    /// platform fails or refuses (recorded in `sync_state.last_error`; the next sync starts from
    /// the same watermark).
    #[tracing::instrument(skip_all, fields(full = full))]
    pub async fn sync(&self, client: &ProvinceClient, full: bool) -> Result<SyncReport, SyncError> {
        let guard = Lock::new("catalogue-sync", SYNC_LEASE)
            .try_acquire(&self.store)
            .await
            .context("take the catalogue sync lock")?
            .ok_or(SyncError::Busy)?;
        let result = self.sync_locked(client, full).await;
        match guard.release().await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the catalogue sync outlived its lock's lease"),
            Err(e) => tracing::warn!(error = %e, "could not release the catalogue sync lock"),
        }
        match &result {
            Ok(report) => tracing::info!(
                fetched = report.fetched,
                upserted = report.upserted,
                skipped = report.skipped,
                "catalogue synced"
            ),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "catalogue sync failed"),
        }
        result
    }

    async fn sync_locked(
        &self,
        client: &ProvinceClient,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let started = self.clock.now();
        let since = if full {
            None
        } else {
            sync_state::Entity::find_by_id(SYNC_NAME.to_owned())
                .one(&self.db)
                .await
                .context("read the sync state")?
                .and_then(|s| s.watermark)
        };
        let fetched = self.fetch_all(client, since).await;
        let (fetched, upserted, skipped) = match fetched {
            Ok(counts) => counts,
            Err(e) => {
                record(&self.db, None, Some(chain(&e)), self.clock.now()).await?;
                return Err(e);
            }
        };
        let watermark = started - OVERLAP;
        record(&self.db, Some(watermark), None, self.clock.now()).await?;
        // 一件事 bundles, after the items they join (province-api.md, "一件事 bundles").
        match crate::bundles::sync_catalogue(&self.db, client, full, &self.clock).await {
            Ok(_) => {}
            Err(crate::bundles::SyncFailure::Province(e)) => return Err(SyncError::Province(e)),
            Err(crate::bundles::SyncFailure::Unexpected(e)) => return Err(e.into()),
        }
        Ok(SyncReport {
            full: since.is_none(),
            fetched,
            upserted,
            skipped,
            watermark,
        })
    }

    async fn fetch_all(
        &self,
        client: &ProvinceClient,
        since: Option<DateTime<Utc>>,
    ) -> Result<(usize, usize, usize), SyncError> {
        let (mut fetched, mut upserted, mut skipped) = (0, 0, 0);
        let mut page = 1;
        loop {
            let batch = client
                .list_items(since, page, SYNC_PAGE_SIZE)
                .await
                .map_err(SyncError::Province)?;
            fetched += batch.items.len();
            let now = self.clock.now();
            // One row per code, the page's last word on it (PostgreSQL refuses to upsert one
            // row twice in a statement).
            let mut rows: BTreeMap<String, item::ActiveModel> = BTreeMap::new();
            for item in &batch.items {
                match row_of(item, now) {
                    Ok(row) => {
                        rows.insert(item.item_code.clone(), row);
                    }
                    Err(reason) => {
                        skipped += 1;
                        tracing::warn!(item = %item.item_code, reason, "catalogue item skipped");
                    }
                }
            }
            upserted += rows.len();
            upsert(&self.db, rows.into_values().collect()).await?;
            match batch.next_page {
                Some(next) if next < SYNC_MAX_PAGES => page = next,
                Some(_) => {
                    return Err(
                        anyhow::anyhow!("the catalogue has over {SYNC_MAX_PAGES} pages").into(),
                    );
                }
                None => return Ok((fetched, upserted, skipped)),
            }
        }
    }

    /// Items whose name or department contains `keyword` (every item without one), by name.
    /// Pages count from 1.
    ///
    /// # Errors
    /// [`SearchError::KeywordTooLong`] over 50 characters; [`SearchError::BadPage`] outside
    /// 1–1000; [`SearchError::BadPageSize`] outside 1–50.
    pub async fn search(
        &self,
        keyword_text: Option<&str>,
        page: u64,
        page_size: u64,
    ) -> Result<ItemPage, SearchError> {
        let keyword = keyword(keyword_text)?;
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(SearchError::BadPage);
        }
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(SearchError::BadPageSize);
        }
        let mut query = item::Entity::find();
        if let Some(keyword) = keyword {
            let pattern = contains_pattern(&keyword);
            query = query.filter(
                Condition::any()
                    .add(item::Column::Name.like(LikeExpr::new(pattern.clone()).escape('\\')))
                    .add(item::Column::Department.like(LikeExpr::new(pattern).escape('\\'))),
            );
        }
        let total = query
            .clone()
            .count(&self.db)
            .await
            .context("count the items")?;
        let items = query
            .order_by_asc(item::Column::Name)
            .order_by_asc(item::Column::ItemCode)
            .offset((page - 1) * page_size)
            .limit(page_size)
            .all(&self.db)
            .await
            .context("search the items")?
            .into_iter()
            .map(|i| ItemSummary {
                item_type: item_type(i.item_type),
                item_code: i.item_code,
                name: i.name,
                department: i.department,
                promised_days: i.promised_days,
                online_level: i.online_level,
                bookable: i.bookable,
            })
            .collect();
        Ok(ItemPage { items, total })
    }

    /// An item's guide, with the open halls that handle it.
    ///
    /// # Errors
    /// The database cannot be read, or the stored materials or halls are not the JSON this
    /// service wrote.
    pub async fn item(&self, item_code: &super::ItemCode) -> anyhow::Result<Option<ItemGuide>> {
        let item_code = item_code.as_str();
        let Some(row) = item::Entity::find_by_id(item_code.to_owned())
            .one(&self.db)
            .await
            .context("read the item")?
        else {
            return Ok(None);
        };
        let materials: Vec<MaterialSpec> =
            serde_json::from_str(&row.materials).context("stored materials")?;
        let codes: Vec<String> = serde_json::from_str(&row.halls).context("stored halls")?;
        let halls = hall::Entity::find()
            .filter(hall::Column::Code.is_in(codes.iter().cloned()))
            .filter(hall::Column::Active.eq(true))
            .order_by_asc(hall::Column::Code)
            .all(&self.db)
            .await
            .context("read the item's halls")?;
        let mapped: BTreeSet<i64> = hall_item::Entity::find()
            .filter(hall_item::Column::ItemCode.eq(item_code))
            .filter(hall_item::Column::HallId.is_in(halls.iter().map(|h| h.id)))
            .all(&self.db)
            .await
            .context("read the item's categories")?
            .into_iter()
            .map(|m| m.hall_id)
            .collect();
        let halls = halls
            .into_iter()
            .map(|h| ItemHall {
                bookable: row.bookable && mapped.contains(&h.id),
                code: h.code,
                name: h.name,
                address: h.address,
            })
            .collect();
        Ok(Some(ItemGuide {
            item_type: item_type(row.item_type),
            item_code: row.item_code,
            handle_item_code: row.handle_item_code,
            name: row.name,
            department: row.department,
            legal_days: row.legal_days,
            promised_days: row.promised_days,
            fee: row.fee,
            materials,
            online_level: row.online_level,
            bookable: row.bookable,
            guide_url: row.guide_url,
            halls,
            synced_at: row.synced_at,
        }))
    }

    /// The codes of every item that names `hall_code` among its halls (the demo maps them).
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn items_at_hall(&self, hall_code: &str) -> anyhow::Result<Vec<(String, String)>> {
        let rows = item::Entity::find()
            .order_by_asc(item::Column::ItemCode)
            .all(&self.db)
            .await
            .context("read the items")?;
        Ok(rows
            .into_iter()
            .filter(|i| {
                serde_json::from_str::<Vec<String>>(&i.halls)
                    .is_ok_and(|halls| halls.iter().any(|h| h == hall_code))
            })
            .map(|i| (i.item_code, i.department))
            .collect())
    }

    /// When the last sync ran, where the next starts, and the last error, if it failed.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn sync_state(
        &self,
    ) -> anyhow::Result<Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>)>>
    {
        Ok(sync_state::Entity::find_by_id(SYNC_NAME.to_owned())
            .one(&self.db)
            .await
            .context("read the sync state")?
            .map(|s| (s.last_run_at, s.watermark, s.last_error)))
    }
}

/// An error and its sources on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn item_type(code: i32) -> ItemType {
    if code == 1 {
        ItemType::Instant
    } else {
        ItemType::Promised
    }
}

/// The row of an item, or why it does not fit the table.
fn row_of(item: &CatalogueItem, now: DateTime<Utc>) -> Result<item::ActiveModel, &'static str> {
    let fits = |s: &str, max: usize| s.chars().count() <= max;
    if !fits(&item.item_code, 64) || !fits(&item.handle_item_code, 64) {
        return Err("a code is over 64 characters");
    }
    if !fits(&item.name, 200) || !fits(&item.department, 200) {
        return Err("the name or department is over 200 characters");
    }
    if !fits(&item.fee, 32) {
        return Err("the fee is over 32 characters");
    }
    let days = |d: u32| i32::try_from(d).map_err(|_| "a time limit is out of range");
    Ok(item::ActiveModel {
        item_code: Set(item.item_code.clone()),
        handle_item_code: Set(item.handle_item_code.clone()),
        name: Set(item.name.trim().to_owned()),
        department: Set(item.department.trim().to_owned()),
        item_type: Set(i32::from(item.item_type.code())),
        legal_days: Set(days(item.legal_days)?),
        promised_days: Set(days(item.promised_days)?),
        fee: Set(item.fee.clone()),
        materials: Set(serde_json::to_string(&item.materials).map_err(|_| "materials")?),
        online_level: Set(i32::from(item.online_level)),
        bookable: Set(item.bookable),
        halls: Set(serde_json::to_string(&item.halls).map_err(|_| "halls")?),
        guide_url: Set(item.guide_url.clone()),
        synced_at: Set(now),
    })
}

async fn upsert(conn: &impl ConnectionTrait, rows: Vec<item::ActiveModel>) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    item::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(item::Column::ItemCode)
                .update_columns([
                    item::Column::HandleItemCode,
                    item::Column::Name,
                    item::Column::Department,
                    item::Column::ItemType,
                    item::Column::LegalDays,
                    item::Column::PromisedDays,
                    item::Column::Fee,
                    item::Column::Materials,
                    item::Column::OnlineLevel,
                    item::Column::Bookable,
                    item::Column::Halls,
                    item::Column::GuideUrl,
                    item::Column::SyncedAt,
                ])
                .to_owned(),
        )
        .exec(conn)
        .await
        .context("upsert the items")?;
    Ok(())
}

/// Records a run: on success its new watermark, on failure its error (the watermark stays).
async fn record(
    conn: &impl ConnectionTrait,
    watermark: Option<DateTime<Utc>>,
    error: Option<String>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut columns = vec![sync_state::Column::LastRunAt, sync_state::Column::LastError];
    if watermark.is_some() {
        columns.push(sync_state::Column::Watermark);
    }
    sync_state::Entity::insert(sync_state::ActiveModel {
        name: Set(SYNC_NAME.to_owned()),
        watermark: Set(watermark),
        last_run_at: Set(Some(now)),
        last_error: Set(error),
    })
    .on_conflict(
        OnConflict::column(sync_state::Column::Name)
            .update_columns(columns)
            .to_owned(),
    )
    .exec(conn)
    .await
    .context("record the sync state")?;
    Ok(())
}
