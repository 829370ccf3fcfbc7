//! `POST /api/media` (upload a file to send) and `GET /api/media/{id}`.

use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::sniff;
use crate::access::extract::{Authed, InboxRole};
use crate::db::Scoped;
use crate::entities::media;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_media))
        .routes(routes!(upload_media))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD + 64 * 1024))
}

/// Meta's largest media (documents).
const MAX_UPLOAD: usize = 100 * 1024 * 1024;

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

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedMedia {
    /// Use as `localMediaId` in a media message.
    pub id: Uuid,
    pub mime_type: String,
    pub filename: Option<String>,
    pub size_bytes: i64,
}

/// Upload a file (multipart field `file`) to send as a media message.
#[utoipa::path(post, path = "/api/media", tag = "media", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses((status = 201, body = UploadedMedia),
              (status = 413, body = ErrorBody, description = "`media_too_large`: over Meta's limit for the type"),
              (status = 422, body = ErrorBody, description = "`validation_failed`, or `media_type_mismatch`: the bytes are not the declared type")))]
async fn upload_media(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    mut form: Multipart,
) -> AppResult<impl IntoResponse> {
    let tenant = auth.tenant()?;
    let bad = |m: String| AppError::field("file", m);
    while let Some(part) = form.next_field().await.map_err(|e| bad(e.body_text()))? {
        if part.name() != Some("file") {
            continue;
        }
        let filename = part.file_name().map(|f| f.chars().take(200).collect::<String>());
        let mime = part
            .content_type()
            .unwrap_or("application/octet-stream")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_lowercase();
        if !super::ALLOWED.contains(&mime.as_str()) {
            return Err(bad(format!("type {mime} is not accepted by WhatsApp")));
        }
        let bytes = part.bytes().await.map_err(|e| bad(e.body_text()))?;
        if bytes.is_empty() {
            return Err(bad("is empty".into()));
        }
        let m = super::store_upload(state.writer(), &state.config.media_dir, tenant, &mime, filename, &bytes).await?;
        return Ok((
            StatusCode::CREATED,
            axum::Json(UploadedMedia {
                id: m.id,
                mime_type: m.mime_type,
                filename: m.filename,
                size_bytes: m.size_bytes,
            }),
        ));
    }
    Err(bad("is required (multipart field `file`)".into()))
}
