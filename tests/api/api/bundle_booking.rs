//! Booking a 一件事 bundle at a hall (issue 19 item 4): one booking for all its items, in the one
//! category of the hall mapped to every required item (无差别综合窗口), through the booking
//! endpoints with `bundleCode` instead of `itemCode`; every rule of a booking holds with the
//! bundle counted as one subject; the check-in gives one ticket; the clerk's brief names the
//! bundle and its items; a family member's bundle booking counts as the member's.

use miniprogram_api::booking::{Availability, Booking, BookingBrief, BookingList};
use reqwest::StatusCode;
use sea_orm::EntityTrait as _;
use serde_json::{Value, json};

use crate::booking_fixture::{
    HALL, ID_CARD, NOT_BOOKABLE, OTHER_HALL, PASSPORT, booked, booking, check_in, citizen, day, id,
    refused, shanghai, slots, start,
};
use crate::helpers::{Reply, TestApp, id_card_no};
use crate::queue_fixture::staff;
use services::staff::Role;

/// The test bundle: 身份证 and 社保卡 required (both category A of [`HALL`]), 护照 optional
/// (category B). [`OTHER_HALL`] handles only the 身份证: it does not offer the bundle.
const BUNDLE: &str = "BUNDLE-TEST-ZJYJS";
const BUNDLE_NAME: &str = "证件补换一件事";

/// The bundle, published by the province and synced (province-api.md: `items`
/// [{itemCode, required}]).
async fn publish_bundle(app: &TestApp) {
    let bundle = json!({
        "bundleCode": BUNDLE,
        "name": BUNDLE_NAME,
        "description": "身份证、社保卡一次办",
        "items": [
            { "itemCode": ID_CARD, "required": true },
            { "itemCode": NOT_BOOKABLE, "required": true },
            { "itemCode": PASSPORT, "required": false },
        ],
        "sharedMaterials": [],
        "promisedDays": 5,
        "onlineLevel": 3,
    });
    support::catalogue::publish_with_bundles(&app.db, &app.store, Vec::new(), vec![bundle]).await;
}

async fn bundle_slots(app: &TestApp, token: &str, hall: &str, date: &str) -> Reply {
    app.get(
        &format!("/api/v1/halls/{hall}/slots?bundleCode={BUNDLE}&from={date}&to={date}"),
        Some(token),
    )
    .await
}

async fn book_bundle(app: &TestApp, token: &str, slot_id: i64, query: &str) -> Reply {
    app.post(
        &format!("/api/v1/bookings{query}"),
        Some(token),
        &json!({ "slotId": slot_id, "bundleCode": BUNDLE }),
    )
    .await
}

/// The open slots of the bundle at [`HALL`] on `date`.
async fn open_slots(app: &TestApp, token: &str, date: &str) -> Vec<Value> {
    let reply = bundle_slots(app, token, HALL, date).await;
    let availability: Availability = reply.ok();
    assert_eq!(availability.bundle_code.as_deref(), Some(BUNDLE));
    // The day as JSON, for the booking fixture's helpers.
    let days = reply.body["days"].as_array().unwrap().clone();
    let d = day(&days, date);
    assert_eq!(d["state"], "OPEN", "{d}");
    d["slots"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_bundle_is_booked_once_at_the_hall_whose_category_handles_all_its_required_items() {
    let (app, fx) = start().await;
    publish_bundle(&app).await;
    let c = citizen(&app, 1901).await;

    // The bundle's slots are category A's (身份证 and 社保卡 both there).
    let bundle = open_slots(&app, &c.token, "2026-11-17").await;
    let item = slots(&app, &c.token, HALL, ID_CARD, "2026-11-17").await;
    assert_eq!(
        bundle.iter().map(id).collect::<Vec<_>>(),
        item.iter().map(id).collect::<Vec<_>>()
    );

    let reply = book_bundle(&app, &c.token, id(&bundle[0]), "").await;
    let b: Booking = reply.created();
    assert_eq!(b.bundle_code.as_deref(), Some(BUNDLE));
    assert_eq!(b.item_code, BUNDLE);
    assert_eq!(b.item_name, BUNDLE_NAME);
    assert_eq!(b.category_name, "户籍证件");
    // Listed among the citizen's bookings as the bundle's.
    let mine: BookingList = app.get("/api/v1/bookings", Some(&c.token)).await.ok();
    assert_eq!(
        mine.bookings[0].bundle_code.as_deref(),
        Some(BUNDLE),
        "{mine:?}"
    );

    // One booking per person, subject and day: the bundle is one subject …
    let again = book_bundle(&app, &c.token, id(&bundle[1]), "").await;
    refused(&again, StatusCode::CONFLICT, "ALREADY_BOOKED");
    // … beside which an item of the same day is a booking of its own (and counts for the limit).
    let own_item = booked(&app, &c.token, id(&item[1]), ID_CARD).await;
    assert!(own_item.get("bundleCode").is_none(), "{own_item}");
    // The week's limit (2) counts the bundle as one booking.
    let wednesday = open_slots(&app, &c.token, "2026-11-18").await;
    let third = book_bundle(&app, &c.token, id(&wednesday[0]), "").await;
    refused(
        &third,
        StatusCode::UNPROCESSABLE_ENTITY,
        "BOOKING_LIMIT_REACHED",
    );

    // Checked in once: one ticket, of category A, for the whole bundle.
    app.clock.set(shanghai(2026, 11, 17, 8, 50));
    let checked: Booking = check_in(&app, &c.token, b.id, &fx.hall_qr).await.ok();
    assert_eq!(
        checked.status,
        miniprogram_api::booking::BookingStatus::CheckedIn
    );
    let number = checked.ticket.expect("a ticket").number;
    assert!(number.starts_with('A'), "{number}");
    // Audits "one ticket for the whole bundle": every ticket of the booking, which no route
    // lists.
    let tickets: Vec<_> = entities::ticket::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.booking_id == Some(b.id))
        .collect();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0].category_id, fx.id_card_category);

    // The clerk's brief names the bundle and every item it joins.
    let clerk = staff(&app, "clerk.bundle", Role::Clerk, fx.hall_id).await;
    let brief = app
        .get(
            &format!("/staff/v1/halls/{}/bookings/{}/brief", fx.hall_id, b.id),
            Some(&clerk),
        )
        .await;
    let brief: BookingBrief = brief.ok();
    assert_eq!(brief.item_name, BUNDLE_NAME);
    let bundle = brief.bundle.expect("the bundle");
    assert_eq!(bundle.bundle_code, BUNDLE);
    let items: Vec<(String, bool)> = bundle
        .items
        .iter()
        .map(|i| (i.item_code.clone(), i.required))
        .collect();
    assert_eq!(
        items,
        vec![
            (ID_CARD.to_owned(), true),
            (NOT_BOOKABLE.to_owned(), true),
            (PASSPORT.to_owned(), false)
        ]
    );
    assert_eq!(bundle.items[0].name, "居民身份证换领");
    // An item booking's brief has no bundle.
    let plain = app
        .get(
            &format!(
                "/staff/v1/halls/{}/bookings/{}/brief",
                fx.hall_id,
                id(&own_item)
            ),
            Some(&clerk),
        )
        .await;
    assert!(plain.body.get("bundle").is_none(), "{plain:?}");
    // And the booking as the citizen reads it again.
    let read = booking(&app, &c.token, b.id).await;
    assert_eq!(read["bundleCode"], BUNDLE);
    assert_eq!(read["ticket"]["number"], number.as_str());
}

#[tokio::test]
async fn a_hall_that_does_not_offer_the_bundle_and_a_request_naming_neither_or_both_are_refused() {
    let (app, _fx) = start().await;
    publish_bundle(&app).await;
    let c = citizen(&app, 1911).await;

    // 南山 handles the 身份证 but not the 社保卡: no category handles every required item.
    let elsewhere = bundle_slots(&app, &c.token, OTHER_HALL, "2026-11-17").await;
    refused(
        &elsewhere,
        StatusCode::UNPROCESSABLE_ENTITY,
        "BUNDLE_NOT_BOOKABLE",
    );
    let other_slot = id(&slots(&app, &c.token, OTHER_HALL, ID_CARD, "2026-11-17").await[0]);
    let there = book_bundle(&app, &c.token, other_slot, "").await;
    refused(
        &there,
        StatusCode::UNPROCESSABLE_ENTITY,
        "BUNDLE_NOT_BOOKABLE",
    );
    // At the hall that offers it, a slot of another category is not the bundle's.
    let passport_slot = id(&slots(&app, &c.token, HALL, PASSPORT, "2026-11-17").await[0]);
    let wrong = book_bundle(&app, &c.token, passport_slot, "").await;
    refused(
        &wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
        "SLOT_NOT_FOR_ITEM",
    );
    // An unknown bundle.
    let slot = id(&open_slots(&app, &c.token, "2026-11-17").await[0]);
    let unknown = app
        .post(
            "/api/v1/bookings",
            Some(&c.token),
            &json!({ "slotId": slot, "bundleCode": "NO-SUCH-BUNDLE" }),
        )
        .await;
    refused(&unknown, StatusCode::NOT_FOUND, "BUNDLE_NOT_FOUND");

    // Exactly one of itemCode and bundleCode.
    let both = app
        .post(
            "/api/v1/bookings",
            Some(&c.token),
            &json!({ "slotId": slot, "bundleCode": BUNDLE, "itemCode": ID_CARD }),
        )
        .await;
    refused(
        &both,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ITEM_OR_BUNDLE_REQUIRED",
    );
    let neither = app
        .post(
            "/api/v1/bookings",
            Some(&c.token),
            &json!({ "slotId": slot }),
        )
        .await;
    refused(
        &neither,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ITEM_OR_BUNDLE_REQUIRED",
    );
    let blank = app
        .post(
            "/api/v1/bookings",
            Some(&c.token),
            &json!({ "slotId": slot, "itemCode": " ", "bundleCode": "" }),
        )
        .await;
    refused(
        &blank,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ITEM_OR_BUNDLE_REQUIRED",
    );
    let slots_both = app
        .get(
            &format!("/api/v1/halls/{HALL}/slots?bundleCode={BUNDLE}&itemCode={ID_CARD}"),
            Some(&c.token),
        )
        .await;
    refused(
        &slots_both,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ITEM_OR_BUNDLE_REQUIRED",
    );
    let slots_neither = app
        .get(&format!("/api/v1/halls/{HALL}/slots"), Some(&c.token))
        .await;
    refused(
        &slots_neither,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ITEM_OR_BUNDLE_REQUIRED",
    );
    // Nothing was booked by any of these.
    let mine: BookingList = app.get("/api/v1/bookings", Some(&c.token)).await.ok();
    assert!(mine.bookings.is_empty(), "{mine:?}");
}

#[tokio::test]
async fn a_members_bundle_booking_counts_as_the_members_and_moves_as_a_bundle() {
    let (app, _fx) = start().await;
    publish_bundle(&app).await;
    let parent = citizen(&app, 1921).await;
    let member = app
        .add_member(&parent.token, "张小宝", &id_card_no(1922))
        .await;
    let tuesday = open_slots(&app, &parent.token, "2026-11-17").await;
    let for_member = format!("?memberId={member}");

    let booked: Booking = book_bundle(&app, &parent.token, id(&tuesday[0]), &for_member)
        .await
        .created();
    assert_eq!(booked.member_id, Some(member));
    assert_eq!(booked.bundle_code.as_deref(), Some(BUNDLE));
    // The parent is another person: their own bundle booking that day stands beside.
    let own = book_bundle(&app, &parent.token, id(&tuesday[0]), "").await;
    assert_eq!(own.status, StatusCode::CREATED, "{own:?}");
    // The member has theirs: a second, through the parent's phone or the member's own account,
    // is refused.
    let again = book_bundle(&app, &parent.token, id(&tuesday[1]), &for_member).await;
    refused(&again, StatusCode::CONFLICT, "ALREADY_BOOKED");
    let member_account = app.verified_citizen("张小宝", 1922).await;
    let theirs = book_bundle(&app, &member_account.token, id(&tuesday[1]), "").await;
    refused(&theirs, StatusCode::CONFLICT, "ALREADY_BOOKED");

    // Moved, it stays the member's bundle booking.
    let moved = app
        .post(
            &format!("/api/v1/bookings/{}/reschedule", booked.id),
            Some(&parent.token),
            &json!({ "slotId": id(&tuesday[2]) }),
        )
        .await;
    let moved: Booking = moved.created();
    assert_eq!(moved.bundle_code.as_deref(), Some(BUNDLE));
    assert_eq!(moved.item_name, BUNDLE_NAME);
    assert_eq!(moved.member_id, Some(member));
}
