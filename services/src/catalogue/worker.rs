//! The periodic catalogue sync: incremental, every interval, on whichever instance takes the
//! lock first (the others find it busy and wait for the next round).

use std::time::Duration;

use tokio::sync::watch;

use super::{CatalogueService, SyncError};
use crate::province::ProvinceClient;

/// Syncs the catalogue at start and then every `every`.
pub struct SyncWorker {
    service: CatalogueService,
    client: ProvinceClient,
    every: Duration,
}

impl SyncWorker {
    pub fn new(service: CatalogueService, client: ProvinceClient, every: Duration) -> Self {
        Self {
            service,
            client,
            every,
        }
    }

    /// Runs until `stop` turns true (or its sender is dropped). A failed round is logged and
    /// recorded in `sync_state`; the next round tries again from the same watermark.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            match self.service.sync(&self.client, false).await {
                Ok(_) => metrics::counter!("catalogue_syncs_total", "outcome" => "ok").increment(1),
                Err(SyncError::Busy) => {
                    tracing::debug!("catalogue sync skipped: another instance is syncing");
                }
                Err(_) => {
                    metrics::counter!("catalogue_syncs_total", "outcome" => "error").increment(1);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
