//! Signing up, signing in, rotating refresh tokens, password changes. Who a request is (tokens,
//! extractors, API keys) is `crate::access`, below the features.

pub mod routes;
pub mod service;
