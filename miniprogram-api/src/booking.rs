//! Appointments at a hall (预约办): availability, bookings, cancelling, moving, check-in.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/v1/halls/{hallCode}/slots` query.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// The item to book; exactly one of `itemCode` and `bundleCode`.
    pub item_code: Option<String>,
    /// A 一件事 bundle to book as one (`bookable` halls of its guide), instead of an item.
    pub bundle_code: Option<String>,
    /// First day (`YYYY-MM-DD`, Asia/Shanghai); today when omitted.
    pub from: Option<NaiveDate>,
    /// Last day; 13 days after `from` when omitted; at most 31 days in all.
    pub to: Option<NaiveDate>,
}

/// `GET /api/v1/halls/{hallCode}/slots`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub hall_code: String,
    /// The item asked for, or the bundle's code when `bundleCode` was asked for.
    pub item_code: String,
    /// Set when the slots are a 一件事 bundle's: those of the one category that handles it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_code: Option<String>,
    pub days: Vec<DayView>,
}

/// Whether a day can be booked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DayState {
    /// Released and inside the window: `slots` lists what is left.
    Open,
    /// Inside the window but not released yet: see `releasesAt`. Without `releasesAt` the
    /// day's year has no loaded holiday calendar yet, so neither whether the hall works that day
    /// nor when it is released is known.
    NotReleased,
    /// Outside the booking window.
    OutsideWindow,
    /// The hall does not open that day.
    Closed,
    /// Today or earlier.
    Past,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayView {
    pub date: NaiveDate,
    pub state: DayState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub releases_at: Option<DateTime<Utc>>,
    pub slots: Vec<SlotView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotView {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: u32,
    /// Seats left; 0 when full.
    pub left: u32,
}

/// `POST /api/v1/bookings` (optionally with an `Idempotency-Key` header: the same key returns
/// the same answer).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookRequest {
    pub slot_id: i64,
    /// The item to book; exactly one of `itemCode` and `bundleCode`
    /// (`ITEM_OR_BUNDLE_REQUIRED` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_code: Option<String>,
    /// A 一件事 bundle: one booking for all its items, at the one counter category of the hall
    /// that handles every required item (`BUNDLE_NOT_BOOKABLE` at a hall that does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_code: Option<String>,
}

/// `POST /api/v1/bookings/{id}/reschedule`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RescheduleRequest {
    pub slot_id: i64,
}

/// `POST /api/v1/bookings/{id}/check-in`: the text of the hall's check-in QR code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CitizenCheckIn {
    pub hall_qr: String,
}

/// `POST /staff/v1/halls/{hallId}/check-ins`: a booking's code, typed or scanned from its QR.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffCheckIn {
    pub code: String,
}

/// `POST /staff/v1/halls/{hallId}/closures`: the hall cancels a day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloseDay {
    pub date: NaiveDate,
    /// Shown to citizens: "因系统升级" …
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClosedDay {
    pub date: NaiveDate,
    pub cancelled_bookings: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BookingStatus {
    Booked,
    CheckedIn,
    Cancelled,
    CancelledByHall,
    Rescheduled,
    NoShow,
}

/// A booking.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    pub id: i64,
    /// 8 characters, read out or typed at the counter.
    pub code: String,
    pub status: BookingStatus,
    pub hall_code: String,
    pub hall_name: String,
    pub hall_address: String,
    /// The item's code, or the bundle's for a bundle booking (then `bundleCode` is set too).
    pub item_code: String,
    /// The item's name, or the bundle's.
    pub item_name: String,
    pub category_name: String,
    /// Set for a 一件事 bundle booking: one booking (and one ticket) for all its items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_code: Option<String>,
    pub slot_id: i64,
    pub date: NaiveDate,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Until when it can be cancelled or moved.
    pub cancel_deadline: DateTime<Utc>,
    pub checkin_opens_at: DateTime<Utc>,
    pub checkin_closes_at: DateTime<Utc>,
    /// What the check-in QR code holds; staff scan it.
    pub checkin_qr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<DateTime<Utc>>,
    /// When moved: the booking that replaced this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduled_to: Option<i64>,
    /// Once checked in: the queue ticket the booking became (priority over walk-ins of its
    /// category); follow it at `/api/v1/tickets/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<crate::queue::TicketBrief>,
    /// Booked for a family member (`?memberId=`): that member's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<i64>,
}

/// `GET /api/v1/bookings` query: newest first, `before` a booking id for the next page.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct BookingsQuery {
    pub before: Option<i64>,
    /// 1–50, default 20.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingList {
    pub bookings: Vec<Booking>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// `GET /staff/v1/halls/{hallId}/bookings/{id}/brief`: a booking as the counter sees it, the
/// holder's name and phone masked (`张*`, `138****8000`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingBrief {
    pub booking_id: i64,
    pub code: String,
    /// The item's name, or the bundle's.
    pub item_name: String,
    pub category_name: String,
    /// For a 一件事 bundle booking: the bundle and the items it joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BookedBundle>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<DateTime<Utc>>,
    /// Masked; absent when the citizen has bound no identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    /// Masked; absent when the citizen has bound no phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The 一件事 bundle a booking is for, as the counter sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookedBundle {
    pub bundle_code: String,
    pub name: String,
    /// Every item of the bundle; the optional ones the citizen may have left out.
    pub items: Vec<BookedBundleItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookedBundleItem {
    pub item_code: String,
    pub name: String,
    pub required: bool,
}
