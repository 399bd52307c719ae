//! After the run: what the clients were told, held against the database, the provincial
//! simulator's ledger and WeChat's sent messages. Each check is a count that must be zero.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use anyhow::Context as _;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use simulators::province::ProvinceSim;
use simulators::wechat::WechatSim;

use crate::workload::{Ledger, Told};

pub struct Check {
    pub name: &'static str,
    pub count: usize,
    pub detail: String,
}

async fn scalar(db: &DatabaseConnection, sql: &str, hall_id: i64) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [hall_id.into()],
        ))
        .await
        .with_context(|| format!("run {sql}"))?
        .context("no row")?;
    Ok(row.try_get_by_index(0)?)
}

pub async fn bookings(
    db: &DatabaseConnection,
    ledger: &Ledger,
    hall_id: i64,
) -> anyhow::Result<Vec<Check>> {
    let told = ledger.bookings.lock().await.clone();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, status FROM bookings WHERE hall_id = $1",
            [hall_id.into()],
        ))
        .await
        .context("read the bookings")?;
    let mut status: HashMap<i64, String> = HashMap::new();
    for row in rows {
        status.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    let mut missing = Vec::new();
    for (id, told) in &told {
        let want = match told {
            Told::Booked => "BOOKED",
            Told::Cancelled => "CANCELLED",
        };
        match status.get(id) {
            Some(s) if s == want => {}
            other => missing.push(format!("#{id} told {want}, is {other:?}")),
        }
    }
    let oversold = scalar(
        db,
        "SELECT count(*) FROM slots WHERE hall_id = $1 AND booked > capacity",
        hall_id,
    )
    .await?;
    let mismatched = scalar(
        db,
        "SELECT count(*) FROM slots s WHERE s.hall_id = $1 AND s.booked <> \
         (SELECT count(*) FROM bookings b WHERE b.slot_id = s.id \
          AND b.status IN ('BOOKED', 'CHECKED_IN'))",
        hall_id,
    )
    .await?;
    let live = told.values().filter(|t| **t == Told::Booked).count();
    let contradictions = ledger.contradictions.lock().await.clone();
    Ok(vec![
        Check {
            name: "acknowledged bookings missing",
            count: missing.len() + contradictions.len(),
            detail: format!(
                "{} acknowledged ({live} still booked, {} cancelled); {}",
                told.len(),
                told.len() - live,
                missing
                    .iter()
                    .chain(&contradictions)
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        },
        Check {
            name: "slots oversold",
            count: usize::try_from(oversold).unwrap_or(usize::MAX),
            detail: String::new(),
        },
        Check {
            name: "slots whose seats ≠ live bookings",
            count: usize::try_from(mismatched).unwrap_or(usize::MAX),
            detail: String::new(),
        },
    ])
}

pub async fn applications(
    db: &DatabaseConnection,
    ledger: &Ledger,
    province: &ProvinceSim,
) -> anyhow::Result<Vec<Check>> {
    let acked: Vec<String> = ledger.applications.lock().await.clone();
    let mut in_ledger: HashMap<String, usize> = HashMap::new();
    for entry in province.ledger() {
        *in_ledger.entry(entry.client_request_id).or_default() += 1;
    }
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !in_ledger.contains_key(*id))
        .collect();
    let twice: Vec<(&String, &usize)> = in_ledger.iter().filter(|(_, n)| **n > 1).collect();
    let known: HashSet<String> = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id FROM applications",
        ))
        .await
        .context("read the applications")?
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()?;
    let strangers = in_ledger.keys().filter(|id| !known.contains(*id)).count();
    let doubled_keys = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) FROM (SELECT citizen_id, idempotency_key FROM applications \
             WHERE idempotency_key IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d",
        ))
        .await
        .context("count doubled submissions")?
        .context("no row")?
        .try_get_by_index::<i64>(0)?;
    Ok(vec![
        Check {
            name: "applications missing from the ledger",
            count: missing.len(),
            detail: format!(
                "{} acknowledged, {} in the ledger{}",
                acked.len(),
                in_ledger.len(),
                missing
                    .first()
                    .map(|id| format!("; e.g. {id}"))
                    .unwrap_or_default()
            ),
        },
        Check {
            name: "applications twice in the ledger",
            count: twice.len() + strangers + usize::try_from(doubled_keys).unwrap_or(usize::MAX),
            detail: format!(
                "{} ids twice, {strangers} the gateway does not know, {doubled_keys} \
                 submissions stored twice",
                twice.len()
            ),
        },
    ])
}

pub async fn queue(
    db: &DatabaseConnection,
    ledger: &Ledger,
    hall_id: i64,
) -> anyhow::Result<Vec<Check>> {
    let reused_in_db = scalar(
        db,
        "SELECT count(*) FROM (SELECT day, number FROM tickets WHERE hall_id = $1 \
         GROUP BY 1, 2 HAVING count(*) > 1) r",
        hall_id,
    )
    .await?;
    let tickets = ledger.tickets.lock().await.clone();
    let mut by_number: HashMap<&String, usize> = HashMap::new();
    for number in tickets.values() {
        *by_number.entry(number).or_default() += 1;
    }
    let reused_told = by_number.values().filter(|n| **n > 1).count();
    let calls = ledger.calls.lock().await.clone();
    let twice: usize = calls.values().filter(|n| **n > 1).count();
    let issued = scalar(
        db,
        "SELECT count(*) FROM tickets WHERE hall_id = $1",
        hall_id,
    )
    .await?;
    Ok(vec![
        Check {
            name: "ticket numbers reused",
            count: usize::try_from(reused_in_db).unwrap_or(usize::MAX) + reused_told,
            detail: format!(
                "{issued} tickets issued, {} taken by the citizens, {} calls",
                tickets.len(),
                calls.values().sum::<u32>()
            ),
        },
        Check {
            name: "tickets called twice",
            count: twice,
            detail: String::new(),
        },
    ])
}

pub fn notifications(wechat: &WechatSim) -> Check {
    let sent = wechat.sent_messages();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &sent {
        let key = format!("{}|{}|{:?}|{:?}", m.touser, m.template_id, m.page, m.data);
        *seen.entry(key).or_default() += 1;
    }
    let mut by_template: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &sent {
        *by_template.entry(m.template_id.as_str()).or_default() += 1;
    }
    Check {
        name: "notifications sent twice",
        count: seen.values().filter(|n| **n > 1).count(),
        detail: format!(
            "{} sent: {}",
            sent.len(),
            by_template
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn table(checks: &[Check]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<40} {:>6}  detail", "audit", "count");
    for c in checks {
        let _ = writeln!(
            out,
            "{:<40} {:>6}  {}{}",
            c.name,
            c.count,
            if c.count == 0 { "ok" } else { "FAIL" },
            if c.detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", c.detail)
            }
        );
    }
    out
}
