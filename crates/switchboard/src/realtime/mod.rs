//! `GET /api/events`: the tenant's realtime stream as Server-Sent Events, resumable with
//! `Last-Event-ID`, with heartbeats.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::{Authed, InboxRole};
use crate::error::{AppResult, ErrorBody};
use crate::events::Sequenced;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

fn to_sse(e: &Sequenced) -> Event {
    Event::default()
        .id(e.seq.to_string())
        .event(e.event.kind)
        .data(serde_json::to_string(&e.event.data).unwrap_or_else(|_| "null".into()))
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
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let (replay, rx) = state.events.subscribe_after(after);
    let mine = move |e: &Arc<Sequenced>| e.event.tenant_id == tenant;
    let head: Vec<Event> = match replay {
        Some(items) => items
            .iter()
            .filter(|e| mine(e))
            .map(|e| to_sse(e))
            .collect(),
        None => vec![Event::default().event("reset").data("{}")],
    };
    let live = stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) if mine(&e) => return Some((to_sse(&e), rx)),
                Ok(_) => continue,
                // Too slow: events were dropped, so tell the client to reload.
                Err(RecvError::Lagged(_)) => {
                    return Some((Event::default().event("reset").data("{}"), rx));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let s = stream::iter(head).chain(live).map(Ok);
    Ok(Sse::new(s).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("heartbeat"),
    ))
}
