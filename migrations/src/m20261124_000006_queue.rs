//! Queue numbers (取号 / 叫号): tickets, their daily sequences, the log of every state change,
//! and each counter's desk.
//!
//! The one decision to know: the database has the last word on every "only one". A number is
//! taken by incrementing `ticket_sequences.last` inside the ticket's transaction, and the unique
//! `(hall_id, day, number)` index refuses a number used twice that day whatever the code above
//! does; `tickets.live_key` (set while a citizen's remote ticket is live, NULL afterwards) holds
//! "one live ticket per citizen per hall"; `counter_desks.ticket_id` holds "a counter has at most
//! one called or serving ticket".

use sea_orm_migration::prelude::*;

use crate::columns::{at, at_null, big, big_null, index, int};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketSequences {
    Table,
    HallId,
    Day,
    Prefix,
    Last,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    HallId,
    CategoryId,
    Day,
    Seq,
    Number,
    Source,
    Priority,
    GreenChannel,
    CitizenId,
    BookingId,
    ItemCode,
    State,
    LiveKey,
    CounterId,
    Calls,
    IssuedAt,
    IssuedBy,
    FirstCalledAt,
    CalledAt,
    ServingAt,
    FinishedAt,
    NearNotifiedAt,
    Version,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Id,
    TicketId,
    FromState,
    ToState,
    StaffId,
    CounterId,
    At,
    Detail,
}

#[derive(DeriveIden)]
enum CounterDesks {
    Table,
    CounterId,
    HallId,
    TicketId,
    Wrr,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Halls {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Counters {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per hall, service day (Asia/Shanghai) and prefix: the last number given.
        manager
            .create_table(
                Table::create()
                    .table(TicketSequences::Table)
                    .col(big(TicketSequences::HallId))
                    .col(ColumnDef::new(TicketSequences::Day).date().not_null())
                    .col(
                        ColumnDef::new(TicketSequences::Prefix)
                            .string_len(4)
                            .not_null(),
                    )
                    .col(int(TicketSequences::Last, 0))
                    .primary_key(
                        Index::create()
                            .col(TicketSequences::HallId)
                            .col(TicketSequences::Day)
                            .col(TicketSequences::Prefix),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TicketSequences::Table, TicketSequences::HallId)
                            .to(Halls::Table, Halls::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .col(
                        ColumnDef::new(Tickets::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big(Tickets::HallId))
                    .col(big(Tickets::CategoryId))
                    .col(ColumnDef::new(Tickets::Day).date().not_null())
                    .col(int(Tickets::Seq, 0))
                    .col(ColumnDef::new(Tickets::Number).string_len(12).not_null())
                    .col(ColumnDef::new(Tickets::Source).string_len(10).not_null())
                    .col(int(Tickets::Priority, 2))
                    .col(
                        ColumnDef::new(Tickets::GreenChannel)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(big_null(Tickets::CitizenId))
                    .col(big_null(Tickets::BookingId))
                    .col(ColumnDef::new(Tickets::ItemCode).string_len(64).null())
                    .col(ColumnDef::new(Tickets::State).string_len(12).not_null())
                    .col(ColumnDef::new(Tickets::LiveKey).string_len(64).null())
                    .col(big_null(Tickets::CounterId))
                    .col(int(Tickets::Calls, 0))
                    .col(at(Tickets::IssuedAt))
                    .col(big_null(Tickets::IssuedBy))
                    .col(at_null(Tickets::FirstCalledAt))
                    .col(at_null(Tickets::CalledAt))
                    .col(at_null(Tickets::ServingAt))
                    .col(at_null(Tickets::FinishedAt))
                    .col(at_null(Tickets::NearNotifiedAt))
                    .col(int(Tickets::Version, 0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tickets::Table, Tickets::HallId)
                            .to(Halls::Table, Halls::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The last word on "never the same number twice in a hall on one day".
        index(
            manager,
            "ux_tickets_hall_day_number",
            Tickets::Table,
            vec![
                Tickets::HallId.into_iden(),
                Tickets::Day.into_iden(),
                Tickets::Number.into_iden(),
            ],
            true,
        )
        .await?;
        // The last word on "one live remote ticket per citizen per hall".
        index(
            manager,
            "ux_tickets_live_key",
            Tickets::Table,
            vec![Tickets::LiveKey.into_iden()],
            true,
        )
        .await?;
        // Call-next and positions: the waiting line of a category, in calling order.
        index(
            manager,
            "ix_tickets_line",
            Tickets::Table,
            vec![
                Tickets::HallId.into_iden(),
                Tickets::Day.into_iden(),
                Tickets::State.into_iden(),
                Tickets::CategoryId.into_iden(),
                Tickets::Priority.into_iden(),
                Tickets::IssuedAt.into_iden(),
            ],
            false,
        )
        .await?;
        // The end-of-day sweep: tickets still open on earlier days.
        index(
            manager,
            "ix_tickets_open_days",
            Tickets::Table,
            vec![Tickets::State.into_iden(), Tickets::Day.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "ix_tickets_citizen",
            Tickets::Table,
            vec![Tickets::CitizenId.into_iden(), Tickets::Id.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "ix_tickets_booking",
            Tickets::Table,
            vec![Tickets::BookingId.into_iden()],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(TicketEvents::Table)
                    .col(
                        ColumnDef::new(TicketEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big(TicketEvents::TicketId))
                    .col(
                        ColumnDef::new(TicketEvents::FromState)
                            .string_len(12)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(TicketEvents::ToState)
                            .string_len(12)
                            .not_null(),
                    )
                    .col(big_null(TicketEvents::StaffId))
                    .col(big_null(TicketEvents::CounterId))
                    .col(at(TicketEvents::At))
                    .col(ColumnDef::new(TicketEvents::Detail).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(TicketEvents::Table, TicketEvents::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_ticket_events_ticket",
            TicketEvents::Table,
            vec![
                TicketEvents::TicketId.into_iden(),
                TicketEvents::Id.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "ix_ticket_events_counter_at",
            TicketEvents::Table,
            vec![
                TicketEvents::CounterId.into_iden(),
                TicketEvents::At.into_iden(),
            ],
            false,
        )
        .await?;
        // A counter's desk: the ticket it holds (at most one) and its weighted round-robin state.
        manager
            .create_table(
                Table::create()
                    .table(CounterDesks::Table)
                    .col(big(CounterDesks::CounterId).primary_key())
                    .col(big(CounterDesks::HallId))
                    .col(big_null(CounterDesks::TicketId))
                    .col(ColumnDef::new(CounterDesks::Wrr).text().not_null())
                    .col(at(CounterDesks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CounterDesks::Table, CounterDesks::CounterId)
                            .to(Counters::Table, Counters::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_counter_desks_ticket",
            CounterDesks::Table,
            vec![CounterDesks::TicketId.into_iden()],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CounterDesks::Table.into_iden(),
            TicketEvents::Table.into_iden(),
            Tickets::Table.into_iden(),
            TicketSequences::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
