//! Outgoing webhooks to the tenant's own systems, in the Standard Webhooks style.
//!
//! - **Endpoints** (`/api/webhook-endpoints`, TENANT_ADMIN): a URL, an event filter and a signing
//!   secret `whsec_<base64>` shown on create and on rotation, stored encrypted.
//! - **Source of events**: a background task started with the workers subscribes to the in-process
//!   event bus, maps internal kinds to public event types (`events::Event::public_type`) and enqueues one
//!   `webhook-delivery` job per matching endpoint. The job is durable from then on; an event
//!   published in the instant before a crash (between the change's commit and the enqueue) may not
//!   be delivered. Event ids are derived from the event's content, so when Redis shares events
//!   between nodes each node enqueues the same job and the queue's unique key keeps one.
//! - **Delivery** ([`deliver`]): headers `webhook-id`, `webhook-timestamp` and `webhook-signature:
//!   v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` where the key is the base64 part of
//!   the secret, decoded; body `{type, timestamp, data}`. Retried on the configured schedule; each
//!   attempt is logged; an endpoint whose deliveries fail for good 5 times in a row (or for 24 h)
//!   is disabled, audited and announced with a `webhook_endpoint.disabled` event.
//! - **SSRF guard** ([`ssrf`]): the URL's host must not resolve to loopback, private, link-local,
//!   unique-local, unspecified or multicast addresses, checked at create time and by the resolver of
//!   the delivery client (DNS may change), unless `SWITCHBOARD_WEBHOOKS_ALLOW_PRIVATE=true`.

pub mod deliver;
pub use crate::config::{DEFAULT_SCHEDULE, parse_schedule};

pub mod routes;
pub mod service;
pub mod ssrf;

use base64::Engine;

/// Public event types an endpoint can subscribe to (or `*` for all).
pub const EVENT_TYPES: &[&str] = &[
    "message.received",
    "message.sent",
    "message.status",
    "conversation.updated",
    "contact.updated",
    "template.updated",
    "note.created",
    "agent.status",
    "campaign.updated",
    "campaign.progress",
];

/// Final failures in a row that disable an endpoint.
pub const DISABLE_AFTER_FAILURES: i32 = 5;
/// An endpoint failing for this long is disabled at its next final failure.
pub const DISABLE_AFTER_FAILING_FOR: chrono::Duration = chrono::Duration::hours(24);

/// A new signing secret: `whsec_` and 32 random bytes in standard base64.
pub fn new_secret() -> String {
    let random = switchboard_crypto::token::random_token("", 32);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(random).unwrap_or_default();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` under the secret's decoded key.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_else(|_| b64.as_bytes().to_vec());
    let mac = switchboard_crypto::token::hmac_sha256(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn schedule_and_types() {
        assert_eq!(parse_schedule(None).unwrap().len(), 6);
        assert_eq!(
            parse_schedule(Some("0.1, 2".into())).unwrap(),
            [Duration::from_millis(100), Duration::from_secs(2)]
        );
        assert!(parse_schedule(Some("1,x".into())).is_err());
        let s = new_secret();
        assert!(s.starts_with("whsec_") && s.len() > 40);
        // Standard Webhooks' published example.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
