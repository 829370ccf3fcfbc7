//! Per-message timestamps: when the POST carrying it was sent and acknowledged, and when its
//! `message.created` event arrived on the realtime stream.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub struct Track {
    epoch: Instant,
    /// Nanoseconds since `epoch` + 1 (0: not yet).
    sent: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
    seen: Vec<AtomicU64>,
    /// Messages acknowledged / first seen, in total.
    pub acked_total: AtomicU64,
    pub seen_total: AtomicU64,
    /// `message.created` events on the stream (any message, including repeats).
    pub created_events: AtomicU64,
    pub duplicates: AtomicU64,
    pub foreign: AtomicU64,
    pub resets: AtomicU64,
}

impl Track {
    pub fn new(messages: u64) -> Self {
        let v = || (0..messages).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        Self {
            epoch: Instant::now(),
            sent: v(),
            acked: v(),
            seen: v(),
            acked_total: AtomicU64::new(0),
            seen_total: AtomicU64::new(0),
            created_events: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        }
    }

    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }

    pub fn at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64 + 1
    }

    pub fn acked(&self, start: u64, n: u32, sent_at: u64, acked_at: u64) {
        for i in start..start + n as u64 {
            self.sent[i as usize].store(sent_at, Relaxed);
            self.acked[i as usize].store(acked_at, Relaxed);
        }
        self.acked_total.fetch_add(n as u64, Relaxed);
    }

    pub fn seen(&self, idx: u64) {
        let now = self.now();
        self.created_events.fetch_add(1, Relaxed);
        match self.seen.get(idx as usize) {
            None => {
                self.foreign.fetch_add(1, Relaxed);
            }
            Some(s) => {
                if s.compare_exchange(0, now, Relaxed, Relaxed).is_ok() {
                    self.seen_total.fetch_add(1, Relaxed);
                } else {
                    self.duplicates.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// Acknowledged messages not yet seen on the stream.
    pub fn backlog(&self) -> u64 {
        self.acked_total.load(Relaxed).saturating_sub(self.seen_total.load(Relaxed))
    }

    /// Waits until every acknowledged message was seen, for at most `limit`. Returns the time it
    /// took, or `None` when the backlog did not drain in time.
    pub async fn drain(&self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if self.backlog() == 0 {
                return Some(start.elapsed());
            }
            if start.elapsed() >= limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lags (ms, from the POST being sent and from it being acknowledged) of the acknowledged
    /// messages in `range`; `None` for messages not seen (yet).
    pub fn lags(&self, range: std::ops::Range<u64>) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
        let mut from_send = Vec::new();
        let mut from_ack = Vec::new();
        for i in range {
            let i = i as usize;
            let sent = self.sent[i].load(Relaxed);
            if sent == 0 {
                continue; // not acknowledged
            }
            let ack = self.acked[i].load(Relaxed);
            let seen = self.seen[i].load(Relaxed);
            if seen == 0 {
                from_send.push(None);
                from_ack.push(None);
            } else {
                from_send.push(Some(seen.saturating_sub(sent) as f64 / 1e6));
                // The event can beat the 200 to the client: clamp at 0.
                from_ack.push(Some(seen.saturating_sub(ack) as f64 / 1e6));
            }
        }
        (from_send, from_ack)
    }
}
