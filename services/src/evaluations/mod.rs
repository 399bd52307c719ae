//! 好差评 (domain-rules.md, Evaluation): every served ticket (现场, 一次一评) and every
//! concluded or rejected case (网上, 一事一评) is rated once by the citizen it was for; every
//! real-name 差评 opens a rectification ticket counted on the working-day calendar; every rating
//! reaches the platform (province-api.md, Evaluations) through the shared outbox.
//!
//! The decisions a reader needs:
//! - "Once" is the unique index on `evaluations (subject_kind, subject_id)`: a second rating, two
//!   racing ratings, and a rating racing the window's default all meet it and one wins. Nothing
//!   checks first.
//! - The invitation row (written in the transaction that finished the ticket or recorded the
//!   conclusion) is the subject's attribution and the start of the window; the rating copies it.
//! - A comment is shown to others only after WeChat's `msgSecCheck` said `pass` (or staff cleared
//!   a `review`); `risky` is refused; WeChat down keeps the rating with the comment `UNCHECKED`
//!   and a worker asks again. The platform gets a comment only once it may be shown.

mod batch;
mod forward;
mod inbox;
mod invite;
mod rate;
mod rectify;
mod stats;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

pub use self::forward::EvaluationForwarder;
pub use self::inbox::{InboxEntry, InboxError, InboxScope, RECTIFICATION_OVERDUE};
pub use self::invite::{invite_case, invite_ticket};
pub use self::rate::{FollowUpError, NewEvaluation, RateError};
pub use self::rectify::{
    RatingSummary, RectificationStatus, RectificationView, RectifyError, RectifyFilter,
};
pub use self::stats::{GroupBy, StatsRow, StatsScope, csv};
pub use self::worker::EvaluationWorker;
use crate::Deps;
use crate::calendar::CalendarStore;
use crate::notify::Notifications;
use crate::province::ProvinceClient;
use crate::province::outbox::OutboxConfig;
use crate::time::Clock;
use crate::wechat::WechatClient;

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// What is rated: the stored vocabulary (`entities::status`), so a row's kind is read typed.
pub use entities::status::SubjectKind;

/// A subject kind's rating channel.
pub trait Channel {
    /// The channel's indicators (domain-rules.md): offline for a ticket, online for a case.
    fn indicators(self) -> &'static [Indicator];
}

impl Channel for SubjectKind {
    fn indicators(self) -> &'static [Indicator] {
        match self {
            Self::Ticket => OFFLINE,
            Self::Case => ONLINE,
        }
    }
}

/// One indicator of a channel: its key on the wire and its name as the platform reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indicator {
    pub key: &'static str,
    pub name: &'static str,
}

/// 网上: 整体满意度, 办事效率, 办事指南精确度, 办事便捷度, 平台操作性.
pub const ONLINE: &[Indicator] = &[
    Indicator {
        key: "overall",
        name: "整体满意度",
    },
    Indicator {
        key: "efficiency",
        name: "办事效率",
    },
    Indicator {
        key: "guideAccuracy",
        name: "办事指南精确度",
    },
    Indicator {
        key: "convenience",
        name: "办事便捷度",
    },
    Indicator {
        key: "usability",
        name: "平台操作性",
    },
];

/// 现场: 整体满意度, 服务效率, 服务水平, 服务态度.
pub const OFFLINE: &[Indicator] = &[
    Indicator {
        key: "overall",
        name: "整体满意度",
    },
    Indicator {
        key: "efficiency",
        name: "服务效率",
    },
    Indicator {
        key: "serviceLevel",
        name: "服务水平",
    },
    Indicator {
        key: "attitude",
        name: "服务态度",
    },
];

/// The grade's words (domain-rules.md).
pub fn grade_text(grade: u8) -> &'static str {
    match grade {
        5 => "非常满意",
        4 => "满意",
        3 => "基本满意",
        2 => "不满意",
        _ => "非常不满意",
    }
}

pub use entities::status::CommentStatus;

/// Tags offered for a range of grades (差评 tags for 1–2 …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRule {
    pub grades: std::ops::RangeInclusive<u8>,
    pub tags: Vec<String>,
}

/// How evaluations work here.
#[derive(Debug, Clone)]
pub struct EvaluationConfig {
    /// The rating window; unrated after it, the subject gets the default 基本满意.
    pub window: Duration,
    /// Working days to rectify a 差评 when the hall sets none.
    pub rectify_days: u32,
    /// Working days to contact the citizen (回访).
    pub contact_days: u32,
    pub tags: Vec<TagRule>,
    /// The forwarder's outbox settings.
    pub outbox: OutboxConfig,
    /// One-statement ratings (PostgreSQL) in flight at once; those arriving meanwhile wait
    /// and go together in the next statement (group commit, `batch.rs`). 0: each rating its
    /// own statement (no group commit).
    pub statements_in_flight: usize,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        let tags = |grades, list: &[&str]| TagRule {
            grades,
            tags: list.iter().map(|t| (*t).to_owned()).collect(),
        };
        Self {
            window: Duration::from_secs(7 * 24 * 3600),
            rectify_days: 5,
            contact_days: 1,
            tags: vec![
                tags(
                    1..=2,
                    &[
                        "超时办理",
                        "材料超出指南",
                        "服务态度差",
                        "多次跑动",
                        "等候时间长",
                        "流程繁琐",
                    ],
                ),
                tags(3..=3, &["等候时间长", "指引不清", "流程繁琐"]),
                tags(
                    4..=5,
                    &["一次办好", "办事效率高", "服务热情", "指引清晰", "材料精简"],
                ),
            ],
            outbox: OutboxConfig {
                lease: Duration::from_secs(60),
                batch: 32,
                retry_base: Duration::from_secs(2),
                retry_cap: Duration::from_secs(60),
                park_after: Duration::from_secs(24 * 3600),
            },
            statements_in_flight: 4,
        }
    }
}

impl EvaluationConfig {
    /// The tags offered for `grade`.
    pub fn tags_for(&self, grade: u8) -> Vec<String> {
        self.tags
            .iter()
            .filter(|r| r.grades.contains(&grade))
            .flat_map(|r| r.tags.iter().cloned())
            .collect()
    }

    /// Whether `tag` is offered for `grade` ([`Self::tags_for`] without building the list).
    pub fn offers(&self, grade: u8, tag: &str) -> bool {
        self.tags
            .iter()
            .any(|r| r.grades.contains(&grade) && r.tags.iter().any(|t| t == tag))
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or_else(|_| chrono::Duration::days(7))
    }
}

/// A subject waiting for its citizen's rating.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub kind: SubjectKind,
    pub subject_id: String,
    pub item_name: Option<String>,
    /// The hall's name, or the item's department online.
    pub place: Option<String>,
    pub invited_at: chrono::DateTime<chrono::Utc>,
    /// After this the default 基本满意 is recorded.
    pub due_at: chrono::DateTime<chrono::Utc>,
}

/// An evaluation as its citizen sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationView {
    pub id: String,
    pub kind: SubjectKind,
    pub subject_id: String,
    pub grade: u8,
    pub indicators: BTreeMap<String, u8>,
    pub tags: Vec<String>,
    pub comment: Option<String>,
    pub comment_status: CommentStatus,
    pub defaulted: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub rectification: Option<RectificationView>,
    pub follow_up: Option<FollowUp>,
}

/// The one 追评 after a rectification.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    pub grade: u8,
    pub comment: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The evaluation service; cheap to clone.
#[derive(Clone)]
pub struct EvaluationService {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    wechat: WechatClient,
    province: ProvinceClient,
    calendar: CalendarStore,
    notifications: Notifications,
    clock: Clock,
    config: EvaluationConfig,
    /// Wakes this instance's forwarder after a rating.
    wake: Notify,
    /// The platform's breaker opened since the last delivery ([`crate::province::outbox::round`]).
    breaker_opened: std::sync::atomic::AtomicBool,
    /// Group commit of one-statement ratings.
    batcher: batch::Batcher,
}

impl EvaluationService {
    pub fn new(deps: &Deps, config: EvaluationConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: deps.db.clone(),
                wechat: deps.wechat.clone(),
                province: deps.province.clone(),
                calendar: deps.calendar.clone(),
                notifications: deps.notifications.clone(),
                clock: deps.clock.clone(),
                wake: Notify::new(),
                breaker_opened: std::sync::atomic::AtomicBool::new(false),
                batcher: batch::Batcher::new(config.statements_in_flight),
                config,
            }),
        }
    }

    pub fn config(&self) -> &EvaluationConfig {
        &self.inner.config
    }

    /// Ratings waiting for the next one-statement write (always 0 on SQLite): for tests that
    /// hold a statement and queue ratings behind it.
    pub fn ratings_waiting(&self) -> usize {
        self.inner.batcher.waiting()
    }

    /// The forwarder to the platform; run one per instance.
    pub fn forwarder(&self) -> EvaluationForwarder {
        EvaluationForwarder::new(self.clone())
    }

    /// The worker for the window's default, comments to check again and overdue rectifications;
    /// run one per instance.
    pub fn worker(&self) -> EvaluationWorker {
        EvaluationWorker::new(self.clone())
    }
}
