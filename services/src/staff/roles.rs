//! What a staff member may do, and where: a role at one hall or at every hall.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A staff role. Each role includes the ones below it: an admin may do anything at its halls, a
/// clerk may also verify, a verifier only verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Clerk,
    Verifier,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Clerk, Role::Verifier];

    /// The role as the database (and the wire) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clerk => "clerk",
            Role::Verifier => "verifier",
        }
    }

    /// Whether holding `self` is enough to act as `needed`.
    pub fn includes(self, needed: Role) -> bool {
        match self {
            Role::Admin => true,
            Role::Clerk => matches!(needed, Role::Clerk | Role::Verifier),
            Role::Verifier => needed == Role::Verifier,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not one of `admin`, `clerk`, `verifier`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected admin, clerk or verifier")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Where a role applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HallScope {
    /// Every hall, present and future (`hall_id` NULL in `staff_roles`).
    All,
    Hall(i64),
}

impl HallScope {
    /// The scope of a `staff_roles.hall_id`.
    pub fn from_hall_id(hall_id: Option<i64>) -> Self {
        hall_id.map_or(HallScope::All, HallScope::Hall)
    }

    /// The `staff_roles.hall_id` of the scope.
    pub fn hall_id(self) -> Option<i64> {
        match self {
            HallScope::All => None,
            HallScope::Hall(id) => Some(id),
        }
    }

    /// Whether the scope covers `hall_id`.
    pub fn covers(self, hall_id: i64) -> bool {
        match self {
            HallScope::All => true,
            HallScope::Hall(id) => id == hall_id,
        }
    }

    /// Whether everything `other` covers, this covers too.
    pub fn contains(self, other: HallScope) -> bool {
        match (self, other) {
            (HallScope::All, _) => true,
            (HallScope::Hall(a), HallScope::Hall(b)) => a == b,
            (HallScope::Hall(_), HallScope::All) => false,
        }
    }
}

/// One role at one scope.
pub type Grant = (Role, HallScope);

/// Whether `grants` allow acting as `role` at `hall_id`.
pub fn allows(grants: &[Grant], role: Role, hall_id: i64) -> bool {
    grants
        .iter()
        .any(|(held, scope)| scope.covers(hall_id) && held.includes(role))
}

/// Whether `grants` make their holder an admin of every hall.
pub fn is_global_admin(grants: &[Grant]) -> bool {
    grants.contains(&(Role::Admin, HallScope::All))
}

/// Whether the holder of `grants` may give someone `wanted`: a global admin may give anything; a
/// hall admin may give any role at that hall, never one at every hall.
pub fn may_grant(grants: &[Grant], wanted: Grant) -> bool {
    let (_, scope) = wanted;
    grants
        .iter()
        .any(|(held, at)| *held == Role::Admin && at.contains(scope))
}

/// Whether the holder of `grants` may manage (deactivate, change) a member holding `theirs`:
/// only if every role the member holds is one the holder could have given. A member with no
/// role at all is a global admin's business.
pub fn may_manage(grants: &[Grant], theirs: &[Grant]) -> bool {
    if is_global_admin(grants) {
        return true;
    }
    !theirs.is_empty() && theirs.iter().all(|g| may_grant(grants, *g))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: i64 = 1;
    const B: i64 = 2;

    #[test]
    fn roles_include_the_ones_below_them() {
        assert!(Role::Admin.includes(Role::Clerk));
        assert!(Role::Admin.includes(Role::Verifier));
        assert!(Role::Clerk.includes(Role::Verifier));
        assert!(!Role::Clerk.includes(Role::Admin));
        assert!(!Role::Verifier.includes(Role::Clerk));
        for r in Role::ALL {
            assert!(r.includes(r));
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_role_at_one_hall_does_nothing_at_another() {
        let clerk_a = [(Role::Clerk, HallScope::Hall(A))];
        assert!(allows(&clerk_a, Role::Clerk, A));
        assert!(allows(&clerk_a, Role::Verifier, A));
        assert!(!allows(&clerk_a, Role::Admin, A));
        assert!(!allows(&clerk_a, Role::Verifier, B));

        let admin_all = [(Role::Admin, HallScope::All)];
        assert!(allows(&admin_all, Role::Clerk, B));
        assert!(is_global_admin(&admin_all));
        assert!(!is_global_admin(&[(Role::Admin, HallScope::Hall(A))]));
        assert!(!is_global_admin(&[(Role::Clerk, HallScope::All)]));
    }

    #[test]
    fn a_hall_admin_grants_only_at_their_hall_and_never_everywhere() {
        let admin_a = [(Role::Admin, HallScope::Hall(A))];
        assert!(may_grant(&admin_a, (Role::Admin, HallScope::Hall(A))));
        assert!(may_grant(&admin_a, (Role::Clerk, HallScope::Hall(A))));
        assert!(!may_grant(&admin_a, (Role::Clerk, HallScope::Hall(B))));
        assert!(!may_grant(&admin_a, (Role::Verifier, HallScope::All)));
        let clerk_all = [(Role::Clerk, HallScope::All)];
        assert!(!may_grant(&clerk_all, (Role::Verifier, HallScope::Hall(A))));
        let admin_all = [(Role::Admin, HallScope::All)];
        assert!(may_grant(&admin_all, (Role::Admin, HallScope::All)));
    }

    #[test]
    fn a_hall_admin_manages_only_members_wholly_within_their_halls() {
        let admin_a = [(Role::Admin, HallScope::Hall(A))];
        assert!(may_manage(&admin_a, &[(Role::Clerk, HallScope::Hall(A))]));
        assert!(!may_manage(
            &admin_a,
            &[
                (Role::Clerk, HallScope::Hall(A)),
                (Role::Clerk, HallScope::Hall(B))
            ]
        ));
        assert!(!may_manage(&admin_a, &[(Role::Admin, HallScope::All)]));
        assert!(!may_manage(&admin_a, &[]));
        assert!(may_manage(&[(Role::Admin, HallScope::All)], &[]));
    }
}
