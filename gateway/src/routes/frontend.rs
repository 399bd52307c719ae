//! The staff console (`/console/`) and the hall display board (`/board/{hallCode}`): the built
//! front end of `gateway/web`, embedded at compile time (see `gateway/build.rs`), served with
//! strict headers. Pages are `no-store` (a console page must not outlive its session in a shared
//! counter PC's cache); the hashed files under `/assets/` never change and are cached for a
//! year. The CSP allows no inline script and no inline `<style>`: everything comes from this
//! origin, sockets included.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use miniprogram_api::ErrorCode;

use crate::error::ApiError;

pub struct Asset {
    pub path: &'static str,
    pub mime: &'static str,
    pub body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The Content-Security-Policy of every page. `style-src 'self'`: Vue and Element Plus set
/// styles through the CSSOM, which a CSP does not restrict; `img-src data: blob:` for the QR
/// codes drawn in the browser; `media-src blob:` for the camera preview.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
     media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    use super::resource;
    cfg.service(resource("/console", [web::get().to(to_console)]))
        .service(resource("/console/", [web::get().to(console)]))
        .service(resource("/board/{hall_code}", [web::get().to(board)]))
        .service(resource("/assets/{file}", [web::get().to(asset)]));
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The security headers every front-end answer carries.
fn secured(mut res: HttpResponse, camera: bool) -> HttpResponse {
    let headers = res.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        headers.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set("content-security-policy", CSP);
    set("x-content-type-options", "nosniff");
    set("x-frame-options", "DENY");
    set("referrer-policy", "no-referrer");
    set("cross-origin-opener-policy", "same-origin");
    set("cross-origin-resource-policy", "same-origin");
    set(
        "permissions-policy",
        if camera {
            "camera=(self), microphone=(), geolocation=()"
        } else {
            "camera=(), microphone=(), geolocation=()"
        },
    );
    res
}

fn page(path: &str, cache: &'static str, camera: bool) -> Result<HttpResponse, ApiError> {
    let asset = find(path).ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let res = HttpResponse::Ok()
        .content_type(asset.mime)
        .insert_header((header::CACHE_CONTROL, cache))
        .body(asset.body);
    Ok(secured(res, camera))
}

async fn to_console() -> HttpResponse {
    secured(
        HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, "/console/"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        false,
    )
}

async fn console() -> Result<HttpResponse, ApiError> {
    page("console/index.html", "no-store", true)
}

/// Any hall code: the page reads it from its address and the board's socket answers for it.
async fn board(_hall_code: web::Path<String>) -> Result<HttpResponse, ApiError> {
    page("board/index.html", "no-cache", false)
}

async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = format!("assets/{}", file.into_inner());
    page(&path, "public, max-age=31536000, immutable", false)
}
