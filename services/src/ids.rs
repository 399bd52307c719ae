//! Ids of the things a call at a counter names together (issue 14: "three swappable `i64`s"):
//! a hall, a counter, a staff member. Each is its own type, so `call_next(hall, counter,
//! staff)` cannot be given them in the wrong order. They check nothing (any id may name
//! nothing; the service answers "not found"): the point is the type, not validation. They read
//! from a path segment as the bare number (`#[serde(transparent)]`), so the wire is unchanged.

use serde::Deserialize;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(id: i64) -> Self {
                Self(id)
            }

            /// The id as stored.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A hall's id (`halls.id`).
    HallId
);
id!(
    /// A counter's id (`counters.id`).
    CounterId
);
id!(
    /// A staff member's id (`staff.id`).
    StaffId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_from_a_bare_number_as_a_path_segment_gives_it() {
        let (hall, counter): (HallId, CounterId) =
            serde_json::from_str("[7, 12]").expect("two numbers");
        assert_eq!((hall.get(), counter.get()), (7, 12));
        assert_eq!(StaffId::new(3).to_string(), "3");
    }
}
