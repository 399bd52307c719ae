//! Family members on one phone (一部手机绑定多人): a member is added by face-verifying them on
//! the citizen's phone (through the WeChat simulator's hook), listed masked, limited in number,
//! and revoked by the citizen or by the member from their own verified account.

use miniprogram_api::family::{FamilyMember, FamilyRelationList};
use miniprogram_api::me::{Me, VerificationStarted};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{FACE_PASSED, TestApp, id_card_no};

#[tokio::test]
async fn a_member_is_added_by_their_face_and_listed_masked() {
    let app = TestApp::spawn().await;
    let parent = app.verified_citizen("张三", 1301).await;
    let child = id_card_no(1302);

    let started: VerificationStarted = app
        .post(
            "/api/v1/family/members/verifications",
            Some(&parent.token),
            &json!({ "name": "张小明", "idCardNo": child }),
        )
        .await
        .created();
    // Not a member before the face has passed.
    assert_eq!(app.members(&parent.token).await.members, vec![]);
    app.wechat.set_face_result(&started.verify_id, FACE_PASSED);
    let path = format!(
        "/api/v1/family/members/verifications/{}/complete",
        started.id
    );
    let added: FamilyMember = app.post(&path, Some(&parent.token), &json!({})).await.ok();
    assert_eq!(added.name, "张**");
    assert_eq!(
        added.id_card_no,
        format!("{}***********{}", &child[..3], &child[14..])
    );
    // Completing again (a lost answer) answers the same member, and adds nobody.
    let again: FamilyMember = app.post(&path, Some(&parent.token), &json!({})).await.ok();
    assert_eq!(again.id, added.id);

    let listed = app.get("/api/v1/family/members", Some(&parent.token)).await;
    // And the plain ID number never left the server.
    assert!(!listed.text.contains(&child));
    let listed: miniprogram_api::family::FamilyMemberList = listed.ok();
    assert_eq!(listed.members, vec![added]);
    assert_eq!(listed.max_members, 5);
    // The member's verification is not the parent's identity: the parent is still 张三.
    let me: Me = app.get("/api/v1/me", Some(&parent.token)).await.ok();
    assert_eq!(me.identity.expect("bound").name, "张*");
}

#[tokio::test]
async fn a_face_that_does_not_pass_adds_nobody_and_own_verification_ids_do_not_mix() {
    let app = TestApp::spawn().await;
    let parent = app.verified_citizen("王五", 1311).await;
    let reply = app
        .add_member_with(&parent.token, "王小五", &id_card_no(1312), 10001)
        .await;
    assert_eq!(reply.error().code, "FACE_NOT_MATCHED");
    assert_eq!(app.members(&parent.token).await.members, vec![]);

    // A member's verification cannot be completed as one's own, and the other way round.
    let started: VerificationStarted = app
        .post(
            "/api/v1/family/members/verifications",
            Some(&parent.token),
            &json!({ "name": "王小五", "idCardNo": id_card_no(1312) }),
        )
        .await
        .created();
    app.wechat.set_face_result(&started.verify_id, FACE_PASSED);
    let own = app.complete_verification(&parent.token, &started.id).await;
    assert_eq!(own.error().code, "VERIFICATION_NOT_FOUND");
    let me: Me = app.get("/api/v1/me", Some(&parent.token)).await.ok();
    assert_eq!(
        me.identity.expect("bound").name,
        "王*",
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
    assert_eq!(reply.error().code, "IDENTITY_REQUIRED");

    let parent = app.verified_citizen("赵六", 1322).await;
    let reply = app
        .add_member_with(&parent.token, "赵六", &id_card_no(1322), FACE_PASSED)
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error().code, "FAMILY_MEMBER_IS_SELF");

    app.add_member(&parent.token, "赵小六", &id_card_no(1323))
        .await;
    let reply = app
        .add_member_with(&parent.token, "赵小六", &id_card_no(1323), FACE_PASSED)
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error().code, "FAMILY_MEMBER_ALREADY_ADDED");
    assert_eq!(app.members(&parent.token).await.members.len(), 1);
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
    let second: VerificationStarted = start(1333, "钱二").await.created();
    let third: VerificationStarted = start(1334, "钱三").await.created();
    let mut outcomes = Vec::new();
    for started in [&second, &third] {
        app.wechat.set_face_result(&started.verify_id, FACE_PASSED);
        let id = &started.id;
        let reply = app
            .post(
                &format!("/api/v1/family/members/verifications/{id}/complete"),
                Some(&parent.token),
                &json!({}),
            )
            .await;
        outcomes.push(reply.status);
        if reply.status != StatusCode::OK {
            assert_eq!(reply.error().code, "FAMILY_MEMBER_LIMIT_REACHED");
        }
    }
    assert_eq!(outcomes, vec![StatusCode::OK, StatusCode::CONFLICT]);
    // Full: a new one is refused before WeChat is asked.
    let reply = start(1335, "钱四").await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error().code, "FAMILY_MEMBER_LIMIT_REACHED");
    assert_eq!(app.members(&parent.token).await.members.len(), 2);
    // Revoking one makes room again.
    let first = app.members(&parent.token).await.members[0].id;
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
    let relations: FamilyRelationList = app
        .get("/api/v1/family/relations", Some(&father.token))
        .await
        .ok();
    let listed = &relations.relations;
    assert_eq!(listed.len(), 1, "{relations:?}");
    assert_eq!(listed[0].id, member);
    assert_eq!(listed[0].holder_name, "孙*");
    // Someone else sees nothing, and cannot revoke it.
    let other = app.verified_citizen("李四", 1343).await;
    let none: FamilyRelationList = app
        .get("/api/v1/family/relations", Some(&other.token))
        .await
        .ok();
    assert_eq!(none.relations, vec![]);
    let refused = app
        .post(
            &format!("/api/v1/family/relations/{member}/revoke"),
            Some(&other.token),
            &json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(refused.error().code, "FAMILY_MEMBER_NOT_FOUND");
    // Nor can another citizen remove the daughter's member.
    let refused = app
        .post(
            &format!("/api/v1/family/members/{member}/revoke"),
            Some(&other.token),
            &json!({}),
        )
        .await;
    assert_eq!(refused.error().code, "FAMILY_MEMBER_NOT_FOUND");

    let revoked = app
        .post(
            &format!("/api/v1/family/relations/{member}/revoke"),
            Some(&father.token),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{revoked:?}");
    assert_eq!(app.members(&daughter.token).await.members, vec![]);
    let relations: FamilyRelationList = app
        .get("/api/v1/family/relations", Some(&father.token))
        .await
        .ok();
    assert_eq!(relations.relations, vec![]);
    // Revoked is revoked: twice is a 404.
    let again = app
        .post(
            &format!("/api/v1/family/relations/{member}/revoke"),
            Some(&father.token),
            &json!({}),
        )
        .await;
    assert_eq!(again.error().code, "FAMILY_MEMBER_NOT_FOUND");
}

// ---------------------------------------------------------------------------------------------
// Acting for a member (`?memberId=`): bookings, tickets, applications, licences.

mod acting {
    use miniprogram_api::applications::Application;
    use miniprogram_api::booking::{Booking, BookingList};
    use miniprogram_api::licences::{
        LicenceList, PresentationResponse, Verdict, VerificationResponse,
    };
    use miniprogram_api::queue::Ticket;
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
        let booked: Booking = for_member(ID_CARD).await.created();
        assert_eq!(booked.member_id, Some(member));
        // The parent is another person: their own booking of the item that day stands beside.
        let own = book(&app, &parent.token, slot, ID_CARD).await;
        // The exact shape: no `memberId` key on one's own booking.
        assert!(own.body.get("memberId").is_none(), "{own:?}");
        let own: Booking = own.created();
        assert_eq!(own.member_id, None);
        // The member has theirs: a second is refused, through the parent's phone …
        let again = for_member(ID_CARD).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.error().code, "ALREADY_BOOKED");
        // … and through the member's own account: the booking counts as the member's.
        let member_account = app.verified_citizen("张小红", 1402).await;
        let theirs = book(&app, &member_account.token, slot, ID_CARD).await;
        assert_eq!(theirs.error().code, "ALREADY_BOOKED");
        // The account follows both, each telling whom it is for.
        let listed: BookingList = app.get("/api/v1/bookings", Some(&parent.token)).await.ok();
        let bookings = &listed.bookings;
        assert_eq!(bookings.len(), 2, "{listed:?}");
        assert!(bookings.iter().any(|b| b.member_id == Some(member)));

        // A remote ticket for the member, and one for the parent: one live ticket per person.
        let ticket: Ticket = app
            .post(
                &format!("/api/v1/halls/{HALL}/tickets?memberId={member}"),
                Some(&parent.token),
                &json!({ "itemCode": ID_CARD }),
            )
            .await
            .created();
        assert_eq!(ticket.member_id, Some(member));
        let own_ticket: Ticket = app
            .post(
                &format!("/api/v1/halls/{HALL}/tickets"),
                Some(&parent.token),
                &json!({ "itemCode": ID_CARD }),
            )
            .await
            .created();
        assert_eq!(own_ticket.member_id, None);

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
        assert_eq!(refused.error().code, "FAMILY_MEMBER_NOT_FOUND");
        // Nor move the member's booking (it would be booked as the member's).
        let later = id(&slots(&app, &parent.token, HALL, ID_CARD, "2026-11-18").await[0]);
        let moved = app
            .post(
                &format!("/api/v1/bookings/{}/reschedule", booked.id),
                Some(&parent.token),
                &json!({ "slotId": later }),
            )
            .await;
        assert_eq!(moved.error().code, "FAMILY_MEMBER_NOT_FOUND");
        let refused = app
            .post(
                &format!("/api/v1/halls/{HALL}/tickets?memberId={member}"),
                Some(&parent.token),
                &json!({ "itemCode": PASSPORT }),
            )
            .await;
        assert_eq!(refused.error().code, "FAMILY_MEMBER_NOT_FOUND");
        // Another account's member, or a malformed id, is no member of this one.
        let stranger = citizen(&app, 1403).await;
        let other = app
            .post(
                &format!("/api/v1/bookings?memberId={member}"),
                Some(&stranger.token),
                &json!({ "slotId": slot, "itemCode": PASSPORT }),
            )
            .await;
        assert_eq!(other.error().code, "FAMILY_MEMBER_NOT_FOUND");
        let malformed = app
            .post(
                "/api/v1/bookings?memberId=abc",
                Some(&parent.token),
                &json!({ "slotId": slot, "itemCode": PASSPORT }),
            )
            .await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.error().code, "BAD_REQUEST");
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
        let reply: Application = app
            .post(
                &format!("/api/v1/applications?memberId={member}"),
                Some(&parent.token),
                &world.application(&materials),
            )
            .await
            .created();
        assert!(reply.on_behalf);
        assert_eq!(reply.member_id, Some(member));
        let id = reply.id;
        until_status(
            app,
            &parent,
            &id,
            miniprogram_api::applications::DeliveryStatus::Submitted,
        )
        .await;
        assert_eq!(world.province.ledger_len(), 1);
        // Audits "stored and never shown": the case is the account's, for the member, and the
        // member's ID number is stored only encrypted.
        let row = entities::application::Entity::find_by_id(id.clone())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.member_id, Some(member));
        assert_eq!(row.citizen_id, parent.id());
        assert!(!row.private_cipher.contains(&id_card_no(1412)));
        let listed: miniprogram_api::applications::ApplicationList = app
            .get("/api/v1/applications", Some(&parent.token))
            .await
            .ok();
        assert_eq!(listed.applications[0].member_id, Some(member));

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
        assert_eq!(refused.error().code, "FAMILY_MEMBER_NOT_FOUND");
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

        let listed: LicenceList = app
            .get(
                &format!("/api/v1/licences?memberId={member}"),
                Some(&parent.token),
            )
            .await
            .ok();
        let licences = &listed.licences;
        assert_eq!(
            licences.len(),
            1,
            "only the types shown for members: {listed:?}"
        );
        assert_eq!(licences[0].licence_id, driving);

        let shown: PresentationResponse = app
            .post(
                &format!("/api/v1/licences/{driving}/presentations?memberId={member}"),
                Some(&parent.token),
                &json!({}),
            )
            .await
            .created();
        assert!(shown.watermark.ends_with("李*"), "{shown:?}");
        let refused = app
            .post(
                &format!("/api/v1/licences/{id_card}/presentations?memberId={member}"),
                Some(&parent.token),
                &json!({}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
        assert_eq!(refused.error().code, "LICENCE_HOLDER_ONLY");
        let refused = app
            .get(
                &format!("/api/v1/licences/{id_card}?memberId={member}"),
                Some(&parent.token),
            )
            .await;
        assert_eq!(refused.error().code, "LICENCE_HOLDER_ONLY");
        // The member's licence is not the parent's own.
        let own = app
            .post(
                &format!("/api/v1/licences/{driving}/presentations"),
                Some(&parent.token),
                &json!({}),
            )
            .await;
        assert_eq!(own.error().code, "LICENCE_NOT_FOUND");
        // A hall's verifier scans the member's QR: the verdict names the holder, the member.
        let hall_id = crate::licences::hall(&app, "HALL-FAMILY-1").await;
        let verifier = crate::queue_fixture::staff(
            &app,
            "family.verifier",
            services::staff::Role::Verifier,
            hall_id,
        )
        .await;
        let verified: VerificationResponse = app
            .post(
                &format!("/staff/v1/halls/{hall_id}/licence-verifications"),
                Some(&verifier),
                &miniprogram_api::licences::VerifyRequest {
                    payload: shown.payload.clone(),
                },
            )
            .await
            .ok();
        assert_eq!(verified.verdict, Verdict::Valid, "{verified:?}");
        // Audits the use ledger (用证留痕): the presentation and the scan are each recorded with
        // both people; the citizen's `uses` route does not show who acted for whom.
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
        let reply: VerificationStarted = app
            .post(
                "/api/v1/family/members/verifications",
                Some(&parent.token),
                &json!({ "name": "周小八", "idCardNo": id_card_no(1360 + n) }),
            )
            .await
            .created();
        app.wechat.set_face_result(&reply.verify_id, FACE_PASSED);
        started.push(reply.id);
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
        assert_eq!(r.error().code, "FAMILY_MEMBER_LIMIT_REACHED", "{r:?}");
    }
    assert_eq!(added, 3, "{replies:?}");
    assert_eq!(app.members(&parent.token).await.members.len(), 3);
}
