//! The halls as citizens see them (no login).

use actix_web::web;
use miniprogram_api::ErrorBody;
use miniprogram_api::halls as wire;

use crate::error::ApiError;
use crate::startup::AppState;

use super::convert::*;

/// The open halls and their weekly hours.
#[utoipa::path(
    get, path = "/api/v1/halls", tag = "halls",
    responses((status = 200, body = wire::PublicHallList))
)]
pub async fn public_list(
    state: web::Data<AppState>,
) -> Result<web::Json<wire::PublicHallList>, ApiError> {
    let halls = state.halls.public_halls().await?;
    Ok(web::Json(wire::PublicHallList {
        halls: halls.into_iter().map(public_to_wire).collect(),
    }))
}

/// An open hall, its weekly hours and its closures of the coming two months.
#[utoipa::path(
    get, path = "/api/v1/halls/{hallCode}", tag = "halls",
    params(("hallCode" = String, Path)),
    responses((status = 200, body = wire::PublicHall), (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody))
)]
pub async fn public_get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<wire::PublicHall>, ApiError> {
    let hall = state
        .halls
        .public_hall(&path.into_inner(), today(&state))
        .await?
        .ok_or_else(hall_not_found)?;
    Ok(web::Json(public_to_wire(hall)))
}
