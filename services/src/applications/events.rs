//! Case events (办件进度): stored once whatever their arrival order, projected onto the
//! application, told to the citizen, and turned into a timeline and a deadline.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _,
};
use serde_json::{Value, json};

use super::{ApplicationService, Deadline, SupplementRequestView, TimelineEntry, shanghai_date};
use crate::calendar::WorkingCalendar;
use crate::notify::NotificationKind;
use crate::province::{CaseEvent, Phase};
use entities::status::CasePhase;
use entities::{application, case_event, case_number_dispute, item};

/// Whether a case has ended for good, so it is not polled any more: rejected, delivered, or
/// concluded with a result after which nothing is delivered (1 returned, 2 void, 3 deleted,
/// 5 closed for a missing supplement).
fn is_final(e: &TimelineEntry) -> bool {
    match e.phase {
        Phase::Rejected | Phase::Delivered => true,
        Phase::Concluded => matches!(result_code(&e.detail).as_str(), "1" | "2" | "3" | "5"),
        _ => false,
    }
}

fn result_code(detail: &Value) -> String {
    match detail.get("result") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// How an event reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// A signed callback from the platform.
    Callback,
    /// Polling `GET /gov/v1/applications/{sblsh}`.
    Poll,
}

impl EventSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "CALLBACK",
            Self::Poll => "POLL",
        }
    }
}

/// What recording a batch of events did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordOutcome {
    /// Events stored for the first time.
    pub stored: usize,
    /// Events already stored (by `eventId`, or by case and version).
    pub duplicates: usize,
}

/// A phase as stored: the platform's word for it, one to one with the wire's (the match is
/// exhaustive both ways, so a phase added to one side does not compile until the other has it).
pub(super) fn stored_phase(phase: Phase) -> CasePhase {
    match phase {
        Phase::PreAccepted => CasePhase::PreAccepted,
        Phase::Accepted => CasePhase::Accepted,
        Phase::Rejected => CasePhase::Rejected,
        Phase::InReview => CasePhase::InReview,
        Phase::SupplementRequired => CasePhase::SupplementRequired,
        Phase::Supplemented => CasePhase::Supplemented,
        Phase::SpecialProcedure => CasePhase::SpecialProcedure,
        Phase::Concluded => CasePhase::Concluded,
        Phase::Delivered => CasePhase::Delivered,
    }
}

/// The wire's phase of a stored one.
pub(super) fn phase_of(stored: CasePhase) -> Phase {
    match stored {
        CasePhase::PreAccepted => Phase::PreAccepted,
        CasePhase::Accepted => Phase::Accepted,
        CasePhase::Rejected => Phase::Rejected,
        CasePhase::InReview => Phase::InReview,
        CasePhase::SupplementRequired => Phase::SupplementRequired,
        CasePhase::Supplemented => Phase::Supplemented,
        CasePhase::SpecialProcedure => Phase::SpecialProcedure,
        CasePhase::Concluded => Phase::Concluded,
        CasePhase::Delivered => Phase::Delivered,
    }
}

pub(super) fn to_entry(row: &case_event::Model) -> Option<TimelineEntry> {
    Some(TimelineEntry {
        version: u64::try_from(row.version).ok()?,
        phase: phase_of(row.phase),
        at: row.at,
        handler: row.handler.clone(),
        detail: serde_json::from_str(&row.detail).unwrap_or(Value::Null),
    })
}

/// Why events were not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An event breaks the contract (an empty id, version 0 …): refuse it, do not retry.
    #[error("invalid case event: {0}")]
    Invalid(String),
    /// The database failed: do not acknowledge, the platform will retry.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Checks the parts of an event the tables hold.
fn check(event: &CaseEvent) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=64).contains(&event.event_id.len()),
        "eventId must be 1 to 64 bytes"
    );
    anyhow::ensure!(
        (1..=64).contains(&event.sblsh.len()),
        "sblsh must be 1 to 64 bytes"
    );
    anyhow::ensure!(
        (1..=i64::MAX as u64).contains(&event.version),
        "version must be positive"
    );
    Ok(())
}

pub(super) async fn record(
    svc: &ApplicationService,
    events: &[CaseEvent],
    source: EventSource,
) -> Result<RecordOutcome, RecordError> {
    for event in events {
        check(event).map_err(|e| RecordError::Invalid(e.to_string()))?;
    }
    let inner = &svc.inner;
    let now = inner.clock.now();
    let txn = crate::db::write(&inner.db)
        .await
        .context("begin recording events")?;
    let mut outcome = RecordOutcome::default();
    // Every case of the batch is projected, duplicates included: an event stored while the
    // forwarder was recording its case's sblsh (neither saw the other's uncommitted row) is
    // applied by the next delivery of any event of the case, or by the next poll.
    let mut touched: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for event in events {
        let handler: String = event.handler.chars().take(200).collect();
        let inserted = case_event::Entity::insert(case_event::ActiveModel {
            event_id: Set(event.event_id.clone()),
            sblsh: Set(event.sblsh.clone()),
            version: Set(i64::try_from(event.version).unwrap_or(i64::MAX)),
            phase: Set(stored_phase(event.phase)),
            at: Set(event.at),
            handler: Set(handler),
            detail: Set(serde_json::to_string(&event.detail).context("encode detail")?),
            source: Set(source.as_str().to_owned()),
            received_at: Set(now),
            ..Default::default()
        })
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await
        .context("store a case event")?;
        let new = touched.entry(event.sblsh.clone()).or_default();
        if inserted == 1 {
            outcome.stored += 1;
            new.push(event.version);
        } else {
            outcome.duplicates += 1;
        }
    }
    for (sblsh, new) in &touched {
        project(svc, &txn, sblsh, Some(new)).await?;
    }
    txn.commit().await.context("commit case events")?;
    if outcome.stored > 0 {
        inner.notifications.wake().await;
    }
    metrics::counter!("case_events_total", "source" => source.as_str())
        .increment(outcome.stored as u64);
    metrics::counter!("case_events_duplicate_total").increment(outcome.duplicates as u64);
    Ok(outcome)
}

/// Brings the application of `sblsh` (if it is known yet) up to the newest stored event, and
/// tells the citizen about the new events that matter to them: `new` are the versions just
/// stored (`None`: every version above what the application had, when the forwarder has just
/// learnt the case's sblsh). A new notifiable event is told unless a later notifiable event is
/// already in the timeline (a citizen is never told "accepted" after "concluded"); a 补正告知
/// still open is told whatever came after it, since the citizen must act on it.
pub(super) async fn project(
    svc: &ApplicationService,
    txn: &impl ConnectionTrait,
    sblsh: &str,
    new: Option<&[u64]>,
) -> anyhow::Result<()> {
    // A number the platform gave twice: its events may be either case's, so they move neither
    // application and tell nobody (an operator decides; see `forward::dispute`).
    if case_number_dispute::Entity::find_by_id(sblsh)
        .one(txn)
        .await
        .context("look for a dispute of the case number")?
        .is_some()
    {
        return Ok(());
    }
    // One case at a time: take the application's row lock (PostgreSQL; SQLite's write lock)
    // before reading the case's events, so that two callbacks of one case on two instances do
    // not each decide on a timeline without the other's event. The second waits for the first
    // to commit and then reads both (READ COMMITTED reads afresh at each statement): "accepted"
    // is never told after "concluded". An UPDATE rather than SELECT … FOR UPDATE: SQLite has no
    // row locks, and a transaction that wrote first cannot lose its snapshot to another writer.
    let locked = application::Entity::update_many()
        .col_expr(
            application::Column::UpdatedAt,
            Expr::col(application::Column::UpdatedAt),
        )
        .filter(application::Column::Sblsh.eq(sblsh))
        .exec(txn)
        .await
        .context("lock the case's application")?;
    if locked.rows_affected == 0 {
        return Ok(());
    }
    let Some(app) = application::Entity::find()
        .filter(application::Column::Sblsh.eq(sblsh))
        .one(txn)
        .await
        .context("find the case's application")?
    else {
        return Ok(());
    };
    let rows = case_event::Entity::find()
        .filter(case_event::Column::Sblsh.eq(sblsh))
        .order_by_asc(case_event::Column::Version)
        .all(txn)
        .await
        .context("read the case's events")?;
    let timeline: Vec<TimelineEntry> = rows.iter().filter_map(to_entry).collect();
    let Some(newest) = timeline.last() else {
        return Ok(());
    };
    let newest_version = i64::try_from(newest.version).unwrap_or(i64::MAX);
    let now = svc.inner.clock.now();
    if newest_version > app.case_version {
        let tracking_no = timeline.iter().rev().find_map(|e| {
            (e.phase == Phase::Delivered)
                .then(|| tracking_no(&e.detail))
                .flatten()
        });
        application::Entity::update_many()
            .col_expr(
                application::Column::Phase,
                Expr::value(stored_phase(newest.phase).as_str()),
            )
            .col_expr(
                application::Column::CaseVersion,
                Expr::value(newest_version),
            )
            .col_expr(application::Column::TrackingNo, Expr::value(tracking_no))
            .col_expr(application::Column::LastEventAt, Expr::value(now))
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                application::Column::PollDueAt,
                Expr::value(
                    (!is_final(newest))
                        .then(|| now + super::forward::reconcile_after(&svc.inner.config)),
                ),
            )
            .filter(application::Column::Id.eq(app.id.as_str()))
            .filter(application::Column::CaseVersion.lt(newest_version))
            .exec(txn)
            .await
            .context("move the application's phase")?;
    }
    let shown = u64::try_from(app.case_version).unwrap_or(0);
    let is_new = |v: u64| new.map_or(v > shown, |new| new.contains(&v));
    let open = open_request(&timeline).map(|r| r.version);
    for e in timeline.iter().filter(|e| is_new(e.version)) {
        let Some((kind, mut payload)) = notification(e) else {
            continue;
        };
        let superseded = timeline
            .iter()
            .any(|later| later.version > e.version && notification(later).is_some());
        if superseded && open != Some(e.version) {
            continue;
        }
        payload["application_id"] = json!(app.id);
        payload["item_name"] = json!(app.item_name);
        payload["at"] = json!(e.at.to_rfc3339());
        if kind == NotificationKind::CaseAccepted {
            let promised = item::Entity::find_by_id(app.item_code.as_str())
                .one(txn)
                .await?
                .map(|i| u32::try_from(i.promised_days).unwrap_or(0));
            let calendar = svc.inner.calendar.calendar().await?;
            let date = promised
                .and_then(|days| deadline(&calendar, &timeline, days, svc.inner.clock.today()));
            payload["promised_date"] = json!(date.map_or_else(
                || "法定时限内".to_owned(),
                |d| d.date.format("%Y年%m月%d日").to_string()
            ));
        }
        svc.inner
            .notifications
            .notify(
                txn,
                app.citizen_id,
                kind,
                &payload,
                &format!("case:{sblsh}:{}", e.version),
            )
            .await
            .context("notify the case's progress")?;
    }
    // 一事一评: a concluded or rejected case invites its citizen to rate it (once: the
    // invitation's unique subject makes a repeat a no-op).
    if timeline
        .iter()
        .any(|e| matches!(e.phase, Phase::Concluded | Phase::Rejected))
    {
        crate::evaluations::invite_case(txn, &svc.inner.notifications, &app, now)
            .await
            .context("invite to evaluate the case")?;
    }
    Ok(())
}

fn tracking_no(detail: &Value) -> Option<String> {
    detail
        .get("trackingNo")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(64).collect())
        .filter(|s: &String| !s.is_empty())
}

fn text(detail: &Value, key: &str) -> String {
    detail
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// 办结结果代码, as a citizen reads it.
pub fn result_text(code: &str) -> &'static str {
    match code {
        "0" => "已出证",
        "1" => "已退回",
        "2" => "已作废",
        "3" => "已删除",
        "5" => "因未按期补正办结",
        "6" => "准予许可",
        "7" => "不予许可",
        _ => "已办结",
    }
}

/// The notification an event deserves, if any.
fn notification(e: &TimelineEntry) -> Option<(NotificationKind, Value)> {
    match e.phase {
        Phase::Accepted => Some((NotificationKind::CaseAccepted, json!({}))),
        Phase::Rejected => Some((
            NotificationKind::CaseRejected,
            json!({ "reason": text(&e.detail, "reason") }),
        )),
        Phase::SupplementRequired => Some((
            NotificationKind::SupplementRequired,
            json!({ "reason": text(&e.detail, "reason") }),
        )),
        Phase::Concluded => Some((
            NotificationKind::CaseConcluded,
            json!({ "result": result_text(&result_code(&e.detail)) }),
        )),
        Phase::Delivered => tracking_no(&e.detail)
            .map(|no| (NotificationKind::ResultPosted, json!({ "tracking_no": no }))),
        _ => None,
    }
}

/// The open 补正告知: the newest SUPPLEMENT_REQUIRED with nothing after it but events that do
/// not answer or end it.
pub(super) fn open_request(timeline: &[TimelineEntry]) -> Option<SupplementRequestView> {
    let last = timeline
        .iter()
        .rposition(|e| e.phase == Phase::SupplementRequired)?;
    let answered = timeline[last + 1..].iter().any(|e| {
        matches!(
            e.phase,
            Phase::Supplemented | Phase::Concluded | Phase::Rejected | Phase::Delivered
        )
    });
    if answered {
        return None;
    }
    let e = &timeline[last];
    let materials = e
        .detail
        .get("materials")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Some(SupplementRequestView {
        version: e.version,
        reason: text(&e.detail, "reason"),
        materials,
    })
}

fn date_in(detail: &Value, key: &str) -> Option<NaiveDate> {
    let s = detail.get(key)?.as_str()?;
    s.parse::<DateTime<Utc>>()
        .map(shanghai_date)
        .ok()
        .or_else(|| s.parse::<NaiveDate>().ok())
}

/// The promised deadline: `working_days` counted from the day of acceptance, the clock
/// stopped from a 补正告知 to the day the supplement arrives and during a special procedure (to
/// its `until`, else to the next event). `None` before acceptance or after a rejection.
pub(super) fn deadline(
    calendar: &WorkingCalendar,
    timeline: &[TimelineEntry],
    working_days: u32,
    today: NaiveDate,
) -> Option<Deadline> {
    if timeline.iter().any(|e| e.phase == Phase::Rejected) {
        return None;
    }
    let accepted = timeline.iter().find(|e| e.phase == Phase::Accepted)?;
    let start = shanghai_date(accepted.at);
    let finished = timeline
        .iter()
        .any(|e| matches!(e.phase, Phase::Concluded | Phase::Delivered));
    let mut pauses = Vec::new();
    let mut paused = false;
    for (i, e) in timeline.iter().enumerate() {
        let from = shanghai_date(e.at);
        let later = &timeline[i + 1..];
        match e.phase {
            Phase::SupplementRequired => {
                match later.iter().find(|n| n.phase == Phase::Supplemented) {
                    Some(answer) => pauses.push((from, shanghai_date(answer.at))),
                    None if finished => {}
                    None => {
                        pauses.push((from, today));
                        paused = true;
                    }
                }
            }
            Phase::SpecialProcedure => {
                let until = date_in(&e.detail, "until");
                match (later.first(), until) {
                    (Some(next), Some(until)) => {
                        pauses.push((from, until.min(shanghai_date(next.at))))
                    }
                    (Some(next), None) => pauses.push((from, shanghai_date(next.at))),
                    (None, Some(until)) => {
                        pauses.push((from, until));
                        paused = today <= until;
                    }
                    (None, None) => {
                        pauses.push((from, today));
                        paused = true;
                    }
                }
            }
            _ => {}
        }
    }
    let date = calendar.deadline(start, working_days, &pauses).ok()?;
    Some(Deadline {
        date,
        working_days,
        paused: paused && !finished,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    /// The stored word of each phase is the one the platform sends (what was stored before the
    /// column was typed), and the two mappings are inverse.
    #[test]
    fn a_stored_phase_is_the_platforms_word_and_maps_back() {
        for &stored in CasePhase::ALL {
            let wire = phase_of(stored);
            assert_eq!(serde_json::to_value(wire).unwrap(), json!(stored.as_str()));
            assert_eq!(stored_phase(wire), stored);
        }
    }

    fn at(day: u32) -> DateTime<Utc> {
        // 10:00 Shanghai on 2026-11-<day>.
        crate::time::SHANGHAI
            .with_ymd_and_hms(2026, 11, day, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn entry(version: u64, phase: Phase, day: u32, detail: Value) -> TimelineEntry {
        TimelineEntry {
            version,
            phase,
            at: at(day),
            handler: "窗口".into(),
            detail,
        }
    }

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    #[test]
    fn the_deadline_counts_working_days_from_acceptance() {
        let cal = WorkingCalendar::mainland_default();
        // Accepted Monday 16 Nov; 5 working days → Monday 23 Nov.
        let t = vec![entry(1, Phase::Accepted, 16, json!({}))];
        let got = deadline(&cal, &t, 5, d(16)).unwrap();
        assert_eq!(got.date, d(23));
        assert!(!got.paused);
    }

    #[test]
    fn a_supplement_stops_the_clock_until_it_arrives() {
        let cal = WorkingCalendar::mainland_default();
        let asked = vec![
            entry(1, Phase::Accepted, 16, json!({})),
            entry(
                2,
                Phase::SupplementRequired,
                17,
                json!({"reason": "r", "materials": ["M1"]}),
            ),
        ];
        // Still waiting on Thursday 19: 17, 18, 19 do not count.
        let running = deadline(&cal, &asked, 5, d(19)).unwrap();
        assert!(running.paused);
        assert_eq!(running.date, d(26));
        let mut answered = asked.clone();
        answered.push(entry(3, Phase::Supplemented, 18, json!({})));
        // Paused 17–18: counted days 16(no: start), 19, 20, 23, 24, 25 → the 5th is 25.
        let done = deadline(&cal, &answered, 5, d(30)).unwrap();
        assert!(!done.paused);
        assert_eq!(done.date, d(25));
        assert_eq!(
            open_request(&asked).unwrap().materials,
            vec!["M1".to_owned()]
        );
        assert!(open_request(&answered).is_none());
    }

    #[test]
    fn a_special_procedure_pauses_to_its_until_and_rejection_has_no_deadline() {
        let cal = WorkingCalendar::mainland_default();
        let t = vec![
            entry(1, Phase::Accepted, 16, json!({})),
            entry(
                2,
                Phase::SpecialProcedure,
                17,
                json!({"kind": "听证", "until": "2026-11-18"}),
            ),
        ];
        let got = deadline(&cal, &t, 5, d(17)).unwrap();
        assert!(got.paused);
        assert_eq!(got.date, d(25));
        let rejected = vec![entry(1, Phase::Rejected, 16, json!({"reason": "x"}))];
        assert!(deadline(&cal, &rejected, 5, d(16)).is_none());
        assert!(deadline(&cal, &[], 5, d(16)).is_none());
    }

    #[test]
    fn a_case_ends_when_nothing_more_will_be_delivered() {
        let e = |phase, detail| entry(1, phase, 16, detail);
        assert!(is_final(&e(Phase::Rejected, json!({ "reason": "x" }))));
        assert!(is_final(&e(Phase::Delivered, json!({ "way": "collect" }))));
        for code in ["1", "2", "3", "5"] {
            assert!(
                is_final(&e(Phase::Concluded, json!({ "result": code }))),
                "{code}"
            );
        }
        assert!(is_final(&e(Phase::Concluded, json!({ "result": 2 }))));
        // Issued or approved: a delivery is still to come.
        assert!(!is_final(&e(Phase::Concluded, json!({ "result": "0" }))));
        assert!(!is_final(&e(Phase::Concluded, json!({ "result": "6" }))));
        assert!(!is_final(&e(Phase::InReview, json!({}))));
    }

    #[test]
    fn only_the_phases_that_matter_are_notified() {
        let e = |phase, detail| entry(1, phase, 16, detail);
        assert!(notification(&e(Phase::InReview, json!({"step": "审查"}))).is_none());
        assert!(notification(&e(Phase::PreAccepted, json!({}))).is_none());
        assert!(notification(&e(Phase::Delivered, json!({"way": "collect"}))).is_none());
        let (kind, payload) = notification(&e(
            Phase::Delivered,
            json!({"way": "post", "trackingNo": "SF1"}),
        ))
        .unwrap();
        assert_eq!(kind, NotificationKind::ResultPosted);
        assert_eq!(payload["tracking_no"], "SF1");
        let (_, payload) = notification(&e(Phase::Concluded, json!({"result": "6"}))).unwrap();
        assert_eq!(payload["result"], "准予许可");
    }
}
