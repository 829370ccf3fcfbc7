#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! Typed model of Meta's WhatsApp Cloud API and a Graph API client.
//!
//! - [`webhook`]: parse inbound webhook POSTs tolerantly ([`webhook::parse_webhook`]).
//! - [`signature`]: `X-Hub-Signature-256` signing and constant-time verification.
//! - [`send`]: typed send-message builders, passthrough for unmodelled shapes, limit validation.
//! - [`error`]: send responses, Graph error bodies, the error-code catalogue and retry hints.
//! - `client` (feature `client`, on by default): a reqwest-based Graph API client whose calls
//!   each take the tenant's own access token.

pub mod error;
pub mod send;
pub mod signature;
pub mod webhook;

#[cfg(feature = "client")]
pub mod client;

pub use error::{ErrorClass, GraphErrorBody, SendResponse, classify, retry_after};
pub use send::{MarkRead, OutboundMessage, SendRequest};
pub use webhook::{ParseError, WebhookEvent, WebhookPayload, parse_webhook};
