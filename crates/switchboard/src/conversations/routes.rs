//! `/api/conversations/*`: the inbox list, a thread, its messages, and replying; `POST
//! /api/messages`: starting a conversation with a message (uploads are `media::routes`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, Changes, ConversationDto, ListFilter};
use crate::access::extract::{Authed, InboxRole};
use crate::entities::enums::ConversationStatus;
use crate::entities::{contacts, tenants, whatsapp_accounts};
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::ids::TenantId;
use crate::json::ApiJson;
use crate::messages::MessageDto;
use crate::messages::outbound::{self, SendMessageRequest};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation, update_conversation))
        .routes(routes!(mark_read))
        .routes(routes!(list_messages, send_message))
        .routes(routes!(start_conversation))
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// open, pending or resolved.
    pub status: Option<String>,
    /// `me`, `none`, or a user id.
    pub assignee: Option<String>,
    /// Contact name, profile name, phone number or last message text.
    pub search: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100, default 25.
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationPage {
    pub data: Vec<ConversationDto>,
    pub next_cursor: Option<String>,
}

fn parse_status(v: &mut Validator, s: Option<&str>) -> Option<ConversationStatus> {
    let s = s?;
    let parsed = ConversationStatus::parse(s);
    if parsed.is_none() {
        v.push("status", format!("must be one of {}", ConversationStatus::ALL.join(", ")));
    }
    parsed
}

/// The inbox: latest activity first. Agents see their own and unassigned conversations.
#[utoipa::path(get, path = "/api/conversations", tag = "conversations", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = ConversationPage), (status = 422, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Query(p): Query<ListParams>,
) -> AppResult<axum::Json<ConversationPage>> {
    let mut v = Validator::new();
    let status = parse_status(&mut v, p.status.as_deref());
    let assignee = match p.assignee.as_deref() {
        None => None,
        Some("me") => Some(Some(auth.user_id().0)),
        Some("none") => Some(None),
        Some(other) => match other.parse::<Uuid>() {
            Ok(u) => Some(Some(u)),
            Err(_) => {
                v.push("assignee", "must be me, none or a user id");
                None
            }
        },
    };
    let cursor = match p.cursor.as_deref() {
        Some(c) => v.check("cursor", crate::pagination::decode(c).map_err(|e| e.message)),
        None => None,
    };
    v.finish()?;
    let limit = crate::pagination::limit(p.limit, 25, 100);
    let rows =
        service::list(&state.db, &auth.principal, ListFilter { status, assignee, search: p.search, cursor, limit })
            .await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|c| crate::pagination::encode(c.last_message_at, c.id)))
        .flatten();
    Ok(axum::Json(ConversationPage { data: service::with_contacts(&state.db, rows).await?, next_cursor }))
}

/// One conversation.
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ConversationDto), (status = 404, body = ErrorBody)))]
async fn get_conversation(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<ConversationDto>> {
    let c = service::get_visible(&state.db, &auth.principal, id).await?;
    let mut v = service::with_contacts(&state.db, vec![c]).await?;
    Ok(axum::Json(v.remove(0)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateConversationRequest {
    /// open, pending or resolved.
    pub status: Option<String>,
    /// A user id; `null` unassigns; absent leaves it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
    pub tags: Option<Vec<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Ok(Some(Option::<Uuid>::deserialize(d)?))
}

/// Change status (open, pending, resolved), assignee or tags.
#[utoipa::path(patch, path = "/api/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = UpdateConversationRequest, security(("bearer" = [])),
    responses((status = 200, body = ConversationDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_conversation(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<UpdateConversationRequest>,
) -> AppResult<axum::Json<ConversationDto>> {
    let mut v = Validator::new();
    let status = parse_status(&mut v, req.status.as_deref());
    let tags = req.tags.map(|t| {
        let mut out: Vec<String> = t.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        out.dedup();
        if out.len() > 20 || out.iter().any(|s| s.chars().count() > 50) {
            v.push("tags", "at most 20 tags of at most 50 characters");
        }
        out
    });
    v.finish()?;
    let c = service::update(&state, &auth.principal, id, Changes { status, assignee: req.assignee_id, tags }).await?;
    let mut out = service::with_contacts(&state.db, vec![c]).await?;
    Ok(axum::Json(out.remove(0)))
}

/// Mark read: clears the unread count and sends a read receipt for the customer's last message.
#[utoipa::path(post, path = "/api/conversations/{id}/read", tag = "conversations", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ConversationDto), (status = 404, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<ConversationDto>> {
    let c = service::mark_read(&state, &auth.principal, id).await?;
    let mut out = service::with_contacts(&state.db, vec![c]).await?;
    Ok(axum::Json(out.remove(0)))
}

#[derive(Deserialize, IntoParams)]
pub struct PageParams {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub data: Vec<MessageDto>,
    pub next_cursor: Option<String>,
}

/// A conversation's messages, newest first.
#[utoipa::path(get, path = "/api/conversations/{id}/messages", tag = "conversations", params(("id" = Uuid, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = MessagePage), (status = 404, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    Query(p): Query<PageParams>,
) -> AppResult<axum::Json<MessagePage>> {
    let c = service::get_visible(&state.db, &auth.principal, id).await?;
    let cursor = p.cursor.as_deref().map(crate::pagination::decode).transpose()?;
    let limit = crate::pagination::limit(p.limit, 50, 200);
    let rows = service::messages_page(&state.db, TenantId(c.tenant_id), c.id, cursor, limit).await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|m| crate::pagination::encode(m.created_at, m.id)))
        .flatten();
    Ok(axum::Json(MessagePage { data: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Reply in a conversation. Queued and sent at Meta's pace; `202` with the queued message. The
/// same `Idempotency-Key` (or `clientMessageId`) returns the same message and sends it once.
#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "conversations", params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    request_body = SendMessageRequest, security(("bearer" = [])),
    responses((status = 202, body = MessageDto), (status = 403, body = ErrorBody, description = "tenant suspended"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "idempotency_conflict: the key was used for another conversation"),
              (status = 422, body = ErrorBody, description = "invalid, window_closed, opted_out, template_not_approved"),
              (status = 429, body = ErrorBody, description = "quota_exceeded")))]
async fn send_message(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendMessageRequest>,
) -> AppResult<impl IntoResponse> {
    use sea_orm::EntityTrait;
    let c = service::get_visible(&state.db, &auth.principal, id).await?;
    let client_id = crate::json::idempotency_key(&headers, req.client_message_id.as_deref())?;
    // A retry of an accepted send returns it, whatever the rules say now.
    if let Some(existing) = outbound::existing(&state.db, TenantId(c.tenant_id), client_id.as_deref()).await? {
        if existing.conversation_id != c.id {
            return Err(AppError::conflict(
                "idempotency_conflict",
                "this client message id was used for another conversation",
            ));
        }
        return Ok((StatusCode::ACCEPTED, [("idempotent-replayed", "true")], axum::Json(MessageDto::from(existing))));
    }
    let tenant =
        tenants::Entity::find_by_id(c.tenant_id).one(&state.db).await?.ok_or_else(|| AppError::not_found("tenant"))?;
    let account = whatsapp_accounts::Entity::find_by_id(c.whatsapp_account_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("whatsapp account"))?;
    let contact = contacts::Entity::find_by_id(c.contact_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("contact"))?;
    let composed = outbound::compose(&state.db, TenantId(c.tenant_id), &account, Some(c.id), &req).await?;
    outbound::check_rules(&state.db, &tenant, &account, Some(&c), &contact, &composed).await?;
    let (msg, created) = outbound::enqueue(&state, &c, composed, client_id, Some(auth.user_id().0)).await?;
    let replayed = if created { "false" } else { "true" };
    Ok((StatusCode::ACCEPTED, [("idempotent-replayed", replayed)], axum::Json(MessageDto::from(msg))))
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
    let to = crate::domain::parse_phone(&req.to, None).map_err(|m| AppError::field("to", m))?;
    let client_id = crate::json::idempotency_key(&headers, req.message.client_message_id.as_deref())?;
    let msg =
        service::start_with_message(&state, &auth.principal, req.whatsapp_account_id, &to, &req.message, client_id)
            .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(MessageDto::from(msg))))
}
