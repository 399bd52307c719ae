//! Queue numbers handed out in blocks (`services::queue` reserves runs of numbers per instance):
//! tickets taken at once on two instances get distinct numbers, a restarted instance never
//! gives a number again (what was left of its block is a gap), and one instance gives its
//! numbers in the order of issue.
//!
//! On SQLite the hammer runs smaller (one writer at a time); on PostgreSQL + Redis it runs at
//! full size, and that run is the proof.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt as _;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use serde_json::Value;
use services::staff::Role;

use crate::booking_fixture::{HALL, ID_CARD, citizen, monday_nine, seed, settings};
use crate::helpers::{Deployment, TestApp, postgres_admin_url};
use crate::queue_fixture::{staff, taken, walk_in};

fn scale(full: usize, sqlite: usize) -> usize {
    if postgres_admin_url().is_some() {
        full
    } else {
        sqlite
    }
}

fn busy(s: &mut gateway::configuration::Settings) {
    settings(s);
    s.staff.requests_per_minute = 1_000_000;
}

/// An instance whose client drops idle connections before actix's 5 s keep-alive closes them,
/// so a loaded machine never sends a request on a connection the server is closing.
async fn instance(deployment: &Deployment) -> Arc<TestApp> {
    let mut app = deployment.instance(busy).await;
    app.http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    Arc::new(app)
}

/// The sequence number of a ticket's number (`A017` → 17).
fn seq(ticket: &Value) -> i32 {
    let number = ticket["number"].as_str().unwrap();
    number
        .trim_start_matches(char::is_alphabetic)
        .parse()
        .unwrap()
}

/// `n` walk-ins of `category` at once, alternating between `apps`.
async fn walk_ins(
    apps: &[Arc<TestApp>],
    clerk: &str,
    hall_id: i64,
    category: i64,
    n: usize,
) -> Vec<Value> {
    futures::stream::iter(0..n)
        .map(|i| {
            let (app, clerk) = (Arc::clone(&apps[i % apps.len()]), clerk.to_owned());
            async move { walk_in(&app, &clerk, hall_id, category, false).await }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn numbers_taken_at_once_on_two_instances_are_distinct_and_never_given_again_after_a_restart()
{
    let deployment = Deployment::new().await;
    let one = instance(&deployment).await;
    let two = instance(&deployment).await;
    let fx = seed(&one).await;
    one.clock.set(monday_nine());
    let clerk = staff(&one, "clerk.numbers", Role::Clerk, fx.hall_id).await;
    let a = fx.hall.category("A");
    let n = scale(600, 80);

    // Remote tickets of A from citizens, and walk-ins of A, at once on both instances.
    let citizens = futures::stream::iter(0..8u32)
        .map(|i| citizen(&one, 100 + i))
        .buffered(4)
        .collect::<Vec<_>>()
        .await;
    let apps = [Arc::clone(&one), Arc::clone(&two)];
    let remote = futures::stream::iter(citizens.iter().enumerate())
        .map(|(i, c)| {
            let app = Arc::clone(&apps[i % 2]);
            async move { taken(&app, &c.token, HALL, ID_CARD).await }
        })
        .buffer_unordered(8);
    let (remote, walked) = tokio::join!(
        remote.collect::<Vec<Value>>(),
        walk_ins(&apps, &clerk, fx.hall_id, a, n)
    );
    let before: Vec<i32> = remote.iter().chain(&walked).map(seq).collect();
    let distinct: HashSet<i32> = before.iter().copied().collect();
    assert_eq!(distinct.len(), n + 8, "every ticket a number of its own");

    // A restart of the first instance: whatever was left of its block is never given.
    one.stop().await;
    drop(apps);
    let three = instance(&deployment).await;
    let after = walk_ins(
        &[Arc::clone(&two), Arc::clone(&three)],
        &clerk,
        fx.hall_id,
        a,
        n / 2,
    )
    .await;
    for t in &after {
        assert!(
            !distinct.contains(&seq(t)),
            "{} was given before the restart",
            t["number"]
        );
    }
    let mut all: Vec<i32> = before
        .iter()
        .copied()
        .chain(after.iter().map(seq))
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n + 8 + n / 2);

    // One instance gives its numbers in the order of issue.
    let mut last = 0;
    for _ in 0..5 {
        let next = seq(&walk_in(&three, &clerk, fx.hall_id, a, false).await);
        assert!(next > last, "{next} after {last}");
        last = next;
    }
    let rows = entities::ticket::Entity::find()
        .filter(entities::ticket::Column::HallId.eq(fx.hall_id))
        .all(&two.db)
        .await
        .unwrap();
    let numbers: HashSet<&str> = rows.iter().map(|t| t.number.as_str()).collect();
    assert_eq!(numbers.len(), rows.len(), "no number twice in the database");
    assert_eq!(rows.len(), n + 8 + n / 2 + 5);
}
