//! Tenant settings: name, theme, business hours and time zone, opt-out keywords, automatic
//! assignment, default language, billing email.

pub mod routes;
pub mod service;
