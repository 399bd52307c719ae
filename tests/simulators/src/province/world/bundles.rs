//! 一件事 bundles in the simulated platform (province-api.md, "一件事 bundles"): the bundles of
//! the catalogue, bundle applications with their ledger, and one case per item, each moving and
//! calling back like any other.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    ApiError, Case, Material, Person, Reply, World, canonical_hash, cert_problem, check_materials,
};

/// One accepted bundle application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleLedgerEntry {
    pub client_request_id: String,
    pub bundle_code: String,
    pub bundle_no: String,
    /// `(itemCode, sblsh)` per part, in the order asked for.
    pub cases: Vec<(String, String)>,
    pub received_at: DateTime<Utc>,
    /// How many POSTs carried this `clientRequestId` (the first included).
    pub submissions: u32,
    /// The applicant's certificate number, and the agent's (代办人) when one was named.
    pub applicant_cert_no: String,
    pub agent_cert_no: Option<String>,
}

struct StoredBundle {
    value: Value,
    updated_at: DateTime<Utc>,
}

struct AcceptedBundle {
    hash: String,
    entry: BundleLedgerEntry,
}

/// The bundles' part of the world.
#[derive(Default)]
pub(crate) struct Bundles {
    catalogue: BTreeMap<String, StoredBundle>,
    accepted: HashMap<String, AcceptedBundle>,
    /// `clientRequestId`s in the order accepted.
    ledger: Vec<String>,
    sequence: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleBody {
    client_request_id: String,
    bundle_code: String,
    items: Vec<String>,
    applicant: Person,
    agent: Option<Person>,
    #[serde(default)]
    materials: Vec<Material>,
    obtain_way: u8,
    post_address: Option<Value>,
    #[allow(dead_code, reason = "required by the contract, not checked")]
    submitted_at: DateTime<Utc>,
}

impl World {
    pub(crate) fn upsert_bundle(&mut self, bundle: Value) -> anyhow::Result<()> {
        let code = bundle
            .get("bundleCode")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| anyhow::anyhow!("a bundle needs a bundleCode"))?
            .to_owned();
        let updated_at = self.stamp();
        let mut value = bundle;
        value["updatedAt"] = json!(updated_at);
        self.bundles
            .catalogue
            .insert(code, StoredBundle { value, updated_at });
        Ok(())
    }

    /// Bundles updated at or after `since`, oldest update first, one page of them.
    pub(crate) fn list_bundles(
        &self,
        since: Option<DateTime<Utc>>,
        page: u32,
        page_size: u32,
    ) -> Reply {
        let mut matching: Vec<&StoredBundle> = self
            .bundles
            .catalogue
            .values()
            .filter(|b| since.is_none_or(|s| b.updated_at >= s))
            .collect();
        matching.sort_by_key(|b| b.updated_at);
        let size = page_size as usize;
        let start = (page as usize).saturating_sub(1).saturating_mul(size);
        let bundles: Vec<&Value> = matching
            .iter()
            .skip(start)
            .take(size)
            .map(|b| &b.value)
            .collect();
        let next_page = (start.saturating_add(size) < matching.len()).then_some(page + 1);
        Reply::ok(json!({ "bundles": bundles, "nextPage": next_page }))
    }

    pub(crate) fn bundle_ledger(&self) -> Vec<BundleLedgerEntry> {
        self.bundles
            .ledger
            .iter()
            .filter_map(|id| self.bundles.accepted.get(id).map(|a| a.entry.clone()))
            .collect()
    }

    fn bundle_reply(entry: &BundleLedgerEntry) -> Value {
        let cases: Vec<Value> = entry
            .cases
            .iter()
            .map(|(item_code, sblsh)| json!({ "itemCode": item_code, "sblsh": sblsh }))
            .collect();
        json!({ "bundleNo": entry.bundle_no, "receivedAt": entry.received_at, "cases": cases })
    }

    /// Accepts a bundle application — one case per item — or answers a repeat from the ledger.
    /// The new cases' sblsh are returned beside the reply.
    pub(crate) fn submit_bundle(&mut self, raw: &Value) -> Result<(Reply, Vec<String>), ApiError> {
        let body: BundleBody = serde_json::from_value(raw.clone())
            .map_err(|e| ApiError::bad_request(format!("unreadable bundle application: {e}")))?;
        let hash = canonical_hash(raw);
        if let Some(accepted) = self.bundles.accepted.get_mut(&body.client_request_id) {
            accepted.entry.submissions += 1;
            if accepted.hash != hash {
                return Err(ApiError::mismatch());
            }
            return Ok((Reply::ok(Self::bundle_reply(&accepted.entry)), Vec::new()));
        }
        check_materials(&body.materials)?;
        self.validate_bundle(&body)?;
        let received_at = Utc::now();
        let beijing = received_at + TimeDelta::hours(8);
        let mut cases = Vec::with_capacity(body.items.len());
        for item_code in &body.items {
            self.sequence += 1;
            if let Err(e) = self.persist_sequence() {
                self.sequence -= 1;
                return Err(ApiError::new(
                    503,
                    "UNAVAILABLE",
                    format!("cannot keep the case number: {e}"),
                ));
            }
            let sblsh = format!(
                "{}{}{:06}",
                item_code,
                beijing.format("%Y%m%d"),
                self.sequence % 1_000_000
            );
            let handler = self
                .items
                .get(item_code)
                .and_then(|i| i.value.get("department"))
                .and_then(Value::as_str)
                .unwrap_or("综合受理窗口")
                .to_owned();
            self.cases.insert(
                sblsh.clone(),
                Case {
                    item_code: item_code.clone(),
                    handler,
                    events: Vec::new(),
                },
            );
            cases.push((item_code.clone(), sblsh));
        }
        self.bundles.sequence += 1;
        let entry = BundleLedgerEntry {
            client_request_id: body.client_request_id.clone(),
            bundle_code: body.bundle_code.clone(),
            bundle_no: format!(
                "YJS{}{:06}",
                beijing.format("%Y%m%d"),
                self.bundles.sequence % 1_000_000
            ),
            cases: cases.clone(),
            applicant_cert_no: body.applicant.cert_no.clone(),
            agent_cert_no: body.agent.as_ref().map(|a| a.cert_no.clone()),
            received_at,
            submissions: 1,
        };
        let reply = Self::bundle_reply(&entry);
        self.bundles.accepted.insert(
            body.client_request_id.clone(),
            AcceptedBundle { hash, entry },
        );
        self.bundles.ledger.push(body.client_request_id);
        Ok((
            Reply::created(reply),
            cases.into_iter().map(|(_, sblsh)| sblsh).collect(),
        ))
    }

    /// 422 naming the item and field at fault.
    fn validate_bundle(&self, body: &BundleBody) -> Result<(), ApiError> {
        let mut fields = Vec::new();
        if body.client_request_id.trim().is_empty() {
            fields.push(("clientRequestId".to_owned(), "must not be empty".to_owned()));
        }
        let Some(bundle) = self.bundles.catalogue.get(&body.bundle_code) else {
            return Err(ApiError::validation(vec![(
                "bundleCode".to_owned(),
                "no such bundle".to_owned(),
            )]));
        };
        let members: Vec<(String, bool)> = bundle
            .value
            .get("items")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            m.get("itemCode")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            m.get("required").and_then(Value::as_bool) == Some(true),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (code, required) in &members {
            if *required && !body.items.contains(code) {
                fields.push((format!("items.{code}"), "a required item is missing".into()));
            }
        }
        for (i, code) in body.items.iter().enumerate() {
            if !members.iter().any(|(c, _)| c == code) {
                fields.push((format!("items[{i}]"), "not an item of the bundle".into()));
                continue;
            }
            if body.items[..i].contains(code) {
                fields.push((format!("items[{i}]"), "repeated".into()));
                continue;
            }
            let specs = self
                .items
                .get(code)
                .and_then(|i| i.value.get("materials"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for spec in specs {
                let required = spec.get("required").and_then(Value::as_bool) == Some(true);
                let m = spec.get("code").and_then(Value::as_str).unwrap_or_default();
                if required && !body.materials.iter().any(|x| x.code == m) {
                    let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
                    fields.push((
                        format!("items.{code}.materials.{m}"),
                        format!("required material {name} is missing"),
                    ));
                }
            }
        }
        let people = [
            ("applicant", Some(&body.applicant)),
            ("agent", body.agent.as_ref()),
        ];
        for (role, person) in people {
            if let Some(reason) = person.and_then(cert_problem) {
                fields.push((format!("{role}.certNo"), reason));
            }
        }
        match (body.obtain_way, &body.post_address) {
            (0, _) => {}
            (1, Some(address)) if address.is_object() => {}
            (1, _) => fields.push((
                "postAddress".to_owned(),
                "required when obtainWay is 1".to_owned(),
            )),
            _ => fields.push(("obtainWay".to_owned(), "must be 0 or 1".to_owned())),
        }
        if fields.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(fields))
        }
    }

    /// `GET /gov/v1/bundle-applications/{bundleNo}`.
    pub(crate) fn bundle_state(&self, bundle_no: &str) -> Result<Reply, ApiError> {
        let entry = self
            .bundles
            .accepted
            .values()
            .map(|a| &a.entry)
            .find(|e| e.bundle_no == bundle_no)
            .ok_or_else(|| ApiError::not_found("bundle application"))?;
        let cases: Vec<Value> = entry
            .cases
            .iter()
            .map(|(item_code, sblsh)| {
                let case = self.cases.get(sblsh);
                json!({
                    "itemCode": item_code,
                    "sblsh": sblsh,
                    "status": case.map_or_else(|| "SUBMITTED".to_owned(), Case::status),
                    "version": case.map_or(0, Case::version),
                })
            })
            .collect();
        Ok(Reply::ok(json!({ "bundleNo": bundle_no, "cases": cases })))
    }
}
