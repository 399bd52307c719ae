//! Statistics for a hall over a period: per hall, category, counter, staff member or item —
//! count, 好评率 (4–5), 差评率 (1–2), the defaulted share, the average of each indicator, 差评整改率
//! (rectified within the limit ÷ all 差评) and the overdue count. Never a citizen's identity.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use sea_orm::{ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QuerySelect as _};

use super::{Channel, EvaluationService, SubjectKind};
use crate::time::SHANGHAI;
use entities::{category, counter, evaluation, hall, item, rectification, staff};

/// What one row of the statistics stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Hall,
    Category,
    Counter,
    Staff,
    Item,
    /// Online (case) ratings: the item's department, as the platform names it.
    Department,
}

/// Whose evaluations: a hall's (on-site tickets and anything attributed to it), or the online
/// ones (cases, attributed to the item's department and no hall).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsScope {
    Hall(i64),
    Online,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hall" => Some(Self::Hall),
            "category" => Some(Self::Category),
            "counter" => Some(Self::Counter),
            "staff" => Some(Self::Staff),
            "item" => Some(Self::Item),
            "department" => Some(Self::Department),
            _ => None,
        }
    }
}

/// One row of the statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRow {
    /// The id (or item code) of what the row stands for.
    pub key: String,
    pub name: String,
    pub count: u64,
    pub good_rate: f64,
    pub bad_rate: f64,
    pub defaulted_share: f64,
    /// Indicator key → average, over the ratings that gave it (defaults excluded).
    pub indicators: BTreeMap<String, f64>,
    pub bad_count: u64,
    pub rectified_in_time: u64,
    /// Rectified within the limit ÷ all 差评 (1 when there is no 差评).
    pub rectification_rate: f64,
    pub overdue: u64,
}

/// (id, category, counter, staff, item code, department, grade, indicators, defaulted).
type Row = (
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    i32,
    String,
    bool,
);

#[derive(Default)]
struct Acc {
    count: u64,
    good: u64,
    bad: u64,
    defaulted: u64,
    sums: BTreeMap<String, (f64, u64)>,
    rectified_in_time: u64,
    overdue: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        // Counts stay far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let r = a as f64 / b as f64;
        (r * 10_000.0).round() / 10_000.0
    }
}

impl EvaluationService {
    /// The hall's evaluations from `from` to `to` (inclusive, Asia/Shanghai dates), grouped.
    ///
    /// # Errors
    /// The database failed.
    pub async fn statistics(
        &self,
        hall_id: i64,
        from: NaiveDate,
        to: NaiveDate,
        by: GroupBy,
    ) -> anyhow::Result<Vec<StatsRow>> {
        self.statistics_of(StatsScope::Hall(hall_id), from, to, by)
            .await
    }

    /// The evaluations of `scope` from `from` to `to` (inclusive, Asia/Shanghai dates), grouped:
    /// for [`StatsScope::Online`] by department (or item), the case ratings attributed to the
    /// item's department.
    ///
    /// # Errors
    /// The database failed.
    pub async fn statistics_of(
        &self,
        scope: StatsScope,
        from: NaiveDate,
        to: NaiveDate,
        by: GroupBy,
    ) -> anyhow::Result<Vec<StatsRow>> {
        let db = &self.inner.db;
        let (eval_scope, rect_scope) = match scope {
            StatsScope::Hall(id) => (
                Condition::all().add(evaluation::Column::HallId.eq(id)),
                Condition::all().add(rectification::Column::HallId.eq(id)),
            ),
            StatsScope::Online => (
                Condition::all()
                    .add(evaluation::Column::HallId.is_null())
                    .add(evaluation::Column::SubjectKind.eq(SubjectKind::Case)),
                Condition::all().add(rectification::Column::HallId.is_null()),
            ),
        };
        let start = from
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(SHANGHAI).single())
            .map(|t| t.with_timezone(&Utc))
            .context("the period's start")?;
        let end = to
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| t.and_local_timezone(SHANGHAI).single())
            .map(|t| t.with_timezone(&Utc))
            .context("the period's end")?;
        let rows: Vec<Row> = evaluation::Entity::find()
            .select_only()
            .column(evaluation::Column::Id)
            .column(evaluation::Column::CategoryId)
            .column(evaluation::Column::CounterId)
            .column(evaluation::Column::StaffId)
            .column(evaluation::Column::ItemCode)
            .column(evaluation::Column::Department)
            .column(evaluation::Column::Grade)
            .column(evaluation::Column::Indicators)
            .column(evaluation::Column::Defaulted)
            .filter(eval_scope)
            .filter(evaluation::Column::CreatedAt.gte(start))
            .filter(evaluation::Column::CreatedAt.lt(end))
            .into_tuple()
            .all(db)
            .await
            .context("read the period's evaluations")?;
        let now = self.inner.clock.now();
        let rects: BTreeMap<String, (bool, bool)> = rectification::Entity::find()
            .filter(rect_scope)
            .filter(rectification::Column::CreatedAt.gte(start))
            .filter(rectification::Column::CreatedAt.lt(end))
            .all(db)
            .await
            .context("read the period's rectifications")?
            .into_iter()
            .map(|r| {
                let in_time = r.rectified_at.is_some_and(|at| at <= r.rectify_due_at);
                let overdue = match r.rectified_at {
                    Some(at) => at > r.rectify_due_at,
                    None => now > r.rectify_due_at,
                };
                (r.evaluation_id, (in_time, overdue))
            })
            .collect();
        let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
        let hall_id = match scope {
            StatsScope::Hall(id) => Some(id),
            StatsScope::Online => None,
        };
        for (
            id,
            category_id,
            counter_id,
            staff_id,
            item_code,
            department,
            grade,
            indicators,
            defaulted,
        ) in rows
        {
            let key = match by {
                GroupBy::Hall => hall_id.map_or_else(|| "-".into(), |v| v.to_string()),
                GroupBy::Department => department.unwrap_or_else(|| "-".into()),
                GroupBy::Category => category_id.map_or_else(|| "-".into(), |v| v.to_string()),
                GroupBy::Counter => counter_id.map_or_else(|| "-".into(), |v| v.to_string()),
                GroupBy::Staff => staff_id.map_or_else(|| "-".into(), |v| v.to_string()),
                GroupBy::Item => item_code.unwrap_or_else(|| "-".into()),
            };
            let acc = groups.entry(key).or_default();
            acc.count += 1;
            if grade >= 4 {
                acc.good += 1;
            }
            if grade <= 2 {
                acc.bad += 1;
            }
            if defaulted {
                acc.defaulted += 1;
            } else {
                let values: BTreeMap<String, u8> =
                    serde_json::from_str(&indicators).unwrap_or_default();
                for (k, v) in values {
                    let s = acc.sums.entry(k).or_default();
                    s.0 += f64::from(v);
                    s.1 += 1;
                }
            }
            if let Some((in_time, overdue)) = rects.get(&id) {
                acc.rectified_in_time += u64::from(*in_time);
                acc.overdue += u64::from(*overdue);
            }
        }
        let names = self.names(scope, by, groups.keys()).await?;
        Ok(groups
            .into_iter()
            .map(|(key, a)| StatsRow {
                name: names.get(&key).cloned().unwrap_or_else(|| key.clone()),
                count: a.count,
                good_rate: ratio(a.good, a.count),
                bad_rate: ratio(a.bad, a.count),
                defaulted_share: ratio(a.defaulted, a.count),
                indicators: a
                    .sums
                    .into_iter()
                    .map(|(k, (sum, n))| (k, ratio((sum * 100.0) as u64, n * 100)))
                    .collect(),
                bad_count: a.bad,
                rectified_in_time: a.rectified_in_time,
                rectification_rate: if a.bad == 0 {
                    1.0
                } else {
                    ratio(a.rectified_in_time, a.bad)
                },
                overdue: a.overdue,
                key,
            })
            .collect())
    }

    async fn names(
        &self,
        scope: StatsScope,
        by: GroupBy,
        keys: impl Iterator<Item = &String>,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let db = &self.inner.db;
        let ids: Vec<i64> = match by {
            GroupBy::Item | GroupBy::Department => Vec::new(),
            _ => keys.filter_map(|k| k.parse().ok()).collect(),
        };
        Ok(match by {
            // The department's name is its key.
            GroupBy::Department => BTreeMap::new(),
            GroupBy::Hall => match scope {
                StatsScope::Hall(hall_id) => hall::Entity::find_by_id(hall_id)
                    .one(db)
                    .await?
                    .map(|h| (h.id.to_string(), h.name))
                    .into_iter()
                    .collect(),
                StatsScope::Online => BTreeMap::new(),
            },
            GroupBy::Category => category::Entity::find()
                .filter(category::Column::Id.is_in(ids))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id.to_string(), c.name))
                .collect(),
            GroupBy::Counter => counter::Entity::find()
                .filter(counter::Column::Id.is_in(ids))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id.to_string(), format!("{}号窗口 {}", c.number, c.name)))
                .collect(),
            GroupBy::Staff => staff::Entity::find()
                .filter(staff::Column::Id.is_in(ids))
                .all(db)
                .await?
                .into_iter()
                .map(|s| (s.id.to_string(), s.display_name))
                .collect(),
            GroupBy::Item => item::Entity::find()
                .filter(item::Column::ItemCode.is_in(self.item_codes(scope).await?))
                .all(db)
                .await?
                .into_iter()
                .map(|i| (i.item_code, i.name))
                .collect(),
        })
    }

    async fn item_codes(&self, scope: StatsScope) -> anyhow::Result<Vec<String>> {
        let codes: Vec<Option<String>> = evaluation::Entity::find()
            .select_only()
            .column(evaluation::Column::ItemCode)
            .distinct()
            .filter(match scope {
                StatsScope::Hall(id) => evaluation::Column::HallId.eq(id),
                StatsScope::Online => evaluation::Column::HallId.is_null(),
            })
            .into_tuple()
            .all(&self.inner.db)
            .await
            .context("read the hall's items")?;
        Ok(codes.into_iter().flatten().collect())
    }
}

/// The statistics as CSV for the monthly report (UTF-8 with a BOM, so spreadsheets read the
/// Chinese names).
pub fn csv(rows: &[StatsRow], kind: SubjectKind) -> String {
    let indicators = kind.indicators();
    let mut out = String::from(
        "\u{feff}编号,名称,评价数,好评率,差评率,默认好评占比,差评数,按期整改数,差评整改率,超期数",
    );
    for i in indicators {
        out.push(',');
        out.push_str(i.name);
    }
    out.push('\n');
    for r in rows {
        let field = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        out.push_str(&format!(
            "{},{},{},{:.4},{:.4},{:.4},{},{},{:.4},{}",
            field(&r.key),
            field(&r.name),
            r.count,
            r.good_rate,
            r.bad_rate,
            r.defaulted_share,
            r.bad_count,
            r.rectified_in_time,
            r.rectification_rate,
            r.overdue
        ));
        for i in indicators {
            match r.indicators.get(i.key) {
                Some(v) => out.push_str(&format!(",{v:.2}")),
                None => out.push(','),
            }
        }
        out.push('\n');
    }
    out
}
