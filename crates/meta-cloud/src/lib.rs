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
//!
//! ```
//! use meta_cloud::send::{Interactive, OutboundMessage, ReplyButton, SendRequest};
//! use meta_cloud::webhook::{MessageKind, WebhookEvent};
//! use meta_cloud::{parse_webhook, signature};
//!
//! // Inbound: check the signature over the raw bytes, then walk the events.
//! let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
//!   "value":{"metadata":{"phone_number_id":"PN"},"contacts":[{"wa_id":"1555","profile":{"name":"Ann"}}],
//!   "messages":[{"from":"1555","id":"wamid.A","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}"#;
//! let header = signature::sign(b"app-secret", body);
//! assert!(signature::verify(b"app-secret", body, &header));
//! for event in parse_webhook(body).unwrap().events() {
//!     if let WebhookEvent::Message { phone_number_id, contact, message, .. } = event {
//!         assert_eq!(phone_number_id, Some("PN"));
//!         assert_eq!(contact.and_then(|c| c.name()), Some("Ann"));
//!         assert!(matches!(&message.kind, MessageKind::Text(t) if t.body == "hi"));
//!     }
//! }
//!
//! // Outbound: build, validate, serialise.
//! let reply = OutboundMessage::interactive(
//!     "1555",
//!     Interactive::buttons("Shall we?", vec![ReplyButton::new("yes", "Yes"), ReplyButton::new("no", "No")]),
//! )
//! .reply_to("wamid.A");
//! let request = SendRequest::from(reply);
//! request.validate().unwrap();
//! assert_eq!(request.to_value()["interactive"]["type"], "button");
//! ```

pub mod error;
pub mod send;
pub mod signature;
pub mod webhook;

#[cfg(feature = "client")]
pub mod client;

pub use error::{ErrorClass, GraphErrorBody, SendResponse, classify, retry_after};
pub use send::{MarkRead, OutboundMessage, SendRequest};
pub use webhook::{ParseError, WebhookEvent, WebhookPayload, parse_webhook};
