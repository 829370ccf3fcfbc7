//! Throttles repeated sign-in failures per email and per client address.
//!
//! In-process: with several nodes each node counts on its own, which still bounds guessing to
//! `nodes × limit` per window. (A Redis-backed counter arrives with the shared rate limiter.)

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    window: Duration,
    per_email: usize,
    per_ip: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(Duration::from_secs(15 * 60), 5, 20)
    }
}

impl LoginThrottle {
    pub fn new(window: Duration, per_email: usize, per_ip: usize) -> Self {
        Self { window, per_email, per_ip, failures: Mutex::new(HashMap::new()) }
    }

    fn keys(email: &str, ip: &str) -> [(String, usize); 2] {
        [(format!("e:{email}"), 0), (format!("i:{ip}"), 1)]
    }

    /// `Err(seconds)` when either key is over its limit: the caller answers 429 with Retry-After.
    pub fn check(&self, email: &str, ip: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = 0u64;
        for (key, kind) in Self::keys(email, ip) {
            let limit = if kind == 0 { self.per_email } else { self.per_ip };
            if let Some(q) = map.get_mut(&key) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    q.pop_front();
                }
                if q.len() >= limit
                    && let Some(oldest) = q.front()
                {
                    let left = self.window.saturating_sub(now.duration_since(*oldest));
                    wait = wait.max(left.as_secs().max(1));
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn record_failure(&self, email: &str, ip: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        for (key, _) in Self::keys(email, ip) {
            map.entry(key).or_default().push_back(now);
        }
    }

    pub fn record_success(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("e:{email}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_limit_and_success_clears_the_email() {
        let t = LoginThrottle::new(Duration::from_secs(60), 3, 100);
        for _ in 0..3 {
            assert!(t.check("a@x", "1.1.1.1").is_ok());
            t.record_failure("a@x", "1.1.1.1");
        }
        let wait = t.check("a@x", "1.1.1.1").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.check("b@x", "1.1.1.1").is_ok(), "other emails are not locked by the email limit");
        t.record_success("a@x");
        assert!(t.check("a@x", "1.1.1.1").is_ok());
    }

    #[test]
    fn locks_per_address() {
        let t = LoginThrottle::new(Duration::from_secs(60), 100, 2);
        t.record_failure("a@x", "9.9.9.9");
        t.record_failure("b@x", "9.9.9.9");
        assert!(t.check("c@x", "9.9.9.9").is_err());
        assert!(t.check("c@x", "8.8.8.8").is_ok());
    }
}
