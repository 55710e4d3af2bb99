//! When to try a failed delivery again.
//!
//! A [`RetrySchedule`] lists the delay before each attempt after the first;
//! each delay is spread by a jitter so that many deliveries failing together
//! do not all come back at the same instant. The randomness is an argument,
//! so schedules are tested exactly.

use std::time::Duration;

use crate::error::Error;

/// The delays before each retry, with jitter.
///
/// ```
/// use std::time::Duration;
/// use hookshot::retry::RetrySchedule;
///
/// let schedule = RetrySchedule::standard();
/// assert_eq!(schedule.max_attempts(), 8);
/// // The delay before the second attempt: 5 s, jittered by up to ±20 %.
/// let delay = schedule.delay_after(1, 0.5).unwrap();
/// assert_eq!(delay, Duration::from_secs(5));
/// assert!(schedule.delay_after(8, 0.5).is_none(), "exhausted after 8 attempts");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    /// `delays[n]` comes before attempt `n + 1` (0-based attempts; the first
    /// attempt is immediate and not listed).
    delays: Vec<Duration>,
    jitter: f64,
}

impl RetrySchedule {
    /// The most attempts a schedule may make.
    pub const MAX_ATTEMPTS: usize = 50;
    /// The jitter of [`RetrySchedule::standard`]: ±20 %.
    pub const DEFAULT_JITTER: f64 = 0.2;

    /// Immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h:
    /// eight attempts over about 28 hours, each delay jittered by ±20 %.
    pub fn standard() -> Self {
        const MIN: u64 = 60;
        const HOUR: u64 = 3600;
        Self {
            delays: [
                5,
                5 * MIN,
                30 * MIN,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ]
            .map(Duration::from_secs)
            .to_vec(),
            jitter: Self::DEFAULT_JITTER,
        }
    }

    /// A schedule that tries once immediately, then once after each of
    /// `delays`, with the standard jitter.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `retry_schedule` for more than
    /// [`RetrySchedule::MAX_ATTEMPTS`] attempts.
    pub fn new(delays: impl IntoIterator<Item = Duration>) -> Result<Self, Error> {
        let delays: Vec<Duration> = delays.into_iter().collect();
        if delays.len() + 1 > Self::MAX_ATTEMPTS {
            return Err(Error::invalid(
                "retry_schedule",
                format!(
                    "{} attempts exceed the {} allowed",
                    delays.len() + 1,
                    Self::MAX_ATTEMPTS
                ),
            ));
        }
        Ok(Self {
            delays,
            jitter: Self::DEFAULT_JITTER,
        })
    }

    /// Sets the jitter: each delay is scaled by a factor drawn uniformly from
    /// `1 - jitter` to `1 + jitter`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless `0 <= jitter <= 1`.
    pub fn jitter(mut self, jitter: f64) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&jitter) {
            return Err(Error::invalid(
                "retry_jitter",
                format!("{jitter} is outside 0 to 1"),
            ));
        }
        self.jitter = jitter;
        Ok(self)
    }

    /// How many attempts a delivery gets before it is exhausted.
    pub fn max_attempts(&self) -> u32 {
        // At most MAX_ATTEMPTS (50), so the conversion never saturates.
        u32::try_from(self.delays.len() + 1).unwrap_or(u32::MAX)
    }

    /// The delay before the next attempt once `attempts_made` attempts have
    /// failed, or `None` when the schedule is exhausted.
    ///
    /// `random` is a number in `[0, 1)`; `0.5` gives the delay unjittered.
    pub fn delay_after(&self, attempts_made: u32, random: f64) -> Option<Duration> {
        let index = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
        let base = *self.delays.get(index)?;
        // `random` comes from an injected source: NaN is read as no jitter
        // rather than as a zero delay.
        let random = if random.is_nan() {
            0.5
        } else {
            random.clamp(0.0, 1.0)
        };
        let factor = 1.0 + self.jitter * (2.0 * random - 1.0);
        // Delays are the application's to choose, up to `Duration::MAX`:
        // a product too long for a `Duration` is the longest one, where
        // `mul_f64` would panic.
        let scaled = Duration::try_from_secs_f64(base.as_secs_f64() * factor.max(0.0));
        Some(scaled.unwrap_or(Duration::MAX))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::standard()
    }
}

/// The delay to use when the receiver asked for one with `Retry-After`:
/// never sooner than the schedule, never longer than `cap`.
pub fn honour_retry_after(scheduled: Duration, retry_after: Duration, cap: Duration) -> Duration {
    scheduled.max(retry_after.min(cap))
}

/// A source of numbers in `[0, 1)` for jitter, injected so tests can fix
/// it.
pub trait Random: Send + Sync + std::fmt::Debug {
    /// The next number, uniformly in `[0, 1)`.
    fn next_unit(&self) -> f64;
}

/// A small, fast generator (SplitMix64). Jitter needs spread, not secrecy.
#[derive(Debug)]
pub struct SplitMix(std::sync::atomic::AtomicU64);

impl SplitMix {
    /// A generator starting from `seed`: the same seed gives the same numbers.
    pub fn seeded(seed: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(seed))
    }

    /// A generator seeded from the operating system.
    pub fn from_os() -> Self {
        let mut seed = [0u8; 8];
        // Should the OS generator fail, jitter still varies across deliveries
        // from seed 0; only its spread across processes is lost.
        let _ = getrandom::fill(&mut seed);
        Self::seeded(u64::from_le_bytes(seed))
    }
}

impl Random for SplitMix {
    fn next_unit(&self) -> f64 {
        const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
        let state = self
            .0
            .fetch_add(GAMMA, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(GAMMA);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits fill an f64 mantissa exactly.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_schedule_spans_about_28_hours() {
        let schedule = RetrySchedule::standard();
        let total: Duration = (1..schedule.max_attempts())
            .map(|n| schedule.delay_after(n, 0.5).unwrap())
            .sum();
        assert_eq!(
            total.as_secs(),
            5 + 300 + 1800 + 7200 + 18_000 + 36_000 + 36_000
        );
        assert!(schedule.delay_after(0, 0.5).is_none());
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let schedule = RetrySchedule::standard();
        let low = schedule.delay_after(3, 0.0).unwrap();
        let high = schedule.delay_after(3, 0.999_999).unwrap();
        assert_eq!(low, Duration::from_secs(30 * 60).mul_f64(0.8));
        assert!(high > Duration::from_secs(30 * 60).mul_f64(1.199));
        assert!(high <= Duration::from_secs(30 * 60).mul_f64(1.2));
    }

    #[test]
    fn custom_schedules_are_bounded() {
        assert!(RetrySchedule::new(vec![Duration::from_secs(1); 49]).is_ok());
        assert!(RetrySchedule::new(vec![Duration::from_secs(1); 50]).is_err());
        assert!(RetrySchedule::standard().jitter(1.5).is_err());
        let none = RetrySchedule::new([]).unwrap();
        assert_eq!(none.max_attempts(), 1);
        assert!(none.delay_after(1, 0.5).is_none());
    }

    #[test]
    fn split_mix_is_uniform_enough_and_repeatable() {
        let a = SplitMix::seeded(7);
        let b = SplitMix::seeded(7);
        let draws: Vec<f64> = (0..10_000).map(|_| a.next_unit()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        assert_eq!(b.next_unit(), draws[0]);
    }

    #[test]
    fn delays_of_any_length_do_not_overflow() {
        let longest = RetrySchedule::new([Duration::MAX]).unwrap();
        for random in [0.0, 0.5, 0.999_999, 1.0, f64::NAN, f64::INFINITY] {
            let delay = longest.delay_after(1, random).unwrap();
            assert!(delay >= Duration::MAX.mul_f64(0.79), "{random}: {delay:?}");
        }
        let none = RetrySchedule::new([Duration::ZERO]).unwrap();
        assert_eq!(none.delay_after(1, 0.9), Some(Duration::ZERO));
        // A broken source of randomness leaves the delay unjittered.
        let standard = RetrySchedule::standard();
        assert_eq!(
            standard.delay_after(1, f64::NAN),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(honour_retry_after(s(5), s(60), s(3600)), s(60));
        assert_eq!(honour_retry_after(s(300), s(60), s(3600)), s(300));
        assert_eq!(honour_retry_after(s(5), s(86_400), s(3600)), s(3600));
        let longest = Duration::MAX;
        assert_eq!(honour_retry_after(s(5), longest, s(3600)), s(3600));
        assert_eq!(honour_retry_after(longest, longest, s(3600)), longest);
    }
}
