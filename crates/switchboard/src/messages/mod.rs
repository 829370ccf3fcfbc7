//! Messages: the status state machine and the queries shared by inbound processing and sending.

pub mod status;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::enums::{Direction, MessageStatus};
use crate::entities::messages;

pub use crate::events::{MessageDto, MessageError};

pub mod outbound;
pub mod thread;

use meta_cloud::webhook::{self as mw, MessageKind};
use serde_json::json;

/// A short human preview of a message for the conversation list.
pub fn preview(m: &mw::InboundMessage) -> String {
    let text = match &m.kind {
        MessageKind::Text(t) => t.body.clone(),
        MessageKind::Image(x) => x.caption.clone().map(|c| format!("📷 {c}")).unwrap_or_else(|| "📷 Photo".into()),
        MessageKind::Video(x) => x.caption.clone().map(|c| format!("🎥 {c}")).unwrap_or_else(|| "🎥 Video".into()),
        MessageKind::Audio(x) => if x.voice == Some(true) { "🎤 Voice message" } else { "🎵 Audio" }.into(),
        MessageKind::Document(x) => format!("📄 {}", x.filename.clone().unwrap_or_else(|| "Document".into())),
        MessageKind::Sticker(_) => "Sticker".into(),
        MessageKind::Location(l) => {
            format!("📍 {}", l.name.clone().unwrap_or_else(|| "Location".into()))
        }
        MessageKind::Contacts(_) => "👤 Contact".into(),
        MessageKind::Reaction(r) => format!("Reacted {}", r.emoji.clone().unwrap_or_default()),
        MessageKind::Unsupported { .. } => "Unsupported message".into(),
        _ => m.text().map(str::to_string).unwrap_or_else(|| format!("[{}]", m.type_name)),
    };
    shorten(&text)
}

/// Characters a conversation-list preview keeps.
pub const PREVIEW_CHARS: usize = 120;

/// A preview's text: at most [`PREVIEW_CHARS`] characters, with `…` when cut (the one rule for
/// inbound and outbound previews).
pub fn shorten(text: &str) -> String {
    let mut s: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        s.push('…');
    }
    s
}

/// The stored `content` of a received message: its body under Meta's type key, plus the
/// errors, referral and forwarding marks.
pub fn content_of(m: &mw::InboundMessage) -> Value {
    let mut body = m.raw.get(&m.type_name).cloned().unwrap_or_else(|| json!({}));
    if !body.is_object() {
        // e.g. `contacts` is an array: keep it under its type name.
        let mut wrapped = serde_json::Map::new();
        wrapped.insert(m.type_name.clone(), body);
        body = Value::Object(wrapped);
    }
    if let Some(obj) = body.as_object_mut() {
        if !m.errors.is_empty() {
            obj.insert("errors".into(), serde_json::to_value(&m.errors).unwrap_or(Value::Null));
        }
        if let Some(r) = &m.referral {
            obj.insert("referral".into(), serde_json::to_value(r).unwrap_or(Value::Null));
        }
        if let Some(c) = &m.context {
            if c.forwarded == Some(true) {
                obj.insert("forwarded".into(), Value::Bool(true));
            }
            if c.frequently_forwarded == Some(true) {
                obj.insert("frequentlyForwarded".into(), Value::Bool(true));
            }
            if let Some(p) = &c.referred_product {
                obj.insert("referredProduct".into(), serde_json::to_value(p).unwrap_or(Value::Null));
            }
        }
    }
    body
}

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
        reply_to_from: Set(None),
        origin: Set(None),
        sender_user_id: Set(None),
        billed: Set(false),
        send_started_at: Set(None),
        created_at: Set(created_at),
        updated_at: Set(crate::db::now()),
    }
}
