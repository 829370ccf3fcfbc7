//! API keys for integrations: `Authorization: Bearer sk_…`, created by a TENANT_ADMIN with scopes,
//! shown once and stored as a SHA-256 hash. The extractor in `auth::extract` hands `sk_` bearers to
//! [`service::authenticate`], which turns a live key into a tenant principal and checks its scope
//! against the request's method and path.

pub mod routes;
pub mod service;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "sk_";

pub use crate::auth::principal::KeyScope;
