//! Media files: inbound media are fetched from Meta at once (Meta's URLs expire) and kept in the
//! media directory; tenants read them at `GET /api/media/{id}`.

pub mod routes;
pub mod sniff;

pub use routes::router;

use std::sync::Arc;

use meta_cloud::client::GraphError;
use meta_cloud::error::ErrorClass;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::Value;

use crate::db::Scoped;
use crate::entities::{media, messages, whatsapp_accounts};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::jobs::Outcome;
use crate::jobs::runner::Handler;
use crate::state::AppState;

/// The types WhatsApp accepts for media messages.
pub const ALLOWED: &[&str] = &[
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

/// Stores an uploaded file of the tenant (checked with [`check_upload`]) under the media
/// directory and records it; its id is what a media message names as `localMediaId`.
pub async fn store_upload(
    db: &sea_orm::DatabaseConnection,
    media_dir: &std::path::Path,
    tenant: crate::ids::TenantId,
    mime: &str,
    filename: Option<String>,
    bytes: &[u8],
) -> AppResult<media::Model> {
    use sea_orm::ActiveModelTrait;
    check_upload(mime, bytes)?;
    let id = crate::db::new_id();
    let rel = format!("{}/{id}", tenant.0);
    let full = media_dir.join(&rel);
    if let Some(dir) = full.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(AppError::internal)?;
    }
    tokio::fs::write(&full, bytes).await.map_err(AppError::internal)?;
    Ok(media::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.0),
        message_id: Set(None),
        meta_media_id: Set(None),
        mime_type: Set(mime.to_string()),
        filename: Set(filename),
        size_bytes: Set(bytes.len() as i64),
        sha256: Set(switchboard_crypto::token::sha256_hex(bytes)),
        path: Set(rel),
        created_at: Set(crate::db::now()),
    }
    .insert(db)
    .await?)
}

/// Checks an upload against Meta's size limit for its declared type (413 `media_too_large`), then
/// its bytes against that type (422 `media_type_mismatch`: HTML declared `image/png` is refused).
pub fn check_upload(mime: &str, bytes: &[u8]) -> AppResult<()> {
    let animated = mime == "image/webp" && sniff::is_animated_webp(bytes);
    let max = sniff::limit(mime, animated);
    if bytes.len() > max {
        let message = format!("a {mime} file may be at most {max} bytes (this one is {})", bytes.len());
        return Err(AppError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, "media_too_large", message.clone())
            .with_details(serde_json::json!({
                "fields": [crate::error::FieldError::new("file", message)],
                "limitBytes": max,
                "sizeBytes": bytes.len(),
            })));
    }
    if !sniff::matches(mime, bytes) {
        let detected = sniff::detect(bytes);
        let message = format!("the file's content is not {mime} (it looks like {detected})");
        return Err(AppError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "media_type_mismatch",
            message.clone(),
        )
        .with_details(serde_json::json!({
            "fields": [crate::error::FieldError::new("file", message)],
            "declared": mime,
            "detected": detected,
        })));
    }
    Ok(())
}

/// The `media-download` job handler.
pub fn download_handler() -> Handler<AppState> {
    Arc::new(|state, job| {
        Box::pin(async move {
            let p = <crate::jobs::payloads::DownloadMedia as crate::jobs::Job>::of(&job)?;
            download(&state, p).await
        })
    })
}

async fn download(state: &AppState, p: crate::jobs::payloads::DownloadMedia) -> Result<(), Outcome> {
    let db_err = |e: sea_orm::DbErr| Outcome::Retry { error: e.to_string(), after: None };
    let (tenant, message_id, account_id, media_id, known_url) =
        (p.tenant_id, p.message_id, p.account_id, p.media_id, p.url);

    // Already stored (a retried job after a crash between the write and the commit)?
    if media::Entity::of(TenantId(tenant))
        .filter(media::Column::MessageId.eq(message_id))
        .one(&state.db)
        .await
        .map_err(db_err)?
        .is_some()
    {
        return Ok(());
    }
    let acct = whatsapp_accounts::Entity::secure_find(&state.db, TenantId(tenant), account_id)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Outcome::Dead { error: "account not found".into() })?;
    let token = crate::accounts::service::access_token(state, &acct).map_err(|e| Outcome::Dead { error: e.message })?;
    let graph = state.graph_for(&acct);
    let dl = match graph.download_media(&token, &media_id, known_url.as_deref()).await {
        Ok(d) => d,
        Err(e) => {
            return Err(match &e {
                GraphError::Api { class: ErrorClass::Credentials, .. } => {
                    Outcome::Retry { error: e.to_string(), after: Some(std::time::Duration::from_secs(300)) }
                }
                GraphError::Api { status: 400 | 404, .. } | GraphError::Status { status: 404, .. } => {
                    Outcome::Dead { error: e.to_string() }
                }
                _ => Outcome::Retry { error: e.to_string(), after: None },
            });
        }
    };
    let file_id = crate::db::new_id();
    let rel = format!("{tenant}/{file_id}");
    let full = state.config.media_dir.join(&rel);
    let io = |e: std::io::Error| Outcome::Retry { error: format!("writing media: {e}"), after: None };
    if let Some(dir) = full.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    tokio::fs::write(&full, &dl.bytes).await.map_err(io)?;
    let sha = switchboard_crypto::token::sha256_hex(&dl.bytes);
    let msg = messages::Entity::find_by_id(message_id).one(&state.db).await.map_err(db_err)?;
    let filename = msg.as_ref().and_then(|m| m.content.get("filename").and_then(Value::as_str).map(str::to_string));
    let mime = dl.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    let txn = sea_orm::TransactionTrait::begin(state.writer()).await.map_err(db_err)?;
    media::ActiveModel {
        id: Set(file_id),
        tenant_id: Set(tenant),
        message_id: Set(Some(message_id)),
        meta_media_id: Set(Some(media_id)),
        mime_type: Set(mime),
        filename: Set(filename),
        size_bytes: Set(dl.bytes.len() as i64),
        sha256: Set(sha),
        path: Set(rel),
        created_at: Set(crate::db::now()),
    }
    .insert(&txn)
    .await
    .map_err(db_err)?;
    if let Some(m) = msg {
        let mut content = m.content.clone();
        if let Some(obj) = content.as_object_mut() {
            obj.insert("localMediaId".into(), Value::String(file_id.to_string()));
        }
        messages::Entity::update_many()
            .col_expr(messages::Column::Content, Expr::value(content))
            .filter(messages::Column::Id.eq(message_id))
            .exec(&txn)
            .await
            .map_err(db_err)?;
    }
    txn.commit().await.map_err(db_err)?;
    state.events.publish(crate::events::DomainEvent::new(
        tenant,
        crate::events::Event::MessageMedia(crate::events::MessageMedia { message_id, media_id: file_id }),
    ));
    Ok(())
}
