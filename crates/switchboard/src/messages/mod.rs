//! Messages: the status state machine and the queries shared by inbound processing and sending.

pub mod status;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::enums::{Direction, MessageStatus};
use crate::entities::messages;

/// A failure reported by Meta.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageError {
    pub code: Option<i32>,
    pub title: Option<String>,
    pub details: Option<String>,
}

/// A message as the API and the event stream show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDto {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Direction,
    #[serde(rename = "type")]
    pub msg_type: String,
    /// The body in Meta's shape for the type (`{"body": …}` for text, `{"id", "mime_type", …}` for media).
    #[schema(value_type = Object)]
    pub content: Value,
    pub status: MessageStatus,
    pub wa_message_id: Option<String>,
    pub client_message_id: Option<String>,
    pub reply_to_id: Option<Uuid>,
    pub error: Option<MessageError>,
    pub sender_user_id: Option<Uuid>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<messages::Model> for MessageDto {
    fn from(m: messages::Model) -> Self {
        let error = (m.error_code.is_some() || m.error_title.is_some()).then_some(MessageError {
            code: m.error_code,
            title: m.error_title,
            details: m.error_details,
        });
        MessageDto {
            id: m.id,
            conversation_id: m.conversation_id,
            direction: m.direction,
            msg_type: m.msg_type,
            content: m.content,
            status: m.status,
            wa_message_id: m.wa_message_id,
            client_message_id: m.client_message_id,
            reply_to_id: m.reply_to_id,
            error,
            sender_user_id: m.sender_user_id,
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            failed_at: m.failed_at,
            created_at: m.created_at,
        }
    }
}
pub mod outbound;
pub mod routes;

/// A new message row with every optional field empty; callers set what applies.
pub fn new_row(
    tenant_id: Uuid,
    conversation_id: Uuid,
    direction: Direction,
    msg_type: &str,
    content: Value,
    status: MessageStatus,
    created_at: DateTime<Utc>,
) -> messages::ActiveModel {
    use sea_orm::Set;
    messages::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant_id),
        conversation_id: Set(conversation_id),
        direction: Set(direction),
        msg_type: Set(msg_type.to_string()),
        content: Set(content),
        raw: Set(None),
        wa_message_id: Set(None),
        client_message_id: Set(None),
        status: Set(status),
        sent_at: Set(None),
        delivered_at: Set(None),
        read_at: Set(None),
        played_at: Set(None),
        failed_at: Set(None),
        error_code: Set(None),
        error_title: Set(None),
        error_details: Set(None),
        reply_to_id: Set(None),
        reply_to_wa_id: Set(None),
        sender_user_id: Set(None),
        billed: Set(false),
        send_started_at: Set(None),
        created_at: Set(created_at),
        updated_at: Set(crate::db::now()),
    }
}
