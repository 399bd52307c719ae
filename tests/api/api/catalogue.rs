//! The service catalogue: synced from the provincial platform simulator through the real client,
//! then only what changed; searched by citizens without logging in.

use miniprogram_api::catalogue::{ItemGuide, ItemHall, ItemList, SyncReport};
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait as _, QueryFilter as _};
use serde_json::{Value, json};
use simulators::province::{
    DEMO_HALL_CODE, Fault, Group, ProvinceSim, ProvinceSimConfig, demo_items,
};

use crate::halls::{create_category, create_hall, global_admin};
use crate::helpers::{Reply, TestApp, use_province};

/// The 31-character code of a generated item (a fabricated USCC + 13 digits).
fn generated_code(n: usize) -> String {
    format!("91330100MA2TEST00X{n:013}")
}

/// An item in the contract's shape.
fn generated_item(n: usize, name: &str, department: &str) -> Value {
    json!({
        "itemCode": generated_code(n),
        "handleItemCode": format!("{}01", generated_code(n)),
        "name": name,
        "department": department,
        "type": 1,
        "legalDays": 5,
        "promisedDays": 1,
        "fee": "0",
        "materials": [],
        "onlineLevel": 2,
        "bookable": false,
        "halls": [],
    })
}

async fn start() -> (TestApp, ProvinceSim, String) {
    let sim = ProvinceSim::start(ProvinceSimConfig::default())
        .await
        .expect("start the province simulator");
    let app = TestApp::spawn_with(|s| use_province(s, &sim)).await;
    let admin = global_admin(&app).await;
    (app, sim, admin)
}

async fn sync(app: &TestApp, admin: &str, full: bool) -> Reply {
    app.post(
        &format!("/staff/v1/catalogue/sync?full={full}"),
        Some(admin),
        &json!({}),
    )
    .await
}

fn names(reply: &Reply) -> Vec<String> {
    reply
        .ok::<ItemList>()
        .items
        .into_iter()
        .map(|i| i.name)
        .collect()
}

fn total(reply: &Reply) -> u64 {
    reply.ok::<ItemList>().total
}

async fn search(app: &TestApp, query: &str) -> Reply {
    app.get(&format!("/api/v1/items?{query}"), None).await
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn the_catalogue_syncs_everything_then_only_what_changed() {
    let (app, sim, admin) = start().await;
    // More than one page of 100.
    for n in 0..110 {
        sim.upsert_item(generated_item(n, &format!("测试事项{n:03}"), "测试部门"))
            .unwrap();
    }

    let report: SyncReport = sync(&app, &admin, false).await.ok();
    assert!(report.full, "nothing synced before: everything");
    assert_eq!(report.fetched, 118);
    assert_eq!(report.upserted, 118);
    assert_eq!(report.skipped, 0);
    assert!(sim.requests(Group::Items) >= 2, "paged");
    // The next sync reaches five minutes back before this one started.
    let watermark = report.watermark;
    let age = chrono::Utc::now() - watermark;
    assert!(
        age > chrono::Duration::minutes(5) && age < chrono::Duration::minutes(6),
        "{age}"
    );
    assert_eq!(total(&search(&app, "pageSize=1").await), 118);

    // Time passes (the watermark moves past every item), then the platform changes one item.
    // Database access on purpose: no route moves the watermark; this stands for the minutes
    // that pass between two syncs.
    entities::sync_state::Entity::update_many()
        .col_expr(
            entities::sync_state::Column::Watermark,
            Expr::value(chrono::Utc::now()),
        )
        .filter(sea_orm::ColumnTrait::eq(
            &entities::sync_state::Column::Name,
            "items",
        ))
        .exec(&app.db)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut changed = demo_items()[0].clone();
    let code = changed["itemCode"].as_str().unwrap().to_owned();
    changed["name"] = json!("居民身份证换领（含临时身份证）");
    changed["promisedDays"] = json!(7);
    sim.upsert_item(changed).unwrap();

    let report: SyncReport = sync(&app, &admin, false).await.ok();
    assert!(!report.full);
    assert_eq!(report.fetched, 1, "only what changed: {report:?}");
    let guide: ItemGuide = app.get(&format!("/api/v1/items/{code}"), None).await.ok();
    assert_eq!(guide.name, "居民身份证换领（含临时身份证）");
    assert_eq!(guide.promised_days, 7);

    // A full sync ignores the watermark.
    let report: SyncReport = sync(&app, &admin, true).await.ok();
    assert!(report.full);
    assert_eq!(report.fetched, 118);
    assert_eq!(total(&search(&app, "pageSize=1").await), 118);

    // A failing platform: 503, and the next sync starts from the same place.
    sim.fault(Group::Items, Fault::Http5xx(10));
    let reply = sync(&app, &admin, false).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.error_code(), "UPSTREAM_UNAVAILABLE");
    // Audits "a failed sync is recorded and moves nothing": no route shows the sync state.
    let state = entities::sync_state::Entity::find_by_id("items".to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(state.last_error.is_some());
    sim.clear_faults();
    let reply = sync(&app, &admin, false).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");

    // Only a global admin may sync by hand.
    let clerk = crate::halls::staff_token(
        &app,
        vec![(
            services::staff::Role::Clerk,
            services::staff::HallScope::All,
        )],
    )
    .await;
    let reply = sync(&app, &clerk, false).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
}

#[tokio::test]
async fn citizens_search_by_name_or_department_and_read_the_guide() {
    let (app, sim, admin) = start().await;
    sim.upsert_item(generated_item(1, "100%_减免_申请", "测试部门"))
        .unwrap();
    sim.upsert_item(generated_item(2, "1000减免申请", "测试部门"))
        .unwrap();
    sim.upsert_item(generated_item(3, "路径\\查询", "测试部门"))
        .unwrap();
    assert_eq!(sync(&app, &admin, false).await.status, StatusCode::OK);

    // By name.
    let reply = search(&app, &format!("q={}", encode("身份证"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(names(&reply), vec!["居民身份证换领"]);
    // By department: 杭州市公安局 and 杭州市公安局交通管理局.
    let reply = search(&app, &format!("q={}", encode(" 公安局 "))).await;
    assert_eq!(total(&reply), 2);
    let mut found = names(&reply);
    found.sort();
    assert_eq!(found, vec!["居民身份证换领", "机动车驾驶证换证"]);
    let reply = search(&app, &format!("q={}", encode("人力资源"))).await;
    assert_eq!(total(&reply), 2);

    // LIKE's wildcards match only themselves.
    let reply = search(&app, &format!("q={}", encode("%_"))).await;
    assert_eq!(names(&reply), vec!["100%_减免_申请"]);
    let reply = search(&app, &format!("q={}", encode("0_"))).await;
    assert_eq!(total(&reply), 0, "{reply:?}");
    let reply = search(&app, &format!("q={}", encode("\\"))).await;
    assert_eq!(names(&reply), vec!["路径\\查询"]);
    let reply = search(&app, &format!("q={}", encode("%"))).await;
    assert_eq!(names(&reply), vec!["100%_减免_申请"]);

    // Paging: a stable order by name, and bounds.
    let reply = search(&app, "page=1&pageSize=50").await;
    assert_eq!(total(&reply), 11);
    let all = names(&reply);
    assert_eq!(all.len(), 11);
    let first = names(&search(&app, "page=1&pageSize=4").await);
    let third = names(&search(&app, "page=3&pageSize=4").await);
    assert_eq!(first, all[..4]);
    assert_eq!(third, all[8..]);
    assert!(names(&search(&app, "page=1000&pageSize=50").await).is_empty());
    for (query, field) in [
        ("page=0", "page"),
        ("page=1001", "page"),
        ("pageSize=0", "pageSize"),
        ("pageSize=51", "pageSize"),
        (&*format!("q={}", encode(&"事".repeat(51))), "q"),
    ] {
        let reply = search(&app, query).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {reply:?}"
        );
        let error = reply.error();
        assert_eq!(error.code, "VALIDATION_FAILED");
        assert_eq!(error.fields[0].field, field);
    }
    let reply = search(&app, &format!("q={}", encode(&"事".repeat(50)))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = search(&app, "page=abc").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // The guide, with the halls: bookable where the hall maps the item to a category.
    let id_card = demo_items()[0]["itemCode"].as_str().unwrap().to_owned();
    let birth = demo_items()[4]["itemCode"].as_str().unwrap().to_owned();
    let passport_like = demo_items()[5]["itemCode"].as_str().unwrap().to_owned();
    let hall = create_hall(&app, &admin, DEMO_HALL_CODE).await;
    let category = create_category(&app, &admin, hall, "A").await;
    for code in [&id_card, &birth] {
        let reply = app
            .put(
                &format!("/staff/v1/halls/{hall}/items/{code}"),
                Some(&admin),
                &json!({ "categoryId": category }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let guide: ItemGuide = app
        .get(&format!("/api/v1/items/{id_card}"), None)
        .await
        .ok();
    assert_eq!(guide.department, "杭州市公安局");
    assert_eq!(guide.item_type, 2);
    assert_eq!(guide.item_type_name, "承诺件");
    assert_eq!(guide.legal_days, 60);
    assert_eq!(guide.promised_days, 15);
    assert_eq!(guide.fee, "0");
    assert_eq!(guide.online_level, 3);
    assert_eq!(guide.materials.len(), 3);
    assert_eq!(
        guide.materials[1].note.as_deref(),
        Some("有效期满前三个月内可换领")
    );
    assert_eq!(guide.materials[0].max_size_kb, 4096);
    assert!(
        guide
            .guide_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
        "{guide:?}"
    );
    assert_eq!(
        guide.halls,
        vec![ItemHall {
            code: DEMO_HALL_CODE.to_owned(),
            name: format!("{DEMO_HALL_CODE} 政务服务中心"),
            address: "杭州市上城区".to_owned(),
            bookable: true
        }]
    );
    // 生育登记 is mapped but not bookable; the other item is bookable but not mapped.
    let birth: ItemGuide = app.get(&format!("/api/v1/items/{birth}"), None).await.ok();
    assert!(!birth.halls[0].bookable);
    let passport_like: ItemGuide = app
        .get(&format!("/api/v1/items/{passport_like}"), None)
        .await
        .ok();
    assert!(passport_like.bookable);
    assert!(!passport_like.halls[0].bookable);

    // Unknown item: 404 with a message for the citizen.
    let reply = app.get("/api/v1/items/NO-SUCH-ITEM", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let error = reply.error();
    assert_eq!(error.code, "ITEM_NOT_FOUND");
    assert_eq!(error.message, "该事项不存在或已下线");
}
