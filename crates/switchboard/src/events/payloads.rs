//! The public contract of domain events: one payload type per kind, each built in one place
//! (its constructor here, from the rows it describes). The same JSON goes to `GET /api/events`
//! (`event:` the kind, `data:` the payload) and to outgoing webhooks (`data`), and the schemas
//! are published in the OpenAPI document (components, and its `webhooks` section). These types
//! sit below the features that publish them, so that publishing never makes a cycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::enums::{ConversationStatus, Direction, MessageStatus};
use crate::entities::{contacts, conversation_notes, conversations, messages};

/// A failure reported by Meta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageError {
    pub code: Option<i32>,
    pub title: Option<String>,
    pub details: Option<String>,
}

impl MessageError {
    fn of(m: &messages::Model) -> Option<Self> {
        (m.error_code.is_some() || m.error_title.is_some()).then(|| MessageError {
            code: m.error_code,
            title: m.error_title.clone(),
            details: m.error_details.clone(),
        })
    }
}

/// A message as the API and the event stream show it (`message.created`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
    /// The stored message this one quotes (a reply or a reaction), when it is in this inbox.
    pub reply_to_id: Option<Uuid>,
    /// The wamid this message quotes, also when that message is not in this inbox.
    pub reply_to_wa_message_id: Option<String>,
    /// Who sent the quoted message, as Meta reported it (`context.from`).
    pub reply_to_from: Option<String>,
    /// Outbound messages Switchboard did not send: `business_app` (sent from the WhatsApp
    /// Business app on a coexistence number), `history` (imported history). `null` otherwise.
    pub origin: Option<String>,
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
        let error = MessageError::of(&m);
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
            reply_to_wa_message_id: m.reply_to_wa_id,
            reply_to_from: m.reply_to_from,
            origin: m.origin,
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

/// `message.status`: an outbound message's status changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageStatusChanged {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    /// The message's status now.
    pub status: MessageStatus,
    /// The status Meta reported in the webhook that caused this (the message may already be
    /// further along); `null` when Switchboard itself changed it (a send accepted or failed).
    pub reported: Option<MessageStatus>,
    pub wa_message_id: Option<String>,
    pub error: Option<MessageError>,
}

impl MessageStatusChanged {
    pub fn of(m: &messages::Model, reported: Option<MessageStatus>) -> Self {
        MessageStatusChanged {
            message_id: m.id,
            conversation_id: m.conversation_id,
            status: m.status,
            reported,
            wa_message_id: m.wa_message_id.clone(),
            error: MessageError::of(m),
        }
    }
}

/// `message.media`: a message's media file was downloaded and can be shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageMedia {
    pub message_id: Uuid,
    pub media_id: Uuid,
}

/// `conversation.updated`: a conversation was opened, reopened, assigned, resolved, read…
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationUpdated {
    pub id: Uuid,
    /// The same as `id` (as every other conversation event names it).
    pub conversation_id: Uuid,
    pub contact_id: Uuid,
    pub whatsapp_account_id: Uuid,
    pub status: ConversationStatus,
    pub assignee_id: Option<Uuid>,
    /// The assignee before this change, when it changed.
    pub previous_assignee_id: Option<Uuid>,
    /// A customer's message opened (or reopened) it.
    pub opened: bool,
}

impl ConversationUpdated {
    pub fn of(c: &conversations::Model, previous_assignee_id: Option<Uuid>, opened: bool) -> Self {
        ConversationUpdated {
            id: c.id,
            conversation_id: c.id,
            contact_id: c.contact_id,
            whatsapp_account_id: c.whatsapp_account_id,
            status: c.status,
            assignee_id: c.assignee_id,
            previous_assignee_id,
            opened,
        }
    }
}

/// A contact as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactDto {
    pub id: Uuid,
    /// The WhatsApp id (E.164 digits without `+`).
    pub wa_id: Option<String>,
    /// Meta's business-scoped user id, for users with usernames.
    pub user_id: Option<String>,
    /// The name the customer set in WhatsApp.
    pub profile_name: Option<String>,
    /// The customer's WhatsApp username, when they use one.
    pub username: Option<String>,
    /// The name the team gave the contact.
    pub name: Option<String>,
    /// Opted out of marketing messages.
    pub opted_out: bool,
    pub opted_out_at: Option<DateTime<Utc>>,
    /// What opted them out: `keyword` (an opt-out keyword), `user_preferences` (they stopped
    /// marketing in WhatsApp), `meta_131050` (Meta refused a marketing send), `agent`.
    pub opt_out_source: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A contact's tags from its JSON column.
pub fn tags_of(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

impl From<contacts::Model> for ContactDto {
    fn from(c: contacts::Model) -> Self {
        ContactDto {
            id: c.id,
            wa_id: c.wa_id,
            user_id: c.user_id,
            profile_name: c.profile_name,
            username: c.username,
            name: c.name,
            opted_out: c.opted_out,
            opted_out_at: c.opted_out_at,
            opt_out_source: c.opt_out_source,
            tags: tags_of(&c.tags),
            attributes: if c.attributes.is_object() { c.attributes } else { json!({}) },
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `contact.updated`: a contact changed (edited, opted out or in, a new number or user id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactUpdated {
    pub contact_id: Uuid,
    /// Whether it is opted out of marketing now.
    pub opted_out: bool,
    /// The contact as it is now.
    pub contact: ContactDto,
}

impl From<contacts::Model> for ContactUpdated {
    fn from(c: contacts::Model) -> Self {
        ContactUpdated { contact_id: c.id, opted_out: c.opted_out, contact: c.into() }
    }
}

/// An internal note (`note.created`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteDto {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub author_user_id: Option<Uuid>,
    /// The author's name (absent when the user was deleted).
    pub author_name: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl NoteDto {
    pub fn new(n: conversation_notes::Model, author_name: Option<String>) -> Self {
        NoteDto {
            id: n.id,
            conversation_id: n.conversation_id,
            author_user_id: n.author_user_id,
            author_name,
            body: n.body,
            created_at: n.created_at,
        }
    }
}

/// `agent.status`: an agent went online, away or offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatusChanged {
    pub agent_id: Uuid,
    pub user_id: Uuid,
    pub status: crate::entities::enums::AgentStatus,
}

/// `account.needs_reauth`: Meta refused a number's credentials; its sends wait for new ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountNeedsReauth {
    pub whatsapp_account_id: Uuid,
    pub phone_number_id: String,
    pub error: String,
}

/// `account.updated`: Meta reported a number's quality rating or messaging limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountUpdated {
    pub whatsapp_account_id: Uuid,
    pub quality_rating: Option<String>,
    pub messaging_limit: Option<String>,
}

/// `account.event`: an account-level webhook was stored (see `GET /api/whatsapp-accounts/{id}/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountEvent {
    pub whatsapp_account_id: Uuid,
    /// Meta's webhook field (`account_update`, `calls`, `errors`, …).
    pub field: String,
    /// The change's `value` as Meta sent it.
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// `template.updated`: templates were created, changed (status, category, quality) or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateUpdated {
    /// The number whose templates changed, when known.
    pub whatsapp_account_id: Option<Uuid>,
    /// The templates concerned (empty when only Meta's id is known, or after a sync: refetch).
    pub template_ids: Vec<Uuid>,
    /// Meta's template id, when the change came from Meta.
    pub meta_template_id: Option<String>,
    /// The status now, when it changed.
    pub status: Option<String>,
    /// The templates were deleted.
    pub deleted: bool,
}

/// `campaign.updated`: a campaign changed state (started, scheduled, paused — by a person or by a
/// rule, with the reason —, resumed, completed, cancelled, failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignUpdated {
    pub id: Uuid,
    pub name: String,
    pub state: crate::entities::enums::CampaignState,
    /// Why it is paused, failed or cancelled.
    pub state_reason: Option<String>,
}

impl From<&crate::entities::campaigns::Model> for CampaignUpdated {
    fn from(c: &crate::entities::campaigns::Model) -> Self {
        Self { id: c.id, name: c.name.clone(), state: c.state, state_reason: c.state_reason.clone() }
    }
}

/// `campaign.progress`: a running campaign's funnel, at most once a second per campaign while it
/// creates messages, and once when it completes (later statuses arrive as `message.status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignProgress {
    pub id: Uuid,
    pub recipients: u64,
    pub pending: u64,
    pub skipped: u64,
    pub failed_before_send: u64,
    pub queued: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub limited_by_meta: u64,
}

/// `webhook_endpoint.disabled`: an outgoing webhook endpoint kept failing and was disabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointDisabled {
    pub id: Uuid,
    pub url: String,
    pub reason: String,
}
