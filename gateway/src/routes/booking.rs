//! Appointments: availability, booking, my bookings, cancel, reschedule, check-in.

use actix_web::{HttpRequest, HttpResponse, web};
use miniprogram_api::booking as wire;
use miniprogram_api::{ErrorBody, ErrorCode};
use services::booking::{
    AvailabilityError, BookError, BookRequest, Booker, BookingFor, BookingStatus, BookingView,
    CancelError, CheckInError, CloseDayError, DayRefusal, SubjectCode,
};
use services::bundles::BundleCode;
use services::catalogue::ItemCode;
use services::staff::Role;

use crate::error::ApiError;
use crate::extract::{ActingCitizen, CurrentCitizen, CurrentStaff, day, idempotency_key};
use crate::startup::AppState;
use miniprogram_api::family::ForMember;

pub fn status_to_wire(status: BookingStatus) -> wire::BookingStatus {
    match status {
        BookingStatus::Booked => wire::BookingStatus::Booked,
        BookingStatus::CheckedIn => wire::BookingStatus::CheckedIn,
        BookingStatus::Cancelled => wire::BookingStatus::Cancelled,
        BookingStatus::CancelledByHall => wire::BookingStatus::CancelledByHall,
        BookingStatus::Rescheduled => wire::BookingStatus::Rescheduled,
        BookingStatus::NoShow => wire::BookingStatus::NoShow,
    }
}

pub fn to_wire(b: BookingView) -> wire::Booking {
    wire::Booking {
        id: b.id,
        code: b.code,
        status: status_to_wire(b.status),
        hall_code: b.hall_code,
        hall_name: b.hall_name,
        hall_address: b.hall_address,
        bundle_code: b.bundle.then(|| b.item_code.clone()),
        item_code: b.item_code,
        item_name: b.item_name,
        category_name: b.category_name,
        slot_id: b.slot_id,
        date: b.day,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        created_at: b.created_at,
        cancel_deadline: b.cancel_deadline,
        checkin_opens_at: b.checkin_opens_at,
        checkin_closes_at: b.checkin_closes_at,
        checkin_qr: b.checkin_qr,
        cancelled_at: b.cancelled_at,
        cancel_reason: b.cancel_reason,
        checked_in_at: b.checked_in_at,
        rescheduled_to: b.rescheduled_to,
        member_id: b.member_id,
        ticket: b.ticket.map(|t| miniprogram_api::queue::TicketBrief {
            id: t.id,
            number: t.number,
            state: super::queue::state_to_wire(t.state),
        }),
    }
}

fn shanghai(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&services::time::SHANGHAI)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn book_error(e: BookError) -> ApiError {
    match e {
        BookError::IdentityRequired => ApiError::new(ErrorCode::IdentityRequired),
        BookError::IdentityNotVerified => ApiError::new(ErrorCode::IdentityNotVerified),
        BookError::ItemNotFound => ApiError::new(ErrorCode::ItemNotFound),
        BookError::SlotNotFound => ApiError::new(ErrorCode::SlotNotFound),
        BookError::SlotNotForItem => ApiError::new(ErrorCode::SlotNotForItem),
        BookError::ItemNotBookable => ApiError::new(ErrorCode::ItemNotBookable),
        BookError::SlotPast => ApiError::new(ErrorCode::SlotPast),
        BookError::OutsideWindow => ApiError::new(ErrorCode::OutsideBookingWindow),
        BookError::NotReleased { at } => ApiError::new(ErrorCode::SlotNotReleased)
            .with_message(format!("该日号源将于{}放出，请届时再试", shanghai(at)))
            .with_until(at),
        BookError::NoCalendar { year } => ApiError::new(ErrorCode::SlotNotReleased)
            .with_message(format!("{year}年的节假日安排尚未导入，该日暂不放号，请稍后再试")),
        BookError::TooSoon { deadline } => ApiError::new(ErrorCode::SlotTooSoon)
            .with_message(format!(
                "该时段的取消截止时间（{}）已过，预约后将无法取消，因此不能再预约，请选择更晚的时段",
                shanghai(deadline)
            ))
            .with_until(deadline),
        BookError::HallClosed => ApiError::new(ErrorCode::HallClosed),
        BookError::SlotFull => ApiError::new(ErrorCode::SlotFull),
        BookError::AlreadyBooked => ApiError::new(ErrorCode::AlreadyBooked),
        BookError::WeeklyLimit { limit } => ApiError::new(ErrorCode::BookingLimitReached)
            .with_message(format!("每周最多预约{limit}次，本周次数已用完")),
        BookError::MonthlyLimit { limit } => ApiError::new(ErrorCode::BookingLimitReached)
            .with_message(format!("每月最多预约{limit}次，本月次数已用完")),
        BookError::Banned { until } => ApiError::new(ErrorCode::BookingBanned)
            .with_message(format!(
                "因多次爽约或取消预约，您在{}（含）之前不能预约",
                until.format("%Y年%m月%d日")
            ))
            .with_until(until),
        BookError::IdempotencyKeyReused => ApiError::new(ErrorCode::IdempotencyKeyReused),
        BookError::BookingNotFound => ApiError::new(ErrorCode::BookingNotFound),
        BookError::NotChangeable => ApiError::new(ErrorCode::BookingNotChangeable),
        BookError::Unexpected(e) => ApiError::unexpected(e),
    }
}

/// A booking's subject from the request: exactly one of an item and a 一件事 bundle, its code
/// parsed here once. One endpoint for both, because a bundle booking *is* a booking: the same
/// list, cancel, move, check-in, limits and idempotency. A code that cannot name anything stored
/// (over 64 characters) is ITEM_NOT_FOUND / BUNDLE_NOT_FOUND, as an unknown one.
fn subject(item_code: Option<&str>, bundle_code: Option<&str>) -> Result<SubjectCode, ApiError> {
    fn code(c: Option<&str>) -> Option<&str> {
        c.map(str::trim).filter(|c| !c.is_empty())
    }
    match (code(item_code), code(bundle_code)) {
        (Some(item), None) => ItemCode::parse(item)
            .map(SubjectCode::Item)
            .map_err(|_| ApiError::new(ErrorCode::ItemNotFound)),
        (None, Some(bundle)) => BundleCode::parse(bundle)
            .map(SubjectCode::Bundle)
            .map_err(|_| ApiError::new(ErrorCode::BundleNotFound)),
        (Some(_), Some(_)) => Err(ApiError::new(ErrorCode::ItemOrBundleRequired)
            .with_message("事项和一件事只能选择其一")
            .with_field("bundleCode", "不能与itemCode同时填写")),
        (None, None) => Err(ApiError::new(ErrorCode::ItemOrBundleRequired)
            .with_field("itemCode", "请填写itemCode或bundleCode")),
    }
}

/// A refusal of a bundle booking says "bundle" where an item's says "item".
fn bundle_book_error(e: BookError) -> ApiError {
    match e {
        BookError::ItemNotFound => ApiError::new(ErrorCode::BundleNotFound),
        BookError::ItemNotBookable => ApiError::new(ErrorCode::BundleNotBookable),
        e => book_error(e),
    }
}

pub fn check_in_error(e: CheckInError) -> ApiError {
    match e {
        CheckInError::NotFound => ApiError::new(ErrorCode::BookingNotFound),
        CheckInError::WrongHall => ApiError::new(ErrorCode::WrongHall),
        CheckInError::BadHallQr => ApiError::new(ErrorCode::HallQrInvalid),
        CheckInError::NotActive { status } => ApiError::new(ErrorCode::BookingNotChangeable)
            .with_message(match status {
                BookingStatus::NoShow => "该预约已记为爽约，不能签到",
                BookingStatus::Rescheduled => "该预约已改约，请使用新的预约签到",
                _ => "该预约已取消，不能签到",
            }),
        CheckInError::TooEarly { opens_at } => ApiError::new(ErrorCode::CheckinTooEarly)
            .with_message(format!("还未到签到时间，请于{}后签到", shanghai(opens_at)))
            .with_until(opens_at),
        CheckInError::TooLate => ApiError::new(ErrorCode::CheckinTooLate),
        CheckInError::Unexpected(e) => ApiError::unexpected(e),
    }
}

/// Slots of a hall for an item (or a 一件事 bundle) over a range of days.
#[utoipa::path(
    get, path = "/api/v1/halls/{hallCode}/slots", tag = "booking",
    params(("hallCode" = String, Path), wire::AvailabilityQuery),
    responses(
        (status = 200, body = wire::Availability),
        (status = 404, description = "HALL_NOT_FOUND, ITEM_NOT_FOUND, BUNDLE_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "ITEM_NOT_BOOKABLE, BUNDLE_NOT_BOOKABLE (no category of the hall handles every required item), ITEM_OR_BUNDLE_REQUIRED (neither or both), VALIDATION_FAILED (range)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn availability(
    state: web::Data<AppState>,
    _citizen: CurrentCitizen,
    path: web::Path<String>,
    query: web::Query<wire::AvailabilityQuery>,
) -> Result<web::Json<wire::Availability>, ApiError> {
    let hall_code = path.into_inner();
    let query = query.into_inner();
    let subject = subject(query.item_code.as_deref(), query.bundle_code.as_deref())?;
    let bundle = subject.is_bundle();
    let from = day(
        "from",
        query.from.unwrap_or_else(|| state.booking.clock().today()),
    )?;
    let to = match query.to {
        Some(to) => day("to", to)?,
        None => from.plus_days(13).unwrap_or(services::time::Day::LAST),
    };
    let days = state
        .booking
        .availability(&hall_code, &subject, from, to)
        .await
        .map_err(|e| match e {
            AvailabilityError::HallNotFound => ApiError::new(ErrorCode::HallNotFound),
            AvailabilityError::ItemNotFound if bundle => ApiError::new(ErrorCode::BundleNotFound),
            AvailabilityError::ItemNotFound => ApiError::new(ErrorCode::ItemNotFound),
            AvailabilityError::ItemNotBookableHere if bundle => {
                ApiError::new(ErrorCode::BundleNotBookable)
            }
            AvailabilityError::ItemNotBookableHere => ApiError::new(ErrorCode::ItemNotBookable),
            AvailabilityError::BadRange => ApiError::new(ErrorCode::ValidationFailed)
                .with_message("日期范围不正确：结束日期不能早于开始日期，且最多查询31天")
                .with_field("to", "最多查询31天"),
            AvailabilityError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    let days = days
        .into_iter()
        .map(|d| {
            let (state, releases_at, slots) = match d.state {
                Ok(slots) => (wire::DayState::Open, None, slots),
                Err(DayRefusal::NotReleased { at }) => {
                    (wire::DayState::NotReleased, Some(at), Vec::new())
                }
                Err(DayRefusal::OutsideWindow) => (wire::DayState::OutsideWindow, None, Vec::new()),
                Err(DayRefusal::Closed) => (wire::DayState::Closed, None, Vec::new()),
                Err(DayRefusal::Past) => (wire::DayState::Past, None, Vec::new()),
                // Not released until the year's calendar is loaded: when is not known yet.
                Err(DayRefusal::NoCalendar) => (wire::DayState::NotReleased, None, Vec::new()),
            };
            wire::DayView {
                date: d.day,
                state,
                releases_at,
                slots: slots
                    .into_iter()
                    .map(|s| wire::SlotView {
                        id: s.id,
                        starts_at: s.starts_at,
                        ends_at: s.ends_at,
                        capacity: s.capacity,
                        left: s.left,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(web::Json(wire::Availability {
        hall_code,
        bundle_code: bundle.then(|| subject.as_str().to_owned()),
        item_code: subject.as_str().to_owned(),
        days,
    }))
}

/// Book a slot for an item, or for a 一件事 bundle (one booking for all its items).
#[utoipa::path(
    post, path = "/api/v1/bookings", tag = "booking",
    request_body = wire::BookRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1–64 visible ASCII characters; the same key returns the same answer"), ForMember),
    responses(
        (status = 201, body = wire::Booking),
        (status = 200, description = "an earlier answer to the same Idempotency-Key", body = wire::Booking),
        (status = 403, description = "IDENTITY_REQUIRED, IDENTITY_NOT_VERIFIED, BOOKING_BANNED (until: the ban's last day; the member's, when booking for one)", body = ErrorBody),
        (status = 404, description = "ITEM_NOT_FOUND, BUNDLE_NOT_FOUND, SLOT_NOT_FOUND, FAMILY_MEMBER_NOT_FOUND (memberId is not a live family member)", body = ErrorBody),
        (status = 409, description = "SLOT_FULL, ALREADY_BOOKED (the same person, item or bundle, and day)", body = ErrorBody),
        (status = 422, description = "ITEM_OR_BUNDLE_REQUIRED (neither or both), SLOT_NOT_FOR_ITEM, ITEM_NOT_BOOKABLE, BUNDLE_NOT_BOOKABLE (no category of the hall handles every required item), SLOT_PAST, OUTSIDE_BOOKING_WINDOW, SLOT_NOT_RELEASED (also while the day's year has no calendar), SLOT_TOO_SOON (inside the cancellation cut-off; until: the cut-off), HALL_CLOSED, BOOKING_LIMIT_REACHED, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn book(
    state: web::Data<AppState>,
    req: HttpRequest,
    ActingCitizen { session, acting }: ActingCitizen,
    body: web::Json<wire::BookRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let body = body.into_inner();
    let subject = subject(body.item_code.as_deref(), body.bundle_code.as_deref())?;
    let bundle = subject.is_bundle();
    let booked = state
        .booking
        .book(
            Booker {
                citizen_id: session.citizen_id,
            },
            &BookRequest {
                slot_id: body.slot_id,
                subject,
                idempotency_key: key,
                for_member: acting.member.as_ref().map(BookingFor::from),
            },
        )
        .await
        .map_err(if bundle {
            bundle_book_error
        } else {
            book_error
        })?;
    let mut response = if booked.replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(response.json(to_wire(booked.booking)))
}

/// My bookings, newest first.
#[utoipa::path(
    get, path = "/api/v1/bookings", tag = "booking",
    params(wire::BookingsQuery),
    responses((status = 200, body = wire::BookingList)),
    security(("bearer" = []))
)]
pub async fn mine(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    query: web::Query<wire::BookingsQuery>,
) -> Result<web::Json<wire::BookingList>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .with_message("每页条数须在1至50之间")
            .with_field("limit", "须在1至50之间"));
    }
    let bookings = state
        .booking
        .mine(session.citizen_id, query.before, limit)
        .await?;
    let next_before = (bookings.len() as u64 == limit)
        .then(|| bookings.last().map(|b| b.id))
        .flatten();
    Ok(web::Json(wire::BookingList {
        bookings: bookings.into_iter().map(to_wire).collect(),
        next_before,
    }))
}

/// One of my bookings.
#[utoipa::path(
    get, path = "/api/v1/bookings/{id}", tag = "booking",
    params(("id" = i64, Path)),
    responses((status = 200, body = wire::Booking), (status = 404, description = "BOOKING_NOT_FOUND", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
) -> Result<web::Json<wire::Booking>, ApiError> {
    state
        .booking
        .view(session.citizen_id, path.into_inner())
        .await?
        .map(|b| web::Json(to_wire(b)))
        .ok_or_else(|| ApiError::new(ErrorCode::BookingNotFound))
}

/// Cancel a booking before its cut-off.
#[utoipa::path(
    post, path = "/api/v1/bookings/{id}/cancel", tag = "booking",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = wire::Booking),
        (status = 404, description = "BOOKING_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "BOOKING_NOT_CHANGEABLE, CANCEL_TOO_LATE", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
) -> Result<web::Json<wire::Booking>, ApiError> {
    let booking = state
        .booking
        .cancel(
            Booker {
                citizen_id: session.citizen_id,
            },
            path.into_inner(),
        )
        .await
        .map_err(|e| match e {
            CancelError::NotFound => ApiError::new(ErrorCode::BookingNotFound),
            CancelError::NotActive => ApiError::new(ErrorCode::BookingNotChangeable),
            CancelError::TooLate { deadline } => ApiError::new(ErrorCode::CancelTooLate)
                .with_message(format!(
                    "取消截止时间为{}，现已不能取消",
                    shanghai(deadline)
                )),
            CancelError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(to_wire(booking)))
}

/// Move a booking to another slot, atomically.
#[utoipa::path(
    post, path = "/api/v1/bookings/{id}/reschedule", tag = "booking",
    params(("id" = i64, Path)),
    request_body = wire::RescheduleRequest,
    responses(
        (status = 201, description = "the new booking; the old one is RESCHEDULED", body = wire::Booking),
        (status = 404, description = "BOOKING_NOT_FOUND, SLOT_NOT_FOUND, FAMILY_MEMBER_NOT_FOUND (a family member's booking whose relation was revoked)", body = ErrorBody),
        (status = 409, description = "SLOT_FULL, BOOKING_NOT_CHANGEABLE, ALREADY_BOOKED", body = ErrorBody),
        (status = 403, description = "IDENTITY_REQUIRED, IDENTITY_NOT_VERIFIED, BOOKING_BANNED", body = ErrorBody),
        (status = 422, description = "as for booking: SLOT_NOT_FOR_ITEM, SLOT_PAST, OUTSIDE_BOOKING_WINDOW, SLOT_NOT_RELEASED, SLOT_TOO_SOON, HALL_CLOSED, BOOKING_LIMIT_REACHED", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reschedule(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
    body: web::Json<wire::RescheduleRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    // A family member's booking is moved as the member's, so only while the relation is live:
    // asked of the one place that decides whom an account may act for.
    let member = state
        .booking
        .view(session.citizen_id, id)
        .await
        .map_err(ApiError::unexpected)?
        .and_then(|b| b.member_id);
    if member.is_some() {
        state
            .identity
            .acting(session.citizen_id, member)
            .await
            .map_err(super::family::family_error)?;
    }
    let booked = state
        .booking
        .reschedule(
            Booker {
                citizen_id: session.citizen_id,
            },
            id,
            body.slot_id,
        )
        .await
        .map_err(book_error)?;
    Ok(HttpResponse::Created().json(to_wire(booked.booking)))
}

/// Check in by scanning the hall's QR code.
#[utoipa::path(
    post, path = "/api/v1/bookings/{id}/check-in", tag = "booking",
    params(("id" = i64, Path)),
    request_body = wire::CitizenCheckIn,
    responses(
        (status = 200, body = wire::Booking),
        (status = 404, description = "BOOKING_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "CHECKIN_TOO_EARLY (until), CHECKIN_TOO_LATE, WRONG_HALL, BOOKING_NOT_CHANGEABLE", body = ErrorBody),
        (status = 422, description = "HALL_QR_INVALID", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn check_in(
    state: web::Data<AppState>,
    CurrentCitizen(session): CurrentCitizen,
    path: web::Path<i64>,
    body: web::Json<wire::CitizenCheckIn>,
) -> Result<web::Json<wire::Booking>, ApiError> {
    let booking = state
        .booking
        .check_in_by_citizen(
            Booker {
                citizen_id: session.citizen_id,
            },
            path.into_inner(),
            &body.hall_qr,
        )
        .await
        .map_err(check_in_error)?;
    Ok(web::Json(to_wire(booking)))
}

/// The staff side of appointments, in the `/staff/v1` scope.
pub fn configure_staff(cfg: &mut web::ServiceConfig) {
    use super::resource;
    cfg.service(resource(
        "/halls/{hall_id}/bookings",
        [web::get().to(hall_bookings)],
    ))
    .service(resource(
        "/halls/{hall_id}/check-ins",
        [web::post().to(staff_check_in)],
    ))
    .service(resource(
        "/halls/{hall_id}/closures",
        [web::post().to(close_day)],
    ))
    .service(resource(
        "/halls/{hall_id}/bookings/{id}/brief",
        [web::get().to(brief)],
    ));
}

/// A booking as the counter shows it beside the ticket: item, time, and the holder's name and
/// phone masked (clerks of the hall).
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/bookings/{id}/brief", tag = "staff",
    params(("hallId" = i64, Path), ("id" = i64, Path)),
    responses(
        (status = 200, body = wire::BookingBrief),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "BOOKING_NOT_FOUND (none of this hall)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn brief(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<(i64, i64)>,
) -> Result<web::Json<wire::BookingBrief>, ApiError> {
    let (hall_id, booking_id) = path.into_inner();
    staff.require(Role::Clerk, hall_id)?;
    let (booking, citizen_id) = state
        .booking
        .of_hall(hall_id, booking_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::BookingNotFound))?;
    let profile = state.identity.masked_profile(citizen_id).await?;
    // A bundle booking: the counter sees the bundle and every item it joins.
    // (A stored code always parses: it was parsed when it was booked.)
    let bundle = match BundleCode::parse(&booking.item_code) {
        Ok(code) if booking.bundle => {
            state
                .bundles
                .guide(&code)
                .await?
                .map(|g| wire::BookedBundle {
                    bundle_code: g.bundle_code,
                    name: g.name,
                    items: g
                        .items
                        .into_iter()
                        .map(|i| wire::BookedBundleItem {
                            item_code: i.item_code,
                            name: i.name,
                            required: i.required,
                        })
                        .collect(),
                })
        }
        _ => None,
    };
    Ok(web::Json(wire::BookingBrief {
        booking_id: booking.id,
        code: booking.code,
        item_name: booking.item_name,
        category_name: booking.category_name,
        bundle,
        starts_at: booking.starts_at,
        ends_at: booking.ends_at,
        checked_in_at: booking.checked_in_at,
        holder_name: profile.identity.map(|i| i.name),
        phone: profile.phone,
    }))
}

/// `GET /staff/v1/halls/{hallId}/bookings?date=` query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// `YYYY-MM-DD`; today when omitted.
    pub date: Option<chrono::NaiveDate>,
}

/// A hall's bookings of a day (clerks and admins of the hall).
#[utoipa::path(
    get, path = "/staff/v1/halls/{hallId}/bookings", tag = "staff",
    params(("hallId" = i64, Path), DayQuery),
    responses((status = 200, body = wire::BookingList), (status = 403, description = "FORBIDDEN", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn hall_bookings(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    query: web::Query<DayQuery>,
) -> Result<web::Json<wire::BookingList>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Clerk, hall_id)?;
    let date = day(
        "date",
        query.date.unwrap_or_else(|| state.booking.clock().today()),
    )?;
    let bookings = state.booking.of_hall_day(hall_id, date).await?;
    Ok(web::Json(wire::BookingList {
        bookings: bookings.into_iter().map(to_wire).collect(),
        next_before: None,
    }))
}

/// Check a citizen in by the booking's code (typed, or the scanned `ZSBBK:` QR).
#[utoipa::path(
    post, path = "/staff/v1/halls/{hallId}/check-ins", tag = "staff",
    params(("hallId" = i64, Path)),
    request_body = wire::StaffCheckIn,
    responses(
        (status = 200, body = wire::Booking),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "BOOKING_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "WRONG_HALL, CHECKIN_TOO_EARLY, CHECKIN_TOO_LATE, BOOKING_NOT_CHANGEABLE", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn staff_check_in(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::StaffCheckIn>,
) -> Result<web::Json<wire::Booking>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Clerk, hall_id)?;
    let booking = state
        .booking
        .check_in_by_staff(hall_id, &body.code, staff.0.staff_id)
        .await
        .map_err(check_in_error)?;
    Ok(web::Json(to_wire(booking)))
}

/// The hall cancels a day: every booking of it is cancelled and its citizen notified.
#[utoipa::path(
    post, path = "/staff/v1/halls/{hallId}/closures", tag = "staff",
    params(("hallId" = i64, Path)),
    request_body = wire::CloseDay,
    responses(
        (status = 200, body = wire::ClosedDay),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, description = "HALL_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED: a past day, or no reason", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn close_day(
    state: web::Data<AppState>,
    staff: CurrentStaff,
    path: web::Path<i64>,
    body: web::Json<wire::CloseDay>,
) -> Result<web::Json<wire::ClosedDay>, ApiError> {
    let hall_id = path.into_inner();
    staff.require(Role::Admin, hall_id)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 20 {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .with_message("请填写1至20个字的取消原因，将告知预约的群众")
            .with_field("reason", "1至20个字"));
    }
    let date = day("date", body.date)?;
    let cancelled = state
        .booking
        .close_day(hall_id, date, reason)
        .await
        .map_err(|e| match e {
            CloseDayError::HallNotFound => ApiError::new(ErrorCode::HallNotFound),
            CloseDayError::Past => ApiError::new(ErrorCode::ValidationFailed)
                .with_message("只能取消明天及以后的日期")
                .with_field("date", "只能取消明天及以后的日期"),
            CloseDayError::Unexpected(e) => ApiError::unexpected(e),
        })?;
    Ok(web::Json(wire::ClosedDay {
        date: body.date,
        cancelled_bookings: cancelled,
    }))
}
