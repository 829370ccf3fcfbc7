//! Process counters (machinery: any module may count), exposed in Prometheus text format at
//! `/api/metrics` by `health::metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $help:literal),+ $(,)?) => {
        /// Monotonic counters of this process.
        #[derive(Default)]
        pub struct Metrics { $(pub $name: AtomicU64,)+ }

        impl Metrics {
            pub fn render(&self) -> String {
                let mut out = String::new();
                $(
                    out.push_str(concat!("# HELP switchboard_", stringify!($name), " ", $help, "\n"));
                    out.push_str(concat!("# TYPE switchboard_", stringify!($name), " counter\n"));
                    out.push_str(&format!(concat!("switchboard_", stringify!($name), " {}\n"), self.$name.load(Ordering::Relaxed)));
                )+
                out
            }
        }
    };
}

counters! {
    webhooks_accepted_total: "Webhook POSTs stored and acknowledged",
    webhooks_bad_signature_total: "Webhook POSTs refused for a missing or wrong X-Hub-Signature-256",
    webhooks_too_large_total: "Webhook POSTs refused for exceeding 3 MB",
    webhooks_unavailable_total: "Webhook POSTs answered 503 because the database could not store them",
    webhook_events_processed_total: "Stored webhook events processed",
    webhook_events_unroutable_total: "Stored webhook events for unknown phone numbers",
    webhook_events_failed_total: "Stored webhook events that failed (unparseable, or their processing job died)",
    jobs_dead_total: "Jobs that died (attempts exhausted or not retryable), all queues",
    webhook_processing_yield_ms_total: "Milliseconds webhook processing paused for acknowledgements while behind",
}

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
