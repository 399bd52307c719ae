//! The consent ledger: how many subscribe messages of each template a citizen has allowed.
//! WeChat grants one message per `accept` in `wx.requestSubscribeMessage`, with no time limit;
//! long-term templates (government services may have them) are not counted down.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use super::{NotificationKind, Notifications, SubscribeAction};
use entities::subscription_consent as consent;

/// What `wx.requestSubscribeMessage` answered for one template: the stored vocabulary
/// (`subscription_consents.last_result`).
pub use entities::status::ConsentResult;

/// One template as the mini-program needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateStatus {
    pub template_id: String,
    /// The kinds that use it.
    pub kinds: Vec<String>,
    /// The actions its kinds follow from: ask for it from the tap that starts one of them.
    pub actions: Vec<SubscribeAction>,
    pub long_term: bool,
    /// Messages that may still be sent (long-term: 1 once accepted).
    pub remaining: i32,
    pub last_result: Option<ConsentResult>,
    /// Worth asking the citizen again with `wx.requestSubscribeMessage`.
    pub ask_again: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("unknown template id `{0}`")]
    UnknownTemplate(String),
    #[error("`{0}` is not a subscribe result (accept, reject, ban, filter)")]
    BadResult(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Hears each consent a citizen accepted, as the mini-program reported it. In production nobody
/// needs telling: WeChat learnt it from the citizen's own tap in `wx.requestSubscribeMessage`.
/// The demo has no WeChat client between the mini-program and its WeChat simulator, so the
/// simulator is told this way and follows the consent the mini-program reports.
pub trait ConsentEcho: Send + Sync {
    fn accepted(&self, openid: &str, template_id: &str);
}

/// Counts at most this many unused consents per template; more is a client looping.
const MAX_REMAINING: i32 = 100;

impl Notifications {
    /// Records what `wx.requestSubscribeMessage` returned: `{templateId: result}`; the
    /// `errMsg` entry it also carries is ignored.
    ///
    /// # Errors
    /// [`ConsentError::UnknownTemplate`] for a template id the configuration does not have,
    /// [`ConsentError::BadResult`] for a result WeChat does not give; nothing is recorded then.
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id))]
    pub async fn record_consent(
        &self,
        citizen_id: i64,
        results: &BTreeMap<String, String>,
    ) -> Result<Vec<TemplateStatus>, ConsentError> {
        let mut parsed = Vec::new();
        for (template_id, result) in results {
            if template_id == "errMsg" {
                continue;
            }
            if !self.inner.by_template_id.contains_key(template_id) {
                return Err(ConsentError::UnknownTemplate(template_id.clone()));
            }
            let result = ConsentResult::parse(result)
                .ok_or_else(|| ConsentError::BadResult(result.clone()))?;
            parsed.push((template_id.clone(), result));
        }
        let db = &self.inner.db;
        let mut accepted = Vec::new();
        for (template_id, result) in parsed {
            let template_id_for_echo = template_id.clone();
            let now = self.inner.clock.now();
            let (remaining, banned) = match result {
                ConsentResult::Accept => (1, false),
                ConsentResult::Ban => (0, true),
                ConsentResult::Reject | ConsentResult::Filter => (0, false),
            };
            let mut on_conflict =
                OnConflict::columns([consent::Column::CitizenId, consent::Column::TemplateId]);
            on_conflict.value(consent::Column::LastResult, Expr::value(result.as_str()));
            on_conflict.value(consent::Column::UpdatedAt, Expr::value(now));
            match result {
                ConsentResult::Accept => {
                    // One more message allowed; an accept also lifts an earlier ban.
                    let current = || Expr::col((consent::Entity, consent::Column::Remaining));
                    on_conflict.value(
                        consent::Column::Remaining,
                        Expr::case(current().gte(MAX_REMAINING), MAX_REMAINING)
                            .finally(current().add(1)),
                    );
                    on_conflict.value(consent::Column::Banned, Expr::value(false));
                }
                ConsentResult::Ban => {
                    on_conflict.value(consent::Column::Remaining, Expr::value(0));
                    on_conflict.value(consent::Column::Banned, Expr::value(true));
                }
                ConsentResult::Reject | ConsentResult::Filter => {}
            }
            consent::Entity::insert(consent::ActiveModel {
                citizen_id: Set(citizen_id),
                template_id: Set(template_id),
                remaining: Set(remaining),
                banned: Set(banned),
                last_result: Set(Some(result)),
                updated_at: Set(now),
            })
            .on_conflict(on_conflict.to_owned())
            .exec_without_returning(db)
            .await
            .context("record consent")?;
            if result == ConsentResult::Accept {
                accepted.push(template_id_for_echo);
            }
        }
        if let Some(echo) = self.inner.echo.get()
            && !accepted.is_empty()
        {
            let openid = crate::identity::openid_of(db, citizen_id).await?;
            for template_id in &accepted {
                echo.accepted(&openid, template_id);
            }
        }
        Ok(self.subscriptions(citizen_id).await?)
    }

    /// Every configured template with the citizen's standing for it.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn subscriptions(&self, citizen_id: i64) -> anyhow::Result<Vec<TemplateStatus>> {
        let rows: BTreeMap<String, consent::Model> = consent::Entity::find()
            .filter(consent::Column::CitizenId.eq(citizen_id))
            .all(&self.inner.db)
            .await
            .context("load consents")?
            .into_iter()
            .map(|row| (row.template_id.clone(), row))
            .collect();
        let config = &self.inner.config;
        Ok(config
            .templates
            .iter()
            .map(|(name, template)| {
                let row = rows.get(&template.id);
                let remaining = row.map_or(0, |r| r.remaining);
                let banned = row.is_some_and(|r| r.banned);
                let kinds: Vec<String> = config
                    .kinds
                    .iter()
                    .filter(|(_, k)| k.template.as_deref() == Some(name.as_str()))
                    .map(|(kind, _)| kind.clone())
                    .collect();
                let actions: BTreeSet<SubscribeAction> = kinds
                    .iter()
                    .filter_map(|kind| NotificationKind::from_name(kind))
                    .flat_map(|kind| kind.follows().iter().copied())
                    .collect();
                TemplateStatus {
                    template_id: template.id.clone(),
                    kinds,
                    actions: actions.into_iter().collect(),
                    long_term: template.long_term,
                    remaining: if template.long_term {
                        Ord::min(remaining, 1)
                    } else {
                        remaining
                    },
                    last_result: row.and_then(|r| r.last_result),
                    ask_again: !banned && remaining == 0,
                }
            })
            .collect())
    }
}

/// Takes one message of consent for sending; long-term templates only need a standing consent.
/// `false`: nothing to take, the message stays in the inbox only.
pub(super) async fn reserve(
    db: &impl ConnectionTrait,
    citizen_id: i64,
    template_id: &str,
    long_term: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let scope = || {
        consent::Entity::update_many()
            .filter(consent::Column::CitizenId.eq(citizen_id))
            .filter(consent::Column::TemplateId.eq(template_id))
            .filter(consent::Column::Remaining.gt(0))
            .filter(consent::Column::Banned.eq(false))
    };
    let taken = if long_term {
        scope()
            .col_expr(consent::Column::UpdatedAt, Expr::value(now))
            .exec(db)
            .await
    } else {
        scope()
            .col_expr(
                consent::Column::Remaining,
                Expr::col(consent::Column::Remaining).sub(1),
            )
            .col_expr(consent::Column::UpdatedAt, Expr::value(now))
            .exec(db)
            .await
    };
    Ok(taken.context("reserve a consent")?.rows_affected == 1)
}

/// Gives back a consent taken for a send that did not happen.
pub(super) async fn refund(
    db: &impl ConnectionTrait,
    citizen_id: i64,
    template_id: &str,
) -> anyhow::Result<()> {
    consent::Entity::update_many()
        .col_expr(
            consent::Column::Remaining,
            Expr::col(consent::Column::Remaining).add(1),
        )
        .filter(consent::Column::CitizenId.eq(citizen_id))
        .filter(consent::Column::TemplateId.eq(template_id))
        .exec(db)
        .await
        .context("refund a consent")?;
    Ok(())
}

/// WeChat says the citizen has no quota left (43101): believe it.
pub(super) async fn exhaust(
    db: &impl ConnectionTrait,
    citizen_id: i64,
    template_id: &str,
) -> anyhow::Result<()> {
    consent::Entity::update_many()
        .col_expr(consent::Column::Remaining, Expr::value(0))
        .filter(consent::Column::CitizenId.eq(citizen_id))
        .filter(consent::Column::TemplateId.eq(template_id))
        .exec(db)
        .await
        .context("exhaust a consent")?;
    Ok(())
}
