//! Which notifications exist, and how each is shown: configuration, checked at start.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::render::FieldType;

macro_rules! kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Everything the system tells citizens about. Each kind needs an entry in the
        /// configuration's `notifications.kinds`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum NotificationKind { $($variant),* }

        impl NotificationKind {
            pub const ALL: &'static [NotificationKind] = &[$(NotificationKind::$variant),*];

            /// The kind's name in the configuration and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(NotificationKind::$variant => $name),* }
            }

            /// The kind of a name in the configuration; `None` for a name no kind has.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(NotificationKind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    BookingConfirmed => "booking_confirmed",
    BookingReminder => "booking_reminder",
    BookingCancelledByHall => "booking_cancelled_by_hall",
    BookingNoShow => "booking_no_show",
    TicketNear => "ticket_near",
    TicketCalled => "ticket_called",
    CaseAccepted => "case_accepted",
    CaseRejected => "case_rejected",
    SupplementRequired => "supplement_required",
    CaseConcluded => "case_concluded",
    ResultPosted => "result_posted",
    EvaluationInvited => "evaluation_invited",
    EvaluationRectified => "evaluation_rectified",
    LicenceVerified => "licence_verified",
    ConsentRequested => "consent_requested",
    ConsentAccepted => "consent_accepted",
    ConsentRefused => "consent_refused",
}

/// A citizen's action that leads to notifications. WeChat lets the mini-program ask for a
/// template's consent (`wx.requestSubscribeMessage`) only from a tap, so it asks from the tap
/// that starts the action, for the templates of the kinds that follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

impl SubscribeAction {
    pub const ALL: &'static [SubscribeAction] = &[
        SubscribeAction::Booking,
        SubscribeAction::Ticket,
        SubscribeAction::Application,
        SubscribeAction::Licence,
    ];
}

impl NotificationKind {
    /// The actions this kind follows from: the mini-program asks for its template before them.
    /// Exhaustive, so a new kind cannot be added without saying when to ask for it.
    pub fn follows(self) -> &'static [SubscribeAction] {
        use SubscribeAction::{Application, Booking, Licence, Ticket};
        match self {
            Self::BookingConfirmed
            | Self::BookingReminder
            | Self::BookingCancelledByHall
            | Self::BookingNoShow => &[Booking],
            Self::TicketNear | Self::TicketCalled => &[Ticket],
            Self::CaseAccepted
            | Self::CaseRejected
            | Self::SupplementRequired
            | Self::CaseConcluded
            | Self::ResultPosted => &[Application],
            // One evaluation per service at the hall, one per case online (domain-rules.md,
            // 好差评): the invitation follows a served ticket or a concluded application.
            Self::EvaluationInvited => &[Ticket, Application],
            // The outcome of a 差评's rectification, for the citizen who gave it (inbox only).
            Self::EvaluationRectified => &[Ticket, Application],
            Self::LicenceVerified => &[Licence],
            // 代办 with consent: the person asked is told of the request on the template a
            // citizen grants when applying themselves (long-term: one grant lasts); the agent
            // is told the answer to their own application.
            Self::ConsentRequested | Self::ConsentAccepted | Self::ConsentRefused => &[Application],
        }
    }
}

/// A subscribe-message template, by the name the configuration gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateConfig {
    /// WeChat's template id.
    pub id: String,
    /// Long-term subscription (government services may have it): one consent, no countdown.
    #[serde(default)]
    pub long_term: bool,
}

/// How one kind is shown, in the inbox and as a subscribe message.
#[derive(Debug, Clone, Deserialize)]
pub struct KindConfig {
    /// Inbox title.
    pub title: String,
    /// Inbox text; `{name}` placeholders are filled from the payload.
    pub body: String,
    /// The template's name in `templates`; absent: inbox only.
    #[serde(default)]
    pub template: Option<String>,
    /// The mini-program page the message opens, with placeholders.
    #[serde(default)]
    pub page: Option<String>,
    /// The template's fields: key (whose prefix is its type) → text with placeholders.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

/// The notification settings.
#[derive(Debug, Clone, Deserialize)]
pub struct NotifyConfig {
    /// `formal`, `trial` or `developer`.
    pub miniprogram_state: String,
    pub lang: String,
    /// Run a delivery worker in this instance.
    pub worker: bool,
    pub poll_interval_ms: u64,
    pub batch_size: u32,
    /// Attempts before a message is given up (it stays in the inbox).
    pub max_attempts: i32,
    /// How long a claimed message belongs to one worker.
    pub lease_secs: u64,
    /// First pause before retrying a message WeChat did not take; doubles each attempt.
    pub retry_base_ms: u64,
    /// Longest pause between attempts.
    pub retry_max_ms: u64,
    pub templates: BTreeMap<String, TemplateConfig>,
    pub kinds: BTreeMap<String, KindConfig>,
}

/// What is wrong with the notification configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("notifications.kinds.{0} is missing")]
    MissingKind(&'static str),
    /// A kind nothing sends, and whose template no action would ask for: a typo, or a kind
    /// added to the file but not to [`NotificationKind`].
    #[error("notifications.kinds.{0} is no kind the gateway sends")]
    UnknownKind(String),
    #[error(
        "notifications.kinds.{kind} names template `{template}`, which notifications.templates does not have"
    )]
    UnknownTemplate { kind: String, template: String },
    #[error(
        "notifications.kinds.{kind}.data.{key}: `{key}` is not a WeChat field key (thing1, time2 …)"
    )]
    UnknownFieldType { kind: String, key: String },
    #[error("notifications.templates.{0}.id is empty")]
    EmptyTemplateId(String),
    #[error("notifications.miniprogram_state must be formal, trial or developer")]
    BadState,
    #[error("notifications.templates.{0} and another template have the same id")]
    DuplicateTemplateId(String),
    #[error("notifications.{0} is out of range ({1})")]
    OutOfRange(&'static str, &'static str),
}

impl NotifyConfig {
    /// # Errors
    /// See [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !["formal", "trial", "developer"].contains(&self.miniprogram_state.as_str()) {
            return Err(ConfigError::BadState);
        }
        let bounds: [(&'static str, bool, &'static str); 6] = [
            (
                "poll_interval_ms",
                (10..=3_600_000).contains(&self.poll_interval_ms),
                "10 to 3600000",
            ),
            (
                "batch_size",
                (1..=1000).contains(&self.batch_size),
                "1 to 1000",
            ),
            (
                "max_attempts",
                (1..=1000).contains(&self.max_attempts),
                "1 to 1000",
            ),
            (
                "lease_secs",
                (10..=86_400).contains(&self.lease_secs),
                "10 to 86400",
            ),
            (
                "retry_base_ms",
                (1..=3_600_000).contains(&self.retry_base_ms),
                "1 to 3600000",
            ),
            (
                "retry_max_ms",
                (self.retry_base_ms..=86_400_000).contains(&self.retry_max_ms),
                "retry_base_ms to 86400000",
            ),
        ];
        for (name, ok, range) in bounds {
            if !ok {
                return Err(ConfigError::OutOfRange(name, range));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for (name, t) in &self.templates {
            if t.id.trim().is_empty() {
                return Err(ConfigError::EmptyTemplateId(name.clone()));
            }
            if !ids.insert(t.id.as_str()) {
                return Err(ConfigError::DuplicateTemplateId(name.clone()));
            }
        }
        for kind in NotificationKind::ALL {
            if !self.kinds.contains_key(kind.as_str()) {
                return Err(ConfigError::MissingKind(kind.as_str()));
            }
        }
        for (name, kind) in &self.kinds {
            if NotificationKind::from_name(name).is_none() {
                return Err(ConfigError::UnknownKind(name.clone()));
            }
            if let Some(template) = &kind.template
                && !self.templates.contains_key(template)
            {
                return Err(ConfigError::UnknownTemplate {
                    kind: name.clone(),
                    template: template.clone(),
                });
            }
            for key in kind.data.keys() {
                if FieldType::of_key(key).is_none() {
                    return Err(ConfigError::UnknownFieldType {
                        kind: name.clone(),
                        key: key.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    pub(super) fn kind(&self, kind: NotificationKind) -> Option<&KindConfig> {
        self.kinds.get(kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_name_and_follows_some_action() {
        for &kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::from_name(kind.as_str()), Some(kind));
            assert!(!kind.follows().is_empty(), "{kind:?} follows no action");
        }
        assert_eq!(NotificationKind::from_name("booking"), None);
    }
}
