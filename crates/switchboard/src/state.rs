//! Shared application state, cheap to clone into every handler and worker.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use switchboard_crypto::jwt::JwtKeys;

use crate::config::Config;
use crate::ratelimit::throttle::LoginThrottle;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// Reads, and writes that need no transaction.
    pub db: DatabaseConnection,
    /// Transactions. On SQLite a one-connection pool, so write transactions queue in-process
    /// instead of failing with SQLITE_BUSY; on PostgreSQL the same pool as `db`.
    pub writer: DatabaseConnection,
    pub jobs_wakeup: Wakeup,
    pub events: crate::events::EventBus,
    pub config: Config,
    pub jwt: JwtKeys,
    pub login_throttle: LoginThrottle,
    /// Sign-ups per client address (in-process, like the sign-in throttle).
    pub signup_throttle: crate::ratelimit::LocalLimiter,
    /// Bounds concurrent argon2 work (19 MiB each) so a login flood cannot exhaust memory.
    pub hashing: tokio::sync::Semaphore,
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Graph API client for real numbers.
    pub graph: meta_cloud::client::GraphClient,
    /// The built-in Meta simulator behind sandbox numbers, and a client pointed at it.
    pub sandbox: Option<meta_sim::RunningSim>,
    pub sandbox_graph: Option<meta_cloud::client::GraphClient>,
    pub directory: crate::directory::Directory,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Send pacing (in-process, or shared through Redis).
    pub limiter: crate::ratelimit::Limiter,
    /// The externally reachable base URL (known only after binding when listening on port 0).
    pub public_url: std::sync::RwLock<String>,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn public_url(&self) -> String {
        self.public_url.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The Graph client for an account: the simulator for sandbox numbers.
    pub fn graph_for(&self, account: &crate::entities::whatsapp_accounts::Model) -> &meta_cloud::client::GraphClient {
        match (&self.sandbox_graph, account.is_sandbox) {
            (Some(g), true) => g,
            _ => &self.graph,
        }
    }

    /// The connection for transactions and other writes.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.writer
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Wakes idle workers when this process enqueues work (other nodes are seen at the next poll).
/// Clones share the wake-ups.
#[derive(Default, Clone)]
pub struct Wakeup {
    notifies: Arc<std::sync::Mutex<HashMap<&'static str, Arc<tokio::sync::Notify>>>>,
}

impl Wakeup {
    pub fn get(&self, queue: &'static str) -> Arc<tokio::sync::Notify> {
        self.notifies.lock().unwrap_or_else(|e| e.into_inner()).entry(queue).or_default().clone()
    }
    pub fn wake(&self, queue: &'static str) {
        self.get(queue).notify_one();
    }
}
