//! The in-process session cache across two gateway instances sharing one store (one Redis, or
//! the one in-process store standing in for it): a session is served from an instance's cache
//! for at most `services::sessions::CACHE_DEPTH` after the store read behind it, and a logout, a
//! profile change or a revocation on one instance reaches the other through the store's pub/sub
//! well before that.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use services::sessions::CACHE_DEPTH;
use services::staff::{HallScope, Role};
use sha2::{Digest as _, Sha256};

use crate::helpers::{Deployment, TestApp};

/// Instances subscribe to the invalidations as they start; until then they cache nothing.
async fn two_instances(deployment: &Deployment) -> (TestApp, TestApp) {
    let one = deployment.instance(|_| {}).await;
    let two = deployment.instance(|_| {}).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (one, two)
}

/// Asks `two` for `path` until it answers `expected`, and returns when it did; panics if it
/// still has not after twice the cache's depth.
async fn until_status(
    app: &TestApp,
    path: &str,
    token: &str,
    expected: StatusCode,
) -> (Instant, crate::helpers::Reply) {
    let deadline = Instant::now() + 2 * CACHE_DEPTH;
    loop {
        let reply = app.get(path, Some(token)).await;
        if reply.status == expected {
            return (Instant::now(), reply);
        }
        assert!(
            Instant::now() < deadline,
            "still {} after twice the cache's depth: {reply:?}",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Without any message, a session gone from the store is still served from an instance's cache
/// — so the cache is on — but never later than the depth after the read behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_session_is_served_no_longer_than_the_cache_depth() {
    let deployment = Deployment::new().await;
    let (one, two) = two_instances(&deployment).await;
    let citizen = one.login().await;
    let read = Instant::now();
    assert_eq!(
        two.get("/api/v1/me", Some(&citizen.token)).await.status,
        StatusCode::OK
    );
    // Behind the gateways' backs: no invalidation is published.
    let hash = hex::encode(Sha256::digest(citizen.token.as_bytes()));
    assert!(
        deployment
            .store
            .delete(&format!("sess:{{{hash}}}"))
            .await
            .unwrap()
    );
    let cached = two.get("/api/v1/me", Some(&citizen.token)).await;
    if read.elapsed() < CACHE_DEPTH {
        assert_eq!(
            cached.status,
            StatusCode::OK,
            "served from the cache: {cached:?}"
        );
    }
    let (refused_at, reply) =
        until_status(&two, "/api/v1/me", &citizen.token, StatusCode::UNAUTHORIZED).await;
    assert_eq!(reply.error_code(), "SESSION_EXPIRED");
    assert!(
        refused_at.duration_since(read) <= CACHE_DEPTH + Duration::from_millis(500),
        "refused {:?} after the read, past the bound of {CACHE_DEPTH:?}",
        refused_at.duration_since(read)
    );
    // The instance that never cached it refuses it at once.
    assert_eq!(
        one.get("/api/v1/me", Some(&citizen.token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A logout on one instance is refused on the other before its cached copy would lapse: the
/// pub/sub message, not the depth, ended it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_on_the_other_within_the_bound() {
    let deployment = Deployment::new().await;
    let (one, two) = two_instances(&deployment).await;
    let citizen = one.login().await;
    let read = Instant::now();
    for _ in 0..3 {
        assert_eq!(
            two.get("/api/v1/me", Some(&citizen.token)).await.status,
            StatusCode::OK
        );
    }
    let logout = one
        .post("/api/v1/auth/logout", Some(&citizen.token), &json!({}))
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{logout:?}");
    let (refused_at, reply) =
        until_status(&two, "/api/v1/me", &citizen.token, StatusCode::UNAUTHORIZED).await;
    assert_eq!(reply.error_code(), "SESSION_EXPIRED");
    assert!(
        refused_at.duration_since(read) < CACHE_DEPTH,
        "refused only {:?} after the cached read: the invalidation never arrived",
        refused_at.duration_since(read)
    );
    assert_eq!(
        one.get("/api/v1/me", Some(&citizen.token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A profile change on one instance (a phone bound) shows on the other before its cached copy
/// would lapse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_change_on_one_instance_shows_on_the_other_within_the_bound() {
    let deployment = Deployment::new().await;
    let (one, two) = two_instances(&deployment).await;
    let citizen = one.login().await;
    let read = Instant::now();
    let before = two.get("/api/v1/me", Some(&citizen.token)).await;
    assert_eq!(before.status, StatusCode::OK, "{before:?}");
    assert!(before.body["phone"].is_null(), "{before:?}");
    let bound = one
        .post(
            "/api/v1/me/phone",
            Some(&citizen.token),
            &json!({ "code": deployment.wechat.mint_phone_code("13800138000") }),
        )
        .await;
    assert_eq!(bound.status, StatusCode::OK, "{bound:?}");
    let deadline = read + CACHE_DEPTH;
    loop {
        let reply = two.get("/api/v1/me", Some(&citizen.token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        if reply.body["phone"] == bound.body["phone"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old profile is still served at the cache's depth: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A staff member deactivated on one instance is refused on the other before their cached
/// session would lapse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_refused_on_the_other_within_the_bound() {
    let deployment = Deployment::new().await;
    let (one, two) = two_instances(&deployment).await;
    let offline = gateway::startup::offline_staff_service(one.db.clone());
    let password = "correct-horse-battery";
    offline
        .create(
            "chief",
            password.to_owned().into(),
            "管理员",
            vec![(Role::Admin, HallScope::All)],
        )
        .await
        .unwrap();
    let clerk = offline
        .create(
            "clerk.cache",
            password.to_owned().into(),
            "窗口人员",
            vec![(Role::Verifier, HallScope::All)],
        )
        .await
        .unwrap();
    let admin = crate::helpers::staff_token(&one, "chief", password).await;
    let token = crate::helpers::staff_token(&two, "clerk.cache", password).await;
    let read = Instant::now();
    assert_eq!(
        two.get("/staff/v1/me", Some(&token)).await.status,
        StatusCode::OK
    );
    let done = one
        .post(
            &format!("/staff/v1/staff/{clerk}/deactivate"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{done:?}");
    let (refused_at, reply) =
        until_status(&two, "/staff/v1/me", &token, StatusCode::UNAUTHORIZED).await;
    assert_eq!(reply.error_code(), "SESSION_EXPIRED");
    assert!(
        refused_at.duration_since(read) < CACHE_DEPTH,
        "refused only {:?} after the cached read: the invalidation never arrived",
        refused_at.duration_since(read)
    );
}
