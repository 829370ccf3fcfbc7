#![forbid(unsafe_code)]
//! `meta-sim`: a faithful, in-process fake of Meta's WhatsApp Cloud Graph API that also
//! delivers signed webhooks. See `docs/META-SIM.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use meta_sim::{CustomerMessage, MetaSim, NumberSpec, SimConfig};
//! let running = MetaSim::spawn(SimConfig::fast()).await?;
//! running.sim.register_number(
//!     NumberSpec::new("waba1", "pn1", "15550001111", "token", "app-secret")
//!         .with_webhook_url("http://127.0.0.1:9000/webhook"),
//! );
//! let wamid = running
//!     .sim
//!     .customer_sends("pn1", "16505551234", "Alice", CustomerMessage::text("hi"))
//!     .await;
//! # let _ = wamid; Ok(()) }
//! ```

mod config;
mod control;
mod customer;
mod errors;
mod graph;
mod ids;
mod sim;
mod templates;
mod validate;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::response::IntoResponse;
use tokio::sync::Notify;

pub use config::{RetryPolicy, ReviewOutcome, ReviewRule, SimConfig, StatusDelays};
pub use customer::{CustomerMessage, MediaInput};
pub use errors::GraphError;
pub use sim::{MetaSim, NumberSpec, SentMessage, SimStats};
pub use templates::{Template, TemplateSpec};
pub use webhook::signature_header;

/// A simulator served on a local port.
#[derive(Debug, Clone)]
pub struct RunningSim {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    pub addr: SocketAddr,
    pub sim: MetaSim,
    shutdown: Arc<Notify>,
}

impl RunningSim {
    /// Stop serving (in-flight requests finish). Dropping a `RunningSim` does not stop it: the
    /// server lives until this is called or the runtime ends.
    pub fn shutdown(&self) {
        self.shutdown.notify_one();
    }
}

async fn fallback(uri: Uri) -> axum::response::Response {
    GraphError::unknown_path(uri.path()).into_response()
}

impl MetaSim {
    /// The Graph endpoints, the media download URL and the `/_sim` control API. Starts the
    /// webhook deliverer when called inside a Tokio runtime.
    pub fn router(&self) -> Router {
        self.start_deliverer();
        Router::new()
            .merge(graph::routes())
            .merge(control::routes())
            .fallback(fallback)
            .layer(DefaultBodyLimit::max(110 * 1024 * 1024))
            .with_state(self.clone())
    }

    /// Bind `127.0.0.1:0`, serve, and start the webhook deliverer.
    pub async fn spawn(config: SimConfig) -> std::io::Result<RunningSim> {
        Self::spawn_on("127.0.0.1:0", config).await
    }

    /// Like [`MetaSim::spawn`] on a given address.
    pub async fn spawn_on(addr: &str, config: SimConfig) -> std::io::Result<RunningSim> {
        MetaSim::new(config).serve_on(addr).await
    }

    /// Serve this simulator on `addr`.
    pub async fn serve_on(self, addr: &str) -> std::io::Result<RunningSim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let base_url = format!("http://{addr}");
        self.set_base_url(base_url.clone());
        let router = self.router();
        let shutdown = Arc::new(Notify::new());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served =
                axum::serve(listener, router).with_graceful_shutdown(async move { stop.notified().await }).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "meta-sim server stopped");
            }
        });
        Ok(RunningSim { base_url, addr, sim: self, shutdown })
    }
}
