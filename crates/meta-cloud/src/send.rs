//! Outbound requests to `POST /{version}/{phone_number_id}/messages`: typed builders that
//! serialise to Meta's JSON, a passthrough for shapes not modelled (catalog, product, flow and
//! order messages, anything new) so every request round-trips exactly, and [`SendRequest::validate`]
//! which checks Meta's documented limits before a request costs an API call.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Everything that can be POSTed to the messages endpoint.
// A request is built, sent and dropped one at a time, never stored in bulk, so the size gap
// between variants costs nothing worth a Box in every caller's pattern match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SendRequest {
    /// A message to a user or group.
    Message(OutboundMessage),
    /// Mark an inbound message as read (optionally showing a typing indicator).
    MarkRead(MarkRead),
}

impl From<OutboundMessage> for SendRequest {
    fn from(m: OutboundMessage) -> Self {
        SendRequest::Message(m)
    }
}

impl From<MarkRead> for SendRequest {
    fn from(m: MarkRead) -> Self {
        SendRequest::MarkRead(m)
    }
}

impl SendRequest {
    /// Checks Meta's documented limits; returns every problem found, each naming its field.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut v = Validator::default();
        match self {
            SendRequest::Message(m) => m.check(&mut v),
            SendRequest::MarkRead(m) => m.check(&mut v),
        }
        v.finish()
    }

    /// The request as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Parses a request body (the inverse of serialisation; never loses fields).
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("a send request must be a JSON object".into());
        };
        let looks_like_status = map.contains_key("status")
            && !map.contains_key("type")
            && !map.contains_key("to")
            && !map.contains_key("recipient");
        if looks_like_status {
            MarkRead::deserialize(Value::Object(map)).map(SendRequest::MarkRead).map_err(|e| e.to_string())
        } else {
            Ok(SendRequest::Message(OutboundMessage::from_map(map)))
        }
    }
}

impl Serialize for SendRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SendRequest::Message(m) => m.serialize(s),
            SendRequest::MarkRead(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SendRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SendRequest::from_value(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `recipient_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientType {
    /// A single user (the default).
    Individual,
    /// A group (`to` is the group ID).
    Group,
}

/// `context`: makes the message a reply to `message_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    /// The `wamid` being replied to.
    pub message_id: String,
}

/// A message: the common envelope plus a typed body.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    /// Always `whatsapp`.
    pub messaging_product: String,
    /// `individual` (builders set it) or `group`; optional for Meta.
    pub recipient_type: Option<RecipientType>,
    /// Recipient phone number (or group ID).
    pub to: Option<String>,
    /// Recipient BSUID, used in place of `to` (2026+).
    pub recipient: Option<String>,
    /// Reply context.
    pub context: Option<ReplyContext>,
    /// An opaque string echoed back in status webhooks.
    pub biz_opaque_callback_data: Option<String>,
    /// The body; its type gives `type`.
    pub body: MessageBody,
    /// Whether `type` is written. Meta defaults a missing `type` to `text`; builders always write
    /// it, parsing keeps what was there so a parsed request re-serialises identically.
    pub write_type: bool,
    /// Top-level keys this model does not know, kept verbatim.
    pub extra: Map<String, Value>,
}

impl OutboundMessage {
    /// A message of any body to `to` (an individual).
    pub fn new(to: impl Into<String>, body: MessageBody) -> Self {
        OutboundMessage {
            messaging_product: "whatsapp".into(),
            recipient_type: Some(RecipientType::Individual),
            to: Some(to.into()),
            recipient: None,
            context: None,
            biz_opaque_callback_data: None,
            body,
            write_type: true,
            extra: Map::new(),
        }
    }

    /// A text message (no link preview).
    pub fn text(to: impl Into<String>, body: impl Into<String>) -> Self {
        Self::new(to, MessageBody::Text(Text::new(body)))
    }

    /// An image by media ID or link.
    pub fn image(to: impl Into<String>, media: Media) -> Self {
        Self::new(to, MessageBody::Image(media))
    }

    /// An audio by media ID or link.
    pub fn audio(to: impl Into<String>, media: Media) -> Self {
        Self::new(to, MessageBody::Audio(media))
    }

    /// A video by media ID or link.
    pub fn video(to: impl Into<String>, media: Media) -> Self {
        Self::new(to, MessageBody::Video(media))
    }

    /// A document by media ID or link.
    pub fn document(to: impl Into<String>, media: Media) -> Self {
        Self::new(to, MessageBody::Document(media))
    }

    /// A sticker by media ID or link.
    pub fn sticker(to: impl Into<String>, media: Media) -> Self {
        Self::new(to, MessageBody::Sticker(media))
    }

    /// A location pin.
    pub fn location(to: impl Into<String>, location: Location) -> Self {
        Self::new(to, MessageBody::Location(location))
    }

    /// Contact cards.
    pub fn contacts(to: impl Into<String>, cards: Vec<ContactCard>) -> Self {
        Self::new(to, MessageBody::Contacts(cards))
    }

    /// An interactive message (buttons, list, CTA URL).
    pub fn interactive(to: impl Into<String>, interactive: Interactive) -> Self {
        Self::new(to, MessageBody::Interactive(interactive))
    }

    /// A template message.
    pub fn template(to: impl Into<String>, template: Template) -> Self {
        Self::new(to, MessageBody::Template(template))
    }

    /// A reaction to `message_id`; an empty `emoji` removes the reaction.
    pub fn reaction(to: impl Into<String>, message_id: impl Into<String>, emoji: impl Into<String>) -> Self {
        Self::new(to, MessageBody::Reaction(Reaction { message_id: message_id.into(), emoji: emoji.into() }))
    }

    /// Makes this message a reply to `message_id`.
    pub fn reply_to(mut self, message_id: impl Into<String>) -> Self {
        self.context = Some(ReplyContext { message_id: message_id.into() });
        self
    }

    /// Attaches an opaque string returned in status webhooks.
    pub fn callback_data(mut self, data: impl Into<String>) -> Self {
        self.biz_opaque_callback_data = Some(data.into());
        self
    }

    /// Addresses a group instead of an individual (`to` is the group ID).
    pub fn to_group(mut self) -> Self {
        self.recipient_type = Some(RecipientType::Group);
        self
    }

    /// Addresses a BSUID (`recipient`) instead of a phone number.
    pub fn to_user_id(mut self, bsuid: impl Into<String>) -> Self {
        self.to = None;
        self.recipient = Some(bsuid.into());
        self
    }

    /// Checks Meta's limits (see [`SendRequest::validate`]).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut v = Validator::default();
        self.check(&mut v);
        v.finish()
    }

    fn from_map(mut map: Map<String, Value>) -> Self {
        let messaging_product = take_string(&mut map, "messaging_product").unwrap_or_else(|| "whatsapp".into());
        let to = take_string(&mut map, "to");
        let recipient = take_string(&mut map, "recipient");
        let biz_opaque_callback_data = take_string(&mut map, "biz_opaque_callback_data");
        let recipient_type = take_typed::<RecipientType>(&mut map, "recipient_type");
        let context = take_typed::<ReplyContext>(&mut map, "context");
        let (type_name, write_type) = match take_string(&mut map, "type") {
            Some(t) => (t, true),
            None => {
                let inferred =
                    MessageBody::KNOWN_TYPES.iter().find(|t| map.contains_key(**t)).copied().unwrap_or("text");
                (inferred.to_owned(), false)
            }
        };
        let payload = map.remove(&type_name);
        let body = MessageBody::from_payload(&type_name, payload);
        OutboundMessage {
            messaging_product,
            recipient_type,
            to,
            recipient,
            context,
            biz_opaque_callback_data,
            body,
            write_type,
            extra: map,
        }
    }

    fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("messaging_product".into(), Value::String(self.messaging_product.clone()));
        if let Some(rt) = self.recipient_type {
            m.insert("recipient_type".into(), to_value(&rt));
        }
        if let Some(to) = &self.to {
            m.insert("to".into(), Value::String(to.clone()));
        }
        if let Some(r) = &self.recipient {
            m.insert("recipient".into(), Value::String(r.clone()));
        }
        if let Some(c) = &self.context {
            m.insert("context".into(), to_value(c));
        }
        if let Some(b) = &self.biz_opaque_callback_data {
            m.insert("biz_opaque_callback_data".into(), Value::String(b.clone()));
        }
        let type_name = self.body.type_name().to_owned();
        if self.write_type {
            m.insert("type".into(), Value::String(type_name.clone()));
        }
        if let Some(payload) = self.body.payload() {
            m.insert(type_name, payload);
        }
        for (k, v) in &self.extra {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        m
    }

    fn check(&self, v: &mut Validator) {
        if self.messaging_product != "whatsapp" {
            v.err("messaging_product", "must be \"whatsapp\"");
        }
        match (&self.to, &self.recipient) {
            (None, None) => v.err("to", "a recipient is required (`to` or `recipient`)"),
            (Some(_), Some(_)) => v.err("recipient", "set either `to` or `recipient`, not both"),
            (Some(to), None) if self.recipient_type != Some(RecipientType::Group) => check_phone(v, to),
            (Some(to), None) => v.non_empty("to", to),
            (None, Some(r)) => v.non_empty("recipient", r),
        }
        if let Some(c) = &self.context {
            v.non_empty("context.message_id", &c.message_id);
        }
        if let Some(b) = &self.biz_opaque_callback_data {
            v.max_len("biz_opaque_callback_data", b, 512);
        }
        self.body.check(v);
    }
}

impl Serialize for OutboundMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for OutboundMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(map) => Ok(OutboundMessage::from_map(map)),
            _ => Err(D::Error::custom("a message must be a JSON object")),
        }
    }
}

/// The typed body of a message; its variant gives `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageBody {
    /// `text`.
    Text(Text),
    /// `image`.
    Image(Media),
    /// `audio`.
    Audio(Media),
    /// `video`.
    Video(Media),
    /// `document`.
    Document(Media),
    /// `sticker`.
    Sticker(Media),
    /// `location`.
    Location(Location),
    /// `contacts`.
    Contacts(Vec<ContactCard>),
    /// `interactive`.
    Interactive(Interactive),
    /// `template`.
    Template(Template),
    /// `reaction`.
    Reaction(Reaction),
    /// A type or shape this model does not cover, kept verbatim so it still round-trips.
    Raw {
        /// The `type` value.
        type_name: String,
        /// The object under the `type` key (`None` if absent).
        payload: Option<Value>,
    },
}

impl MessageBody {
    const KNOWN_TYPES: [&'static str; 11] = [
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

    /// The `type` value of this body.
    pub fn type_name(&self) -> &str {
        match self {
            MessageBody::Text(_) => "text",
            MessageBody::Image(_) => "image",
            MessageBody::Audio(_) => "audio",
            MessageBody::Video(_) => "video",
            MessageBody::Document(_) => "document",
            MessageBody::Sticker(_) => "sticker",
            MessageBody::Location(_) => "location",
            MessageBody::Contacts(_) => "contacts",
            MessageBody::Interactive(_) => "interactive",
            MessageBody::Template(_) => "template",
            MessageBody::Reaction(_) => "reaction",
            MessageBody::Raw { type_name, .. } => type_name,
        }
    }

    /// The JSON under the `type` key.
    pub fn payload(&self) -> Option<Value> {
        Some(match self {
            MessageBody::Text(t) => to_value(t),
            MessageBody::Image(m)
            | MessageBody::Audio(m)
            | MessageBody::Video(m)
            | MessageBody::Document(m)
            | MessageBody::Sticker(m) => to_value(m),
            MessageBody::Location(l) => to_value(l),
            MessageBody::Contacts(c) => to_value(c),
            MessageBody::Interactive(i) => to_value(i),
            MessageBody::Template(t) => to_value(t),
            MessageBody::Reaction(r) => to_value(r),
            MessageBody::Raw { payload, .. } => return payload.clone(),
        })
    }

    /// Types the body; falls back to `Raw` when the typed view would not re-serialise to exactly
    /// the same JSON (unknown fields, unexpected value types), so nothing is ever lost.
    fn from_payload(type_name: &str, payload: Option<Value>) -> Self {
        let raw = || MessageBody::Raw { type_name: type_name.to_owned(), payload: payload.clone() };
        let Some(p) = payload.as_ref() else {
            return raw();
        };
        let typed = match type_name {
            "text" => from_val(p).map(MessageBody::Text),
            "image" => from_val(p).map(MessageBody::Image),
            "audio" => from_val(p).map(MessageBody::Audio),
            "video" => from_val(p).map(MessageBody::Video),
            "document" => from_val(p).map(MessageBody::Document),
            "sticker" => from_val(p).map(MessageBody::Sticker),
            "location" => from_val(p).map(MessageBody::Location),
            "contacts" => from_val(p).map(MessageBody::Contacts),
            "interactive" => from_val(p).map(MessageBody::Interactive),
            "template" => from_val(p).map(MessageBody::Template),
            "reaction" => from_val(p).map(MessageBody::Reaction),
            _ => None,
        };
        match typed {
            Some(body) if body.payload().as_ref() == Some(p) => body,
            _ => raw(),
        }
    }

    fn check(&self, v: &mut Validator) {
        match self {
            MessageBody::Text(t) => {
                v.non_empty("text.body", &t.body);
                v.max_len("text.body", &t.body, 4096);
            }
            MessageBody::Image(m) => m.check(v, "image", MediaRules::CAPTION),
            MessageBody::Video(m) => m.check(v, "video", MediaRules::CAPTION),
            MessageBody::Document(m) => m.check(v, "document", MediaRules::DOCUMENT),
            MessageBody::Audio(m) => m.check(v, "audio", MediaRules::BARE),
            MessageBody::Sticker(m) => m.check(v, "sticker", MediaRules::BARE),
            MessageBody::Location(l) => {
                if !(-90.0..=90.0).contains(&l.latitude) {
                    v.err("location.latitude", "must be within -90..=90");
                }
                if !(-180.0..=180.0).contains(&l.longitude) {
                    v.err("location.longitude", "must be within -180..=180");
                }
            }
            MessageBody::Contacts(cards) => {
                if cards.is_empty() {
                    v.err("contacts", "at least one contact is required");
                }
                for (i, c) in cards.iter().enumerate() {
                    let name = c.name.as_ref().and_then(|n| n.formatted_name.as_deref()).unwrap_or("");
                    v.non_empty(&format!("contacts[{i}].name.formatted_name"), name);
                }
            }
            MessageBody::Interactive(i) => i.check(v),
            MessageBody::Template(t) => t.check(v),
            MessageBody::Reaction(r) => {
                v.non_empty("reaction.message_id", &r.message_id);
            }
            MessageBody::Raw { .. } => {}
        }
    }
}

/// `text` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// Up to 4096 characters; URLs are linkified.
    pub body: String,
    /// Render a preview of the first URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<bool>,
}

impl Text {
    /// Text without a link preview flag.
    pub fn new(body: impl Into<String>) -> Self {
        Text { body: body.into(), preview_url: None }
    }
    /// Sets `preview_url`.
    pub fn preview_url(mut self, preview: bool) -> Self {
        self.preview_url = Some(preview);
        self
    }
}

/// Media by uploaded ID or by public link, for messages, headers and template parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Media {
    /// Uploaded media ID (from `POST /{phone_number_id}/media`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Public http(s) URL Meta fetches (cached 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Caption (image, video, document; ≤ 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// File name shown for documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

impl Media {
    /// Media by uploaded ID.
    pub fn id(id: impl Into<String>) -> Self {
        Media { id: Some(id.into()), ..Default::default() }
    }
    /// Media by public link.
    pub fn link(url: impl Into<String>) -> Self {
        Media { link: Some(url.into()), ..Default::default() }
    }
    /// Sets the caption.
    pub fn caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }
    /// Sets the document file name.
    pub fn filename(mut self, filename: impl Into<String>) -> Self {
        self.filename = Some(filename.into());
        self
    }

    fn check(&self, v: &mut Validator, path: &str, rules: MediaRules) {
        match (&self.id, &self.link) {
            (None, None) => v.err(&format!("{path}.id"), "either `id` or `link` is required"),
            (Some(_), Some(_)) => v.err(&format!("{path}.link"), "set either `id` or `link`, not both"),
            (Some(id), None) => v.non_empty(&format!("{path}.id"), id),
            (None, Some(link)) => check_url(v, &format!("{path}.link"), link),
        }
        if let Some(c) = &self.caption {
            if rules.caption {
                v.max_len(&format!("{path}.caption"), c, 1024);
            } else {
                v.err(&format!("{path}.caption"), "not allowed for this media type");
            }
        }
        if self.filename.is_some() && !rules.filename {
            v.err(&format!("{path}.filename"), "only documents have a file name");
        }
    }
}

#[derive(Clone, Copy)]
struct MediaRules {
    caption: bool,
    filename: bool,
}

impl MediaRules {
    const BARE: MediaRules = MediaRules { caption: false, filename: false };
    const CAPTION: MediaRules = MediaRules { caption: true, filename: false };
    const DOCUMENT: MediaRules = MediaRules { caption: true, filename: true };
}

/// `location` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Place name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Place address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Location {
    /// A bare pin.
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Location { latitude, longitude, name: None, address: None }
    }
    /// Sets the place name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets the address.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
}

/// `reaction` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The message reacted to.
    pub message_id: String,
    /// The emoji; empty removes the reaction.
    #[serde(default)]
    pub emoji: String,
}

/// A contact card, as sent in `contacts` messages and received in `contacts` webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactCard {
    /// Addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<ContactAddress>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    /// Email addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<ContactEmail>,
    /// Name (`formatted_name` is required when sending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ContactName>,
    /// Organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<ContactOrg>,
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<ContactPhone>,
    /// Web sites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<ContactUrl>,
}

/// `contacts[].name`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactName {
    /// Full name as displayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted_name: Option<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// `contacts[].org`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactOrg {
    /// Company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `contacts[].phones[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactPhone {
    /// The number as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Its WhatsApp ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// `CELL`, `MAIN`, `IPHONE`, `HOME`, `WORK`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub phone_type: Option<String>,
}

/// `contacts[].emails[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactEmail {
    /// Address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub email_type: Option<String>,
}

/// `contacts[].urls[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactUrl {
    /// URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub url_type: Option<String>,
}

/// `contacts[].addresses[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactAddress {
    /// Street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// ZIP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    /// Country name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Two-letter country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub address_type: Option<String>,
}

// ---- interactive ------------------------------------------------------------------------------

/// `interactive` body: header/body/footer plus an action that gives the interactive `type`.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactive {
    /// Optional header (lists: text only).
    pub header: Option<Header>,
    /// Body text (required except for product messages).
    pub body: Option<String>,
    /// Footer text.
    pub footer: Option<String>,
    /// What the user can do.
    pub action: InteractiveAction,
}

/// The action of an interactive message.
#[derive(Debug, Clone, PartialEq)]
pub enum InteractiveAction {
    /// `type: "button"`: up to 3 reply buttons.
    Buttons(Vec<ReplyButton>),
    /// `type: "list"`: a menu button opening sections of rows.
    List {
        /// The menu button label (≤ 20).
        button: String,
        /// Sections (≤ 10, ≤ 10 rows in total).
        sections: Vec<ListSection>,
    },
    /// `type: "cta_url"`: one button opening a URL.
    CtaUrl {
        /// Button label (≤ 20).
        display_text: String,
        /// The URL.
        url: String,
    },
    /// Any other interactive type (flow, product, product_list, catalog_message, order_details,
    /// order_status, ...), its `action` kept verbatim.
    Other {
        /// The interactive `type`.
        interactive_type: String,
        /// The `action` object.
        action: Value,
    },
}

impl Interactive {
    /// Reply buttons with a body text.
    pub fn buttons(body: impl Into<String>, buttons: Vec<ReplyButton>) -> Self {
        Interactive { header: None, body: Some(body.into()), footer: None, action: InteractiveAction::Buttons(buttons) }
    }

    /// A list message.
    pub fn list(body: impl Into<String>, button: impl Into<String>, sections: Vec<ListSection>) -> Self {
        Interactive {
            header: None,
            body: Some(body.into()),
            footer: None,
            action: InteractiveAction::List { button: button.into(), sections },
        }
    }

    /// A call-to-action URL button.
    pub fn cta_url(body: impl Into<String>, display_text: impl Into<String>, url: impl Into<String>) -> Self {
        Interactive {
            header: None,
            body: Some(body.into()),
            footer: None,
            action: InteractiveAction::CtaUrl { display_text: display_text.into(), url: url.into() },
        }
    }

    /// Sets the header.
    pub fn header(mut self, header: Header) -> Self {
        self.header = Some(header);
        self
    }

    /// Sets the footer.
    pub fn footer(mut self, footer: impl Into<String>) -> Self {
        self.footer = Some(footer.into());
        self
    }

    /// The interactive `type` value.
    pub fn interactive_type(&self) -> &str {
        match &self.action {
            InteractiveAction::Buttons(_) => "button",
            InteractiveAction::List { .. } => "list",
            InteractiveAction::CtaUrl { .. } => "cta_url",
            InteractiveAction::Other { interactive_type, .. } => interactive_type,
        }
    }

    fn check(&self, v: &mut Validator) {
        let known = !matches!(self.action, InteractiveAction::Other { .. });
        match &self.body {
            Some(b) => {
                v.non_empty("interactive.body.text", b);
                v.max_len("interactive.body.text", b, 1024);
            }
            None if known => v.err("interactive.body.text", "a body is required"),
            None => {}
        }
        if let Some(f) = &self.footer {
            v.max_len("interactive.footer.text", f, 60);
        }
        if let Some(h) = &self.header {
            h.check(v);
            if matches!(self.action, InteractiveAction::List { .. }) && !matches!(h, Header::Text { .. }) {
                v.err("interactive.header.type", "list messages only take a text header");
            }
        }
        match &self.action {
            InteractiveAction::Buttons(buttons) => {
                if buttons.is_empty() || buttons.len() > 3 {
                    v.err("interactive.action.buttons", "between 1 and 3 reply buttons are required");
                }
                for (i, b) in buttons.iter().enumerate() {
                    let p = format!("interactive.action.buttons[{i}].reply");
                    v.non_empty(&format!("{p}.id"), &b.id);
                    v.max_len(&format!("{p}.id"), &b.id, 256);
                    if b.id.trim() != b.id {
                        v.err(&format!("{p}.id"), "must not have leading or trailing spaces");
                    }
                    v.non_empty(&format!("{p}.title"), &b.title);
                    v.max_len(&format!("{p}.title"), &b.title, 20);
                    if buttons[..i].iter().any(|o| o.id == b.id) {
                        v.err(&format!("{p}.id"), "button ids must be unique");
                    }
                    if buttons[..i].iter().any(|o| o.title == b.title) {
                        v.err(&format!("{p}.title"), "button titles must be unique");
                    }
                }
            }
            InteractiveAction::List { button, sections } => {
                v.non_empty("interactive.action.button", button);
                v.max_len("interactive.action.button", button, 20);
                if sections.is_empty() || sections.len() > 10 {
                    v.err("interactive.action.sections", "between 1 and 10 sections are required");
                }
                let total: usize = sections.iter().map(|s| s.rows.len()).sum();
                if total == 0 || total > 10 {
                    v.err("interactive.action.sections", "between 1 and 10 rows in total are required");
                }
                let mut ids: Vec<&str> = Vec::new();
                for (i, s) in sections.iter().enumerate() {
                    let p = format!("interactive.action.sections[{i}]");
                    match &s.title {
                        Some(t) => v.max_len(&format!("{p}.title"), t, 24),
                        None if sections.len() > 1 => {
                            v.err(&format!("{p}.title"), "required when there is more than one section")
                        }
                        None => {}
                    }
                    for (j, r) in s.rows.iter().enumerate() {
                        let rp = format!("{p}.rows[{j}]");
                        v.non_empty(&format!("{rp}.id"), &r.id);
                        v.max_len(&format!("{rp}.id"), &r.id, 200);
                        v.non_empty(&format!("{rp}.title"), &r.title);
                        v.max_len(&format!("{rp}.title"), &r.title, 24);
                        if let Some(d) = &r.description {
                            v.max_len(&format!("{rp}.description"), d, 72);
                        }
                        if ids.contains(&r.id.as_str()) {
                            v.err(&format!("{rp}.id"), "row ids must be unique");
                        }
                        ids.push(&r.id);
                    }
                }
            }
            InteractiveAction::CtaUrl { display_text, url } => {
                v.non_empty("interactive.action.parameters.display_text", display_text);
                v.max_len("interactive.action.parameters.display_text", display_text, 20);
                check_url(v, "interactive.action.parameters.url", url);
            }
            InteractiveAction::Other { .. } => {}
        }
    }
}

/// A reply button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyButton {
    /// Returned in the `button_reply` webhook (≤ 256).
    pub id: String,
    /// Label (≤ 20).
    pub title: String,
}

impl ReplyButton {
    /// A reply button.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        ReplyButton { id: id.into(), title: title.into() }
    }
}

/// A list section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    /// Title (≤ 24; required with more than one section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Rows.
    pub rows: Vec<ListRow>,
}

impl ListSection {
    /// A section with a title.
    pub fn new(title: impl Into<String>, rows: Vec<ListRow>) -> Self {
        ListSection { title: Some(title.into()), rows }
    }
}

/// A list row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    /// Returned in the `list_reply` webhook (≤ 200).
    pub id: String,
    /// Title (≤ 24).
    pub title: String,
    /// Description (≤ 72).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ListRow {
    /// A row without description.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        ListRow { id: id.into(), title: title.into(), description: None }
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
}

/// Interactive header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Header {
    /// Text header (≤ 60).
    Text {
        /// The text.
        text: String,
    },
    /// Image header.
    Image {
        /// The image.
        image: Media,
    },
    /// Video header.
    Video {
        /// The video.
        video: Media,
    },
    /// Document header.
    Document {
        /// The document.
        document: Media,
    },
}

impl Header {
    fn check(&self, v: &mut Validator) {
        match self {
            Header::Text { text } => {
                v.non_empty("interactive.header.text", text);
                v.max_len("interactive.header.text", text, 60);
            }
            Header::Image { image } => image.check(v, "interactive.header.image", MediaRules::BARE),
            Header::Video { video } => video.check(v, "interactive.header.video", MediaRules::BARE),
            Header::Document { document } => {
                document.check(v, "interactive.header.document", MediaRules { caption: false, filename: true })
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct TextObject {
    text: String,
}

#[derive(Serialize, Deserialize)]
struct InteractiveWire {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    header: Option<Header>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<TextObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    footer: Option<TextObject>,
    action: Value,
}

#[derive(Serialize, Deserialize)]
struct ButtonWire {
    #[serde(rename = "type")]
    kind: String,
    reply: ReplyWire,
}

#[derive(Serialize, Deserialize)]
struct ReplyWire {
    id: String,
    title: String,
}

#[derive(Serialize, Deserialize)]
struct ButtonsActionWire {
    buttons: Vec<ButtonWire>,
}

#[derive(Serialize, Deserialize)]
struct ListActionWire {
    button: String,
    sections: Vec<ListSection>,
}

#[derive(Serialize, Deserialize)]
struct CtaActionWire {
    name: String,
    parameters: CtaParamsWire,
}

#[derive(Serialize, Deserialize)]
struct CtaParamsWire {
    display_text: String,
    url: String,
}

impl Serialize for Interactive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let action = match &self.action {
            InteractiveAction::Buttons(b) => to_value(&ButtonsActionWire {
                buttons: b
                    .iter()
                    .map(|b| ButtonWire {
                        kind: "reply".into(),
                        reply: ReplyWire { id: b.id.clone(), title: b.title.clone() },
                    })
                    .collect(),
            }),
            InteractiveAction::List { button, sections } => {
                to_value(&ListActionWire { button: button.clone(), sections: sections.clone() })
            }
            InteractiveAction::CtaUrl { display_text, url } => to_value(&CtaActionWire {
                name: "cta_url".into(),
                parameters: CtaParamsWire { display_text: display_text.clone(), url: url.clone() },
            }),
            InteractiveAction::Other { action, .. } => action.clone(),
        };
        InteriorRef {
            kind: self.interactive_type(),
            header: self.header.as_ref(),
            body: self.body.as_deref().map(|text| TextRef { text }),
            footer: self.footer.as_deref().map(|text| TextRef { text }),
            action,
        }
        .serialize(s)
    }
}

#[derive(Serialize)]
struct InteriorRef<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<&'a Header>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<TextRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    footer: Option<TextRef<'a>>,
    action: Value,
}

#[derive(Serialize)]
struct TextRef<'a> {
    text: &'a str,
}

impl<'de> Deserialize<'de> for Interactive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = InteractiveWire::deserialize(d)?;
        let typed = match w.kind.as_str() {
            "button" => from_val::<ButtonsActionWire>(&w.action)
                .filter(|a| a.buttons.iter().all(|b| b.kind == "reply"))
                .map(|a| {
                    InteractiveAction::Buttons(
                        a.buttons.into_iter().map(|b| ReplyButton { id: b.reply.id, title: b.reply.title }).collect(),
                    )
                }),
            "list" => from_val::<ListActionWire>(&w.action)
                .map(|a| InteractiveAction::List { button: a.button, sections: a.sections }),
            "cta_url" => from_val::<CtaActionWire>(&w.action)
                .filter(|a| a.name == "cta_url")
                .map(|a| InteractiveAction::CtaUrl { display_text: a.parameters.display_text, url: a.parameters.url }),
            _ => None,
        };
        let action =
            typed.unwrap_or_else(|| InteractiveAction::Other { interactive_type: w.kind.clone(), action: w.action });
        Ok(Interactive { header: w.header, body: w.body.map(|b| b.text), footer: w.footer.map(|f| f.text), action })
    }
}

// ---- template ---------------------------------------------------------------------------------

/// `template` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Template name.
    pub name: String,
    /// Language (must match an approved translation).
    pub language: TemplateLanguage,
    /// Parameters by component; `None` for templates without variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<TemplateComponent>>,
}

impl Template {
    /// A template without parameters.
    pub fn new(name: impl Into<String>, language_code: impl Into<String>) -> Self {
        Template {
            name: name.into(),
            language: TemplateLanguage { code: language_code.into(), policy: None },
            components: None,
        }
    }

    /// Adds a component.
    pub fn component(mut self, c: TemplateComponent) -> Self {
        self.components.get_or_insert_with(Vec::new).push(c);
        self
    }

    /// Adds a header component.
    pub fn header(self, parameters: Vec<TemplateParameter>) -> Self {
        self.component(TemplateComponent::header(parameters))
    }

    /// Adds a body component.
    pub fn body(self, parameters: Vec<TemplateParameter>) -> Self {
        self.component(TemplateComponent::body(parameters))
    }

    /// Adds a button component.
    pub fn button(self, sub_type: impl Into<String>, index: u32, parameters: Vec<TemplateParameter>) -> Self {
        self.component(TemplateComponent::button(sub_type, index, parameters))
    }

    /// Sets the language policy (`deterministic`).
    pub fn policy(mut self, policy: impl Into<String>) -> Self {
        self.language.policy = Some(policy.into());
        self
    }

    fn check(&self, v: &mut Validator) {
        v.non_empty("template.name", &self.name);
        v.max_len("template.name", &self.name, 512);
        if !self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            v.err("template.name", "only lowercase letters, digits and `_` are allowed");
        }
        v.non_empty("template.language.code", &self.language.code);
        for (i, c) in self.components.iter().flatten().enumerate() {
            let p = format!("template.components[{i}]");
            if c.component_type.is_empty() {
                v.err(&format!("{p}.type"), "required");
            }
            if c.component_type == "button" {
                if c.sub_type.is_none() {
                    v.err(&format!("{p}.sub_type"), "required for button components");
                }
                if c.index.is_none() {
                    v.err(&format!("{p}.index"), "required for button components");
                }
            }
            let params = c.parameters.as_deref().unwrap_or_default();
            let named = params.iter().filter(|p| p.parameter_name().is_some()).count();
            let positional =
                params.iter().filter(|p| matches!(p, TemplateParameter::Text { parameter_name: None, .. })).count();
            if named > 0 && positional > 0 {
                v.err(&format!("{p}.parameters"), "do not mix named and positional parameters");
            }
            for (j, param) in params.iter().enumerate() {
                param.check(v, &format!("{p}.parameters[{j}]"));
            }
        }
    }
}

/// `template.language`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateLanguage {
    /// `en_US`, `pt_BR`, ...
    pub code: String,
    /// `deterministic` (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// One template component with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateComponent {
    /// `header`, `body`, `button`, ...
    #[serde(rename = "type")]
    pub component_type: String,
    /// For buttons: `quick_reply`, `url`, `copy_code`, `flow`, `catalog`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// For buttons: position (Meta accepts a string or a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<ButtonIndex>,
    /// The parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<TemplateParameter>>,
}

impl TemplateComponent {
    /// A header component.
    pub fn header(parameters: Vec<TemplateParameter>) -> Self {
        TemplateComponent { component_type: "header".into(), sub_type: None, index: None, parameters: Some(parameters) }
    }
    /// A body component.
    pub fn body(parameters: Vec<TemplateParameter>) -> Self {
        TemplateComponent { component_type: "body".into(), sub_type: None, index: None, parameters: Some(parameters) }
    }
    /// A button component; `index` is written as a string, as Meta documents.
    pub fn button(sub_type: impl Into<String>, index: u32, parameters: Vec<TemplateParameter>) -> Self {
        TemplateComponent {
            component_type: "button".into(),
            sub_type: Some(sub_type.into()),
            index: Some(ButtonIndex::Text(index.to_string())),
            parameters: Some(parameters),
        }
    }
}

/// A button `index`: Meta's examples use both `"0"` and `0`; kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ButtonIndex {
    /// `0`.
    Number(u64),
    /// `"0"`.
    Text(String),
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateParameter {
    /// Text, positional or named (`parameter_name`); also URL-button suffixes.
    Text {
        /// The value.
        text: String,
        /// Named-parameter name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    /// A localised currency amount.
    Currency {
        /// The amount.
        currency: Currency,
        /// Named-parameter name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    /// A localised date/time.
    DateTime {
        /// The date.
        date_time: DateTime,
        /// Named-parameter name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    /// Header image.
    Image {
        /// The image (id or link).
        image: Media,
    },
    /// Header video.
    Video {
        /// The video (id or link).
        video: Media,
    },
    /// Header document.
    Document {
        /// The document (id or link; filename allowed).
        document: Media,
    },
    /// Quick-reply button payload.
    Payload {
        /// Returned in the `button` webhook.
        payload: String,
    },
    /// Any other parameter (action, coupon_code, location, ...), kept verbatim.
    #[serde(untagged)]
    Raw(Value),
}

impl TemplateParameter {
    /// A positional text parameter.
    pub fn text(text: impl Into<String>) -> Self {
        TemplateParameter::Text { text: text.into(), parameter_name: None }
    }
    /// A named text parameter (`parameter_name`).
    pub fn named(name: impl Into<String>, text: impl Into<String>) -> Self {
        TemplateParameter::Text { text: text.into(), parameter_name: Some(name.into()) }
    }
    /// A currency parameter.
    pub fn currency(fallback: impl Into<String>, code: impl Into<String>, amount_1000: i64) -> Self {
        TemplateParameter::Currency {
            currency: Currency { fallback_value: fallback.into(), code: code.into(), amount_1000 },
            parameter_name: None,
        }
    }
    /// A date/time parameter with only the fallback text (Cloud API always uses it).
    pub fn date_time(fallback: impl Into<String>) -> Self {
        TemplateParameter::DateTime { date_time: DateTime::new(fallback), parameter_name: None }
    }
    /// A quick-reply payload.
    pub fn payload(payload: impl Into<String>) -> Self {
        TemplateParameter::Payload { payload: payload.into() }
    }

    /// The `parameter_name`, for named parameters.
    pub fn parameter_name(&self) -> Option<&str> {
        match self {
            TemplateParameter::Text { parameter_name, .. }
            | TemplateParameter::Currency { parameter_name, .. }
            | TemplateParameter::DateTime { parameter_name, .. } => parameter_name.as_deref(),
            _ => None,
        }
    }

    fn check(&self, v: &mut Validator, p: &str) {
        if let Some(n) = self.parameter_name()
            && (n.is_empty() || !n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        {
            v.err(&format!("{p}.parameter_name"), "only lowercase letters, digits and `_` are allowed");
        }
        match self {
            TemplateParameter::Text { text, .. } => v.max_len(&format!("{p}.text"), text, 32768),
            TemplateParameter::Currency { currency, .. } => {
                if currency.code.len() != 3 || !currency.code.chars().all(|c| c.is_ascii_uppercase()) {
                    v.err(&format!("{p}.currency.code"), "must be an ISO 4217 code such as USD");
                }
                v.non_empty(&format!("{p}.currency.fallback_value"), &currency.fallback_value);
            }
            TemplateParameter::DateTime { date_time, .. } => {
                v.non_empty(&format!("{p}.date_time.fallback_value"), &date_time.fallback_value)
            }
            TemplateParameter::Image { image } => image.check(v, &format!("{p}.image"), MediaRules::BARE),
            TemplateParameter::Video { video } => video.check(v, &format!("{p}.video"), MediaRules::BARE),
            TemplateParameter::Document { document } => {
                document.check(v, &format!("{p}.document"), MediaRules { caption: false, filename: true })
            }
            TemplateParameter::Payload { payload } => v.max_len(&format!("{p}.payload"), payload, 1000),
            TemplateParameter::Raw(_) => {}
        }
    }
}

/// `currency` parameter object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    /// Text used when localisation fails.
    pub fallback_value: String,
    /// ISO 4217 code.
    pub code: String,
    /// Amount × 1000.
    pub amount_1000: i64,
}

/// `date_time` parameter object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateTime {
    /// The text Cloud API always renders.
    pub fallback_value: String,
    /// `GREGORIAN`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// 1..=7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_week: Option<u32>,
    /// Day of month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_month: Option<u32>,
    /// Year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// Month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<u32>,
    /// Hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u32>,
    /// Minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<u32>,
}

impl DateTime {
    /// Only the fallback text.
    pub fn new(fallback: impl Into<String>) -> Self {
        DateTime {
            fallback_value: fallback.into(),
            calendar: None,
            day_of_week: None,
            day_of_month: None,
            year: None,
            month: None,
            hour: None,
            minute: None,
        }
    }
}

// ---- mark as read -----------------------------------------------------------------------------

/// Mark-as-read body: `{"messaging_product":"whatsapp","status":"read","message_id":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRead {
    /// Always `whatsapp`.
    pub messaging_product: String,
    /// Always `read`.
    pub status: String,
    /// The inbound message (earlier ones in the thread are marked too).
    pub message_id: String,
    /// Show "typing…" to the user (up to 25 s or until you reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_indicator: Option<TypingIndicator>,
    /// Fields this model does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MarkRead {
    /// Marks `message_id` as read.
    pub fn new(message_id: impl Into<String>) -> Self {
        MarkRead {
            messaging_product: "whatsapp".into(),
            status: "read".into(),
            message_id: message_id.into(),
            typing_indicator: None,
            extra: Map::new(),
        }
    }

    /// Also shows a typing indicator.
    pub fn with_typing_indicator(mut self) -> Self {
        self.typing_indicator = Some(TypingIndicator { indicator_type: "text".into() });
        self
    }

    fn check(&self, v: &mut Validator) {
        if self.messaging_product != "whatsapp" {
            v.err("messaging_product", "must be \"whatsapp\"");
        }
        if self.status != "read" {
            v.err("status", "must be \"read\"");
        }
        v.non_empty("message_id", &self.message_id);
        if let Some(t) = &self.typing_indicator
            && t.indicator_type != "text"
        {
            v.err("typing_indicator.type", "must be \"text\"");
        }
    }
}

/// `typing_indicator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingIndicator {
    /// Always `text`.
    #[serde(rename = "type")]
    pub indicator_type: String,
}

// ---- validation -------------------------------------------------------------------------------

/// One broken limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// JSON path of the field, e.g. `interactive.action.buttons[3].reply.title`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every broken limit of a request (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    /// True if some error concerns `field` exactly.
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

#[derive(Default)]
struct Validator {
    errors: Vec<ValidationError>,
}

impl Validator {
    fn err(&mut self, field: &str, message: &str) {
        self.errors.push(ValidationError { field: field.to_owned(), message: message.to_owned() });
    }

    fn non_empty(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.err(field, "must not be empty");
        }
    }

    /// Meta counts characters, not bytes.
    fn max_len(&mut self, field: &str, value: &str, max: usize) {
        let n = value.chars().count();
        if n > max {
            self.err(field, &format!("at most {max} characters allowed, got {n}"));
        }
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() { Ok(()) } else { Err(ValidationErrors(self.errors)) }
    }
}

/// Meta accepts `+`, `-`, spaces and parentheses around the digits.
fn check_phone(v: &mut Validator, to: &str) {
    let digits = to.chars().filter(char::is_ascii_digit).count();
    if digits == 0 {
        v.err("to", "must be a phone number (digits)");
    } else if to.chars().any(|c| !(c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'))) {
        v.err("to", "only digits, `+`, `-`, spaces and parentheses are allowed");
    } else if digits > 15 {
        v.err("to", "at most 15 digits (E.164)");
    }
}

fn check_url(v: &mut Validator, field: &str, url: &str) {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        v.err(field, "must be an http(s) URL");
    }
}

// ---- helpers ----------------------------------------------------------------------------------

fn to_value<T: Serialize + ?Sized>(t: &T) -> Value {
    // Serialising these plain data types cannot fail (string keys, no custom errors).
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn from_val<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    T::deserialize(v).ok()
}

/// Takes `k` out of `map` only if it parses and re-serialises unchanged; otherwise it stays in
/// the map (and so in `extra`), which keeps round-trips exact.
fn take_string(map: &mut Map<String, Value>, k: &str) -> Option<String> {
    match map.get(k) {
        Some(Value::String(_)) => match map.remove(k) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn take_typed<T: serde::de::DeserializeOwned + Serialize>(map: &mut Map<String, Value>, k: &str) -> Option<T> {
    let v = map.get(k)?;
    let t: T = from_val(v)?;
    if &to_value(&t) != v {
        return None;
    }
    map.remove(k);
    Some(t)
}
