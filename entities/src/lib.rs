//! sea-orm entities: the shapes of the tables, generated style, no behaviour.

pub mod booking;
pub mod booking_ban;
pub mod booking_holder;
pub mod calendar_year;
pub mod category;
pub mod citizen;
pub mod counter;
pub mod counter_category;
pub mod counter_desk;
pub mod hall;
pub mod hall_exception;
pub mod hall_hours;
pub mod hall_item;
pub mod idempotency_key;
pub mod item;
pub mod licence_use;
pub mod notification;
pub mod slot;
pub mod staff;
pub mod staff_role;
pub mod subscription_consent;
pub mod sync_state;
pub mod ticket;
pub mod ticket_event;
pub mod ticket_sequence;
