//! The hall administrators' routes, under `/staff/v1/halls…`.

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use miniprogram_api::halls as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::halls::{
    CategoryInput, CounterInput, CreateHallError, DayException, HallCode, HallRules, HallUpdate,
    MapItemError, NewHall, Text, UpdateHallError,
};
use services::staff::{HallScope, Role};

use crate::error::ApiError;
use crate::extract::CurrentStaff;
use crate::startup::AppState;

use super::convert::*;

/// Create a hall (global admins).
#[utoipa::path(
    post, path = "/staff/v1/halls", tag = "halls",
    request_body = wire::CreateHallRequest,
    responses(
        (status = 201, body = wire::Hall),
        (status = 403, description = "FORBIDDEN: not a global admin", body = ErrorBody),
        (status = 409, description = "HALL_CODE_TAKEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    body: web::Json<wire::CreateHallRequest>,
) -> Result<HttpResponse, ApiError> {
    if !staff.0.is_global_admin() {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    let new = NewHall {
        code: HallCode::parse(&body.code).map_err(invalid)?,
        name: Text::parse("name", &body.name, 100).map_err(invalid)?,
        address: Text::parse("address", &body.address, 200).map_err(invalid)?,
        rules: HallRules::default()
            .patched(&patch_from_wire(&body.rules)?)
            .validate()
            .map_err(invalid)?,
    };
    let hall = state.halls.create(new).await.map_err(|e| match e {
        CreateHallError::CodeTaken => ApiError::new(ErrorCode::HallCodeTaken),
        CreateHallError::Unexpected(e) => ApiError::unexpected(e),
    })?;
    Ok(HttpResponse::Created().json(detail_to_wire(hall)))
}

/// The halls the member has a role at; every hall for a role at every hall.
#[utoipa::path(
    get, path = "/staff/v1/halls", tag = "halls",
    responses((status = 200, body = wire::HallList)),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    staff: CurrentStaff,
) -> Result<web::Json<wire::HallList>, ApiError> {
    let roles = &staff.0.roles;
    let only: Option<Vec<i64>> = if roles.iter().any(|(_, scope)| *scope == HallScope::All) {
        None
    } else {
        Some(
            roles
                .iter()
                .filter_map(|(_, scope)| scope.hall_id())
                .collect(),
        )
    };
    let halls = state.halls.list(only.as_deref()).await?;
    Ok(web::Json(wire::HallList {
        halls: halls.into_iter().map(summary_to_wire).collect(),
    }))
}

/// A hall with everything set on it (admins of the hall).
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}", tag = "halls",
    params(("hallId" = i64, Path)),
    responses(
        (status = 200, body = wire::Hall),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
) -> Result<web::Json<wire::Hall>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let hall = state
        .halls
        .detail(hall_id, today(&state))
        .await?
        .ok_or_else(hall_not_found)?;
    Ok(web::Json(detail_to_wire(hall)))
}

/// Change a hall's name, address, rules or standing; what is not given stays.
#[utoipa::path(
    put, path = "/staff/v1/halls/{hallId}", tag = "halls",
    params(("hallId" = i64, Path)),
    request_body = wire::UpdateHallRequest,
    responses(
        (status = 200, body = wire::HallSummary),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::UpdateHallRequest>,
) -> Result<web::Json<wire::HallSummary>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let update = HallUpdate {
        name: body
            .name
            .as_deref()
            .map(|n| Text::parse("name", n, 100))
            .transpose()
            .map_err(invalid)?,
        address: body
            .address
            .as_deref()
            .map(|a| Text::parse("address", a, 200))
            .transpose()
            .map_err(invalid)?,
        rules: patch_from_wire(&body.rules)?,
        active: body.active,
    };
    let hall = state
        .halls
        .update(hall_id, update)
        .await
        .map_err(|e| match e {
            UpdateHallError::NotFound => hall_not_found(),
            UpdateHallError::Invalid(e) => invalid(e),
            UpdateHallError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(summary_to_wire(hall)))
}

/// Replace the weekly opening hours; a weekday not listed is closed.
#[utoipa::path(
    put, path = "/staff/v1/halls/{hallId}/hours", tag = "halls",
    params(("hallId" = i64, Path)),
    request_body = wire::SetHoursRequest,
    responses(
        (status = 200, body = wire::SetHoursRequest),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED: a bad time, weekday or break", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_hours(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::SetHoursRequest>,
) -> Result<web::Json<wire::SetHoursRequest>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let week = hours_from_wire(&body.days).map_err(invalid)?;
    state
        .halls
        .set_hours(hall_id, &week)
        .await
        .map_err(edit_error)?;
    // The days already cut follow the new hours.
    state.booking.hours_changed(hall_id, None).await?;
    Ok(web::Json(wire::SetHoursRequest {
        days: hours_to_wire(&week),
    }))
}

/// Close the hall on a date, or open it at other hours.
#[utoipa::path(
    put, path = "/staff/v1/halls/{hallId}/exceptions/{date}", tag = "halls",
    params(("hallId" = i64, Path), ("date" = String, Path, description = "YYYY-MM-DD")),
    request_body = wire::PutExceptionRequest,
    responses(
        (status = 200, body = wire::DateException),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_exception(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(i64, NaiveDate)>,
    body: web::Json<wire::PutExceptionRequest>,
) -> Result<web::Json<wire::DateException>, ApiError> {
    let (hall_id, day) = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let exception = DayException::parse(
        crate::extract::day("date", day)?.date(),
        body.closed,
        body.opens.as_deref(),
        body.closes.as_deref(),
        body.note.as_deref(),
    )
    .map_err(invalid)?;
    state
        .halls
        .put_exception(hall_id, &exception)
        .await
        .map_err(edit_error)?;
    // The day's slots, if cut already, follow the exception.
    state
        .booking
        .hours_changed(hall_id, Some(exception.day))
        .await?;
    Ok(web::Json(exception_to_wire(&exception)))
}

/// Remove a date's exception (the regular hours apply again).
#[utoipa::path(
    delete, path = "/staff/v1/halls/{hallId}/exceptions/{date}", tag = "halls",
    params(("hallId" = i64, Path), ("date" = String, Path, description = "YYYY-MM-DD")),
    responses(
        (status = 204, description = "removed, or there was none"),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete_exception(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(i64, NaiveDate)>,
) -> Result<HttpResponse, ApiError> {
    let (hall_id, day) = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let day = crate::extract::day("date", day)?.date();
    state
        .halls
        .delete_exception(hall_id, day)
        .await
        .map_err(edit_error)?;
    state.booking.hours_changed(hall_id, Some(day)).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn category_input(body: &wire::CategoryRequest) -> Result<CategoryInput, ApiError> {
    CategoryInput::parse(&body.code, &body.name, &body.prefix, body.seats_per_slot).map_err(invalid)
}

/// Add a category of items, with its queue prefix.
#[utoipa::path(
    post, path = "/staff/v1/halls/{hallId}/categories", tag = "halls",
    params(("hallId" = i64, Path)),
    request_body = wire::CategoryRequest,
    responses(
        (status = 201, body = wire::Category),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "CATEGORY_CODE_TAKEN, QUEUE_PREFIX_TAKEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_category(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::CategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let input = category_input(&body)?;
    let category = state
        .halls
        .create_category(hall_id, &input)
        .await
        .map_err(category_error)?;
    Ok(HttpResponse::Created().json(category_to_wire(category)))
}

/// Replace a category's code, name, prefix and seats per slot.
#[utoipa::path(
    put, path = "/staff/v1/halls/{hallId}/categories/{id}", tag = "halls",
    params(("hallId" = i64, Path), ("id" = i64, Path)),
    request_body = wire::CategoryRequest,
    responses(
        (status = 200, body = wire::Category),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND, CATEGORY_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "CATEGORY_CODE_TAKEN, QUEUE_PREFIX_TAKEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_category(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(i64, i64)>,
    body: web::Json<wire::CategoryRequest>,
) -> Result<web::Json<wire::Category>, ApiError> {
    let (hall_id, id) = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let input = category_input(&body)?;
    let category = state
        .halls
        .update_category(hall_id, id, &input)
        .await
        .map_err(category_error)?;
    Ok(web::Json(category_to_wire(category)))
}

fn counter_input(body: &wire::CounterRequest) -> Result<CounterInput, ApiError> {
    let categories: Vec<(i64, i64)> = body
        .categories
        .iter()
        .map(|c| (c.category_id, c.weight))
        .collect();
    CounterInput::parse(body.number, &body.name, body.active, &categories)
        .and_then(|input| input.with_spoken_name(body.spoken_name.as_deref()))
        .map_err(invalid)
}

/// Add a counter and the categories it serves.
#[utoipa::path(
    post, path = "/staff/v1/halls/{hallId}/counters", tag = "halls",
    params(("hallId" = i64, Path)),
    request_body = wire::CounterRequest,
    responses(
        (status = 201, body = wire::Counter),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND, CATEGORY_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "COUNTER_NUMBER_TAKEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_counter(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::CounterRequest>,
) -> Result<HttpResponse, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let input = counter_input(&body)?;
    let counter = state
        .halls
        .create_counter(hall_id, &input)
        .await
        .map_err(counter_error)?;
    Ok(HttpResponse::Created().json(counter_to_wire(counter)))
}

/// Replace a counter's number, name, standing and categories.
#[utoipa::path(
    put, path = "/staff/v1/halls/{hallId}/counters/{id}", tag = "halls",
    params(("hallId" = i64, Path), ("id" = i64, Path)),
    request_body = wire::CounterRequest,
    responses(
        (status = 200, body = wire::Counter),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND, COUNTER_NOT_FOUND, CATEGORY_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "COUNTER_NUMBER_TAKEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_counter(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(i64, i64)>,
    body: web::Json<wire::CounterRequest>,
) -> Result<web::Json<wire::Counter>, ApiError> {
    let (hall_id, id) = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let input = counter_input(&body)?;
    let counter = state
        .halls
        .update_counter(hall_id, id, &input)
        .await
        .map_err(counter_error)?;
    Ok(web::Json(counter_to_wire(counter)))
}

/// Say which category of the hall handles an item.
#[utoipa::path(
    put, path = "/staff/v1/halls/{hallId}/items/{itemCode}", tag = "halls",
    params(("hallId" = i64, Path), ("itemCode" = String, Path)),
    request_body = wire::MapItemRequest,
    responses(
        (status = 200, body = wire::MapItemRequest),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND, ITEM_NOT_FOUND, CATEGORY_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn map_item(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(i64, String)>,
    body: web::Json<wire::MapItemRequest>,
) -> Result<web::Json<wire::MapItemRequest>, ApiError> {
    let (hall_id, item_code) = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    state
        .halls
        .map_item(hall_id, &item_code, body.category_id)
        .await
        .map_err(|e| match e {
            MapItemError::HallNotFound => hall_not_found(),
            MapItemError::ItemNotFound => ApiError::new(ErrorCode::ItemNotFound),
            MapItemError::CategoryNotFound => ApiError::new(ErrorCode::CategoryNotFound),
            MapItemError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(body)
}

/// Stop handling an item at the hall.
#[utoipa::path(
    delete, path = "/staff/v1/halls/{hallId}/items/{itemCode}", tag = "halls",
    params(("hallId" = i64, Path), ("itemCode" = String, Path)),
    responses(
        (status = 204, description = "unmapped, or it was not mapped"),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn unmap_item(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (hall_id, item_code) = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    state
        .halls
        .unmap_item(hall_id, &item_code)
        .await
        .map_err(edit_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The text of the hall's check-in QR code, to print and hang in the hall.
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/check-in-qr", tag = "halls",
    params(("hallId" = i64, Path)),
    responses(
        (status = 200, body = wire::CheckInQr),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn check_in_qr(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
) -> Result<web::Json<wire::CheckInQr>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let payload = state
        .halls
        .check_in_qr(hall_id)
        .await?
        .ok_or_else(hall_not_found)?;
    Ok(web::Json(wire::CheckInQr { payload }))
}
