//! The internal domain-event bus: processing publishes what changed (message created, status
//! changed, conversation updated); the realtime stream subscribes. Recent events are kept in a
//! ring buffer so a reconnecting client resumes from `Last-Event-ID` without a gap.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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

/// Event kinds are a small fixed vocabulary; names from the wire map back onto static strings.
pub fn intern(kind: &str) -> &'static str {
    static KNOWN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = known.iter().find(|k| **k == kind) {
        return k;
    }
    if known.len() >= 256 {
        return "unknown";
    }
    let leaked: &'static str = Box::leak(kind.to_string().into_boxed_str());
    known.push(leaked);
    leaked
}
