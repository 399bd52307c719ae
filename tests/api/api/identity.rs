//! A real-name identity is proven by WeChat's face verification (人脸核身, reference/wechat.md
//! §8) before it is bound: validation before WeChat is asked, every outcome of the face, the
//! attempt limits shared by every instance, one account per identity (the face decides who), and
//! masking.

use std::time::Duration;

use miniprogram_api::me::{IdentityNoticeKind, Me, VerificationStarted};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Deployment, FACE_PASSED, TestApp, captured_logs, id_card_no, received_bodies, unverify,
};

#[tokio::test]
async fn a_verified_identity_is_bound_and_shown_masked() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let id = id_card_no(1);
    let started: VerificationStarted = app
        .start_verification(&citizen.token, "张三", &id)
        .await
        .created();
    assert!(!started.id.is_empty());
    assert!(started.expires_at > chrono::Utc::now());
    assert_eq!(
        app.wechat.verify_ids_of(&citizen.openid),
        vec![started.verify_id.clone()]
    );
    // Not bound before the face has passed.
    let me: Me = app.get("/api/v1/me", Some(&citizen.token)).await.ok();
    assert!(me.identity.is_none(), "{me:?}");

    app.wechat.set_face_result(&started.verify_id, FACE_PASSED);
    let reply: Me = app
        .complete_verification(&citizen.token, &started.id)
        .await
        .ok();
    let identity = reply.identity.clone().expect("bound");
    assert_eq!(
        identity.id_card_no,
        format!("{}***********{}", &id[..3], &id[14..])
    );
    assert_eq!(identity.name, "张*");
    assert!(identity.verified);
    assert!(identity.verified_at.is_some());
    let me = app.get("/api/v1/me", Some(&citizen.token)).await;
    // The exact shape: no `identityNotice` key at all when there is nothing to tell.
    assert!(me.body.get("identityNotice").is_none(), "{me:?}");
    let me: Me = me.ok();
    assert_eq!(me.identity, reply.identity);
}

#[tokio::test]
async fn completing_twice_answers_the_same_binding() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let started: VerificationStarted = app
        .start_verification(&citizen.token, "张三", &id_card_no(11))
        .await
        .created();
    app.wechat.set_face_result(&started.verify_id, FACE_PASSED);
    let first: Me = app
        .complete_verification(&citizen.token, &started.id)
        .await
        .ok();
    let again: Me = app
        .complete_verification(&citizen.token, &started.id)
        .await
        .ok();
    assert!(first.identity.is_some(), "{first:?}");
    assert_eq!(again.identity, first.identity);
}

#[tokio::test]
async fn put_identity_is_gone_and_binds_nothing() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let reply = app
        .put(
            "/api/v1/me/identity",
            Some(&citizen.token),
            &json!({ "name": "李四", "idCardNo": "11010519491231002X" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::GONE, "{reply:?}");
    assert_eq!(reply.error().code, "FACE_VERIFICATION_REQUIRED");
    let me: Me = app.get("/api/v1/me", Some(&citizen.token)).await.ok();
    assert!(me.identity.is_none(), "{me:?}");
}

#[tokio::test]
async fn a_lowercase_x_check_digit_is_accepted() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let reply: Me = app
        .verify_identity(&citizen.token, "李四", "11010519491231002x")
        .await
        .ok();
    assert_eq!(reply.identity.unwrap().id_card_no, "110***********002X");
}

#[tokio::test]
async fn invalid_id_numbers_are_422_with_the_reason_and_wechat_is_not_asked() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let valid = id_card_no(2);
    let mut wrong_check = valid.clone();
    wrong_check.replace_range(17..18, if &valid[17..] == "0" { "1" } else { "0" });
    let cases = [
        "123".to_owned(),                // length
        "11010519491231002Y".to_owned(), // characters
        "99010519491231002X".to_owned(), // region
        "110105194902300010".to_owned(), // 30 February
        "110105209901010011".to_owned(), // born in the future
        wrong_check,
    ];
    for id in cases {
        let reply = app.start_verification(&citizen.token, "张三", &id).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{id}: {reply:?}"
        );
        let error = reply.error();
        assert_eq!(error.code, "INVALID_ID_CARD_NO");
        assert_eq!(error.fields[0].field, "idCardNo");
    }
    assert_eq!(app.wechat.stats().getverifyid_calls, 0);
}

#[tokio::test]
async fn invalid_names_are_422() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    for name in ["", "   ", "张3", "<script>", &"长".repeat(31)] {
        let reply = app
            .start_verification(&citizen.token, name, &id_card_no(3))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {reply:?}"
        );
        assert_eq!(reply.error_code(), "INVALID_NAME");
    }
    assert_eq!(app.wechat.stats().getverifyid_calls, 0);
    let minority = app
        .verify_identity(&citizen.token, "阿依古丽·买买提", &id_card_no(3))
        .await;
    assert_eq!(minority.status, StatusCode::OK, "{minority:?}");
}

/// Every class of `verify_ret` other than 10000 has its own code, and binds nothing.
#[tokio::test]
async fn every_failed_face_has_its_own_code_and_binds_nothing() {
    let app = TestApp::spawn_with(|s| {
        s.limits.face_verifications_per_citizen_per_day = 100;
        s.limits.face_verifications_per_id_card_per_day = 100;
    })
    .await;
    let citizen = app.login().await;
    let cases = [
        (90002, "FACE_VERIFY_CANCELLED"),
        (90004, "FACE_VERIFY_CANCELLED"),
        (90006, "FACE_VERIFY_CANCELLED"),
        (90008, "FACE_CAMERA_NOT_ALLOWED"),
        (90009, "FACE_CAMERA_NOT_ALLOWED"),
        (90010, "FACE_CAMERA_NOT_ALLOWED"),
        (90011, "FACE_NOT_MATCHED"),
        (90014, "FACE_NOT_MATCHED"),
        (10004, "FACE_NOT_MATCHED"),
        (90017, "FACE_VERIFY_TIMEOUT"),
        (90107, "FACE_VERIFY_TIMEOUT"),
        (90001, "FACE_DEVICE_UNSUPPORTED"),
        (90109, "FACE_DEVICE_UNSUPPORTED"),
        (90007, "FACE_VERIFY_SYSTEM_ERROR"),
        (90018, "FACE_VERIFY_SYSTEM_ERROR"),
        (90199, "FACE_VERIFY_SYSTEM_ERROR"),
    ];
    for (verify_ret, code) in cases {
        let started: VerificationStarted = app
            .start_verification(&citizen.token, "张三", &id_card_no(12))
            .await
            .created();
        app.wechat.set_face_result(&started.verify_id, verify_ret);
        let reply = app.complete_verification(&citizen.token, &started.id).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{verify_ret}: {reply:?}"
        );
        assert_eq!(reply.error().code, code, "{verify_ret}");
        // The attempt is over: the same verify_id cannot be turned into a pass afterwards.
        app.wechat.set_face_result(&started.verify_id, FACE_PASSED);
        let again = app.complete_verification(&citizen.token, &started.id).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
        assert_eq!(again.error().code, "VERIFICATION_FINISHED");
    }
    // A verification the mini-program never ran reads as cancelled.
    let started: VerificationStarted = app
        .start_verification(&citizen.token, "张三", &id_card_no(12))
        .await
        .created();
    let reply = app.complete_verification(&citizen.token, &started.id).await;
    assert_eq!(reply.error().code, "FACE_VERIFY_CANCELLED");
    let me: Me = app.get("/api/v1/me", Some(&citizen.token)).await.ok();
    assert!(me.identity.is_none(), "{me:?}");
}

/// WeChat answers a non-zero errcode when the cert_hash is not the one of step 1: here the
/// person stored with the attempt is swapped for another one of the same account's attempts.
#[tokio::test]
async fn a_cert_hash_that_is_not_step_ones_is_refused_and_binds_nothing() {
    use sea_orm::ConnectionTrait as _;
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let zhang: VerificationStarted = app
        .start_verification(&citizen.token, "张三", &id_card_no(13))
        .await
        .created();
    let li: VerificationStarted = app
        .start_verification(&citizen.token, "李四", &id_card_no(14))
        .await
        .created();
    app.wechat.set_face_result(&zhang.verify_id, FACE_PASSED);
    // Audits "only the person WeChat verified is bound": the tampered attempt (another person
    // stored with step 1's verify_id) cannot be made through any route.
    app.db
        .execute_unprepared(&format!(
            "UPDATE identity_verifications SET \
             name_cipher = (SELECT name_cipher FROM identity_verifications WHERE out_seq_no = '{li}'), \
             id_card_cipher = (SELECT id_card_cipher FROM identity_verifications WHERE out_seq_no = '{li}') \
             WHERE out_seq_no = '{zhang}'",
            li = li.id,
            zhang = zhang.id,
        ))
        .await
        .unwrap();
    let reply = app.complete_verification(&citizen.token, &zhang.id).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert_eq!(reply.error().code, "FACE_VERIFY_REFUSED");
    let me: Me = app.get("/api/v1/me", Some(&citizen.token)).await.ok();
    assert!(me.identity.is_none(), "{me:?}");
}

#[tokio::test]
async fn another_account_cannot_complete_my_verification() {
    let app = TestApp::spawn().await;
    let mine = app.login().await;
    let other = app.login().await;
    let started: VerificationStarted = app
        .start_verification(&mine.token, "张三", &id_card_no(15))
        .await
        .created();
    app.wechat.set_face_result(&started.verify_id, FACE_PASSED);
    let reply = app.complete_verification(&other.token, &started.id).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().code, "VERIFICATION_NOT_FOUND");
    let me: Me = app.get("/api/v1/me", Some(&other.token)).await.ok();
    assert!(me.identity.is_none(), "{me:?}");
}

#[tokio::test]
async fn an_expired_verify_id_binds_nothing() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let started: VerificationStarted = app
        .start_verification(&citizen.token, "张三", &id_card_no(16))
        .await
        .created();
    app.wechat.set_face_result(&started.verify_id, FACE_PASSED);
    app.clock.advance(chrono::Duration::seconds(3601));
    app.wechat.advance_clock(Duration::from_secs(3601));
    let id = &started.id;
    let reply = app.complete_verification(&citizen.token, id).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert_eq!(reply.error().code, "VERIFICATION_EXPIRED");
    let again = app.complete_verification(&citizen.token, id).await;
    assert_eq!(again.error().code, "VERIFICATION_FINISHED");
    let me: Me = app.get("/api/v1/me", Some(&citizen.token)).await.ok();
    assert!(me.identity.is_none(), "{me:?}");
}

/// The daily limits are counted in the shared store: two instances, one count.
#[tokio::test]
async fn attempts_are_limited_per_account_and_per_id_number_across_instances() {
    let deployment = Deployment::new().await;
    let limits = |s: &mut gateway::configuration::Settings| {
        s.limits.face_verifications_per_citizen_per_day = 3;
        s.limits.face_verifications_per_id_card_per_day = 2;
    };
    let one = deployment.instance(limits).await;
    let two = deployment.instance(limits).await;
    let a = one.login().await;
    let b = two.login().await;
    let shared_id = id_card_no(17);
    assert_eq!(
        one.start_verification(&a.token, "张三", &shared_id)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        two.start_verification(&b.token, "张三", &shared_id)
            .await
            .status,
        StatusCode::CREATED
    );
    let third = one.start_verification(&b.token, "张三", &shared_id).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{third:?}");
    assert_eq!(third.error().code, "RATE_LIMITED");
    assert!(third.headers.get("retry-after").is_some());

    // a has used one of three; two more for other people, then the fourth is refused.
    for (app, n) in [(&two, 18), (&one, 19)] {
        let reply = app
            .start_verification(&a.token, "张三", &id_card_no(n))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    }
    let fourth = two
        .start_verification(&a.token, "张三", &id_card_no(20))
        .await;
    assert_eq!(fourth.status, StatusCode::TOO_MANY_REQUESTS, "{fourth:?}");
    assert_eq!(deployment.wechat.stats().getverifyid_calls, 4);
}

#[tokio::test]
async fn an_account_keeps_its_verified_identity_but_may_verify_it_again() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let id = id_card_no(5);
    assert_eq!(
        app.verify_identity(&citizen.token, "赵六", &id)
            .await
            .status,
        StatusCode::OK
    );
    let same = app.verify_identity(&citizen.token, "赵六", &id).await;
    assert_eq!(same.status, StatusCode::OK, "{same:?}");
    let other = app
        .start_verification(&citizen.token, "赵六", &id_card_no(6))
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.error().code, "IDENTITY_ALREADY_BOUND");
}

#[tokio::test]
async fn an_unverified_identity_may_be_replaced_by_a_verified_one() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    app.verify_identity(&citizen.token, "赵六", &id_card_no(21))
        .await;
    unverify(&app, &citizen).await;
    let reply: Me = app
        .verify_identity(&citizen.token, "钱七", &id_card_no(22))
        .await
        .ok();
    let identity = reply.identity.expect("bound");
    assert_eq!(identity.name, "钱*");
    assert!(identity.verified);
}

#[tokio::test]
async fn a_change_reaches_every_session_of_the_citizen() {
    let app = TestApp::spawn().await;
    let openid = app.wechat.new_openid();
    let phone_session = app.login_as(&openid).await;
    let pc_session = app.login_as(&openid).await;
    app.verify_identity(&phone_session.token, "孙七", &id_card_no(7))
        .await;
    let seen: Me = app.get("/api/v1/me", Some(&pc_session.token)).await.ok();
    assert_eq!(seen.identity.expect("bound").name, "孙*");
}

/// A verified binding wins over an unverified one (bound before face verification existed) on
/// another account: that account loses it and is told.
#[tokio::test]
async fn a_verified_binding_takes_the_identity_from_an_unverified_one() {
    let app = TestApp::spawn().await;
    let impostor = app.login().await;
    let owner = app.login().await;
    let id = id_card_no(23);
    app.verify_identity(&impostor.token, "王五", &id).await;
    unverify(&app, &impostor).await;

    let reply: Me = app.verify_identity(&owner.token, "王五", &id).await.ok();
    assert!(reply.identity.expect("bound").verified);
    let lost: Me = app.get("/api/v1/me", Some(&impostor.token)).await.ok();
    assert!(lost.identity.is_none(), "{lost:?}");
    let notice = lost.identity_notice.expect("told");
    assert_eq!(notice.kind, IdentityNoticeKind::VerifiedElsewhere);
    assert!(notice.message.contains("人脸核验"), "{notice:?}");
}

/// A newer verification of the same person from a second account moves the identity (the face
/// proves it); the first account is told, and verifying again clears the notice.
#[tokio::test]
async fn a_newer_verification_moves_the_identity_and_tells_the_first_account() {
    let app = TestApp::spawn().await;
    let old_phone = app.login().await;
    let new_phone = app.login().await;
    let id = id_card_no(4);
    app.verify_identity(&old_phone.token, "王五", &id).await;
    let moved = app.verify_identity(&new_phone.token, "王五", &id).await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    let told: Me = app.get("/api/v1/me", Some(&old_phone.token)).await.ok();
    assert!(told.identity.is_none(), "{told:?}");
    assert_eq!(
        told.identity_notice.map(|n| n.kind),
        Some(IdentityNoticeKind::Moved)
    );

    let back = app.verify_identity(&old_phone.token, "王五", &id).await;
    assert_eq!(back.status, StatusCode::OK);
    // The exact shape: the cleared notice is no key at all.
    assert!(back.body.get("identityNotice").is_none(), "{back:?}");
    let now_told: Me = app.get("/api/v1/me", Some(&new_phone.token)).await.ok();
    assert_eq!(
        now_told.identity_notice.map(|n| n.kind),
        Some(IdentityNoticeKind::Moved)
    );
}

/// Accounts on two instances complete verifications of one person at once: the unique index
/// decides, and at the end exactly one account holds the identity while every other is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_verifications_leave_exactly_one_account_holding_the_identity() {
    use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
    let deployment = Deployment::new().await;
    let limits = |s: &mut gateway::configuration::Settings| {
        s.limits.face_verifications_per_id_card_per_day = 100;
    };
    let one = deployment.instance(limits).await;
    let two = deployment.instance(limits).await;
    let id = id_card_no(8);
    let mut attempts = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { &one } else { &two };
        let citizen = app.login().await;
        let started: VerificationStarted = app
            .start_verification(&citizen.token, "周八", &id)
            .await
            .created();
        deployment
            .wechat
            .set_face_result(&started.verify_id, FACE_PASSED);
        attempts.push((app, citizen, started.id));
    }
    let replies = futures::future::join_all(
        attempts
            .iter()
            .map(|(app, citizen, v)| app.complete_verification(&citizen.token, v)),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let mut holders = 0;
    for (app, citizen, _) in &attempts {
        let me: Me = app.get("/api/v1/me", Some(&citizen.token)).await.ok();
        if me.identity.is_some() {
            holders += 1;
            assert!(me.identity_notice.is_none(), "{me:?}");
        } else {
            assert_eq!(
                me.identity_notice.as_ref().map(|n| n.kind),
                Some(IdentityNoticeKind::Moved),
                "{me:?}"
            );
        }
    }
    assert_eq!(holders, 1);
    // Audits "one account per identity" below the API: exactly one row holds the index.
    let bound = entities::citizen::Entity::find()
        .filter(entities::citizen::Column::IdCardIndex.is_not_null())
        .count(&one.db)
        .await
        .unwrap();
    assert_eq!(bound, 1);
}

#[tokio::test]
async fn the_full_id_number_appears_in_no_response_and_no_log_line() {
    let app = TestApp::spawn().await;
    let citizen = app.login().await;
    let id = id_card_no(9);
    app.verify_identity(&citizen.token, "吴九", &id).await;
    app.get("/api/v1/me", Some(&citizen.token)).await;
    let other = app.login().await;
    app.verify_identity_with(&other.token, "吴九", &id, 10004)
        .await;
    let logs = captured_logs();
    assert!(
        logs.contains("identity verified and bound"),
        "the capture sees the binding"
    );
    assert!(!logs.contains(&id), "the full ID number in a log line");
    assert!(!logs.contains("吴九"), "the full name in a log line");
    for body in received_bodies().lock().unwrap().iter() {
        assert!(!body.contains(&id), "the full ID number in a response");
    }
}
