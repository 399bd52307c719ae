//! The booking's decision in one round trip on PostgreSQL (issue #16 item 2): `book_seat(…)`,
//! a plpgsql function that does, in the caller's one statement, what the booking transaction
//! does in about ten (`services/src/booking/book.rs`): lock the person's `booking_holders` row,
//! read their bans and their counted days for the weekly and monthly limits, take a seat with the
//! conditional `UPDATE … booked < capacity`, insert the booking (its unique `active_key` the last
//! word on "one per identity, item and day": a violation aborts the statement, so nothing of it
//! stays), keep the idempotency key, and write the confirmation's outbox row.
//!
//! It answers one row: `BOOKED` with the booking's id, or the refusal's code (`BANNED` with its
//! last day, `WEEKLY_LIMIT`, `MONTHLY_LIMIT`, `SLOT_FULL`, `HALL_CLOSED`), the codes
//! `BookError`'s stored refusals use. The statuses are the stored values of
//! `entities::status::{SlotStatus, BookingStatus}`. SQLite keeps the transaction: nothing here.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &str = r"
CREATE FUNCTION book_seat(
    p_identity text, p_citizen_id bigint, p_member_id bigint, p_slot_id bigint,
    p_item_code text, p_code text, p_now timestamptz, p_today date,
    p_week_from date, p_week_to date, p_weekly bigint,
    p_month_from date, p_month_to date, p_monthly bigint,
    p_key text, p_fingerprint text,
    p_kind text, p_dedup_prefix text, p_marker text, p_title text, p_body text, p_page text,
    p_template_id text, p_data text, p_notification_status text
) RETURNS TABLE (o_outcome text, o_booking_id bigint, o_until date)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_until date;
    v_week bigint;
    v_month bigint;
    v_slot slots%ROWTYPE;
    v_status text;
    v_id bigint;
BEGIN
    -- Serialises this person's bookings, whichever account or instance they come through.
    INSERT INTO booking_holders (identity_index) VALUES (p_identity)
        ON CONFLICT (identity_index) DO UPDATE SET identity_index = EXCLUDED.identity_index;
    SELECT max(b.until) INTO v_until FROM booking_bans b
        WHERE b.identity_index = p_identity AND b.until >= p_today;
    IF v_until IS NOT NULL THEN
        RETURN QUERY SELECT 'BANNED'::text, NULL::bigint, v_until;
        RETURN;
    END IF;
    SELECT count(*) FILTER (WHERE b.day BETWEEN p_week_from AND p_week_to),
           count(*) FILTER (WHERE b.day BETWEEN p_month_from AND p_month_to)
        INTO v_week, v_month
        FROM bookings b
        WHERE b.identity_index = p_identity
          AND b.day BETWEEN least(p_week_from, p_month_from) AND greatest(p_week_to, p_month_to)
          AND b.status IN ('BOOKED', 'CHECKED_IN', 'NO_SHOW');
    IF v_week >= p_weekly THEN
        RETURN QUERY SELECT 'WEEKLY_LIMIT'::text, NULL::bigint, NULL::date;
        RETURN;
    END IF;
    IF v_month >= p_monthly THEN
        RETURN QUERY SELECT 'MONTHLY_LIMIT'::text, NULL::bigint, NULL::date;
        RETURN;
    END IF;
    UPDATE slots s SET booked = s.booked + 1
        WHERE s.id = p_slot_id AND s.status = 'OPEN' AND s.booked < s.capacity
        RETURNING s.* INTO v_slot;
    IF NOT FOUND THEN
        SELECT s.status INTO v_status FROM slots s WHERE s.id = p_slot_id;
        RETURN QUERY SELECT
            CASE WHEN v_status IS NOT NULL AND v_status <> 'OPEN' THEN 'HALL_CLOSED'
                 ELSE 'SLOT_FULL' END,
            NULL::bigint, NULL::date;
        RETURN;
    END IF;
    INSERT INTO bookings (code, citizen_id, member_id, identity_index, hall_id, category_id,
            slot_id, item_code, day, starts_at, status, active_key, created_at)
        VALUES (p_code, p_citizen_id, p_member_id, p_identity, v_slot.hall_id,
            v_slot.category_id, v_slot.id, p_item_code, v_slot.day, v_slot.starts_at, 'BOOKED',
            p_identity || ':' || p_item_code || ':' || v_slot.day::text, p_now)
        RETURNING id INTO v_id;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (citizen_id, key, fingerprint, booking_id, created_at)
            VALUES (p_citizen_id, p_key, p_fingerprint, v_id, p_now);
    END IF;
    -- The texts were rendered with a marker where the booking's id goes.
    INSERT INTO notifications (citizen_id, kind, dedup_key, title, body, page, template_id, data,
            status, attempts, next_attempt_at, created_at)
        VALUES (p_citizen_id, p_kind, p_dedup_prefix || v_id::text,
            replace(p_title, p_marker, v_id::text), replace(p_body, p_marker, v_id::text),
            replace(p_page, p_marker, v_id::text), p_template_id,
            replace(p_data, p_marker, v_id::text), p_notification_status, 0, p_now, p_now)
        ON CONFLICT (dedup_key) DO NOTHING;
    RETURN QUERY SELECT 'BOOKED'::text, v_id, NULL::date;
END
$$";

const DROP: &str = "DROP FUNCTION IF EXISTS book_seat(text, bigint, bigint, bigint, text, text, \
    timestamptz, date, date, date, bigint, date, date, bigint, text, text, text, text, text, \
    text, text, text, text, text, text)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(CREATE).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DROP).await?;
        Ok(())
    }
}
