//! The calls of the family capability (一部手机绑定多人) and a verified citizen, as the
//! mini-program makes them.

use miniprogram_api::family::{FamilyMember, FamilyMemberList};
use miniprogram_api::me::{BindIdentityRequest, VerificationStarted};
use reqwest::StatusCode;
use serde_json::json;

use crate::api::Reply;
use crate::app::{Citizen, FACE_PASSED, TestApp, id_card_no};

impl TestApp {
    /// A citizen logged in and verified as `name` / `id_card_no(n)`.
    pub async fn verified_citizen(&self, name: &str, n: u32) -> Citizen {
        let citizen = self.login().await;
        let reply = self
            .verify_identity(&citizen.token, name, &id_card_no(n))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "verify {name}: {reply:?}");
        citizen
    }

    /// Adds a family member the way the mini-program does: starts the member's face
    /// verification, lets the simulated face come to `verify_ret`, completes it. Returns the
    /// reply of the step that answered last.
    pub async fn add_member_with(
        &self,
        token: &str,
        name: &str,
        id_card_no: &str,
        verify_ret: i64,
    ) -> Reply {
        let started = self
            .post(
                "/api/v1/family/members/verifications",
                Some(token),
                &BindIdentityRequest {
                    name: name.to_owned(),
                    id_card_no: id_card_no.to_owned(),
                },
            )
            .await;
        if started.status != StatusCode::CREATED {
            return started;
        }
        let started: VerificationStarted = started.json();
        assert!(self.wechat.set_face_result(&started.verify_id, verify_ret));
        self.post(
            &format!(
                "/api/v1/family/members/verifications/{}/complete",
                started.id
            ),
            Some(token),
            &json!({}),
        )
        .await
    }

    /// Adds a member whose face passes; returns the member's id.
    pub async fn add_member(&self, token: &str, name: &str, id_card_no: &str) -> i64 {
        let reply = self
            .add_member_with(token, name, id_card_no, FACE_PASSED)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "add {name}: {reply:?}");
        reply.json::<FamilyMember>().id
    }

    /// `GET /api/v1/family/members`.
    pub async fn members(&self, token: &str) -> FamilyMemberList {
        self.get("/api/v1/family/members", Some(token)).await.ok()
    }
}
