//! sea-orm entities: the shapes of the tables, generated style, no behaviour.

pub mod application;
pub mod booking;
pub mod booking_ban;
pub mod booking_holder;
pub mod calendar_year;
pub mod case_event;
pub mod category;
pub mod citizen;
pub mod counter;
pub mod counter_category;
pub mod hall;
pub mod hall_exception;
pub mod hall_hours;
pub mod hall_item;
pub mod idempotency_key;
pub mod item;
pub mod licence_use;
pub mod material;
pub mod notification;
pub mod province_outbox;
pub mod slot;
pub mod staff;
pub mod staff_role;
pub mod subscription_consent;
pub mod supplement;
pub mod sync_state;
