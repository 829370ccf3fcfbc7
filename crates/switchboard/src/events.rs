//! The internal domain-event bus: processing publishes what changed (message created, status
//! changed, conversation updated); the realtime stream subscribes.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Something that happened in a tenant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub tenant_id: Uuid,
    /// `message.created`, `message.status`, `conversation.updated`, `agent.status`, …
    pub kind: &'static str,
    pub data: Value,
}

/// In-process fan-out. Slow subscribers lose the oldest events (and are told so by `Lagged`).
pub struct EventBus {
    tx: broadcast::Sender<Arc<DomainEvent>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl EventBus {
    pub fn publish(&self, event: DomainEvent) {
        // No subscriber is not an error.
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DomainEvent>> {
        self.tx.subscribe()
    }
}
