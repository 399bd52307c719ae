//! A family member's 一件事 end to end (issue 19, the demo case 新生儿出生一件事): the parent
//! adds the newborn as a family member, applies for the bundle with `?memberId=`, and the
//! platform receives it with the child as the applicant and the parent as the agent (代办人).

use miniprogram_api::applications::ApplicationList;
use miniprogram_api::bundles::{BundleApplication, BundleApplicationList};
use sea_orm::EntityTrait as _;
use simulators::province::{BIRTH_RECORD, HOUSEHOLD, PARENTS_ID};

use crate::bundles::{World, until};
use crate::helpers::id_card_no;

#[tokio::test]
async fn a_newborns_bundle_is_applied_for_by_the_parent_as_agent_and_listed_as_the_members() {
    let world = World::new().await;
    let app = &world.app;
    let parent = world.citizen(1931).await;
    let child = id_card_no(1932);
    let member = app.add_member(&parent.token, "王小宝", &child).await;
    let materials = world
        .materials(&parent, &[PARENTS_ID, BIRTH_RECORD, HOUSEHOLD])
        .await;
    let reply = app
        .post(
            &format!("/api/v1/bundle-applications?memberId={member}"),
            Some(&parent.token),
            &world.application(&materials, &[]),
        )
        .await
        .created::<BundleApplication>();
    assert_eq!(reply.member_id, Some(member));
    let id = reply.id;
    let view = until(app, &parent, &id, "the parts", |v| v.parts.len() == 3).await;
    assert_eq!(view.member_id, Some(member));

    // Forwarded once, the child as the applicant and the parent as the agent.
    let ledger = world.province.bundle_ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].client_request_id, id);
    assert_eq!(ledger[0].applicant_cert_no, child);
    assert_eq!(
        ledger[0].agent_cert_no.as_deref(),
        Some(id_card_no(1931).as_str())
    );
    // Audits "stored and never shown": stored for the member by the parent, and encrypted —
    // neither number is in the row in the clear.
    let row = entities::bundle_application::Entity::find_by_id(id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.member_id, Some(member));
    assert_eq!(row.citizen_id, parent.id());
    assert!(row.on_behalf);
    assert!(!row.private_cipher.contains(&child));
    assert!(!row.private_cipher.contains(&id_card_no(1931)));

    // The parent's lists: the bundle, marked as the member's …
    let bundles = app
        .get("/api/v1/bundle-applications", Some(&parent.token))
        .await;
    // The view never shows the child's ID number in the clear.
    assert!(!serde_json::to_string(&view).unwrap().contains(&child));
    assert!(!bundles.text.contains(&child));
    let bundles: BundleApplicationList = bundles.ok();
    assert_eq!(bundles.total, 1, "{bundles:?}");
    assert_eq!(bundles.bundle_applications[0].id, id);
    assert_eq!(bundles.bundle_applications[0].member_id, Some(member));
    // … and its parts among the applications, each the member's too.
    let applications: ApplicationList = app
        .get("/api/v1/applications", Some(&parent.token))
        .await
        .ok();
    let parts: Vec<_> = applications
        .applications
        .iter()
        .filter(|a| a.item_name.starts_with("新生儿出生一件事·"))
        .collect();
    assert_eq!(parts.len(), 3, "{applications:?}");
    assert!(
        parts.iter().all(|p| p.member_id == Some(member)),
        "{parts:?}"
    );
}
