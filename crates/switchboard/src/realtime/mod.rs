//! `GET /api/events`: the tenant's realtime stream as Server-Sent Events, resumable with
//! `Last-Event-ID`, with heartbeats.

pub mod routes;

pub use routes::router;

use std::collections::HashMap;

use futures_util::stream::StreamExt;

use crate::access::principal::Principal;
use crate::entities::enums::Role;
use crate::events::Sequenced;
use crate::state::AppState;

/// Decides what one subscriber may see: their tenant only; for agents, only events of
/// conversations assigned to them or unassigned (looked up once per conversation, then kept
/// current from `conversation.updated` events).
pub(crate) struct Gate {
    state: AppState,
    who: Principal,
    tenant: uuid::Uuid,
    assignees: HashMap<uuid::Uuid, Option<uuid::Uuid>>,
}

impl Gate {
    pub(crate) fn new(state: AppState, who: Principal, tenant: uuid::Uuid) -> Self {
        Gate { state, who, tenant, assignees: HashMap::new() }
    }
}

impl Gate {
    pub(crate) async fn allows(&mut self, e: &Sequenced) -> bool {
        if e.event.tenant_id != self.tenant {
            return false;
        }
        if self.who.role != Role::Agent {
            return true;
        }
        let me = self.who.user_id.0;
        if let crate::events::Event::ConversationUpdated(c) = &e.event.event {
            self.assignees.insert(c.id, c.assignee_id);
            // The agent also hears that a conversation was taken away from them.
            return c.assignee_id.is_none_or(|a| a == me) || c.previous_assignee_id == Some(me);
        }
        let Some(conv) = e.event.event.conversation_id() else { return true };
        let assignee = match self.assignees.get(&conv) {
            Some(a) => *a,
            None => {
                use sea_orm::EntityTrait;
                let found =
                    crate::entities::conversations::Entity::find_by_id(conv).one(&self.state.db).await.ok().flatten();
                let a = found.and_then(|c| c.assignee_id);
                self.assignees.insert(conv, a);
                a
            }
        };
        assignee.is_none_or(|a| a == me)
    }
}

/// The Redis channel all nodes share.
const CHANNEL: &str = "switchboard:events";

#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    node: String,
    #[serde(flatten)]
    event: crate::events::DomainEvent,
}

/// Shares events between nodes through Redis pub/sub: this node's events are published, other
/// nodes' events reach local subscribers. (`Last-Event-ID` positions are per node.)
pub async fn start_redis_fanout(state: AppState, client: redis::Client) -> redis::RedisResult<()> {
    let node = uuid::Uuid::new_v4().to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<crate::events::DomainEvent>();
    if !state.events.set_remote(tx) {
        return Ok(());
    }
    let mut publisher = redis::aio::ConnectionManager::new(client.clone()).await?;
    let me = node.clone();
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            let wire = Wire { node: me.clone(), event: e };
            let Ok(text) = serde_json::to_string(&wire) else { continue };
            let r: redis::RedisResult<i64> =
                redis::cmd("PUBLISH").arg(CHANNEL).arg(text).query_async(&mut publisher).await;
            if let Err(err) = r {
                tracing::warn!(error = %err, "publishing an event to Redis failed");
            }
        }
    });
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            let Ok(text) = msg.get_payload::<String>() else { continue };
            let Ok(w) = serde_json::from_str::<Wire>(&text) else { continue };
            if w.node == node {
                continue;
            }
            state.events.publish_local(w.event);
        }
        tracing::warn!("Redis event subscription ended");
    });
    Ok(())
}
