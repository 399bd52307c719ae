//! The simulated platform: the catalogue, the ledger of applications, cases and their events,
//! supplements, licences, evaluations, injected faults, the nonce memory and the counters.
//!
//! Plain state and rules, no HTTP: the routes take the lock, ask one question and turn the answer
//! ([`Reply`] or [`ApiError`]) into a response. Idempotency is decided here: a `clientRequestId`
//! seen before is answered from what was stored, compared by the SHA-256 of the body's canonical
//! JSON (keys sorted at every level).

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

mod bundles;

pub use self::bundles::BundleLedgerEntry;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{
    CallbackStats, CaseEvent, Fault, Group, LedgerEntry, LicenceRead, LicenceSpec, LicenceStatus,
    Phase, ProvinceSimStats, licences, signing::NonceMemory,
};

/// Materials above this size each, decoded, are refused with 413.
pub(crate) const MAX_MATERIAL: usize = 8 << 20;
/// Materials above this size together, decoded, are refused with 413.
pub(crate) const MAX_MATERIALS: usize = 32 << 20;

/// A successful answer: its status and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    fn created(body: Value) -> Self {
        Self { status: 201, body }
    }
}

/// A refusal in the contract's shape `{"code","message","fields"?}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) fields: Vec<(String, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_REQUEST", message)
    }

    fn not_found(what: &str) -> Self {
        Self::new(404, "NOT_FOUND", format!("{what} not found"))
    }

    fn validation(fields: Vec<(String, String)>) -> Self {
        Self {
            fields,
            ..Self::new(422, "VALIDATION", "the request has invalid fields")
        }
    }

    fn mismatch() -> Self {
        Self::new(
            409,
            "IDEMPOTENCY_MISMATCH",
            "this clientRequestId was used with a different body",
        )
    }

    fn too_large(message: String) -> Self {
        Self::new(413, "PAYLOAD_TOO_LARGE", message)
    }

    pub(crate) fn body(&self) -> Value {
        let mut body = json!({ "code": self.code, "message": self.message });
        if !self.fields.is_empty() {
            body["fields"] = self
                .fields
                .iter()
                .map(|(field, reason)| json!({ "field": field, "reason": reason }))
                .collect();
        }
        body
    }
}

/// The faults attached to one group.
#[derive(Default, Clone)]
pub(crate) struct FaultState {
    down: bool,
    slow: Duration,
    http5xx: u32,
    too_many: u32,
    lose_response: u32,
}

/// What to do with one request before (and after) handling it.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) down: bool,
    pub(crate) slow: Duration,
    pub(crate) early: Option<Early>,
    pub(crate) lose_response: bool,
}

pub(crate) enum Early {
    Http5xx,
    TooMany,
}

struct StoredItem {
    value: Value,
    updated_at: DateTime<Utc>,
}

struct Accepted {
    hash: String,
    sblsh: String,
    item_code: String,
    received_at: DateTime<Utc>,
    submissions: u32,
}

struct Case {
    item_code: String,
    handler: String,
    events: Vec<CaseEvent>,
}

impl Case {
    fn version(&self) -> u64 {
        self.events.last().map_or(0, |e| e.version)
    }

    fn status(&self) -> String {
        self.events
            .last()
            .map_or_else(|| "SUBMITTED".to_owned(), |e| e.phase.name())
    }
}

struct Licence {
    holder_cert_no: String,
    spec: LicenceSpec,
    issued_at: DateTime<Utc>,
}

/// Callback delivery state shared with `callbacks.rs`.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) url: Option<String>,
    pub(crate) hold: bool,
    pub(crate) duplicate_next: u32,
    pub(crate) held: Vec<CaseEvent>,
    pub(crate) stats: CallbackStats,
}

pub(crate) struct World {
    pub(crate) stopped: bool,
    items: BTreeMap<String, StoredItem>,
    last_stamp: DateTime<Utc>,
    applications: HashMap<String, Accepted>,
    /// `clientRequestId`s in the order accepted.
    ledger: Vec<String>,
    cases: HashMap<String, Case>,
    sequence: u64,
    /// Where `sequence` is kept across restarts, if anywhere.
    sequence_file: Option<std::path::PathBuf>,
    /// `clientRequestId` → (body hash, sblsh, version it produced).
    supplements: HashMap<String, (String, String, u64)>,
    licences: BTreeMap<String, Licence>,
    licence_serial: u64,
    pub(crate) licence_reads: Vec<LicenceRead>,
    evaluations: HashMap<String, String>,
    evaluation_log: Vec<Value>,
    /// Requests per evaluation `clientRequestId`, repeats included.
    evaluation_submissions: HashMap<String, u32>,
    pub(crate) faults: HashMap<Group, FaultState>,
    pub(crate) nonces: NonceMemory,
    requests: BTreeMap<Group, u64>,
    pub(crate) unauthorised: u64,
    pub(crate) callbacks: Callbacks,
    pub(crate) auto_progress: Option<Vec<(Duration, Phase, Value)>>,
    /// 一件事 bundles: their catalogue and ledger.
    bundles: bundles::Bundles,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Person {
    cert_type: String,
    cert_no: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    code: String,
    sha256: String,
    size: u64,
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationBody {
    client_request_id: String,
    item_code: String,
    #[allow(dead_code, reason = "required by the contract, not checked")]
    handle_item_code: String,
    applicant: Person,
    agent: Option<Person>,
    #[serde(default)]
    materials: Vec<Material>,
    obtain_way: u8,
    post_address: Option<Value>,
    #[allow(dead_code, reason = "required by the contract, not checked")]
    submitted_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SupplementBody {
    client_request_id: String,
    #[serde(default)]
    materials: Vec<Material>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EvaluationBody {
    client_request_id: String,
    sblsh: Option<String>,
    #[serde(default)]
    hall_code: Option<String>,
    #[serde(default)]
    window_no: Option<String>,
    #[serde(default)]
    channel: String,
    grade: i64,
}

impl World {
    pub(crate) fn new(callback_url: Option<String>) -> Self {
        Self {
            stopped: false,
            items: BTreeMap::new(),
            last_stamp: DateTime::<Utc>::MIN_UTC,
            applications: HashMap::new(),
            ledger: Vec::new(),
            cases: HashMap::new(),
            sequence: 0,
            sequence_file: None,
            supplements: HashMap::new(),
            licences: BTreeMap::new(),
            licence_serial: 0,
            licence_reads: Vec::new(),
            evaluations: HashMap::new(),
            evaluation_log: Vec::new(),
            evaluation_submissions: HashMap::new(),
            faults: HashMap::new(),
            nonces: NonceMemory::default(),
            requests: BTreeMap::new(),
            unauthorised: 0,
            callbacks: Callbacks {
                url: callback_url,
                ..Callbacks::default()
            },
            auto_progress: None,
            bundles: bundles::Bundles::default(),
        }
    }

    /// Now, but strictly after every earlier stamp: two updates never share an update time.
    fn stamp(&mut self) -> DateTime<Utc> {
        let now = Utc::now().max(self.last_stamp + TimeDelta::microseconds(1));
        self.last_stamp = now;
        now
    }

    // ---- faults ----

    pub(crate) fn fault(&mut self, group: Group, fault: Fault) {
        let state = self.faults.entry(group).or_default();
        match fault {
            Fault::Down => state.down = true,
            Fault::Slow(latency) => state.slow = latency,
            Fault::Http5xx(n) => state.http5xx += n,
            Fault::TooMany(n) => state.too_many += n,
            Fault::TimeoutAfterAccept(n) => state.lose_response += n,
        }
    }

    /// Counts the request and consumes the faults that apply to it: the group's own first, then
    /// [`Group::Any`]'s.
    pub(crate) fn begin(&mut self, group: Group) -> Plan {
        *self.requests.entry(group).or_default() += 1;
        let mut plan = Plan::default();
        for g in [group, Group::Any] {
            let Some(state) = self.faults.get_mut(&g) else {
                continue;
            };
            plan.down |= state.down;
            plan.slow = plan.slow.max(state.slow);
            if plan.early.is_none() && !plan.lose_response {
                if state.http5xx > 0 {
                    state.http5xx -= 1;
                    plan.early = Some(Early::Http5xx);
                } else if state.too_many > 0 {
                    state.too_many -= 1;
                    plan.early = Some(Early::TooMany);
                } else if state.lose_response > 0 {
                    state.lose_response -= 1;
                    plan.lose_response = true;
                }
            }
        }
        plan
    }

    pub(crate) fn requests(&self, group: Group) -> u64 {
        match group {
            Group::Any => self.requests.values().sum(),
            g => self.requests.get(&g).copied().unwrap_or(0),
        }
    }

    pub(crate) fn stats(&self) -> ProvinceSimStats {
        ProvinceSimStats {
            requests: self.requests.clone(),
            requests_total: self.requests(Group::Any),
            unauthorised: self.unauthorised,
            ledger_len: self.ledger.len(),
            callbacks: self.callback_stats(),
        }
    }

    pub(crate) fn callback_stats(&self) -> CallbackStats {
        CallbackStats {
            held: self.callbacks.held.len() as u64,
            ..self.callbacks.stats.clone()
        }
    }

    // ---- catalogue ----

    pub(crate) fn upsert_item(&mut self, item: Value) -> anyhow::Result<()> {
        let code = item
            .get("itemCode")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| anyhow::anyhow!("a catalogue item needs an itemCode"))?
            .to_owned();
        let updated_at = self.stamp();
        self.items.insert(
            code,
            StoredItem {
                value: item,
                updated_at,
            },
        );
        Ok(())
    }

    pub(crate) fn remove_all_items(&mut self) {
        self.items.clear();
    }

    /// Items updated at or after `since`, oldest update first, one page of them.
    pub(crate) fn list_items(
        &self,
        since: Option<DateTime<Utc>>,
        page: u32,
        page_size: u32,
    ) -> Reply {
        let mut matching: Vec<&StoredItem> = self
            .items
            .values()
            .filter(|i| since.is_none_or(|s| i.updated_at >= s))
            .collect();
        matching.sort_by_key(|i| i.updated_at);
        let size = page_size as usize;
        let start = (page as usize).saturating_sub(1).saturating_mul(size);
        let items: Vec<&Value> = matching
            .iter()
            .skip(start)
            .take(size)
            .map(|i| &i.value)
            .collect();
        let next_page = (start.saturating_add(size) < matching.len()).then_some(page + 1);
        Reply::ok(json!({ "items": items, "nextPage": next_page }))
    }

    // ---- applications ----

    pub(crate) fn ledger(&self) -> Vec<LedgerEntry> {
        self.ledger
            .iter()
            .filter_map(|id| {
                let a = self.applications.get(id)?;
                Some(LedgerEntry {
                    client_request_id: id.clone(),
                    sblsh: a.sblsh.clone(),
                    item_code: a.item_code.clone(),
                    received_at: a.received_at,
                    submissions: a.submissions,
                })
            })
            .collect()
    }

    /// Continues the numbering kept in `file` (none yet: from 0), and keeps it there from now on.
    pub(crate) fn keep_sequence_in(&mut self, file: std::path::PathBuf) -> anyhow::Result<()> {
        use anyhow::Context as _;
        self.sequence = match std::fs::read_to_string(&file) {
            Ok(text) => text
                .trim()
                .parse()
                .with_context(|| format!("read the case number in {}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e).with_context(|| format!("read {}", file.display())),
        };
        self.sequence_file = Some(file);
        Ok(())
    }

    pub(crate) fn set_sequence(&mut self, n: u64) {
        self.sequence = n;
    }

    /// Writes the last number issued before its case is answered: a number that was not kept
    /// is not handed out (write, then rename, so a crash leaves the old or the new number).
    fn persist_sequence(&self) -> std::io::Result<()> {
        let Some(file) = &self.sequence_file else {
            return Ok(());
        };
        let partial = file.with_extension("partial");
        std::fs::write(&partial, self.sequence.to_string())?;
        std::fs::rename(&partial, file)
    }

    pub(crate) fn ledger_len(&self) -> usize {
        self.ledger.len()
    }

    /// Accepts an application, or answers a repeat from the ledger. The new case's sblsh is
    /// returned beside the reply when one was created.
    pub(crate) fn submit_application(
        &mut self,
        raw: &Value,
    ) -> Result<(Reply, Option<String>), ApiError> {
        let body: ApplicationBody = serde_json::from_value(raw.clone())
            .map_err(|e| ApiError::bad_request(format!("unreadable application: {e}")))?;
        let hash = canonical_hash(raw);
        if let Some(accepted) = self.applications.get_mut(&body.client_request_id) {
            accepted.submissions += 1;
            if accepted.hash != hash {
                return Err(ApiError::mismatch());
            }
            let reply = json!({
                "sblsh": accepted.sblsh,
                "receivedAt": accepted.received_at,
                "status": "SUBMITTED",
            });
            return Ok((Reply::ok(reply), None));
        }
        check_materials(&body.materials)?;
        self.validate(&body)?;

        let received_at = Utc::now();
        self.sequence += 1;
        if let Err(e) = self.persist_sequence() {
            self.sequence -= 1;
            return Err(ApiError::new(
                503,
                "UNAVAILABLE",
                format!("cannot keep the case number: {e}"),
            ));
        }
        // The date in the sblsh is Beijing's.
        let beijing = received_at + TimeDelta::hours(8);
        let sblsh = format!(
            "{}{}{:06}",
            body.item_code,
            beijing.format("%Y%m%d"),
            self.sequence % 1_000_000
        );
        let handler = self
            .items
            .get(&body.item_code)
            .and_then(|i| i.value.get("department"))
            .and_then(Value::as_str)
            .unwrap_or("综合受理窗口")
            .to_owned();
        self.cases.insert(
            sblsh.clone(),
            Case {
                item_code: body.item_code.clone(),
                handler,
                events: Vec::new(),
            },
        );
        self.applications.insert(
            body.client_request_id.clone(),
            Accepted {
                hash,
                sblsh: sblsh.clone(),
                item_code: body.item_code.clone(),
                received_at,
                submissions: 1,
            },
        );
        self.ledger.push(body.client_request_id);
        let reply = json!({ "sblsh": sblsh, "receivedAt": received_at, "status": "SUBMITTED" });
        Ok((Reply::created(reply), Some(sblsh)))
    }

    fn validate(&self, body: &ApplicationBody) -> Result<(), ApiError> {
        let mut fields = Vec::new();
        if body.client_request_id.trim().is_empty() {
            fields.push(("clientRequestId".to_owned(), "must not be empty".to_owned()));
        }
        match self.items.get(&body.item_code) {
            None => fields.push(("itemCode".to_owned(), "no such item".to_owned())),
            Some(item) => {
                let specs = item
                    .value
                    .get("materials")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for spec in specs {
                    let required = spec.get("required").and_then(Value::as_bool) == Some(true);
                    let code = spec.get("code").and_then(Value::as_str).unwrap_or_default();
                    if required && !body.materials.iter().any(|m| m.code == code) {
                        let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
                        fields.push((
                            format!("materials.{code}"),
                            format!("required material {name} is missing"),
                        ));
                    }
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

    // ---- cases ----

    pub(crate) fn case_state(&self, sblsh: &str) -> Result<Reply, ApiError> {
        let case = self
            .cases
            .get(sblsh)
            .ok_or_else(|| ApiError::not_found("case"))?;
        Ok(Reply::ok(json!({
            "sblsh": sblsh,
            "itemCode": case.item_code,
            "status": case.status(),
            "version": case.version(),
            "events": case.events,
        })))
    }

    pub(crate) fn case_events(&self, sblsh: &str) -> Option<Vec<CaseEvent>> {
        self.cases.get(sblsh).map(|c| c.events.clone())
    }

    /// Appends an event to a case; `None` for an unknown case.
    pub(crate) fn append_event(
        &mut self,
        sblsh: &str,
        phase: Phase,
        detail: Value,
    ) -> Option<CaseEvent> {
        let case = self.cases.get_mut(sblsh)?;
        let event = CaseEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            sblsh: sblsh.to_owned(),
            version: case.version() + 1,
            phase,
            at: Utc::now(),
            handler: case.handler.clone(),
            detail,
        };
        case.events.push(event.clone());
        Some(event)
    }

    /// Accepts a supplement (a SUPPLEMENTED event, returned for delivery), or answers a repeat.
    pub(crate) fn submit_supplement(
        &mut self,
        sblsh: &str,
        raw: &Value,
    ) -> Result<(Reply, Option<CaseEvent>), ApiError> {
        let body: SupplementBody = serde_json::from_value(raw.clone())
            .map_err(|e| ApiError::bad_request(format!("unreadable supplement: {e}")))?;
        if !self.cases.contains_key(sblsh) {
            return Err(ApiError::not_found("case"));
        }
        let hash = canonical_hash(&json!({ "sblsh": sblsh, "body": raw }));
        if let Some((seen, _, version)) = self.supplements.get(&body.client_request_id) {
            if *seen != hash {
                return Err(ApiError::mismatch());
            }
            return Ok((Reply::ok(json!({ "version": version })), None));
        }
        check_materials(&body.materials)?;
        if body.client_request_id.trim().is_empty() {
            return Err(ApiError::validation(vec![(
                "clientRequestId".into(),
                "must not be empty".into(),
            )]));
        }
        let codes: Vec<&str> = body.materials.iter().map(|m| m.code.as_str()).collect();
        let detail = json!({ "materials": codes, "note": body.note });
        let event = self
            .append_event(sblsh, Phase::Supplemented, detail)
            .ok_or_else(|| ApiError::not_found("case"))?;
        self.supplements.insert(
            body.client_request_id,
            (hash, sblsh.to_owned(), event.version),
        );
        Ok((
            Reply::created(json!({ "version": event.version })),
            Some(event),
        ))
    }

    // ---- licences ----

    pub(crate) fn add_licence(&mut self, holder_cert_no: &str, spec: LicenceSpec) -> String {
        self.licence_serial += 1;
        let id = licences::licence_id(&spec.type_code, &spec.issuer_code, self.licence_serial);
        self.licences.insert(
            id.clone(),
            Licence {
                holder_cert_no: holder_cert_no.to_owned(),
                spec,
                issued_at: Utc::now(),
            },
        );
        id
    }

    pub(crate) fn set_licence_status(
        &mut self,
        licence_id: &str,
        status: LicenceStatus,
    ) -> anyhow::Result<()> {
        let licence = self
            .licences
            .get_mut(licence_id)
            .ok_or_else(|| anyhow::anyhow!("no licence {licence_id}"))?;
        licence.spec.status = status;
        Ok(())
    }

    fn summary(id: &str, licence: &Licence) -> Value {
        let spec = &licence.spec;
        json!({
            "licenceId": id,
            "typeCode": spec.type_code,
            "typeName": spec.type_name,
            "holderName": spec.holder_name,
            "issuer": spec.issuer,
            "issuedAt": licence.issued_at,
            "validFrom": spec.valid_from,
            "validUntil": spec.valid_until,
            "status": spec.status,
        })
    }

    /// The holder's licences; the certificate type is required but not matched (a test holder
    /// is identified by the number alone).
    pub(crate) fn licences_of(&self, cert_no: &str) -> Reply {
        let licences: Vec<Value> = self
            .licences
            .iter()
            .filter(|(_, l)| l.holder_cert_no == cert_no)
            .map(|(id, l)| Self::summary(id, l))
            .collect();
        Reply::ok(json!({ "licences": licences }))
    }

    pub(crate) fn licence(&self, id: &str) -> Result<Reply, ApiError> {
        let licence = self
            .licences
            .get(id)
            .ok_or_else(|| ApiError::not_found("licence"))?;
        let mut body = Self::summary(id, licence);
        body["fields"] = json!(licence.spec.fields);
        body["faceImage"] = json!(licence.spec.face_image);
        Ok(Reply::ok(body))
    }

    pub(crate) fn licence_status(&self, id: &str) -> Result<Reply, ApiError> {
        let licence = self
            .licences
            .get(id)
            .ok_or_else(|| ApiError::not_found("licence"))?;
        Ok(Reply::ok(json!({
            "status": licence.spec.status,
            "checkedAt": Utc::now(),
        })))
    }

    // ---- evaluations ----

    pub(crate) fn submit_evaluation(&mut self, raw: &Value) -> Result<Reply, ApiError> {
        let body: EvaluationBody = serde_json::from_value(raw.clone())
            .map_err(|e| ApiError::bad_request(format!("unreadable evaluation: {e}")))?;
        let hash = canonical_hash(raw);
        *self
            .evaluation_submissions
            .entry(body.client_request_id.clone())
            .or_default() += 1;
        if let Some(seen) = self.evaluations.get(&body.client_request_id) {
            if *seen != hash {
                return Err(ApiError::mismatch());
            }
            return Ok(Reply::ok(json!({ "ok": true })));
        }
        let mut fields = Vec::new();
        if !(1..=5).contains(&body.grade) {
            fields.push(("grade".to_owned(), "must be 1 to 5".to_owned()));
        }
        if body.client_request_id.trim().is_empty() {
            fields.push(("clientRequestId".to_owned(), "must not be empty".to_owned()));
        }
        if body.channel != "3" {
            fields.push(("channel".to_owned(), "must be \"3\"".to_owned()));
        }
        // An evaluation is of a case (sblsh) or of a service at a hall's window.
        if body.sblsh.is_none() && (body.hall_code.is_none() || body.window_no.is_none()) {
            fields.push((
                "sblsh".to_owned(),
                "either sblsh or hallCode and windowNo".to_owned(),
            ));
        }
        if let Some(sblsh) = &body.sblsh
            && !self.cases.contains_key(sblsh)
        {
            fields.push(("sblsh".to_owned(), "no such case".to_owned()));
        }
        if !fields.is_empty() {
            return Err(ApiError::validation(fields));
        }
        self.evaluations.insert(body.client_request_id, hash);
        self.evaluation_log.push(raw.clone());
        Ok(Reply::created(json!({ "ok": true })))
    }

    pub(crate) fn evaluations(&self) -> Vec<Value> {
        self.evaluation_log.clone()
    }

    pub(crate) fn evaluation_submissions(&self, client_request_id: &str) -> u32 {
        self.evaluation_submissions
            .get(client_request_id)
            .copied()
            .unwrap_or(0)
    }
}

/// 18 characters for a resident ID card (`111`) and a unified social credit code (`001`).
fn cert_problem(person: &Person) -> Option<String> {
    let length = person.cert_no.chars().count();
    match person.cert_type.as_str() {
        "111" | "001" if length != 18 => Some(format!(
            "must be 18 characters for certType {}",
            person.cert_type
        )),
        "111" | "001" => None,
        _ if length == 0 => Some("must not be empty".to_owned()),
        _ => None,
    }
}

/// 413 for oversized materials; 422 for content that is not base64 or disagrees with its
/// declared size or digest.
fn check_materials(materials: &[Material]) -> Result<(), ApiError> {
    let mut total = 0usize;
    let mut fields = Vec::new();
    for (i, material) in materials.iter().enumerate() {
        // Base64 is 4 characters per 3 bytes: a rough bound before decoding anything big.
        if material.content.len() / 4 * 3 > MAX_MATERIAL + 3 {
            return Err(ApiError::too_large(format!(
                "material {} is larger than 8 MiB",
                material.code
            )));
        }
        let Ok(bytes) = STANDARD.decode(&material.content) else {
            fields.push((format!("materials[{i}].content"), "not base64".to_owned()));
            continue;
        };
        if bytes.len() > MAX_MATERIAL {
            return Err(ApiError::too_large(format!(
                "material {} is larger than 8 MiB",
                material.code
            )));
        }
        total += bytes.len();
        if bytes.len() as u64 != material.size {
            fields.push((
                format!("materials[{i}].size"),
                "does not match the content".to_owned(),
            ));
        }
        if !hex::encode(Sha256::digest(&bytes)).eq_ignore_ascii_case(&material.sha256) {
            fields.push((
                format!("materials[{i}].sha256"),
                "does not match the content".to_owned(),
            ));
        }
    }
    if total > MAX_MATERIALS {
        return Err(ApiError::too_large(
            "materials are larger than 32 MiB together".to_owned(),
        ));
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(fields))
    }
}

/// SHA-256 of the JSON with the keys of every object sorted.
fn canonical_hash(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let bytes = serde_json::to_vec(&sorted(value)).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_hash_ignores_key_order_only() {
        let a = canonical_hash(&json!({"a": 1, "b": {"c": 2, "d": [1, 2]}}));
        let b = canonical_hash(&json!({"b": {"d": [1, 2], "c": 2}, "a": 1}));
        let c = canonical_hash(&json!({"b": {"d": [2, 1], "c": 2}, "a": 1}));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn counted_faults_are_consumed_the_groups_own_first() {
        let mut world = World::new(None);
        world.fault(Group::Any, Fault::Http5xx(1));
        world.fault(Group::Items, Fault::TooMany(1));
        assert!(matches!(
            world.begin(Group::Items).early,
            Some(Early::TooMany)
        ));
        assert!(matches!(
            world.begin(Group::Items).early,
            Some(Early::Http5xx)
        ));
        assert!(world.begin(Group::Items).early.is_none());
        assert_eq!(world.requests(Group::Items), 3);
        assert_eq!(world.requests(Group::Any), 3);
    }
}
