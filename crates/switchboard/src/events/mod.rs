//! The internal domain-event bus: processing publishes what changed (message created, status
//! changed, conversation updated); the realtime stream subscribes. Recent events are kept in a
//! ring buffer so a reconnecting client resumes from `Last-Event-ID` without a gap.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

pub mod payloads;

pub use payloads::*;

/// What happened, with its payload: one variant per kind, the public contract of
/// `GET /api/events` and outgoing webhooks (`docs/INBOX.md`, the OpenAPI `webhooks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum Event {
    #[serde(rename = "message.created")]
    MessageCreated(MessageDto),
    #[serde(rename = "message.status")]
    MessageStatus(MessageStatusChanged),
    #[serde(rename = "message.media")]
    MessageMedia(MessageMedia),
    #[serde(rename = "conversation.updated")]
    ConversationUpdated(ConversationUpdated),
    #[serde(rename = "contact.updated")]
    ContactUpdated(ContactUpdated),
    #[serde(rename = "note.created")]
    NoteCreated(NoteDto),
    #[serde(rename = "agent.status")]
    AgentStatus(AgentStatusChanged),
    #[serde(rename = "account.needs_reauth")]
    AccountNeedsReauth(AccountNeedsReauth),
    #[serde(rename = "account.updated")]
    AccountUpdated(AccountUpdated),
    #[serde(rename = "account.event")]
    AccountEvent(AccountEvent),
    #[serde(rename = "template.updated")]
    TemplateUpdated(TemplateUpdated),
    #[serde(rename = "webhook_endpoint.disabled")]
    WebhookEndpointDisabled(WebhookEndpointDisabled),
    #[serde(rename = "campaign.updated")]
    CampaignUpdated(CampaignUpdated),
    #[serde(rename = "campaign.progress")]
    CampaignProgress(CampaignProgress),
}

/// Every kind with its payload's schema name (for the OpenAPI document and the tests).
pub const KINDS: &[(&str, &str)] = &[
    ("message.created", "MessageDto"),
    ("message.status", "MessageStatusChanged"),
    ("message.media", "MessageMedia"),
    ("conversation.updated", "ConversationUpdated"),
    ("contact.updated", "ContactUpdated"),
    ("note.created", "NoteDto"),
    ("agent.status", "AgentStatusChanged"),
    ("account.needs_reauth", "AccountNeedsReauth"),
    ("account.updated", "AccountUpdated"),
    ("account.event", "AccountEvent"),
    ("template.updated", "TemplateUpdated"),
    ("webhook_endpoint.disabled", "WebhookEndpointDisabled"),
    ("campaign.updated", "CampaignUpdated"),
    ("campaign.progress", "CampaignProgress"),
];

impl Event {
    /// The kind, as `event:` on the stream and in docs.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::MessageCreated(_) => "message.created",
            Event::MessageStatus(_) => "message.status",
            Event::MessageMedia(_) => "message.media",
            Event::ConversationUpdated(_) => "conversation.updated",
            Event::ContactUpdated(_) => "contact.updated",
            Event::NoteCreated(_) => "note.created",
            Event::AgentStatus(_) => "agent.status",
            Event::AccountNeedsReauth(_) => "account.needs_reauth",
            Event::AccountUpdated(_) => "account.updated",
            Event::AccountEvent(_) => "account.event",
            Event::TemplateUpdated(_) => "template.updated",
            Event::WebhookEndpointDisabled(_) => "webhook_endpoint.disabled",
            Event::CampaignUpdated(_) => "campaign.updated",
            Event::CampaignProgress(_) => "campaign.progress",
        }
    }

    /// The payload as JSON (`data:`).
    pub fn data(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut o)) => o.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The conversation it concerns, if any (realtime visibility for agents).
    pub fn conversation_id(&self) -> Option<Uuid> {
        match self {
            Event::MessageCreated(m) => Some(m.conversation_id),
            Event::MessageStatus(s) => Some(s.conversation_id),
            Event::ConversationUpdated(c) => Some(c.id),
            Event::NoteCreated(n) => Some(n.conversation_id),
            _ => None,
        }
    }

    /// The type outgoing webhooks publish it as, if they do.
    pub fn public_type(&self) -> Option<&'static str> {
        Some(match self {
            Event::MessageCreated(m) if m.direction == crate::entities::enums::Direction::Inbound => "message.received",
            Event::MessageCreated(_) => "message.sent",
            Event::MessageStatus(_) => "message.status",
            Event::ConversationUpdated(_) => "conversation.updated",
            Event::ContactUpdated(_) => "contact.updated",
            Event::TemplateUpdated(_) => "template.updated",
            Event::NoteCreated(_) => "note.created",
            Event::AgentStatus(_) => "agent.status",
            Event::CampaignUpdated(_) => "campaign.updated",
            Event::CampaignProgress(_) => "campaign.progress",
            _ => return None,
        })
    }
}

/// Something that happened in a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub event: Event,
}

impl DomainEvent {
    pub fn new(tenant_id: Uuid, event: Event) -> Self {
        DomainEvent { tenant_id, event }
    }
    pub fn kind(&self) -> &'static str {
        self.event.kind()
    }
    pub fn data(&self) -> Value {
        self.event.data()
    }
}

/// A published event with its position in the stream.
#[derive(Debug, Clone)]
pub struct Sequenced {
    pub seq: u64,
    pub event: DomainEvent,
}

const BUFFER: usize = 10_000;

/// In-process fan-out. Slow subscribers lose the oldest events (and are told so by `Lagged`).
/// With Redis configured, events are also shared with the other nodes (see [`start_redis_fanout`]).
pub struct EventBus {
    tx: broadcast::Sender<Arc<Sequenced>>,
    recent: Mutex<(u64, VecDeque<Arc<Sequenced>>)>,
    remote: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<DomainEvent>>,
    /// Cancelled when the server starts shutting down: open streams end, so that graceful
    /// shutdown does not wait for ever on clients that never disconnect (EventSource).
    closing: tokio_util::sync::CancellationToken,
}

impl Default for EventBus {
    fn default() -> Self {
        // Start sequences at the clock so ids grow across restarts of this node.
        let start = chrono::Utc::now().timestamp_micros().max(0) as u64;
        Self {
            tx: broadcast::channel(4096).0,
            recent: Mutex::new((start, VecDeque::with_capacity(BUFFER))),
            remote: std::sync::OnceLock::new(),
            closing: tokio_util::sync::CancellationToken::new(),
        }
    }
}

impl EventBus {
    pub fn publish(&self, event: DomainEvent) {
        if let Some(remote) = self.remote.get() {
            let _ = remote.send(event.clone());
        }
        self.publish_local(event);
    }

    /// Delivers to this node's subscribers only (events that came from another node).
    pub fn publish_local(&self, event: DomainEvent) {
        let mut g = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        let item = Arc::new(Sequenced { seq: g.0, event });
        if g.1.len() == BUFFER {
            g.1.pop_front();
        }
        g.1.push_back(item.clone());
        // Sent under the lock so that subscribe-then-replay never misses or repeats an event.
        let _ = self.tx.send(item);
    }

    /// Subscribes, returning the buffered events after `after` (for resuming) and the live feed.
    /// `None` in the first slot: `after` is older than the buffer (the client must reload).
    pub fn subscribe_after(
        &self,
        after: Option<u64>,
    ) -> (Option<Vec<Arc<Sequenced>>>, broadcast::Receiver<Arc<Sequenced>>) {
        let g = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        let replay = match after {
            None => Some(Vec::new()),
            Some(a) => {
                let oldest = g.1.front().map(|e| e.seq).unwrap_or(g.0 + 1);
                if a + 1 < oldest && a < g.0 { None } else { Some(g.1.iter().filter(|e| e.seq > a).cloned().collect()) }
            }
        };
        (replay, rx)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Sequenced>> {
        self.tx.subscribe()
    }

    /// Ends every stream that waits on [`EventBus::closed`] (the server is shutting down).
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Resolves once [`EventBus::close`] was called.
    pub fn closed(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.closing.clone().cancelled_owned()
    }
}

impl EventBus {
    /// Routes this node's events also to `tx` (the Redis publisher); `false` if already set.
    pub fn set_remote(&self, tx: tokio::sync::mpsc::UnboundedSender<DomainEvent>) -> bool {
        self.remote.set(tx).is_ok()
    }
}

/// Registers every event payload's schema in the OpenAPI components (the contract of
/// `/api/events` and outgoing webhooks).
pub struct EventSchemas;

impl utoipa::Modify for EventSchemas {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        fn add<T: utoipa::ToSchema>(c: &mut utoipa::openapi::Components) {
            let mut nested = Vec::new();
            T::schemas(&mut nested);
            for (name, schema) in nested {
                c.schemas.entry(name).or_insert(schema);
            }
            c.schemas.insert(T::name().into_owned(), T::schema());
        }
        let c = doc.components.get_or_insert_with(Default::default);
        add::<MessageDto>(c);
        add::<MessageStatusChanged>(c);
        add::<MessageMedia>(c);
        add::<ConversationUpdated>(c);
        add::<ContactUpdated>(c);
        add::<NoteDto>(c);
        add::<AgentStatusChanged>(c);
        add::<AccountNeedsReauth>(c);
        add::<AccountUpdated>(c);
        add::<AccountEvent>(c);
        add::<TemplateUpdated>(c);
        add::<WebhookEndpointDisabled>(c);
        add::<CampaignUpdated>(c);
        add::<CampaignProgress>(c);
    }
}

/// The public types outgoing webhooks send, with the kind whose payload is their `data`.
pub const PUBLIC_TYPES: &[(&str, &str)] = &[
    ("message.received", "message.created"),
    ("message.sent", "message.created"),
    ("message.status", "message.status"),
    ("conversation.updated", "conversation.updated"),
    ("contact.updated", "contact.updated"),
    ("template.updated", "template.updated"),
    ("note.created", "note.created"),
    ("agent.status", "agent.status"),
    ("campaign.updated", "campaign.updated"),
    ("campaign.progress", "campaign.progress"),
];

/// The OpenAPI 3.1 `webhooks` section (outgoing webhooks, one per public type: the envelope
/// `{type, timestamp, data}` with `data` the kind's payload) and `x-events` (the kinds of
/// `GET /api/events` and their payload schemas), added to the generated document.
pub fn add_to_openapi(doc: &mut Value) {
    let schema_of = |kind: &str| KINDS.iter().find(|(k, _)| *k == kind).map(|(_, s)| *s).unwrap_or("Object");
    let mut hooks = serde_json::Map::new();
    for (public, kind) in PUBLIC_TYPES {
        let envelope = serde_json::json!({
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "const": public},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"$ref": format!("#/components/schemas/{}", schema_of(kind))},
            }
        });
        hooks.insert(
            (*public).to_string(),
            serde_json::json!({"post": {
                "summary": format!("`{public}`, sent to endpoints subscribed to it (signed, see docs/INBOX.md)"),
                "requestBody": {"required": true, "content": {"application/json": {"schema": envelope}}},
                "responses": {"2XX": {"description": "Received; anything else is retried"}},
            }}),
        );
    }
    let events: serde_json::Map<String, Value> = KINDS
        .iter()
        .map(|(k, s)| ((*k).to_string(), serde_json::json!({"$ref": format!("#/components/schemas/{s}")})))
        .collect();
    if let Some(o) = doc.as_object_mut() {
        o.insert("webhooks".into(), Value::Object(hooks));
        o.insert("x-events".into(), Value::Object(events));
    }
}
