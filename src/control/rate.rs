//! The originate rate limit: a token bucket per user (`originateRatePerMinute`).
//!
//! Pure: the clock is passed in (`now`).

use crate::limits::ORIGINATE_RATE_USERS;
use std::time::{Duration, Instant};

/// Units of one call: a bucket refills `per_minute` units per millisecond, so
/// one call costs a minute's worth of milliseconds.
const CALL: u64 = 60_000;

/// Longest user name kept as a key; longer names share their first bytes.
const KEY_MAX: usize = 48;

#[derive(Debug, Clone)]
struct Bucket {
    user: heapless::String<KEY_MAX>,
    /// Units available at `at` (at most `per_minute * CALL`).
    units: u64,
    at: Instant,
}

/// Calls each user may still start: at most `per_minute` at once, one more
/// every `60 / per_minute` seconds. A user who waits a minute has the full
/// allowance again; one who calls steadily gets `per_minute` calls a minute.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: heapless::Vec<Bucket, ORIGINATE_RATE_USERS>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` calls per user (0: none at all).
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            buckets: heapless::Vec::new(),
        }
    }

    /// The configured rate.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one call from `user`'s allowance, or says how long to wait
    /// for the next one (`Duration::MAX` when the rate is 0).
    pub fn take(&mut self, user: &str, now: Instant) -> Result<(), Duration> {
        let rate = u64::from(self.per_minute);
        if rate == 0 {
            return Err(Duration::MAX);
        }
        let full = rate * CALL;
        let key = key(user);
        let i = match self.buckets.iter().position(|b| b.user == key) {
            Some(i) => i,
            None => {
                let fresh = Bucket {
                    user: key,
                    units: full,
                    at: now,
                };
                if let Err(fresh) = self.buckets.push(fresh) {
                    // Unreachable with a valid config; reuse the stalest.
                    let stale = (0..self.buckets.len())
                        .min_by_key(|&i| self.buckets[i].at)
                        .unwrap_or(0);
                    self.buckets[stale] = fresh;
                    stale
                } else {
                    self.buckets.len() - 1
                }
            }
        };
        let b = &mut self.buckets[i];
        let elapsed = now.saturating_duration_since(b.at).as_millis();
        let gained = u64::try_from(elapsed)
            .unwrap_or(u64::MAX)
            .saturating_mul(rate);
        b.units = b.units.saturating_add(gained).min(full);
        b.at = now;
        if b.units >= CALL {
            b.units -= CALL;
            Ok(())
        } else {
            let missing_ms = (CALL - b.units).div_ceil(rate);
            Err(Duration::from_millis(missing_ms))
        }
    }
}

fn key(user: &str) -> heapless::String<KEY_MAX> {
    crate::calls::model::fixed(user)
}

/// A wait as the whole seconds to tell a user: rounded up and at least 1,
/// so that trying again after that many seconds succeeds.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_allowance_then_refusals_with_the_wait() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(3);
        for _ in 0..3 {
            assert_eq!(r.take("alice", t0), Ok(()));
        }
        // One call comes back every 20 s.
        assert_eq!(r.take("alice", t0), Err(Duration::from_secs(20)));
        assert_eq!(
            r.take("alice", t0 + Duration::from_secs(5)),
            Err(Duration::from_secs(15))
        );
        assert_eq!(r.take("alice", t0 + Duration::from_secs(20)), Ok(()));
        assert!(r.take("alice", t0 + Duration::from_secs(21)).is_err());
    }

    #[test]
    fn users_have_their_own_allowance() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1);
        assert_eq!(r.take("alice", t0), Ok(()));
        assert!(r.take("alice", t0).is_err());
        assert_eq!(r.take("bob", t0), Ok(()));
    }

    #[test]
    fn a_minute_of_quiet_refills_but_never_beyond_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(2);
        assert_eq!(r.take("a", t0), Ok(()));
        assert_eq!(r.take("a", t0), Ok(()));
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(r.take("a", later), Ok(()));
        assert_eq!(r.take("a", later), Ok(()));
        assert_eq!(r.take("a", later), Err(Duration::from_secs(30)));
    }

    #[test]
    fn rate_zero_refuses_every_call() {
        let mut r = RateLimiter::new(0);
        assert_eq!(r.take("a", Instant::now()), Err(Duration::MAX));
    }

    #[test]
    fn the_table_never_grows_past_its_capacity() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1);
        for i in 0..ORIGINATE_RATE_USERS + 10 {
            assert_eq!(r.take(&format!("user{i}"), t0), Ok(()));
        }
        assert_eq!(r.buckets.len(), ORIGINATE_RATE_USERS);
    }

    #[test]
    fn the_wait_told_is_rounded_up_so_trying_then_succeeds() {
        assert_eq!(retry_after_secs(Duration::from_millis(5_500)), 6);
        assert_eq!(retry_after_secs(Duration::from_secs(6)), 6);
        assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        // Ten calls at once at 10 a minute: the next is 6 s away, and the
        // user must not be told 5.
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10);
        for _ in 0..10 {
            r.take("a", t0).unwrap();
        }
        let wait = r.take("a", t0 + Duration::from_millis(500)).unwrap_err();
        assert_eq!(retry_after_secs(wait), 6);
        assert!(r.take("a", t0 + Duration::from_secs(6)).is_ok());
    }
}
