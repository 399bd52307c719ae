//! The queue's pure rules: the ticket's state machine, numbers, the weighted choice of a
//! category, the wait estimate and the statistics' percentiles. No I/O, so they are tested here.

use std::collections::BTreeMap;

use super::TicketState;

/// What may happen to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A counter calls it (the next of its line).
    Call,
    /// The counter calls it again.
    Recall,
    /// The counter starts serving it.
    Serve,
    /// The counter finished it.
    Finish,
    /// Called and not come.
    NoShow,
    /// The counter sends it to another category: it waits again there.
    Transfer,
    /// Its citizen gives it up.
    Cancel,
    /// The clerk who held it was deactivated: it waits again.
    Return,
    /// Its day ended with it still open.
    Close,
}

/// The ticket's state machine: the state a ticket in `from` moves to on `action`, or `None`
/// when the action is not allowed in that state.
pub fn transition(from: TicketState, action: Action) -> Option<TicketState> {
    use TicketState::{Called, Cancelled, Done, NoShow, Serving, Waiting};
    Some(match (from, action) {
        (Waiting, Action::Call) => Called,
        (Called, Action::Recall) => Called,
        (Called, Action::Serve) => Serving,
        (Serving, Action::Finish) => Done,
        (Called, Action::NoShow) => NoShow,
        (Called | Serving, Action::Transfer | Action::Return) => Waiting,
        (Waiting | Called, Action::Cancel | Action::Close) => Cancelled,
        // A ticket still being served when its day ended was served.
        (Serving, Action::Close) => Done,
        _ => return None,
    })
}

/// Calls a ticket may have: the first and at most two recalls.
pub const MAX_CALLS: i32 = 3;
/// "About 3 ahead": the push is sent once the people ahead are this many or fewer.
pub const NEAR_AHEAD: usize = 3;
/// The service time assumed when a category has too little history (5 minutes).
pub const DEFAULT_SERVICE_SECS: f64 = 300.0;
/// Fewer finished services than this in the window and the default is used instead.
pub const MIN_SAMPLES: usize = 3;
/// How far back measured service times are read.
pub const SERVICE_WINDOW_HOURS: i64 = 3;
/// A counter counts as open for a category if it called or finished a ticket this recently.
pub const OPEN_COUNTER_MINUTES: i64 = 60;

/// Priority ranks, lower first: green channel, then checked-in bookings, then everyone else.
pub const RANK_GREEN: i32 = 0;
pub const RANK_BOOKING: i32 = 1;
pub const RANK_NORMAL: i32 = 2;

/// `A` and 7 → `A007`; past 999 the number just grows (`A1000`).
pub fn number(prefix: &str, seq: i32) -> String {
    format!("{prefix}{seq:03}")
}

/// A counter's smooth weighted round-robin state: category id → current weight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wrr(BTreeMap<i64, i64>);

impl Wrr {
    /// Parses `12:3,14:-2`; anything unreadable starts afresh (the state is only fairness).
    pub fn parse(s: &str) -> Self {
        Self(
            s.split(',')
                .filter_map(|pair| {
                    let (k, v) = pair.split_once(':')?;
                    Some((k.trim().parse().ok()?, v.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Smooth weighted round-robin (nginx's): among `eligible` (category, weight ≥ 1), each
    /// gains its weight, the highest is chosen and loses the sum. Over any run of calls where
    /// the same categories have people waiting, each is chosen in proportion to its weight, and
    /// evenly spread (weights 3:1 give A A B A, not A A A B). Categories with nobody waiting
    /// keep their state. `None` when nothing is eligible.
    pub fn pick(&mut self, eligible: &[(i64, i32)]) -> Option<i64> {
        let total: i64 = eligible.iter().map(|&(_, w)| i64::from(w.max(1))).sum();
        let mut best: Option<(i64, i64)> = None;
        for &(category, weight) in eligible {
            let current = self.0.entry(category).or_insert(0);
            *current += i64::from(weight.max(1));
            if best.is_none_or(|(_, b)| *current > b) {
                best = Some((category, *current));
            }
        }
        let (chosen, _) = best?;
        if let Some(current) = self.0.get_mut(&chosen) {
            *current -= total;
        }
        Some(chosen)
    }
}

/// The estimated wait, in whole minutes (rounded up), for someone with `ahead` people before
/// them, when one service takes `service_secs` on average and `open_counters` serve the
/// category: the people ahead are shared among the open counters. `None` when no counter serves
/// the category: nobody will call the ticket, so there is no honest estimate (never "0 minutes").
pub fn estimate_minutes(ahead: u32, service_secs: f64, open_counters: u32) -> Option<u32> {
    if open_counters == 0 {
        return None;
    }
    let secs = f64::from(ahead) * service_secs.max(1.0) / f64::from(open_counters);
    let minutes = (secs / 60.0).ceil();
    if minutes.is_finite() && minutes >= 0.0 && minutes < f64::from(u32::MAX) {
        // Checked just above: finite, non-negative, in range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let m = minutes as u32;
        Some(m)
    } else {
        Some(u32::MAX)
    }
}

/// The mean of measured service times, or the default when there are too few.
pub fn mean_service_secs(samples: &[f64]) -> f64 {
    if samples.len() < MIN_SAMPLES {
        return DEFAULT_SERVICE_SECS;
    }
    #[allow(clippy::cast_precision_loss)]
    let n = samples.len() as f64;
    samples.iter().sum::<f64>() / n
}

/// Average and 90th percentile (nearest rank) of `samples`, in seconds; `None` when empty.
pub fn avg_p90(samples: &mut [f64]) -> Option<(f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let n = samples.len() as f64;
    let avg = samples.iter().sum::<f64>() / n;
    // Nearest rank: the smallest value with at least 90 % of the samples at or below it.
    let rank = (samples.len() * 9).div_ceil(10).max(1);
    let p90 = samples[rank - 1];
    Some((avg, p90))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numbers_have_three_digits_then_grow() {
        assert_eq!(number("A", 1), "A001");
        assert_eq!(number("B", 42), "B042");
        assert_eq!(number("C", 1000), "C1000");
    }

    #[test]
    fn weights_share_the_calls_in_proportion_and_spread() {
        let mut wrr = Wrr::default();
        let picks: Vec<i64> = (0..8)
            .map(|_| wrr.pick(&[(1, 3), (2, 1)]).unwrap())
            .collect();
        assert_eq!(picks.iter().filter(|&&c| c == 1).count(), 6);
        assert_eq!(picks.iter().filter(|&&c| c == 2).count(), 2);
        assert_eq!(&picks[..4], &[1, 1, 2, 1]);
    }

    #[test]
    fn the_state_survives_its_text_form() {
        let mut wrr = Wrr::default();
        wrr.pick(&[(7, 2), (9, 1)]);
        let back = Wrr::parse(&wrr.render());
        assert_eq!(back, wrr);
        assert_eq!(Wrr::parse("garbage,1:x"), Wrr::default());
    }

    #[test]
    fn a_lone_category_is_always_chosen_and_nothing_is_none() {
        let mut wrr = Wrr::default();
        assert_eq!(wrr.pick(&[]), None);
        for _ in 0..5 {
            assert_eq!(wrr.pick(&[(4, 5)]), Some(4));
        }
    }

    #[test]
    fn the_estimate_shares_the_line_among_open_counters() {
        assert_eq!(estimate_minutes(0, 300.0, 2), Some(0));
        assert_eq!(estimate_minutes(4, 300.0, 2), Some(10));
        assert_eq!(estimate_minutes(1, 90.0, 1), Some(2));
        assert_eq!(
            estimate_minutes(0, 300.0, 0),
            None,
            "no counter serves it: no estimate, not zero minutes"
        );
    }

    #[test]
    fn too_little_history_uses_the_default() {
        assert_eq!(mean_service_secs(&[60.0, 120.0]), DEFAULT_SERVICE_SECS);
        assert_eq!(mean_service_secs(&[60.0, 120.0, 180.0]), 120.0);
    }

    #[test]
    fn p90_is_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(avg_p90(&mut v), Some((5.5, 9.0)));
        assert_eq!(avg_p90(&mut [4.0]), Some((4.0, 4.0)));
        assert_eq!(avg_p90(&mut []), None);
    }
}
