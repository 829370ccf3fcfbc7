//! `GET /api/media/{id}`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::sniff;
use crate::auth::extract::{Authed, InboxRole};
use crate::db::Scoped;
use crate::entities::media;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_media))
}

/// A stored media file of the caller's tenant.
#[utoipa::path(get, path = "/api/media/{id}", tag = "media", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the file, with its content type; `Content-Disposition: attachment` unless an image, audio or video"),
              (status = 404, body = ErrorBody)))]
async fn get_media(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let m =
        media::Entity::secure_find(&state.db, auth.tenant()?, id).await?.ok_or_else(|| AppError::not_found("media"))?;
    let path = state.config.media_dir.join(&m.path);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("reading {}: {e}", path.display())))?;
    // Only what a browser shows without running it is inline; the rest (documents, text, anything
    // Meta labelled otherwise) downloads, and `nosniff` keeps the browser from guessing.
    let kind = if sniff::inline_safe(&m.mime_type) { "inline" } else { "attachment" };
    let disposition = match &m.filename {
        Some(f) => format!(
            "{kind}; filename=\"{}\"",
            f.replace(|c: char| c == '"' || c == '\\' || !c.is_ascii() || c.is_ascii_control(), "_")
        ),
        None => kind.into(),
    };
    Ok((
        [
            (header::CONTENT_TYPE, m.mime_type.clone()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (header::CACHE_CONTROL, "private, max-age=86400".into()),
        ],
        bytes,
    ))
}
