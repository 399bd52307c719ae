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

/// One subscribe-message template and the citizen's standing for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSubscription {
    pub template_id: String,
    /// The notification kinds that use this template.
    pub kinds: Vec<String>,
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
