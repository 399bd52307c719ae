//! The operator's audit trail (issue 20, item 3): every staff action that asks to change
//! something — counter actions, check-ins, hall settings, the calendar, staff accounts, replays,
//! rectifications — is appended to `staff_audit_log` with who, when, from which address, the
//! route and its parameters, the body that said what to change (secrets redacted) and the answer.
//!
//! The gateway records at one place (a middleware around `/staff/v1`), so a route added later is
//! audited without remembering to; the command line records its own actions. Nothing here
//! updates or deletes a row, and the table's triggers refuse it on both backends.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entities::staff_audit_log::{self, Column, Entity as AuditRows};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::NotSet, ColumnTrait as _, DatabaseConnection,
    EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Set,
};
use serde_json::Value;

use crate::time::Clock;

/// The longest body kept, in bytes (a calendar year's upload is a few kilobytes; a staff action's
/// JSON far less). A longer one is kept as its length and SHA-256.
pub const MAX_BODY: usize = 16 * 1024;

/// Keys whose values never reach the log, at any depth of a JSON body (compared without case,
/// `_` and `-`): passwords, tokens and the licence QR payload a verifier scanned (a credential
/// of the citizen's for its lifetime).
const SECRET_KEYS: &[&str] = &[
    "password",
    "newpassword",
    "oldpassword",
    "currentpassword",
    "token",
    "secret",
    "payload",
    "qr",
];

/// What the log keeps in place of a secret.
pub const REDACTED: &str = "[已隐去]";

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Staff {
        id: i64,
        username: String,
    },
    /// `gateway create-staff` and other commands run by an operator on a server.
    CommandLine,
}

/// One action, as the gateway (or the command line) saw it.
#[derive(Debug, Clone)]
pub struct Action {
    pub actor: Actor,
    pub address: Option<String>,
    pub method: String,
    /// The route's pattern (`/staff/v1/halls/{hall_id}/hours`): groups actions of one kind.
    pub route: String,
    /// The path as requested, with its parameters and query.
    pub path: String,
    pub status: u16,
    pub request_id: Option<String>,
    pub body: Option<String>,
}

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub staff_id: Option<i64>,
    pub actor: String,
    pub address: Option<String>,
    pub method: String,
    pub route: String,
    pub path: String,
    pub status: u16,
    pub request_id: Option<String>,
    pub body: Option<String>,
}

/// Which entries to list: newest first, below `before` (an entry's id, for the next page).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub staff_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<i64>,
}

/// The actor name the command line writes.
pub const COMMAND_LINE: &str = "(命令行)";

/// The trail: appends and reads `staff_audit_log`.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: DatabaseConnection,
    clock: Clock,
}

impl AuditLog {
    pub fn new(db: DatabaseConnection, clock: Clock) -> Self {
        Self { db, clock }
    }

    /// Appends one action.
    ///
    /// # Errors
    /// The database refused the row.
    pub async fn record(&self, action: Action) -> anyhow::Result<i64> {
        let (staff_id, actor) = match action.actor {
            Actor::Staff { id, username } => (Some(id), username),
            Actor::CommandLine => (None, COMMAND_LINE.to_owned()),
        };
        let row = staff_audit_log::ActiveModel {
            id: NotSet,
            at: Set(self.clock.now()),
            staff_id: Set(staff_id),
            actor: Set(truncate(&actor, 64)),
            address: Set(action.address.map(|a| truncate(&a, 64))),
            method: Set(truncate(&action.method, 10)),
            route: Set(truncate(&action.route, 200)),
            path: Set(truncate(&action.path, 500)),
            status: Set(i32::from(action.status)),
            request_id: Set(action.request_id.map(|r| truncate(&r, 64))),
            body: Set(action.body),
        }
        .insert(&self.db)
        .await
        .context("append to the staff audit log")?;
        Ok(row.id)
    }

    /// Up to `limit` entries matching `filter`, newest first.
    ///
    /// # Errors
    /// The database could not be read.
    pub async fn list(&self, filter: &Filter, limit: u64) -> anyhow::Result<Vec<Entry>> {
        let mut query = AuditRows::find();
        if let Some(staff_id) = filter.staff_id {
            query = query.filter(Column::StaffId.eq(staff_id));
        }
        if let Some(from) = filter.from {
            query = query.filter(Column::At.gte(from));
        }
        if let Some(until) = filter.until {
            query = query.filter(Column::At.lt(until));
        }
        if let Some(before) = filter.before {
            query = query.filter(Column::Id.lt(before));
        }
        let rows = query
            .order_by_desc(Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .context("read the staff audit log")?;
        Ok(rows.into_iter().map(entry).collect())
    }

    /// Every entry matching `filter`, oldest first, as CSV (UTF-8 with a byte-order mark, so that
    /// a spreadsheet opens the Chinese columns as written). Read in pages, written as one
    /// document.
    ///
    /// # Errors
    /// The database could not be read.
    pub async fn export_csv(&self, filter: &Filter) -> anyhow::Result<Vec<u8>> {
        const PAGE: u64 = 1_000;
        let mut entries = Vec::new();
        let mut page_filter = filter.clone();
        loop {
            let page = self.list(&page_filter, PAGE).await?;
            let Some(last) = page.last() else { break };
            page_filter.before = Some(last.id);
            let full = page.len() as u64 == PAGE;
            entries.extend(page);
            if !full {
                break;
            }
        }
        entries.reverse();
        let mut out = "\u{feff}".as_bytes().to_vec();
        {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.write_record([
                "id",
                "时间(UTC)",
                "工作人员ID",
                "操作人",
                "来源地址",
                "方法",
                "路由",
                "路径",
                "结果",
                "请求号",
                "内容",
            ])?;
            for e in &entries {
                writer.write_record([
                    e.id.to_string(),
                    e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    e.staff_id.map(|id| id.to_string()).unwrap_or_default(),
                    e.actor.clone(),
                    e.address.clone().unwrap_or_default(),
                    e.method.clone(),
                    e.route.clone(),
                    e.path.clone(),
                    e.status.to_string(),
                    e.request_id.clone().unwrap_or_default(),
                    e.body.clone().unwrap_or_default(),
                ])?;
            }
            writer.flush()?;
        }
        Ok(out)
    }
}

fn entry(row: staff_audit_log::Model) -> Entry {
    Entry {
        id: row.id,
        at: row.at,
        staff_id: row.staff_id,
        actor: row.actor,
        address: row.address,
        method: row.method,
        route: row.route,
        path: row.path,
        status: u16::try_from(row.status).unwrap_or(0),
        request_id: row.request_id,
        body: row.body,
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// What the log keeps of a request body: JSON (of any declared type) with its secrets redacted,
/// compact; other text as it was, anything else (or anything over [`MAX_BODY`]) as its type, length and SHA-256 — enough to
/// match it against a file an operator still has. `None` for an empty body.
pub fn body_for_log(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let essence = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if body.len() <= MAX_BODY {
        // Whatever its declared type: a body that parses as JSON is redacted as JSON, so a
        // password sent as `text/plain` (and refused by its handler) is not kept as text.
        if let Ok(mut value) = serde_json::from_slice::<Value>(body) {
            redact(&mut value);
            return Some(value.to_string());
        }
        if essence.starts_with("text/")
            && let Ok(text) = std::str::from_utf8(body)
        {
            return Some(text.to_owned());
        }
    }
    Some(summary(&essence, body))
}

/// `{"contentType":…,"bytes":…,"sha256":…}` for a body that is not kept whole.
pub fn summary(content_type: &str, body: &[u8]) -> String {
    use sha2::Digest as _;
    serde_json::json!({
        "contentType": content_type,
        "bytes": body.len(),
        "sha256": hex::encode(sha2::Sha256::digest(body)),
    })
    .to_string()
}

/// Replaces the value of every secret key (see [`SECRET_KEYS`]) with [`REDACTED`], at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret(key) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn is_secret(key: &str) -> bool {
    let folded: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.contains(&folded.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth_and_in_any_spelling() {
        let body = br#"{"username":"li","password":"hunter2","nested":{"new_password":"x","list":[{"Token":"t"}]},"qrPayload":"keep?","payload":"zsb.eyJ"}"#;
        let kept = body_for_log(Some("application/json; charset=utf-8"), body).unwrap();
        let value: Value = serde_json::from_str(&kept).unwrap();
        assert_eq!(value["username"], "li");
        assert_eq!(value["password"], REDACTED);
        assert_eq!(value["nested"]["new_password"], REDACTED);
        assert_eq!(value["nested"]["list"][0]["Token"], REDACTED);
        assert_eq!(value["payload"], REDACTED);
        assert!(
            !kept.contains("hunter2") && !kept.contains("zsb.eyJ"),
            "{kept}"
        );
    }

    #[test]
    fn text_is_kept_and_anything_else_is_summarised() {
        assert_eq!(
            body_for_log(Some("text/csv"), "2027-01-01,休\n".as_bytes()).as_deref(),
            Some("2027-01-01,休\n")
        );
        let binary = body_for_log(Some("application/octet-stream"), &[0, 1, 2]).unwrap();
        let value: Value = serde_json::from_str(&binary).unwrap();
        assert_eq!(value["bytes"], 3);
        assert_eq!(value["contentType"], "application/octet-stream");
        assert_eq!(value["sha256"].as_str().unwrap().len(), 64);
        let big = vec![b'a'; MAX_BODY + 1];
        let value: Value =
            serde_json::from_str(&body_for_log(Some("text/plain"), &big).unwrap()).unwrap();
        assert_eq!(value["bytes"], MAX_BODY + 1);
        assert_eq!(body_for_log(Some("application/json"), b""), None);
        let sneaky = body_for_log(Some("text/plain"), br#"{"password":"hunter2"}"#).unwrap();
        assert!(!sneaky.contains("hunter2"), "{sneaky}");
    }

    #[test]
    fn a_body_that_is_not_json_is_never_kept_unredacted_as_json() {
        // Declared JSON but not parseable: summarised, so a malformed body with a password in
        // it is not written out as text.
        let kept = body_for_log(Some("application/json"), br#"{"password":"hunter2""#).unwrap();
        assert!(!kept.contains("hunter2"), "{kept}");
    }
}
