//! Reconnect delays: exponential from a floor to a ceiling, with jitter.

use core::time::Duration;

/// Exponential backoff with jitter. Pure: the caller passes the random number.
///
/// Delay `n` (from 0) is `min * 2^n`, capped at `max`, then multiplied by a
/// factor in `[0.8, 1.2)` and clamped to `[min, max]` again, so many bridges
/// restarted together do not reconnect in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff from `min` to `max` (`max` is raised to `min` if lower).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The next delay; `rand01` is a random number in `[0, 1)`.
    pub fn next_delay(&mut self, rand01: f64) -> Duration {
        let base = self
            .min
            .checked_mul(1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let factor = 0.8 + 0.4 * rand01.clamp(0.0, 1.0);
        base.mul_f64(factor).clamp(self.min, self.max)
    }

    /// Attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts again from `min` (after a connection that proved healthy).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_from_half_a_second_up_to_thirty() {
        let mut b = Backoff::new(ms(500), Duration::from_secs(30));
        let got: Vec<_> = (0..10).map(|_| b.next_delay(0.5)).collect();
        assert_eq!(
            got,
            vec![
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(16000),
                ms(30000),
                ms(30000),
                ms(30000),
                ms(30000)
            ]
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_the_bounds() {
        let mut lo = Backoff::new(ms(500), Duration::from_secs(30));
        let mut hi = lo.clone();
        lo.next_delay(0.0);
        hi.next_delay(0.999);
        assert_eq!(lo.next_delay(0.0), ms(800));
        assert!(hi.next_delay(0.999) < ms(1200));
        // The first delay never goes below the floor, the last never above the ceiling.
        assert_eq!(Backoff::new(ms(500), ms(30000)).next_delay(0.0), ms(500));
        let mut top = Backoff::new(ms(500), ms(30000));
        for _ in 0..20 {
            assert!(top.next_delay(0.999) <= ms(30000));
        }
    }

    #[test]
    fn reset_starts_again_from_the_floor() {
        let mut b = Backoff::new(ms(500), ms(30000));
        for _ in 0..5 {
            b.next_delay(0.5);
        }
        b.reset();
        assert_eq!(b.next_delay(0.5), ms(500));
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::new(ms(500), ms(30000));
        b.attempt = u32::MAX;
        assert_eq!(b.next_delay(0.5), ms(30000));
    }
}
