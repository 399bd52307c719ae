//! Creating staff, logging them in, and changing who may do what.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, DatabaseConnection, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, SqlErr,
};
use secrecy::SecretString;

use super::credentials::{
    DisplayName, InvalidDisplayName, Password, Username, UsernameError, WeakPassword,
};
use super::login_limits::{LoginGuard, StaffLoginLimits};
use super::password;
use super::roles::{Grant, HallScope, Role};
use super::sessions::{NewSession, StaffSession, StaffSessionConfig, StaffSessions};
use crate::limits::Limited;
use crate::sessions::AuthError;
use crate::store::Store;
use crate::time::Clock;
use entities::{hall, staff, staff_role};

#[derive(Debug, thiserror::Error)]
pub enum CreateStaffError {
    #[error(transparent)]
    InvalidUsername(#[from] UsernameError),
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    #[error(transparent)]
    InvalidDisplayName(#[from] InvalidDisplayName),
    #[error("the username is taken")]
    UsernameTaken,
    #[error("a role names a hall that does not exist")]
    UnknownHall,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum StaffLoginError {
    /// Unknown username or wrong password: the same error, after the same work.
    #[error("bad credentials")]
    BadCredentials,
    /// The right password for a deactivated member.
    #[error("the account is deactivated")]
    Disabled,
    #[error(transparent)]
    RateLimited(Limited),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RoleChangeError {
    #[error("no such staff member")]
    UnknownStaff,
    #[error("no such hall")]
    UnknownHall,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SetPasswordError {
    #[error("no such staff member")]
    UnknownStaff,
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// Changing one's own password: the current one given is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// Too many wrong current passwords from this address.
    #[error(transparent)]
    RateLimited(Limited),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SetActiveError {
    #[error("no such staff member")]
    UnknownStaff,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A staff member as admins see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub active: bool,
    pub roles: Vec<Grant>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// Which staff a listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffFilter {
    /// Everyone (for a global admin).
    All,
    /// Those holding a role at one of these halls (for a hall admin).
    AtHalls(Vec<i64>),
}

/// One page of staff, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffPage {
    pub members: Vec<StaffMember>,
    pub total: u64,
}

/// Staff accounts: passwords, sessions and hall-scoped roles.
#[derive(Clone)]
pub struct StaffService {
    db: DatabaseConnection,
    sessions: StaffSessions,
    guard: LoginGuard,
    clock: Clock,
}

impl StaffService {
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn Store>,
        clock: Clock,
        sessions: StaffSessionConfig,
        limits: StaffLoginLimits,
    ) -> Self {
        Self {
            db,
            // Sessions expire by the system clock for now: tests that move the domain clock
            // past a shift (booking_staff) still hold the session they logged in with.
            sessions: StaffSessions::new(Arc::clone(&store), sessions, Clock::system()),
            clock,
            guard: LoginGuard::new(store, limits),
        }
    }

    pub fn sessions(&self) -> &StaffSessions {
        &self.sessions
    }

    /// Creates an active staff member with `roles` (duplicates are dropped) and returns the id.
    /// Authorisation is the caller's: see [`StaffSession::may_grant`].
    ///
    /// # Errors
    /// [`CreateStaffError::InvalidUsername`], [`CreateStaffError::WeakPassword`] and
    /// [`CreateStaffError::InvalidDisplayName`] for values that do not parse;
    /// [`CreateStaffError::UsernameTaken`] when the unique username index says so;
    /// [`CreateStaffError::UnknownHall`] when a role names a hall that does not exist.
    #[tracing::instrument(skip_all, fields(username = tracing::field::Empty, staff_id = tracing::field::Empty))]
    pub async fn create(
        &self,
        username: &str,
        password: SecretString,
        display_name: &str,
        roles: Vec<Grant>,
    ) -> Result<i64, CreateStaffError> {
        let username = Username::parse(username)?;
        tracing::Span::current().record("username", username.as_str());
        let password = Password::parse(password)?;
        let display_name = DisplayName::parse(display_name)?;
        let roles: BTreeSet<Grant> = roles.into_iter().collect();
        let hash = password::hash(&password).await?;

        let txn = crate::db::write(&self.db)
            .await
            .context("begin create staff")?;
        if !halls_exist(&txn, roles.iter().filter_map(|(_, s)| s.hall_id())).await? {
            return Err(CreateStaffError::UnknownHall);
        }
        let now = self.clock.now();
        let inserted = staff::Entity::insert(staff::ActiveModel {
            username: Set(username.as_str().to_owned()),
            password_hash: Set(hash),
            display_name: Set(display_name.as_str().to_owned()),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(None),
            ..Default::default()
        })
        .exec(&txn)
        .await;
        let id = match inserted {
            Ok(done) => done.last_insert_id,
            Err(e) if crate::db::unique_violation(&e, None) => {
                return Err(CreateStaffError::UsernameTaken);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("insert staff").into()),
        };
        if !roles.is_empty() {
            let rows = roles
                .iter()
                .map(|(role, scope)| role_row(id, *role, *scope));
            match staff_role::Entity::insert_many(rows).exec(&txn).await {
                Ok(_) => {}
                // A hall deleted since the check above.
                Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
                    return Err(CreateStaffError::UnknownHall);
                }
                Err(e) => return Err(anyhow::Error::new(e).context("insert staff roles").into()),
            }
        }
        txn.commit().await.context("commit create staff")?;
        tracing::Span::current().record("staff_id", id);
        tracing::info!(roles = ?roles, "staff member created");
        Ok(id)
    }

    /// Logs a staff member in with username and password.
    ///
    /// Only failures count (see [`StaffLoginLimits`]): an address that failed too often, or
    /// failed too often for this username, is refused before any password is checked; a
    /// username that failed too often from anywhere makes every attempt for it wait first, and
    /// is then checked like any other, so nobody can lock a member out.
    ///
    /// # Errors
    /// [`StaffLoginError::BadCredentials`] for an unknown username or a wrong password (the same
    /// answer after the same work, so usernames cannot be probed);
    /// [`StaffLoginError::Disabled`] for the right password of a deactivated member;
    /// [`StaffLoginError::RateLimited`] from an address that failed too often (for any
    /// username, or for this one).
    #[tracing::instrument(skip_all, fields(username = tracing::field::Empty, staff_id = tracing::field::Empty))]
    pub async fn login(
        &self,
        username: &str,
        password: SecretString,
        client_ip: Option<IpAddr>,
    ) -> Result<(SecretString, StaffSession), StaffLoginError> {
        let ip = client_ip.map(|ip| ip.to_string());
        if let Some(ip) = &ip
            && let Some(limited) = self
                .guard
                .address_stopped(ip)
                .await
                .context("read the address's login stop")?
        {
            return Err(StaffLoginError::RateLimited(limited));
        }
        // A name that does not parse cannot exist: nothing to hide by hashing.
        let Ok(username) = Username::parse(username) else {
            self.failed(None, ip.as_deref()).await?;
            return Err(StaffLoginError::BadCredentials);
        };
        let name = username.as_str();
        tracing::Span::current().record("username", name);
        if let Some(ip) = &ip
            && let Some(limited) = self
                .guard
                .pair_stopped(name, ip)
                .await
                .context("read the login stop")?
        {
            return Err(StaffLoginError::RateLimited(limited));
        }
        let wait = self
            .guard
            .user_delay(name)
            .await
            .context("read the username's back-off")?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let row = staff::Entity::find()
            .filter(staff::Column::Username.eq(name))
            .one(&self.db)
            .await
            .context("load staff member")?;
        let matches =
            password::verify(password, row.as_ref().map(|r| r.password_hash.clone())).await?;
        let Some(row) = row.filter(|_| matches) else {
            tracing::info!("staff login refused: bad credentials");
            self.failed(Some(name), ip.as_deref()).await?;
            return Err(StaffLoginError::BadCredentials);
        };
        tracing::Span::current().record("staff_id", row.id);
        if !row.active {
            tracing::info!("staff login refused: deactivated");
            return Err(StaffLoginError::Disabled);
        }
        let (token, session) = self.open_session(&row).await?;
        let stamped = staff::Entity::update_many()
            .col_expr(staff::Column::LastLoginAt, self.clock.now().into())
            .filter(staff::Column::Id.eq(row.id))
            .exec(&self.db)
            .await;
        if let Err(e) = stamped {
            tracing::warn!(error = %e, "could not record the staff login time");
        }
        tracing::info!("staff member logged in");
        Ok((token, session))
    }

    /// Opens a session holding the member's current roles. A deactivation or a role change
    /// committed while it opens would miss it (it revokes the sessions it finds), so the row is
    /// read again afterwards: a session opened on stale facts is revoked and, for changed roles,
    /// opened again.
    async fn open_session(
        &self,
        row: &staff::Model,
    ) -> Result<(SecretString, StaffSession), StaffLoginError> {
        let mut roles = load_roles(&self.db, row.id).await?;
        for _ in 0..3 {
            let (token, session) = self
                .sessions
                .create(NewSession {
                    staff_id: row.id,
                    username: &row.username,
                    display_name: &row.display_name,
                    roles: roles.clone(),
                })
                .await
                .context("create staff session")?;
            let active = staff::Entity::find_by_id(row.id)
                .one(&self.db)
                .await
                .context("reload staff member")?
                .is_some_and(|r| r.active);
            let current = load_roles(&self.db, row.id).await?;
            if active && current == roles {
                return Ok((token, session));
            }
            self.sessions
                .revoke(&session)
                .await
                .context("revoke a stale staff session")?;
            if !active {
                return Err(StaffLoginError::Disabled);
            }
            roles = current;
        }
        Err(anyhow::anyhow!("roles kept changing while logging in").into())
    }

    /// The session behind a staff bearer token.
    ///
    /// # Errors
    /// As [`StaffSessions::authenticate`].
    pub async fn authenticate(&self, token: &str) -> Result<StaffSession, AuthError> {
        self.sessions.authenticate(token).await
    }

    /// Ends the session.
    ///
    /// # Errors
    /// The store is unreachable.
    pub async fn logout(&self, session: &StaffSession) -> anyhow::Result<()> {
        self.sessions
            .revoke(session)
            .await
            .context("revoke staff session")
    }

    /// Gives a member a role (already held: nothing changes) and ends their sessions, so the
    /// next login carries it.
    ///
    /// # Errors
    /// [`RoleChangeError::UnknownStaff`], [`RoleChangeError::UnknownHall`].
    #[tracing::instrument(skip(self))]
    pub async fn grant(
        &self,
        staff_id: i64,
        role: Role,
        scope: HallScope,
    ) -> Result<(), RoleChangeError> {
        if staff::Entity::find_by_id(staff_id)
            .one(&self.db)
            .await
            .context("load staff member")?
            .is_none()
        {
            return Err(RoleChangeError::UnknownStaff);
        }
        if !halls_exist(&self.db, scope.hall_id()).await? {
            return Err(RoleChangeError::UnknownHall);
        }
        if load_roles(&self.db, staff_id)
            .await?
            .contains(&(role, scope))
        {
            return Ok(());
        }
        match staff_role::Entity::insert(role_row(staff_id, role, scope))
            .exec(&self.db)
            .await
        {
            Ok(_) => {}
            Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
                return Err(RoleChangeError::UnknownHall);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("insert staff role").into()),
        }
        self.end_sessions(staff_id).await?;
        tracing::info!("staff role granted");
        Ok(())
    }

    /// Takes a role away (not held: nothing changes) and ends the member's sessions.
    ///
    /// # Errors
    /// [`RoleChangeError::UnknownStaff`].
    #[tracing::instrument(skip(self))]
    pub async fn revoke_role(
        &self,
        staff_id: i64,
        role: Role,
        scope: HallScope,
    ) -> Result<(), RoleChangeError> {
        if staff::Entity::find_by_id(staff_id)
            .one(&self.db)
            .await
            .context("load staff member")?
            .is_none()
        {
            return Err(RoleChangeError::UnknownStaff);
        }
        let hall = match scope.hall_id() {
            Some(id) => staff_role::Column::HallId.eq(id),
            None => staff_role::Column::HallId.is_null(),
        };
        let done = staff_role::Entity::delete_many()
            .filter(staff_role::Column::StaffId.eq(staff_id))
            .filter(staff_role::Column::Role.eq(role.as_str()))
            .filter(hall)
            .exec(&self.db)
            .await
            .context("delete staff role")?;
        if done.rows_affected > 0 {
            self.end_sessions(staff_id).await?;
            tracing::info!("staff role revoked");
        }
        Ok(())
    }

    /// Activates or deactivates a member; deactivation ends every session at once.
    ///
    /// # Errors
    /// [`SetActiveError::UnknownStaff`].
    #[tracing::instrument(skip(self))]
    pub async fn set_active(&self, staff_id: i64, active: bool) -> Result<(), SetActiveError> {
        let done = staff::Entity::update_many()
            .col_expr(staff::Column::Active, active.into())
            .col_expr(staff::Column::UpdatedAt, self.clock.now().into())
            .filter(staff::Column::Id.eq(staff_id))
            .exec(&self.db)
            .await
            .context("update staff member")?;
        if done.rows_affected == 0 {
            return Err(SetActiveError::UnknownStaff);
        }
        if !active {
            self.end_sessions(staff_id).await?;
        }
        tracing::info!(active, "staff member updated");
        Ok(())
    }

    /// Sets a member's password (an administrator's reset) and ends every session they have.
    /// Authorisation is the caller's: see [`StaffSession::may_manage`].
    ///
    /// # Errors
    /// [`SetPasswordError::WeakPassword`], [`SetPasswordError::UnknownStaff`].
    #[tracing::instrument(skip(self, password))]
    pub async fn reset_password(
        &self,
        staff_id: i64,
        password: SecretString,
    ) -> Result<(), SetPasswordError> {
        let password = Password::parse(password)?;
        let hash = password::hash(&password).await?;
        let done = staff::Entity::update_many()
            .col_expr(staff::Column::PasswordHash, hash.into())
            .col_expr(staff::Column::UpdatedAt, self.clock.now().into())
            .filter(staff::Column::Id.eq(staff_id))
            .exec(&self.db)
            .await
            .context("store the new password")?;
        if done.rows_affected == 0 {
            return Err(SetPasswordError::UnknownStaff);
        }
        self.end_sessions(staff_id).await?;
        tracing::info!("staff password reset");
        Ok(())
    }

    /// A member changes their own password, giving the current one; every session they have
    /// ends (this one included), so a stolen token stops working. A wrong current password
    /// counts as a failed login from `client_ip`, under the same limits.
    ///
    /// # Errors
    /// [`SetPasswordError::WrongPassword`], [`SetPasswordError::WeakPassword`] (checked after
    /// the current password), [`SetPasswordError::RateLimited`],
    /// [`SetPasswordError::UnknownStaff`] (removed meanwhile).
    #[tracing::instrument(skip_all, fields(staff_id = session.staff_id))]
    pub async fn change_own_password(
        &self,
        session: &StaffSession,
        current: SecretString,
        new: SecretString,
        client_ip: Option<IpAddr>,
    ) -> Result<(), SetPasswordError> {
        let ip = client_ip.map(|ip| ip.to_string());
        if let Some(ip) = &ip {
            let stopped = match self.guard.address_stopped(ip).await {
                Ok(None) => self.guard.pair_stopped(&session.username, ip).await,
                other => other,
            }
            .context("read the login stops")?;
            if let Some(limited) = stopped {
                return Err(SetPasswordError::RateLimited(limited));
            }
        }
        let row = staff::Entity::find_by_id(session.staff_id)
            .one(&self.db)
            .await
            .context("load staff member")?
            .ok_or(SetPasswordError::UnknownStaff)?;
        if !password::verify(current, Some(row.password_hash.clone())).await? {
            self.failed(Some(&session.username), ip.as_deref()).await?;
            return Err(SetPasswordError::WrongPassword);
        }
        self.reset_password(row.id, new).await
    }

    /// Replaces every role of a member with `roles` (duplicates dropped) in one transaction and
    /// ends their sessions, so the next login carries them. Authorisation is the caller's.
    ///
    /// # Errors
    /// [`RoleChangeError::UnknownStaff`], [`RoleChangeError::UnknownHall`].
    #[tracing::instrument(skip(self))]
    pub async fn set_roles(&self, staff_id: i64, roles: Vec<Grant>) -> Result<(), RoleChangeError> {
        let roles: BTreeSet<Grant> = roles.into_iter().collect();
        let txn = crate::db::write(&self.db)
            .await
            .context("begin changing roles")?;
        if staff::Entity::find_by_id(staff_id)
            .one(&txn)
            .await
            .context("load staff member")?
            .is_none()
        {
            return Err(RoleChangeError::UnknownStaff);
        }
        if !halls_exist(&txn, roles.iter().filter_map(|(_, s)| s.hall_id())).await? {
            return Err(RoleChangeError::UnknownHall);
        }
        staff_role::Entity::delete_many()
            .filter(staff_role::Column::StaffId.eq(staff_id))
            .exec(&txn)
            .await
            .context("delete staff roles")?;
        if !roles.is_empty() {
            let rows = roles
                .iter()
                .map(|(role, scope)| role_row(staff_id, *role, *scope));
            match staff_role::Entity::insert_many(rows).exec(&txn).await {
                Ok(_) => {}
                Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
                    return Err(RoleChangeError::UnknownHall);
                }
                Err(e) => return Err(anyhow::Error::new(e).context("insert staff roles").into()),
            }
        }
        staff::Entity::update_many()
            .col_expr(staff::Column::UpdatedAt, self.clock.now().into())
            .filter(staff::Column::Id.eq(staff_id))
            .exec(&txn)
            .await
            .context("stamp the staff member")?;
        txn.commit().await.context("commit the roles")?;
        self.end_sessions(staff_id).await?;
        tracing::info!(roles = ?roles, "staff roles replaced");
        Ok(())
    }

    /// One member with their roles.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn get(&self, staff_id: i64) -> anyhow::Result<Option<StaffMember>> {
        let Some(row) = staff::Entity::find_by_id(staff_id)
            .one(&self.db)
            .await
            .context("load staff member")?
        else {
            return Ok(None);
        };
        let roles = load_roles(&self.db, staff_id).await?;
        Ok(Some(member(row, roles)))
    }

    /// A page of staff by id (`page` from 1), each with every role they hold.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn list(
        &self,
        filter: &StaffFilter,
        page: u64,
        page_size: u64,
    ) -> anyhow::Result<StaffPage> {
        let select = || {
            let query = staff::Entity::find();
            match filter {
                StaffFilter::All => query,
                StaffFilter::AtHalls(halls) => query.filter(
                    staff::Column::Id.in_subquery(
                        Query::select()
                            .column(staff_role::Column::StaffId)
                            .from(staff_role::Entity)
                            .and_where(staff_role::Column::HallId.is_in(halls.iter().copied()))
                            .to_owned(),
                    ),
                ),
            }
        };
        let rows = select()
            .order_by_asc(staff::Column::Id)
            .offset(
                page.saturating_sub(1)
                    .saturating_mul(page_size)
                    .min(i64::MAX as u64 / 2),
            )
            .limit(page_size)
            .all(&self.db)
            .await
            .context("list staff")?;
        let total = select().count(&self.db).await.context("count staff")?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut roles = staff_role::Entity::find()
            .filter(staff_role::Column::StaffId.is_in(ids))
            .order_by_asc(staff_role::Column::Id)
            .all(&self.db)
            .await
            .context("load staff roles")?;
        let members = rows
            .into_iter()
            .map(|row| {
                let (theirs, rest) = roles.drain(..).partition(|r| r.staff_id == row.id);
                roles = rest;
                member(row, grants(theirs))
            })
            .collect();
        Ok(StaffPage { members, total })
    }

    async fn end_sessions(&self, staff_id: i64) -> anyhow::Result<()> {
        self.sessions.revoke_all(staff_id).await.with_context(|| {
            format!("committed, but the sessions of staff member {staff_id} were not revoked")
        })
    }

    async fn failed(&self, username: Option<&str>, ip: Option<&str>) -> anyhow::Result<()> {
        self.guard
            .failed(username, ip)
            .await
            .context("count a failed staff login")
    }
}

fn role_row(staff_id: i64, role: Role, scope: HallScope) -> staff_role::ActiveModel {
    staff_role::ActiveModel {
        staff_id: Set(staff_id),
        hall_id: Set(scope.hall_id()),
        role: Set(role.as_str().to_owned()),
        ..Default::default()
    }
}

/// Whether every hall in `ids` exists.
async fn halls_exist(
    db: &impl sea_orm::ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> anyhow::Result<bool> {
    let ids: BTreeSet<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(true);
    }
    let found = hall::Entity::find()
        .filter(hall::Column::Id.is_in(ids.iter().copied()))
        .count(db)
        .await
        .context("check halls")?;
    Ok(found == ids.len() as u64)
}

/// A member's roles, sorted, without duplicates.
async fn load_roles(db: &DatabaseConnection, staff_id: i64) -> anyhow::Result<Vec<Grant>> {
    let rows = staff_role::Entity::find()
        .filter(staff_role::Column::StaffId.eq(staff_id))
        .all(db)
        .await
        .context("load staff roles")?;
    Ok(grants(rows))
}

fn grants(rows: Vec<staff_role::Model>) -> Vec<Grant> {
    let set: BTreeSet<Grant> = rows
        .into_iter()
        .filter_map(|row| match row.role.parse::<Role>() {
            Ok(role) => Some((role, HallScope::from_hall_id(row.hall_id))),
            Err(e) => {
                // Never guess what an unknown role allows.
                tracing::warn!(error = %e, staff_id = row.staff_id, "ignoring a staff role");
                None
            }
        })
        .collect();
    set.into_iter().collect()
}

fn member(row: staff::Model, roles: Vec<Grant>) -> StaffMember {
    StaffMember {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        active: row.active,
        roles,
        created_at: row.created_at,
        last_login_at: row.last_login_at,
    }
}
