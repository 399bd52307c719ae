//! Case-event callbacks to the gateway: signed with the gateway's key and secret by the
//! platform's scheme, delivered at least once — retried with exponential backoff until the
//! gateway answers 200 `{"ok":true}` or the attempts run out — and on demand twice or out of
//! order.
//!
//! Deliveries run as tasks on the runtime the simulator was started on, never under the world's
//! lock. The copies of a duplicated event, and a released batch of held events, are delivered one
//! after another in one task, so the order a test asked for is the order the gateway sees.

use std::time::Duration;

use actix_web::web;
use rand::seq::SliceRandom as _;
use serde_json::Value;

use super::{CaseEvent, Phase, Shared, signing};

pub(crate) enum Order {
    Reversed,
    Shuffled,
}

/// Appends an event to the case and sends it.
pub(crate) fn advance(
    shared: &web::Data<Shared>,
    sblsh: &str,
    phase: Phase,
    detail: Value,
) -> anyhow::Result<CaseEvent> {
    let event = shared
        .world()
        .append_event(sblsh, phase, detail)
        .ok_or_else(|| anyhow::anyhow!("no case {sblsh}"))?;
    dispatch(shared, event.clone());
    Ok(event)
}

/// Sends a new event now (twice if a duplicate is due), or holds it while callbacks are held or
/// no callback URL is known.
pub(crate) fn dispatch(shared: &web::Data<Shared>, event: CaseEvent) {
    let copies = {
        let mut world = shared.world();
        let callbacks = &mut world.callbacks;
        let copies = if callbacks.duplicate_next > 0 {
            callbacks.duplicate_next -= 1;
            2
        } else {
            1
        };
        if callbacks.hold || callbacks.url.is_none() {
            for _ in 0..copies {
                callbacks.held.push(event.clone());
            }
            return;
        }
        copies
    };
    spawn_in_order(shared, vec![event; copies]);
}

/// Stops holding and delivers what was held in the order asked. Returns how many.
pub(crate) fn release(shared: &web::Data<Shared>, order: Order) -> usize {
    let mut held = {
        let mut world = shared.world();
        world.callbacks.hold = false;
        std::mem::take(&mut world.callbacks.held)
    };
    match order {
        Order::Reversed => held.reverse(),
        Order::Shuffled => held.shuffle(&mut rand::rng()),
    }
    let released = held.len();
    spawn_in_order(shared, held);
    released
}

/// Sets where callbacks go; events held only for want of a URL are then sent in order.
pub(crate) fn set_url(shared: &web::Data<Shared>, url: Option<String>) {
    let waiting = {
        let mut world = shared.world();
        world.callbacks.url = url;
        if world.callbacks.url.is_some() && !world.callbacks.hold {
            std::mem::take(&mut world.callbacks.held)
        } else {
            Vec::new()
        }
    };
    spawn_in_order(shared, waiting);
}

/// Advances a new case through the auto-progress schedule, if one is set.
pub(crate) fn schedule(shared: &web::Data<Shared>, sblsh: String) {
    let Some(steps) = shared.world().auto_progress.clone() else {
        return;
    };
    let task_shared = shared.clone();
    shared.runtime.spawn(async move {
        for (pause, phase, detail) in steps {
            tokio::time::sleep(pause).await;
            if task_shared.world().stopped {
                return;
            }
            if let Err(error) = advance(&task_shared, &sblsh, phase, detail) {
                tracing::warn!(%error, "auto-progress stopped");
                return;
            }
        }
    });
}

fn spawn_in_order(shared: &web::Data<Shared>, events: Vec<CaseEvent>) {
    if events.is_empty() {
        return;
    }
    let task_shared = shared.clone();
    shared.runtime.spawn(async move {
        for event in events {
            deliver(&task_shared, &event).await;
        }
    });
}

/// Delivers one event until the gateway takes it or the attempts run out.
async fn deliver(shared: &Shared, event: &CaseEvent) -> bool {
    let body = serde_json::to_vec(event).unwrap_or_default();
    let config = &shared.config;
    for attempt in 0..config.callback_max_attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(pause(
                attempt - 1,
                config.callback_retry_base,
                config.callback_retry_cap,
            ))
            .await;
        }
        let url = {
            let mut world = shared.world();
            if world.stopped {
                return false;
            }
            world.callbacks.stats.attempts += 1;
            world.callbacks.url.clone()
        };
        let Some(url) = url else {
            continue;
        };
        if post(shared, &url, &body).await {
            let mut world = shared.world();
            world.callbacks.stats.delivered += 1;
            world
                .callbacks
                .stats
                .delivered_ids
                .push(event.event_id.clone());
            return true;
        }
    }
    shared.world().callbacks.stats.given_up += 1;
    tracing::warn!(event_id = %event.event_id, "callback given up");
    false
}

/// `base·2^retry`, at most `cap`.
fn pause(retry: u32, base: Duration, cap: Duration) -> Duration {
    base.checked_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap)
}

/// One signed POST; true when answered 200 `{"ok":true}`.
async fn post(shared: &Shared, url: &str, body: &[u8]) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        tracing::warn!(url, "the callback URL cannot be parsed");
        return false;
    };
    let path_with_query = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let config = &shared.config;
    let mut request = shared
        .http
        .post(parsed.clone())
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (name, value) in signing::sign(
        &config.callback_app_key,
        &config.callback_app_secret,
        "POST",
        &path_with_query,
        body,
    ) {
        request = request.header(name, value);
    }
    let Ok(response) = request.send().await else {
        return false;
    };
    if response.status() != reqwest::StatusCode::OK {
        return false;
    }
    response
        .json::<Value>()
        .await
        .is_ok_and(|v| v.get("ok") == Some(&Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_up_to_the_cap() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(1);
        let got: Vec<_> = (0..5).map(|n| pause(n, base, cap).as_millis()).collect();
        assert_eq!(got, [200, 400, 800, 1000, 1000]);
        assert_eq!(pause(99, base, cap), cap);
    }
}
