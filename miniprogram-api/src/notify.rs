//! Subscribe-message consent and the in-app inbox.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /api/v1/subscriptions`: what `wx.requestSubscribeMessage` resolved with, as is —
/// `{"<templateId>": "accept" | "reject" | "ban" | "filter", "errMsg": "…"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"errMsg": "requestSubscribeMessage:ok", "demo-booking-result": "accept"}))]
pub struct SubscribeResults(pub BTreeMap<String, String>);

/// A citizen's action that leads to notifications. WeChat lets the mini-program ask for
/// consent (`wx.requestSubscribeMessage`) only from a tap: it asks from the tap that starts the
/// action, for the templates whose `actions` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscribeAction {
    /// Booking a slot (预约).
    Booking,
    /// Taking a ticket, or checking in with a booking (取号、签到).
    Ticket,
    /// Applying online (网上申办).
    Application,
    /// Showing a licence (亮证).
    Licence,
}

/// One subscribe-message template and the citizen's standing for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSubscription {
    pub template_id: String,
    /// The notification kinds that use this template.
    pub kinds: Vec<String>,
    /// The actions its kinds follow from: ask for it from the tap that starts one of them.
    pub actions: Vec<SubscribeAction>,
    /// One consent covers every future message.
    pub long_term: bool,
    /// Messages that may still be sent.
    pub remaining: i32,
    /// The last answer of `wx.requestSubscribeMessage` for it.
    pub last_result: Option<String>,
    /// Ask again (at the next suitable moment) with `wx.requestSubscribeMessage`.
    pub ask_again: bool,
}

/// `GET /api/v1/subscriptions`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscriptions {
    pub templates: Vec<TemplateSubscription>,
}

/// `GET /api/v1/messages` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    /// From 1.
    pub page: Option<u64>,
    /// 1 to 50, default 20.
    pub page_size: Option<u64>,
}

/// A message in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The mini-program page to open.
    pub page: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// `GET /api/v1/messages`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Messages {
    pub messages: Vec<Message>,
    pub page: u64,
    pub page_size: u64,
    pub total: u64,
    pub unread: u64,
}
