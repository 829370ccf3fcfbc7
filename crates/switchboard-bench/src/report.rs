//! Results: one row per step, printed as a table and optionally written as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::load::Outcome;
use crate::track::Track;

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `GET /api/health/live`, idle server.
    Ceiling,
    /// Webhooks at a fixed message rate.
    Paced,
    /// Webhooks, closed loop.
    Ingest,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Ceiling => "no-op",
            Phase::Paced => "paced",
            Phase::Ingest => "ingest",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub phase: Phase,
    pub concurrency: usize,
    pub seconds: f64,
    pub posts_ok: u64,
    pub posts_failed: u64,
    pub posts_per_sec: f64,
    /// Items (messages + statuses) acknowledged per second.
    pub events_per_sec: f64,
    pub msgs_per_sec: f64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    pub ack_max_ms: f64,
    pub ceiling_posts_per_sec: Option<f64>,
    pub ceiling_ratio: Option<f64>,
    /// `message.created` events seen on the stream during the step, per second.
    pub processed_msgs_per_sec: f64,
    /// Acknowledged messages not yet on the stream when the step ended.
    pub backlog_at_end: u64,
    /// Time after the step until the backlog was zero (`None`: not within --drain-seconds).
    pub drain_seconds: Option<f64>,
    /// Lag from the POST being sent until the message's `message.created` event arrived.
    /// `None`: the percentile falls on messages not seen within the drain window.
    pub lag_p50_ms: Option<f64>,
    pub lag_p99_ms: Option<f64>,
    pub lag_max_ms: Option<f64>,
    /// The same, measured from the acknowledgement (the 200) instead.
    pub lag_from_ack_p50_ms: Option<f64>,
    pub lag_from_ack_p99_ms: Option<f64>,
    pub unseen_msgs: u64,
    pub pool_exhausted: bool,
}

fn pct_u32(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

/// Percentile where unseen messages count as infinitely late.
fn pct_opt(sorted: &[Option<f64>], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn sort_opt(v: &mut [Option<f64>]) {
    v.sort_by(|a, b| match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

impl Step {
    pub fn from_outcome(
        phase: Phase,
        concurrency: usize,
        o: &Outcome,
        _track: &Track,
        ceiling: Option<f64>,
        drain: Option<Duration>,
        processed: u64,
    ) -> Self {
        let secs = o.elapsed.as_secs_f64().max(1e-9);
        let mut lat = o.latencies_us.clone();
        lat.sort_unstable();
        let posts_per_sec = o.ok as f64 / secs;
        Step {
            phase,
            concurrency,
            seconds: secs,
            posts_ok: o.ok,
            posts_failed: o.failed,
            posts_per_sec,
            events_per_sec: o.items as f64 / secs,
            msgs_per_sec: o.msgs as f64 / secs,
            ack_p50_ms: pct_u32(&lat, 0.50),
            ack_p99_ms: pct_u32(&lat, 0.99),
            ack_max_ms: lat.last().copied().unwrap_or(0) as f64 / 1000.0,
            ceiling_posts_per_sec: ceiling,
            ceiling_ratio: ceiling.map(|c| posts_per_sec / c.max(1e-9)),
            processed_msgs_per_sec: processed as f64 / secs,
            backlog_at_end: 0,
            drain_seconds: drain.map(|d| d.as_secs_f64()),
            lag_p50_ms: None,
            lag_p99_ms: None,
            lag_max_ms: None,
            lag_from_ack_p50_ms: None,
            lag_from_ack_p99_ms: None,
            unseen_msgs: 0,
            pool_exhausted: o.exhausted,
        }
    }

    pub fn with_backlog(mut self, backlog: u64) -> Self {
        self.backlog_at_end = backlog;
        self
    }

    pub fn with_lags(mut self, track: &Track, range: (u64, u64)) -> Self {
        let (mut send, mut ack) = track.lags(range.0..range.1);
        sort_opt(&mut send);
        sort_opt(&mut ack);
        self.unseen_msgs = send.iter().filter(|x| x.is_none()).count() as u64;
        self.lag_p50_ms = pct_opt(&send, 0.50);
        self.lag_p99_ms = pct_opt(&send, 0.99);
        self.lag_max_ms = pct_opt(&send, 1.0);
        self.lag_from_ack_p50_ms = pct_opt(&ack, 0.50);
        self.lag_from_ack_p99_ms = pct_opt(&ack, 0.99);
        self
    }

    /// A one-line progress summary.
    pub fn line(&self) -> String {
        format!(
            "{} c={}: {:.0} POSTs/s, {:.0} events/s, ack p50 {:.1} ms p99 {:.1} ms, processed {:.0} msgs/s, backlog {}, lag p50 {} p99 {}, failed {}",
            self.phase.name(),
            self.concurrency,
            self.posts_per_sec,
            self.events_per_sec,
            self.ack_p50_ms,
            self.ack_p99_ms,
            self.processed_msgs_per_sec,
            self.backlog_at_end,
            ms(self.lag_p50_ms, self.phase),
            ms(self.lag_p99_ms, self.phase),
            self.posts_failed
        )
    }
}

fn ms(v: Option<f64>, phase: Phase) -> String {
    match (v, phase) {
        (_, Phase::Ceiling) => "-".into(),
        (Some(v), _) if v >= 10_000.0 => format!("{:.1} s", v / 1000.0),
        (Some(v), _) => format!("{v:.0} ms"),
        (None, _) => "unseen".into(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub backend: &'static str,
    pub cpus: usize,
    pub server_threads: usize,
    pub client_threads: usize,
    pub command: String,
    pub steps: Vec<Step>,
    pub stream_duplicates: u64,
    pub stream_resets: u64,
    pub stream_foreign: u64,
    pub backlog_at_exit: u64,
}

impl Report {
    pub fn new(backend: &'static str, cpus: usize, server_threads: usize, client_threads: usize) -> Self {
        Self {
            backend,
            cpus,
            server_threads,
            client_threads,
            command: String::new(),
            steps: Vec::new(),
            stream_duplicates: 0,
            stream_resets: 0,
            stream_foreign: 0,
            backlog_at_exit: 0,
        }
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n## {} — {} CPUs, server runtime {} threads, load generator {} threads (same machine)\n",
            self.backend, self.cpus, self.server_threads, self.client_threads
        );
        let _ = writeln!(
            s,
            "| phase | conc | s | POSTs/s | events/s | msgs/s | ack p50 ms | ack p99 ms | no-op POSTs/s | ratio | processed msgs/s | backlog at end | drained in | lag p50 | lag p99 | failed |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for st in &self.steps {
            let webhook = st.phase != Phase::Ceiling;
            let dash = || "-".to_string();
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.0} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |",
                st.phase.name(),
                st.concurrency,
                st.seconds,
                st.posts_per_sec,
                if webhook { format!("{:.0}", st.events_per_sec) } else { dash() },
                if webhook { format!("{:.0}", st.msgs_per_sec) } else { dash() },
                st.ack_p50_ms,
                st.ack_p99_ms,
                st.ceiling_posts_per_sec.map(|c| format!("{c:.0}")).unwrap_or_else(dash),
                st.ceiling_ratio.map(|r| format!("{:.0} %", r * 100.0)).unwrap_or_else(dash),
                if webhook { format!("{:.0}", st.processed_msgs_per_sec) } else { dash() },
                if webhook { st.backlog_at_end.to_string() } else { dash() },
                if webhook {
                    st.drain_seconds.map(|d| format!("{d:.1} s")).unwrap_or_else(|| "not drained".into())
                } else {
                    dash()
                },
                ms(st.lag_p50_ms, st.phase),
                ms(st.lag_p99_ms, st.phase),
                st.posts_failed,
            );
        }
        let _ = writeln!(
            s,
            "\nstream: {} duplicate, {} reset, {} foreign events; {} messages still unprocessed at exit",
            self.stream_duplicates, self.stream_resets, self.stream_foreign, self.backlog_at_exit
        );
        s
    }

    /// The targets, checked against this run.
    pub fn targets(&self) -> String {
        let mut s = String::new();
        let ingest: Vec<&Step> = self.steps.iter().filter(|s| s.phase == Phase::Ingest).collect();
        let best = ingest
            .iter()
            .filter(|s| s.ack_p99_ms <= 250.0 && s.posts_failed == 0)
            .max_by(|a, b| a.posts_per_sec.total_cmp(&b.posts_per_sec));
        let yes = |b: bool| if b { "MET" } else { "MISSED" };
        match best {
            Some(b) => {
                let _ = writeln!(
                    s,
                    "target ≥ 5,000 acknowledged POSTs/s with p99 ≤ 250 ms: {} (best: {:.0} POSTs/s at concurrency {}, p99 {:.1} ms)",
                    yes(b.posts_per_sec >= 5000.0),
                    b.posts_per_sec,
                    b.concurrency,
                    b.ack_p99_ms
                );
                if let Some(r) = b.ceiling_ratio {
                    let _ = writeln!(
                        s,
                        "target ≥ 40 % of the no-op ceiling: {} ({:.0} % at concurrency {})",
                        yes(r >= 0.40),
                        r * 100.0,
                        b.concurrency
                    );
                }
            }
            None => {
                let _ = writeln!(
                    s,
                    "target ≥ 5,000 acknowledged POSTs/s with p99 ≤ 250 ms: MISSED (no step had p99 ≤ 250 ms without failures)"
                );
            }
        }
        if let Some(p) = self.steps.iter().find(|s| s.phase == Phase::Paced) {
            let keeps = p.processed_msgs_per_sec >= 0.95 * p.msgs_per_sec && p.drain_seconds.is_some_and(|d| d <= 1.0);
            let _ = writeln!(
                s,
                "target processing keeps pace with {:.0} msgs/s: {} (processed {:.0} msgs/s during the phase; backlog {} at its end, drained in {})",
                p.msgs_per_sec,
                yes(keeps),
                p.processed_msgs_per_sec,
                p.backlog_at_end,
                p.drain_seconds.map(|d| format!("{d:.1} s")).unwrap_or_else(|| "—not within the drain window".into())
            );
            let _ = writeln!(
                s,
                "target lag p99 ≤ 1 s: {} (p50 {}, p99 {}, from the POST being sent)",
                yes(p.lag_p99_ms.is_some_and(|l| l <= 1000.0)),
                ms(p.lag_p50_ms, p.phase),
                ms(p.lag_p99_ms, p.phase)
            );
        }
        s
    }
}
