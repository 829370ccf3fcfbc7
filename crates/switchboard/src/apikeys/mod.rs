//! API keys for integrations: `Authorization: Bearer sk_…`, created by a TENANT_ADMIN with scopes,
//! shown once and stored as a SHA-256 hash. The extractor in `access::extract` hands `sk_` bearers to
//! `access::keys::authenticate`, which turns a live key into a tenant principal and checks its scope
//! against the request's method and path.

pub mod routes;
pub mod service;

pub use crate::access::keys::KEY_PREFIX;
pub use crate::access::principal::KeyScope;
