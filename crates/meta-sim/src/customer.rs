//! Messages a simulated WhatsApp user sends to a business number.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Media carried by a customer message. The simulator stores the bytes as a media object of the
/// receiving number, so the business can `GET /{media-id}` and download it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MediaInput {
    /// MIME type; defaults per kind (image/jpeg, audio/ogg, video/mp4, application/pdf, image/webp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file content (`data_base64` in JSON); a small placeholder when absent.
    #[serde(
        default,
        rename = "data_base64",
        serialize_with = "ser_b64",
        deserialize_with = "de_b64",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Vec<u8>>,
}

fn ser_b64<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_str(&STANDARD.encode(b)),
        None => s.serialize_none(),
    }
}

fn de_b64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| STANDARD.decode(s.trim()).map_err(serde::de::Error::custom)).transpose()
}

impl MediaInput {
    pub fn new(mime_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self { mime_type: Some(mime_type.into()), data: Some(data.into()) }
    }
}

/// A message from a simulated customer. In JSON (control API) it is tagged by `type`, e.g.
/// `{"type":"text","body":"hi"}`, `{"type":"button_reply","id":"yes","title":"Yes"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerMessage {
    Text {
        body: String,
    },
    Image {
        #[serde(flatten)]
        media: MediaInput,
        #[serde(default)]
        caption: Option<String>,
    },
    /// `voice: true` makes it a voice note (`audio/ogg; codecs=opus`).
    Audio {
        #[serde(flatten)]
        media: MediaInput,
        #[serde(default)]
        voice: bool,
    },
    Video {
        #[serde(flatten)]
        media: MediaInput,
        #[serde(default)]
        caption: Option<String>,
    },
    Document {
        #[serde(flatten)]
        media: MediaInput,
        #[serde(default)]
        caption: Option<String>,
        #[serde(default)]
        filename: Option<String>,
    },
    Sticker {
        #[serde(flatten)]
        media: MediaInput,
        #[serde(default)]
        animated: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        url: Option<String>,
    },
    /// Shared contact cards, in Meta's inbound shape (`name`, `phones`, `emails`, `org`, …).
    Contacts {
        contacts: Vec<Value>,
    },
    /// Tap on an interactive reply button. Its `context` points to the business message
    /// (the last one sent to this user unless `reply_to` says otherwise).
    ButtonReply {
        id: String,
        title: String,
    },
    /// Choice in an interactive list.
    ListReply {
        id: String,
        title: String,
        #[serde(default)]
        description: Option<String>,
    },
    /// Tap on a template quick-reply button.
    Button {
        payload: String,
        text: String,
    },
    /// A reaction to a message; an empty `emoji` removes the reaction.
    Reaction {
        message_id: String,
        #[serde(default)]
        emoji: String,
    },
    /// A reply (quoting `reply_to`) carrying another message.
    Reply {
        reply_to: String,
        message: Box<CustomerMessage>,
    },
    /// Escape hatch: the `messages[]` element as JSON. `from`, `id`, `timestamp` are filled in
    /// when missing.
    Raw {
        message: Value,
    },
}

impl CustomerMessage {
    pub fn text(body: impl Into<String>) -> Self {
        CustomerMessage::Text { body: body.into() }
    }

    /// Wrap this message as a reply to `wamid` (adds `context {from, id}`).
    pub fn reply_to(self, wamid: impl Into<String>) -> Self {
        CustomerMessage::Reply { reply_to: wamid.into(), message: Box::new(self) }
    }

    /// The inbound `type` this message arrives as.
    pub fn kind(&self) -> &str {
        match self {
            CustomerMessage::Text { .. } => "text",
            CustomerMessage::Image { .. } => "image",
            CustomerMessage::Audio { .. } => "audio",
            CustomerMessage::Video { .. } => "video",
            CustomerMessage::Document { .. } => "document",
            CustomerMessage::Sticker { .. } => "sticker",
            CustomerMessage::Location { .. } => "location",
            CustomerMessage::Contacts { .. } => "contacts",
            CustomerMessage::ButtonReply { .. } | CustomerMessage::ListReply { .. } => "interactive",
            CustomerMessage::Button { .. } => "button",
            CustomerMessage::Reaction { .. } => "reaction",
            CustomerMessage::Reply { message, .. } => message.kind(),
            CustomerMessage::Raw { message } => message.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }
}

/// Default MIME type of each media kind.
pub(crate) fn default_mime(kind: &str, voice: bool) -> &'static str {
    match kind {
        "image" => "image/jpeg",
        "audio" if voice => "audio/ogg; codecs=opus",
        "audio" => "audio/ogg",
        "video" => "video/mp4",
        "document" => "application/pdf",
        "sticker" => "image/webp",
        _ => "application/octet-stream",
    }
}
