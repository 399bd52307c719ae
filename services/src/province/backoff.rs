//! Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
//! Jitter"): the pause before retry `n` (0-based) is uniform in `[0, min(cap, base·2ⁿ)]`. Full
//! jitter spreads the retries of many gateway instances hitting the same outage, where a fixed
//! or half-jittered schedule would make them arrive in waves.

use std::time::Duration;

use rand::Rng;

/// The first retry waits up to this long.
pub(crate) const BASE: Duration = Duration::from_millis(100);
/// No computed pause exceeds this.
pub(crate) const CAP: Duration = Duration::from_secs(2);
/// A `Retry-After` longer than this is shortened to it: a call must not hang for minutes.
pub(crate) const RETRY_AFTER_CAP: Duration = Duration::from_secs(5);

/// The ceiling of the pause before retry `retry` (0-based): `min(cap, base·2^retry)`.
pub(crate) fn ceiling(retry: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// A pause drawn uniformly from `[0, ceiling(retry)]`.
pub(crate) fn full_jitter(
    retry: u32,
    base: Duration,
    cap: Duration,
    rng: &mut impl Rng,
) -> Duration {
    let ceiling = ceiling(retry, base, cap);
    let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rng.random_range(0..=micros))
}

/// The pause a 429 asks for in `Retry-After` (delta-seconds form only), bounded by
/// [`RETRY_AFTER_CAP`].
pub(crate) fn retry_after(header: Option<&str>) -> Option<Duration> {
    let secs: u64 = header?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_then_stops_at_the_cap() {
        let got: Vec<_> = (0..7).map(|n| ceiling(n, BASE, CAP).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(
            ceiling(40, BASE, CAP),
            CAP,
            "no overflow on huge retry counts"
        );
        assert_eq!(ceiling(u32::MAX, BASE, CAP), CAP);
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling_and_uses_the_range() {
        let mut rng = rand::rng();
        for retry in 0..8 {
            let ceiling = ceiling(retry, BASE, CAP);
            let draws: Vec<_> = (0..500)
                .map(|_| full_jitter(retry, BASE, CAP, &mut rng))
                .collect();
            assert!(draws.iter().all(|d| *d <= ceiling), "retry {retry}");
            // Full jitter, not "half the ceiling plus jitter": some pauses are short.
            assert!(draws.iter().any(|d| *d < ceiling / 4), "retry {retry}");
            assert!(draws.iter().any(|d| *d > ceiling * 3 / 4), "retry {retry}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_bounded() {
        assert_eq!(retry_after(Some("1")), Some(Duration::from_secs(1)));
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("3600")), Some(RETRY_AFTER_CAP));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }
}
