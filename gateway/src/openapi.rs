//! The OpenAPI document, generated from the handlers and the wire types.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

mod contract;
use contract::Contract;

#[derive(OpenApi)]
#[openapi(
    info(title = "掌上办 mini-program API", description = "The API the 掌上办 WeChat mini-program calls. Every error body is `ErrorBody`."),
    paths(
        crate::routes::auth::login,
        crate::routes::auth::logout,
        crate::routes::me::get_me,
        crate::routes::me::bind_phone,
        crate::routes::me::bind_identity,
        crate::routes::me::start_verification,
        crate::routes::me::complete_verification,
        crate::routes::family::members,
        crate::routes::family::start,
        crate::routes::family::complete,
        crate::routes::family::revoke_member,
        crate::routes::family::relations,
        crate::routes::family::revoke_relation,
        crate::routes::consents::list,
        crate::routes::consents::accept,
        crate::routes::consents::refuse,
        crate::routes::notify::record,
        crate::routes::notify::list,
        crate::routes::notify::inbox,
        crate::routes::notify::mark_read,
        crate::routes::staff::login,
        crate::routes::staff::logout,
        crate::routes::staff::me,
        crate::routes::staff::create,
        crate::routes::staff::list,
        crate::routes::staff::deactivate,
        crate::routes::staff::activate,
        crate::routes::staff::reset_password,
        crate::routes::staff::change_own_password,
        crate::routes::staff::set_roles,
        crate::routes::audit::list,
        crate::routes::audit::export,
        crate::routes::booking::availability,
        crate::routes::booking::book,
        crate::routes::booking::mine,
        crate::routes::booking::get,
        crate::routes::booking::cancel,
        crate::routes::booking::reschedule,
        crate::routes::booking::check_in,
        crate::routes::booking::hall_bookings,
        crate::routes::booking::staff_check_in,
        crate::routes::booking::close_day,
        crate::routes::halls::public_list,
        crate::routes::halls::public_get,
        crate::routes::halls::create,
        crate::routes::halls::list,
        crate::routes::halls::get,
        crate::routes::halls::update,
        crate::routes::halls::set_hours,
        crate::routes::halls::put_exception,
        crate::routes::halls::delete_exception,
        crate::routes::halls::create_category,
        crate::routes::halls::update_category,
        crate::routes::halls::create_counter,
        crate::routes::halls::update_counter,
        crate::routes::halls::map_item,
        crate::routes::halls::unmap_item,
        crate::routes::halls::check_in_qr,
        crate::routes::catalogue::search,
        crate::routes::catalogue::item,
        crate::routes::catalogue::sync,
        crate::routes::calendar::put_year,
        crate::routes::calendar::get_year,
        crate::routes::calendar::days,
        crate::routes::licences::list,
        crate::routes::licences::detail,
        crate::routes::licences::reveal,
        crate::routes::licences::present,
        crate::routes::licences::uses,
        crate::routes::licences::verify,
        crate::routes::licences::jwks,
        crate::routes::queue::take,
        crate::routes::queue::mine,
        crate::routes::queue::get,
        crate::routes::queue::cancel,
        crate::routes::queue::citizen_code,
        crate::routes::queue::ticket_live,
        crate::routes::queue::board,
        crate::routes::queue::board_live,
        crate::routes::queue::issue,
        crate::routes::queue::desk,
        crate::routes::queue::call_next,
        crate::routes::queue::act,
        crate::routes::queue::stats,
        crate::routes::queue::workstation,
        crate::routes::queue::counter_live,
        crate::routes::booking::brief,
        crate::routes::applications::upload,
        crate::routes::applications::material,
        crate::routes::applications::submit,
        crate::routes::applications::mine,
        crate::routes::applications::get,
        crate::routes::applications::supplement,
        crate::routes::applications::case_event,
        crate::routes::applications::parked,
        crate::routes::applications::replay,
        crate::routes::bundles::search,
        crate::routes::bundles::guide,
        crate::routes::bundles::apply,
        crate::routes::bundles::mine,
        crate::routes::bundles::get,
        crate::routes::evaluations::pending,
        crate::routes::evaluations::rate,
        crate::routes::evaluations::mine,
        crate::routes::evaluations::follow_up,
        crate::routes::evaluations::rectifications,
        crate::routes::evaluations::contact,
        crate::routes::evaluations::rectify,
        crate::routes::evaluations::decide_comment,
        crate::routes::evaluations::in_review,
        crate::routes::evaluations::settings,
        crate::routes::evaluations::stats,
        crate::routes::evaluations::department_stats,
        crate::routes::evaluations::inbox,
        crate::routes::evaluations::mark_read,
    ),
    components(schemas(miniprogram_api::ErrorBody, miniprogram_api::ErrorCode)),
    modifiers(&BearerAuth, &Contract)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as pretty-printed JSON, as `gateway openapi` prints it.
///
/// # Errors
/// Never in practice: the document is built from static types.
pub fn pretty() -> serde_json::Result<String> {
    serde_json::to_string_pretty(&ApiDoc::openapi())
}

/// `GET /openapi.json`
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use miniprogram_api::ErrorCode;
    use serde_json::Value;

    use super::*;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    #[test]
    fn the_error_code_schema_lists_exactly_the_codes_bodies_carry() {
        let doc = document();
        let listed = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let wire: Vec<Value> = ErrorCode::ALL
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        assert_eq!(listed, wire);
        assert_eq!(
            doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["$ref"],
            "#/components/schemas/ErrorCode"
        );
    }

    /// One convention for lists: the array is named after what it lists; `items` holds service
    /// items (事项: the catalogue's, a hall's) and nothing else.
    #[test]
    fn lists_are_named_after_what_they_list() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (name, schema) in schemas {
            let Some(listed) = schema["properties"].get("items") else {
                continue;
            };
            let of = listed["items"]["$ref"].as_str().unwrap_or_default();
            assert!(
                // A 一件事 bundle's guide, and a booking of a bundle, list the service items
                // it joins.
                of.ends_with("/ItemSummary")
                    || of.ends_with("/HallItem")
                    || of.ends_with("/BundleItem")
                    || of.ends_with("/BookedBundleItem"),
                "{name} lists {of} under `items`"
            );
        }
        for list in ["ApplicationList", "ParkedList"] {
            assert_eq!(
                schemas[list]["properties"]["applications"]["type"], "array",
                "{list}"
            );
        }
        // The item guide's materials are their own schema, not the uploaded file's.
        assert_eq!(
            schemas["ItemGuide"]["properties"]["materials"]["items"]["$ref"],
            "#/components/schemas/RequiredMaterial"
        );
        assert!(schemas["Material"]["properties"].get("sha256").is_some());
    }
}
