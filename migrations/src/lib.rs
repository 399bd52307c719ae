//! Schema history. Migrations are frozen: they build tables with the sea-query schema builder
//! (never through `entities`), so they run on PostgreSQL and SQLite alike and never change when an
//! entity does.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261123_000001_citizens;
mod m20261123_000002_notifications;
mod m20261124_000003_halls_and_bookings;
mod m20261124_000004_licences;
mod m20261124_000005_applications;
mod m20261124_000006_queue;
mod m20261202_000007_identity_verification;
mod m20261202_000009_case_number_disputes;
mod m20261202_000010_counter_spoken_name;
mod m20261207_000011_evaluations;
mod m20261207_000011_family_members;
mod m20261207_000012_acting_for_members;
mod m20261207_000013_application_consents;
mod m20261207_000020_staff_audit_log;
mod m20261207_000030_bundles;
mod m20261207_000040_staff_inbox;
mod m20261207_000050_bundle_consents;
mod m20261208_000030_book_seat_function;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_citizens::Migration),
            Box::new(m20261123_000002_notifications::Migration),
            Box::new(m20261124_000003_halls_and_bookings::Migration),
            Box::new(m20261124_000004_licences::Migration),
            Box::new(m20261124_000005_applications::Migration),
            Box::new(m20261124_000006_queue::Migration),
            Box::new(m20261202_000007_identity_verification::Migration),
            Box::new(m20261202_000009_case_number_disputes::Migration),
            Box::new(m20261202_000010_counter_spoken_name::Migration),
            Box::new(m20261207_000011_family_members::Migration),
            Box::new(m20261207_000012_acting_for_members::Migration),
            Box::new(m20261207_000013_application_consents::Migration),
            Box::new(m20261207_000020_staff_audit_log::Migration),
            Box::new(m20261207_000011_evaluations::Migration),
            Box::new(m20261207_000030_bundles::Migration),
            Box::new(m20261207_000040_staff_inbox::Migration),
            Box::new(m20261207_000050_bundle_consents::Migration),
            Box::new(m20261208_000030_book_seat_function::Migration),
        ]
    }
}
