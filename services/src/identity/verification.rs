//! Proving a real-name identity with WeChat's face verification (人脸核身 2.0,
//! reference/wechat.md §8): `start` names the person and asks WeChat for a verify_id, the
//! mini-program runs `wx.requestFacialVerify`, `complete` asks WeChat how it went and binds the
//! identity only on `errcode 0` and `verify_ret 10000`.
//!
//! The one decision to know: the face proves the person, so a passed verification always wins.
//! The identity moves to the verifying account from whichever account held it (verified or
//! not), inside one transaction, and that account is told (`IdentityNotice`); the unique
//! `citizens.id_card_index` decides between two accounts completing at once — the loser of the
//! race retries, and the later verification holds the identity.

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _,
    QueryFilter as _,
};

use super::citizens::{self, ID_CARD, NAME, context};
use super::profile::{CitizenProfile, IdentityNoticeKind};
use super::service::{ID_CARD_INDEX, IdentityService};
use super::{IdCardNo, IdCardNoError, PersonName, PersonNameError};
use crate::crypto::FieldContext;
use crate::limits::{LimitError, Limited, Quota};
use crate::sessions::Session;
use crate::wechat::WechatError;
use crate::wechat::face::{CertInfo, IDENTITY_CARD, PASSED, cert_hash};
use entities::{citizen, identity_verification as verification};

const TABLE: &str = "identity_verifications";
/// A verify_id lives an hour (§8); never trust a longer life than that.
const LONGEST_LIFE_SECS: i64 = 3600;
/// Attempts of the binding transaction when a concurrent one takes the identity first.
const BIND_ATTEMPTS: usize = 4;

/// How many face verifications may be started a day.
#[derive(Debug, Clone, Copy)]
pub struct VerificationLimits {
    /// By one account (its own and its family members' together).
    pub per_citizen: Quota,
    /// Of one ID number, by any account.
    pub per_id_card: Quota,
}

impl VerificationLimits {
    pub const fn per_day(per_citizen: u64, per_id_card: u64) -> Self {
        const DAY: Duration = Duration::from_secs(86_400);
        Self {
            per_citizen: Quota {
                max: per_citizen,
                window: DAY,
            },
            per_id_card: Quota {
                max: per_id_card,
                window: DAY,
            },
        }
    }
}

pub use entities::status::VerificationStatus;

/// Whose identity a verification proves: the account's own, or a family member's on its phone
/// (`family.rs`). The same attempts and limits; a different effect when the face passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Own,
    Member,
}

impl Purpose {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Own => "SELF",
            Self::Member => "MEMBER",
        }
    }
}

/// A verification whose face passed, with the person it names (decrypted).
pub(super) enum Passed {
    /// Passed now: the caller applies its effect, closing the attempt in the same transaction.
    Now {
        row: verification::Model,
        name: String,
        id_card_no: String,
    },
    /// Passed before (a repeated call after a lost answer): the effect was applied then.
    Before(verification::Model),
}

/// What the mini-program needs for `wx.requestFacialVerify`.
#[derive(Debug, Clone)]
pub struct StartedVerification {
    /// Ours (`out_seq_no`): the id to complete.
    pub id: String,
    pub verify_id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartVerificationError {
    #[error(transparent)]
    Name(#[from] PersonNameError),
    #[error(transparent)]
    IdCardNo(#[from] IdCardNoError),
    /// The account holds another, verified identity.
    #[error("the account has another verified identity")]
    AlreadyBound,
    #[error(transparent)]
    RateLimited(Limited),
    #[error("WeChat is busy or unreachable")]
    UpstreamBusy(#[source] WechatError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// How a face verification that did not pass ended (`verify_ret`, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceFailure {
    /// 90002–90006, 90024: the user cancelled.
    Cancelled,
    /// 90008–90010: camera or microphone not allowed.
    PermissionDenied,
    /// 90011, 90013, 90014 (invalid face data) and 10001–10099 (the face is not the named
    /// person's, or the data did not match).
    FaceMismatch,
    /// 90017, 90107.
    TimedOut,
    /// 90001, 90109.
    DeviceUnsupported,
    /// 90007, 90012 (network) and every system error (90018, 90104–90110, 90199 …).
    System,
}

/// The class of a `verify_ret`; `Ok` only for 10000.
///
/// # Errors
/// The class of every other value.
pub fn classify(verify_ret: i64) -> Result<(), FaceFailure> {
    match verify_ret {
        PASSED => Ok(()),
        90002..=90006 | 90024 => Err(FaceFailure::Cancelled),
        90008..=90010 => Err(FaceFailure::PermissionDenied),
        90011 | 90013 | 90014 | 10001..=10099 => Err(FaceFailure::FaceMismatch),
        90017 | 90107 => Err(FaceFailure::TimedOut),
        90001 | 90109 => Err(FaceFailure::DeviceUnsupported),
        _ => Err(FaceFailure::System),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompleteVerificationError {
    /// No such verification of this account.
    #[error("no such verification")]
    NotFound,
    /// It ended already (failed or expired): start a new one.
    #[error("the verification has ended")]
    Finished,
    /// The verify_id's hour is over.
    #[error("the verification expired")]
    Expired,
    #[error("the face verification did not pass: {0:?}")]
    Failed(FaceFailure),
    /// WeChat refused the question (a cert_hash or openid that is not step 1's, an unknown
    /// verify_id): nothing is bound.
    #[error("WeChat refused the verification query")]
    Refused(#[source] WechatError),
    /// The account verified another person first.
    #[error("the account has another verified identity")]
    AlreadyBound,
    #[error("WeChat is busy or unreachable")]
    UpstreamBusy(#[source] WechatError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn field(column: &'static str, citizen_id: i64) -> FieldContext {
    FieldContext {
        table: TABLE,
        column,
        row_id: citizen_id,
    }
}

fn busy(e: &WechatError) -> bool {
    e.is_transient() || matches!(e, WechatError::TokenRefreshTimeout)
}

impl IdentityService {
    /// Starts a face verification of the person named, for the citizen's own account.
    ///
    /// # Errors
    /// [`StartVerificationError::Name`] / [`StartVerificationError::IdCardNo`] for values that do
    /// not parse (WeChat is not asked); [`StartVerificationError::AlreadyBound`] when the account
    /// holds another verified identity; [`StartVerificationError::RateLimited`] past the daily
    /// attempts of the account or of the ID number; busy as WeChat says.
    #[tracing::instrument(skip_all, fields(citizen_id = session.citizen_id))]
    pub async fn start_verification(
        &self,
        session: &Session,
        name: &str,
        id_card_no: &str,
    ) -> Result<StartedVerification, StartVerificationError> {
        let name = PersonName::parse(name)?;
        let id_card_no = IdCardNo::parse_as_of(id_card_no, self.clock.today())?;
        let me = session.citizen_id;
        let index = self.id_card_index(&id_card_no);
        let row = citizens::find(&self.db, me)
            .await
            .context("load citizen")?
            .with_context(|| format!("citizen {me} is gone"))?;
        if row.identity_verified_at.is_some() && row.id_card_index.as_deref() != Some(&index) {
            return Err(StartVerificationError::AlreadyBound);
        }
        self.start_face(session, &name, &id_card_no, index, Purpose::Own)
            .await
    }

    /// The blind index identities are keyed by (`citizens.id_card_index`).
    pub(super) fn id_card_index(&self, id_card_no: &IdCardNo) -> String {
        self.index.compute(ID_CARD_INDEX, id_card_no.as_str())
    }

    /// Counts the attempt against the account's and the ID number's daily limits, records it
    /// and asks WeChat for a verify_id (`getverifyid`, §8) — for either purpose.
    pub(super) async fn start_face(
        &self,
        session: &Session,
        name: &PersonName,
        id_card_no: &IdCardNo,
        index: String,
        purpose: Purpose,
    ) -> Result<StartedVerification, StartVerificationError> {
        let me = session.citizen_id;
        self.limit_verification(&format!("face:citizen:{me}"), self.verification.per_citizen)
            .await?;
        self.limit_verification(&format!("face:id:{index}"), self.verification.per_id_card)
            .await?;

        let out_seq_no = uuid::Uuid::new_v4().simple().to_string();
        let now = self.clock.now();
        let inserted = verification::Entity::insert(verification::ActiveModel {
            out_seq_no: Set(out_seq_no.clone()),
            citizen_id: Set(me),
            name_cipher: Set(self
                .cipher
                .encrypt(name.as_str().as_bytes(), &field(NAME, me))),
            id_card_cipher: Set(self
                .cipher
                .encrypt(id_card_no.as_str().as_bytes(), &field(ID_CARD, me))),
            id_card_index: Set(index),
            status: Set(VerificationStatus::Starting),
            created_at: Set(now),
            purpose: Set(purpose.as_str().to_owned()),
            ..Default::default()
        })
        .exec(&self.db)
        .await
        .context("record the verification")?;
        let row_id = inserted.last_insert_id;

        let cert = CertInfo {
            cert_name: name.as_str(),
            cert_no: id_card_no.as_str(),
        };
        let answer = self
            .wechat
            .get_verify_id(&out_seq_no, &cert, &session.openid)
            .await;
        let verify = match answer {
            Ok(verify) => verify,
            Err(e) => {
                let finished = verification::ActiveModel {
                    id: Set(row_id),
                    status: Set(VerificationStatus::Failed),
                    errcode: Set(e.errcode()),
                    completed_at: Set(Some(self.clock.now())),
                    ..Default::default()
                };
                verification::Entity::update(finished)
                    .exec(&self.db)
                    .await
                    .context("record the refused verification")?;
                return Err(if busy(&e) {
                    StartVerificationError::UpstreamBusy(e)
                } else {
                    anyhow::Error::new(e).context("getverifyid").into()
                });
            }
        };
        let life = verify.expires_in.clamp(0, LONGEST_LIFE_SECS);
        let expires_at = now + chrono::Duration::seconds(life);
        verification::Entity::update(verification::ActiveModel {
            id: Set(row_id),
            verify_id: Set(Some(verify.verify_id.clone())),
            expires_at: Set(Some(expires_at)),
            status: Set(VerificationStatus::Pending),
            ..Default::default()
        })
        .exec(&self.db)
        .await
        .context("record the verify_id")?;
        tracing::info!(id_card_no = ?id_card_no, out_seq_no, "face verification started");
        Ok(StartedVerification {
            id: out_seq_no,
            verify_id: verify.verify_id,
            expires_at,
        })
    }

    /// Asks WeChat how the face verification went and, when it passed, binds the identity to the
    /// citizen's account, taking it from any other account (which is told).
    ///
    /// # Errors
    /// [`CompleteVerificationError::NotFound`] for an id that is not this account's;
    /// [`CompleteVerificationError::Finished`] for one that failed or expired already;
    /// [`CompleteVerificationError::Expired`] past the verify_id's hour;
    /// [`CompleteVerificationError::Failed`] with the class of WeChat's `verify_ret`;
    /// [`CompleteVerificationError::Refused`] when WeChat answers a non-zero errcode (the
    /// cert_hash or openid is not step 1's); [`CompleteVerificationError::AlreadyBound`] when the
    /// account verified another person meanwhile; busy as WeChat says (the attempt stays open).
    #[tracing::instrument(skip_all, fields(citizen_id = session.citizen_id))]
    pub async fn complete_verification(
        &self,
        session: &Session,
        id: &str,
    ) -> Result<CitizenProfile, CompleteVerificationError> {
        let me = session.citizen_id;
        let (row, name, id_card_no) = match self.face_result(session, id, Purpose::Own).await? {
            // A repeated call after a lost answer sees what the first one did.
            Passed::Before(_) => return Ok(self.load_profile(me).await?),
            Passed::Now {
                row,
                name,
                id_card_no,
            } => (row, name, id_card_no),
        };
        let losers = self.bind_verified(&row, &name, &id_card_no).await?;
        tracing::info!(out_seq_no = row.out_seq_no, "identity verified and bound");
        for loser in losers {
            tracing::info!(loser, "identity moved away from another account");
            if let Err(e) = self.publish_profile(loser).await {
                tracing::error!(error = format!("{e:#}"), loser, "could not tell the loser");
            }
        }
        Ok(self.publish_profile(me).await?)
    }

    /// Asks WeChat how the account's verification `id` (of `purpose`) went (`queryverifyinfo`
    /// with the `cert_hash`, §8). Every outcome but a pass ends the attempt with its own error;
    /// a pass leaves it open for the caller to close together with its effect.
    pub(super) async fn face_result(
        &self,
        session: &Session,
        id: &str,
        purpose: Purpose,
    ) -> Result<Passed, CompleteVerificationError> {
        let me = session.citizen_id;
        let row = verification::Entity::find()
            .filter(verification::Column::OutSeqNo.eq(id))
            .filter(verification::Column::CitizenId.eq(me))
            .filter(verification::Column::Purpose.eq(purpose.as_str()))
            .one(&self.db)
            .await
            .context("load the verification")?
            .ok_or(CompleteVerificationError::NotFound)?;
        let (verify_id, expires_at) = match (Some(row.status), &row.verify_id, row.expires_at) {
            (Some(VerificationStatus::Passed), _, _) => return Ok(Passed::Before(row)),
            (Some(VerificationStatus::Pending), Some(verify_id), Some(expires_at)) => {
                (verify_id.clone(), expires_at)
            }
            (Some(VerificationStatus::Starting), _, _) => {
                return Err(CompleteVerificationError::NotFound);
            }
            _ => return Err(CompleteVerificationError::Finished),
        };
        if self.clock.now() >= expires_at {
            self.finish(&row, VerificationStatus::Expired, None, None)
                .await?;
            return Err(CompleteVerificationError::Expired);
        }
        let name = self
            .cipher
            .decrypt_string(&row.name_cipher, &field(NAME, me))
            .context("decrypt the verification's name")?;
        let id_card_no = self
            .cipher
            .decrypt_string(&row.id_card_cipher, &field(ID_CARD, me))
            .context("decrypt the verification's ID number")?;
        let hash = cert_hash(IDENTITY_CARD, &name, &id_card_no);
        let verify_ret = match self
            .wechat
            .query_verify_info(&verify_id, &row.out_seq_no, &hash, &session.openid)
            .await
        {
            Ok(ret) => ret,
            Err(e) if busy(&e) => return Err(CompleteVerificationError::UpstreamBusy(e)),
            Err(e @ WechatError::Api { .. }) => {
                tracing::warn!(errcode = ?e.errcode(), "queryverifyinfo refused");
                self.finish(&row, VerificationStatus::Failed, None, e.errcode())
                    .await?;
                return Err(CompleteVerificationError::Refused(e));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context("queryverifyinfo").into());
            }
        };
        if let Err(failure) = classify(verify_ret) {
            tracing::info!(verify_ret, ?failure, "face verification did not pass");
            self.finish(&row, VerificationStatus::Failed, Some(verify_ret), None)
                .await?;
            return Err(CompleteVerificationError::Failed(failure));
        }
        Ok(Passed::Now {
            row,
            name,
            id_card_no,
        })
    }

    /// Closes a passed attempt inside the caller's transaction; false when another call closed
    /// it first (and so applied its effect).
    pub(super) async fn close_passed(
        &self,
        txn: &impl ConnectionTrait,
        row: &verification::Model,
    ) -> Result<bool, sea_orm::DbErr> {
        let claimed = verification::Entity::update_many()
            .col_expr(
                verification::Column::Status,
                Expr::value(VerificationStatus::Passed),
            )
            .col_expr(verification::Column::VerifyRet, Expr::value(PASSED))
            .col_expr(
                verification::Column::CompletedAt,
                Expr::value(self.clock.now()),
            )
            .filter(verification::Column::Id.eq(row.id))
            .filter(verification::Column::Status.eq(VerificationStatus::Pending))
            .exec(txn)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    /// Ends an open attempt that did not pass (only if still open).
    pub(super) async fn finish(
        &self,
        row: &verification::Model,
        status: VerificationStatus,
        verify_ret: Option<i64>,
        errcode: Option<i64>,
    ) -> anyhow::Result<()> {
        verification::Entity::update_many()
            .col_expr(verification::Column::Status, Expr::value(status))
            .col_expr(verification::Column::VerifyRet, Expr::value(verify_ret))
            .col_expr(verification::Column::Errcode, Expr::value(errcode))
            .col_expr(
                verification::Column::CompletedAt,
                Expr::value(self.clock.now()),
            )
            .filter(verification::Column::Id.eq(row.id))
            .filter(verification::Column::Status.eq(VerificationStatus::Pending))
            .exec(&self.db)
            .await
            .context("end the verification")?;
        Ok(())
    }

    /// Binds the verified identity to the verification's account in one transaction: the
    /// attempt is closed (once), any other account holding the identity loses it and gets its
    /// notice, this account gets it. A unique violation means another account bound it in the
    /// meantime: the transaction is tried again and takes it from that one. Returns the accounts
    /// that lost it.
    async fn bind_verified(
        &self,
        row: &verification::Model,
        name: &str,
        id_card_no: &str,
    ) -> Result<Vec<i64>, CompleteVerificationError> {
        let me = row.citizen_id;
        for attempt in 1..=BIND_ATTEMPTS {
            match self.bind_once(row, name, id_card_no).await {
                Ok(losers) => return Ok(losers),
                Err(BindFailure::Taken) if attempt < BIND_ATTEMPTS => {
                    tracing::info!(
                        attempt,
                        "identity bound elsewhere meanwhile, taking it again"
                    );
                }
                Err(BindFailure::Taken) => {
                    return Err(anyhow::anyhow!(
                        "identity of citizen {me} kept being taken by concurrent verifications"
                    )
                    .into());
                }
                Err(BindFailure::AlreadyBound) => {
                    self.finish(row, VerificationStatus::Failed, Some(PASSED), None)
                        .await?;
                    return Err(CompleteVerificationError::AlreadyBound);
                }
                Err(BindFailure::Db(e)) => return Err(e.into()),
            }
        }
        Ok(Vec::new())
    }

    async fn bind_once(
        &self,
        row: &verification::Model,
        name: &str,
        id_card_no: &str,
    ) -> Result<Vec<i64>, BindFailure> {
        let me = row.citizen_id;
        let index = row.id_card_index.as_str();
        let now = self.clock.now();
        let txn = crate::db::write(&self.db).await.context("begin binding")?;
        // Bindings of one identity are decided one at a time, on the same per-identity row that
        // counts its bookings (`booking_holders`): racing verifications of one person queue
        // here instead of each losing the unique index in turn until its retries run out.
        crate::booking::queries::lock_holder(&txn, index).await?;
        let claimed = self
            .close_passed(&txn, row)
            .await
            .map_err(BindFailure::from_db("close the verification"))?;
        if !claimed {
            // Another call completed it: it bound what there was to bind.
            return Ok(Vec::new());
        }
        let holders = citizen::Entity::find()
            .filter(citizen::Column::IdCardIndex.eq(index))
            .filter(citizen::Column::Id.ne(me))
            .all(&txn)
            .await
            .map_err(BindFailure::from_db("find the identity's holder"))?;
        let mut losers = Vec::new();
        for holder in holders {
            let kind = if holder.identity_verified_at.is_some() {
                IdentityNoticeKind::Moved
            } else {
                IdentityNoticeKind::VerifiedElsewhere
            };
            unbind(&txn, holder.id, kind, now)
                .await
                .map_err(BindFailure::from_db("take the identity from its holder"))?;
            losers.push(holder.id);
        }
        let bound = citizen::Entity::update_many()
            .col_expr(
                citizen::Column::NameCipher,
                Expr::value(self.cipher.encrypt(name.as_bytes(), &context(NAME, me))),
            )
            .col_expr(
                citizen::Column::IdCardCipher,
                Expr::value(
                    self.cipher
                        .encrypt(id_card_no.as_bytes(), &context(ID_CARD, me)),
                ),
            )
            .col_expr(citizen::Column::IdCardIndex, Expr::value(index))
            .col_expr(citizen::Column::IdentityBoundAt, Expr::value(now))
            .col_expr(citizen::Column::IdentityVerifiedAt, Expr::value(now))
            .col_expr(
                citizen::Column::IdentityNotice,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                citizen::Column::IdentityNoticeAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(citizen::Column::UpdatedAt, Expr::value(now))
            .filter(citizen::Column::Id.eq(me))
            // A verified identity of another person is never replaced; an unverified one is.
            .filter(
                Condition::any()
                    .add(citizen::Column::IdentityVerifiedAt.is_null())
                    .add(citizen::Column::IdCardIndex.eq(index)),
            )
            .exec(&txn)
            .await
            .map_err(BindFailure::from_db("bind the verified identity"))?;
        if bound.rows_affected == 0 {
            return Err(BindFailure::AlreadyBound);
        }
        txn.commit()
            .await
            .map_err(BindFailure::from_db("commit the binding"))?;
        Ok(losers)
    }

    async fn limit_verification(
        &self,
        subject: &str,
        quota: Quota,
    ) -> Result<(), StartVerificationError> {
        match self.limiter.hit(subject, quota).await {
            Ok(()) => Ok(()),
            Err(LimitError::Limited(l)) => Err(StartVerificationError::RateLimited(l)),
            Err(LimitError::Store(e)) => Err(anyhow::Error::new(e)
                .context("count face verifications")
                .into()),
        }
    }
}

/// Takes the identity away from an account and leaves it the notice.
async fn unbind(
    conn: &impl ConnectionTrait,
    citizen_id: i64,
    kind: IdentityNoticeKind,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    citizen::Entity::update(citizen::ActiveModel {
        id: Set(citizen_id),
        name_cipher: Set(None),
        id_card_cipher: Set(None),
        id_card_index: Set(None),
        identity_bound_at: Set(None),
        identity_verified_at: Set(None),
        identity_notice: Set(Some(kind.as_str().to_owned())),
        identity_notice_at: Set(Some(now)),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(conn)
    .await
    .map(|_| ())
}

enum BindFailure {
    Taken,
    AlreadyBound,
    Db(anyhow::Error),
}

impl BindFailure {
    fn from_db(what: &'static str) -> impl Fn(sea_orm::DbErr) -> Self {
        move |e| {
            if crate::db::unique_violation(&e, None) {
                Self::Taken
            } else {
                Self::Db(anyhow::Error::new(e).context(what))
            }
        }
    }
}

impl From<anyhow::Error> for BindFailure {
    fn from(e: anyhow::Error) -> Self {
        Self::Db(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_10000_passes_and_each_documented_class_is_its_own() {
        assert_eq!(classify(10000), Ok(()));
        for ret in [90002, 90003, 90004, 90005, 90006] {
            assert_eq!(classify(ret), Err(FaceFailure::Cancelled), "{ret}");
        }
        for ret in [90008, 90009, 90010] {
            assert_eq!(classify(ret), Err(FaceFailure::PermissionDenied), "{ret}");
        }
        for ret in [90011, 90013, 90014, 10001, 10002, 10003, 10004] {
            assert_eq!(classify(ret), Err(FaceFailure::FaceMismatch), "{ret}");
        }
        for ret in [90017, 90107] {
            assert_eq!(classify(ret), Err(FaceFailure::TimedOut), "{ret}");
        }
        for ret in [90001, 90109] {
            assert_eq!(classify(ret), Err(FaceFailure::DeviceUnsupported), "{ret}");
        }
        for ret in [
            90007, 90012, 90018, 90104, 90105, 90106, 90108, 90110, 90199, 0, -1,
        ] {
            assert_eq!(classify(ret), Err(FaceFailure::System), "{ret}");
        }
    }
}
