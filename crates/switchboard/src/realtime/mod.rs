//! `GET /api/events`: the tenant's realtime stream as Server-Sent Events, resumable with
//! `Last-Event-ID`, with heartbeats.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::{Authed, InboxRole, Principal};
use crate::entities::enums::Role;
use crate::error::{AppResult, ErrorBody};
use crate::events::Sequenced;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

fn to_sse(e: &Sequenced) -> Event {
    Event::default()
        .id(e.seq.to_string())
        .event(e.event.kind())
        .data(serde_json::to_string(&e.event.data()).unwrap_or_else(|_| "null".into()))
}

/// The caller's tenant's events: `message.created`, `message.status`, `conversation.updated`,
/// `agent.status`, … (`event:` is the kind, `data:` its JSON, `id:` the position for
/// `Last-Event-ID`). A `reset` event means the position is too old: reload and continue.
#[utoipa::path(get, path = "/api/events", tag = "realtime", security(("bearer" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    headers: HeaderMap,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let tenant = auth.tenant()?.0;
    let after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse::<u64>().ok());
    let (replay, rx) = state.events.subscribe_after(after);
    let mut gate = Gate { state: state.clone(), who: auth.principal, tenant, assignees: HashMap::new() };
    let mut head = Vec::new();
    match replay {
        Some(items) => {
            for e in items {
                if gate.allows(&e).await {
                    head.push(to_sse(&e));
                }
            }
        }
        None => head.push(Event::default().event("reset").data("{}")),
    }
    let live = stream::unfold((rx, gate), move |(mut rx, mut gate)| async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if gate.allows(&e).await {
                        return Some((to_sse(&e), (rx, gate)));
                    }
                }
                // Too slow: events were dropped, so tell the client to reload.
                Err(RecvError::Lagged(_)) => return Some((Event::default().event("reset").data("{}"), (rx, gate))),
                Err(RecvError::Closed) => return None,
            }
        }
    });
    // The stream ends when the server shuts down (graceful shutdown waits for open responses).
    let s = stream::iter(head).chain(live).take_until(state.events.closed()).map(Ok);
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("heartbeat")))
}

/// Decides what one subscriber may see: their tenant only; for agents, only events of
/// conversations assigned to them or unassigned (looked up once per conversation, then kept
/// current from `conversation.updated` events).
struct Gate {
    state: AppState,
    who: Principal,
    tenant: uuid::Uuid,
    assignees: HashMap<uuid::Uuid, Option<uuid::Uuid>>,
}

impl Gate {
    async fn allows(&mut self, e: &Sequenced) -> bool {
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
