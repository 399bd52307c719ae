//! The outbox mechanism every forwarder to the platform shares (applications, evaluations,
//! bundles): a table of rows to send, each claimed under a lease, retried with jittered backoff,
//! parked for an operator after failing for `park_after`, settled with a write fenced by the
//! claim; and the loop that drains it ([`run`], [`round`]): each forwarder says only what its row
//! is and how it is sent ([`Forward`]).
//!
//! The decision a reader needs: exactly-once as the platform sees it comes from the platform's
//! idempotency on `clientRequestId`, not from here. Here a row is never sent by two forwarders
//! *at once* (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), a lost lease is
//! taken over after it expires, and a settle whose claim was taken over changes nothing. A row's
//! table must have the columns `id, status, attempts, next_attempt_at, claimed_until,
//! first_failure_at, last_error, updated_at`; what else it holds is its owner's.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use rand::Rng as _;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Value};
use tokio::sync::{Notify, watch};

use super::ProvinceClient;
use crate::time::Clock;

pub use entities::status::OutboxStatus;

// The statuses as the hand-built statements below bind them (the enum's own strings).
const PENDING: &str = OutboxStatus::Pending.as_str();
const SENDING: &str = OutboxStatus::Sending.as_str();
const DONE: &str = OutboxStatus::Done.as_str();
const PARKED: &str = OutboxStatus::Parked.as_str();

/// How one outbox is drained.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// How long a forwarder owns what it claimed.
    pub lease: Duration,
    /// Rows claimed per round.
    pub batch: u32,
    /// The first retry's ceiling; it doubles per failure, with full jitter, up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Failing this long since the first failure parks a row.
    pub park_after: Duration,
}

/// One outbox table.
#[derive(Debug, Clone)]
pub struct Outbox {
    table: &'static str,
    /// The columns `claim` returns: the lease's, then the owner's.
    returning: Vec<&'static str>,
    config: OutboxConfig,
}

/// What a claim gives its forwarder: the row and the lease that fences its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    /// Including the one now in hand.
    pub attempts: i32,
    pub claimed_until: DateTime<Utc>,
    pub first_failure_at: Option<DateTime<Utc>>,
}

/// How a sent row ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// The platform has it; `note` (a final refusal's reason) is kept as the last error.
    Done { note: Option<String> },
    /// Try again after a backoff, or park once failing for `park_after`.
    Retry(String),
    /// An operator's matter now.
    Park(String),
}

/// What a settle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Done,
    /// Waiting for its next attempt.
    Retrying,
    Parked,
    /// The lease had passed to another forwarder: nothing was written.
    Lost,
}

/// Whole milliseconds: stored exactly by PostgreSQL and SQLite alike, so a fenced update
/// compares equal.
pub fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// Exponential backoff with full jitter: a random pause up to `base · 2^(attempt-1)`, capped.
pub fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let ceiling = std::cmp::min(
        base.saturating_mul(2u32.saturating_pow(std::cmp::min(attempt.saturating_sub(1), 20))),
        cap,
    );
    let ms = std::cmp::max(u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX), 1);
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

impl Outbox {
    /// `table` and `returning` (the owner's columns `claim` returns besides the lease's) are
    /// code, never input.
    pub fn new(
        table: &'static str,
        returning: &'static [&'static str],
        config: OutboxConfig,
    ) -> Self {
        Self {
            table,
            returning: ["id", "attempts", "claimed_until", "first_failure_at"]
                .into_iter()
                .chain(returning.iter().copied())
                .collect(),
            config,
        }
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    fn lease_length(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease)
            .unwrap_or_else(|_| chrono::Duration::seconds(60))
    }

    /// Claims up to `batch` due rows (pending and due, or sending with an expired lease), in
    /// the order they were queued. `T` reads `id, attempts, claimed_until, first_failure_at`
    /// and the owner's `returning` columns.
    ///
    /// # Errors
    /// The database failed.
    pub async fn claim<T: FromQueryResult>(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<T>> {
        let now = millis(now);
        let until = millis(now + self.lease_length());
        let statement = crate::db::Claim {
            table: self.table,
            now,
            until,
            limit: std::cmp::max(self.config.batch, 1),
            touch_updated_at: true,
            returning: &self.returning,
            pending: PENDING,
            sending: SENDING,
        }
        .statement(db.get_database_backend());
        T::find_by_statement(statement)
            .all(db)
            .await
            .with_context(|| format!("claim {} rows", self.table))
    }

    /// Renews a claim just before sending (a row waiting in a batch behind slow sends may have
    /// outlived its lease). Returns the new lease, or `None` when another forwarder has it now.
    ///
    /// # Errors
    /// The database failed.
    pub async fn renew(
        &self,
        db: &impl ConnectionTrait,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Lease>> {
        let until = millis(now + self.lease_length());
        let n = self
            .fenced(
                db,
                lease,
                vec![("claimed_until", Expr::value(until))],
                "renew a claim",
            )
            .await?;
        Ok((n == 1).then_some(Lease {
            claimed_until: until,
            ..*lease
        }))
    }

    /// Writes a sent row's outcome, fenced by its lease, on `conn` (the owner's transaction, so
    /// the owner's own marks commit with it).
    ///
    /// # Errors
    /// The database failed.
    pub async fn settle(
        &self,
        conn: &impl ConnectionTrait,
        lease: &Lease,
        now: DateTime<Utc>,
        outcome: &Settle,
    ) -> anyhow::Result<Settled> {
        let mut sets: Vec<(&str, SimpleExpr)> = vec![
            ("updated_at", Expr::value(now)),
            ("claimed_until", Expr::value(Option::<DateTime<Utc>>::None)),
        ];
        let settled = match outcome {
            Settle::Done { note } => {
                sets.push(("status", Expr::value(DONE)));
                if let Some(note) = note {
                    sets.push(("last_error", Expr::value(note.clone())));
                }
                Settled::Done
            }
            Settle::Park(reason) => {
                sets.push(("status", Expr::value(PARKED)));
                sets.push(("last_error", Expr::value(reason.clone())));
                Settled::Parked
            }
            Settle::Retry(reason) => {
                let first = lease.first_failure_at.unwrap_or(now);
                let failing = (now - first).to_std().unwrap_or_default();
                if failing >= self.config.park_after {
                    sets.push(("status", Expr::value(PARKED)));
                    sets.push((
                        "last_error",
                        Expr::value(format!(
                            "failing for {}h: {reason}",
                            failing.as_secs() / 3600
                        )),
                    ));
                    Settled::Parked
                } else {
                    let pause = backoff(
                        self.config.retry_base,
                        self.config.retry_cap,
                        u32::try_from(lease.attempts).unwrap_or(1),
                    );
                    sets.push(("status", Expr::value(PENDING)));
                    sets.push((
                        "next_attempt_at",
                        Expr::value(now + chrono::Duration::from_std(pause).unwrap_or_default()),
                    ));
                    sets.push(("first_failure_at", Expr::value(first)));
                    sets.push(("last_error", Expr::value(reason.clone())));
                    Settled::Retrying
                }
            }
        };
        let n = self.fenced(conn, lease, sets, "settle a claim").await?;
        Ok(if n == 1 { settled } else { Settled::Lost })
    }

    /// After an outage: whatever waits on a backoff may go now. Returns how many rows moved.
    ///
    /// # Errors
    /// The database failed.
    pub async fn bring_forward(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let mut update = Query::update();
        update
            .table(col(self.table))
            .value(col("next_attempt_at"), Expr::value(now))
            .and_where(Expr::col(col("status")).eq(PENDING))
            .and_where(Expr::col(col("next_attempt_at")).gt(now));
        let done = db.execute(&update).await.context("bring retries forward")?;
        Ok(done.rows_affected())
    }

    /// Returns parked rows matching `filter` to the queue, due now. Returns how many.
    ///
    /// # Errors
    /// The database failed.
    pub async fn unpark(
        &self,
        db: &impl ConnectionTrait,
        filter: SimpleExpr,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let mut update = Query::update();
        update
            .table(col(self.table))
            .value(col("status"), Expr::value(PENDING))
            .value(col("next_attempt_at"), Expr::value(now))
            .value(
                col("first_failure_at"),
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .value(col("updated_at"), Expr::value(now))
            .and_where(Expr::col(col("status")).eq(PARKED))
            .and_where(filter);
        let done = db.execute(&update).await.context("unpark")?;
        Ok(done.rows_affected())
    }

    async fn fenced(
        &self,
        db: &impl ConnectionTrait,
        lease: &Lease,
        sets: Vec<(&str, SimpleExpr)>,
        what: &'static str,
    ) -> anyhow::Result<u64> {
        let mut update = Query::update();
        update.table(col(self.table));
        for (name, value) in sets {
            update.value(col(name), value);
        }
        update
            .and_where(Expr::col(col("id")).eq(lease.id))
            .and_where(Expr::col(col("status")).eq(SENDING))
            .and_where(Expr::col(col("claimed_until")).eq(Value::from(lease.claimed_until)));
        let done = db.execute(&update).await.context(what)?;
        Ok(done.rows_affected())
    }
}

/// A claimed row: the lease's columns, and whatever else its owner reads.
pub trait Claimed: FromQueryResult + Send {
    fn lease(&self) -> Lease;
}

/// What a forwarder drains with: borrowed from its service.
pub struct Drain<'a> {
    pub db: &'a DatabaseConnection,
    pub clock: &'a Clock,
    pub province: &'a ProvinceClient,
    /// Woken by a new row.
    pub wake: &'a Notify,
    /// Set while the platform's breaker is open, taken by the first round that delivers again
    /// (kept by the service, so every forwarder of it shares it).
    pub opened: &'a AtomicBool,
    /// Rows sent at once.
    pub concurrency: usize,
    /// For the logs: "application", "evaluation", "bundle".
    pub what: &'static str,
}

/// One forwarder's own part: what its row is, how one is sent and settled, and what its
/// citizens see while the platform is down. The claim, the renewal, the concurrency, the
/// breaker and the sleep are [`round`]'s and [`run`]'s.
pub trait Forward: Send + Sync {
    type Row: Claimed;

    fn outbox(&self) -> &Outbox;

    fn drain(&self) -> Drain<'_>;

    /// While the platform's breaker is open (nothing is claimed): show what waits as waiting.
    fn while_unavailable(&self) -> impl Future<Output = anyhow::Result<()>> + Send {
        async { Ok(()) }
    }

    /// Sends one row, whose claim was just renewed to `lease`, and settles it (through
    /// [`Outbox::settle`] with the owner's own marks). True when the platform has it. The
    /// error is transient: the lease returns the row.
    fn forward(
        &self,
        row: Self::Row,
        lease: Lease,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// Between rounds (the applications' reconciliation of overdue cases).
    fn between_rounds(&self, _every: Duration) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Rounds until `stop` turns true, sleeping `every` (or until a new row wakes it) when idle:
    /// [`run`] with this forwarder.
    fn run(self, every: Duration, stop: watch::Receiver<bool>) -> impl Future<Output = ()> + Send
    where
        Self: Sized,
    {
        run(self, every, stop)
    }

    /// One round ([`round`]): claims a batch of due rows and sends them. Returns how many it
    /// handled.
    ///
    /// # Errors
    /// The database failed (nothing is lost: leases return what was claimed).
    fn forward_once(&self) -> impl Future<Output = anyhow::Result<usize>> + Send
    where
        Self: Sized,
    {
        round(self)
    }
}

/// One round: claims due rows and sends them, `concurrency` at once. After an outage (the
/// breaker had opened), the first round that delivers brings the waiting retries forward; only
/// then, so a row that fails on its own keeps its backoff. Returns how many were handled.
///
/// # Errors
/// The database failed (leases return what was claimed).
pub async fn round<F: Forward>(f: &F) -> anyhow::Result<usize> {
    let drain = f.drain();
    if drain.province.unavailable_for().is_some() {
        // Claiming rows now would only turn each into a failed attempt: wait for the breaker's
        // probe instead.
        drain.opened.store(true, Ordering::Relaxed);
        f.while_unavailable().await?;
        return Ok(0);
    }
    let now = millis(drain.clock.now());
    let batch: Vec<F::Row> = f.outbox().claim(drain.db, now).await?;
    let n = batch.len();
    let what = drain.what;
    let delivered = futures::stream::iter(batch)
        .map(|row| async move {
            let lease = row.lease();
            match sent(f, row, lease).await {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::error!(outbox_id = lease.id, what, error = %format!("{e:#}"), "forwarding failed; the lease will return it");
                    false
                }
            }
        })
        .buffer_unordered(drain.concurrency.max(1))
        .fold(0usize, |sum, ok| async move { sum + usize::from(ok) })
        .await;
    if delivered > 0 && drain.opened.swap(false, Ordering::Relaxed) {
        let moved = f.outbox().bring_forward(drain.db, now).await?;
        if moved > 0 {
            tracing::info!(
                moved,
                what,
                "the platform answers again; retries brought forward"
            );
        }
    }
    Ok(n)
}

/// Renews the claim just before sending (a row waiting in the batch behind slow sends may have
/// outlived its lease), and leaves the row alone if another forwarder has it now.
async fn sent<F: Forward>(f: &F, row: F::Row, lease: Lease) -> anyhow::Result<bool> {
    let drain = f.drain();
    let Some(lease) = f
        .outbox()
        .renew(drain.db, &lease, drain.clock.now())
        .await?
    else {
        tracing::debug!(outbox_id = lease.id, "claim lost before sending");
        return Ok(false);
    };
    f.forward(row, lease).await
}

/// Rounds until `stop` turns true, sleeping `every` (or until a new row wakes it) when a round
/// had nothing to do. Run one per instance; any number share the work.
pub async fn run<F: Forward>(f: F, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let handled = match round(&f).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(what = f.drain().what, error = %format!("{e:#}"), "forwarding round failed");
                0
            }
        };
        f.between_rounds(every).await;
        if handled == 0 {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = f.drain().wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_below_a_doubling_ceiling_and_capped() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(60);
        for attempt in 1..40 {
            let ceiling = std::cmp::min(base * 2u32.pow(std::cmp::min(attempt - 1, 20)), cap);
            for _ in 0..50 {
                assert!(backoff(base, cap, attempt) <= ceiling);
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| backoff(base, cap, 10)).collect();
        assert!(spread.len() > 10, "full jitter spreads the retries");
    }
}
