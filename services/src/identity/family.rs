//! Family members on one phone (一部手机绑定多人): a citizen adds a person who is present by
//! face-verifying *that person* on the citizen's phone — the same two steps as their own
//! verification (`verification.rs`), with purpose `MEMBER` — and may then act for them.
//!
//! The decisions a reader needs:
//! - Whom a request acts for is decided in one place, [`IdentityService::acting`]: the session's
//!   citizen plus an optional member id becomes an [`Acting`], and a member is accepted only
//!   while the relation is live. Bookings, tickets, applications and licences take the
//!   [`Acting`] and record both people (the account that acted, the member acted for).
//! - A member is keyed as every identity is, by the blind index of the ID number, so a member's
//!   bookings count against the same limits and bans as the member's own.
//! - The number of live members is checked when the face passes, in the transaction that adds
//!   the member, after taking the citizen's row: two additions at once cannot pass the limit.
//!   The unique `active_key` decides "one live relation per citizen and person".
//! - The member, if they hold a verified account of their own, sees who holds them and can
//!   revoke the relation; so can the citizen.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _,
};

use super::citizens::{self, IdentityGate, NAME, PHONE, proven};
use super::service::IdentityService;
use super::verification::{
    CompleteVerificationError, Passed, Purpose, StartVerificationError, StartedVerification,
    VerificationStatus,
};
use super::{IdCardNo, PersonName, PhoneNumber};
use crate::crypto::FieldContext;
use crate::sessions::Session;
use crate::wechat::face::PASSED;
use entities::{citizen, family_member};

const TABLE: &str = "family_members";
/// Members one account may hold unless configured otherwise.
pub const DEFAULT_MAX_MEMBERS: u32 = 5;

/// Who revoked a relation: the stored vocabulary (`family_members.revoked_by`).
pub use entities::status::RevokedBy;

/// A family member, as the citizen holding them sees it (masked).
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyMember {
    pub id: i64,
    /// `张*`
    pub name: String,
    /// `520***********123X`
    pub id_card_no: String,
    pub added_at: DateTime<Utc>,
}

/// A relation as the member sees it: who may act for them (masked).
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyRelation {
    pub id: i64,
    pub holder_name: String,
    pub holder_phone: Option<String>,
    pub since: DateTime<Utc>,
}

/// Whom a request acts for: the account (`citizen_id`, always the one who acts) and, when it
/// acts for a family member, that member.
#[derive(Debug, Clone)]
pub struct Acting {
    pub citizen_id: i64,
    pub member: Option<ActingMember>,
}

impl Acting {
    /// The citizen acting for themselves.
    pub fn own(citizen_id: i64) -> Self {
        Self {
            citizen_id,
            member: None,
        }
    }

    /// The member's relation id, if acting for one.
    pub fn member_id(&self) -> Option<i64> {
        self.member.as_ref().map(|m| m.id)
    }
}

/// A live family member acted for, decrypted (both types mask themselves in `Debug`).
#[derive(Debug, Clone)]
pub struct ActingMember {
    /// The relation's id (`family_members.id`).
    pub id: i64,
    /// The blind index of the member's ID number: what bookings and limits count by.
    pub index: String,
    pub name: PersonName,
    pub id_card_no: IdCardNo,
}

/// Why a member could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    /// The citizen has no identity of their own: they verify themselves first.
    #[error("the citizen has no bound identity")]
    IdentityRequired,
    #[error("the citizen's identity is not verified")]
    IdentityNotVerified,
    /// The person named is the citizen.
    #[error("the member is the citizen")]
    IsSelf,
    /// The person is a live member of this account already.
    #[error("the person is a member already")]
    AlreadyAdded,
    #[error("the account holds {max} members already")]
    LimitReached { max: u32 },
    #[error(transparent)]
    Start(StartVerificationError),
    #[error(transparent)]
    Complete(CompleteVerificationError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StartVerificationError> for AddMemberError {
    fn from(e: StartVerificationError) -> Self {
        match e {
            StartVerificationError::Unexpected(e) => Self::Unexpected(e),
            e => Self::Start(e),
        }
    }
}

impl From<CompleteVerificationError> for AddMemberError {
    fn from(e: CompleteVerificationError) -> Self {
        match e {
            CompleteVerificationError::Unexpected(e) => Self::Unexpected(e),
            e => Self::Complete(e),
        }
    }
}

/// Why a relation could not be revoked, or acted through.
#[derive(Debug, thiserror::Error)]
pub enum FamilyError {
    /// No live relation with this id of this account (revoked, another's, never existed).
    #[error("no such live family member")]
    NotFound,
    /// Acting for a member needs the acting citizen's own verified identity.
    #[error("the citizen has no bound identity")]
    IdentityRequired,
    #[error("the citizen's identity is not verified")]
    IdentityNotVerified,
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

fn active_key(citizen_id: i64, index: &str) -> String {
    format!("{citizen_id}:{index}")
}

impl IdentityService {
    /// Starts the face verification of a family member, present at the citizen's phone.
    ///
    /// # Errors
    /// [`AddMemberError::IdentityRequired`] / [`AddMemberError::IdentityNotVerified`] unless the
    /// citizen verified themselves; [`AddMemberError::IsSelf`]; [`AddMemberError::AlreadyAdded`];
    /// [`AddMemberError::LimitReached`] at the configured number of members (WeChat is not
    /// asked); otherwise as [`IdentityService::start_verification`] (names, numbers, limits).
    #[tracing::instrument(skip_all, fields(citizen_id = session.citizen_id))]
    pub async fn start_member_verification(
        &self,
        session: &Session,
        name: &str,
        id_card_no: &str,
    ) -> Result<StartedVerification, AddMemberError> {
        let name = PersonName::parse(name).map_err(StartVerificationError::from)?;
        let id_card_no = IdCardNo::parse_as_of(id_card_no, self.clock.today())
            .map_err(StartVerificationError::from)?;
        let index = self.id_card_index(&id_card_no);
        let me = self.proven_citizen(session.citizen_id).await?;
        if me.id_card_index.as_deref() == Some(index.as_str()) {
            return Err(AddMemberError::IsSelf);
        }
        if self
            .live_member(session.citizen_id, &index)
            .await?
            .is_some()
        {
            return Err(AddMemberError::AlreadyAdded);
        }
        let live = self.count_live(&self.db, session.citizen_id).await?;
        if live >= u64::from(self.family_max) {
            return Err(AddMemberError::LimitReached {
                max: self.family_max,
            });
        }
        Ok(self
            .start_face(session, &name, &id_card_no, index, Purpose::Member)
            .await?)
    }

    /// Asks WeChat how the member's face verification went and, when it passed, adds the
    /// member (the attempt is closed in the same transaction). A repeated call after a lost
    /// answer returns the member it added.
    ///
    /// # Errors
    /// As [`IdentityService::complete_verification`] for the face; then
    /// [`AddMemberError::LimitReached`], [`AddMemberError::AlreadyAdded`],
    /// [`AddMemberError::IsSelf`] decided at this moment (the attempt is then ended).
    #[tracing::instrument(skip_all, fields(citizen_id = session.citizen_id))]
    pub async fn complete_member_verification(
        &self,
        session: &Session,
        id: &str,
    ) -> Result<FamilyMember, AddMemberError> {
        let me = session.citizen_id;
        let (row, name, id_card_no) = match self.face_result(session, id, Purpose::Member).await? {
            Passed::Before(row) => {
                let added = family_member::Entity::find()
                    .filter(family_member::Column::VerificationId.eq(row.id))
                    .one(&self.db)
                    .await
                    .context("find the member the verification added")?
                    .ok_or(CompleteVerificationError::Finished)?;
                return Ok(self.member_view(&added)?);
            }
            Passed::Now {
                row,
                name,
                id_card_no,
            } => (row, name, id_card_no),
        };
        let closing = &row;
        let refuse = |e: AddMemberError| async move {
            self.finish(closing, VerificationStatus::Failed, Some(PASSED), None)
                .await?;
            Err::<FamilyMember, _>(e)
        };
        let citizen = self.proven_citizen(me).await?;
        if citizen.id_card_index.as_deref() == Some(row.id_card_index.as_str()) {
            return refuse(AddMemberError::IsSelf).await;
        }
        let now = self.clock.now();
        let txn = crate::db::write(&self.db)
            .await
            .context("begin adding a member")?;
        // The citizen's row orders the additions of one account: the count below cannot be
        // passed by two at once (a row lock on PostgreSQL, the write lock on SQLite).
        citizen::Entity::update_many()
            .col_expr(citizen::Column::UpdatedAt, Expr::value(now))
            .filter(citizen::Column::Id.eq(me))
            .exec(&txn)
            .await
            .context("take the citizen's row")?;
        if self.count_live(&txn, me).await? >= u64::from(self.family_max) {
            drop(txn);
            return refuse(AddMemberError::LimitReached {
                max: self.family_max,
            })
            .await;
        }
        if !self
            .close_passed(&txn, &row)
            .await
            .context("close the verification")?
        {
            // Another call closed it, and added the member.
            drop(txn);
            let added = family_member::Entity::find()
                .filter(family_member::Column::VerificationId.eq(row.id))
                .one(&self.db)
                .await
                .context("find the member the verification added")?
                .ok_or(CompleteVerificationError::Finished)?;
            return Ok(self.member_view(&added)?);
        }
        let model = family_member::ActiveModel {
            citizen_id: Set(me),
            member_index: Set(row.id_card_index.clone()),
            name_cipher: Set(self.cipher.encrypt(name.as_bytes(), &field(NAME, me))),
            id_card_cipher: Set(self
                .cipher
                .encrypt(id_card_no.as_bytes(), &field(super::ID_CARD, me))),
            verification_id: Set(row.id),
            active_key: Set(Some(active_key(me, &row.id_card_index))),
            created_at: Set(now),
            revoked_at: Set(None),
            revoked_by: Set(None),
            ..Default::default()
        };
        let inserted = family_member::Entity::insert(model).exec(&txn).await;
        let id = match inserted {
            Ok(done) => done.last_insert_id,
            Err(e) if crate::db::unique_violation(&e, None) => {
                drop(txn);
                return refuse(AddMemberError::AlreadyAdded).await;
            }
            Err(e) => return Err(anyhow::Error::new(e).context("insert the member").into()),
        };
        txn.commit().await.context("commit the member")?;
        tracing::info!(member_id = id, "family member added");
        let added = family_member::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .context("read the member")?
            .context("the member vanished")?;
        Ok(self.member_view(&added)?)
    }

    /// The citizen's live family members, oldest first.
    ///
    /// # Errors
    /// The database cannot be read, or a stored value does not decrypt.
    pub async fn members(&self, citizen_id: i64) -> anyhow::Result<Vec<FamilyMember>> {
        family_member::Entity::find()
            .filter(family_member::Column::CitizenId.eq(citizen_id))
            .filter(family_member::Column::ActiveKey.is_not_null())
            .order_by_asc(family_member::Column::Id)
            .all(&self.db)
            .await
            .context("list family members")?
            .iter()
            .map(|m| self.member_view(m))
            .collect()
    }

    /// The live relations in which the citizen (by their verified identity) is the member: who
    /// may act for them.
    ///
    /// # Errors
    /// The database cannot be read, or a stored value does not decrypt.
    pub async fn relations(&self, citizen_id: i64) -> anyhow::Result<Vec<FamilyRelation>> {
        let Some(index) = self.own_verified_index(citizen_id).await? else {
            return Ok(Vec::new());
        };
        let rows = family_member::Entity::find()
            .filter(family_member::Column::MemberIndex.eq(index.as_str()))
            .filter(family_member::Column::ActiveKey.is_not_null())
            .order_by_asc(family_member::Column::Id)
            .all(&self.db)
            .await
            .context("list relations")?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let holder = citizens::find(&self.db, row.citizen_id)
                .await
                .context("load the holder")?
                .with_context(|| format!("citizen {} is gone", row.citizen_id))?;
            let holder_name = match &holder.name_cipher {
                Some(stored) => {
                    let plain = self
                        .cipher
                        .decrypt_string(stored, &citizens::context(NAME, holder.id))
                        .context("decrypt the holder's name")?;
                    PersonName::parse(&plain).map_or_else(|_| "*".to_owned(), |n| n.masked())
                }
                None => "*".to_owned(),
            };
            let holder_phone = match &holder.phone_cipher {
                Some(stored) => {
                    let plain = self
                        .cipher
                        .decrypt_string(stored, &citizens::context(PHONE, holder.id))
                        .context("decrypt the holder's phone")?;
                    PhoneNumber::parse(&plain).ok().map(|p| p.masked())
                }
                None => None,
            };
            out.push(FamilyRelation {
                id: row.id,
                holder_name,
                holder_phone,
                since: row.created_at,
            });
        }
        Ok(out)
    }

    /// Ends a relation: by the citizen holding the member, or by the member from their own
    /// verified account. From then on nobody can act through it.
    ///
    /// # Errors
    /// [`FamilyError::NotFound`] unless a live relation `id` is the caller's to revoke.
    #[tracing::instrument(skip_all, fields(citizen_id = citizen_id, relation_id = id))]
    pub async fn revoke_member(
        &self,
        citizen_id: i64,
        id: i64,
        by: RevokedBy,
    ) -> Result<(), FamilyError> {
        let mut update = family_member::Entity::update_many()
            .col_expr(
                family_member::Column::ActiveKey,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                family_member::Column::RevokedAt,
                Expr::value(self.clock.now()),
            )
            .col_expr(family_member::Column::RevokedBy, Expr::value(by.as_str()))
            .filter(family_member::Column::Id.eq(id))
            .filter(family_member::Column::ActiveKey.is_not_null());
        update = match by {
            RevokedBy::Citizen => update.filter(family_member::Column::CitizenId.eq(citizen_id)),
            RevokedBy::Member => {
                let index = self
                    .own_verified_index(citizen_id)
                    .await?
                    .ok_or(FamilyError::NotFound)?;
                update.filter(family_member::Column::MemberIndex.eq(index))
            }
        };
        let done = update.exec(&self.db).await.context("revoke the relation")?;
        if done.rows_affected == 0 {
            return Err(FamilyError::NotFound);
        }
        tracing::info!(by = by.as_str(), "family relation revoked");
        Ok(())
    }

    /// Whom a request acts for: the citizen alone, or — with `member_id` — one of their live
    /// family members. The one place the relation is checked.
    ///
    /// # Errors
    /// [`FamilyError::NotFound`] for a member id that is not a live relation of this citizen;
    /// [`FamilyError::IdentityRequired`] / [`FamilyError::IdentityNotVerified`] when the
    /// citizen's own identity is not proven (acting for anyone needs it).
    pub async fn acting(
        &self,
        citizen_id: i64,
        member_id: Option<i64>,
    ) -> Result<Acting, FamilyError> {
        let Some(member_id) = member_id else {
            return Ok(Acting::own(citizen_id));
        };
        let row = citizens::find(&self.db, citizen_id)
            .await
            .context("load citizen")?
            .ok_or(FamilyError::IdentityRequired)?;
        proven(&row).map_err(|gate| match gate {
            IdentityGate::Missing => FamilyError::IdentityRequired,
            IdentityGate::Unverified => FamilyError::IdentityNotVerified,
        })?;
        let member = family_member::Entity::find_by_id(member_id)
            .filter(family_member::Column::CitizenId.eq(citizen_id))
            .filter(family_member::Column::ActiveKey.is_not_null())
            .one(&self.db)
            .await
            .context("load the family member")?
            .ok_or(FamilyError::NotFound)?;
        let (name, id_card_no) = self.decrypt_member(&member)?;
        Ok(Acting {
            citizen_id,
            member: Some(ActingMember {
                id: member.id,
                index: member.member_index,
                name,
                id_card_no,
            }),
        })
    }

    fn decrypt_member(&self, row: &family_member::Model) -> anyhow::Result<(PersonName, IdCardNo)> {
        let name = self
            .cipher
            .decrypt_string(&row.name_cipher, &field(NAME, row.citizen_id))
            .context("decrypt the member's name")?;
        let id_card_no = self
            .cipher
            .decrypt_string(&row.id_card_cipher, &field(super::ID_CARD, row.citizen_id))
            .context("decrypt the member's ID number")?;
        Ok((
            PersonName::parse(&name).context("a stored member name no longer parses")?,
            IdCardNo::parse_as_of(&id_card_no, self.clock.today())
                .context("a stored member ID number no longer parses")?,
        ))
    }

    fn member_view(&self, row: &family_member::Model) -> anyhow::Result<FamilyMember> {
        let (name, id_card_no) = self.decrypt_member(row)?;
        Ok(FamilyMember {
            id: row.id,
            name: name.masked(),
            id_card_no: id_card_no.masked(),
            added_at: row.created_at,
        })
    }

    async fn proven_citizen(&self, citizen_id: i64) -> Result<citizen::Model, AddMemberError> {
        let row = citizens::find(&self.db, citizen_id)
            .await
            .context("load citizen")?
            .ok_or(AddMemberError::IdentityRequired)?;
        match proven(&row) {
            Ok(_) => Ok(row),
            Err(IdentityGate::Missing) => Err(AddMemberError::IdentityRequired),
            Err(IdentityGate::Unverified) => Err(AddMemberError::IdentityNotVerified),
        }
    }

    async fn own_verified_index(&self, citizen_id: i64) -> anyhow::Result<Option<String>> {
        let row = citizens::find(&self.db, citizen_id)
            .await
            .context("load citizen")?;
        Ok(row.and_then(|r| proven(&r).ok().map(|p| p.index.to_owned())))
    }

    async fn live_member(
        &self,
        citizen_id: i64,
        index: &str,
    ) -> anyhow::Result<Option<family_member::Model>> {
        family_member::Entity::find()
            .filter(family_member::Column::ActiveKey.eq(active_key(citizen_id, index)))
            .one(&self.db)
            .await
            .context("find the live member")
    }

    async fn count_live(&self, db: &impl ConnectionTrait, citizen_id: i64) -> anyhow::Result<u64> {
        family_member::Entity::find()
            .filter(family_member::Column::CitizenId.eq(citizen_id))
            .filter(family_member::Column::ActiveKey.is_not_null())
            .count(db)
            .await
            .context("count family members")
    }
}
