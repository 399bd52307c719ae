//! Live updates across gateway instances. Each instance subscribes to a hall's store channel
//! once, when the first listener of that hall arrives, and fans every event out to its
//! listeners through a tokio broadcast channel. With each event it sends the hall's waiting
//! positions and the count waiting per category, computed once per event on this instance (one
//! query), so a thousand sockets cost one query per change, not a thousand. Every event comes
//! with the counts, whatever changed: a board compares them with what it last showed and sends
//! a frame only when one moved. The same subscription also hands each bare event to this
//! instance's snapshots of the lines ([`QueueHub::events`]), which need no positions: so a
//! hall costs one store subscription per instance, whoever listens.

use std::collections::BTreeMap;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::broadcast;

use super::{QueueEvent, QueueService, channel};
use crate::store::Store;

/// People ahead and the estimated wait of a waiting ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub ahead: u32,
    /// `None` while no active counter serves the category.
    pub wait_minutes: Option<u32>,
}

/// One change of a hall, as listeners receive it.
#[derive(Debug)]
pub struct HallUpdate {
    pub event: QueueEvent,
    /// Every waiting ticket of the hall's day after the change, by ticket id.
    pub positions: Arc<HashMap<i64, Position>>,
    /// How many wait per category after the change (a category nobody waits in is absent);
    /// `None` when they could not be read, so a board keeps what it shows rather than zeros.
    pub waiting: Option<Arc<BTreeMap<i64, u32>>>,
}

/// How many updates a slow listener may fall behind before it skips (it then just gets the
/// latest; positions are a snapshot, so nothing is lost but intermediate numbers).
const BACKLOG: usize = 256;

/// One hall's fan-out on this instance, fed by its one store subscription.
pub(super) struct HallChannels {
    /// Every change with the line's positions and counts (sockets).
    updates: broadcast::Sender<Arc<HallUpdate>>,
    /// Every change, bare (the snapshots). Replaced after the store's subscription was lost and
    /// made again, so its receivers see `Closed`: events of the gap may be missing.
    events: broadcast::Sender<Arc<QueueEvent>>,
}

/// The halls this instance listens to; shared by every [`QueueHub`] of one [`QueueService`].
pub(super) type HubHalls = Arc<Mutex<HashMap<i64, HallChannels>>>;

/// This instance's listeners, per hall; cheap to clone.
#[derive(Clone)]
pub struct QueueHub {
    service: QueueService,
    store: Arc<dyn Store>,
    halls: HubHalls,
}

impl QueueHub {
    pub(super) fn new(service: QueueService, store: Arc<dyn Store>, halls: HubHalls) -> Self {
        Self {
            service,
            store,
            halls,
        }
    }

    fn halls(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HallChannels>> {
        self.halls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver of the hall's updates. The first listener of a hall on this instance
    /// subscribes to the store's channel before this returns, so a change committed after it
    /// returns is never missed.
    ///
    /// # Errors
    /// The store could not subscribe.
    pub async fn listen(
        &self,
        hall_id: i64,
    ) -> anyhow::Result<broadcast::Receiver<Arc<HallUpdate>>> {
        self.subscribe(hall_id, |c| c.updates.subscribe()).await
    }

    /// A receiver of the hall's bare events, from the same store subscription as
    /// [`listen`](Self::listen) (subscribed before this returns). `Lagged` or `Closed` means
    /// events may have been missed.
    ///
    /// # Errors
    /// The store could not subscribe.
    pub(super) async fn events(
        &self,
        hall_id: i64,
    ) -> anyhow::Result<broadcast::Receiver<Arc<QueueEvent>>> {
        self.subscribe(hall_id, |c| c.events.subscribe()).await
    }

    async fn subscribe<T>(
        &self,
        hall_id: i64,
        receiver: impl Fn(&HallChannels) -> broadcast::Receiver<T>,
    ) -> anyhow::Result<broadcast::Receiver<T>> {
        if let Some(channels) = self.halls().get(&hall_id) {
            return Ok(receiver(channels));
        }
        let stream = self.store.subscribe(&channel(hall_id)).await?;
        let mut halls = self.halls();
        if let Some(channels) = halls.get(&hall_id) {
            // Another listener subscribed meanwhile; this stream is dropped.
            return Ok(receiver(channels));
        }
        let channels = HallChannels {
            updates: broadcast::channel(BACKLOG).0,
            events: broadcast::channel(BACKLOG).0,
        };
        let first = receiver(&channels);
        halls.insert(hall_id, channels);
        drop(halls);
        tokio::spawn(self.clone().forward(hall_id, stream));
        Ok(first)
    }

    async fn forward(self, hall_id: i64, mut stream: futures::stream::BoxStream<'static, Vec<u8>>) {
        loop {
            while let Some(message) = stream.next().await {
                let Ok(event) = serde_json::from_slice::<QueueEvent>(&message) else {
                    tracing::warn!(hall_id, "an unreadable queue event");
                    continue;
                };
                let Some((sender, events)) = self
                    .halls()
                    .get(&hall_id)
                    .map(|c| (c.updates.clone(), c.events.clone()))
                else {
                    return;
                };
                if events.receiver_count() > 0 {
                    let _ = events.send(Arc::new(event.clone()));
                }
                if sender.receiver_count() == 0 {
                    continue;
                }
                let (positions, waiting) = match self.line(hall_id, &event).await {
                    Ok((positions, waiting)) => (positions, Some(Arc::new(waiting))),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), hall_id, "could not compute positions");
                        (Arc::default(), None)
                    }
                };
                let _ = sender.send(Arc::new(HallUpdate {
                    event,
                    positions,
                    waiting,
                }));
            }
            // The connection behind the subscription was lost: subscribe again. Listeners
            // catch up with the next event's positions.
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                match self.store.subscribe(&channel(hall_id)).await {
                    Ok(s) => {
                        stream = s;
                        // Subscribed again: the bare events' receivers are told (`Closed`)
                        // that the gap's events may be missing, and listen again.
                        if let Some(c) = self.halls().get_mut(&hall_id) {
                            c.events = broadcast::channel(BACKLOG).0;
                        }
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, hall_id, "queue resubscribe failed"),
                }
            }
        }
    }

    /// The positions of every waiting ticket of the event's hall and day, and the count waiting
    /// per category, fresh.
    async fn line(
        &self,
        hall_id: i64,
        event: &QueueEvent,
    ) -> anyhow::Result<(Arc<HashMap<i64, Position>>, BTreeMap<i64, u32>)> {
        self.service
            .line_now(hall_id, super::service_day(event.at))
            .await
    }

    pub fn service(&self) -> &QueueService {
        &self.service
    }
}
