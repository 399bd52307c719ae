//! Queue numbers (取号 / 叫号): tickets, the counter's calls, the hall's display board, live
//! messages on the WebSockets, and the day's statistics.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketState {
    Waiting,
    Called,
    Serving,
    Done,
    NoShow,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketSource {
    /// Taken in the mini-program (线上取号).
    Remote,
    /// Issued at a counter or the kiosk.
    WalkIn,
    /// A booking's check-in.
    Booking,
}

/// `POST /api/v1/halls/{hallCode}/tickets`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TakeTicket {
    pub item_code: String,
}

/// A queue ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: i64,
    /// `A001`: the category's prefix and the day's sequence.
    pub number: String,
    pub state: TicketState,
    pub source: TicketSource,
    pub green_channel: bool,
    pub hall_code: String,
    pub hall_name: String,
    pub category_id: i64,
    pub category_name: String,
    /// The hall's day (Asia/Shanghai) the number belongs to.
    pub date: NaiveDate,
    pub issued_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub called_at: Option<DateTime<Utc>>,
    /// Calls so far: 1 for the first call, up to 3 with two recalls.
    pub calls: i32,
    /// While called or serving: where to go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_number: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_name: Option<String>,
    /// While waiting: people ahead in the category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<u32>,
    /// While waiting: estimated minutes until the call (see the README for how); absent while
    /// no active counter serves the category (there is then no honest estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_wait_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<i64>,
    /// Taken for a family member (`?memberId=`): that member's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
}

/// The ticket a booking's check-in created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketBrief {
    pub id: i64,
    pub number: String,
    pub state: TicketState,
}

/// `POST /staff/v1/halls/{hallId}/tickets`: a walk-in ticket. Unknown fields are refused (a
/// `citizenId` is not accepted: only the citizen's own code ties a ticket to them).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueTicket {
    pub category_id: i64,
    /// Green channel (绿色通道: elderly, disabled, pregnant): called before everyone else of
    /// the counter's categories.
    #[serde(default)]
    pub green_channel: bool,
    /// The citizen's code (市民码) as scanned (`ZSBCZ:K7M2Q9XH`) or typed (`K7M2Q9XH`, any case):
    /// the ticket becomes theirs, and the code is used up. Absent: an anonymous ticket.
    #[serde(default)]
    pub citizen_code: Option<String>,
}

/// `POST /api/v1/citizen-code`: a code the citizen shows at the counter or kiosk so that a
/// walk-in ticket becomes theirs. Single use, 5 minutes; a new one voids the previous.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CitizenCode {
    /// Eight characters to read out or type (`K7M2Q9XH`).
    pub code: String,
    /// The QR payload to display (`ZSBCZ:K7M2Q9XH`).
    pub qr: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST …/tickets/{ticketId}/transfer`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    pub category_id: i64,
}

/// What a counter holds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CounterState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Ticket>,
}

/// One call on the display board.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoardCall {
    /// One per call and recall, increasing across the hall: a display announces a call whose id
    /// is above the highest it announced, and never one it has seen (also after a reconnect).
    pub call_id: i64,
    pub ticket_id: i64,
    pub number: String,
    pub counter_number: i32,
    pub counter_name: String,
    /// The text to read out: `请A001号到1号窗口办理`.
    pub announce: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryWaiting {
    pub prefix: String,
    pub name: String,
    pub waiting: u32,
}

/// A hall's display board.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Board {
    pub hall_code: String,
    pub hall_name: String,
    /// The latest calls, newest first.
    pub calls: Vec<BoardCall>,
    pub waiting: Vec<CategoryWaiting>,
}

/// A message on a queue WebSocket (JSON text frames).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LiveMessage {
    /// The citizen's ticket as it is now: sent on connecting and whenever it changes
    /// (called to a counter, recalled, served, done …).
    Ticket { ticket: Ticket },
    /// The citizen's waiting ticket moved up.
    #[serde(rename_all = "camelCase")]
    Position {
        ticket_id: i64,
        ahead: u32,
        /// Null while no active counter serves the category.
        estimated_wait_minutes: Option<u32>,
    },
    /// Board socket: the board as it is now, sent on connecting.
    Board { board: Board },
    /// Board socket: a call (or recall) to announce.
    Call { call: BoardCall },
    /// Board socket: who waits per category, every category of the board, sent whenever any
    /// category's count changes (a ticket taken, called, cancelled, transferred …).
    Waiting { waiting: Vec<CategoryWaiting> },
}

/// `GET /staff/v1/halls/{hallId}/queue/stats?date=`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `YYYY-MM-DD` (Asia/Shanghai); today when omitted.
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryStats {
    pub category_id: i64,
    pub category_name: String,
    pub prefix: String,
    pub issued: u32,
    pub served: u32,
    pub no_shows: u32,
    pub cancelled: u32,
    pub waiting: u32,
    /// Seconds from taking the ticket to its first call.
    pub wait_avg_secs: Option<f64>,
    pub wait_p90_secs: Option<f64>,
    /// Seconds from starting to serve to done.
    pub service_avg_secs: Option<f64>,
    pub service_p90_secs: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub hall_id: i64,
    pub date: NaiveDate,
    pub categories: Vec<CategoryStats>,
}

/// `GET /staff/v1/halls/{hallId}/workstation`: what a clerk chooses a counter from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workstation {
    pub hall_id: i64,
    pub hall_code: String,
    pub hall_name: String,
    pub categories: Vec<WorkCategory>,
    /// By number.
    pub counters: Vec<WorkCounter>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkCategory {
    pub id: i64,
    pub prefix: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkCounter {
    pub id: i64,
    pub number: i32,
    pub name: String,
    pub active: bool,
    /// The categories it calls from.
    pub category_ids: Vec<i64>,
}

/// One waiting ticket of a counter's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineTicket {
    pub id: i64,
    pub number: String,
    pub category_id: i64,
    pub green_channel: bool,
    pub source: TicketSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<i64>,
    pub issued_at: DateTime<Utc>,
}

/// A message on the counter's WebSocket (`/staff/v1/halls/{hallId}/counters/{counterId}/live`).
/// The browser cannot set headers on a WebSocket: it sends `Auth` as its first frame, unless the
/// upgrade carried `Authorization: Bearer`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum StaffLiveMessage {
    /// Client → gateway, first frame: the staff token (`zst_…`).
    Auth { token: String },
    /// Gateway → client: the waiting line of the counter's categories (at most 100, calling
    /// order), on connecting and whenever it changed.
    Line { line: Vec<LineTicket> },
}
