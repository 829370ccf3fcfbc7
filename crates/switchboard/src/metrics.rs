//! Process counters, exposed in Prometheus text format at `/api/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::response::IntoResponse;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

macro_rules! counters {
    ($($name:ident: $help:literal),+ $(,)?) => {
        /// Monotonic counters of this process.
        #[derive(Default)]
        pub struct Metrics { $(pub $name: AtomicU64,)+ }

        impl Metrics {
            fn render(&self) -> String {
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Process counters (Prometheus text format).
#[utoipa::path(get, path = "/api/metrics", tag = "health", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = state.metrics.render();
    // Gauges read from the database, so that every node reports the same durable state.
    if let Ok(n) = crate::admin::service::failed_webhook_events(&state.db).await {
        out.push_str(
            "# HELP switchboard_webhook_events_failed Stored webhook events in the failed state (replayable)\n",
        );
        out.push_str("# TYPE switchboard_webhook_events_failed gauge\n");
        out.push_str(&format!("switchboard_webhook_events_failed {n}\n"));
    }
    if let Ok(queues) = crate::health::queue_stats(&state.db).await {
        out.push_str("# HELP switchboard_jobs_dead Dead jobs kept for operators, per queue\n");
        out.push_str("# TYPE switchboard_jobs_dead gauge\n");
        for q in queues {
            out.push_str(&format!("switchboard_jobs_dead{{queue=\"{}\"}} {}\n", q.queue, q.dead));
        }
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
