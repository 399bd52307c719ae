//! The stored vocabularies: every status column's values, each written once, here. A column of
//! these types is still a string column (the migrations are unchanged: `db_type = String`); the
//! enum is what the code compares, and `as_str` what a raw SQL statement binds.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One vocabulary: the enum with sea-orm's `DeriveActiveEnum`, and, generated from the same
/// table, `as_str` (for SQL written by hand and for logs), `parse` and `ALL`.
macro_rules! vocabulary {
    ($(
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $stored:tt, )+
        }
    )+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $( $(#[$vmeta])* #[sea_orm(string_value = $stored)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $stored,)+
                }
            }

            /// The value a stored string names, if it names one.
            pub fn parse(stored: &str) -> Option<Self> {
                match stored {
                    $($stored => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

vocabulary! {
    /// A slot's state (`slots.status`).
    pub enum SlotStatus {
        /// Bookable.
        Open = "OPEN",
        /// Closed by the hall (a closed day): nothing more is booked in it.
        Closed = "CLOSED",
    }

    /// A booking's state (`bookings.status`).
    pub enum BookingStatus {
        Booked = "BOOKED",
        CheckedIn = "CHECKED_IN",
        Cancelled = "CANCELLED",
        CancelledByHall = "CANCELLED_BY_HALL",
        Rescheduled = "RESCHEDULED",
        NoShow = "NO_SHOW",
    }

    /// What was done with a licence (`licence_uses.action`).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum LicenceAction {
        Display = "DISPLAY",
        Reveal = "REVEAL",
        Present = "PRESENT",
        Verify = "VERIFY",
    }

    /// A licence verification's verdict (`licence_uses.verdict`).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum LicenceVerdict {
        Valid = "VALID",
        Invalid = "INVALID",
    }

    /// Who revoked a family relation (`family_members.revoked_by`).
    pub enum RevokedBy {
        /// The citizen whose phone held the member.
        Citizen = "CITIZEN",
        /// The member, from their own account.
        Member = "MEMBER",
    }

    /// What `wx.requestSubscribeMessage` answered for one template
    /// (`subscription_consents.last_result`), spelled as WeChat spells it.
    pub enum ConsentResult {
        Accept = "accept",
        Reject = "reject",
        /// The citizen turned the template off in WeChat's settings.
        Ban = "ban",
        /// WeChat filtered the template (similar titles).
        Filter = "filter",
    }

    /// A ticket's state (`tickets.state`); the live hub's events carry it as its stored string.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TicketState {
        Waiting = "WAITING",
        Called = "CALLED",
        Serving = "SERVING",
        Done = "DONE",
        NoShow = "NO_SHOW",
        Cancelled = "CANCELLED",
    }

    /// How a ticket was taken (`tickets.source`).
    pub enum TicketSource {
        /// By the citizen in the mini-program (线上取号).
        Remote = "REMOTE",
        /// At a counter or the kiosk (现场取号).
        WalkIn = "WALK_IN",
        /// By checking in a booking (预约签到).
        Booking = "BOOKING",
    }

    /// Where the delivery of an application, a supplement or a bundle to the platform stands
    /// (`applications.status`, `supplements.status`, `bundle_applications.status`).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum Delivery {
        /// Stored, not yet tried.
        Submitting = "SUBMITTING",
        /// Tried and the platform could not be reached; it will be sent when it can.
        Queued = "QUEUED",
        /// The platform has it (an application has its `sblsh`).
        Submitted = "SUBMITTED",
        /// The platform refused it for good (422 with field reasons, 413).
        Invalid = "INVALID",
        /// Failing for too long, or refused in a way the citizen cannot fix: an operator decides.
        Parked = "PARKED",
        /// For someone not on the citizen's phone: waits for that person's consent; nothing is
        /// sent.
        AwaitingConsent = "AWAITING_CONSENT",
        /// The person refused: it is never sent.
        ConsentRefused = "CONSENT_REFUSED",
        /// The person did not answer in time: it is never sent.
        ConsentExpired = "CONSENT_EXPIRED",
    }

    /// Where a consent request stands (`application_consents.status`).
    pub enum ConsentStatus {
        Pending = "PENDING",
        Accepted = "ACCEPTED",
        Refused = "REFUSED",
        Expired = "EXPIRED",
    }

    /// A province outbox row's state (`province_outbox`, `bundle_outbox`, `evaluation_outbox`).
    pub enum OutboxStatus {
        /// Waiting to be sent (now or at `next_attempt_at`).
        Pending = "PENDING",
        /// Claimed by a forwarder until `claimed_until`.
        Sending = "SENDING",
        /// Settled: the platform has it (or refused it for good).
        Done = "DONE",
        /// Failing for too long, or refused in a way only an operator can fix.
        Parked = "PARKED",
    }

    /// Where a notification stands (`notifications.status`). Every status but `Pending`,
    /// `Sending` and `InFlight` is final; every notification is in the inbox whatever its status.
    pub enum NotificationStatus {
        /// Waiting for the worker.
        Pending = "PENDING",
        /// Claimed by a worker until its lease ends.
        Sending = "SENDING",
        /// Handed to WeChat and not answered yet. A worker that dies now leaves it here: when
        /// the lease passes it becomes `ProbablySent`, never sent again.
        InFlight = "IN_FLIGHT",
        /// WeChat accepted it.
        Sent = "SENT",
        /// The request reached WeChat but no answer did (a timeout, a cut connection, a worker
        /// that died mid-send): probably delivered. Not sent again, since WeChat has no
        /// idempotency key and a resend would be a second message on a second consent; the
        /// inbox has it.
        ProbablySent = "PROBABLY_SENT",
        /// The citizen has no consent left for its template: inbox only.
        NoQuota = "NO_QUOTA",
        /// The kind has no template: inbox only.
        InboxOnly = "INBOX_ONLY",
        /// WeChat refused it for good, or it ran out of attempts: inbox only.
        Failed = "FAILED",
    }

    /// The state of one identity verification attempt (`identity_verifications.status`).
    pub enum VerificationStatus {
        /// Recorded, WeChat not asked yet (or it failed to answer).
        Starting = "STARTING",
        /// WeChat gave a verify_id; waiting for the mini-program.
        Pending = "PENDING",
        Passed = "PASSED",
        Failed = "FAILED",
        Expired = "EXPIRED",
    }

    /// Where a comment stands (`evaluations.comment_status`, `evaluations.follow_up_status`).
    pub enum CommentStatus {
        /// No comment.
        None = "NONE",
        /// WeChat could not be asked yet: hidden, asked again by the worker.
        Unchecked = "UNCHECKED",
        /// WeChat passed it: shown.
        Pass = "PASS",
        /// WeChat is unsure: hidden until staff clear it.
        Review = "REVIEW",
        /// Staff cleared a `review`: shown.
        Cleared = "CLEARED",
        /// Staff (or a later `risky`) hid it for good.
        Hidden = "HIDDEN",
    }

    /// A rectification ticket's state (`rectifications.status`).
    pub enum RectificationStatus {
        Open = "OPEN",
        Contacted = "CONTACTED",
        Rectified = "RECTIFIED",
    }

    /// What an evaluation rates (`evaluations.subject_kind`, `evaluation_invitations.subject_kind`).
    pub enum SubjectKind {
        /// A served queue ticket (现场, 一次一评).
        Ticket = "TICKET",
        /// A concluded or rejected application (网上, 一事一评).
        Case = "CASE",
    }

    /// A case's phase as stored (`applications.phase`, `case_events.phase`): the platform's own
    /// words for it (province-api.md, "Case events"), mapped from the client's wire enum in
    /// `services::applications::events`.
    pub enum CasePhase {
        PreAccepted = "PRE_ACCEPTED",
        Accepted = "ACCEPTED",
        Rejected = "REJECTED",
        InReview = "IN_REVIEW",
        SupplementRequired = "SUPPLEMENT_REQUIRED",
        Supplemented = "SUPPLEMENTED",
        SpecialProcedure = "SPECIAL_PROCEDURE",
        Concluded = "CONCLUDED",
        Delivered = "DELIVERED",
    }
}

impl TicketState {
    /// Still in the hall's hands: waiting, called or being served.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Waiting | Self::Called | Self::Serving)
    }
}

impl CommentStatus {
    /// Whether others (staff statistics, the platform) may read it.
    pub fn visible(self) -> bool {
        matches!(self, Self::Pass | Self::Cleared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each vocabulary: every value goes to its stored string and back, through sea-orm's
    /// `ActiveEnum` and through `as_str`/`parse`, the strings are distinct, and a stranger is
    /// refused.
    fn round_trips<E>(all: &[E], as_str: fn(E) -> &'static str, parse: fn(&str) -> Option<E>)
    where
        E: ActiveEnum<Value = String> + Copy + PartialEq + std::fmt::Debug,
    {
        let mut seen = std::collections::HashSet::new();
        for &value in all {
            let stored = value.to_value();
            assert_eq!(stored, as_str(value));
            assert!(seen.insert(stored.clone()), "{stored} twice");
            assert_eq!(E::try_from_value(&stored).ok(), Some(value));
            assert_eq!(parse(&stored), Some(value));
        }
        assert_eq!(seen.len(), E::values().len());
        assert!(E::try_from_value(&"no such".to_owned()).is_err());
        assert_eq!(parse("no such"), None);
    }

    #[test]
    fn every_vocabulary_round_trips_its_stored_strings() {
        round_trips(SlotStatus::ALL, SlotStatus::as_str, SlotStatus::parse);
        round_trips(
            BookingStatus::ALL,
            BookingStatus::as_str,
            BookingStatus::parse,
        );
        round_trips(TicketState::ALL, TicketState::as_str, TicketState::parse);
        round_trips(TicketSource::ALL, TicketSource::as_str, TicketSource::parse);
        round_trips(Delivery::ALL, Delivery::as_str, Delivery::parse);
        round_trips(
            ConsentStatus::ALL,
            ConsentStatus::as_str,
            ConsentStatus::parse,
        );
        round_trips(OutboxStatus::ALL, OutboxStatus::as_str, OutboxStatus::parse);
        round_trips(
            NotificationStatus::ALL,
            NotificationStatus::as_str,
            NotificationStatus::parse,
        );
        round_trips(
            VerificationStatus::ALL,
            VerificationStatus::as_str,
            VerificationStatus::parse,
        );
        round_trips(
            CommentStatus::ALL,
            CommentStatus::as_str,
            CommentStatus::parse,
        );
        round_trips(
            RectificationStatus::ALL,
            RectificationStatus::as_str,
            RectificationStatus::parse,
        );
        round_trips(SubjectKind::ALL, SubjectKind::as_str, SubjectKind::parse);
        round_trips(CasePhase::ALL, CasePhase::as_str, CasePhase::parse);
    }

    /// The strings are the ones the migrations and the stored rows use: a rename here would
    /// strand every stored row.
    #[test]
    fn the_stored_strings_are_unchanged() {
        assert_eq!(SlotStatus::Open.as_str(), "OPEN");
        assert_eq!(BookingStatus::CancelledByHall.as_str(), "CANCELLED_BY_HALL");
        assert_eq!(TicketState::NoShow.as_str(), "NO_SHOW");
        assert_eq!(TicketSource::WalkIn.as_str(), "WALK_IN");
        assert_eq!(Delivery::AwaitingConsent.as_str(), "AWAITING_CONSENT");
        assert_eq!(OutboxStatus::Parked.as_str(), "PARKED");
        assert_eq!(NotificationStatus::ProbablySent.as_str(), "PROBABLY_SENT");
        assert_eq!(CommentStatus::Unchecked.as_str(), "UNCHECKED");
        assert_eq!(SubjectKind::Ticket.as_str(), "TICKET");
        assert_eq!(
            CasePhase::SupplementRequired.as_str(),
            "SUPPLEMENT_REQUIRED"
        );
    }
}
