//! Case-event callbacks, received by a tiny actix server in the test that verifies each one with
//! the gateway's own `services::province::Verifier` and parses it as `services::province::CaseEvent`.

use std::{
    net::TcpListener,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use chrono::Utc;
use secrecy::SecretString;
use serde_json::json;
use services::{
    province::{CaseEvent, Credentials, HeaderInput, Phase as GwPhase, Verifier},
    store::MemoryStore,
};
use simulators::province::{Phase, ProvinceSim, ProvinceSimConfig};

use super::{application, client};

/// What the receiver saw.
struct Inbox {
    verifier: Verifier,
    events: Mutex<Vec<CaseEvent>>,
    refused: AtomicU32,
    /// Answer 500 to this many callbacks first.
    fail_next: AtomicU32,
}

struct Receiver {
    inbox: Arc<Inbox>,
    url: String,
    handle: ServerHandle,
}

async fn receive(inbox: web::Data<Inbox>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let headers =
        HeaderInput::from_lookup(|name| request.headers().get(name).and_then(|v| v.to_str().ok()));
    let path = request
        .uri()
        .path_and_query()
        .map_or(request.path(), |p| p.as_str());
    if let Err(error) = inbox
        .verifier
        .verify("POST", path, &headers, &body, Utc::now())
        .await
    {
        inbox.refused.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::Unauthorized().json(json!({ "code": error.code() }));
    }
    if inbox
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return HttpResponse::InternalServerError().finish();
    }
    let event: CaseEvent = serde_json::from_slice(&body).unwrap();
    inbox.events.lock().unwrap().push(event);
    HttpResponse::Ok().json(json!({ "ok": true }))
}

impl Receiver {
    async fn start(key: &str, secret: &str) -> Self {
        let verifier = Verifier::new(
            [Credentials {
                app_key: key.to_owned(),
                app_secret: SecretString::from(secret),
            }],
            Arc::new(MemoryStore::new("cb:")),
        );
        let inbox = web::Data::new(Inbox {
            verifier,
            events: Mutex::new(Vec::new()),
            refused: AtomicU32::new(0),
            fail_next: AtomicU32::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let state = inbox.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/province/callbacks", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            inbox: inbox.into_inner(),
            url: format!("http://{address}/province/callbacks?tenant=hz"),
            handle,
        }
    }

    fn events(&self) -> Vec<CaseEvent> {
        self.inbox.events.lock().unwrap().clone()
    }

    /// Waits until `n` events arrived (at most 10 s).
    async fn wait_for(&self, n: usize) -> Vec<CaseEvent> {
        for _ in 0..200 {
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} callbacks expected, got {:?}", self.events());
    }
}

async fn start() -> (ProvinceSim, Receiver) {
    let config = ProvinceSimConfig {
        callback_retry_base: Duration::from_millis(50),
        ..ProvinceSimConfig::default()
    };
    let receiver = Receiver::start(&config.callback_app_key, &config.callback_app_secret).await;
    let sim = ProvinceSim::start(config).await.unwrap();
    sim.set_callback_url(Some(receiver.url.clone()));
    (sim, receiver)
}

async fn new_case(sim: &ProvinceSim, id: &str) -> String {
    client(sim)
        .submit_application(&application(id, "居民身份证换领"))
        .await
        .unwrap()
        .sblsh
}

#[tokio::test]
async fn events_arrive_signed_in_the_gateways_shape() {
    let (sim, receiver) = start().await;
    let sblsh = new_case(&sim, "cb-1").await;

    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    sim.advance(&sblsh, Phase::InReview, json!({ "step": "审核" }))
        .unwrap();
    let events = receiver.wait_for(2).await;

    assert_eq!(events[0].phase, GwPhase::Accepted);
    assert_eq!(events[1].phase, GwPhase::InReview);
    assert_eq!(events[1].detail["step"], "审核");
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2]);
    assert!(events.iter().all(|e| e.sblsh == sblsh));
    assert_eq!(events[0].handler, "杭州市公安局");
    assert_eq!(receiver.inbox.refused.load(Ordering::SeqCst), 0);
    assert_eq!(delivered(&sim, 2).await.delivered, 2);
    sim.stop().await;
    receiver.handle.stop(false).await;
}

/// The simulator's statistics once it has counted `n` deliveries: the receiver sees a callback
/// before the simulator has read the answer and counted it.
async fn delivered(sim: &ProvinceSim, n: u64) -> simulators::province::CallbackStats {
    for _ in 0..200 {
        let stats = sim.callbacks_delivered();
        if stats.delivered >= n {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sim.callbacks_delivered()
}

#[tokio::test]
async fn a_callback_signed_with_another_secret_is_refused_and_retried_until_given_up() {
    let config = ProvinceSimConfig {
        callback_app_secret: "wrong".into(),
        callback_retry_base: Duration::from_millis(10),
        callback_max_attempts: 3,
        ..ProvinceSimConfig::default()
    };
    let receiver = Receiver::start(&config.callback_app_key, "demo-gateway-secret").await;
    let sim = ProvinceSim::start(config).await.unwrap();
    sim.set_callback_url(Some(receiver.url.clone()));
    let sblsh = new_case(&sim, "cb-bad").await;

    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    for _ in 0..100 {
        if sim.callbacks_delivered().given_up == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stats = sim.callbacks_delivered();
    assert_eq!((stats.attempts, stats.delivered, stats.given_up), (3, 0, 1));
    assert_eq!(receiver.inbox.refused.load(Ordering::SeqCst), 3);
    assert!(receiver.events().is_empty());
    sim.stop().await;
    receiver.handle.stop(false).await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_the_gateway_answers_ok() {
    let (sim, receiver) = start().await;
    receiver.inbox.fail_next.store(2, Ordering::SeqCst);
    let sblsh = new_case(&sim, "cb-retry").await;

    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    let events = receiver.wait_for(1).await;

    assert_eq!(events.len(), 1);
    let stats = delivered(&sim, 1).await;
    assert_eq!((stats.attempts, stats.delivered), (3, 1));
    sim.stop().await;
    receiver.handle.stop(false).await;
}

#[tokio::test]
async fn a_duplicated_callback_arrives_twice_with_the_same_event_id() {
    let (sim, receiver) = start().await;
    let sblsh = new_case(&sim, "cb-dup").await;
    sim.duplicate_next(1);

    let event = sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    sim.advance(&sblsh, Phase::InReview, json!({ "step": "审核" }))
        .unwrap();
    receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let events = receiver.events();
    assert_eq!(events.len(), 3, "nothing more than the one duplicate");
    let copies: Vec<_> = events
        .iter()
        .filter(|e| e.event_id == event.event_id)
        .collect();
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0], copies[1]);
    sim.stop().await;
    receiver.handle.stop(false).await;
}

#[tokio::test]
async fn held_callbacks_are_released_newest_first() {
    let (sim, receiver) = start().await;
    let sblsh = new_case(&sim, "cb-order").await;
    sim.hold_callbacks(true);

    sim.advance(&sblsh, Phase::Accepted, json!({})).unwrap();
    sim.advance(&sblsh, Phase::InReview, json!({ "step": "审核" }))
        .unwrap();
    sim.advance(
        &sblsh,
        Phase::Concluded,
        json!({ "result": "0", "licenceIds": [] }),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(receiver.events().is_empty());
    assert_eq!(sim.callbacks_delivered().held, 3);

    assert_eq!(sim.release_callbacks_reversed(), 3);
    let events = receiver.wait_for(3).await;

    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(events[0].phase, GwPhase::Concluded);
    sim.stop().await;
    receiver.handle.stop(false).await;
}

#[tokio::test]
async fn an_auto_progress_schedule_moves_every_new_case() {
    let (sim, receiver) = start().await;
    sim.set_auto_progress(Some(vec![
        (Duration::from_millis(50), Phase::Accepted, json!({})),
        (
            Duration::from_millis(50),
            Phase::Concluded,
            json!({ "result": "6", "licenceIds": [] }),
        ),
    ]));

    let sblsh = new_case(&sim, "cb-auto").await;
    let events = receiver.wait_for(2).await;

    assert_eq!(
        events
            .iter()
            .map(|e| (e.phase, e.version))
            .collect::<Vec<_>>(),
        [(GwPhase::Accepted, 1), (GwPhase::Concluded, 2)]
    );
    assert_eq!(sim.case_events(&sblsh).unwrap().len(), 2);
    sim.stop().await;
    receiver.handle.stop(false).await;
}
