//! Routes: thin handlers that extract, parse into domain types, call one service function and map
//! the result to the wire.

pub mod applications;
pub mod audit;
pub mod auth;
pub mod booking;
pub mod bundles;
pub mod calendar;
pub mod catalogue;
pub mod consents;
pub mod evaluations;
pub mod family;
pub mod frontend;
pub mod halls;
pub mod health;
pub mod licences;
pub mod me;
pub mod notify;
pub mod queue;
pub mod staff;

use actix_web::{HttpResponse, Resource, Route, web};
use miniprogram_api::ErrorCode;

use crate::error::ApiError;

/// A path with its routes; any other method on it is a 405 (actix would fall back to the app's
/// 404 otherwise).
fn resource(path: &str, routes: impl IntoIterator<Item = Route>) -> Resource {
    routes
        .into_iter()
        .fold(web::resource(path), Resource::route)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::new(ErrorCode::MethodNotAllowed))
        }))
}

/// The admin listener's routes (`admin.host`/`admin.port`): readiness and metrics live here only.
pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", [web::get().to(health::healthz)]))
        .service(resource("/readyz", [web::get().to(health::readyz)]))
        .service(resource("/metrics", [web::get().to(health::metrics)]));
}

/// The public API's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", [web::get().to(health::healthz)]))
        .service(resource(
            "/openapi.json",
            [web::get().to(crate::openapi::document)],
        ))
        .service(resource(
            "/.well-known/jwks.json",
            [web::get().to(licences::jwks)],
        ))
        .configure(frontend::configure)
        .service(resource(
            applications::CALLBACK_PATH,
            [web::post().to(applications::case_event)],
        ))
        // Staff routes; more staff capabilities join this scope with their own `.configure(…)`.
        .service(
            // Every staff action that asks to change something is appended to the audit trail.
            web::scope("/staff/v1")
                .wrap(actix_web::middleware::from_fn(crate::audit::record))
                .configure(staff::configure)
                .configure(audit::configure_staff)
                .configure(booking::configure_staff)
                .configure(halls::configure_staff)
                .configure(calendar::configure_staff)
                .configure(catalogue::configure_staff)
                .configure(licences::configure_staff)
                .configure(queue::configure_staff)
                .configure(applications::configure_staff)
                .configure(evaluations::configure_staff),
        )
        .service(
            web::scope("/api/v1")
                // The hottest paths first: actix tries a scope's resources in order, each
                // dynamic one (`{…}`) a regex match, and every authenticated read pays for
                // those before its own (a profile of `bench me` put it at 7% of the CPU).
                // Static paths, so moving them changes no other route's match.
                .service(resource("/me", [web::get().to(me::get_me)]))
                .service(resource("/auth/login", [web::post().to(auth::login)]))
                .service(resource("/auth/logout", [web::post().to(auth::logout)]))
                .configure(halls::configure_public)
                .configure(catalogue::configure_public)
                .configure(bundles::configure_public)
                .configure(calendar::configure_public)
                .configure(licences::configure_citizen)
                .configure(applications::configure_citizen)
                .configure(bundles::configure_citizen)
                .configure(family::configure_citizen)
                .configure(consents::configure_citizen)
                .configure(evaluations::configure_citizen)
                .service(resource("/me/phone", [web::post().to(me::bind_phone)]))
                .service(resource("/me/identity", [web::put().to(me::bind_identity)]))
                .service(resource(
                    "/me/identity/verifications",
                    [web::post().to(me::start_verification)],
                ))
                .service(resource(
                    "/me/identity/verifications/{id}/complete",
                    [web::post().to(me::complete_verification)],
                ))
                .service(resource(
                    "/subscriptions",
                    [web::get().to(notify::list), web::post().to(notify::record)],
                ))
                .service(resource("/messages", [web::get().to(notify::inbox)]))
                .service(resource(
                    "/halls/{hall_code}/slots",
                    [web::get().to(booking::availability)],
                ))
                .service(resource(
                    "/bookings",
                    [web::get().to(booking::mine), web::post().to(booking::book)],
                ))
                .service(resource("/bookings/{id}", [web::get().to(booking::get)]))
                .service(resource(
                    "/bookings/{id}/cancel",
                    [web::post().to(booking::cancel)],
                ))
                .service(resource(
                    "/bookings/{id}/reschedule",
                    [web::post().to(booking::reschedule)],
                ))
                .service(resource(
                    "/bookings/{id}/check-in",
                    [web::post().to(booking::check_in)],
                ))
                .service(resource(
                    "/halls/{hall_code}/tickets",
                    [web::post().to(queue::take)],
                ))
                .service(resource(
                    "/halls/{hall_code}/board",
                    [web::get().to(queue::board)],
                ))
                .service(resource(
                    "/halls/{hall_code}/board/live",
                    [web::get().to(queue::board_live)],
                ))
                .service(resource(
                    "/citizen-code",
                    [web::post().to(queue::citizen_code)],
                ))
                .service(resource("/tickets", [web::get().to(queue::mine)]))
                .service(resource("/tickets/{id}", [web::get().to(queue::get)]))
                .service(resource(
                    "/tickets/{id}/cancel",
                    [web::post().to(queue::cancel)],
                ))
                .service(resource(
                    "/tickets/{id}/live",
                    [web::get().to(queue::ticket_live)],
                ))
                .service(resource(
                    "/messages/{id}/read",
                    [web::post().to(notify::mark_read)],
                )),
        );
}
