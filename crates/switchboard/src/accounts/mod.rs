//! WhatsApp accounts (a tenant's WABA phone numbers and their encrypted credentials), the
//! directory the webhook path routes by, the account-level webhooks kept for the tenant, and
//! sandbox numbers backed by the built-in meta-sim.

pub mod directory;
pub mod events;
pub mod routes;
pub mod service;
