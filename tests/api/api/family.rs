//! Family members on one phone (一部手机绑定多人): a member is added by face-verifying them on
//! the citizen's phone (through the WeChat simulator's hook), listed masked, limited in number,
//! and revoked by the citizen or by the member from their own verified account.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{FACE_PASSED, TestApp, id_card_no};

#[tokio::test]
async fn a_member_is_added_by_their_face_and_listed_masked() {
    let app = TestApp::spawn().await;
    let parent = app.verified_citizen("张三", 1301).await;
    let child = id_card_no(1302);

    let started = app
        .post(
            "/api/v1/family/members/verifications",
            Some(&parent.token),
            &json!({ "name": "张小明", "idCardNo": child }),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    // Not a member before the face has passed.
    assert_eq!(app.members(&parent.token).await["members"], json!([]));
    let verify_id = started.body["verifyId"].as_str().unwrap();
    app.wechat.set_face_result(verify_id, FACE_PASSED);
    let id = started.body["id"].as_str().unwrap();
    let path = format!("/api/v1/family/members/verifications/{id}/complete");
    let added = app.post(&path, Some(&parent.token), &json!({})).await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    assert_eq!(added.body["name"], "张**");
    assert_eq!(
        added.body["idCardNo"],
        format!("{}***********{}", &child[..3], &child[14..])
    );
    // Completing again (a lost answer) answers the same member, and adds nobody.
    let again = app.post(&path, Some(&parent.token), &json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["id"], added.body["id"]);

    let listed = app.members(&parent.token).await;
    assert_eq!(listed["members"], json!([added.body]));
    assert_eq!(listed["maxMembers"], 5);
    // The member's verification is not the parent's identity: the parent is still 张三.
    let me = app.get("/api/v1/me", Some(&parent.token)).await;
    assert_eq!(me.body["identity"]["name"], "张*");
    // And the plain ID number never left the server.
    assert!(!listed.to_string().contains(&child));
}

#[tokio::test]
async fn a_face_that_does_not_pass_adds_nobody_and_own_verification_ids_do_not_mix() {
    let app = TestApp::spawn().await;
    let parent = app.verified_citizen("王五", 1311).await;
    let reply = app
        .add_member_with(&parent.token, "王小五", &id_card_no(1312), 10001)
        .await;
    assert_eq!(reply.error_code(), "FACE_NOT_MATCHED");
    assert_eq!(app.members(&parent.token).await["members"], json!([]));

    // A member's verification cannot be completed as one's own, and the other way round.
    let started = app
        .post(
            "/api/v1/family/members/verifications",
            Some(&parent.token),
            &json!({ "name": "王小五", "idCardNo": id_card_no(1312) }),
        )
        .await;
    app.wechat
        .set_face_result(started.body["verifyId"].as_str().unwrap(), FACE_PASSED);
    let id = started.body["id"].as_str().unwrap();
    let own = app.complete_verification(&parent.token, id).await;
    assert_eq!(own.error_code(), "VERIFICATION_NOT_FOUND");
    let me = app.get("/api/v1/me", Some(&parent.token)).await;
    assert_eq!(
        me.body["identity"]["name"], "王*",
        "the parent's identity is untouched"
    );
}

#[tokio::test]
async fn adding_needs_ones_own_verified_identity_and_never_oneself_or_twice() {
    let app = TestApp::spawn().await;
    let stranger = app.login().await;
    let reply = app
        .add_member_with(&stranger.token, "赵六", &id_card_no(1321), FACE_PASSED)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "IDENTITY_REQUIRED");

    let parent = app.verified_citizen("赵六", 1322).await;
    let reply = app
        .add_member_with(&parent.token, "赵六", &id_card_no(1322), FACE_PASSED)
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_code(), "FAMILY_MEMBER_IS_SELF");

    app.add_member(&parent.token, "赵小六", &id_card_no(1323))
        .await;
    let reply = app
        .add_member_with(&parent.token, "赵小六", &id_card_no(1323), FACE_PASSED)
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "FAMILY_MEMBER_ALREADY_ADDED");
    assert_eq!(
        app.members(&parent.token).await["members"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_account_holds_at_most_the_configured_number_of_members() {
    let app = TestApp::spawn_with(|s| {
        s.family.max_members = 2;
        s.limits.face_verifications_per_citizen_per_day = 50;
    })
    .await;
    let parent = app.verified_citizen("钱七", 1331).await;
    app.add_member(&parent.token, "钱一", &id_card_no(1332))
        .await;
    // Two verifications started while there was room: only one of them may add its member.
    let start = |n: u32, name: &'static str| {
        let app = &app;
        let token = parent.token.clone();
        async move {
            app.post(
                "/api/v1/family/members/verifications",
                Some(&token),
                &json!({ "name": name, "idCardNo": id_card_no(n) }),
            )
            .await
        }
    };
    let second = start(1333, "钱二").await;
    let third = start(1334, "钱三").await;
    assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
    assert_eq!(third.status, StatusCode::CREATED, "{third:?}");
    let mut outcomes = Vec::new();
    for started in [&second, &third] {
        app.wechat
            .set_face_result(started.body["verifyId"].as_str().unwrap(), FACE_PASSED);
        let id = started.body["id"].as_str().unwrap();
        let reply = app
            .post(
                &format!("/api/v1/family/members/verifications/{id}/complete"),
                Some(&parent.token),
                &json!({}),
            )
            .await;
        outcomes.push(reply.status);
        if reply.status != StatusCode::OK {
            assert_eq!(reply.error_code(), "FAMILY_MEMBER_LIMIT_REACHED");
        }
    }
    assert_eq!(outcomes, vec![StatusCode::OK, StatusCode::CONFLICT]);
    // Full: a new one is refused before WeChat is asked.
    let reply = start(1335, "钱四").await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "FAMILY_MEMBER_LIMIT_REACHED");
    assert_eq!(
        app.members(&parent.token).await["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Revoking one makes room again.
    let first = app.members(&parent.token).await["members"][0]["id"]
        .as_i64()
        .unwrap();
    let revoked = app
        .post(
            &format!("/api/v1/family/members/{first}/revoke"),
            Some(&parent.token),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{revoked:?}");
    app.add_member(&parent.token, "钱四", &id_card_no(1335))
        .await;
}

#[tokio::test]
async fn the_member_sees_who_holds_them_and_revokes_it() {
    let app = TestApp::spawn().await;
    let daughter = app.verified_citizen("孙女", 1341).await;
    let father_id = id_card_no(1342);
    let member = app.add_member(&daughter.token, "孙父", &father_id).await;

    // The father has his own verified account: he sees the relation.
    let father = app.verified_citizen("孙父", 1342).await;
    let relations = app
        .get("/api/v1/family/relations", Some(&father.token))
        .await;
    assert_eq!(relations.status, StatusCode::OK, "{relations:?}");
    let listed = relations.body["relations"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{relations:?}");
    assert_eq!(listed[0]["id"], member);
    assert_eq!(listed[0]["holderName"], "孙*");
    // Someone else sees nothing, and cannot revoke it.
    let other = app.verified_citizen("李四", 1343).await;
    let none = app
        .get("/api/v1/family/relations", Some(&other.token))
        .await;
    assert_eq!(none.body["relations"], json!([]));
    let refused = app
        .post(
            &format!("/api/v1/family/relations/{member}/revoke"),
            Some(&other.token),
            &json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(refused.error_code(), "FAMILY_MEMBER_NOT_FOUND");
    // Nor can another citizen remove the daughter's member.
    let refused = app
        .post(
            &format!("/api/v1/family/members/{member}/revoke"),
            Some(&other.token),
            &json!({}),
        )
        .await;
    assert_eq!(refused.error_code(), "FAMILY_MEMBER_NOT_FOUND");

    let revoked = app
        .post(
            &format!("/api/v1/family/relations/{member}/revoke"),
            Some(&father.token),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{revoked:?}");
    assert_eq!(app.members(&daughter.token).await["members"], json!([]));
    let relations = app
        .get("/api/v1/family/relations", Some(&father.token))
        .await;
    assert_eq!(relations.body["relations"], json!([]));
    // Revoked is revoked: twice is a 404.
    let again = app
        .post(
            &format!("/api/v1/family/relations/{member}/revoke"),
            Some(&father.token),
            &json!({}),
        )
        .await;
    assert_eq!(again.error_code(), "FAMILY_MEMBER_NOT_FOUND");
}

// ---------------------------------------------------------------------------------------------
// Acting for a member (`?memberId=`): bookings, tickets, applications, licences.

mod acting {
    use reqwest::StatusCode;
    use sea_orm::EntityTrait as _;
    use serde_json::json;
    use simulators::province::{LicenceSpec, ProvinceSim, ProvinceSimConfig};

    use crate::applications::{World, until_status};
    use crate::booking_fixture::{HALL, ID_CARD, PASSPORT, book, citizen, id, slots, start};
    use crate::helpers::{TestApp, id_card_no, use_province};

    #[tokio::test]
    async fn the_account_books_and_takes_tickets_for_a_member_counted_as_the_member() {
        let (app, _fx) = start().await;
        let parent = citizen(&app, 1401).await;
        let member = app
            .add_member(&parent.token, "张小红", &id_card_no(1402))
            .await;
        let slot = id(&slots(&app, &parent.token, HALL, ID_CARD, "2026-11-17").await[0]);
        let for_member = |item: &'static str| {
            let app = &app;
            let token = parent.token.clone();
            async move {
                app.post(
                    &format!("/api/v1/bookings?memberId={member}"),
                    Some(&token),
                    &json!({ "slotId": slot, "itemCode": item }),
                )
                .await
            }
        };
        let booked = for_member(ID_CARD).await;
        assert_eq!(booked.status, StatusCode::CREATED, "{booked:?}");
        assert_eq!(booked.body["memberId"], member);
        // The parent is another person: their own booking of the item that day stands beside.
        let own = book(&app, &parent.token, slot, ID_CARD).await;
        assert_eq!(own.status, StatusCode::CREATED, "{own:?}");
        assert!(own.body.get("memberId").is_none(), "{own:?}");
        // The member has theirs: a second is refused, through the parent's phone …
        let again = for_member(ID_CARD).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.error_code(), "ALREADY_BOOKED");
        // … and through the member's own account: the booking counts as the member's.
        let member_account = app.verified_citizen("张小红", 1402).await;
        let theirs = book(&app, &member_account.token, slot, ID_CARD).await;
        assert_eq!(theirs.error_code(), "ALREADY_BOOKED");
        // The account follows both, each telling whom it is for.
        let listed = app.get("/api/v1/bookings", Some(&parent.token)).await;
        let bookings = listed.body["bookings"].as_array().unwrap();
        assert_eq!(bookings.len(), 2, "{listed:?}");
        assert!(bookings.iter().any(|b| b["memberId"] == member));

        // A remote ticket for the member, and one for the parent: one live ticket per person.
        let ticket = app
            .post(
                &format!("/api/v1/halls/{HALL}/tickets?memberId={member}"),
                Some(&parent.token),
                &json!({ "itemCode": ID_CARD }),
            )
            .await;
        assert_eq!(ticket.status, StatusCode::CREATED, "{ticket:?}");
        assert_eq!(ticket.body["memberId"], member);
        let own_ticket = app
            .post(
                &format!("/api/v1/halls/{HALL}/tickets"),
                Some(&parent.token),
                &json!({ "itemCode": ID_CARD }),
            )
            .await;
        assert_eq!(own_ticket.status, StatusCode::CREATED, "{own_ticket:?}");

        // The member revokes the relation: the parent can no longer act for them.
        let revoked = app
            .post(
                &format!("/api/v1/family/relations/{member}/revoke"),
                Some(&member_account.token),
                &json!({}),
            )
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{revoked:?}");
        let refused = for_member(PASSPORT).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{refused:?}");
        assert_eq!(refused.error_code(), "FAMILY_MEMBER_NOT_FOUND");
        // Nor move the member's booking (it would be booked as the member's).
        let later = id(&slots(&app, &parent.token, HALL, ID_CARD, "2026-11-18").await[0]);
        let moved = app
            .post(
                &format!("/api/v1/bookings/{}/reschedule", booked.body["id"]),
                Some(&parent.token),
                &json!({ "slotId": later }),
            )
            .await;
        assert_eq!(moved.error_code(), "FAMILY_MEMBER_NOT_FOUND");
        let refused = app
            .post(
                &format!("/api/v1/halls/{HALL}/tickets?memberId={member}"),
                Some(&parent.token),
                &json!({ "itemCode": PASSPORT }),
            )
            .await;
        assert_eq!(refused.error_code(), "FAMILY_MEMBER_NOT_FOUND");
        // Another account's member, or a malformed id, is no member of this one.
        let stranger = citizen(&app, 1403).await;
        let other = app
            .post(
                &format!("/api/v1/bookings?memberId={member}"),
                Some(&stranger.token),
                &json!({ "slotId": slot, "itemCode": PASSPORT }),
            )
            .await;
        assert_eq!(other.error_code(), "FAMILY_MEMBER_NOT_FOUND");
        let malformed = app
            .post(
                "/api/v1/bookings?memberId=abc",
                Some(&parent.token),
                &json!({ "slotId": slot, "itemCode": PASSPORT }),
            )
            .await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.error_code(), "BAD_REQUEST");
    }

    #[tokio::test]
    async fn the_account_applies_for_a_member_as_agent_and_follows_the_case() {
        let world = World::new().await;
        let app = &world.app;
        let parent = world.citizen(app, 1411).await;
        let member = app
            .add_member(&parent.token, "王老汉", &id_card_no(1412))
            .await;
        let materials = world.materials(app, &parent).await;
        let reply = app
            .post(
                &format!("/api/v1/applications?memberId={member}"),
                Some(&parent.token),
                &world.application(&materials),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        assert_eq!(reply.body["onBehalf"], true);
        assert_eq!(reply.body["memberId"], member);
        let id = reply.body["id"].as_str().unwrap().to_owned();
        until_status(app, &parent, &id, "SUBMITTED").await;
        assert_eq!(world.province.ledger_len(), 1);
        let row = entities::application::Entity::find_by_id(id.clone())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.member_id, Some(member));
        assert_eq!(row.citizen_id, parent.id());
        assert!(!row.private_cipher.contains(&id_card_no(1412)));
        let listed = app.get("/api/v1/applications", Some(&parent.token)).await;
        assert_eq!(listed.body["applications"][0]["memberId"], member);

        let revoked = app
            .post(
                &format!("/api/v1/family/members/{member}/revoke"),
                Some(&parent.token),
                &json!({}),
            )
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        let refused = app
            .post(
                &format!("/api/v1/applications?memberId={member}"),
                Some(&parent.token),
                &world.application(&materials),
            )
            .await;
        assert_eq!(refused.error_code(), "FAMILY_MEMBER_NOT_FOUND");
        assert_eq!(world.province.ledger_len(), 1, "nothing more was sent");
        // The case already made stays the account's to follow.
        let view = app
            .get(&format!("/api/v1/applications/{id}"), Some(&parent.token))
            .await;
        assert_eq!(view.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_members_allowed_licence_is_shown_and_their_identity_card_is_not() {
        let province = ProvinceSim::start(ProvinceSimConfig {
            demo_data: false,
            ..ProvinceSimConfig::default()
        })
        .await
        .expect("start the province simulator");
        let app = TestApp::spawn_with(|s| {
            use_province(s, &province);
            s.family.licence_types = vec!["DRV000000000000001".into()];
        })
        .await;
        let parent = app.verified_citizen("李父", 1421).await;
        let child_no = id_card_no(1422);
        let member = app.add_member(&parent.token, "李子", &child_no).await;
        let id_card = province.add_licence(&child_no, LicenceSpec::id_card("李子", &child_no));
        let driving = province.add_licence(
            &child_no,
            LicenceSpec {
                type_code: "DRV000000000000001".into(),
                type_name: "机动车驾驶证".into(),
                ..LicenceSpec::id_card("李子", &child_no)
            },
        );

        let listed = app
            .get(
                &format!("/api/v1/licences?memberId={member}"),
                Some(&parent.token),
            )
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
        let licences = listed.body["licences"].as_array().unwrap();
        assert_eq!(
            licences.len(),
            1,
            "only the types shown for members: {listed:?}"
        );
        assert_eq!(licences[0]["licenceId"], driving.as_str());

        let shown = app
            .post(
                &format!("/api/v1/licences/{driving}/presentations?memberId={member}"),
                Some(&parent.token),
                &json!({}),
            )
            .await;
        assert_eq!(shown.status, StatusCode::CREATED, "{shown:?}");
        assert!(shown.body["watermark"].as_str().unwrap().ends_with("李*"));
        let refused = app
            .post(
                &format!("/api/v1/licences/{id_card}/presentations?memberId={member}"),
                Some(&parent.token),
                &json!({}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
        assert_eq!(refused.error_code(), "LICENCE_HOLDER_ONLY");
        let refused = app
            .get(
                &format!("/api/v1/licences/{id_card}?memberId={member}"),
                Some(&parent.token),
            )
            .await;
        assert_eq!(refused.error_code(), "LICENCE_HOLDER_ONLY");
        // The member's licence is not the parent's own.
        let own = app
            .post(
                &format!("/api/v1/licences/{driving}/presentations"),
                Some(&parent.token),
                &json!({}),
            )
            .await;
        assert_eq!(own.error_code(), "LICENCE_NOT_FOUND");
        // A hall's verifier scans the member's QR: the verdict names the holder, the member.
        let hall_id = crate::licences::hall(&app, "HALL-FAMILY-1").await;
        let verifier = crate::queue_fixture::staff(
            &app,
            "family.verifier",
            services::staff::Role::Verifier,
            hall_id,
        )
        .await;
        let verified = app
            .post(
                &format!("/staff/v1/halls/{hall_id}/licence-verifications"),
                Some(&verifier),
                &json!({ "payload": shown.body["payload"] }),
            )
            .await;
        assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
        assert_eq!(verified.body["verdict"], "VALID", "{verified:?}");
        // The presentation and the scan are each recorded with both people.
        let uses = entities::licence_use::Entity::find()
            .all(&app.db)
            .await
            .unwrap();
        for action in [
            entities::status::LicenceAction::Present,
            entities::status::LicenceAction::Verify,
        ] {
            assert!(
                uses.iter().any(|u| u.action == action
                    && u.citizen_id == parent.id()
                    && u.member_id == Some(member)),
                "{action}: {uses:?}"
            );
        }
    }
}

/// Completions racing for the last places: exactly the configured number of members is added,
/// whatever the interleaving (hammered on PostgreSQL, where the citizen's row lock decides).
#[tokio::test]
async fn racing_completions_never_pass_the_member_limit() {
    let app = TestApp::spawn_with(|s| {
        s.family.max_members = 3;
        s.limits.face_verifications_per_citizen_per_day = 50;
    })
    .await;
    let parent = app.verified_citizen("周八", 1351).await;
    let mut started = Vec::new();
    for n in 0..8 {
        let reply = app
            .post(
                "/api/v1/family/members/verifications",
                Some(&parent.token),
                &json!({ "name": "周小八", "idCardNo": id_card_no(1360 + n) }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        app.wechat
            .set_face_result(reply.body["verifyId"].as_str().unwrap(), FACE_PASSED);
        started.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    let completions = started.iter().map(|id| {
        let app = &app;
        let token = parent.token.clone();
        async move {
            app.post(
                &format!("/api/v1/family/members/verifications/{id}/complete"),
                Some(&token),
                &json!({}),
            )
            .await
        }
    });
    let replies = futures::future::join_all(completions).await;
    let added = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    for r in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(r.error_code(), "FAMILY_MEMBER_LIMIT_REACHED", "{r:?}");
    }
    assert_eq!(added, 3, "{replies:?}");
    assert_eq!(
        app.members(&parent.token).await["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
