//! Inbound webhooks: the envelope Meta POSTs to the callback URL, typed views of every documented
//! message, status and template event, and an iterator that flattens a batch into events.
//!
//! Parsing is deliberately tolerant. Meta batches up to 1000 updates per POST and adds new message
//! types, fields and enum values without notice; one odd item must never cost the rest of the
//! batch. So the only hard failures are "not JSON" and "not a webhook envelope". Inside, every
//! message and status keeps its raw JSON beside the typed view, unknown `type`s and shapes that do
//! not fit the typed model fall back to an `Other` variant holding the raw JSON, and unknown change
//! fields are kept raw.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a webhook body could not be parsed at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not valid JSON.
    #[error("webhook body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The body is JSON but not a webhook envelope (`{"object":..,"entry":[..]}`).
    #[error("webhook body is not a webhook envelope: {0}")]
    Shape(&'static str),
}

/// Parses a raw webhook POST body.
///
/// Fails only when the body is not JSON or has no `entry` array; everything inside is parsed
/// leniently (see the module docs).
pub fn parse_webhook(bytes: &[u8]) -> Result<WebhookPayload, ParseError> {
    let value: Value = serde_json::from_slice(bytes)?;
    WebhookPayload::from_value(value)
}

/// The whole webhook body: `{"object": "whatsapp_business_account", "entry": [...]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookPayload {
    /// Always `whatsapp_business_account` for WhatsApp; empty if Meta left it out.
    pub object: String,
    /// One entry per WhatsApp Business Account (WABA) in the batch.
    pub entry: Vec<Entry>,
}

/// One `entry[]` item: the changes for one WABA.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `entry[].id`: the WhatsApp Business Account ID (route tenants by this).
    pub id: String,
    /// `entry[].time` (unix seconds); present on non-`messages` fields only.
    pub time: Option<i64>,
    /// The changes, in order.
    pub changes: Vec<Change>,
}

/// One `changes[]` item.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The subscription field, e.g. `messages`, `message_template_status_update`.
    pub field: String,
    /// The typed `value`, or the raw one for fields not modelled.
    pub value: ChangeValue,
}

/// The `value` of a change, typed by `field`.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeValue {
    /// `field = "messages"` with messages, statuses or errors.
    Messages(MessagesValue),
    /// `field = "message_template_status_update"`.
    TemplateStatus(TemplateStatusUpdate),
    /// `field = "template_category_update"`.
    TemplateCategory(TemplateCategoryUpdate),
    /// `field = "message_template_quality_update"`.
    TemplateQuality(TemplateQualityUpdate),
    /// `field = "smb_message_echoes"`: messages the business sent from the WhatsApp Business app
    /// on a coexistence number.
    Echoes(EchoesValue),
    /// `field = "history"`: earlier messages of a coexistence number, imported in chunks.
    History(HistoryValue),
    /// Any other field (account_update, group_*, history, ...), or a known field whose value did
    /// not fit the typed model: kept verbatim.
    Other(Value),
}

/// `value` of a `messages` change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessagesValue {
    /// Always `whatsapp`.
    pub messaging_product: Option<String>,
    /// The business phone number the change concerns.
    pub metadata: Option<Metadata>,
    /// `contacts[]`: the users behind `messages[]` (absent on `system` messages; may come with
    /// statuses to carry BSUIDs).
    pub contacts: Vec<Contact>,
    /// Inbound user messages.
    pub messages: Vec<InboundMessage>,
    /// Delivery statuses of outbound messages.
    pub statuses: Vec<MessageStatus>,
    /// Out-of-band errors (`value.errors[]`).
    pub errors: Vec<WebhookError>,
    /// Keys of `value` this model does not know (e.g. `groups`), kept verbatim.
    pub extra: Map<String, Value>,
}

/// `value` of a `smb_message_echoes` change: `message_echoes[]` have the shape of inbound
/// messages plus `to` (the customer) and, for username users, `to_user_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoesValue {
    /// The business phone number.
    pub metadata: Option<Metadata>,
    /// The customers (BSUID era).
    pub contacts: Vec<Contact>,
    /// The echoed messages.
    pub echoes: Vec<InboundMessage>,
    /// The value exactly as received.
    pub raw: Value,
}

impl EchoesValue {
    /// The `contacts[]` entry for an echo's recipient, else the only contact.
    pub fn contact_for(&self, echo: &InboundMessage) -> Option<&Contact> {
        let to = echo.to.as_deref().map(|t| t.trim_start_matches('+'));
        let by_id = self.contacts.iter().find(|c| {
            (to.is_some_and(|t| !t.is_empty()) && c.wa_id.as_deref() == to)
                || (echo.to_user_id.is_some() && c.user_id == echo.to_user_id)
        });
        by_id.or(if self.contacts.len() == 1 { self.contacts.first() } else { None })
    }
}

/// `value` of a `history` change.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryValue {
    /// The business phone number.
    pub metadata: Option<Metadata>,
    /// The chunks (`history[]`).
    pub chunks: Vec<HistoryChunk>,
    /// The value exactly as received.
    pub raw: Value,
}

/// One `history[]` item: a chunk of threads, or the errors of a declined sync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryChunk {
    /// `metadata.phase` (0: day 0-1, 1: day 1-90, 2: day 90-180).
    pub phase: Option<i64>,
    /// `metadata.chunk_order`.
    pub chunk_order: Option<i64>,
    /// `metadata.progress` (0-100).
    pub progress: Option<i64>,
    /// The conversations of this chunk.
    pub threads: Vec<HistoryThread>,
    /// `errors[]` (history sharing turned off, ...).
    pub errors: Vec<WebhookError>,
}

/// One thread of a history chunk: a customer and their messages with the business.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryThread {
    /// The customer's WhatsApp id (may be empty for username users).
    pub id: String,
    /// The customer's identity (BSUID era: `context {wa_id, user_id, username}`).
    pub context: Option<Contact>,
    /// The messages, customer's and business's; a business one has `to` or `from` equal to the
    /// business number.
    pub messages: Vec<InboundMessage>,
}

/// `value.metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The business display phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    /// The business phone number ID (route tenants by this).
    #[serde(deserialize_with = "de_string_lenient")]
    pub phone_number_id: String,
}

/// `value.contacts[]`: a WhatsApp user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contact {
    /// The user's WhatsApp ID (phone number); may be absent for username users (BSUID era).
    #[serde(default, deserialize_with = "de_opt_string_lenient", skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// Business-scoped user ID (BSUID), e.g. `US.13491208655302741918`.
    #[serde(default, deserialize_with = "de_opt_string_lenient", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Parent BSUID (`US.ENT.…`) for business portfolios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    /// Profile: name and, for username users, username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Fields this model does not know yet, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Contact {
    /// The profile name, if any.
    pub fn name(&self) -> Option<&str> {
        self.profile.as_ref()?.name.as_deref()
    }
}

/// `contacts[].profile`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    /// The user's profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's WhatsApp username, if they set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// An error object as found in `value.errors[]`, `messages[].errors[]` and `statuses[].errors[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WebhookError {
    /// Meta error code (see [`crate::error::classify`]).
    #[serde(default, deserialize_with = "de_opt_i64", skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Short title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Message (usually equal to the title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `error_data.details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<WebhookErrorData>,
    /// Link to the error-code docs (relative or absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// Fields this model does not know yet, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl WebhookError {
    /// `error_data.details`, if any.
    pub fn details(&self) -> Option<&str> {
        self.error_data.as_ref()?.details.as_deref()
    }
    /// The catalogue class of this error's code.
    pub fn class(&self) -> Option<crate::error::ErrorClass> {
        self.code.map(crate::error::classify)
    }
}

/// `error_data` inside a webhook error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WebhookErrorData {
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// One inbound user message: the common fields, the typed body and the raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// Sender's WhatsApp ID; may be absent for username users (use `from_user_id`).
    pub from: Option<String>,
    /// Sender's BSUID.
    pub from_user_id: Option<String>,
    /// The message ID (`wamid.…`); dedupe on it. Empty if Meta left it out.
    pub id: String,
    /// Unix seconds, as the string Meta sends.
    pub timestamp: Option<String>,
    /// The raw `type` value (e.g. `text`, `unsupported`, or something new).
    pub type_name: String,
    /// Reply/forward context.
    pub context: Option<InboundContext>,
    /// Click-to-WhatsApp ad referral.
    pub referral: Option<Referral>,
    /// `errors[]` on the message (unsupported/unknown types).
    pub errors: Vec<WebhookError>,
    /// The typed body.
    pub kind: MessageKind,
    /// Echoes and history only: the customer the business wrote to.
    pub to: Option<String>,
    /// Echoes only: the customer's BSUID.
    pub to_user_id: Option<String>,
    /// History only: `history_context.status` (`READ`, `DELIVERED`, ...).
    pub history_status: Option<String>,
    /// The message exactly as received.
    pub raw: Value,
}

impl InboundMessage {
    /// `timestamp` parsed as unix seconds.
    pub fn timestamp_secs(&self) -> Option<i64> {
        self.timestamp.as_deref()?.parse().ok()
    }

    /// The media body (image, audio, video, document, sticker), to download by `id`.
    pub fn media(&self) -> Option<&InboundMedia> {
        match &self.kind {
            MessageKind::Image(m)
            | MessageKind::Audio(m)
            | MessageKind::Video(m)
            | MessageKind::Document(m)
            | MessageKind::Sticker(m) => Some(m),
            _ => None,
        }
    }

    /// The sender's identity: `from` (wa_id) or, for username users, `from_user_id` (BSUID).
    pub fn sender(&self) -> Option<&str> {
        self.from.as_deref().or(self.from_user_id.as_deref())
    }

    /// The text a human would read: text body, media caption, button/list title, reaction emoji.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            MessageKind::Text(t) => Some(&t.body),
            MessageKind::Image(m)
            | MessageKind::Video(m)
            | MessageKind::Document(m)
            | MessageKind::Audio(m)
            | MessageKind::Sticker(m) => m.caption.as_deref(),
            MessageKind::Button(b) => b.text.as_deref(),
            MessageKind::Interactive(InteractiveReply::ButtonReply { title, .. })
            | MessageKind::Interactive(InteractiveReply::ListReply { title, .. }) => Some(title),
            MessageKind::Reaction(r) => r.emoji.as_deref(),
            MessageKind::System(s) => s.body.as_deref(),
            _ => None,
        }
    }

    /// Types one raw `messages[]` item (never fails: unknown shapes become `MessageKind::Other`).
    pub fn from_raw(raw: Value) -> Self {
        let obj = raw.as_object();
        let get = |k: &str| obj.and_then(|o| o.get(k));
        let type_name = get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let kind = MessageKind::parse(&type_name, obj);
        InboundMessage {
            from: get("from").and_then(lenient_string),
            from_user_id: get("from_user_id").and_then(lenient_string),
            id: get("id").and_then(lenient_string).unwrap_or_default(),
            timestamp: get("timestamp").and_then(lenient_string),
            type_name,
            context: get("context").and_then(typed),
            referral: get("referral").and_then(typed),
            errors: get("errors").map(lenient_vec).unwrap_or_default(),
            kind,
            to: get("to").and_then(lenient_string).map(|t| t.trim_start_matches('+').to_string()),
            to_user_id: get("to_user_id").and_then(lenient_string),
            history_status: get("history_context").and_then(|h| h.get("status")).and_then(lenient_string),
            raw,
        }
    }
}

/// The typed body of an inbound message, by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageKind {
    /// `text`.
    Text(InboundText),
    /// `image`.
    Image(InboundMedia),
    /// `audio` (`voice: true` for voice notes).
    Audio(InboundMedia),
    /// `video`.
    Video(InboundMedia),
    /// `document` (with `filename`).
    Document(InboundMedia),
    /// `sticker` (with `animated`).
    Sticker(InboundMedia),
    /// `location`.
    Location(InboundLocation),
    /// `contacts`: shared contact cards.
    Contacts(Vec<crate::send::ContactCard>),
    /// `interactive`: a reply to a button, list or flow.
    Interactive(InteractiveReply),
    /// `button`: a template quick-reply tap.
    Button(InboundButton),
    /// `reaction` (an empty or missing emoji means the reaction was removed).
    Reaction(InboundReaction),
    /// `order`: a cart sent from a catalog.
    Order(InboundOrder),
    /// `system`: e.g. the user changed number.
    System(InboundSystem),
    /// `unsupported` or `unknown`: see the message's `errors` (e.g. 131051).
    Unsupported {
        /// The inner type when Meta tells it (`"unsupported": {"type": "pool"}`).
        inner_type: Option<String>,
    },
    /// A type this model does not know, or a known type whose body did not fit: the body under
    /// the `type` key (or `Null`), kept verbatim. The full message is in `raw`.
    Other {
        /// The `type` value.
        type_name: String,
        /// The body object under the `type` key, if any.
        body: Value,
    },
}

impl MessageKind {
    fn parse(type_name: &str, obj: Option<&Map<String, Value>>) -> Self {
        let body = obj.and_then(|o| o.get(type_name)).cloned().unwrap_or(Value::Null);
        let parsed = match type_name {
            "text" => from_val(&body).map(MessageKind::Text),
            "image" => from_val(&body).map(MessageKind::Image),
            "audio" => from_val(&body).map(MessageKind::Audio),
            "video" => from_val(&body).map(MessageKind::Video),
            "document" => from_val(&body).map(MessageKind::Document),
            "sticker" => from_val(&body).map(MessageKind::Sticker),
            "location" => from_val(&body).map(MessageKind::Location),
            "contacts" => from_val(&body).map(MessageKind::Contacts),
            "interactive" => InteractiveReply::parse(&body).map(MessageKind::Interactive),
            "button" => from_val(&body).map(MessageKind::Button),
            "reaction" => from_val(&body).map(MessageKind::Reaction),
            "order" => from_val(&body).map(MessageKind::Order),
            "system" => from_val(&body).map(MessageKind::System),
            "unsupported" | "unknown" => {
                Some(MessageKind::Unsupported { inner_type: body.get("type").and_then(lenient_string) })
            }
            _ => None,
        };
        parsed.unwrap_or_else(|| MessageKind::Other { type_name: type_name.to_owned(), body })
    }
}

/// `text` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundText {
    /// The text.
    pub body: String,
}

/// Body of image/audio/video/document/sticker messages (fields absent for a kind are `None`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InboundMedia {
    /// Media ID: fetch the download URL with `GET /{id}` (valid 7 days).
    #[serde(default, deserialize_with = "de_string_lenient")]
    pub id: String,
    /// MIME type, e.g. `image/jpeg`, `audio/ogg; codecs=opus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Base64 SHA-256 of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Caption (image, video, document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// File name (document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// True for voice notes (audio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<bool>,
    /// True for animated stickers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animated: Option<bool>,
    /// Download URL carried by newer webhooks (needs the bearer token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `location` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundLocation {
    /// Latitude in degrees.
    #[serde(deserialize_with = "de_f64_lenient")]
    pub latitude: f64,
    /// Longitude in degrees.
    #[serde(deserialize_with = "de_f64_lenient")]
    pub longitude: f64,
    /// Place name (absent for "current location").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Place address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Place URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `interactive` reply body, by its inner `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum InteractiveReply {
    /// Tap on a reply button.
    ButtonReply {
        /// The button id you set.
        id: String,
        /// The button title.
        title: String,
    },
    /// Choice of a list row.
    ListReply {
        /// The row id you set.
        id: String,
        /// The row title.
        title: String,
        /// The row description.
        description: Option<String>,
    },
    /// WhatsApp Flow completion.
    NfmReply {
        /// Usually `flow`.
        name: Option<String>,
        /// Usually `Sent`.
        body: Option<String>,
        /// The flow response: a JSON document encoded as a string.
        response_json: String,
    },
    /// Any other interactive reply, kept verbatim.
    Other(Value),
}

impl InteractiveReply {
    fn parse(body: &Value) -> Option<Self> {
        #[derive(Deserialize)]
        struct Reply {
            #[serde(deserialize_with = "de_string_lenient")]
            id: String,
            #[serde(default)]
            title: String,
            #[serde(default)]
            description: Option<String>,
        }
        #[derive(Deserialize)]
        struct Nfm {
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            body: Option<String>,
            #[serde(default)]
            response_json: String,
        }
        let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
        let inner = body.get(kind).cloned().unwrap_or(Value::Null);
        let typed = match kind {
            "button_reply" => {
                from_val::<Reply>(&inner).map(|r| InteractiveReply::ButtonReply { id: r.id, title: r.title })
            }
            "list_reply" => from_val::<Reply>(&inner).map(|r| InteractiveReply::ListReply {
                id: r.id,
                title: r.title,
                description: r.description,
            }),
            "nfm_reply" => from_val::<Nfm>(&inner).map(|n| InteractiveReply::NfmReply {
                name: n.name,
                body: n.body,
                response_json: n.response_json,
            }),
            _ => None,
        };
        Some(typed.unwrap_or_else(|| InteractiveReply::Other(body.clone())))
    }

    /// For a flow reply, `response_json` decoded.
    pub fn flow_response(&self) -> Option<Value> {
        match self {
            InteractiveReply::NfmReply { response_json, .. } => serde_json::from_str(response_json).ok(),
            _ => None,
        }
    }
}

/// `button` body: a template quick-reply tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundButton {
    /// The payload set on the template button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The button label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `reaction` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundReaction {
    /// The message reacted to.
    #[serde(default)]
    pub message_id: String,
    /// The emoji; empty or missing when the user removed a reaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
}

impl InboundReaction {
    /// True when this is an un-react (empty or missing emoji).
    pub fn is_removal(&self) -> bool {
        self.emoji.as_deref().is_none_or(str::is_empty)
    }
}

/// `order` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundOrder {
    /// The catalog the items come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<String>,
    /// Text the user added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Cart lines.
    #[serde(default)]
    pub product_items: Vec<OrderItem>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Product SKU in the catalog.
    #[serde(default)]
    pub product_retailer_id: String,
    /// Quantity.
    #[serde(default, deserialize_with = "de_opt_f64")]
    pub quantity: Option<f64>,
    /// Unit price.
    #[serde(default, deserialize_with = "de_opt_f64")]
    pub item_price: Option<f64>,
    /// ISO 4217 currency code.
    #[serde(default)]
    pub currency: Option<String>,
}

/// `system` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundSystem {
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `user_changed_number`, `customer_identity_changed`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub system_type: Option<String>,
    /// The user's new WhatsApp ID (number change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// Older payloads name the user here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// Legacy number changes (`customer_changed_number`): the new WhatsApp id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_wa_id: Option<String>,
    /// The user's new BSUID (`user_changed_number`, `user_changed_user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `user_changed_user_id`: the BSUID it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_user_id: Option<String>,
    /// Identity-change block (`customer_identity_changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Value>,
}

/// `context` on an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InboundContext {
    /// Sender of the quoted message (the business number for replies to you).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// ID of the quoted message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The message was forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
    /// The message was forwarded more than 5 times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequently_forwarded: Option<bool>,
    /// Product the user asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_product: Option<ReferredProduct>,
}

/// `context.referred_product`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferredProduct {
    /// Catalog ID.
    #[serde(default)]
    pub catalog_id: String,
    /// Product SKU.
    #[serde(default)]
    pub product_retailer_id: String,
}

/// `referral`: the message came from a Click-to-WhatsApp ad or post.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Referral {
    /// The ad or post URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// The ad or post ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// `ad` or `post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Ad body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Ad headline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// `image` or `video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Ad image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Ad video URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    /// Ad video thumbnail URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Click ID for conversion tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctwa_clid: Option<String>,
    /// Welcome message shown with the ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome_message: Option<WelcomeMessage>,
}

/// `referral.welcome_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeMessage {
    /// Its text.
    #[serde(default)]
    pub text: String,
}

/// Delivery state of an outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// Accepted by WhatsApp, sent to the device.
    Sent,
    /// Delivered to the device (may be skipped: read implies delivered).
    Delivered,
    /// Read by the user.
    Read,
    /// First play of a voice message.
    Played,
    /// Failed; see `errors`.
    Failed,
    /// A value this model does not know.
    Other(String),
}

impl StatusKind {
    /// Parses Meta's lowercase status string.
    pub fn parse(s: &str) -> Self {
        match s {
            "sent" => StatusKind::Sent,
            "delivered" => StatusKind::Delivered,
            "read" => StatusKind::Read,
            "played" => StatusKind::Played,
            "failed" => StatusKind::Failed,
            other => StatusKind::Other(other.to_owned()),
        }
    }

    /// Meta's string for this status.
    pub fn as_str(&self) -> &str {
        match self {
            StatusKind::Sent => "sent",
            StatusKind::Delivered => "delivered",
            StatusKind::Read => "read",
            StatusKind::Played => "played",
            StatusKind::Failed => "failed",
            StatusKind::Other(s) => s,
        }
    }

    /// Progress rank for a monotonic state machine: statuses arrive out of order and `delivered`
    /// can be skipped or come after `read`, so only apply a status whose rank is higher.
    /// `failed` is terminal (highest); unknown values rank 0.
    pub fn rank(&self) -> u8 {
        match self {
            StatusKind::Other(_) => 0,
            StatusKind::Sent => 1,
            StatusKind::Delivered => 2,
            StatusKind::Read => 3,
            StatusKind::Played => 4,
            StatusKind::Failed => 5,
        }
    }
}

/// One `statuses[]` item, typed, with its raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageStatus {
    /// The outbound message ID (`wamid.…`).
    pub id: String,
    /// The new state.
    pub status: StatusKind,
    /// Unix seconds, as Meta's string.
    pub timestamp: Option<String>,
    /// Recipient's WhatsApp ID or group ID; may be absent for username users.
    pub recipient_id: Option<String>,
    /// Recipient's BSUID.
    pub recipient_user_id: Option<String>,
    /// Recipient's parent BSUID.
    pub parent_recipient_user_id: Option<String>,
    /// `group` for group sends.
    pub recipient_type: Option<String>,
    /// Participant in a group send.
    pub recipient_participant_id: Option<String>,
    /// The opaque string you attached to the send.
    pub biz_opaque_callback_data: Option<String>,
    /// Conversation (omitted from v24.0 except in free entry point windows).
    pub conversation: Option<Conversation>,
    /// Pricing (with `sent` and one of delivered/read).
    pub pricing: Option<Pricing>,
    /// Errors (with `failed`).
    pub errors: Vec<WebhookError>,
    /// The status exactly as received.
    pub raw: Value,
}

impl MessageStatus {
    /// `timestamp` parsed as unix seconds.
    pub fn timestamp_secs(&self) -> Option<i64> {
        self.timestamp.as_deref()?.parse().ok()
    }

    /// Types one raw `statuses[]` item (never fails: unknown values become `StatusKind::Other`).
    pub fn from_raw(raw: Value) -> Self {
        let obj = raw.as_object();
        let get = |k: &str| obj.and_then(|o| o.get(k));
        let s = |k: &str| get(k).and_then(lenient_string);
        MessageStatus {
            id: s("id").unwrap_or_default(),
            status: StatusKind::parse(&s("status").unwrap_or_default()),
            timestamp: s("timestamp"),
            recipient_id: s("recipient_id"),
            recipient_user_id: s("recipient_user_id"),
            parent_recipient_user_id: s("parent_recipient_user_id"),
            recipient_type: s("recipient_type"),
            recipient_participant_id: s("recipient_participant_id"),
            biz_opaque_callback_data: s("biz_opaque_callback_data"),
            conversation: get("conversation").and_then(typed),
            pricing: get("pricing").and_then(typed),
            errors: get("errors").map(lenient_vec).unwrap_or_default(),
            raw,
        }
    }
}

/// `statuses[].conversation`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Conversation {
    /// Conversation ID (per message on ≤ v23.0).
    #[serde(default, deserialize_with = "de_opt_string_lenient", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Expiry, unix seconds (on `sent` only).
    #[serde(default, deserialize_with = "de_opt_string_lenient", skip_serializing_if = "Option::is_none")]
    pub expiration_timestamp: Option<String>,
    /// `origin.type`: the conversation category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<ConversationOrigin>,
}

/// `conversation.origin`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConversationOrigin {
    /// Category, e.g. `service`, `marketing` (open set).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub origin_type: Option<String>,
}

/// `statuses[].pricing`, for both the conversation-based (CBP) and per-message (PMP) models.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pricing {
    /// Whether billed (to be deprecated by Meta: prefer `pricing_type` + `category`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
    /// `CBP` or `PMP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_model: Option<String>,
    /// `regular`, `free_customer_service` or `free_entry_point` (PMP).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub pricing_type: Option<String>,
    /// Pricing category (open set; Meta spells `authentication-international` both ways).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

impl Pricing {
    /// The category with `-` normalised to `_` (Meta uses both spellings).
    pub fn normalized_category(&self) -> Option<String> {
        self.category.as_ref().map(|c| c.replace('-', "_"))
    }
}

/// `value` of `message_template_status_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateStatusUpdate {
    /// `APPROVED`, `REJECTED`, `PAUSED`, ... (open set).
    #[serde(default)]
    pub event: String,
    /// Template ID.
    #[serde(default, deserialize_with = "de_opt_i64", skip_serializing_if = "Option::is_none")]
    pub message_template_id: Option<i64>,
    /// Template name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_name: Option<String>,
    /// Language, as Meta sends it (`en-US` or `en_US`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_language: Option<String>,
    /// Rejection reason, `NONE`, or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_category: Option<String>,
    /// `disable_info.disable_date` etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_info: Option<Value>,
    /// `other_info {title, description}` (pauses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_info: Option<Value>,
    /// `rejection_info {reason, recommendation}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_info: Option<Value>,
    /// Fields this model does not know yet, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `value` of `template_category_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateCategoryUpdate {
    /// Template ID.
    #[serde(default, deserialize_with = "de_opt_i64", skip_serializing_if = "Option::is_none")]
    pub message_template_id: Option<i64>,
    /// Template name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_name: Option<String>,
    /// Language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_language: Option<String>,
    /// Category before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_category: Option<String>,
    /// Category after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_category: Option<String>,
    /// Category Meta will apply (impending changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_category: Option<String>,
    /// Fields this model does not know yet, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `value` of `message_template_quality_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateQualityUpdate {
    /// Template ID.
    #[serde(default, deserialize_with = "de_opt_i64", skip_serializing_if = "Option::is_none")]
    pub message_template_id: Option<i64>,
    /// Template name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_name: Option<String>,
    /// Language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_language: Option<String>,
    /// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_quality_score: Option<String>,
    /// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_quality_score: Option<String>,
    /// Fields this model does not know yet, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One flattened event of a webhook batch; see [`WebhookPayload::events`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WebhookEvent<'a> {
    /// An inbound user message.
    Message {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// `metadata.phone_number_id`.
        phone_number_id: Option<&'a str>,
        /// The sender from `contacts[]` (matched on wa_id/user_id), if any.
        contact: Option<&'a Contact>,
        /// The message.
        message: &'a InboundMessage,
    },
    /// A delivery status.
    Status {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// `metadata.phone_number_id`.
        phone_number_id: Option<&'a str>,
        /// The status.
        status: &'a MessageStatus,
    },
    /// An out-of-band error (`value.errors[]`).
    Error {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// `metadata.phone_number_id`.
        phone_number_id: Option<&'a str>,
        /// The error.
        error: &'a WebhookError,
    },
    /// A template status change.
    TemplateStatus {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// The update.
        update: &'a TemplateStatusUpdate,
    },
    /// A template category change.
    TemplateCategory {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// The update.
        update: &'a TemplateCategoryUpdate,
    },
    /// A template quality change.
    TemplateQuality {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// The update.
        update: &'a TemplateQualityUpdate,
    },
    /// A message the business sent from the WhatsApp Business app (coexistence).
    Echo {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// `metadata.phone_number_id`.
        phone_number_id: Option<&'a str>,
        /// The recipient from `contacts[]`, if any.
        contact: Option<&'a Contact>,
        /// The echoed message (`to` is the customer).
        message: &'a InboundMessage,
    },
    /// A message of an imported history thread (either direction).
    History {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// `metadata.phone_number_id`.
        phone_number_id: Option<&'a str>,
        /// `metadata.display_phone_number`: a message `from` it is the business's.
        business_number: Option<&'a str>,
        /// The thread (its `id` is the customer).
        thread: &'a HistoryThread,
        /// The message.
        message: &'a InboundMessage,
    },
    /// Any other change, kept raw.
    Other {
        /// `entry[].id`: the WABA.
        waba_id: &'a str,
        /// The change field.
        field: &'a str,
        /// The raw value.
        value: &'a Value,
    },
}

impl WebhookPayload {
    /// Builds the typed payload from already-parsed JSON.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        let Value::Object(mut obj) = value else {
            return Err(ParseError::Shape("top level is not an object"));
        };
        let object = obj.get("object").and_then(lenient_string).unwrap_or_default();
        let entries = match obj.remove("entry") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(ParseError::Shape("`entry` is not an array")),
            None => return Err(ParseError::Shape("no `entry`")),
        };
        Ok(WebhookPayload { object, entry: entries.into_iter().map(Entry::from_value).collect() })
    }

    /// All events of the batch, in order: messages, statuses, errors and other changes.
    pub fn events(&self) -> impl Iterator<Item = WebhookEvent<'_>> {
        self.entry.iter().flat_map(|e| e.events())
    }

    /// Every inbound message of the batch.
    pub fn messages(&self) -> impl Iterator<Item = &InboundMessage> {
        self.messages_values().flat_map(|v| v.messages.iter())
    }

    /// Every status of the batch.
    pub fn statuses(&self) -> impl Iterator<Item = &MessageStatus> {
        self.messages_values().flat_map(|v| v.statuses.iter())
    }

    fn messages_values(&self) -> impl Iterator<Item = &MessagesValue> {
        self.entry.iter().flat_map(|e| e.changes.iter()).filter_map(|c| match &c.value {
            ChangeValue::Messages(v) => Some(v),
            _ => None,
        })
    }
}

impl Entry {
    fn from_value(value: Value) -> Self {
        let mut obj = match value {
            Value::Object(o) => o,
            other => {
                // Not an object: keep it as one raw change so nothing is silently dropped.
                return Entry {
                    id: String::new(),
                    time: None,
                    changes: vec![Change { field: String::new(), value: ChangeValue::Other(other) }],
                };
            }
        };
        let id = obj.get("id").and_then(lenient_string).unwrap_or_default();
        let time = obj.get("time").and_then(lenient_i64);
        let changes = match obj.remove("changes") {
            Some(Value::Array(a)) => a.into_iter().map(Change::from_value).collect(),
            Some(other) => vec![Change { field: String::new(), value: ChangeValue::Other(other) }],
            None => Vec::new(),
        };
        Entry { id, time, changes }
    }

    /// The events of this entry, in order.
    pub fn events(&self) -> impl Iterator<Item = WebhookEvent<'_>> {
        let waba_id = self.id.as_str();
        self.changes.iter().flat_map(move |c| c.events(waba_id))
    }
}

impl Change {
    fn from_value(value: Value) -> Self {
        let mut obj = match value {
            Value::Object(o) => o,
            other => {
                return Change { field: String::new(), value: ChangeValue::Other(other) };
            }
        };
        let field = obj.get("field").and_then(lenient_string).unwrap_or_default();
        let value = obj.remove("value").unwrap_or(Value::Null);
        let typed = match field.as_str() {
            "messages" => MessagesValue::from_value(&value).map(ChangeValue::Messages),
            "message_template_status_update" => from_val(&value).map(ChangeValue::TemplateStatus),
            "template_category_update" => from_val(&value).map(ChangeValue::TemplateCategory),
            "message_template_quality_update" => from_val(&value).map(ChangeValue::TemplateQuality),
            "smb_message_echoes" => EchoesValue::from_value(&value).map(ChangeValue::Echoes),
            "history" => HistoryValue::from_value(&value).map(ChangeValue::History),
            _ => None,
        };
        Change { field, value: typed.unwrap_or(ChangeValue::Other(value)) }
    }

    fn events<'a>(&'a self, waba_id: &'a str) -> Vec<WebhookEvent<'a>> {
        let field = self.field.as_str();
        match &self.value {
            ChangeValue::Messages(v) => {
                let pn = v.metadata.as_ref().map(|m| m.phone_number_id.as_str());
                let mut out = Vec::with_capacity(v.messages.len() + v.statuses.len() + v.errors.len());
                for message in &v.messages {
                    out.push(WebhookEvent::Message {
                        waba_id,
                        phone_number_id: pn,
                        contact: v.contact_for(message),
                        message,
                    });
                }
                for status in &v.statuses {
                    out.push(WebhookEvent::Status { waba_id, phone_number_id: pn, status });
                }
                for error in &v.errors {
                    out.push(WebhookEvent::Error { waba_id, phone_number_id: pn, error });
                }
                out
            }
            ChangeValue::TemplateStatus(update) => {
                vec![WebhookEvent::TemplateStatus { waba_id, update }]
            }
            ChangeValue::TemplateCategory(update) => {
                vec![WebhookEvent::TemplateCategory { waba_id, update }]
            }
            ChangeValue::TemplateQuality(update) => {
                vec![WebhookEvent::TemplateQuality { waba_id, update }]
            }
            ChangeValue::Echoes(v) => {
                let pn = v.metadata.as_ref().map(|m| m.phone_number_id.as_str());
                v.echoes
                    .iter()
                    .map(|message| WebhookEvent::Echo {
                        waba_id,
                        phone_number_id: pn,
                        contact: v.contact_for(message),
                        message,
                    })
                    .collect()
            }
            ChangeValue::History(v) => {
                let pn = v.metadata.as_ref().map(|m| m.phone_number_id.as_str());
                let business_number = v.metadata.as_ref().and_then(|m| m.display_phone_number.as_deref());
                let mut out = Vec::new();
                for chunk in &v.chunks {
                    for thread in &chunk.threads {
                        for message in &thread.messages {
                            out.push(WebhookEvent::History {
                                waba_id,
                                phone_number_id: pn,
                                business_number,
                                thread,
                                message,
                            });
                        }
                    }
                }
                if v.chunks.iter().any(|c| !c.errors.is_empty()) {
                    // A declined sync (errors only): kept raw for the account's events.
                    out.push(WebhookEvent::Other { waba_id, field, value: &v.raw });
                }
                out
            }
            ChangeValue::Other(value) => vec![WebhookEvent::Other { waba_id, field, value }],
        }
    }
}

impl EchoesValue {
    /// `None` when there are no echoes (kept raw instead).
    fn from_value(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        let echoes: Vec<InboundMessage> =
            obj.get("message_echoes").map(as_array)?.into_iter().map(InboundMessage::from_raw).collect();
        if echoes.is_empty() {
            return None;
        }
        Some(EchoesValue {
            metadata: obj.get("metadata").and_then(typed),
            contacts: obj.get("contacts").map(lenient_vec).unwrap_or_default(),
            echoes,
            raw: value.clone(),
        })
    }
}

impl HistoryValue {
    /// `None` when the value has no `history[]` (kept raw instead).
    fn from_value(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        let chunks: Vec<HistoryChunk> = obj
            .get("history")
            .map(as_array)?
            .iter()
            .map(|c| {
                let md = c.get("metadata");
                let num = |k: &str| md.and_then(|m| m.get(k)).and_then(lenient_i64);
                HistoryChunk {
                    phase: num("phase"),
                    chunk_order: num("chunk_order"),
                    progress: num("progress"),
                    threads: c
                        .get("threads")
                        .map(as_array)
                        .unwrap_or_default()
                        .iter()
                        .map(|t| HistoryThread {
                            id: t.get("id").and_then(lenient_string).unwrap_or_default(),
                            context: t.get("context").and_then(typed),
                            messages: t
                                .get("messages")
                                .map(as_array)
                                .unwrap_or_default()
                                .into_iter()
                                .map(InboundMessage::from_raw)
                                .collect(),
                        })
                        .collect(),
                    errors: c.get("errors").map(lenient_vec).unwrap_or_default(),
                }
            })
            .collect();
        if chunks.is_empty() {
            return None;
        }
        Some(HistoryValue { metadata: obj.get("metadata").and_then(typed), chunks, raw: value.clone() })
    }
}

impl MessagesValue {
    /// `None` when the value has no messages, statuses or errors: such a value (e.g. group
    /// events under `messages`) is kept raw instead.
    fn from_value(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        let mut out = MessagesValue::default();
        for (k, v) in obj {
            match k.as_str() {
                "messaging_product" => out.messaging_product = lenient_string(v),
                "metadata" => out.metadata = typed(v),
                "contacts" => out.contacts = lenient_vec(v),
                "messages" => out.messages = as_array(v).into_iter().map(InboundMessage::from_raw).collect(),
                "statuses" => out.statuses = as_array(v).into_iter().map(MessageStatus::from_raw).collect(),
                "errors" => out.errors = lenient_vec(v),
                _ => {
                    out.extra.insert(k.clone(), v.clone());
                }
            }
        }
        if out.messages.is_empty() && out.statuses.is_empty() && out.errors.is_empty() {
            return None;
        }
        Some(out)
    }

    /// The `contacts[]` entry for a message: matched on wa_id or BSUID, else the only contact.
    pub fn contact_for(&self, message: &InboundMessage) -> Option<&Contact> {
        let by_id = self.contacts.iter().find(|c| {
            (message.from.is_some() && c.wa_id == message.from)
                || (message.from_user_id.is_some() && c.user_id == message.from_user_id)
        });
        by_id.or(if self.contacts.len() == 1 { self.contacts.first() } else { None })
    }
}

// ---- serialisation ----------------------------------------------------------------------------
//
// Serialising gives back Meta's JSON: messages and statuses write their `raw` JSON (the source of
// truth, so nothing is lost), everything else its typed fields plus the unknown ones kept aside.
// This lets a simulator build webhooks with the same model the product parses them with.

impl Serialize for WebhookPayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("object", &self.object)?;
        m.serialize_entry("entry", &self.entry)?;
        m.end()
    }
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        if let Some(t) = self.time {
            m.serialize_entry("time", &t)?;
        }
        m.serialize_entry("changes", &self.changes)?;
        m.end()
    }
}

impl Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("field", &self.field)?;
        m.serialize_entry("value", &self.value)?;
        m.end()
    }
}

impl Serialize for ChangeValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChangeValue::Messages(v) => v.serialize(s),
            ChangeValue::TemplateStatus(v) => v.serialize(s),
            ChangeValue::TemplateCategory(v) => v.serialize(s),
            ChangeValue::TemplateQuality(v) => v.serialize(s),
            ChangeValue::Echoes(v) => v.raw.serialize(s),
            ChangeValue::History(v) => v.raw.serialize(s),
            ChangeValue::Other(v) => v.serialize(s),
        }
    }
}

impl Serialize for MessagesValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(p) = &self.messaging_product {
            m.serialize_entry("messaging_product", p)?;
        }
        if let Some(md) = &self.metadata {
            m.serialize_entry("metadata", md)?;
        }
        if !self.contacts.is_empty() {
            m.serialize_entry("contacts", &self.contacts)?;
        }
        if !self.messages.is_empty() {
            m.serialize_entry("messages", &self.messages)?;
        }
        if !self.statuses.is_empty() {
            m.serialize_entry("statuses", &self.statuses)?;
        }
        if !self.errors.is_empty() {
            m.serialize_entry("errors", &self.errors)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for InboundMessage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl Serialize for MessageStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for WebhookPayload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        WebhookPayload::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

// ---- lenient helpers -------------------------------------------------------------------------

fn as_array(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        // A lone object where an array was expected: treat it as a one-item list, not an error.
        Value::Object(_) => vec![v.clone()],
        _ => Vec::new(),
    }
}

fn from_val<T: DeserializeOwned>(v: &Value) -> Option<T> {
    T::deserialize(v).ok()
}

fn typed<T: DeserializeOwned>(v: &Value) -> Option<T> {
    from_val(v)
}

/// Parses each item on its own, so one bad item does not drop the others; items that do not fit
/// are skipped only here, where the raw JSON is still kept by the owner.
fn lenient_vec<T: DeserializeOwned>(v: &Value) -> Vec<T> {
    as_array(v).iter().filter_map(from_val).collect()
}

fn lenient_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn lenient_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn de_opt_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(lenient_i64(&Value::deserialize(d)?))
}

fn de_opt_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn de_f64_lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64().ok_or_else(|| serde::de::Error::custom("not a float")),
        Value::String(s) => s.trim().parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected a number")),
    }
}

fn de_opt_string_lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(lenient_string(&Value::deserialize(d)?))
}

fn de_string_lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    lenient_string(&Value::deserialize(d)?).ok_or_else(|| serde::de::Error::custom("expected a string"))
}
