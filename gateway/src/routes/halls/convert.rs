//! Between the wire and the domain: the converters of halls, their rules, hours, exceptions,
//! categories and counters, and the answers of their errors.

use chrono::NaiveDate;
use miniprogram_api::ErrorCode;
use miniprogram_api::halls as wire;
use services::halls::{
    self as domain, CategoryError, CounterError, DayException, DayHours, ExceptionKind,
    HallEditError, HallRules, InvalidInput, RulesPatch, TimeOfDay, WeeklyHours,
};

use crate::error::ApiError;
use crate::startup::AppState;

/// 422 `VALIDATION_FAILED`, naming the field and saying why.
pub(crate) fn invalid(e: InvalidInput) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed)
        .with_message(format!("{}：{}", e.field, e.reason))
        .with_field(&e.field, e.reason)
}

pub(super) fn rules_to_wire(rules: &HallRules) -> wire::HallRules {
    wire::HallRules {
        slot_minutes: rules.slot_minutes,
        release_days_ahead: rules.release_days_ahead,
        release_time: rules.release_time.to_string(),
        book_min_working_days: rules.book_min_working_days,
        book_max_working_days: rules.book_max_working_days,
        cancel_cutoff_minutes: rules.cancel_cutoff_minutes,
        checkin_before_minutes: rules.checkin_before_minutes,
        checkin_after_minutes: rules.checkin_after_minutes,
        weekly_limit: rules.weekly_limit,
        monthly_limit: rules.monthly_limit,
        no_show_limit: rules.no_show_limit,
        cancel_limit: rules.cancel_limit,
        penalty_window_days: rules.penalty_window_days,
        ban_days: rules.ban_days,
    }
}

pub(super) fn patch_from_wire(patch: &wire::RulesPatch) -> Result<RulesPatch, ApiError> {
    let release_time = patch
        .release_time
        .as_deref()
        .map(|t| TimeOfDay::parse("rules.releaseTime", t))
        .transpose()
        .map_err(invalid)?;
    Ok(RulesPatch {
        slot_minutes: patch.slot_minutes,
        release_days_ahead: patch.release_days_ahead,
        release_time,
        book_min_working_days: patch.book_min_working_days,
        book_max_working_days: patch.book_max_working_days,
        cancel_cutoff_minutes: patch.cancel_cutoff_minutes,
        checkin_before_minutes: patch.checkin_before_minutes,
        checkin_after_minutes: patch.checkin_after_minutes,
        weekly_limit: patch.weekly_limit,
        monthly_limit: patch.monthly_limit,
        no_show_limit: patch.no_show_limit,
        cancel_limit: patch.cancel_limit,
        penalty_window_days: patch.penalty_window_days,
        ban_days: patch.ban_days,
    })
}

pub(super) fn hours_to_wire(week: &WeeklyHours) -> Vec<wire::OpeningHours> {
    week.days()
        .iter()
        .map(|(day, hours)| wire::OpeningHours {
            weekday: i64::from(day.number_from_monday()),
            opens: hours.opens().to_string(),
            closes: hours.closes().to_string(),
            break_start: hours.pause().map(|(s, _)| s.to_string()),
            break_end: hours.pause().map(|(_, e)| e.to_string()),
        })
        .collect()
}

pub(super) fn hours_from_wire(days: &[wire::OpeningHours]) -> Result<WeeklyHours, InvalidInput> {
    let days = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let field = format!("days[{i}]");
            let day = domain::input::weekday(&format!("{field}.weekday"), d.weekday)?;
            let hours = DayHours::parse(
                &field,
                &d.opens,
                &d.closes,
                d.break_start.as_deref(),
                d.break_end.as_deref(),
            )?;
            Ok((day, hours))
        })
        .collect::<Result<Vec<_>, InvalidInput>>()?;
    WeeklyHours::new(days)
}

pub(super) fn exception_to_wire(e: &DayException) -> wire::DateException {
    let (closed, opens, closes) = match e.kind {
        ExceptionKind::Closed => (true, None, None),
        ExceptionKind::Hours { opens, closes } => {
            (false, Some(opens.to_string()), Some(closes.to_string()))
        }
    };
    wire::DateException {
        date: e.day,
        closed,
        opens,
        closes,
        note: e.note.clone(),
    }
}

pub(super) fn category_to_wire(c: domain::Category) -> wire::Category {
    wire::Category {
        id: c.id,
        code: c.code,
        name: c.name,
        prefix: c.prefix,
        seats_per_slot: c.seats_per_slot,
    }
}

pub(super) fn counter_to_wire(c: domain::Counter) -> wire::Counter {
    wire::Counter {
        id: c.id,
        number: c.number,
        name: c.name,
        active: c.active,
        spoken_name: c.spoken_name,
        categories: c
            .categories
            .into_iter()
            .map(|(category_id, weight)| wire::CounterCategory {
                category_id,
                weight: i64::from(weight),
            })
            .collect(),
    }
}

pub(super) fn summary_to_wire(h: domain::Hall) -> wire::HallSummary {
    wire::HallSummary {
        rules: rules_to_wire(&h.rules),
        id: h.id,
        code: h.code,
        name: h.name,
        address: h.address,
        active: h.active,
    }
}

pub(super) fn detail_to_wire(d: domain::HallDetail) -> wire::Hall {
    wire::Hall {
        rules: rules_to_wire(&d.hall.rules),
        hours: hours_to_wire(&d.hours),
        exceptions: d.exceptions.iter().map(exception_to_wire).collect(),
        categories: d.categories.into_iter().map(category_to_wire).collect(),
        counters: d.counters.into_iter().map(counter_to_wire).collect(),
        items: d
            .items
            .into_iter()
            .map(|i| wire::HallItem {
                item_code: i.item_code,
                item_name: i.item_name,
                category_id: i.category_id,
            })
            .collect(),
        id: d.hall.id,
        code: d.hall.code,
        name: d.hall.name,
        address: d.hall.address,
        active: d.hall.active,
        created_at: d.hall.created_at,
        updated_at: d.hall.updated_at,
    }
}

pub(super) fn public_to_wire(h: domain::PublicHall) -> wire::PublicHall {
    wire::PublicHall {
        hours: hours_to_wire(&h.hours),
        exceptions: h.exceptions.iter().map(exception_to_wire).collect(),
        code: h.code,
        name: h.name,
        address: h.address,
    }
}

pub(super) fn hall_not_found() -> ApiError {
    ApiError::new(ErrorCode::HallNotFound)
}

pub(super) fn edit_error(e: HallEditError) -> ApiError {
    match e {
        HallEditError::NotFound => hall_not_found(),
        HallEditError::Unexpected(e) => ApiError::unexpected(e),
    }
}

pub(super) fn category_error(e: CategoryError) -> ApiError {
    match e {
        CategoryError::HallNotFound => hall_not_found(),
        CategoryError::NotFound => ApiError::new(ErrorCode::CategoryNotFound),
        CategoryError::CodeTaken => ApiError::new(ErrorCode::CategoryCodeTaken),
        CategoryError::PrefixTaken => ApiError::new(ErrorCode::QueuePrefixTaken),
        CategoryError::Unexpected(e) => ApiError::unexpected(e),
    }
}

pub(super) fn counter_error(e: CounterError) -> ApiError {
    match e {
        CounterError::HallNotFound => hall_not_found(),
        CounterError::NotFound => ApiError::new(ErrorCode::CounterNotFound),
        CounterError::NumberTaken => ApiError::new(ErrorCode::CounterNumberTaken),
        CounterError::CategoryNotFound(id) => ApiError::new(ErrorCode::CategoryNotFound)
            .with_message(format!("业务类别 {id} 不属于本大厅"))
            .with_field("categories", format!("业务类别 {id} 不属于本大厅")),
        CounterError::Unexpected(e) => ApiError::unexpected(e),
    }
}

pub(super) fn today(state: &AppState) -> NaiveDate {
    state.booking.clock().today()
}
