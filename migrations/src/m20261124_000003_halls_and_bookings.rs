//! The catalogue, staff accounts, halls, the working-day calendar and appointments (预约办).
//!
//! The one decision to know: "never oversold" and "one per citizen per item per day" are held
//! here, by `slots.booked <= slots.capacity` (a CHECK the conditional update can never break)
//! and by the unique `bookings.active_key`, which is set while a booking is live and NULL
//! once it is cancelled (NULLs never collide, on PostgreSQL and SQLite alike).

use sea_orm_migration::prelude::*;

use crate::columns::{
    at, at_null, big, date, fk, flag, id, index, int, int_null, string, string_null, text,
    text_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Items {
    Table,
    ItemCode,
    HandleItemCode,
    Name,
    Department,
    ItemType,
    LegalDays,
    PromisedDays,
    Fee,
    Materials,
    OnlineLevel,
    Bookable,
    Halls,
    GuideUrl,
    SyncedAt,
}

#[derive(DeriveIden)]
enum SyncState {
    Table,
    Name,
    Watermark,
    LastRunAt,
    LastError,
}

#[derive(DeriveIden)]
enum CalendarYears {
    Table,
    Year,
    Source,
    LoadedAt,
    LoadedBy,
}

#[derive(DeriveIden)]
enum Halls {
    Table,
    Id,
    Code,
    Name,
    Address,
    SlotMinutes,
    ReleaseDaysAhead,
    ReleaseMinute,
    BookMinWorkingDays,
    BookMaxWorkingDays,
    CancelCutoffMinutes,
    CheckinBeforeMinutes,
    CheckinAfterMinutes,
    WeeklyLimit,
    MonthlyLimit,
    NoShowLimit,
    CancelLimit,
    PenaltyWindowDays,
    BanDays,
    CheckinSecret,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum HallHours {
    Table,
    HallId,
    Weekday,
    OpensMinute,
    ClosesMinute,
    BreakStartMinute,
    BreakEndMinute,
}

#[derive(DeriveIden)]
enum HallExceptions {
    Table,
    HallId,
    Day,
    Closed,
    OpensMinute,
    ClosesMinute,
    Note,
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    HallId,
    Code,
    Name,
    Prefix,
    SeatsPerSlot,
}

#[derive(DeriveIden)]
enum HallItems {
    Table,
    HallId,
    ItemCode,
    CategoryId,
}

#[derive(DeriveIden)]
enum Counters {
    Table,
    Id,
    HallId,
    Number,
    Name,
    Active,
}

#[derive(DeriveIden)]
enum CounterCategories {
    Table,
    CounterId,
    CategoryId,
    Weight,
}

#[derive(DeriveIden)]
enum Staff {
    Table,
    Id,
    Username,
    PasswordHash,
    DisplayName,
    Active,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum StaffRoles {
    Table,
    Id,
    StaffId,
    HallId,
    Role,
}

#[derive(DeriveIden)]
enum Slots {
    Table,
    Id,
    HallId,
    CategoryId,
    Day,
    StartsAt,
    EndsAt,
    Capacity,
    Booked,
    Status,
}

#[derive(DeriveIden)]
enum Bookings {
    Table,
    Id,
    Code,
    CitizenId,
    IdentityIndex,
    HallId,
    CategoryId,
    SlotId,
    ItemCode,
    Day,
    StartsAt,
    Status,
    ActiveKey,
    CreatedAt,
    CancelledAt,
    CancelReason,
    CheckedInAt,
    CheckedInBy,
    NoShowAt,
    RemindedAt,
    RescheduledTo,
}

#[derive(DeriveIden)]
enum BookingHolders {
    Table,
    IdentityIndex,
}

#[derive(DeriveIden)]
enum BookingBans {
    Table,
    Id,
    IdentityIndex,
    Until,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    CitizenId,
    Key,
    Fingerprint,
    BookingId,
    ErrorCode,
    ErrorDetail,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Citizens {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The service catalogue, as synced from the provincial platform.
        manager
            .create_table(
                Table::create()
                    .table(Items::Table)
                    .col(string(Items::ItemCode, 64).primary_key())
                    .col(string(Items::HandleItemCode, 64))
                    .col(string(Items::Name, 200))
                    .col(string(Items::Department, 200))
                    .col(int(Items::ItemType, 2))
                    .col(int(Items::LegalDays, 0))
                    .col(int(Items::PromisedDays, 0))
                    .col(string(Items::Fee, 32))
                    .col(text(Items::Materials))
                    .col(int(Items::OnlineLevel, 1))
                    .col(flag(Items::Bookable, false))
                    .col(text(Items::Halls))
                    .col(text_null(Items::GuideUrl))
                    .col(at(Items::SyncedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncState::Table)
                    .col(string(SyncState::Name, 32).primary_key())
                    .col(at_null(SyncState::Watermark))
                    .col(at_null(SyncState::LastRunAt))
                    .col(text_null(SyncState::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarYears::Table)
                    .col(
                        ColumnDef::new(CalendarYears::Year)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(text(CalendarYears::Source))
                    .col(at(CalendarYears::LoadedAt))
                    .col(ColumnDef::new(CalendarYears::LoadedBy).big_integer().null())
                    .to_owned(),
            )
            .await?;

        // Halls and how they work. Times of day are minutes after midnight, Asia/Shanghai.
        manager
            .create_table(
                Table::create()
                    .table(Halls::Table)
                    .col(id(Halls::Id))
                    .col(string(Halls::Code, 32))
                    .col(string(Halls::Name, 100))
                    .col(text(Halls::Address))
                    .col(int(Halls::SlotMinutes, 30))
                    .col(int(Halls::ReleaseDaysAhead, 7))
                    .col(int(Halls::ReleaseMinute, 8 * 60))
                    .col(int(Halls::BookMinWorkingDays, 1))
                    .col(int(Halls::BookMaxWorkingDays, 5))
                    .col(int(Halls::CancelCutoffMinutes, 120))
                    .col(int(Halls::CheckinBeforeMinutes, 15))
                    .col(int(Halls::CheckinAfterMinutes, 30))
                    .col(int(Halls::WeeklyLimit, 2))
                    .col(int(Halls::MonthlyLimit, 6))
                    .col(int(Halls::NoShowLimit, 2))
                    .col(int(Halls::CancelLimit, 5))
                    .col(int(Halls::PenaltyWindowDays, 30))
                    .col(int(Halls::BanDays, 90))
                    .col(string(Halls::CheckinSecret, 64))
                    .col(flag(Halls::Active, true))
                    .col(at(Halls::CreatedAt))
                    .col(at(Halls::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_halls_code",
            Halls::Table,
            vec![Halls::Code.into_iden()],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(HallHours::Table)
                    .col(big(HallHours::HallId))
                    .col(int(HallHours::Weekday, 1))
                    .col(int(HallHours::OpensMinute, 0))
                    .col(int(HallHours::ClosesMinute, 0))
                    .col(int_null(HallHours::BreakStartMinute))
                    .col(int_null(HallHours::BreakEndMinute))
                    .primary_key(
                        Index::create()
                            .col(HallHours::HallId)
                            .col(HallHours::Weekday),
                    )
                    .foreign_key(&mut fk(
                        (HallHours::Table, HallHours::HallId),
                        (Halls::Table, Halls::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HallExceptions::Table)
                    .col(big(HallExceptions::HallId))
                    .col(date(HallExceptions::Day))
                    .col(flag(HallExceptions::Closed, true))
                    .col(int_null(HallExceptions::OpensMinute))
                    .col(int_null(HallExceptions::ClosesMinute))
                    .col(text(HallExceptions::Note))
                    .primary_key(
                        Index::create()
                            .col(HallExceptions::HallId)
                            .col(HallExceptions::Day),
                    )
                    .foreign_key(&mut fk(
                        (HallExceptions::Table, HallExceptions::HallId),
                        (Halls::Table, Halls::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .col(id(Categories::Id))
                    .col(big(Categories::HallId))
                    .col(string(Categories::Code, 16))
                    .col(string(Categories::Name, 100))
                    .col(string(Categories::Prefix, 4))
                    .col(int_null(Categories::SeatsPerSlot))
                    .foreign_key(&mut fk(
                        (Categories::Table, Categories::HallId),
                        (Halls::Table, Halls::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_categories_hall_code",
            Categories::Table,
            vec![Categories::HallId.into_iden(), Categories::Code.into_iden()],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(HallItems::Table)
                    .col(big(HallItems::HallId))
                    .col(string(HallItems::ItemCode, 64))
                    .col(big(HallItems::CategoryId))
                    .primary_key(
                        Index::create()
                            .col(HallItems::HallId)
                            .col(HallItems::ItemCode),
                    )
                    .foreign_key(&mut fk(
                        (HallItems::Table, HallItems::HallId),
                        (Halls::Table, Halls::Id),
                    ))
                    .foreign_key(&mut fk(
                        (HallItems::Table, HallItems::CategoryId),
                        (Categories::Table, Categories::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Counters::Table)
                    .col(id(Counters::Id))
                    .col(big(Counters::HallId))
                    .col(int(Counters::Number, 1))
                    .col(string(Counters::Name, 100))
                    .col(flag(Counters::Active, true))
                    .foreign_key(&mut fk(
                        (Counters::Table, Counters::HallId),
                        (Halls::Table, Halls::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_counters_hall_number",
            Counters::Table,
            vec![Counters::HallId.into_iden(), Counters::Number.into_iden()],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(CounterCategories::Table)
                    .col(big(CounterCategories::CounterId))
                    .col(big(CounterCategories::CategoryId))
                    .col(int(CounterCategories::Weight, 1))
                    .primary_key(
                        Index::create()
                            .col(CounterCategories::CounterId)
                            .col(CounterCategories::CategoryId),
                    )
                    .foreign_key(&mut fk(
                        (CounterCategories::Table, CounterCategories::CounterId),
                        (Counters::Table, Counters::Id),
                    ))
                    .foreign_key(&mut fk(
                        (CounterCategories::Table, CounterCategories::CategoryId),
                        (Categories::Table, Categories::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        // Staff and their hall-scoped roles; a NULL hall means every hall.
        manager
            .create_table(
                Table::create()
                    .table(Staff::Table)
                    .col(id(Staff::Id))
                    .col(string(Staff::Username, 64))
                    .col(text(Staff::PasswordHash))
                    .col(string(Staff::DisplayName, 64))
                    .col(flag(Staff::Active, true))
                    .col(at(Staff::CreatedAt))
                    .col(at(Staff::UpdatedAt))
                    .col(at_null(Staff::LastLoginAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_staff_username",
            Staff::Table,
            vec![Staff::Username.into_iden()],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffRoles::Table)
                    .col(id(StaffRoles::Id))
                    .col(big(StaffRoles::StaffId))
                    .col(ColumnDef::new(StaffRoles::HallId).big_integer().null())
                    .col(string(StaffRoles::Role, 16))
                    .foreign_key(&mut fk(
                        (StaffRoles::Table, StaffRoles::StaffId),
                        (Staff::Table, Staff::Id),
                    ))
                    .foreign_key(&mut fk(
                        (StaffRoles::Table, StaffRoles::HallId),
                        (Halls::Table, Halls::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_staff_roles_staff",
            StaffRoles::Table,
            vec![StaffRoles::StaffId.into_iden()],
            false,
        )
        .await?;

        // Slots are cut from the opening hours when a day is first needed; `booked` never
        // passes `capacity`, whatever the code above it does.
        manager
            .create_table(
                Table::create()
                    .table(Slots::Table)
                    .col(id(Slots::Id))
                    .col(big(Slots::HallId))
                    .col(big(Slots::CategoryId))
                    .col(date(Slots::Day))
                    .col(at(Slots::StartsAt))
                    .col(at(Slots::EndsAt))
                    .col(int(Slots::Capacity, 0))
                    .col(int(Slots::Booked, 0))
                    .col(string(Slots::Status, 8))
                    .check(Expr::col(Slots::Booked).gte(0))
                    .check(Expr::col(Slots::Booked).lte(Expr::col(Slots::Capacity)))
                    .foreign_key(&mut fk(
                        (Slots::Table, Slots::HallId),
                        (Halls::Table, Halls::Id),
                    ))
                    .foreign_key(&mut fk(
                        (Slots::Table, Slots::CategoryId),
                        (Categories::Table, Categories::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_slots_hall_category_start",
            Slots::Table,
            vec![
                Slots::HallId.into_iden(),
                Slots::CategoryId.into_iden(),
                Slots::StartsAt.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "ix_slots_hall_day",
            Slots::Table,
            vec![Slots::HallId.into_iden(), Slots::Day.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Bookings::Table)
                    .col(id(Bookings::Id))
                    .col(string(Bookings::Code, 16))
                    .col(big(Bookings::CitizenId))
                    .col(string(Bookings::IdentityIndex, 64))
                    .col(big(Bookings::HallId))
                    .col(big(Bookings::CategoryId))
                    .col(big(Bookings::SlotId))
                    .col(string(Bookings::ItemCode, 64))
                    .col(date(Bookings::Day))
                    .col(at(Bookings::StartsAt))
                    .col(string(Bookings::Status, 20))
                    .col(string_null(Bookings::ActiveKey, 200))
                    .col(at(Bookings::CreatedAt))
                    .col(at_null(Bookings::CancelledAt))
                    .col(text_null(Bookings::CancelReason))
                    .col(at_null(Bookings::CheckedInAt))
                    .col(ColumnDef::new(Bookings::CheckedInBy).big_integer().null())
                    .col(at_null(Bookings::NoShowAt))
                    .col(at_null(Bookings::RemindedAt))
                    .col(ColumnDef::new(Bookings::RescheduledTo).big_integer().null())
                    .foreign_key(&mut fk(
                        (Bookings::Table, Bookings::CitizenId),
                        (Citizens::Table, Citizens::Id),
                    ))
                    .foreign_key(&mut fk(
                        (Bookings::Table, Bookings::SlotId),
                        (Slots::Table, Slots::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_bookings_code",
            Bookings::Table,
            vec![Bookings::Code.into_iden()],
            true,
        )
        .await?;
        // The last word on "one live booking per identity, item and day".
        index(
            manager,
            "ux_bookings_active_key",
            Bookings::Table,
            vec![Bookings::ActiveKey.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "ix_bookings_citizen",
            Bookings::Table,
            vec![Bookings::CitizenId.into_iden(), Bookings::Id.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "ix_bookings_identity_day",
            Bookings::Table,
            vec![
                Bookings::IdentityIndex.into_iden(),
                Bookings::Day.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "ix_bookings_status_start",
            Bookings::Table,
            vec![Bookings::Status.into_iden(), Bookings::StartsAt.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "ix_bookings_hall_day",
            Bookings::Table,
            vec![Bookings::HallId.into_iden(), Bookings::Day.into_iden()],
            false,
        )
        .await?;
        // One row per identity that ever booked: locked for the length of a booking
        // transaction, so one person's weekly and monthly limits are counted one at a time.
        manager
            .create_table(
                Table::create()
                    .table(BookingHolders::Table)
                    .col(string(BookingHolders::IdentityIndex, 64).primary_key())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BookingBans::Table)
                    .col(id(BookingBans::Id))
                    .col(string(BookingBans::IdentityIndex, 64))
                    .col(date(BookingBans::Until))
                    .col(string(BookingBans::Reason, 16))
                    .col(at(BookingBans::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_booking_bans_identity",
            BookingBans::Table,
            vec![
                BookingBans::IdentityIndex.into_iden(),
                BookingBans::Until.into_iden(),
            ],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(big(IdempotencyKeys::CitizenId))
                    .col(string(IdempotencyKeys::Key, 64))
                    .col(string(IdempotencyKeys::Fingerprint, 64))
                    .col(
                        ColumnDef::new(IdempotencyKeys::BookingId)
                            .big_integer()
                            .null(),
                    )
                    .col(string_null(IdempotencyKeys::ErrorCode, 32))
                    .col(text_null(IdempotencyKeys::ErrorDetail))
                    .col(at(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::CitizenId)
                            .col(IdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            BookingBans::Table.into_iden(),
            BookingHolders::Table.into_iden(),
            Bookings::Table.into_iden(),
            Slots::Table.into_iden(),
            StaffRoles::Table.into_iden(),
            Staff::Table.into_iden(),
            CounterCategories::Table.into_iden(),
            Counters::Table.into_iden(),
            HallItems::Table.into_iden(),
            Categories::Table.into_iden(),
            HallExceptions::Table.into_iden(),
            HallHours::Table.into_iden(),
            Halls::Table.into_iden(),
            CalendarYears::Table.into_iden(),
            SyncState::Table.into_iden(),
            Items::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
