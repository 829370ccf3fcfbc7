//! Throttles repeated sign-in failures without handing anyone a way to lock a user out.
//!
//! - Per (account, client address) pair: [`FREE_FAILURES`] failures are free; each later attempt
//!   must wait a delay that doubles with every failure (1 s, 2 s, 4 s … up to [`MAX_DELAY`]).
//!   Failures from an attacker's address slow only that address down for that account: the
//!   account's owner, signing in from elsewhere, is not affected (a hard per-account lock let
//!   anyone lock anyone out with six wrong passwords).
//! - Per client address, whatever the account: at most `per_ip` failures per window, which bounds
//!   spraying one password over many accounts.
//!
//! Failures are forgotten [`WINDOW`] after the last one, and a success clears its pair.
//! In-process: with several nodes each node counts on its own, which still bounds guessing to
//! `nodes ×` the limits.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures of one pair allowed before delays start.
pub const FREE_FAILURES: u32 = 5;
/// The longest delay between two attempts of one pair.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// How long failures are remembered (after the last one, for pairs).
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

struct Pair {
    failures: u32,
    last: Instant,
}

pub struct LoginThrottle {
    window: Duration,
    per_ip: usize,
    pairs: Mutex<HashMap<(String, String), Pair>>,
    ips: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(WINDOW, 20)
    }
}

/// The wait after `failures` failures of a pair (zero while they are free).
pub fn delay_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exp = (failures - FREE_FAILURES).min(20);
    Duration::from_secs(1u64 << exp).min(MAX_DELAY)
}

impl LoginThrottle {
    pub fn new(window: Duration, per_ip: usize) -> Self {
        Self { window, per_ip, pairs: Mutex::default(), ips: Mutex::default() }
    }

    /// `Err(seconds)` when this address must wait before trying this account again (or any
    /// account, past the per-address limit): the caller answers 429 with Retry-After.
    pub fn check(&self, email: &str, ip: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut wait = Duration::ZERO;
        {
            let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
            let key = (email.to_string(), ip.to_string());
            if let Some(p) = pairs.get(&key) {
                if now.duration_since(p.last) >= self.window {
                    pairs.remove(&key);
                } else {
                    wait = delay_after(p.failures).saturating_sub(now.duration_since(p.last));
                }
            }
        }
        {
            let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(q) = ips.get_mut(ip) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    q.pop_front();
                }
                if q.len() >= self.per_ip
                    && let Some(oldest) = q.front()
                {
                    wait = wait.max(self.window.saturating_sub(now.duration_since(*oldest)));
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait.as_secs_f64().ceil().max(1.0) as u64) }
    }

    pub fn record_failure(&self, email: &str, ip: &str) {
        let now = Instant::now();
        {
            let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
            if pairs.len() > 100_000 {
                let window = self.window;
                pairs.retain(|_, p| now.duration_since(p.last) < window);
            }
            let p = pairs.entry((email.to_string(), ip.to_string())).or_insert(Pair { failures: 0, last: now });
            p.failures = p.failures.saturating_add(1);
            p.last = now;
        }
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        if ips.len() > 100_000 {
            let window = self.window;
            ips.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        ips.entry(ip.to_string()).or_default().push_back(now);
    }

    /// A successful sign-in clears its pair (the address's count stays: it bounds spraying).
    pub fn record_success(&self, email: &str, ip: &str) {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        pairs.remove(&(email.to_string(), ip.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_per_pair_and_other_addresses_are_not_locked_out() {
        let t = LoginThrottle::new(Duration::from_secs(60), 100);
        for _ in 0..FREE_FAILURES {
            assert!(t.check("a@x", "1.1.1.1").is_ok());
            t.record_failure("a@x", "1.1.1.1");
        }
        let wait = t.check("a@x", "1.1.1.1").unwrap_err();
        assert_eq!(wait, 1);
        assert!(t.check("a@x", "2.2.2.2").is_ok(), "the owner elsewhere is not locked out");
        assert!(t.check("b@x", "1.1.1.1").is_ok(), "other accounts from that address are not either");
        t.record_success("a@x", "1.1.1.1");
        assert!(t.check("a@x", "1.1.1.1").is_ok());
    }

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        assert_eq!(delay_after(FREE_FAILURES - 1), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(delay_after(FREE_FAILURES + 3), Duration::from_secs(8));
        assert_eq!(delay_after(FREE_FAILURES + 40), MAX_DELAY);
    }

    #[test]
    fn limits_per_address() {
        let t = LoginThrottle::new(Duration::from_secs(60), 2);
        t.record_failure("a@x", "9.9.9.9");
        t.record_failure("b@x", "9.9.9.9");
        assert!(t.check("c@x", "9.9.9.9").is_err());
        assert!(t.check("c@x", "8.8.8.8").is_ok());
    }
}
