//! Fair processing across tenants (start-time fair queueing). Processing claims webhook jobs
//! earliest `run_at` first, so a tenant that posts a burst would push every other tenant's
//! messages behind its whole backlog. Instead each tenant has a virtual clock at ingest: a job's
//! `run_at` (its start tag) is the later of the processing frontier and its tenant's clock, and
//! the clock advances by the body's cost (one unit per KB) at [`SHARE_PER_SEC`] units a second.
//! The frontier is where processing stands: the earliest `run_at` of the last claim (the head of
//! the queue then), never later than now. A tenant within its share is not delayed (its clock
//! stays behind the frontier); a burst is spread out behind it, and a quiet tenant's event goes
//! in at the frontier — ahead of the burst's rest however far processing has fallen behind the
//! wall clock. Idle workers still take spread jobs early (the queue's `lookahead` = [`HORIZON`]),
//! so a tenant alone on the machine is processed at full speed.
//!
//! The bound (docs/ADMIN.md): another tenant's burst delays an event by at most the jobs claimed
//! or in progress when it arrived — one batch per worker — plus, per other busy tenant, what it
//! was given at the frontier. Clocks are per node (a tenant posting through several nodes gets a
//! share on each); their state is in memory only and resets on restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
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
    /// The frontier, in microseconds since the Unix epoch (0: nothing claimed yet).
    frontier: AtomicI64,
}

/// The cost of a body: one unit per started KB.
pub fn cost(body_len: usize) -> f64 {
    (body_len.div_ceil(1024)).max(1) as f64
}

impl FairClock {
    /// Processing claimed jobs whose earliest `run_at` is `head`: the frontier moves up to it.
    pub fn served(&self, head: DateTime<Utc>) {
        self.frontier.fetch_max(head.timestamp_micros(), Ordering::Relaxed);
    }

    /// Where processing stands: the frontier, or now when processing is ahead of the clock (or
    /// has claimed nothing yet).
    fn base(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.frontier.load(Ordering::Relaxed) {
            0 => now,
            f => DateTime::from_timestamp_micros(f).map_or(now, |f| f.min(now)),
        }
    }

    /// When a job of `tenant` costing `units` may run (its `run_at`), and the clock advanced
    /// past it.
    pub fn schedule(&self, tenant: Uuid, units: f64, now: DateTime<Utc>) -> DateTime<Utc> {
        let base = self.base(now);
        let mut clocks = self.clocks.lock().unwrap_or_else(|e| e.into_inner());
        if clocks.len() >= MAX_TENANTS {
            clocks.retain(|_, t| *t > base);
        }
        let clock = clocks.entry(tenant).or_insert(base);
        let start = (*clock).max(base);
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

    #[test]
    fn behind_the_wall_clock_a_quiet_tenant_goes_in_at_the_frontier() {
        let f = FairClock::default();
        let t0 = crate::db::now();
        let noisy = Uuid::new_v4();
        // A burst spread over two seconds; five seconds later processing has reached only its
        // first half second (slow processing): the rest is all in the past, yet still queued.
        let tags: Vec<_> = (0..4_000).map(|_| f.schedule(noisy, 1.0, t0)).collect();
        f.served(t0 + chrono::Duration::milliseconds(500));
        let later = t0 + chrono::Duration::seconds(5);
        let quiet = f.schedule(Uuid::new_v4(), 1.0, later);
        assert_eq!(quiet, t0 + chrono::Duration::milliseconds(500));
        let ahead_of_it = tags.iter().filter(|t| **t >= quiet).count();
        assert!(ahead_of_it >= 2_990, "the quiet event is claimed before the burst's last {ahead_of_it}");
        // The frontier never runs ahead of now (jobs taken ahead of their time).
        f.served(later + chrono::Duration::seconds(30));
        assert_eq!(f.schedule(Uuid::new_v4(), 1.0, later), later);
    }
}
