//! `POST /api/messages`: start a conversation (uploads are `media::routes`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::MessageDto;
use super::outbound::SendMessageRequest;
use crate::auth::extract::{Authed, InboxRole};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start_conversation))
}

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
    let to = parse_phone(&req.to).map_err(|m| AppError::field("to", m))?;
    let client_id =
        crate::conversations::routes::client_message_id(&headers, req.message.client_message_id.as_deref())?;
    let msg = crate::conversations::service::start_with_message(
        &state,
        &auth.principal,
        req.whatsapp_account_id,
        &to,
        &req.message,
        client_id,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(MessageDto::from(msg))))
}
