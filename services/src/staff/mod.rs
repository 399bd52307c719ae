//! Staff accounts: hall clerks, verifiers and administrators.
//!
//! Staff log in with a username and an argon2id-hashed password and get a bearer token in the
//! same store as citizens, under keys and a token prefix of their own, so neither kind of token
//! opens the other's routes. What a member may do is a set of roles, each at one hall or at every
//! hall; sessions carry a snapshot of them, and any change to a member's roles or standing
//! revokes every session they have rather than patching it.

mod credentials;
mod login_limits;
pub mod password;
mod roles;
mod service;
mod sessions;

pub use self::credentials::{
    DisplayName, InvalidDisplayName, Password, Username, UsernameError, WeakPassword,
};
pub use self::login_limits::{Backoff, StaffLoginLimits};
pub use self::roles::{Grant, HallScope, Role, UnknownRole};
pub use self::service::{
    CreateStaffError, RoleChangeError, SetActiveError, SetPasswordError, StaffFilter,
    StaffLoginError, StaffMember, StaffPage, StaffService,
};
pub use self::sessions::{StaffSession, StaffSessionConfig, StaffSessions, is_staff_token};
