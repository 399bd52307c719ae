//! A small circuit breaker: after `threshold` consecutive failed calls it opens for `cooldown`,
//! then lets exactly one probe through (half-open); the probe's success closes it, its failure
//! opens it again for another cooldown.
//!
//! Hand-rolled because it is forty lines and its clock must be injectable for tests. A call that
//! is abandoned (its future dropped) before reporting gives its probe slot back.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    inner: Arc<Mutex<State>>,
    /// 0 disables the breaker.
    threshold: u32,
    cooldown: Duration,
}

/// Permission to make one call. Report its outcome with [`Permit::success`] or
/// [`Permit::failure`]; dropping it unreported counts as neither.
#[derive(Debug)]
pub(crate) struct Permit {
    breaker: Breaker,
    probe: bool,
    reported: bool,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State::Closed { failures: 0 })),
            threshold,
            cooldown,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn current(&self) -> State {
        *self.state()
    }

    /// How much longer no call will be let through, as of `now`: `None` when a call would be
    /// (closed, or ready for its half-open probe).
    pub(crate) fn closed_for(&self, now: Instant) -> Option<Duration> {
        match *self.state() {
            State::Open { until } if now < until => Some(until - now),
            State::HalfOpen { probing: true } => Some(Duration::ZERO),
            _ => None,
        }
    }

    /// A permit to call at `now`, or `None` while open (or while the half-open probe is out).
    pub(crate) fn acquire(&self, now: Instant) -> Option<Permit> {
        let mut state = self.state();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen { probing: true };
                true
            }
            State::Open { .. } | State::HalfOpen { probing: true } => return None,
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
        };
        Some(Permit {
            breaker: self.clone(),
            probe,
            reported: false,
        })
    }
}

impl Permit {
    /// The platform answered (whatever it answered): it is up.
    pub(crate) fn success(mut self) {
        self.reported = true;
        *self.breaker.state() = State::Closed { failures: 0 };
    }

    /// The call failed after all its attempts at `now`.
    pub(crate) fn failure(mut self, now: Instant) {
        self.reported = true;
        let threshold = self.breaker.threshold;
        let until = now + self.breaker.cooldown;
        let mut state = self.breaker.state();
        *state = match *state {
            _ if threshold == 0 => State::Closed { failures: 0 },
            _ if self.probe => State::Open { until },
            State::Closed { failures } if failures + 1 >= threshold => State::Open { until },
            State::Closed { failures } => State::Closed {
                failures: failures + 1,
            },
            // Another call already opened it (or is probing): leave that as it is.
            other => other,
        };
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            let mut state = self.breaker.state();
            if *state == (State::HalfOpen { probing: true }) {
                *state = State::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn it_opens_after_the_threshold_of_consecutive_failures() {
        let b = Breaker::new(3, COOL);
        let t = Instant::now();
        for _ in 0..2 {
            b.acquire(t).unwrap().failure(t);
        }
        assert_eq!(b.current(), State::Closed { failures: 2 });
        b.acquire(t).unwrap().failure(t);
        assert_eq!(b.current(), State::Open { until: t + COOL });
        assert!(b.acquire(t + COOL - Duration::from_millis(1)).is_none());
    }

    #[test]
    fn it_says_how_long_it_stays_closed_to_calls() {
        let b = Breaker::new(1, COOL);
        let t = Instant::now();
        assert_eq!(b.closed_for(t), None);
        b.acquire(t).unwrap().failure(t);
        assert_eq!(b.closed_for(t), Some(COOL));
        assert_eq!(b.closed_for(t + COOL), None, "ready for its probe");
        let probe = b.acquire(t + COOL).unwrap();
        assert_eq!(
            b.closed_for(t + COOL),
            Some(Duration::ZERO),
            "the probe is out"
        );
        probe.success();
        assert_eq!(b.closed_for(t + COOL), None);
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(2, COOL);
        let t = Instant::now();
        b.acquire(t).unwrap().failure(t);
        b.acquire(t).unwrap().success();
        b.acquire(t).unwrap().failure(t);
        assert_eq!(b.current(), State::Closed { failures: 1 });
    }

    #[test]
    fn after_the_cooldown_one_probe_goes_through_and_its_success_closes_it() {
        let b = Breaker::new(1, COOL);
        let t = Instant::now();
        b.acquire(t).unwrap().failure(t);
        let later = t + COOL;
        let probe = b.acquire(later).unwrap();
        assert!(b.acquire(later).is_none(), "only one probe at a time");
        probe.success();
        assert_eq!(b.current(), State::Closed { failures: 0 });
        assert!(b.acquire(later).is_some());
    }

    #[test]
    fn a_failed_probe_opens_it_for_another_cooldown() {
        let b = Breaker::new(2, COOL);
        let t = Instant::now();
        b.acquire(t).unwrap().failure(t);
        b.acquire(t).unwrap().failure(t);
        let later = t + COOL + Duration::from_secs(1);
        b.acquire(later).unwrap().failure(later);
        assert_eq!(
            b.current(),
            State::Open {
                until: later + COOL
            }
        );
    }

    #[test]
    fn an_abandoned_probe_gives_its_slot_back() {
        let b = Breaker::new(1, COOL);
        let t = Instant::now();
        b.acquire(t).unwrap().failure(t);
        drop(b.acquire(t + COOL).unwrap());
        assert_eq!(b.current(), State::HalfOpen { probing: false });
        assert!(b.acquire(t + COOL).is_some());
    }

    #[test]
    fn a_threshold_of_zero_never_opens() {
        let b = Breaker::new(0, COOL);
        let t = Instant::now();
        for _ in 0..10 {
            b.acquire(t).unwrap().failure(t);
        }
        assert!(b.acquire(t).is_some());
    }
}
