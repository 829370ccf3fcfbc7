//! WhatsApp accounts (a tenant's WABA phone numbers and their encrypted credentials), the
//! directory the webhook path routes by, and sandbox numbers backed by the built-in meta-sim.

pub mod directory;
pub mod routes;
pub mod sandbox;
pub mod service;
