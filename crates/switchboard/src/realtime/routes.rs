//! `GET /api/events`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Gate;
use crate::access::extract::{Authed, InboxRole};
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
    let mut gate = Gate::new(state.clone(), auth.principal, tenant);
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
