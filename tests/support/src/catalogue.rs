//! The catalogue of service items (事项) is the province's: no route of the gateway writes it.
//! A fixture publishes its items on a provincial simulator and runs the gateway's own catalogue
//! sync against it, so the rows are the ones a sync writes (reference/province-api.md).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use serde_json::{Value, json};
use services::catalogue::CatalogueService;
use services::province::{ProvinceClient, ProvinceConfig};
use services::store::Store;
use simulators::province::{ProvinceSim, ProvinceSimConfig};

/// An item as the province publishes it: `code`, `name`, the department, and whether it can be
/// booked; the other fields at plain values (no materials, 60 legal and 15 promised days, free).
pub fn item(code: &str, name: &str, department: &str, bookable: bool) -> Value {
    json!({
        "itemCode": code,
        "handleItemCode": format!("{code}-01"),
        "name": name,
        "department": department,
        "type": 2,
        "legalDays": 60,
        "promisedDays": 15,
        "fee": "0",
        "materials": [],
        "onlineLevel": 3,
        "bookable": bookable,
        "halls": [],
    })
}

/// Publishes `items` on a provincial simulator of their own and syncs the catalogue of the
/// deployment (`db`, `store`) from it; the simulator stops afterwards.
pub async fn publish(db: &DatabaseConnection, store: &Arc<dyn Store>, items: Vec<Value>) {
    publish_with_bundles(db, store, items, Vec::new()).await;
}

/// As [`publish`], with bundles (一件事) beside the items, as the province publishes them
/// (province-api.md: `bundleCode`, `items` [{itemCode, required}], `sharedMaterials` …).
pub async fn publish_with_bundles(
    db: &DatabaseConnection,
    store: &Arc<dyn Store>,
    items: Vec<Value>,
    bundles: Vec<Value>,
) {
    let config = ProvinceSimConfig {
        demo_data: false,
        ..ProvinceSimConfig::default()
    };
    let sim = ProvinceSim::start(config)
        .await
        .expect("start a province simulator for the catalogue");
    for item in items {
        sim.upsert_item(item).expect("publish an item");
    }
    for bundle in bundles {
        sim.upsert_bundle(bundle).expect("publish a bundle");
    }
    let client = ProvinceClient::new(ProvinceConfig {
        base_url: sim.base_url(),
        app_key: sim.app_key().to_owned(),
        app_secret: SecretString::from(sim.app_secret().to_owned()),
        timeout: Duration::from_secs(10),
        max_attempts: 1,
        breaker_failures: 0,
        breaker_cooldown: Duration::from_secs(1),
    })
    .expect("a province client");
    let report = CatalogueService::new(db.clone(), Arc::clone(store))
        .sync(&client, true)
        .await
        .expect("sync the catalogue");
    assert_eq!(report.skipped, 0, "every item fits: {report:?}");
    sim.stop().await;
}
