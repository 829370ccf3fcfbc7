//! Logging: pretty for people, JSON for production; every request's lines carry its request id.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Pretty => {
            use std::io::IsTerminal;
            // No colour codes in files and pipes.
            let ansi = std::io::stdout().is_terminal();
            registry.with(tracing_subscriber::fmt::layer().compact().with_ansi(ansi)).try_init()
        }
    };
}
