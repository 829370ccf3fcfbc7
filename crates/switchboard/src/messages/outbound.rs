//! Composing an outbound message: parse the request into Meta's shape, check the rules (window,
//! opt-out, template approval, tenant status, quota), then store it as `queued` and enqueue its
//! send in one transaction.

use chrono::{Duration, Utc};
use meta_cloud::send::SendRequest;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set, TransactionTrait, TryInsertResult,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::enums::{AccountStatus, Direction, MessageStatus, TenantStatus};
use crate::entities::{contacts, conversations, messages, templates, tenants, whatsapp_accounts};
use crate::error::{AppError, AppResult, FieldError};
use crate::events::DomainEvent;
use crate::ids::TenantId;
use crate::jobs::queues;
use crate::state::AppState;

/// The customer-service window: free-form messages only within 24 h of the customer's last message.
pub const WINDOW: Duration = Duration::hours(24);

/// A message to send, as the API takes it: `type` plus a body under that key in Meta's shape
/// (`{"type":"text","text":{"body":"Hi"}}`), with two conveniences: media may name an uploaded
/// file (`{"image":{"localMediaId":"…"}}`), and templates take a plain parameter map.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageRequest {
    #[serde(rename = "type")]
    pub msg_type: String,
    /// Idempotency: a retry with the same id returns the first message and sends once.
    pub client_message_id: Option<String>,
    /// Quote one of this conversation's messages.
    pub reply_to: Option<Uuid>,
    /// Every other key: the body under `type` (e.g. `text`, `image`, `template`, `reaction`).
    /// A template is `{"name", "language", "parameters"}` where `parameters` maps each variable to
    /// its value (`{"1": "Jessica"}` or `{"first_name": "Jessica"}`), plus `header` (text, or
    /// `{"image"|"video"|"document": {"link"|"localMediaId"}}`) and `buttons` (`{"1": "url-suffix"}`
    /// by button index); a missing or unknown parameter is a 422 naming `template.parameters.<key>`.
    /// Meta's own `components` are accepted instead of `parameters`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub body: Map<String, Value>,
}

/// The template part of a send: `{"name", "language", "parameters": {"1": "Jessica"}}` or Meta's
/// own `components`.
#[derive(Debug, Clone, Deserialize)]
struct TemplateInput {
    name: String,
    language: Value,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    components: Option<Value>,
}

/// A send after parsing: what is stored and what the rules need.
pub struct Composed {
    pub msg_type: String,
    pub content: Value,
    pub template: Option<templates::Model>,
    pub reply_to_wa_id: Option<String>,
    pub reply_to_id: Option<Uuid>,
}

fn field(name: &str, message: impl Into<String>) -> AppError {
    AppError::validation(vec![FieldError::new(name, message)])
}

/// Parses and validates a send against Meta's rules, without storing anything.
pub async fn compose<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    account: &whatsapp_accounts::Model,
    conversation_id: Option<Uuid>,
    req: &SendMessageRequest,
) -> AppResult<Composed> {
    const TYPES: &[&str] = &[
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    ];
    let t = req.msg_type.as_str();
    if !TYPES.contains(&t) {
        return Err(field("type", format!("must be one of {}", TYPES.join(", "))));
    }
    let mut body = req.body.get(t).cloned().ok_or_else(|| field(t, format!("is required for a {t} message")))?;
    let mut template = None;
    let mut reply_to_wa_id = None;
    let mut reply_to_id = None;

    if let Some(r) = req.reply_to {
        let q = find_message(db, tenant, r, conversation_id)
            .await?
            .ok_or_else(|| field("replyTo", "is not a message of this conversation"))?;
        reply_to_wa_id = Some(q.wa_message_id.ok_or_else(|| field("replyTo", "that message has no WhatsApp id yet"))?);
        reply_to_id = Some(q.id);
    }
    match t {
        "reaction" => {
            let target: Uuid = body
                .get("messageId")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| field("reaction.messageId", "must be the id of a message of this conversation"))?;
            let q = find_message(db, tenant, target, conversation_id)
                .await?
                .ok_or_else(|| field("reaction.messageId", "is not a message of this conversation"))?;
            let wamid =
                q.wa_message_id.ok_or_else(|| field("reaction.messageId", "that message has no WhatsApp id yet"))?;
            let emoji = body.get("emoji").and_then(Value::as_str).unwrap_or_default().to_string();
            reply_to_id = Some(q.id);
            body = json!({ "message_id": wamid, "emoji": emoji });
        }
        "template" => {
            let input: TemplateInput = serde_json::from_value(body.clone())
                .map_err(|e| field("template", format!("must have name and language: {e}")))?;
            let lang = match &input.language {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.get("code").and_then(Value::as_str).unwrap_or_default().to_string(),
                _ => String::new(),
            };
            let tpl = templates::Entity::of(tenant)
                .filter(templates::Column::WhatsappAccountId.eq(account.id))
                .filter(templates::Column::Name.eq(input.name.as_str()))
                .filter(templates::Column::Language.eq(lang.as_str()))
                .one(db)
                .await?
                .ok_or_else(|| field("template.name", format!("no template {} ({lang}) on this number", input.name)))?;
            if tpl.status != "APPROVED" {
                return Err(AppError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "template_not_approved",
                    format!("template {} is {}; only APPROVED templates can be sent", tpl.name, tpl.status),
                ));
            }
            // Raw components pass through; a parameter map is checked against the template first.
            let components = match input.components {
                Some(c) => c,
                None => crate::templates::params::build_components(&tpl, &input.parameters.unwrap_or_default())
                    .map_err(|errors| {
                        AppError::validation(
                            errors
                                .into_iter()
                                .map(|e| FieldError::new(format!("template.{}", e.field), e.message))
                                .collect(),
                        )
                    })?,
            };
            let mut tb = json!({ "name": tpl.name, "language": { "code": tpl.language } });
            if components.as_array().is_some_and(|a| !a.is_empty()) {
                tb["components"] = components;
            }
            body = tb;
            // An uploaded file as the header: it must be the tenant's (the sender uploads it to Meta).
            if let Some(local) = crate::templates::params::local_media_slot(&mut body)
                .and_then(|o| o.get("localMediaId"))
                .and_then(Value::as_str)
            {
                let known = match local.parse::<Uuid>() {
                    Ok(id) => crate::entities::media::Entity::secure_find(db, tenant, id).await?.is_some(),
                    Err(_) => false,
                };
                if !known {
                    return Err(field("template.parameters.header", "localMediaId is not an uploaded media id"));
                }
            }
            template = Some(tpl);
        }
        "image" | "audio" | "video" | "document" | "sticker" => {
            let has_local = body.get("localMediaId").and_then(Value::as_str).is_some();
            if has_local {
                let id: Uuid = body["localMediaId"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| field(&format!("{t}.localMediaId"), "must be an uploaded media id"))?;
                crate::entities::media::Entity::secure_find(db, tenant, id)
                    .await?
                    .ok_or_else(|| field(&format!("{t}.localMediaId"), "no such uploaded media"))?;
            }
        }
        _ => {}
    }

    // Validate exactly what Meta will get (a placeholder id stands in for an uploaded file).
    let mut probe = body.clone();
    if let Some(o) = crate::templates::params::local_media_slot(&mut probe)
        && o.remove("localMediaId").is_some()
    {
        o.insert("id".into(), Value::String("0".into()));
    }
    let mut request = json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": "10000000000", "type": t, t: probe });
    if let Some(w) = &reply_to_wa_id {
        request["context"] = json!({ "message_id": w });
    }
    let parsed = SendRequest::from_value(request).map_err(|e| field(t, e))?;
    if let Err(errors) = parsed.validate() {
        let fields = errors.0.iter().map(|e| FieldError::new(e.field.clone(), e.message.clone())).collect();
        return Err(AppError::validation(fields));
    }
    Ok(Composed { msg_type: t.to_string(), content: body, template, reply_to_wa_id, reply_to_id })
}

async fn find_message<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
    conversation: Option<Uuid>,
) -> AppResult<Option<messages::Model>> {
    let mut q = messages::Entity::by_id(tenant, id);
    if let Some(c) = conversation {
        q = q.filter(messages::Column::ConversationId.eq(c));
    }
    Ok(q.one(db).await?)
}

/// The business rules, each a clear error with a code.
pub async fn check_rules<C: ConnectionTrait>(
    db: &C,
    tenant: &tenants::Model,
    account: &whatsapp_accounts::Model,
    conversation: Option<&conversations::Model>,
    contact: &contacts::Model,
    composed: &Composed,
) -> AppResult<()> {
    use axum::http::StatusCode;
    if tenant.status == TenantStatus::Suspended {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "tenant_suspended",
            "this workspace is suspended; sending is disabled",
        ));
    }
    if account.status == AccountStatus::Disabled {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "account_disabled",
            "this WhatsApp number is disabled",
        ));
    }
    match &composed.template {
        Some(t) => {
            if t.category.eq_ignore_ascii_case("MARKETING") && contact.opted_out {
                return Err(AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "opted_out",
                    "this contact opted out of marketing messages",
                ));
            }
        }
        None => {
            let open = conversation.and_then(|c| c.last_inbound_at).is_some_and(|t| Utc::now() - t < WINDOW);
            if !open {
                return Err(AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "window_closed",
                    "the 24-hour customer-service window is closed; send an approved template instead",
                )
                .with_details(json!({ "lastInboundAt": conversation.and_then(|c| c.last_inbound_at) })));
            }
        }
    }
    let used = crate::usage::month_to_date_out(db, TenantId(tenant.id)).await?;
    if used >= tenant.limit_monthly_messages {
        let mut e = AppError::too_many(
            "quota_exceeded",
            format!("the plan's {} messages this month are used", tenant.limit_monthly_messages),
            3600,
        );
        e.details = json!({ "used": used, "limit": tenant.limit_monthly_messages });
        return Err(e);
    }
    Ok(())
}

/// A short preview for the conversation list.
pub fn preview(msg_type: &str, content: &Value) -> String {
    let s = match msg_type {
        "text" => content.get("body").and_then(Value::as_str).unwrap_or_default().to_string(),
        "template" => format!("📋 {}", content.get("name").and_then(Value::as_str).unwrap_or("template")),
        "reaction" => format!("Reacted {}", content.get("emoji").and_then(Value::as_str).unwrap_or_default()),
        "image" => "📷 Photo".into(),
        "video" => "🎥 Video".into(),
        "audio" => "🎵 Audio".into(),
        "document" => "📄 Document".into(),
        "location" => "📍 Location".into(),
        other => format!("[{other}]"),
    };
    super::shorten(&s)
}

/// Stores the message as `queued` and enqueues its send, atomically. With a client message id
/// that was already used, returns the first message instead (sent once).
pub async fn enqueue(
    state: &AppState,
    conv: &conversations::Model,
    composed: Composed,
    client_message_id: Option<String>,
    sender: Option<Uuid>,
) -> AppResult<(messages::Model, bool)> {
    let txn = state.writer().begin().await?;
    let now = crate::db::now();
    let mut row = crate::messages::new_row(
        conv.tenant_id,
        conv.id,
        Direction::Outbound,
        &composed.msg_type,
        composed.content.clone(),
        MessageStatus::Queued,
        now,
    );
    row.client_message_id = Set(client_message_id.clone());
    row.reply_to_id = Set(composed.reply_to_id);
    row.reply_to_wa_id = Set(composed.reply_to_wa_id.clone());
    row.sender_user_id = Set(sender);

    let inserted = messages::Entity::insert(row.clone())
        .on_conflict_do_nothing_on([messages::Column::TenantId, messages::Column::ClientMessageId])
        .exec(&txn)
        .await?;
    if !matches!(inserted, TryInsertResult::Inserted(_)) {
        txn.rollback().await?;
        let existing = messages::Entity::of(TenantId(conv.tenant_id))
            .filter(messages::Column::ClientMessageId.eq(client_message_id))
            .one(&state.db)
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("idempotent message vanished")))?;
        if existing.conversation_id != conv.id {
            return Err(AppError::conflict(
                "idempotency_conflict",
                "this client message id was used for another conversation",
            ));
        }
        return Ok((existing, false));
    }
    let msg: messages::Model = sea_orm::TryIntoModel::try_into_model(row)?;
    crate::jobs::enqueue(
        &txn,
        crate::jobs::Job::job(&crate::jobs::payloads::SendJob::send(msg.id))
            .unique(msg.id.to_string())
            .tenant(conv.tenant_id)
            .attempts(12),
    )
    .await?;
    touch_conversation(&txn, conv, &msg, sender.is_some()).await?;
    crate::usage::add(
        &txn,
        conv.tenant_id,
        now.date_naive(),
        crate::usage::Delta { messages_out: 1, ..Default::default() },
    )
    .await?;
    txn.commit().await?;
    state.jobs_wakeup.wake(queues::MESSAGE_SEND);
    state.events.publish(DomainEvent::new(conv.tenant_id, crate::events::Event::MessageCreated(msg.clone().into())));
    Ok((msg, true))
}

async fn touch_conversation(
    txn: &DatabaseTransaction,
    conv: &conversations::Model,
    msg: &messages::Model,
    by_agent: bool,
) -> AppResult<()> {
    let mut q = conversations::Entity::update_many()
        .col_expr(conversations::Column::LastMessageAt, Expr::value(msg.created_at))
        .col_expr(conversations::Column::LastMessagePreview, Expr::value(preview(&msg.msg_type, &msg.content)))
        .col_expr(conversations::Column::UpdatedAt, Expr::value(msg.created_at))
        .filter(conversations::Column::Id.eq(conv.id));
    if by_agent && conv.first_response_at.is_none() {
        q = q.col_expr(conversations::Column::FirstResponseAt, Expr::value(msg.created_at));
    }
    q.exec(txn).await?;
    Ok(())
}

/// `true` while the customer-service window is open, with its end.
pub fn window(conv: &conversations::Model) -> (bool, Option<chrono::DateTime<Utc>>) {
    match conv.last_inbound_at {
        Some(t) => {
            let until = t + WINDOW;
            (Utc::now() < until, Some(until))
        }
        None => (false, None),
    }
}

/// The message already sent with this client message id, if any.
pub async fn existing<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    client_id: Option<&str>,
) -> AppResult<Option<messages::Model>> {
    let Some(k) = client_id else { return Ok(None) };
    Ok(messages::Entity::of(tenant).filter(messages::Column::ClientMessageId.eq(k)).one(db).await?)
}
