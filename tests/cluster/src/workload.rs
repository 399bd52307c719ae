//! The citizens, the counters and the hall screens, each a task, until told to stop. Every
//! acknowledgement a client received is written down here, for the audit to hold the system to.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rand::Rng as _;
use serde_json::json;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Client, Stats};
use crate::setup::{APPLY_ITEM, BOOK_ITEM, HALL_CODE, QUEUE_ITEMS};

/// What a booking's owner was told last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    Booked,
    Cancelled,
}

/// Everything the clients were told.
#[derive(Default)]
pub struct Ledger {
    /// Booking id → what its owner was told last (201 on booking, 200 on cancelling).
    pub bookings: Mutex<HashMap<i64, Told>>,
    /// Application ids answered 201.
    pub applications: Mutex<Vec<String>>,
    /// Ticket id → its number, as answered when taken.
    pub tickets: Mutex<HashMap<i64, String>>,
    /// Ticket id → how many call-next answers named it.
    pub calls: Mutex<HashMap<i64, u32>>,
    /// A 200/201 answer that contradicts an earlier acknowledgement, seen live.
    pub contradictions: Mutex<Vec<String>>,
    /// Unexpected answers (a 500, a 4xx that should not happen), by description.
    pub odd: Mutex<HashMap<String, u64>>,
}

impl Ledger {
    async fn odd(&self, what: String) {
        *self.odd.lock().await.entry(what).or_default() += 1;
    }
}

pub struct Shared {
    pub stats: Arc<Stats>,
    pub ledger: Arc<Ledger>,
    pub stop: AtomicBool,
    /// Bookings start at the release.
    pub release_at: Instant,
    pub slots: Vec<i64>,
    pub hall_id: i64,
}

/// A logged-in citizen with a verified identity and a phone.
pub struct Citizen {
    pub client: Client,
    pub n: usize,
}

fn pause(lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rand::rng().random_range(lo..hi))
}

/// One citizen until the stop: book, cancel, take a ticket and follow it, apply online.
pub async fn citizen(shared: Arc<Shared>, me: Arc<Citizen>) {
    let mut booking: Option<i64> = None;
    let mut ticket: Option<i64> = None;
    let mut last_application = Instant::now() - Duration::from_secs(3600);
    // Spread the start.
    tokio::time::sleep(pause(0, 2000)).await;
    while !shared.stop.load(Ordering::Relaxed) {
        let roll = rand::rng().random_range(0..100);
        let result = if roll < 40 && Instant::now() >= shared.release_at {
            book_step(&shared, &me, &mut booking).await
        } else if roll < 75 {
            ticket_step(&shared, &me, &mut ticket).await
        } else if roll < 85 && last_application.elapsed() > Duration::from_secs(30) {
            last_application = Instant::now();
            apply(&shared, &me).await
        } else {
            me.client.get("/api/v1/me").await.map(|reply| {
                if reply.status != 200 {
                    Some(format!("GET /me {} {}", reply.status, reply.code()))
                } else {
                    None
                }
            })
        };
        match result {
            Ok(Some(odd)) => shared.ledger.odd(odd).await,
            Ok(None) => {}
            Err(_) => {} // gave up: counted by the client
        }
        tokio::time::sleep(pause(300, 900)).await;
    }
}

type Step = anyhow::Result<Option<String>>;

async fn book_step(shared: &Shared, me: &Citizen, booking: &mut Option<i64>) -> Step {
    let ledger = &shared.ledger;
    if let Some(id) = *booking {
        if rand::rng().random_bool(0.4) {
            let reply = me
                .client
                .post(&format!("/api/v1/bookings/{id}/cancel"), &json!({}), None)
                .await?;
            match reply.status {
                200 => {
                    ledger.bookings.lock().await.insert(id, Told::Cancelled);
                    *booking = None;
                }
                // An earlier attempt whose answer was lost may have cancelled it already.
                409 | 422 => {
                    let now = me.client.get(&format!("/api/v1/bookings/{id}")).await?;
                    if now.body["status"] == "CANCELLED" {
                        ledger.bookings.lock().await.insert(id, Told::Cancelled);
                        *booking = None;
                    } else {
                        return Ok(Some(format!("cancel {} {}", reply.status, reply.code())));
                    }
                }
                s => return Ok(Some(format!("cancel {s} {}", reply.code()))),
            }
        } else {
            let reply = me.client.get(&format!("/api/v1/bookings/{id}")).await?;
            if reply.status != 200 || reply.body["status"] != "BOOKED" {
                ledger.contradictions.lock().await.push(format!(
                    "booking {id} acknowledged, then GET answered {} {}",
                    reply.status, reply.body["status"]
                ));
                *booking = None;
            }
        }
        return Ok(None);
    }
    let slot = shared.slots[rand::rng().random_range(0..shared.slots.len())];
    let key = uuid::Uuid::new_v4().to_string();
    let reply = me
        .client
        .post(
            "/api/v1/bookings",
            &json!({ "slotId": slot, "itemCode": BOOK_ITEM }),
            Some(&key),
        )
        .await?;
    match (reply.status, reply.code()) {
        // 200: the same Idempotency-Key again (an answer lost on the way), the same booking.
        (200 | 201, _) => {
            let id = reply.body["id"].as_i64().unwrap_or_default();
            ledger.bookings.lock().await.insert(id, Told::Booked);
            *booking = Some(id);
        }
        (_, code @ ("SLOT_FULL" | "SLOT_NOT_RELEASED")) => shared.stats.refusal(code).await,
        // Booked by an attempt whose answer was lost: find it.
        (_, "ALREADY_BOOKED") => {
            shared.stats.refusal("ALREADY_BOOKED").await;
            let mine = me.client.get("/api/v1/bookings").await?;
            *booking = mine.body["bookings"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["status"] == "BOOKED")
                .and_then(|b| b["id"].as_i64());
        }
        (s, code) => return Ok(Some(format!("book {s} {code}"))),
    }
    Ok(None)
}

async fn ticket_step(shared: &Shared, me: &Citizen, ticket: &mut Option<i64>) -> Step {
    if let Some(id) = *ticket {
        let reply = me.client.get(&format!("/api/v1/tickets/{id}")).await?;
        if reply.status != 200 {
            return Ok(Some(format!(
                "GET ticket {} {}",
                reply.status,
                reply.code()
            )));
        }
        if matches!(
            reply.body["state"].as_str(),
            Some("DONE" | "NO_SHOW" | "CANCELLED")
        ) {
            *ticket = None;
        }
        return Ok(None);
    }
    let item = QUEUE_ITEMS[me.n % 2];
    let reply = me
        .client
        .post(
            &format!("/api/v1/halls/{HALL_CODE}/tickets"),
            &json!({ "itemCode": item }),
            None,
        )
        .await?;
    match (reply.status, reply.code()) {
        (201, _) => {
            let id = reply.body["id"].as_i64().unwrap_or_default();
            let number = reply.body["number"].as_str().unwrap_or("").to_owned();
            shared.ledger.tickets.lock().await.insert(id, number);
            *ticket = Some(id);
        }
        (_, "TICKET_ALREADY_LIVE") => {
            shared.stats.refusal("TICKET_ALREADY_LIVE").await;
            let mine = me.client.get("/api/v1/tickets").await?;
            *ticket = mine.body["tickets"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| matches!(t["state"].as_str(), Some("WAITING" | "CALLED" | "SERVING")))
                .and_then(|t| t["id"].as_i64());
        }
        (s, code) => return Ok(Some(format!("take ticket {s} {code}"))),
    }
    Ok(None)
}

/// A PDF or JPEG (as content sniffing sees them) of 4 KiB, different every time.
fn material(pdf: bool) -> Vec<u8> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (mut bytes, tail): (Vec<u8>, &[u8]) = if pdf {
        (format!("%PDF-1.4\n% 演练 {tag}\n").into_bytes(), b"%%EOF\n")
    } else {
        let mut b = vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
            0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
        ];
        b.extend_from_slice(tag.as_bytes());
        (b, &[0xFF, 0xD9])
    };
    while bytes.len() < 4096 - tail.len() {
        bytes.push(b' ' + (bytes.len() % 90) as u8);
    }
    bytes.extend_from_slice(tail);
    bytes
}

async fn apply(shared: &Shared, me: &Citizen) -> Step {
    let pdf = me.client.upload(&material(true), "pdf").await?;
    let jpeg = me.client.upload(&material(false), "jpg").await?;
    let key = uuid::Uuid::new_v4().to_string();
    let reply = me
        .client
        .post(
            "/api/v1/applications",
            &json!({
                "itemCode": APPLY_ITEM,
                "form": {
                    "purpose": "购房资格核验",
                    "propertyLocation": "杭州市西湖区文三路 100 号 3 幢 2 单元 501 室",
                    "copies": 1,
                },
                "materials": [
                    { "code": "M001", "materialId": pdf },
                    { "code": "M002", "materialId": jpeg },
                ],
                "obtainWay": "COLLECT",
            }),
            Some(&key),
        )
        .await?;
    if reply.status == 201 {
        let id = reply.body["id"].as_str().unwrap_or("").to_owned();
        shared.ledger.applications.lock().await.push(id);
        Ok(None)
    } else {
        Ok(Some(format!("apply {} {}", reply.status, reply.code())))
    }
}

/// One counter until the stop: call the next ticket, serve it, finish it.
pub async fn counter(shared: Arc<Shared>, clerk: Arc<Client>, counter_id: i64) {
    let base = format!("/staff/v1/halls/{}/counters/{counter_id}", shared.hall_id);
    while !shared.stop.load(Ordering::Relaxed) {
        let Ok(reply) = clerk
            .post(&format!("{base}/call-next"), &json!({}), None)
            .await
        else {
            continue;
        };
        let ticket = match (reply.status, reply.code()) {
            (200, _) => {
                let id = reply.body["id"].as_i64().unwrap_or_default();
                *shared.ledger.calls.lock().await.entry(id).or_default() += 1;
                Some(id)
            }
            (_, "NO_TICKET_WAITING") => {
                shared.stats.refusal("NO_TICKET_WAITING").await;
                tokio::time::sleep(pause(300, 700)).await;
                None
            }
            // A call whose answer was lost holds the counter: pick it up from the desk.
            (_, "COUNTER_BUSY") => {
                shared.stats.refusal("COUNTER_BUSY").await;
                match clerk.get(&format!("{base}/desk")).await {
                    Ok(desk) => desk.body["ticket"]["id"].as_i64(),
                    Err(_) => None,
                }
            }
            (s, code) => {
                shared.ledger.odd(format!("call-next {s} {code}")).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                None
            }
        };
        let Some(ticket) = ticket else { continue };
        tokio::time::sleep(pause(200, 600)).await;
        for action in ["serve", "done"] {
            match clerk
                .post(
                    &format!("{base}/tickets/{ticket}/{action}"),
                    &json!({}),
                    None,
                )
                .await
            {
                Ok(r) if r.status == 200 => {}
                // A retried action whose first answer was lost.
                Ok(r) if r.code() == "TICKET_STATE_CHANGED" => {}
                Ok(r) => {
                    shared
                        .ledger
                        .odd(format!("{action} {} {}", r.status, r.code()))
                        .await
                }
                Err(_) => {}
            }
            tokio::time::sleep(pause(100, 300)).await;
        }
    }
}

/// A hall screen's live socket, reconnecting whenever it drops.
pub struct Socket {
    pub connects: u32,
    pub messages: u64,
    pub last_message: Option<Instant>,
    pub connected_at_end: bool,
    /// The longest time without a connection, after the first.
    pub longest_gap: Duration,
}

pub async fn socket(shared: Arc<Shared>, url: String) -> Socket {
    let mut s = Socket {
        connects: 0,
        messages: 0,
        last_message: None,
        connected_at_end: false,
        longest_gap: Duration::ZERO,
    };
    let mut lost_at: Option<Instant> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        else {
            tokio::time::sleep(pause(300, 800)).await;
            continue;
        };
        s.connects += 1;
        if let Some(at) = lost_at.take() {
            s.longest_gap = s.longest_gap.max(at.elapsed());
        }
        loop {
            if shared.stop.load(Ordering::Relaxed) {
                s.connected_at_end = true;
                let _ = ws.close(None).await;
                return s;
            }
            match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => {
                    s.messages += 1;
                    s.last_message = Some(Instant::now());
                }
                Ok(Some(Ok(_))) | Err(_) => {}
                Ok(None | Some(Err(_))) => break,
            }
        }
        lost_at = Some(Instant::now());
        tokio::time::sleep(pause(200, 600)).await;
    }
    s
}
