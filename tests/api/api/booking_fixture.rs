//! What the booking tests stand on: two halls with their rules, hours, categories, counters and
//! items, the 2026 working-day calendar, a fixed "now", and the calls the mini-program makes.
//!
//! Halls and staff get their own admin API later; until then the fixture writes the rows an
//! administrator would have created straight into the app's database. Time is the deployment's
//! shared [`Clock`](services::time::Clock), set to a Monday morning in 2026, so no test depends
//! on today's date.

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use gateway::configuration::Settings;
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, DatabaseConnection,
    EntityTrait as _, QueryFilter as _, QueryOrder as _,
};
use serde_json::{Value, json};
use services::calendar::{CalendarStore, DEMO_2026, DEMO_2027};
use services::time::SHANGHAI;

use crate::helpers::{Citizen, Deployment, Reply, TestApp, id_card_no};

/// The main hall: every rule at the defaults of domain-rules.md.
pub const HALL: &str = "SZ-SMZX";
/// A second hall, handling only [`ID_CARD`].
pub const OTHER_HALL: &str = "SZ-NSQ";
/// 居民身份证换领: category A of [`HALL`], served by three counters (3 seats a slot).
pub const ID_CARD: &str = "ITEM-SFZ-HL";
/// 普通护照签发: category B of [`HALL`], one seat a slot.
pub const PASSPORT: &str = "ITEM-HZ-QF";
/// 不动产登记: category C of [`HALL`], seven seats a slot (the rush tests).
pub const PROPERTY: &str = "ITEM-BDC-DJ";
/// 社保卡补办: in the catalogue and mapped to [`HALL`], but not bookable.
pub const NOT_BOOKABLE: &str = "ITEM-SBK-BB";
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
    let fixture = seed(&app.db).await;
    app.clock.set(monday_nine());
    (app, fixture)
}

async fn hall(db: &DatabaseConnection, code: &str, name: &str, secret: &str) -> i64 {
    let now = Utc::now();
    let hall = entities::hall::ActiveModel {
        code: Set(code.to_owned()),
        name: Set(name.to_owned()),
        address: Set("深圳市福田区福中三路市民中心B区".to_owned()),
        slot_minutes: Set(30),
        release_days_ahead: Set(7),
        release_minute: Set(8 * 60),
        book_min_working_days: Set(1),
        book_max_working_days: Set(5),
        cancel_cutoff_minutes: Set(120),
        checkin_before_minutes: Set(15),
        checkin_after_minutes: Set(30),
        weekly_limit: Set(2),
        monthly_limit: Set(6),
        no_show_limit: Set(2),
        cancel_limit: Set(5),
        penalty_window_days: Set(30),
        ban_days: Set(90),
        checkin_secret: Set(secret.to_owned()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    // Monday to Friday, 09:00–17:00 with a 12:00–13:30 lunch break.
    for weekday in 1..=5 {
        entities::hall_hours::ActiveModel {
            hall_id: Set(hall.id),
            weekday: Set(weekday),
            opens_minute: Set(9 * 60),
            closes_minute: Set(17 * 60),
            break_start_minute: Set(Some(12 * 60)),
            break_end_minute: Set(Some(13 * 60 + 30)),
        }
        .insert(db)
        .await
        .unwrap();
    }
    hall.id
}

async fn category(
    db: &DatabaseConnection,
    hall_id: i64,
    code: &str,
    name: &str,
    seats: Option<i32>,
) -> i64 {
    entities::category::ActiveModel {
        hall_id: Set(hall_id),
        code: Set(code.to_owned()),
        name: Set(name.to_owned()),
        prefix: Set(code.to_owned()),
        seats_per_slot: Set(seats),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

async fn counter(db: &DatabaseConnection, hall_id: i64, number: i32, categories: &[i64]) {
    let counter = entities::counter::ActiveModel {
        hall_id: Set(hall_id),
        number: Set(number),
        name: Set(format!("{number}号窗口")),
        active: Set(true),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    for &category_id in categories {
        entities::counter_category::ActiveModel {
            counter_id: Set(counter.id),
            category_id: Set(category_id),
            weight: Set(1),
        }
        .insert(db)
        .await
        .unwrap();
    }
}

async fn item(db: &DatabaseConnection, code: &str, name: &str, bookable: bool) {
    entities::item::ActiveModel {
        item_code: Set(code.to_owned()),
        handle_item_code: Set(format!("{code}-01")),
        name: Set(name.to_owned()),
        department: Set("深圳市公安局".to_owned()),
        item_type: Set(2),
        legal_days: Set(60),
        promised_days: Set(15),
        fee: Set("0".to_owned()),
        materials: Set("[]".to_owned()),
        online_level: Set(3),
        bookable: Set(bookable),
        halls: Set("[]".to_owned()),
        guide_url: Set(None),
        synced_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .unwrap();
}

async fn offer(db: &DatabaseConnection, hall_id: i64, item_code: &str, category_id: i64) {
    entities::hall_item::ActiveModel {
        hall_id: Set(hall_id),
        item_code: Set(item_code.to_owned()),
        category_id: Set(category_id),
    }
    .insert(db)
    .await
    .unwrap();
}

/// Seeds the calendar, the catalogue and both halls. Call it before the first request that
/// reads the calendar (an instance caches it for a while).
pub async fn seed(db: &DatabaseConnection) -> Fixture {
    let calendar = CalendarStore::new(db.clone());
    calendar.load_year(2026, DEMO_2026, None).await.unwrap();
    calendar.load_year(2027, DEMO_2027, None).await.unwrap();
    item(db, ID_CARD, "居民身份证换领", true).await;
    item(db, PASSPORT, "普通护照签发", true).await;
    item(db, PROPERTY, "不动产登记", true).await;
    item(db, NOT_BOOKABLE, "社会保障卡补办", false).await;

    let secret = "k3Zq9-hall-secret-smzx".to_owned();
    let hall_id = hall(db, HALL, "市民中心政务服务大厅", &secret).await;
    let a = category(db, hall_id, "A", "户籍证件", None).await;
    let b = category(db, hall_id, "B", "出入境", Some(1)).await;
    let c = category(db, hall_id, "C", "不动产", Some(7)).await;
    counter(db, hall_id, 1, &[a]).await;
    counter(db, hall_id, 2, &[a, b]).await;
    counter(db, hall_id, 3, &[a, c]).await;
    offer(db, hall_id, ID_CARD, a).await;
    offer(db, hall_id, PASSPORT, b).await;
    offer(db, hall_id, PROPERTY, c).await;
    offer(db, hall_id, NOT_BOOKABLE, a).await;

    let other_secret = "p7Wm2-hall-secret-nsq".to_owned();
    let other_hall = hall(db, OTHER_HALL, "南山区政务服务中心", &other_secret).await;
    let other_a = category(db, other_hall, "A", "户籍证件", Some(2)).await;
    counter(db, other_hall, 1, &[other_a]).await;
    offer(db, other_hall, ID_CARD, other_a).await;

    Fixture {
        hall_id,
        id_card_category: a,
        hall_qr: format!("ZSBHALL:{HALL}:{secret}"),
        other_hall_qr: format!("ZSBHALL:{OTHER_HALL}:{other_secret}"),
        hall_secret: secret,
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
