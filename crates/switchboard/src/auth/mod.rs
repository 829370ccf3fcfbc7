//! Authentication and authorisation: sign-up, sign-in, rotating refresh tokens, role extractors.

pub mod access;
pub mod cookies;
pub mod domain;
pub mod extract;
pub mod principal;
pub mod routes;
pub mod service;
pub mod throttle;
