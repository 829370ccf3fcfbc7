//! Fair processing across tenants. Processing claims webhook jobs earliest `run_at` first, so a
//! tenant that posts a burst would push every other tenant's messages behind its whole backlog.
//! Instead each tenant has a virtual clock at ingest: a job's `run_at` is the later of now and its
//! tenant's clock, and the clock advances by the body's cost (one unit per KB) at
//! [`SHARE_PER_SEC`] units a second. A tenant within its share is not delayed at all (its clock
//! stays behind now); a burst is spread into the near future, and a quiet tenant's event, due
//! now, is claimed before the burst's later part. Idle workers still take spread jobs early (the
//! queue's `lookahead` = [`HORIZON`]), so a tenant alone on the machine is processed at full speed.
//!
//! The bound (docs/ADMIN.md): another tenant's burst delays an event by at most the due part of
//! the backlog — what exceeded processing in the meantime — plus one batch; with processing at
//! or above the share rate that is one batch. Clocks are per node (a tenant posting through
//! several nodes gets a share on each); their state is in memory only and resets on restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Cost units a tenant may send per second before its jobs are spread (≈ 2,000 one-message
/// webhooks a second, about one node's processing rate on SQLite).
pub const SHARE_PER_SEC: f64 = 2_000.0;
/// How far ahead idle workers take spread jobs.
pub const HORIZON: Duration = Duration::from_secs(60);
const MAX_TENANTS: usize = 100_000;

/// Per-tenant virtual clocks.
#[derive(Default)]
pub struct FairClock {
    clocks: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

/// The cost of a body: one unit per started KB.
pub fn cost(body_len: usize) -> f64 {
    (body_len.div_ceil(1024)).max(1) as f64
}

impl FairClock {
    /// When a job of `tenant` costing `units` may run, and the clock advanced past it.
    pub fn schedule(&self, tenant: Uuid, units: f64, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut clocks = self.clocks.lock().unwrap_or_else(|e| e.into_inner());
        if clocks.len() >= MAX_TENANTS {
            clocks.retain(|_, t| *t > now);
        }
        let clock = clocks.entry(tenant).or_insert(now);
        let start = (*clock).max(now);
        let spent = chrono::Duration::microseconds((units / SHARE_PER_SEC * 1e6) as i64);
        *clock = start + spent;
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_within_its_share_is_not_delayed_and_a_burst_is_spread() {
        let f = FairClock::default();
        let t0 = crate::db::now();
        let (noisy, quiet) = (Uuid::new_v4(), Uuid::new_v4());
        // 4,000 one-unit bodies at once: spread over two seconds.
        let last = (0..4_000).map(|_| f.schedule(noisy, 1.0, t0)).last().unwrap();
        assert!((last - t0).num_milliseconds() >= 1_990, "{}", (last - t0).num_milliseconds());
        // The quiet tenant's body at the same moment is due at once.
        assert_eq!(f.schedule(quiet, 1.0, t0), t0);
        // Within its share (one body a millisecond is 1,000/s), never delayed.
        let steady = Uuid::new_v4();
        for i in 0..1_000 {
            let now = t0 + chrono::Duration::milliseconds(i);
            assert_eq!(f.schedule(steady, 1.0, now), now);
        }
    }
}
