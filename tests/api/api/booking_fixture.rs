//! What the booking tests stand on: two halls with their rules, hours, categories, counters and
//! items, the 2026 working-day calendar, a fixed "now", and the calls the mini-program makes.
//!
//! The halls, the calendar and staff are made through the admin API as an administrator makes
//! them; the catalogue is synced from a simulated province. Time is the deployment's
//! shared [`Clock`](services::time::Clock), set to a Monday morning in 2026, so no test depends
//! on today's date.

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use gateway::configuration::Settings;
use reqwest::StatusCode;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QueryOrder as _,
};
use serde_json::{Value, json};
use services::calendar::{DEMO_2026, DEMO_2027};
use services::time::SHANGHAI;
use support::{HallSpec, SetUpHall, catalogue};

use crate::helpers::{Citizen, Deployment, Reply, TestApp, id_card_no};

/// The main hall: every rule at the defaults of domain-rules.md.
pub const HALL: &str = "SZ-SMZX";
/// A second hall, handling only [`ID_CARD`].
pub const OTHER_HALL: &str = "SZ-NSQ";
/// 居民身份证换领 (codes of the province's form: a department's 18-character credit code and
/// 13 more): category A of [`HALL`], served by three counters (3 seats a slot).
pub const ID_CARD: &str = "11440300007543291K2000121001000";
/// 普通护照签发: category B of [`HALL`], one seat a slot.
pub const PASSPORT: &str = "11440300007543291K2000124002000";
/// 不动产登记: category C of [`HALL`], seven seats a slot (the rush tests).
pub const PROPERTY: &str = "11440300007543291K3000117001000";
/// 社保卡补办: in the catalogue and mapped to [`HALL`], but not bookable.
pub const NOT_BOOKABLE: &str = "11440300007543291K2000126003000";
/// Seats a slot of [`PROPERTY`] has.
pub const PROPERTY_SEATS: i64 = 7;

/// What was seeded.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub hall_id: i64,
    /// The category of [`HALL`] handling [`ID_CARD`].
    pub id_card_category: i64,
    /// The hall's check-in QR text, as printed on its wall.
    pub hall_qr: String,
    pub other_hall_qr: String,
    pub hall_secret: String,
    /// [`HALL`] as set up: its categories by code, its counters by number.
    pub hall: SetUpHall,
    pub other_hall: SetUpHall,
}

/// Settings for booking tests: no background workers (a test runs the booking worker's round
/// itself, so no-shows happen when it says), and room for hundreds of logins from one address.
pub fn settings(s: &mut Settings) {
    s.notifications.worker = false;
    s.limits.login_per_ip_per_minute = 100_000;
    s.limits.login_per_openid_per_minute = 1000;
}

/// An instant given as Asia/Shanghai wall time.
pub fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    SHANGHAI
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

pub fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// "Now" for most tests: Monday 16 November 2026, 09:00 in Shanghai. The window is then
/// Tuesday 17 to Monday 23 (five working days), all released (Monday 23 at 08:00 today).
pub fn monday_nine() -> DateTime<Utc> {
    shanghai(2026, 11, 16, 9, 0)
}

/// One gateway with the halls seeded and the clock on [`monday_nine`].
pub async fn start() -> (TestApp, Fixture) {
    let app = Deployment::new().await.instance(settings).await;
    let fixture = seed(&app).await;
    app.clock.set(monday_nine());
    (app, fixture)
}

/// One of the fixture's halls: Monday to Friday, 09:00–17:00 with a 12:00–13:30 lunch break,
/// every rule at its default.
fn hall(code: &str, name: &str) -> HallSpec {
    HallSpec::new(code, name, "深圳市福田区福中三路市民中心B区").open(
        1..=5,
        "09:00",
        "17:00",
        Some(("12:00", "13:30")),
    )
}

/// Seeds the calendar, the catalogue and both halls, through the admin API (the catalogue
/// through a sync from a simulated province). Call it before the first request that reads the
/// calendar (an instance caches it for a while).
pub async fn seed(app: &TestApp) -> Fixture {
    let admin = app.admin().await;
    admin.load_calendar(2026, DEMO_2026).await;
    admin.load_calendar(2027, DEMO_2027).await;
    let police = "深圳市公安局";
    support::catalogue::publish(
        &app.db,
        &app.store,
        vec![
            catalogue::item(ID_CARD, "居民身份证换领", police, true),
            catalogue::item(PASSPORT, "普通护照签发", police, true),
            catalogue::item(PROPERTY, "不动产登记", police, true),
            catalogue::item(NOT_BOOKABLE, "社会保障卡补办", police, false),
        ],
    )
    .await;

    let main = hall(HALL, "市民中心政务服务大厅")
        .category("A", "户籍证件", None)
        .category("B", "出入境", Some(1))
        .category("C", "不动产", Some(PROPERTY_SEATS))
        .counter(1, &["A"])
        .counter(2, &["A", "B"])
        .counter(3, &["A", "C"])
        .item(ID_CARD, "A")
        .item(PASSPORT, "B")
        .item(PROPERTY, "C")
        .item(NOT_BOOKABLE, "A")
        .create(&admin)
        .await;
    let other = hall(OTHER_HALL, "南山区政务服务中心")
        .category("A", "户籍证件", Some(2))
        .counter(1, &["A"])
        .item(ID_CARD, "A")
        .create(&admin)
        .await;

    Fixture {
        hall_id: main.id,
        id_card_category: main.category("A"),
        hall_qr: main.qr.clone(),
        other_hall_qr: other.qr.clone(),
        hall_secret: main.secret().to_owned(),
        hall: main,
        other_hall: other,
    }
}

// ---------------------------------------------------------------------------------------------
// Citizens and the calls the mini-program makes.

/// A citizen logged in with a real-name identity proven by face verification (`n` picks a
/// distinct ID number).
pub async fn citizen(app: &TestApp, n: u32) -> Citizen {
    let citizen = app.login().await;
    let reply = app
        .verify_identity(&citizen.token, "张三", &id_card_no(n))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "verify identity: {reply:?}");
    citizen
}

pub async fn availability(
    app: &TestApp,
    token: &str,
    hall: &str,
    item: &str,
    from: &str,
    to: &str,
) -> Reply {
    app.get(
        &format!("/api/v1/halls/{hall}/slots?itemCode={item}&from={from}&to={to}"),
        Some(token),
    )
    .await
}

/// The days of a successful availability answer, by date.
pub async fn days(
    app: &TestApp,
    token: &str,
    hall: &str,
    item: &str,
    from: &str,
    to: &str,
) -> Vec<Value> {
    let reply = availability(app, token, hall, item, from, to).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["days"].as_array().unwrap().clone()
}

pub fn day<'a>(days: &'a [Value], date: &str) -> &'a Value {
    days.iter()
        .find(|d| d["date"] == date)
        .unwrap_or_else(|| panic!("{date} not in {days:?}"))
}

/// The slots offered on `date` (asserting the day is open).
pub async fn slots(app: &TestApp, token: &str, hall: &str, item: &str, date: &str) -> Vec<Value> {
    let days = days(app, token, hall, item, date, date).await;
    let day = day(&days, date);
    assert_eq!(day["state"], "OPEN", "{day}");
    day["slots"].as_array().unwrap().clone()
}

pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// Seats left in a slot, as availability shows them.
pub async fn left(app: &TestApp, token: &str, item: &str, date: &str, slot_id: i64) -> i64 {
    slots(app, token, HALL, item, date)
        .await
        .iter()
        .find(|s| id(s) == slot_id)
        .map(|s| s["left"].as_i64().unwrap())
        .unwrap()
}

pub async fn book(app: &TestApp, token: &str, slot_id: i64, item: &str) -> Reply {
    app.post(
        "/api/v1/bookings",
        Some(token),
        &json!({ "slotId": slot_id, "itemCode": item }),
    )
    .await
}

pub async fn book_with_key(
    app: &TestApp,
    token: &str,
    key: &str,
    slot_id: i64,
    item: &str,
) -> Reply {
    app.send(
        app.http
            .post(app.url("/api/v1/bookings"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({ "slotId": slot_id, "itemCode": item })),
    )
    .await
}

/// Books and asserts 201.
pub async fn booked(app: &TestApp, token: &str, slot_id: i64, item: &str) -> Value {
    let reply = book(app, token, slot_id, item).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

pub async fn cancel(app: &TestApp, token: &str, booking_id: i64) -> Reply {
    app.post(
        &format!("/api/v1/bookings/{booking_id}/cancel"),
        Some(token),
        &json!({}),
    )
    .await
}

pub async fn reschedule(app: &TestApp, token: &str, booking_id: i64, slot_id: i64) -> Reply {
    app.post(
        &format!("/api/v1/bookings/{booking_id}/reschedule"),
        Some(token),
        &json!({ "slotId": slot_id }),
    )
    .await
}

pub async fn check_in(app: &TestApp, token: &str, booking_id: i64, hall_qr: &str) -> Reply {
    app.post(
        &format!("/api/v1/bookings/{booking_id}/check-in"),
        Some(token),
        &json!({ "hallQr": hall_qr }),
    )
    .await
}

pub async fn booking(app: &TestApp, token: &str, booking_id: i64) -> Value {
    let reply = app
        .get(&format!("/api/v1/bookings/{booking_id}"), Some(token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body
}

/// The kinds of the citizen's inbox messages, newest first.
pub async fn message_kinds(app: &TestApp, token: &str) -> Vec<String> {
    let reply = app.get("/api/v1/messages?pageSize=50", Some(token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts an error answer: status, code and a Chinese message; returns the body.
#[track_caller]
pub fn refused(reply: &Reply, status: StatusCode, code: &str) -> Value {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.error_code(), code, "{reply:?}");
    reply.body.clone()
}

// ---------------------------------------------------------------------------------------------
// The database, read directly to check what HTTP cannot show.

pub async fn slot_row(db: &DatabaseConnection, slot_id: i64) -> entities::slot::Model {
    entities::slot::Entity::find_by_id(slot_id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

/// A category's slots of a day as cut (whether or not the day is released), in time order.
pub async fn cut_slots(
    db: &DatabaseConnection,
    category_id: i64,
    day: &str,
) -> Vec<entities::slot::Model> {
    entities::slot::Entity::find()
        .filter(entities::slot::Column::CategoryId.eq(category_id))
        .filter(entities::slot::Column::Day.eq(date(day)))
        .order_by_asc(entities::slot::Column::StartsAt)
        .all(db)
        .await
        .unwrap()
}

/// A duration in minutes, for moving the clock.
pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}
