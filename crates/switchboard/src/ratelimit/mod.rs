//! Rate limits with GCRA (the generic cell rate algorithm): one timestamp per key, no counters.
//! In-process by default; in Redis when `SWITCHBOARD_REDIS_URL` is set, so every node draws on one
//! budget (the script runs atomically and reads Redis's clock, so node clocks do not matter).

pub mod throttle;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: `per_second` on average, with bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    pub fn per_second(n: f64) -> Self {
        Self { per_second: n, burst: 1 }
    }
    pub fn burst(mut self, b: u32) -> Self {
        self.burst = b.max(1);
        self
    }
    fn interval_us(&self) -> u64 {
        (1_000_000.0 / self.per_second.max(1e-9)).round().max(1.0) as u64
    }
    fn tolerance_us(&self) -> u64 {
        self.interval_us() * (self.burst.max(1) as u64 - 1)
    }
}

/// Where limiter state lives.
pub enum Limiter {
    Local(LocalLimiter),
    Redis(redis::aio::ConnectionManager),
}

const SCRIPT: &str = r#"
local now = redis.call('TIME')
local t = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or t)
if tat < t then tat = t end
local diff = tat - t
if diff > tolerance then
  return diff - tolerance
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - t) / 1000) + 1000)
return 0
"#;

/// GCRA with a queue: books the next cell even if it lies in the future (up to ARGV[3] µs
/// ahead) and returns how long to wait for it (>= 0); -1 - wait when it lies further ahead
/// (nothing booked).
const RESERVE_SCRIPT: &str = r#"
local now = redis.call('TIME')
local t = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or t)
if tat < t then tat = t end
local wait = tat - tolerance - t
if wait < 0 then wait = 0 end
if wait > max_wait then
  return -1 - wait
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - t) / 1000) + 1000)
return wait
"#;

impl Limiter {
    /// Takes one cell for `key` now, or says how long to wait for one.
    pub async fn acquire(&self, key: &str, rate: Rate) -> Result<(), Duration> {
        match self {
            Limiter::Local(l) => l.acquire(key, rate),
            Limiter::Redis(conn) => {
                let mut conn = conn.clone();
                let r: Result<i64, _> = redis::Script::new(SCRIPT)
                    .key(format!("switchboard:rl:{key}"))
                    .arg(rate.interval_us())
                    .arg(rate.tolerance_us())
                    .invoke_async(&mut conn)
                    .await;
                match r {
                    Ok(0) => Ok(()),
                    Ok(wait_us) => Err(Duration::from_micros(wait_us.max(1) as u64)),
                    Err(e) => {
                        // Redis down: pace conservatively rather than stop sending or burst.
                        tracing::warn!(error = %e, "rate limiter unavailable; deferring");
                        Err(Duration::from_millis(500))
                    }
                }
            }
        }
    }
}

impl Limiter {
    /// Books one cell for `key` at the earliest free time, if that is at most `max_wait` away:
    /// `Ok(wait)` — the cell is this caller's, to be used after `wait` (no second call needed);
    /// `Err(wait)` — the next free cell is further away than `max_wait`, nothing was booked.
    ///
    /// Unlike [`Limiter::acquire`], waiting callers form a queue instead of a herd that retries at
    /// every cell: one call per send, and no cell is lost because no caller was awake at its time.
    pub async fn reserve(&self, key: &str, rate: Rate, max_wait: Duration) -> Result<Duration, Duration> {
        match self {
            Limiter::Local(l) => l.reserve(key, rate, max_wait),
            Limiter::Redis(conn) => {
                let mut conn = conn.clone();
                let r: Result<i64, _> = redis::Script::new(RESERVE_SCRIPT)
                    .key(format!("switchboard:rl:{key}"))
                    .arg(rate.interval_us())
                    .arg(rate.tolerance_us())
                    .arg(max_wait.as_micros().min(i64::MAX as u128) as i64)
                    .invoke_async(&mut conn)
                    .await;
                match r {
                    Ok(w) if w >= 0 => Ok(Duration::from_micros(w as u64)),
                    Ok(w) => Err(Duration::from_micros((-1 - w).max(1) as u64)),
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limiter unavailable; deferring");
                        Err(Duration::from_millis(500))
                    }
                }
            }
        }
    }
}

/// In-process GCRA state.
#[derive(Default)]
pub struct LocalLimiter {
    tats: Mutex<HashMap<String, u64>>,
    epoch: std::sync::OnceLock<Instant>,
}

impl LocalLimiter {
    fn now_us(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_micros() as u64
    }

    pub fn acquire(&self, key: &str, rate: Rate) -> Result<(), Duration> {
        self.acquire_at(key, rate, self.now_us())
    }

    pub fn reserve(&self, key: &str, rate: Rate, max_wait: Duration) -> Result<Duration, Duration> {
        self.reserve_at(key, rate, max_wait, self.now_us())
    }

    /// GCRA with a queue at time `t`: see [`Limiter::reserve`].
    fn reserve_at(&self, key: &str, rate: Rate, max_wait: Duration, t: u64) -> Result<Duration, Duration> {
        let mut map = self.tats.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 200_000 {
            map.retain(|_, tat| *tat > t);
        }
        let tat = map.get(key).copied().unwrap_or(t).max(t);
        let wait = (tat - t).saturating_sub(rate.tolerance_us());
        if wait > max_wait.as_micros() as u64 {
            return Err(Duration::from_micros(wait));
        }
        map.insert(key.to_string(), tat + rate.interval_us());
        Ok(Duration::from_micros(wait))
    }

    /// GCRA at time `t` (microseconds on this limiter's clock).
    fn acquire_at(&self, key: &str, rate: Rate, t: u64) -> Result<(), Duration> {
        let mut map = self.tats.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 200_000 {
            map.retain(|_, tat| *tat > t);
        }
        let tat = map.get(key).copied().unwrap_or(t).max(t);
        let diff = tat - t;
        if diff > rate.tolerance_us() {
            return Err(Duration::from_micros(diff - rate.tolerance_us()));
        }
        map.insert(key.to_string(), tat + rate.interval_us());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let l = LocalLimiter::default();
        let rate = Rate::per_second(10.0).burst(5);
        for i in 0..5 {
            assert!(l.acquire("k", rate).is_ok(), "burst cell {i}");
        }
        let wait = l.acquire("k", rate).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::from_millis(50), "{wait:?}");
        assert!(l.acquire("other", rate).is_ok(), "keys are independent");
    }

    #[test]
    fn long_run_rate_matches_the_limit() {
        // A sender that waits exactly as told, on a simulated clock: 10 s at 80/s is 800 sends.
        for (per_second, burst) in [(80.0, 1), (1000.0, 1), (80.0, 20)] {
            let l = LocalLimiter::default();
            let rate = Rate::per_second(per_second).burst(burst);
            let (mut t, mut granted) = (0u64, 0u64);
            while t < 10_000_000 {
                match l.acquire_at("k", rate, t) {
                    Ok(()) => granted += 1,
                    Err(wait) => t += wait.as_micros() as u64,
                }
            }
            let expected = (per_second * 10.0) as u64 + burst as u64 - 1;
            assert!(granted.abs_diff(expected) <= 1, "{per_second}/s burst {burst}: {granted} vs {expected}");
        }
    }

    #[test]
    fn reservations_queue_at_the_rate_and_refuse_beyond_the_horizon() {
        let l = LocalLimiter::default();
        let rate = Rate::per_second(100.0).burst(3);
        let max = Duration::from_millis(50);
        // The burst is free now, then each caller is given the next cell, 10 ms apart.
        let waits: Vec<u64> = (0..8).map(|_| l.reserve_at("k", rate, max, 0).unwrap().as_millis() as u64).collect();
        assert_eq!(waits, [0, 0, 0, 10, 20, 30, 40, 50]);
        // The next cell is 60 ms away: refused, and nothing is booked.
        assert_eq!(l.reserve_at("k", rate, max, 0), Err(Duration::from_millis(60)));
        assert_eq!(l.reserve_at("k", rate, max, 10_000), Ok(Duration::from_millis(50)));
        // Over a long run, the booked cells never exceed rate × time + burst.
        let l = LocalLimiter::default();
        let rate = Rate::per_second(1000.0).burst(100);
        let mut slots = Vec::new();
        let mut t = 0u64;
        while t < 2_000_000 {
            for _ in 0..7 {
                if let Ok(w) = l.reserve_at("k", rate, Duration::from_millis(200), t) {
                    slots.push(t + w.as_micros() as u64);
                }
            }
            t += 5_000;
        }
        slots.sort_unstable();
        for (i, s) in slots.iter().enumerate() {
            let within_1s = slots[i..].iter().take_while(|x| **x < s + 1_000_000).count();
            assert!(within_1s <= 1000 + 100, "{within_1s} cells in one second from {s}");
        }
    }
}
