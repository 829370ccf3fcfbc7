//! Shared application state, cheap to clone into every handler and worker.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use switchboard_crypto::jwt::JwtKeys;

use crate::auth::throttle::LoginThrottle;
use crate::config::Config;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: DatabaseConnection,
    pub config: Config,
    pub jwt: JwtKeys,
    pub login_throttle: LoginThrottle,
    /// Bounds concurrent argon2 work (19 MiB each) so a login flood cannot exhaust memory.
    pub hashing: tokio::sync::Semaphore,
    pub redis: Option<redis::aio::ConnectionManager>,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
