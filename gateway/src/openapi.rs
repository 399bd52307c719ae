//! The OpenAPI document, generated from the handlers and the wire types.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "掌上办 mini-program API", description = "The API the 掌上办 WeChat mini-program calls. Every error body is `ErrorBody`."),
    paths(
        crate::routes::auth::login,
        crate::routes::auth::logout,
        crate::routes::me::get_me,
        crate::routes::me::bind_phone,
        crate::routes::me::bind_identity,
        crate::routes::notify::record,
        crate::routes::notify::list,
        crate::routes::notify::inbox,
        crate::routes::notify::mark_read,
    ),
    components(schemas(miniprogram_api::ErrorBody, miniprogram_api::ErrorCode)),
    modifiers(&BearerAuth)
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

/// `GET /openapi.json`
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
