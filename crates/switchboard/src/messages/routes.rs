//! `POST /api/messages` (start a conversation) and `POST /api/media` (upload a file to send).

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use sea_orm::{ActiveModelTrait, EntityTrait, Set, TransactionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::MessageDto;
use super::outbound::{self, SendMessageRequest};
use crate::auth::extract::{Authed, InboxRole};
use crate::entities::{media, tenants};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_conversation))
        .routes(routes!(upload_media))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD + 64 * 1024))
}

/// Meta's largest media (documents).
const MAX_UPLOAD: usize = 100 * 1024 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    pub whatsapp_account_id: Uuid,
    /// The customer's phone number (digits, optionally with + and spaces).
    pub to: String,
    /// The message: usually a template, since no window is open yet.
    #[serde(flatten)]
    pub message: SendMessageRequest,
}

/// Parses a phone number into WhatsApp id digits (8 to 15).
pub fn parse_phone(raw: &str) -> Result<String, String> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '+' | '.')).collect();
    if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err("must be a phone number in international format (8 to 15 digits)".into())
    }
}

/// Message a customer who has no conversation yet (or whose window is closed): a template.
#[utoipa::path(post, path = "/api/messages", tag = "conversations", request_body = StartRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    responses((status = 202, body = MessageDto), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "idempotency_conflict: the key was used for another conversation"),
              (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn start_conversation(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StartRequest>,
) -> AppResult<impl IntoResponse> {
    let tenant_id = auth.tenant()?;
    let to = parse_phone(&req.to).map_err(|m| AppError::field("to", m))?;
    let account = crate::accounts::service::get(&state.db, tenant_id, req.whatsapp_account_id).await?;
    let client_id =
        crate::conversations::routes::client_message_id(&headers, req.message.client_message_id.as_deref())?;
    if let Some(existing) = outbound::existing(&state.db, tenant_id, client_id.as_deref()).await? {
        return Ok((StatusCode::ACCEPTED, axum::Json(MessageDto::from(existing))));
    }
    let tenant =
        tenants::Entity::find_by_id(tenant_id.0).one(&state.db).await?.ok_or_else(|| AppError::not_found("tenant"))?;
    let composed = outbound::compose(&state.db, tenant_id, &account, None, &req.message).await?;

    let txn = state.writer().begin().await?;
    let who = crate::contacts::identity::Sighting::new(tenant_id.0, Some(&to), None)
        .source(crate::contacts::identity::Source::Api);
    let contact = crate::contacts::identity::resolve(&txn, None, &[who])
        .await?
        .contacts
        .pop()
        .flatten()
        .ok_or_else(|| AppError::not_found("contact"))?;
    let (conv, opened) = crate::conversations::service::open(&txn, tenant_id, contact.id, account.id).await?;
    if opened {
        crate::usage::add(
            &txn,
            tenant_id.0,
            crate::db::now().date_naive(),
            crate::usage::Delta { conversations_opened: 1, ..Default::default() },
        )
        .await?;
    }
    txn.commit().await?;
    if auth.principal.role == crate::entities::enums::Role::Agent
        && !crate::conversations::service::visible_to(&auth.principal, &conv)
    {
        return Err(AppError::forbidden("this customer's conversation is assigned to another agent"));
    }
    outbound::check_rules(&state.db, &tenant, &account, Some(&conv), &contact, &composed).await?;
    let (msg, _) = outbound::enqueue(&state, &conv, composed, client_id, Some(auth.user_id().0)).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(MessageDto::from(msg))))
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

const ALLOWED: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/3gpp",
    "audio/aac",
    "audio/mp4",
    "audio/mpeg",
    "audio/amr",
    "audio/ogg",
    "text/plain",
    "application/pdf",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

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
        if !ALLOWED.contains(&mime.as_str()) {
            return Err(bad(format!("type {mime} is not accepted by WhatsApp")));
        }
        let bytes = part.bytes().await.map_err(|e| bad(e.body_text()))?;
        if bytes.is_empty() {
            return Err(bad("is empty".into()));
        }
        crate::media::check_upload(&mime, &bytes)?;
        let id = crate::db::new_id();
        let rel = format!("{}/{id}", tenant.0);
        let full = state.config.media_dir.join(&rel);
        if let Some(dir) = full.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(AppError::internal)?;
        }
        tokio::fs::write(&full, &bytes).await.map_err(AppError::internal)?;
        let m = media::ActiveModel {
            id: Set(id),
            tenant_id: Set(tenant.0),
            message_id: Set(None),
            meta_media_id: Set(None),
            mime_type: Set(mime.clone()),
            filename: Set(filename.clone()),
            size_bytes: Set(bytes.len() as i64),
            sha256: Set(switchboard_crypto::token::sha256_hex(&bytes)),
            path: Set(rel),
            created_at: Set(crate::db::now()),
        }
        .insert(state.writer())
        .await?;
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
