//! Bundles in the catalogue: synced from `GET /gov/v1/bundles` by the catalogue sync, searched
//! beside the items, and read as a guide (province-api.md, "一件事 bundles").

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{LikeExpr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, DatabaseConnection,
    EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::BundleService;
use crate::catalogue::{MAX_KEYWORD_CHARS, MAX_PAGE, MAX_PAGE_SIZE, SearchError};
use crate::province::{
    BundleItem, CatalogueBundle, MaterialSpec, ProvinceClient, ProvinceError, SharedMaterial,
};
use entities::{bundle, hall, hall_item, item, sync_state};

/// The row of `sync_state` the bundles keep.
const SYNC_NAME: &str = "bundles";
const SYNC_PAGE_SIZE: u32 = 100;
const SYNC_MAX_PAGES: u32 = 10_000;
/// How far the next sync reaches back before the previous one started (as the items').
const OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

/// What a bundle sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSyncReport {
    pub fetched: usize,
    pub upserted: usize,
    pub skipped: usize,
}

/// One line of a bundle search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    pub bundle_code: String,
    pub name: String,
    pub description: String,
    /// Items joined, required and optional.
    pub item_count: usize,
    pub promised_days: i32,
    pub online_level: i32,
}

/// An item of a bundle's guide.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleGuideItem {
    pub item_code: String,
    /// The catalogue's name; the code when the item is not (yet) in the catalogue.
    pub name: String,
    pub department: String,
    pub required: bool,
    /// Yuan, as the platform writes it.
    pub fee: String,
    pub promised_days: i32,
    /// The item's own materials (shared ones included, by code).
    pub materials: Vec<MaterialSpec>,
    /// In the catalogue: an item missing there cannot be applied for.
    pub known: bool,
}

/// A material of the bundle: uploaded once for every item that uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct GuideMaterial {
    pub code: String,
    pub name: String,
    pub formats: Vec<String>,
    pub max_size_kb: u32,
    /// Whether some item applied for must have it (an optional item's own need counts only when
    /// that item is chosen).
    pub required: bool,
    /// The items using it, by code.
    pub used_by: Vec<String>,
    /// Declared shared by the platform (`sharedMaterials`).
    pub shared: bool,
}

/// A hall where the bundle can be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleHall {
    pub code: String,
    pub name: String,
    pub address: String,
    /// One category of the hall handles every required item (无差别综合窗口): one booking.
    pub bookable: bool,
}

/// A bundle's guide (一件事办事指南).
#[derive(Debug, Clone, PartialEq)]
pub struct BundleGuide {
    pub bundle_code: String,
    pub name: String,
    pub description: String,
    pub items: Vec<BundleGuideItem>,
    /// Every material of the bundle, each once, with the items using it.
    pub materials: Vec<GuideMaterial>,
    /// The sum of the items' fees, in yuan ("0" when free).
    pub total_fee: String,
    /// The bundle's own promise, in working days.
    pub promised_days: i32,
    pub online_level: i32,
    /// Halls that handle every required item.
    pub halls: Vec<BundleHall>,
    pub synced_at: DateTime<Utc>,
}

/// What booking a bundle at a hall needs to know of it (issue 19 item 4): its name and the
/// items the citizen cannot leave out.
#[derive(Debug, Clone)]
pub(crate) struct BookingTerms {
    pub bundle_code: String,
    pub name: String,
    pub required: Vec<String>,
}

impl BookingTerms {
    /// The rule of a hall offering a bundle, the one the guide's `bookable` halls and the
    /// booking both apply: **one category of the hall is mapped to every required item of the
    /// bundle** (无差别综合窗口), and that category takes the booking. The optional items go to the
    /// same counter; a bundle without required items is offered nowhere.
    pub fn category_at(&self, category_of: impl Fn(&str) -> Option<i64>) -> Option<i64> {
        let (first, rest) = self.required.split_first()?;
        let category = category_of(first)?;
        rest.iter()
            .all(|code| category_of(code) == Some(category))
            .then_some(category)
    }
}

/// A bundle's booking terms; `None` for a code not in the catalogue.
///
/// # Errors
/// The database cannot be read, or the stored items are not what the sync wrote.
pub(crate) async fn booking_terms(
    conn: &impl ConnectionTrait,
    bundle_code: &str,
) -> anyhow::Result<Option<BookingTerms>> {
    let Some(row) = bundle::Entity::find_by_id(bundle_code.to_owned())
        .one(conn)
        .await
        .context("read the bundle")?
    else {
        return Ok(None);
    };
    let (members, _) = parts_of(&row)?;
    Ok(Some(BookingTerms {
        bundle_code: row.bundle_code,
        name: row.name,
        required: members
            .into_iter()
            .filter(|m| m.required)
            .map(|m| m.item_code)
            .collect(),
    }))
}

/// The names of the bundles among `codes` (a booking's subject is an item or a bundle).
///
/// # Errors
/// The database cannot be read.
pub(crate) async fn names(
    conn: &impl ConnectionTrait,
    codes: impl IntoIterator<Item = String>,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    Ok(bundle::Entity::find()
        .filter(bundle::Column::BundleCode.is_in(codes))
        .all(conn)
        .await
        .context("read the bundles' names")?
        .into_iter()
        .map(|b| (b.bundle_code, b.name))
        .collect())
}

/// Syncs the bundles changed since the last successful bundle sync (every bundle when `full`).
/// Called by the catalogue sync, under its lock, after the items.
///
/// # Errors
/// The platform failed (recorded in `sync_state` row `bundles`; the watermark stays), or the
/// database.
pub(crate) async fn sync(
    db: &DatabaseConnection,
    client: &ProvinceClient,
    full: bool,
    clock: &crate::time::Clock,
) -> Result<BundleSyncReport, SyncFailure> {
    let started = clock.now();
    let since = if full {
        None
    } else {
        sync_state::Entity::find_by_id(SYNC_NAME.to_owned())
            .one(db)
            .await
            .context("read the bundles' sync state")?
            .and_then(|s| s.watermark)
    };
    let mut report = BundleSyncReport {
        fetched: 0,
        upserted: 0,
        skipped: 0,
    };
    let mut page = 1;
    loop {
        let batch = match client.list_bundles(since, page, SYNC_PAGE_SIZE).await {
            Ok(batch) => batch,
            Err(e) => {
                record(db, None, Some(chain(&e)), clock.now()).await?;
                return Err(SyncFailure::Province(e));
            }
        };
        report.fetched += batch.bundles.len();
        let now = clock.now();
        let mut rows: BTreeMap<String, bundle::ActiveModel> = BTreeMap::new();
        for b in &batch.bundles {
            match row_of(b, now) {
                Ok(row) => {
                    rows.insert(b.bundle_code.clone(), row);
                }
                Err(reason) => {
                    report.skipped += 1;
                    tracing::warn!(bundle = %b.bundle_code, reason, "catalogue bundle skipped");
                }
            }
        }
        report.upserted += rows.len();
        upsert(db, rows.into_values().collect()).await?;
        match batch.next_page {
            Some(next) if next < SYNC_MAX_PAGES => page = next,
            Some(_) => {
                return Err(anyhow::anyhow!("the bundles have over {SYNC_MAX_PAGES} pages").into());
            }
            None => break,
        }
    }
    record(db, Some(started - OVERLAP), None, clock.now()).await?;
    tracing::info!(
        fetched = report.fetched,
        upserted = report.upserted,
        skipped = report.skipped,
        "catalogue bundles synced"
    );
    Ok(report)
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

/// Why a bundle sync failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncFailure {
    #[error("the provincial platform failed")]
    Province(#[source] ProvinceError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn row_of(b: &CatalogueBundle, now: DateTime<Utc>) -> Result<bundle::ActiveModel, &'static str> {
    let fits = |s: &str, max: usize| s.chars().count() <= max;
    if !fits(&b.bundle_code, 64) || !fits(&b.name, 200) {
        return Err("the code or name is too long");
    }
    if b.items.iter().any(|i| !fits(&i.item_code, 64)) {
        return Err("an item code is over 64 characters");
    }
    Ok(bundle::ActiveModel {
        bundle_code: Set(b.bundle_code.clone()),
        name: Set(b.name.trim().to_owned()),
        description: Set(b.description.trim().to_owned()),
        items: Set(serde_json::to_string(&b.items).map_err(|_| "items")?),
        shared_materials: Set(serde_json::to_string(&b.shared_materials).map_err(|_| "materials")?),
        promised_days: Set(i32::try_from(b.promised_days).map_err(|_| "promisedDays")?),
        online_level: Set(i32::from(b.online_level)),
        updated_at: Set(b.updated_at),
        synced_at: Set(now),
    })
}

async fn upsert(conn: &impl ConnectionTrait, rows: Vec<bundle::ActiveModel>) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    bundle::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(bundle::Column::BundleCode)
                .update_columns([
                    bundle::Column::Name,
                    bundle::Column::Description,
                    bundle::Column::Items,
                    bundle::Column::SharedMaterials,
                    bundle::Column::PromisedDays,
                    bundle::Column::OnlineLevel,
                    bundle::Column::UpdatedAt,
                    bundle::Column::SyncedAt,
                ])
                .to_owned(),
        )
        .exec(conn)
        .await
        .context("upsert the bundles")?;
    Ok(())
}

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
    .context("record the bundles' sync state")?;
    Ok(())
}

/// A stored bundle's items and shared materials.
pub(super) fn parts_of(
    row: &bundle::Model,
) -> anyhow::Result<(Vec<BundleItem>, Vec<SharedMaterial>)> {
    let items = serde_json::from_str(&row.items).context("stored bundle items")?;
    let shared = serde_json::from_str(&row.shared_materials).context("stored shared materials")?;
    Ok((items, shared))
}

/// `%keyword%` for `LIKE … ESCAPE '\'`.
fn contains_pattern(keyword: &str) -> String {
    let mut pattern = String::with_capacity(keyword.len() + 2);
    pattern.push('%');
    for c in keyword.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Adds two yuan amounts written as text ("15.00", "0"); `None` when one is not a number.
fn fen(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

fn yuan(fen: i64) -> String {
    if fen % 100 == 0 {
        (fen / 100).to_string()
    } else {
        format!("{}.{:02}", fen / 100, fen % 100)
    }
}

impl BundleService {
    /// Bundles whose name or description contains `keyword` (every bundle without one), by name.
    ///
    /// # Errors
    /// As the item search: [`SearchError::KeywordTooLong`], `BadPage`, `BadPageSize`.
    pub async fn search(
        &self,
        keyword: Option<&str>,
        page: u64,
        page_size: u64,
    ) -> Result<(Vec<BundleSummary>, u64), SearchError> {
        let keyword = keyword.map(str::trim).filter(|k| !k.is_empty());
        if keyword.is_some_and(|k| k.chars().count() > MAX_KEYWORD_CHARS) {
            return Err(SearchError::KeywordTooLong);
        }
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(SearchError::BadPage);
        }
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(SearchError::BadPageSize);
        }
        let mut query = bundle::Entity::find();
        if let Some(keyword) = keyword {
            let pattern = contains_pattern(keyword);
            query = query.filter(
                Condition::any()
                    .add(bundle::Column::Name.like(LikeExpr::new(pattern.clone()).escape('\\')))
                    .add(bundle::Column::Description.like(LikeExpr::new(pattern).escape('\\'))),
            );
        }
        let db = &self.inner.db;
        let total = query.clone().count(db).await.context("count the bundles")?;
        let rows = query
            .order_by_asc(bundle::Column::Name)
            .order_by_asc(bundle::Column::BundleCode)
            .offset((page - 1) * page_size)
            .limit(page_size)
            .all(db)
            .await
            .context("search the bundles")?;
        let summaries = rows
            .into_iter()
            .map(|b| BundleSummary {
                item_count: serde_json::from_str::<Vec<BundleItem>>(&b.items)
                    .map_or(0, |i| i.len()),
                bundle_code: b.bundle_code,
                name: b.name,
                description: b.description,
                promised_days: b.promised_days,
                online_level: b.online_level,
            })
            .collect();
        Ok((summaries, total))
    }

    /// A bundle's guide: its items (required and optional) with their fees and materials, each
    /// material once with the items using it, the bundle's promise, and the halls handling it.
    ///
    /// # Errors
    /// The database cannot be read, or what is stored is not what the sync wrote.
    pub async fn guide(
        &self,
        bundle_code: &super::BundleCode,
    ) -> anyhow::Result<Option<BundleGuide>> {
        let db = &self.inner.db;
        let Some(row) = bundle::Entity::find_by_id(bundle_code.as_str().to_owned())
            .one(db)
            .await
            .context("read the bundle")?
        else {
            return Ok(None);
        };
        let (members, shared) = parts_of(&row)?;
        let codes: Vec<&str> = members.iter().map(|m| m.item_code.as_str()).collect();
        let rows: BTreeMap<String, item::Model> = item::Entity::find()
            .filter(item::Column::ItemCode.is_in(codes.iter().copied()))
            .all(db)
            .await
            .context("read the bundle's items")?
            .into_iter()
            .map(|i| (i.item_code.clone(), i))
            .collect();
        let mut items = Vec::with_capacity(members.len());
        let mut fee_total: Option<i64> = Some(0);
        let mut materials: Vec<GuideMaterial> = Vec::new();
        let mut item_halls: Vec<BTreeSet<String>> = Vec::new();
        for m in &members {
            let Some(it) = rows.get(&m.item_code) else {
                items.push(BundleGuideItem {
                    item_code: m.item_code.clone(),
                    name: m.item_code.clone(),
                    department: String::new(),
                    required: m.required,
                    fee: "0".into(),
                    promised_days: 0,
                    materials: Vec::new(),
                    known: false,
                });
                continue;
            };
            let specs: Vec<MaterialSpec> =
                serde_json::from_str(&it.materials).context("stored materials")?;
            if m.required {
                item_halls.push(
                    serde_json::from_str::<Vec<String>>(&it.halls)
                        .context("stored halls")?
                        .into_iter()
                        .collect(),
                );
            }
            fee_total = fee_total.and_then(|t| fen(&it.fee).and_then(|f| t.checked_add(f)));
            for spec in &specs {
                let declared = shared.iter().find(|s| s.code == spec.code);
                match materials.iter_mut().find(|g| g.code == spec.code) {
                    Some(g) => {
                        if !g.used_by.contains(&m.item_code) {
                            g.used_by.push(m.item_code.clone());
                        }
                        g.required |= spec.required && m.required;
                    }
                    None => materials.push(GuideMaterial {
                        code: spec.code.clone(),
                        name: declared.map_or_else(|| spec.name.clone(), |d| d.name.clone()),
                        formats: declared
                            .filter(|d| !d.formats.is_empty())
                            .map_or_else(|| spec.formats.clone(), |d| d.formats.clone()),
                        max_size_kb: declared
                            .filter(|d| d.max_size_kb > 0)
                            .map_or(spec.max_size_kb, |d| d.max_size_kb),
                        required: spec.required && m.required,
                        used_by: vec![m.item_code.clone()],
                        shared: declared.is_some(),
                    }),
                }
            }
            items.push(BundleGuideItem {
                item_code: it.item_code.clone(),
                name: it.name.clone(),
                department: it.department.clone(),
                required: m.required,
                fee: it.fee.clone(),
                promised_days: it.promised_days,
                materials: specs,
                known: true,
            });
        }
        // A shared material the items' own lists do not name still serves its items.
        for s in &shared {
            if !materials.iter().any(|g| g.code == s.code) {
                materials.push(GuideMaterial {
                    code: s.code.clone(),
                    name: s.name.clone(),
                    formats: s.formats.clone(),
                    max_size_kb: s.max_size_kb,
                    required: false,
                    used_by: s.used_by.clone(),
                    shared: true,
                });
            }
        }
        let halls = self.halls_of(&members, &item_halls).await?;
        Ok(Some(BundleGuide {
            bundle_code: row.bundle_code,
            name: row.name,
            description: row.description,
            items,
            materials,
            total_fee: fee_total.map_or_else(|| "以各事项收费标准为准".to_owned(), yuan),
            promised_days: row.promised_days,
            online_level: row.online_level,
            halls,
            synced_at: row.synced_at,
        }))
    }

    /// The open halls every required item names; bookable where one category handles them all.
    async fn halls_of(
        &self,
        members: &[BundleItem],
        item_halls: &[BTreeSet<String>],
    ) -> anyhow::Result<Vec<BundleHall>> {
        let Some((first, rest)) = item_halls.split_first() else {
            return Ok(Vec::new());
        };
        let common: Vec<String> = first
            .iter()
            .filter(|h| rest.iter().all(|other| other.contains(*h)))
            .cloned()
            .collect();
        let db = &self.inner.db;
        let halls = hall::Entity::find()
            .filter(hall::Column::Code.is_in(common))
            .filter(hall::Column::Active.eq(true))
            .order_by_asc(hall::Column::Code)
            .all(db)
            .await
            .context("read the bundle's halls")?;
        let terms = BookingTerms {
            bundle_code: String::new(),
            name: String::new(),
            required: members
                .iter()
                .filter(|m| m.required)
                .map(|m| m.item_code.clone())
                .collect(),
        };
        let mappings = hall_item::Entity::find()
            .filter(hall_item::Column::HallId.is_in(halls.iter().map(|h| h.id)))
            .filter(hall_item::Column::ItemCode.is_in(terms.required.iter().cloned()))
            .all(db)
            .await
            .context("read the halls' categories")?;
        Ok(halls
            .into_iter()
            .map(|h| {
                let here: BTreeMap<&str, i64> = mappings
                    .iter()
                    .filter(|m| m.hall_id == h.id)
                    .map(|m| (m.item_code.as_str(), m.category_id))
                    .collect();
                let bookable = terms.category_at(|code| here.get(code).copied()).is_some();
                BundleHall {
                    code: h.code,
                    name: h.name,
                    address: h.address,
                    bookable,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_add_up_in_fen() {
        assert_eq!(fen("15.00"), Some(1500));
        assert_eq!(fen("0"), Some(0));
        assert_eq!(fen("2.5"), Some(250));
        assert_eq!(fen("abc"), None);
        assert_eq!(fen("1.234"), None);
        assert_eq!(yuan(1500 + 250), "17.50");
        assert_eq!(yuan(3000), "30");
    }
}
