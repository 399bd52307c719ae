//! sea-orm entities: the shapes of the tables, generated style, no behaviour.

pub mod citizen;
pub mod notification;
pub mod subscription_consent;
