//! The service catalogue (事项目录): searching items and reading an item's guide (办事指南).
//! Public: no login is needed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/v1/items` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ItemQuery {
    /// Part of the item's name or department, up to 50 characters.
    pub q: Option<String>,
    /// 1 to 1000, default 1.
    pub page: Option<u64>,
    /// 1 to 50, default 20.
    pub page_size: Option<u64>,
}

/// One item of a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemSummary {
    /// 实施编码
    pub item_code: String,
    pub name: String,
    pub department: String,
    /// 1 即办件 (decided on the spot), 2 承诺件 (decided within the promised days).
    pub item_type: u8,
    /// Working days promised.
    pub promised_days: i32,
    /// 1–4; 4 is fully online (zero visits).
    pub online_level: i32,
    /// Can be booked at some hall.
    pub bookable: bool,
}

/// `GET /api/v1/items`: a page of items, by name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemList {
    pub items: Vec<ItemSummary>,
    /// Items matching, on every page.
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// A material the item asks for: to bring to the hall or to upload (schema `RequiredMaterial`;
/// an uploaded file is `Material`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequiredMaterial {
    pub code: String,
    pub name: String,
    pub required: bool,
    /// File types accepted (`pdf`, `jpg` …).
    pub formats: Vec<String>,
    pub max_size_kb: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A hall where the item can be handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemHall {
    pub code: String,
    pub name: String,
    pub address: String,
    /// An appointment can be booked for it at this hall.
    pub bookable: bool,
}

/// `GET /api/v1/items/{itemCode}`: the item's guide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemGuide {
    pub item_code: String,
    /// 业务办理项编码
    pub handle_item_code: String,
    pub name: String,
    pub department: String,
    /// 1 即办件, 2 承诺件.
    pub item_type: u8,
    /// `即办件` or `承诺件`.
    pub item_type_name: String,
    /// Working days the law allows (法定时限).
    pub legal_days: i32,
    /// Working days promised (承诺时限).
    pub promised_days: i32,
    /// Yuan, as text (`0`, `15.00`).
    pub fee: String,
    pub materials: Vec<RequiredMaterial>,
    pub online_level: i32,
    pub bookable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guide_url: Option<String>,
    pub halls: Vec<ItemHall>,
    /// When the gateway last took it from the provincial platform.
    pub synced_at: DateTime<Utc>,
}

/// `POST /staff/v1/catalogue/sync` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct SyncQuery {
    /// Ask for every item, not only those changed since the last sync.
    pub full: Option<bool>,
}

/// What a catalogue sync did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub full: bool,
    pub fetched: usize,
    pub upserted: usize,
    pub skipped: usize,
    /// Where the next incremental sync starts.
    pub watermark: DateTime<Utc>,
}
