//! Halls (办事大厅): their booking rules, weekly hours with the lunch break, date exceptions,
//! categories of items with their queue prefixes, counters and the categories they serve, which
//! category handles which item, and the check-in QR; plus the working-day calendar as it is read
//! back.
//!
//! The decision a reader needs: every input is parsed into a type whose constructor checks it
//! ([`input`]), so the service stores what it is given. "Only one" is left to the unique indexes
//! (hall code, category code, counter number); the one rule without an index, a queue prefix
//! unique per hall, is checked inside a transaction that first writes the hall's row, which
//! serialises changes to one hall on PostgreSQL and SQLite alike.

mod calendar_view;
pub mod input;
mod layout;
mod model;
mod public;
pub mod queries;
mod schedule;
mod service;

pub use self::calendar_view::{
    CalendarView, ListDaysError, ListedDay, MAX_LISTED_DAYS, StoredYear,
};
pub use self::input::{
    CategoryInput, CounterInput, DayException, DayHours, ExceptionKind, HallCode, HallRules,
    InvalidInput, RulesPatch, Text, TimeOfDay, ValidRules, WeeklyHours,
};
pub use self::model::{HALL_CACHE_FOR, HallDirectory, HallModel};
pub use self::queries::{Which, hall_id_by_code};
pub use self::schedule::Schedule;
pub use self::service::{
    Category, CategoryError, Counter, CounterError, CreateHallError, Hall, HallDetail,
    HallEditError, HallItem, HallService, HallUpdate, MapItemError, NewHall, PublicHall,
    UpdateHallError,
};
