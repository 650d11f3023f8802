//! Who may connect: the users table, token comparison in constant time, and
//! the slowing down of addresses that keep failing to sign in.
//!
//! Pure: the clock is passed in (`now`).

use crate::limits::{
    WS_AUTH_DELAY_MAX_S, WS_AUTH_FAILURE_TABLE, WS_AUTH_FORGET_S, WS_AUTH_FREE_FAILURES,
    WS_MAX_TOKEN,
};
use core::fmt;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// One operator as the WebSocket side knows it. The token stays in [`Users`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's name (config `users[].name`), for logs and the backend.
    pub name: String,
    /// The line (extension) whose calls the user sees and acts on.
    pub line: String,
    /// Start every connection of this user in debug mode (`Raw` events).
    pub debug: bool,
}

/// A user with its token, as given to [`Users::new`].
#[derive(Debug, Clone)]
pub struct UserEntry {
    /// The user.
    pub user: User,
    /// Its access token.
    pub token: String,
}

/// Why a users table was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsersError {
    /// A user has no token.
    EmptyToken(String),
    /// A token is longer than [`WS_MAX_TOKEN`] bytes.
    TokenTooLong(String),
    /// Two users share a token (names of both).
    DuplicateToken(String, String),
    /// A user has no line.
    EmptyLine(String),
}

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsersError::EmptyToken(n) => write!(
                f,
                "user '{n}' has an empty token: give it a long random token"
            ),
            UsersError::TokenTooLong(n) => {
                write!(f, "user '{n}' has a token longer than {WS_MAX_TOKEN} bytes")
            }
            UsersError::DuplicateToken(a, b) => write!(
                f,
                "users '{a}' and '{b}' have the same token: a token must name one user"
            ),
            UsersError::EmptyLine(n) => write!(f, "user '{n}' has no line"),
        }
    }
}

impl std::error::Error for UsersError {}

/// The users who may sign in, each with one token and one line.
#[derive(Debug, Default)]
pub struct Users {
    entries: Vec<(Rc<User>, Vec<u8>)>,
}

impl Users {
    /// Builds the table; every token must be non-empty, at most
    /// [`WS_MAX_TOKEN`] bytes and unique, every line non-empty.
    pub fn new(entries: impl IntoIterator<Item = UserEntry>) -> Result<Users, UsersError> {
        let mut out: Vec<(Rc<User>, Vec<u8>)> = Vec::new();
        for e in entries {
            if e.token.is_empty() {
                return Err(UsersError::EmptyToken(e.user.name));
            }
            if e.token.len() > WS_MAX_TOKEN {
                return Err(UsersError::TokenTooLong(e.user.name));
            }
            if e.user.line.is_empty() {
                return Err(UsersError::EmptyLine(e.user.name));
            }
            if let Some((other, _)) = out.iter().find(|(_, t)| t == e.token.as_bytes()) {
                return Err(UsersError::DuplicateToken(other.name.clone(), e.user.name));
            }
            out.push((Rc::new(e.user), e.token.into_bytes()));
        }
        Ok(Users { entries: out })
    }

    /// The user whose token is `token`. Every token is compared, each in
    /// constant time, so the time taken says nothing about which one (or how
    /// much of one) matched.
    pub fn find(&self, token: &str) -> Option<Rc<User>> {
        self.find_bytes(token.as_bytes())
    }

    fn find_bytes(&self, token: &[u8]) -> Option<Rc<User>> {
        let mut found = None;
        for (user, secret) in &self.entries {
            if ct_eq(secret, token) {
                found = Some(user.clone());
            }
        }
        found
    }

    /// Who a client signed in as `user` (an entry of this table) is under
    /// the table `new`: the user its token names there, if that user has the
    /// same name and line. `None` (sign it out) otherwise, and when `user`
    /// is not an entry of this table.
    pub fn carried_over(&self, user: &Rc<User>, new: &Users) -> Option<Rc<User>> {
        let (_, token) = self.entries.iter().find(|(u, _)| Rc::ptr_eq(u, user))?;
        new.find_bytes(token)
            .filter(|n| n.name == user.name && n.line == user.line)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no user may sign in.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Compares a secret with a candidate in time that depends only on the
/// secret's length: every byte of the secret is looked at whatever the
/// candidate holds, and the differences are folded into one value tested at
/// the end. (Ten lines instead of the `subtle` crate, whose slice comparison
/// also returns early on a length mismatch; `black_box` keeps the optimiser
/// from turning the fold back into an early exit.)
pub fn ct_eq(secret: &[u8], candidate: &[u8]) -> bool {
    let mut diff = (secret.len() ^ candidate.len()) as u64;
    for (i, s) in secret.iter().enumerate() {
        // The candidate's length is the client's own knowledge: branching
        // on it reveals nothing about the secret.
        let c = candidate.get(i).copied().unwrap_or(!*s);
        diff |= u64::from(core::hint::black_box(s ^ c));
    }
    core::hint::black_box(diff) == 0
}

/// Where failures are counted: an IPv4 address, or an IPv6 /64 (one site or
/// one host can use a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin(IpAddr);

impl Origin {
    /// The origin of a peer address.
    pub fn of(ip: IpAddr) -> Origin {
        match ip {
            IpAddr::V4(v4) => Origin(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Origin(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Origin(IpAddr::V6(std::net::Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "{a}/64"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    origin: Origin,
    count: u32,
    last: Instant,
}

/// Recent failed sign-ins per origin, at most [`WS_AUTH_FAILURE_TABLE`].
///
/// After [`WS_AUTH_FREE_FAILURES`] failures, an origin must wait before its
/// next attempt: one second, doubling with each further failure, at most
/// [`WS_AUTH_DELAY_MAX_S`]. An attempt inside the wait is refused without
/// its token being looked at, so guessing from many connections at once is
/// as slow as guessing from one. An origin's failures are forgotten
/// [`WS_AUTH_FORGET_S`] after its last one; a successful sign-in does not
/// clear them (behind one NAT, a correct token must not reset a guesser).
#[derive(Debug)]
pub struct FailureTable {
    entries: heapless::Vec<Failures, WS_AUTH_FAILURE_TABLE>,
    unit: Duration,
    evicted: u64,
}

impl Default for FailureTable {
    fn default() -> FailureTable {
        FailureTable::new(Duration::from_secs(1))
    }
}

impl FailureTable {
    /// An empty table whose first wait is `unit` (one second in service).
    pub fn new(unit: Duration) -> FailureTable {
        FailureTable {
            entries: heapless::Vec::new(),
            unit,
            evicted: 0,
        }
    }

    /// The wait after `count` failures: none for the first
    /// [`WS_AUTH_FREE_FAILURES`], then `unit` doubling with each failure, at
    /// most [`WS_AUTH_DELAY_MAX_S`] (or `unit` if that is longer).
    pub fn delay(&self, count: u32) -> Duration {
        if count < WS_AUTH_FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (count - WS_AUTH_FREE_FAILURES).min(16);
        let max = Duration::from_secs(WS_AUTH_DELAY_MAX_S).max(self.unit);
        self.unit.saturating_mul(1 << doublings).min(max)
    }

    /// `Ok` when `origin` may try a token now, `Err(wait)` with the time
    /// left otherwise.
    pub fn check(&self, origin: Origin, now: Instant) -> Result<(), Duration> {
        let Some(f) = self.entries.iter().find(|f| f.origin == origin) else {
            return Ok(());
        };
        let until = f.last + self.delay(f.count);
        if now < until {
            Err(until - now)
        } else {
            Ok(())
        }
    }

    /// Records a failed sign-in from `origin`.
    pub fn record_failure(&mut self, origin: Origin, now: Instant) {
        let forget = Duration::from_secs(WS_AUTH_FORGET_S);
        self.entries
            .retain(|f| now.saturating_duration_since(f.last) < forget || f.origin == origin);
        if let Some(f) = self.entries.iter_mut().find(|f| f.origin == origin) {
            if now.saturating_duration_since(f.last) >= forget {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
            return;
        }
        let entry = Failures {
            origin,
            count: 1,
            last: now,
        };
        if let Err(entry) = self.entries.push(entry) {
            // Full: forget the origin whose last failure is oldest.
            if let Some(oldest) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].last) {
                self.entries[oldest] = entry;
                self.evicted += 1;
            }
        }
    }

    /// Failures recorded for `origin` and not yet forgotten.
    pub fn failures(&self, origin: Origin) -> u32 {
        self.entries
            .iter()
            .find(|f| f.origin == origin)
            .map_or(0, |f| f.count)
    }

    /// Origins forgotten early because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn user(name: &str, line: &str, token: &str) -> UserEntry {
        UserEntry {
            user: User {
                name: name.into(),
                line: line.into(),
                debug: false,
            },
            token: token.into(),
        }
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Origin {
        Origin::of(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    #[test]
    fn reloaded_table_keeps_only_unchanged_sign_ins() {
        let old = Users::new([
            user("Alice", "1000", "alice-token"),
            user("Bob", "1002", "bob-token"),
            user("Carol", "1003", "carol-token"),
            user("Dave", "1004", "dave-token"),
        ])
        .unwrap();
        let new = Users::new([
            // Alice unchanged; Bob's token changed; Carol removed; Dave
            // moved to another line; Erin added.
            user("Alice", "1000", "alice-token"),
            user("Bob", "1002", "bob-new-token"),
            user("Dave", "1005", "dave-token"),
            user("Erin", "1006", "erin-token"),
        ])
        .unwrap();
        let kept = |token: &str| old.carried_over(&old.find(token).unwrap(), &new);
        let alice = kept("alice-token").unwrap();
        // The entry of the new table, so the next reload finds it there.
        assert!(Rc::ptr_eq(&alice, &new.find("alice-token").unwrap()));
        assert_eq!(kept("bob-token"), None);
        assert_eq!(kept("carol-token"), None);
        assert_eq!(kept("dave-token"), None);
        // A user of another table is never taken for one of this table.
        let stranger = new.find("erin-token").unwrap();
        assert_eq!(old.carried_over(&stranger, &new), None);
    }

    #[test]
    fn ct_eq_is_equality() {
        assert!(ct_eq(b"secret", b"secret"));
        assert!(!ct_eq(b"secret", b"secreT"));
        assert!(!ct_eq(b"secret", b"Secret"));
        assert!(!ct_eq(b"secret", b"secre"));
        assert!(!ct_eq(b"secret", b"secrets"));
        assert!(!ct_eq(b"secret", b""));
        assert!(!ct_eq(b"", b"x"));
        assert!(ct_eq(b"", b""));
        // A candidate that is the secret's prefix padded with the byte the
        // padding logic uses must still differ.
        assert!(!ct_eq(b"ab", b"a"));
        assert!(!ct_eq(&[0xff], &[]));
        assert!(!ct_eq(&[0x00], &[]));
    }

    #[test]
    fn ct_eq_agrees_with_eq_on_many_pairs() {
        let words: [&[u8]; 8] = [b"", b"a", b"b", b"ab", b"ba", b"abc", &[0], &[0xff, 0]];
        for a in words {
            for b in words {
                assert_eq!(ct_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_token_finds_its_one_user() {
        let users =
            Users::new([user("alice", "1000", "tok-a"), user("bob", "1002", "tok-b")]).unwrap();
        assert_eq!(users.find("tok-b").unwrap().line, "1002");
        assert_eq!(users.find("tok-a").unwrap().name, "alice");
        assert!(users.find("tok-").is_none());
        assert!(users.find("").is_none());
        assert!(users.find("tok-a ").is_none());
    }

    #[test]
    fn a_shared_empty_or_overlong_token_is_refused() {
        let dup = Users::new([user("a", "1", "t"), user("b", "2", "t")]).unwrap_err();
        assert_eq!(dup, UsersError::DuplicateToken("a".into(), "b".into()));
        assert!(dup.to_string().contains("same token"));
        assert_eq!(
            Users::new([user("a", "1", "")]).unwrap_err(),
            UsersError::EmptyToken("a".into())
        );
        let long = "x".repeat(WS_MAX_TOKEN + 1);
        assert_eq!(
            Users::new([user("a", "1", &long)]).unwrap_err(),
            UsersError::TokenTooLong("a".into())
        );
        assert_eq!(
            Users::new([user("a", "", "t")]).unwrap_err(),
            UsersError::EmptyLine("a".into())
        );
    }

    #[test]
    fn first_failures_are_free_then_the_wait_doubles_to_its_ceiling() {
        let t = FailureTable::default();
        let waits: Vec<u64> = (0..12).map(|n| t.delay(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(t.delay(u32::MAX).as_secs(), WS_AUTH_DELAY_MAX_S);
        let slow = FailureTable::new(Duration::from_secs(300));
        assert_eq!(slow.delay(WS_AUTH_FREE_FAILURES), Duration::from_secs(300));
        assert_eq!(
            slow.delay(WS_AUTH_FREE_FAILURES + 5),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn repeated_failures_lock_the_origin_out_for_a_while() {
        let mut t = FailureTable::default();
        let now = Instant::now();
        let ip = v4(192, 0, 2, 7);
        for _ in 0..WS_AUTH_FREE_FAILURES - 1 {
            t.record_failure(ip, now);
            assert_eq!(t.check(ip, now), Ok(()));
        }
        t.record_failure(ip, now);
        assert_eq!(t.check(ip, now), Err(Duration::from_secs(1)));
        assert_eq!(
            t.check(ip, now + Duration::from_millis(400)),
            Err(Duration::from_millis(600))
        );
        assert_eq!(t.check(ip, now + Duration::from_secs(1)), Ok(()));
        t.record_failure(ip, now + Duration::from_secs(1));
        assert_eq!(
            t.check(ip, now + Duration::from_secs(2)),
            Err(Duration::from_secs(1))
        );
        // Another address is not slowed down.
        assert_eq!(t.check(v4(192, 0, 2, 8), now), Ok(()));
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_while() {
        let mut t = FailureTable::default();
        let now = Instant::now();
        let ip = v4(10, 0, 0, 1);
        for _ in 0..10 {
            t.record_failure(ip, now);
        }
        let later = now + Duration::from_secs(WS_AUTH_FORGET_S);
        assert_eq!(t.check(ip, later), Ok(()));
        t.record_failure(ip, later);
        assert_eq!(t.failures(ip), 1);
    }

    #[test]
    fn a_full_table_forgets_the_oldest_origin() {
        let mut t = FailureTable::default();
        let start = Instant::now();
        for i in 0..WS_AUTH_FAILURE_TABLE {
            let ip = Origin::of(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)));
            t.record_failure(ip, start + Duration::from_millis(i as u64));
        }
        let first = Origin::of(IpAddr::V4(Ipv4Addr::from(0x0a00_0000)));
        assert_eq!(t.failures(first), 1);
        let newcomer = v4(192, 0, 2, 1);
        t.record_failure(newcomer, start + Duration::from_secs(1));
        assert_eq!(t.failures(newcomer), 1);
        assert_eq!(t.failures(first), 0);
        assert_eq!(t.evicted(), 1);
    }

    #[test]
    fn ipv6_hosts_of_one_slash_64_count_together() {
        let a = Origin::of("2001:db8:1:2::1".parse().unwrap());
        let b = Origin::of("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = Origin::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        let mapped = Origin::of(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()));
        assert_eq!(mapped, v4(192, 0, 2, 1));
        let _ = Ipv6Addr::LOCALHOST;
    }
}
