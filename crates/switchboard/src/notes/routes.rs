//! `/api/conversations/{id}/notes`: internal notes, for whoever may see the conversation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, NoteDto};
use crate::access::extract::{Authed, InboxRole};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_notes, create_note))
}

#[derive(Serialize, ToSchema)]
pub struct NoteList {
    pub data: Vec<NoteDto>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateNoteRequest {
    /// 1 to 4096 characters; never sent to the customer.
    pub body: Option<String>,
}

/// The conversation's internal notes, oldest first.
#[utoipa::path(get, path = "/api/conversations/{id}/notes", tag = "notes", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = NoteList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_notes(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<NoteList>> {
    let data = service::list(&state.db, &auth.principal, id).await?;
    Ok(axum::Json(NoteList { data }))
}

/// Add an internal note (publishes `note.created`).
#[utoipa::path(post, path = "/api/conversations/{id}/notes", tag = "notes", params(("id" = Uuid, Path)),
    request_body = CreateNoteRequest, security(("bearer" = [])),
    responses((status = 201, body = NoteDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_note(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<CreateNoteRequest>,
) -> AppResult<impl IntoResponse> {
    let body = service::parse_body(req.body.as_deref().unwrap_or("")).map_err(|m| AppError::field("body", m))?;
    let note = service::create(&state, &auth.principal, id, body).await?;
    Ok((StatusCode::CREATED, axum::Json(note)))
}
