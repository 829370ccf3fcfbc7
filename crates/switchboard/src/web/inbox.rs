//! The inbox: the conversation list (filters, unread badges), a conversation's thread (a bubble for
//! every message type, ticks, failures), the composer (text, attachments, canned responses,
//! templates), assignment and status, the contact panel and internal notes.
//!
//! Pages read through the same services as `/api/conversations`; the page's script follows
//! `GET /api/events` and fetches the fragments below, which render the same partials as the page,
//! so a bubble or a list item is rendered in one place.

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::layout::{Shell, WebUser, app_error_page, render, urlencode};
use crate::conversations::service::{self as convs, ConversationDto, ListFilter};
use crate::db::Scoped;
use crate::entities::enums::{ConversationStatus, Direction, MessageStatus, Role};
use crate::entities::messages;
use crate::error::AppError;
use crate::ids::TenantId;
use crate::state::AppState;

const INBOX_ROLES: &[Role] = &[Role::TenantAdmin, Role::Agent];
const LIST_SIZE: u64 = 50;
const THREAD_SIZE: u64 = 100;

// ------------------------------------------------------------------------------------- filters

/// The list's filters, from the query string.
#[derive(Deserialize, Default, Clone)]
pub struct InboxQuery {
    /// `all`, `mine` or `unassigned`.
    pub view: Option<String>,
    /// `open`, `pending`, `resolved`; empty for all.
    pub status: Option<String>,
    /// Search: contact name, phone number, last message.
    pub q: Option<String>,
    pub cursor: Option<String>,
}

pub struct Filters {
    pub view: &'static str,
    pub status: Option<ConversationStatus>,
    pub q: String,
    pub cursor: Option<String>,
}

impl Filters {
    fn from_query(q: &InboxQuery) -> Self {
        let view = match q.view.as_deref() {
            Some("mine") => "mine",
            Some("unassigned") => "unassigned",
            _ => "all",
        };
        Filters {
            view,
            status: q.status.as_deref().and_then(ConversationStatus::parse),
            q: q.q.as_deref().map(str::trim).unwrap_or_default().chars().take(100).collect(),
            cursor: q.cursor.clone().filter(|c| !c.is_empty()),
        }
    }

    pub fn status_str(&self) -> &'static str {
        self.status.map(|s| s.as_str()).unwrap_or("")
    }

    /// The filters as a query string (without the cursor), for links that keep them.
    pub fn query(&self) -> String {
        let mut parts = vec![];
        if self.view != "all" {
            parts.push(format!("view={}", self.view));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={}", s.as_str()));
        }
        if !self.q.is_empty() {
            parts.push(format!("q={}", urlencode(&self.q)));
        }
        parts.join("&")
    }

    /// `?…` or empty.
    pub fn suffix(&self) -> String {
        let q = self.query();
        if q.is_empty() { q } else { format!("?{q}") }
    }

    fn list_filter(&self, me: Uuid, cursor: Option<(DateTime<Utc>, Uuid)>) -> ListFilter {
        ListFilter {
            status: self.status,
            assignee: match self.view {
                "mine" => Some(Some(me)),
                "unassigned" => Some(None),
                _ => None,
            },
            search: (!self.q.is_empty()).then(|| self.q.clone()),
            cursor,
            limit: LIST_SIZE,
        }
    }

    /// Does the conversation belong in the filtered list? (The same rules as the list query.)
    fn matches(&self, c: &ConversationDto, me: Uuid) -> bool {
        let view_ok = match self.view {
            "mine" => c.assignee_id == Some(me),
            "unassigned" => c.assignee_id.is_none(),
            _ => true,
        };
        let status_ok = self.status.is_none_or(|s| s == c.status);
        let term = self.q.to_lowercase().replace(['%', '_'], "");
        let search_ok = term.is_empty()
            || [
                c.contact.name.as_deref(),
                c.contact.profile_name.as_deref(),
                c.contact.wa_id.as_deref(),
                c.last_message_preview.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|s| s.to_lowercase().contains(&term));
        view_ok && status_ok && search_ok
    }
}

// ------------------------------------------------------------------------------------ list items

/// A conversation in the list.
pub struct ConvItem {
    pub id: Uuid,
    pub name: String,
    pub wa_id: String,
    pub initials: String,
    pub preview: String,
    pub time: String,
    pub time_iso: String,
    pub unread: i32,
    pub status: &'static str,
    pub assignee: Option<String>,
    pub mine: bool,
    pub active: bool,
    pub href: String,
}

fn initials(name: &str) -> String {
    let i: String = name.split_whitespace().filter_map(|w| w.chars().next()).take(2).collect();
    if i.is_empty() { "?".into() } else { i.to_uppercase() }
}

fn short_time(t: DateTime<Utc>) -> String {
    if t.date_naive() == Utc::now().date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%b %d").to_string()
    }
}

fn conv_item(
    c: &ConversationDto,
    me: Uuid,
    names: &HashMap<Uuid, String>,
    active: Option<Uuid>,
    f: &Filters,
) -> ConvItem {
    let name = c
        .contact
        .name
        .clone()
        .or_else(|| c.contact.wa_id.as_ref().map(|w| format!("+{w}")))
        .unwrap_or_else(|| "Unknown".into());
    ConvItem {
        id: c.id,
        initials: initials(&name),
        name,
        wa_id: c.contact.wa_id.as_ref().map(|w| format!("+{w}")).unwrap_or_default(),
        preview: c.last_message_preview.clone().unwrap_or_default(),
        time: short_time(c.last_message_at),
        time_iso: c.last_message_at.to_rfc3339(),
        unread: c.unread_count,
        status: c.status.as_str(),
        assignee: c.assignee_id.map(|a| names.get(&a).cloned().unwrap_or_else(|| "Someone".into())),
        mine: c.assignee_id == Some(me),
        active: active == Some(c.id),
        href: format!("/inbox/{}{}", c.id, f.suffix()),
    }
}

/// Display names of the tenant's inbox users (agents and admins).
async fn user_names(state: &AppState, tenant: TenantId) -> Result<HashMap<Uuid, String>, AppError> {
    Ok(crate::users::display_names(&state.db, tenant).await?)
}

// ---------------------------------------------------------------------------------- message bubbles

/// A media attachment of a bubble.
pub struct MediaView {
    /// Where the browser loads it (`/api/media/{id}` or the link it was sent with).
    pub url: Option<String>,
    pub mime: String,
    pub filename: Option<String>,
    /// Inbound media still being fetched from Meta.
    pub pending: bool,
}

pub struct LocationView {
    pub label: String,
    pub map_url: Option<String>,
    pub coords: String,
}

pub struct ContactCardView {
    pub name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
}

/// A message bubble.
pub struct MessageView {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// The message's status as the test hooks see it: queued, sent, delivered, read, failed (and
    /// received for inbound messages).
    pub status: &'static str,
    /// What the bubble shows: text, image, sticker, video, audio, document, location, contacts,
    /// interactive, button, reaction, template, unsupported.
    pub kind: String,
    /// The type as stored (for the unsupported message's label).
    pub raw_type: String,
    pub text: Option<String>,
    pub caption: Option<String>,
    pub media: Option<MediaView>,
    pub location: Option<LocationView>,
    pub contacts: Vec<ContactCardView>,
    /// Interactive: the customer's choice (`↩ Yes`), or the buttons/rows the business offered.
    pub reply: Option<String>,
    pub options: Vec<String>,
    pub emoji: Option<String>,
    pub template_name: Option<String>,
    /// The quoted (replied-to or reacted-to) message's preview.
    pub quote: Option<String>,
    /// It quotes a message that is not in this inbox (sent before the number was connected, or
    /// from elsewhere).
    pub quotes_unknown: bool,
    pub sender: Option<String>,
    /// Sent from the WhatsApp Business app (coexistence), or imported history.
    pub origin: Option<&'static str>,
    pub time: String,
    pub time_iso: String,
    /// Ticks: symbol and accessible label.
    pub ticks: &'static str,
    pub ticks_label: &'static str,
    pub error: Option<String>,
    pub forwarded: bool,
    /// Reactions on this message (the customer's and the team's latest), shown under the bubble.
    pub reactions: Vec<String>,
}

fn sv(v: &Value, path: &str) -> Option<String> {
    v.pointer(path).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_string)
}

fn status_hook(m: &messages::Model) -> &'static str {
    match m.status {
        MessageStatus::Queued => "queued",
        MessageStatus::Sent => "sent",
        MessageStatus::Delivered => "delivered",
        MessageStatus::Read | MessageStatus::Played => "read",
        MessageStatus::Failed => "failed",
        MessageStatus::Received => "received",
    }
}

fn ticks(status: &str) -> (&'static str, &'static str) {
    match status {
        "queued" => ("🕓", "Sending"),
        "sent" => ("✓", "Sent"),
        "delivered" => ("✓✓", "Delivered"),
        "read" => ("✓✓", "Read"),
        "failed" => ("⚠", "Failed"),
        _ => ("", ""),
    }
}

fn error_text(m: &messages::Model) -> Option<String> {
    if m.status != MessageStatus::Failed && m.error_code.is_none() && m.error_title.is_none() {
        return None;
    }
    let mut s = m.error_title.clone().unwrap_or_else(|| "The message could not be delivered".into());
    if let Some(c) = m.error_code {
        s.push_str(&format!(" (code {c})"));
    }
    if let Some(d) = m.error_details.as_deref().filter(|d| !d.is_empty() && Some(*d) != m.error_title.as_deref()) {
        s.push_str(&format!(": {d}"));
    }
    Some(s)
}

/// A short text for a quoted message.
fn quote_preview(m: &messages::Model) -> String {
    crate::messages::outbound::preview(&m.msg_type, &m.content)
}

fn media_view(m: &messages::Model, c: &Value) -> MediaView {
    let local = sv(c, "/localMediaId").filter(|s| s.parse::<Uuid>().is_ok());
    let link = sv(c, "/link").filter(|l| l.starts_with("https://") || l.starts_with("http://"));
    let url = local.map(|id| format!("/api/media/{id}")).or(link);
    MediaView {
        pending: url.is_none() && m.direction == Direction::Inbound,
        url,
        mime: sv(c, "/mime_type").unwrap_or_default(),
        filename: sv(c, "/filename"),
    }
}

fn contact_cards(c: &Value) -> Vec<ContactCardView> {
    let list = c.get("contacts").and_then(Value::as_array).cloned().unwrap_or_default();
    list.iter()
        .map(|k| {
            let all = |key: &str, field: &str| -> Vec<String> {
                k.get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get(field).and_then(Value::as_str).map(str::to_string))
                    .collect()
            };
            ContactCardView {
                name: sv(k, "/name/formatted_name")
                    .or_else(|| sv(k, "/name/first_name"))
                    .unwrap_or_else(|| "Contact".into()),
                phones: all("phones", "phone"),
                emails: all("emails", "email"),
            }
        })
        .collect()
}

pub fn message_view(
    m: &messages::Model,
    quotes: &HashMap<Uuid, String>,
    senders: &HashMap<Uuid, String>,
) -> MessageView {
    let c = &m.content;
    let status = status_hook(m);
    let (tk, tl) = if m.direction == Direction::Outbound { ticks(status) } else { ("", "") };
    let mut v = MessageView {
        id: m.id,
        conversation_id: m.conversation_id,
        direction: m.direction.as_str(),
        status,
        kind: m.msg_type.clone(),
        raw_type: m.msg_type.clone(),
        text: None,
        caption: sv(c, "/caption"),
        media: None,
        location: None,
        contacts: vec![],
        reply: None,
        options: vec![],
        emoji: None,
        template_name: None,
        quote: m.reply_to_id.and_then(|q| quotes.get(&q).cloned()),
        quotes_unknown: m.reply_to_id.is_none() && m.reply_to_wa_id.is_some() && m.msg_type != "reaction",
        sender: m.sender_user_id.and_then(|u| senders.get(&u).cloned()),
        origin: match m.origin.as_deref() {
            Some("business_app") => Some("Sent from the WhatsApp Business app"),
            Some("history") => Some("Imported history"),
            _ => None,
        },
        time: m.created_at.format("%H:%M").to_string(),
        time_iso: m.created_at.to_rfc3339(),
        ticks: tk,
        ticks_label: tl,
        error: error_text(m),
        forwarded: c.get("forwarded").and_then(Value::as_bool).unwrap_or(false),
        reactions: vec![],
    };
    match m.msg_type.as_str() {
        "text" => v.text = Some(sv(c, "/body").unwrap_or_default()),
        "image" | "sticker" | "video" | "audio" | "document" => v.media = Some(media_view(m, c)),
        "location" => {
            let lat = c.get("latitude").and_then(Value::as_f64);
            let lon = c.get("longitude").and_then(Value::as_f64);
            let label = [sv(c, "/name"), sv(c, "/address")].into_iter().flatten().collect::<Vec<_>>().join(" · ");
            v.location = Some(LocationView {
                label: if label.is_empty() { "Shared location".into() } else { label },
                map_url: match (lat, lon) {
                    (Some(a), Some(b)) => Some(crate::sandbox::map_url(a, b)),
                    _ => sv(c, "/url").filter(|u| u.starts_with("https://")),
                },
                coords: match (lat, lon) {
                    (Some(a), Some(b)) => format!("{a:.5}, {b:.5}"),
                    _ => String::new(),
                },
            });
        }
        "contacts" => v.contacts = contact_cards(c),
        "interactive" => {
            if let Some(t) = sv(c, "/button_reply/title") {
                v.reply = Some(t);
            } else if let Some(t) = sv(c, "/list_reply/title") {
                v.reply = Some(match sv(c, "/list_reply/description") {
                    Some(d) => format!("{t} — {d}"),
                    None => t,
                });
            } else if let Some(t) = sv(c, "/nfm_reply/body").or_else(|| sv(c, "/nfm_reply/name")) {
                v.reply = Some(t);
            } else {
                let parts: Vec<String> =
                    [sv(c, "/header/text"), sv(c, "/body/text"), sv(c, "/footer/text")].into_iter().flatten().collect();
                v.text = Some(parts.join("\n\n"));
                for b in c.pointer("/action/buttons").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(t) = sv(b, "/reply/title") {
                        v.options.push(t);
                    }
                }
                for s in c.pointer("/action/sections").and_then(Value::as_array).into_iter().flatten() {
                    for r in s.get("rows").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(t) = sv(r, "/title") {
                            v.options.push(t);
                        }
                    }
                }
                if let Some(b) = sv(c, "/action/button").or_else(|| sv(c, "/action/parameters/display_text")) {
                    v.options.push(b);
                }
            }
        }
        "button" => v.reply = Some(sv(c, "/text").or_else(|| sv(c, "/payload")).unwrap_or_default()),
        "reaction" => {
            v.emoji = Some(sv(c, "/emoji").unwrap_or_default());
        }
        "template" => {
            v.template_name = sv(c, "/name");
            let params: Vec<String> = c
                .get("components")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|comp| comp.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default())
                .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_string))
                .collect();
            if !params.is_empty() {
                v.options = params;
            }
        }
        other => {
            v.kind = "unsupported".into();
            let why = c
                .pointer("/errors/0/error_data/details")
                .or_else(|| c.pointer("/errors/0/title"))
                .and_then(Value::as_str)
                .map(str::to_string);
            v.text = Some(why.unwrap_or_else(|| format!("A {other} message, which the inbox cannot show.")));
        }
    }
    v
}

/// Bubbles for messages, with their quotes and senders loaded.
async fn message_views(
    state: &AppState,
    tenant: TenantId,
    rows: &[messages::Model],
) -> Result<Vec<MessageView>, AppError> {
    let mut quotes: HashMap<Uuid, String> = rows.iter().map(|m| (m.id, quote_preview(m))).collect();
    let missing: Vec<Uuid> = rows
        .iter()
        .filter_map(|m| m.reply_to_id)
        .filter(|q| !quotes.contains_key(q))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        for q in crate::messages::thread::by_ids(&state.db, tenant, missing).await? {
            quotes.insert(q.id, quote_preview(&q));
        }
    }
    // Templates read as the customer got them: their text with the parameters filled in.
    // The latest reaction of each side on each message (an empty emoji removes it).
    let mut reactions: HashMap<Uuid, [Option<String>; 2]> = HashMap::new();
    let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
    if !ids.is_empty() {
        let found = crate::messages::thread::reactions_to(&state.db, tenant, ids).await?;
        for r in found {
            let Some(target) = r.reply_to_id else { continue };
            let side = usize::from(r.direction == Direction::Outbound);
            reactions.entry(target).or_default()[side] = sv(&r.content, "/emoji");
        }
    }
    let mut rendered: HashMap<Uuid, (String, Vec<String>)> = HashMap::new();
    let sent_templates: Vec<&messages::Model> = rows.iter().filter(|m| m.msg_type == "template").collect();
    if !sent_templates.is_empty() {
        let names: HashSet<String> = sent_templates.iter().filter_map(|m| sv(&m.content, "/name")).collect();
        let defs = crate::templates::service::by_names(&state.db, tenant, names).await?;
        for m in sent_templates {
            let lang = sv(&m.content, "/language/code").or_else(|| sv(&m.content, "/language"));
            let def = defs.iter().find(|t| {
                Some(&t.name) == sv(&m.content, "/name").as_ref() && lang.as_ref().is_none_or(|l| *l == t.language)
            });
            if let Some(t) = def {
                let p = crate::templates::params::preview(t, &crate::sandbox::template_values(&m.content));
                let text: Vec<String> = [p.header.unwrap_or_default(), p.body, p.footer.unwrap_or_default()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                rendered.insert(m.id, (text.join("\n\n"), p.buttons.into_iter().map(|b| b.text).collect()));
            }
        }
    }
    let senders =
        if rows.iter().any(|m| m.sender_user_id.is_some()) { user_names(state, tenant).await? } else { HashMap::new() };
    Ok(rows
        .iter()
        .map(|m| {
            let mut v = message_view(m, &quotes, &senders);
            if let Some(r) = reactions.get(&m.id) {
                v.reactions = r.iter().flatten().cloned().collect();
            }
            if let Some((text, buttons)) = rendered.remove(&m.id) {
                v.text = Some(text);
                v.options = buttons;
            }
            v
        })
        .collect())
}

// ------------------------------------------------------------------------------------ the thread

pub struct NoteView {
    pub id: Uuid,
    pub author: String,
    pub body: String,
    pub time: String,
    pub time_iso: String,
}

pub struct TemplateOption {
    pub name: String,
    pub language: String,
    pub category: String,
    /// `{"header": "text"|"image"|…|null, "body": ["1", …], "text": "Hello {{1}}"}` for the script.
    pub spec_json: String,
}

pub struct AgentOption {
    pub id: Uuid,
    pub name: String,
    pub selected: bool,
}

pub struct CannedView {
    pub shortcut: String,
    pub title: String,
    pub body: String,
}

pub struct ThreadView {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub name: String,
    pub wa_id: String,
    pub profile_name: Option<String>,
    /// The customer's WhatsApp username, when they use one.
    pub username: Option<String>,
    /// The customer's business-scoped user id (BSUID), when Meta sent one.
    pub user_id: Option<String>,
    /// Why they are opted out, in words.
    pub opt_out_reason: Option<&'static str>,
    pub number_label: String,
    pub status: &'static str,
    pub assignee_id: Option<Uuid>,
    pub assignee: Option<String>,
    pub mine: bool,
    pub unread: i32,
    pub messages: Vec<MessageView>,
    /// Where the earlier messages start, when there are more than the page shows.
    pub older: Option<String>,
    pub window_open: bool,
    /// Why the free text composer is disabled, when it is.
    pub window_note: String,
    pub window_until: String,
    pub opted_out: bool,
    pub contact_name: String,
    pub tags: String,
    pub attributes: String,
    pub notes: Vec<NoteView>,
    /// Who the conversation can be assigned to.
    pub agents: Vec<AgentOption>,
    pub canned: Vec<CannedView>,
    pub templates: Vec<TemplateOption>,
}

fn attributes_text(v: &Value) -> String {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

async fn thread_view(state: &AppState, user: &WebUser, c: &ConversationDto) -> Result<ThreadView, AppError> {
    let tenant = user.principal.tenant()?;
    let me = user.principal.user_id.0;
    let mut rows = convs::messages_page(&state.db, tenant, c.id, None, THREAD_SIZE).await?;
    let older = (rows.len() as u64 == THREAD_SIZE)
        .then(|| rows.last().map(|m| crate::pagination::encode(m.created_at, m.id)))
        .flatten();
    rows.reverse();
    let messages = message_views(state, tenant, &rows).await?;
    let contact = crate::contacts::service::get(&state.db, tenant, c.contact.id).await?;
    let notes = crate::notes::service::list(&state.db, &user.principal, c.id).await?;
    let agents = crate::agents::service::list(state, tenant).await?;
    let canned = crate::canned::service::list(&state.db, tenant, None).await?;
    let filter = crate::templates::service::Filter {
        status: Some("APPROVED".into()),
        account: Some(c.whatsapp_account_id),
        ..Default::default()
    };
    let templates = crate::templates::service::list(&state.db, tenant, &filter).await?;
    let account = crate::accounts::service::get(&state.db, tenant, c.whatsapp_account_id).await.ok();
    let name = c
        .contact
        .name
        .clone()
        .or_else(|| c.contact.wa_id.as_ref().map(|w| format!("+{w}")))
        .unwrap_or_else(|| "Unknown".into());
    let window_note = if c.window.open {
        String::new()
    } else if c.last_inbound_at.is_some() {
        "The 24-hour customer-service window is closed: the customer last wrote more than 24 hours ago. \
         WhatsApp only lets you send an approved template until they write again."
            .to_string()
    } else {
        "The customer has not written yet, so no customer-service window is open. \
         WhatsApp only lets you start a conversation with an approved template."
            .to_string()
    };
    let agent_names: HashMap<Uuid, String> = agents.iter().map(|a| (a.user_id, a.display_name.clone())).collect();
    Ok(ThreadView {
        id: c.id,
        contact_id: contact.id,
        wa_id: contact.wa_id.as_ref().map(|w| format!("+{w}")).unwrap_or_default(),
        profile_name: contact.profile_name.clone(),
        username: contact.username.clone(),
        user_id: contact.user_id.clone(),
        opt_out_reason: match contact.opt_out_source.as_deref() {
            _ if !contact.opted_out => None,
            Some("keyword") => Some("they sent an opt-out keyword"),
            Some("user_preferences") => Some("they stopped marketing messages in WhatsApp"),
            Some("meta_131050") => Some("Meta reported they stopped marketing messages (131050)"),
            Some("agent") => Some("set by the team"),
            _ => None,
        },
        number_label: account
            .map(|a| {
                if a.display_phone_number.is_empty() {
                    a.name
                } else {
                    format!("{} · {}", a.name, a.display_phone_number)
                }
            })
            .unwrap_or_default(),
        status: c.status.as_str(),
        assignee_id: c.assignee_id,
        assignee: c.assignee_id.map(|a| agent_names.get(&a).cloned().unwrap_or_else(|| "Someone".into())),
        mine: c.assignee_id == Some(me),
        unread: c.unread_count,
        messages,
        older,
        window_open: c.window.open,
        window_note,
        window_until: c.window.expires_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        opted_out: contact.opted_out,
        contact_name: contact.name.clone().unwrap_or_default(),
        tags: contact
            .tags
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
        attributes: attributes_text(&contact.attributes),
        notes: notes
            .into_iter()
            .map(|n| NoteView {
                id: n.id,
                author: n.author_name.unwrap_or_else(|| "Former member".into()),
                body: n.body,
                time: short_time(n.created_at),
                time_iso: n.created_at.to_rfc3339(),
            })
            .collect(),
        agents: agents
            .into_iter()
            .map(|a| AgentOption { selected: Some(a.user_id) == c.assignee_id, id: a.user_id, name: a.display_name })
            .collect(),
        canned: canned.into_iter().map(|k| CannedView { shortcut: k.shortcut, title: k.title, body: k.body }).collect(),
        templates: templates
            .into_iter()
            .map(|t| {
                let dto = crate::templates::service::TemplateDto::from(t.clone());
                // The text with its placeholders, which the script fills in as the agent types.
                let mut keep: HashMap<String, String> =
                    dto.variables.body.iter().map(|k| (k.clone(), format!("{{{{{k}}}}}"))).collect();
                keep.insert("header".into(), "{{header}}".into());
                let p = crate::templates::params::preview(&t, &keep);
                let text: Vec<String> =
                    [p.header.unwrap_or_default(), p.body].into_iter().filter(|s| !s.is_empty()).collect();
                let spec = serde_json::json!({
                    "name": t.name, "language": t.language,
                    "header": dto.variables.header, "body": dto.variables.body,
                    "text": text.join("\n\n"),
                });
                TemplateOption { name: t.name, language: t.language, category: t.category, spec_json: spec.to_string() }
            })
            .collect(),
        name,
    })
}

// ------------------------------------------------------------------------------------- the pages

#[derive(Template)]
#[template(path = "inbox.html")]
pub struct InboxPage {
    pub shell: Shell,
    pub me: Uuid,
    pub filters: Filters,
    pub items: Vec<ConvItem>,
    pub next_page: Option<String>,
    pub thread: Option<ThreadView>,
}

async fn list_items(
    state: &AppState,
    user: &WebUser,
    f: &Filters,
    active: Option<Uuid>,
) -> Result<(Vec<ConvItem>, Option<String>), AppError> {
    let me = user.principal.user_id.0;
    let tenant = user.principal.tenant()?;
    let cursor = match f.cursor.as_deref() {
        Some(c) => Some(crate::pagination::decode(c)?),
        None => None,
    };
    let rows = convs::list(&state.db, &user.principal, f.list_filter(me, cursor)).await?;
    let next = (rows.len() as u64 == LIST_SIZE)
        .then(|| rows.last().map(|c| crate::pagination::encode(c.last_message_at, c.id)))
        .flatten()
        .map(|c| {
            let q = f.query();
            format!("/inbox?{}{}cursor={}", q, if q.is_empty() { "" } else { "&" }, urlencode(&c))
        });
    let dtos = convs::with_contacts(&state.db, rows).await?;
    let names = user_names(state, tenant).await?;
    Ok((dtos.iter().map(|c| conv_item(c, me, &names, active, f)).collect(), next))
}

fn role_check(user: &WebUser) -> Result<(), Response> {
    user.require(INBOX_ROLES)?;
    user.tenant_id().map(|_| ())
}

/// `GET /inbox`: the conversation list.
pub async fn inbox_page(State(state): State<AppState>, user: WebUser, Query(q): Query<InboxQuery>) -> Response {
    if let Err(r) = role_check(&user) {
        return r;
    }
    let f = Filters::from_query(&q);
    match list_items(&state, &user, &f, None).await {
        Ok((items, next_page)) => render(&InboxPage {
            shell: user.shell("inbox"),
            me: user.principal.user_id.0,
            filters: f,
            items,
            next_page,
            thread: None,
        }),
        Err(e) => app_error_page(&user, e),
    }
}

/// `GET /inbox/{id}`: the list and one conversation.
pub async fn conversation_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<InboxQuery>,
) -> Response {
    if let Err(r) = role_check(&user) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else { return app_error_page(&user, AppError::not_found("conversation")) };
    let f = Filters::from_query(&q);
    let load = async {
        let c = convs::get_visible(&state.db, &user.principal, id).await?;
        let dto = convs::with_contacts(&state.db, vec![c]).await?.remove(0);
        let thread = thread_view(&state, &user, &dto).await?;
        let (items, next_page) = list_items(&state, &user, &f, Some(id)).await?;
        Ok::<_, AppError>((thread, items, next_page))
    };
    match load.await {
        Ok((thread, items, next_page)) => render(&InboxPage {
            shell: user.shell("inbox"),
            me: user.principal.user_id.0,
            filters: f,
            items,
            next_page,
            thread: Some(thread),
        }),
        Err(e) => app_error_page(&user, e),
    }
}

// ------------------------------------------------------------------------------------- fragments

#[derive(Template)]
#[template(path = "_inbox_conversation.html")]
struct ConversationFragment {
    c: ConvItem,
}

#[derive(Template)]
#[template(path = "_inbox_message.html")]
struct MessageFragment {
    m: MessageView,
}

#[derive(Template)]
#[template(path = "_inbox_messages.html")]
struct MessagesFragment {
    messages: Vec<MessageView>,
}

#[derive(Deserialize, Default)]
pub struct OlderQuery {
    pub before: Option<String>,
}

/// `GET /inbox/{id}/messages/fragment?before=…`: the page of bubbles before a position, oldest
/// first; `X-Next-Cursor` names the position before them when there are more.
pub async fn older_messages(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<OlderQuery>,
) -> Response {
    if let Err(r) = role_check(&user) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else { return app_error_page(&user, AppError::not_found("conversation")) };
    let load = async {
        let c = convs::get_visible(&state.db, &user.principal, id).await?;
        let cursor = q.before.as_deref().map(crate::pagination::decode).transpose()?;
        let mut rows = convs::messages_page(&state.db, TenantId(c.tenant_id), c.id, cursor, THREAD_SIZE).await?;
        let next = (rows.len() as u64 == THREAD_SIZE)
            .then(|| rows.last().map(|m| crate::pagination::encode(m.created_at, m.id)))
            .flatten();
        rows.reverse();
        Ok::<_, AppError>((message_views(&state, TenantId(c.tenant_id), &rows).await?, next))
    };
    match load.await {
        Ok((messages, next)) => {
            let mut res = render(&MessagesFragment { messages });
            if let Some(v) = next.and_then(|n| axum::http::HeaderValue::from_str(&n).ok()) {
                res.headers_mut().insert("x-next-cursor", v);
            }
            res
        }
        Err(e) => app_error_page(&user, e),
    }
}

#[derive(Deserialize, Default)]
pub struct FragmentQuery {
    #[serde(flatten)]
    pub filters: InboxQuery,
    /// The conversation open in the page (its list item is marked current).
    pub active: Option<String>,
}

/// `GET /inbox/conversations/{id}/fragment`: one list item; `204` when the conversation does not
/// match the list's filters (the script then removes it).
pub async fn conversation_fragment(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<FragmentQuery>,
) -> Response {
    if let Err(r) = role_check(&user) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else { return app_error_page(&user, AppError::not_found("conversation")) };
    let f = Filters::from_query(&q.filters);
    let me = user.principal.user_id.0;
    let active = q.active.as_deref().and_then(|a| a.parse::<Uuid>().ok());
    let load = async {
        let c = convs::get_visible(&state.db, &user.principal, id).await?;
        let c_tenant = c.tenant_id;
        let dto = convs::with_contacts(&state.db, vec![c]).await?.remove(0);
        let names = user_names(&state, TenantId(c_tenant)).await?;
        Ok::<_, AppError>((dto, names))
    };
    match load.await {
        Ok((dto, _)) if !f.matches(&dto, me) => StatusCode::NO_CONTENT.into_response(),
        Ok((dto, names)) => render(&ConversationFragment { c: conv_item(&dto, me, &names, active, &f) }),
        Err(e) => app_error_page(&user, e),
    }
}

/// `GET /inbox/{id}/messages/{message_id}/fragment`: one bubble.
pub async fn message_fragment(
    State(state): State<AppState>,
    user: WebUser,
    Path((id, message_id)): Path<(String, String)>,
) -> Response {
    if let Err(r) = role_check(&user) {
        return r;
    }
    let (Ok(id), Ok(message_id)) = (id.parse::<Uuid>(), message_id.parse::<Uuid>()) else {
        return app_error_page(&user, AppError::not_found("message"));
    };
    let load = async {
        let c = convs::get_visible(&state.db, &user.principal, id).await?;
        let m = messages::Entity::by_id(TenantId(c.tenant_id), message_id)
            .filter(messages::Column::ConversationId.eq(c.id))
            .one(&state.db)
            .await?
            .ok_or_else(|| AppError::not_found("message"))?;
        let mut v = message_views(&state, TenantId(c.tenant_id), std::slice::from_ref(&m)).await?;
        Ok::<_, AppError>(v.remove(0))
    };
    match load.await {
        Ok(m) => render(&MessageFragment { m }),
        Err(e) => app_error_page(&user, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(kind: &str, content: Value, dir: Direction, status: MessageStatus) -> messages::Model {
        let now = Utc::now();
        messages::Model {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            conversation_id: Uuid::nil(),
            direction: dir,
            msg_type: kind.into(),
            content,
            raw: None,
            reply_to_from: None,
            origin: None,
            wa_message_id: None,
            client_message_id: None,
            status,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            played_at: None,
            failed_at: None,
            error_code: None,
            error_title: None,
            error_details: None,
            reply_to_id: None,
            reply_to_wa_id: None,
            sender_user_id: None,
            billed: false,
            send_started_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn bubbles_for_each_type() {
        let e = HashMap::new();
        let v = message_view(&msg("text", json!({"body": "hi"}), Direction::Inbound, MessageStatus::Received), &e, &e);
        assert_eq!(v.text.as_deref(), Some("hi"));
        assert_eq!(v.ticks, "");
        let id = Uuid::now_v7();
        let v = message_view(
            &msg(
                "image",
                json!({"localMediaId": id.to_string(), "caption": "c"}),
                Direction::Inbound,
                MessageStatus::Received,
            ),
            &e,
            &e,
        );
        assert_eq!(v.media.as_ref().unwrap().url.as_deref(), Some(format!("/api/media/{id}").as_str()));
        let v = message_view(&msg("image", json!({"id": "1"}), Direction::Inbound, MessageStatus::Received), &e, &e);
        assert!(v.media.unwrap().pending);
        let v = message_view(
            &msg("location", json!({"latitude": 1.0, "longitude": 2.0}), Direction::Inbound, MessageStatus::Received),
            &e,
            &e,
        );
        assert!(v.location.unwrap().map_url.unwrap().starts_with("https://www.openstreetmap.org/"));
        let v = message_view(
            &msg(
                "interactive",
                json!({"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}}),
                Direction::Inbound,
                MessageStatus::Received,
            ),
            &e,
            &e,
        );
        assert_eq!(v.reply.as_deref(), Some("Yes"));
        let mut failed = msg("text", json!({"body": "x"}), Direction::Outbound, MessageStatus::Failed);
        failed.error_code = Some(131047);
        failed.error_title = Some("Re-engagement message".into());
        let v = message_view(&failed, &e, &e);
        assert_eq!(v.status, "failed");
        assert!(v.error.unwrap().contains("131047"));
        let v = message_view(&msg("unsupported", json!({}), Direction::Inbound, MessageStatus::Received), &e, &e);
        assert_eq!(v.kind, "unsupported");
        let v = message_view(&msg("text", json!({"body": "x"}), Direction::Outbound, MessageStatus::Played), &e, &e);
        assert_eq!((v.status, v.ticks_label), ("read", "Read"));
    }

    #[test]
    fn filters_round_trip_and_match() {
        let f = Filters::from_query(&InboxQuery {
            view: Some("mine".into()),
            status: Some("open".into()),
            q: Some("ana b".into()),
            cursor: None,
        });
        assert_eq!(f.query(), "view=mine&status=open&q=ana%20b");
        let f = Filters::from_query(&InboxQuery::default());
        assert_eq!(f.suffix(), "");
    }
}
