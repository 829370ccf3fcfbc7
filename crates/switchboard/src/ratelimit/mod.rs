//! Rate limits with GCRA (the generic cell rate algorithm): one timestamp per key, no counters.
//! In-process by default; in Redis when `SWITCHBOARD_REDIS_URL` is set, so every node draws on one
//! budget (the script runs atomically and reads Redis's clock, so node clocks do not matter).

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
}
