//! Halls. Citizens: `GET /api/v1/halls`, `GET /api/v1/halls/{hallCode}` (no login). Hall
//! administrators, under `/staff/v1/halls…`: the hall and its rules, weekly hours, date
//! exceptions, categories, counters, which category handles an item, and the check-in QR. Only a
//! global admin creates halls; every other staff route needs the admin role at that hall.

mod admin;
mod convert;
mod public;

use actix_web::web;

use crate::routes::resource;

pub use self::admin::*;
pub use self::public::*;

/// The citizen routes, under `/api/v1`.
pub fn configure_public(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/halls", [web::get().to(public_list)]))
        .service(resource("/halls/{hall_code}", [web::get().to(public_get)]));
}

/// The administrators' routes, under `/staff/v1`.
pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/halls",
        [web::get().to(list), web::post().to(create)],
    ))
    .service(resource(
        "/halls/{hall_id}",
        [web::get().to(get), web::put().to(update)],
    ))
    .service(resource(
        "/halls/{hall_id}/hours",
        [web::put().to(set_hours)],
    ))
    .service(resource(
        "/halls/{hall_id}/exceptions/{date}",
        [
            web::put().to(put_exception),
            web::delete().to(delete_exception),
        ],
    ))
    .service(resource(
        "/halls/{hall_id}/categories",
        [web::post().to(create_category)],
    ))
    .service(resource(
        "/halls/{hall_id}/categories/{id}",
        [web::put().to(update_category)],
    ))
    .service(resource(
        "/halls/{hall_id}/counters",
        [web::post().to(create_counter)],
    ))
    .service(resource(
        "/halls/{hall_id}/counters/{id}",
        [web::put().to(update_counter)],
    ))
    .service(resource(
        "/halls/{hall_id}/items/{item_code}",
        [web::put().to(map_item), web::delete().to(unmap_item)],
    ))
    .service(resource(
        "/halls/{hall_id}/check-in-qr",
        [web::get().to(check_in_qr)],
    ));
}
