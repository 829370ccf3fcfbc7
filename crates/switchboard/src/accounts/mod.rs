//! WhatsApp accounts (a tenant's WABA phone numbers and their encrypted credentials) and the
//! account-level webhooks kept for the tenant. The routing table the webhook path and the sender
//! read (`crate::directory`) sits below the features; this module invalidates it on changes.

pub mod events;
pub mod routes;
pub mod service;
