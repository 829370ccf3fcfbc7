//! The sandbox (the built-in Meta simulator, `meta-sim`, as a number anyone can try): the
//! simulated customer's side of a sandbox chat: what the customer wrote (the inbound messages
//! this tenant stored) and what the business sent them (what the built-in meta-sim accepted on the
//! number), in time order. Read by `GET /api/whatsapp-accounts/{id}/sandbox/messages` and the
//! sandbox page.

pub mod routes;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::enums::Direction;
use crate::entities::{contacts, conversations, messages, templates, whatsapp_accounts};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::state::AppState;

/// At most this many messages of each side are shown (the latest).
const MAX_ITEMS: usize = 200;

/// A button the customer can tap on a business message.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimButton {
    /// `button_reply` (interactive reply button), `list_reply` (a list row) or `button`
    /// (a template quick reply).
    pub kind: String,
    pub id: String,
    pub title: String,
}

/// One message as the simulated customer's phone shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimChatItem {
    /// `customer` (written by the simulated customer) or `business` (received from the business).
    pub from: String,
    pub wa_message_id: Option<String>,
    #[serde(rename = "type")]
    pub msg_type: String,
    /// What the phone shows, as text.
    pub text: String,
    /// A link the customer can open (a location's map, a media link).
    pub link: Option<String>,
    /// Buttons the customer can tap (interactive messages, template quick replies).
    pub buttons: Vec<SimButton>,
    /// For a customer's message: the business marked it read (blue ticks).
    pub read: bool,
    /// The business's send was accepted but Meta will fail it.
    pub failed: bool,
    pub at: DateTime<Utc>,
    /// The message body in Meta's shape.
    #[schema(value_type = Object)]
    pub body: Value,
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ThreadParams {
    /// The simulated customer's WhatsApp id (digits).
    pub wa_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct SimThread {
    /// Oldest first.
    pub data: Vec<SimChatItem>,
}

/// Checks a simulated customer's WhatsApp id: 1 to 20 digits.
pub fn parse_wa_id(raw: &str) -> Result<String, String> {
    let s = raw.trim().trim_start_matches('+');
    if s.is_empty() || s.len() > 20 || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err("must be a phone number in digits".into());
    }
    Ok(s.to_string())
}

/// The tenant's sandbox number (404 for another tenant's, a real number, or a disabled sandbox).
pub async fn sandbox_account(state: &AppState, tenant: TenantId, id: Uuid) -> AppResult<whatsapp_accounts::Model> {
    let a = crate::accounts::service::get(&state.db, tenant, id).await?;
    if !a.is_sandbox || state.sandbox.is_none() {
        return Err(AppError::not_found("sandbox number"));
    }
    Ok(a)
}

/// The chat of `wa_id` with the tenant's sandbox number `account`, oldest first.
pub async fn customer_view(
    state: &AppState,
    tenant: TenantId,
    account: Uuid,
    wa_id: &str,
) -> AppResult<Vec<SimChatItem>> {
    let a = sandbox_account(state, tenant, account).await?;
    let Some(sim) = state.sandbox.as_ref() else { return Ok(vec![]) };
    let read: HashSet<String> = sim.sim.marked_read(&a.phone_number_id).into_iter().collect();
    let mut items = Vec::new();

    // What the customer wrote, as this tenant stored it.
    let contact = contacts::Entity::of(tenant).filter(contacts::Column::WaId.eq(wa_id)).one(&state.db).await?;
    let mut convs: Vec<Uuid> = vec![];
    if let Some(c) = contact {
        convs = conversations::Entity::of(tenant)
            .select_only()
            .column(conversations::Column::Id)
            .filter(conversations::Column::WhatsappAccountId.eq(a.id))
            .filter(conversations::Column::ContactId.eq(c.id))
            .into_tuple()
            .all(&state.db)
            .await?;
        if !convs.is_empty() {
            let mut rows = messages::Entity::of(tenant)
                .filter(messages::Column::ConversationId.is_in(convs.clone()))
                .filter(messages::Column::Direction.eq(Direction::Inbound))
                .order_by_desc(messages::Column::CreatedAt)
                .order_by_desc(messages::Column::Id)
                .limit(MAX_ITEMS as u64)
                .all(&state.db)
                .await?;
            rows.reverse();
            for m in rows {
                let (text, link) = customer_text(&m.msg_type, &m.content);
                items.push(SimChatItem {
                    from: "customer".into(),
                    read: m.wa_message_id.as_ref().is_some_and(|w| read.contains(w)),
                    wa_message_id: m.wa_message_id,
                    msg_type: m.msg_type,
                    text,
                    link,
                    buttons: vec![],
                    failed: false,
                    at: m.created_at,
                    body: m.content,
                });
            }
        }
    }

    // What the business sent to this customer, as the simulator received it; and, for what the
    // simulator no longer remembers (it lives in memory: a restart empties it), the sends Meta
    // accepted according to this tenant's messages.
    let mut sent: Vec<Sent> = sim
        .sim
        .sent_messages(&a.phone_number_id)
        .into_iter()
        .filter(|s| s.wa_id == wa_id || s.to == wa_id)
        .map(|s| Sent {
            part: s.body.get(&s.msg_type).cloned().unwrap_or(Value::Null),
            at: DateTime::<Utc>::from_timestamp_millis(s.timestamp_ms as i64).unwrap_or_else(Utc::now),
            failed: s.async_failure_code.is_some(),
            wamid: s.wamid,
            kind: s.msg_type,
        })
        .collect();
    if !convs.is_empty() {
        let known: HashSet<String> = sent.iter().map(|s| s.wamid.clone()).collect();
        let rows = messages::Entity::of(tenant)
            .filter(messages::Column::ConversationId.is_in(convs))
            .filter(messages::Column::Direction.eq(Direction::Outbound))
            .filter(messages::Column::WaMessageId.is_not_null())
            .order_by_desc(messages::Column::CreatedAt)
            .order_by_desc(messages::Column::Id)
            .limit(MAX_ITEMS as u64)
            .all(&state.db)
            .await?;
        for m in rows {
            let Some(w) = m.wa_message_id.filter(|w| !known.contains(w)) else { continue };
            sent.push(Sent {
                wamid: w,
                kind: m.msg_type,
                part: m.content,
                at: m.sent_at.unwrap_or(m.created_at),
                failed: m.status == crate::entities::enums::MessageStatus::Failed,
            });
        }
        sent.sort_by_key(|s| s.at);
    }
    let skip = sent.len().saturating_sub(MAX_ITEMS);
    let mut tpl_cache: HashMap<(String, String), Option<templates::Model>> = HashMap::new();
    for s in sent.into_iter().skip(skip) {
        let part = s.part;
        let (mut text, link, mut buttons) = business_text(&s.kind, &part);
        if s.kind == "template" {
            let name = part.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let lang = part.pointer("/language/code").and_then(Value::as_str).unwrap_or_default().to_string();
            let key = (name.clone(), lang.clone());
            if !tpl_cache.contains_key(&key) {
                let t = templates::Entity::of(tenant)
                    .filter(templates::Column::WhatsappAccountId.eq(a.id))
                    .filter(templates::Column::Name.eq(name.as_str()))
                    .filter(templates::Column::Language.eq(lang.as_str()))
                    .one(&state.db)
                    .await?;
                tpl_cache.insert(key.clone(), t);
            }
            if let Some(Some(t)) = tpl_cache.get(&key) {
                let p = crate::templates::params::preview(t, &template_values(&part));
                // Quick replies come back as a `button` message carrying the button's text.
                buttons.extend(p.buttons.iter().filter(|b| b.kind == "QUICK_REPLY").map(|b| SimButton {
                    kind: "button".into(),
                    id: b.text.clone(),
                    title: b.text.clone(),
                }));
                text = [p.header.unwrap_or_default(), p.body, p.footer.unwrap_or_default()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
        }
        items.push(SimChatItem {
            from: "business".into(),
            wa_message_id: Some(s.wamid),
            msg_type: s.kind,
            text,
            link,
            buttons,
            read: false,
            failed: s.failed,
            at: s.at,
            body: part,
        });
    }
    items.sort_by_key(|i| i.at);
    // Marking a message read marks every earlier one read too (as on WhatsApp).
    if let Some(last) = items.iter().rposition(|i| i.from == "customer" && i.read) {
        for i in items.iter_mut().take(last) {
            i.read |= i.from == "customer";
        }
    }
    Ok(items)
}

/// A message the business sent to the customer.
struct Sent {
    wamid: String,
    kind: String,
    /// The body under the type, in Meta's shape.
    part: Value,
    at: DateTime<Utc>,
    failed: bool,
}

/// Parameter values of a sent template (`1`, `2` or named, and `header`), for its preview.
pub fn template_values(part: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for comp in part.get("components").and_then(Value::as_array).into_iter().flatten() {
        let kind = comp.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        let params = comp.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for (i, p) in params.iter().enumerate() {
            let Some(text) = p.get("text").and_then(Value::as_str) else { continue };
            match kind.as_str() {
                "header" => {
                    out.insert("header".to_string(), text.to_string());
                }
                "body" => {
                    let key = p
                        .get("parameter_name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| (i + 1).to_string());
                    out.insert(key, text.to_string());
                }
                _ => {}
            }
        }
    }
    out
}

fn s<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A map link for a location.
pub fn map_url(lat: f64, lon: f64) -> String {
    format!("https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}")
}

fn location_text(v: &Value) -> (String, Option<String>) {
    let lat = v.get("latitude").and_then(Value::as_f64);
    let lon = v.get("longitude").and_then(Value::as_f64);
    let label = [s(v, "/name"), s(v, "/address")].into_iter().flatten().collect::<Vec<_>>().join(", ");
    match (lat, lon) {
        (Some(lat), Some(lon)) => {
            let text = if label.is_empty() { format!("📍 {lat}, {lon}") } else { format!("📍 {label}") };
            (text, Some(map_url(lat, lon)))
        }
        _ => ("📍 Location".into(), None),
    }
}

fn media_label(kind: &str) -> &'static str {
    match kind {
        "image" => "📷 Photo",
        "video" => "🎥 Video",
        "audio" => "🎵 Audio",
        "document" => "📄 Document",
        "sticker" => "Sticker",
        _ => "Attachment",
    }
}

/// A customer's message as text (its content as the tenant stored it).
fn customer_text(kind: &str, c: &Value) -> (String, Option<String>) {
    match kind {
        "text" => (s(c, "/body").unwrap_or_default().to_string(), None),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let mut t = media_label(kind).to_string();
            if let Some(f) = s(c, "/filename") {
                t = format!("{t}: {f}");
            }
            if let Some(cap) = s(c, "/caption") {
                t = format!("{t}\n{cap}");
            }
            (t, None)
        }
        "location" => location_text(c),
        "interactive" => {
            let title = s(c, "/button_reply/title").or(s(c, "/list_reply/title")).unwrap_or("(reply)");
            (format!("↩ {title}"), None)
        }
        "button" => (format!("↩ {}", s(c, "/text").unwrap_or("(button)")), None),
        "reaction" => {
            let e = s(c, "/emoji");
            (e.map(|e| format!("Reacted {e}")).unwrap_or_else(|| "Removed a reaction".into()), None)
        }
        "contacts" => {
            let names: Vec<String> = c
                .get("contacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| s(k, "/name/formatted_name").map(str::to_string))
                .collect();
            (format!("👤 {}", if names.is_empty() { "Contact".to_string() } else { names.join(", ") }), None)
        }
        other => (format!("[{other}]"), None),
    }
}

/// A business message as the customer's phone shows it, with the buttons it offers.
fn business_text(kind: &str, b: &Value) -> (String, Option<String>, Vec<SimButton>) {
    let mut buttons = vec![];
    let (text, link) = match kind {
        "text" => (s(b, "/body").unwrap_or_default().to_string(), None),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let mut t = media_label(kind).to_string();
            if let Some(f) = s(b, "/filename") {
                t = format!("{t}: {f}");
            }
            if let Some(cap) = s(b, "/caption") {
                t = format!("{t}\n{cap}");
            }
            (t, s(b, "/link").filter(|l| l.starts_with("https://") || l.starts_with("http://")).map(str::to_string))
        }
        "location" => location_text(b),
        "reaction" => {
            let e = s(b, "/emoji");
            (e.map(|e| format!("Reacted {e} to your message")).unwrap_or_else(|| "Removed a reaction".into()), None)
        }
        "contacts" => ("👤 Contact card".into(), None),
        "interactive" => {
            let parts: Vec<&str> =
                [s(b, "/header/text"), s(b, "/body/text"), s(b, "/footer/text")].into_iter().flatten().collect();
            for btn in b.pointer("/action/buttons").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(id), Some(title)) = (s(btn, "/reply/id"), s(btn, "/reply/title")) {
                    buttons.push(SimButton { kind: "button_reply".into(), id: id.into(), title: title.into() });
                }
            }
            for sec in b.pointer("/action/sections").and_then(Value::as_array).into_iter().flatten() {
                for row in sec.get("rows").and_then(Value::as_array).into_iter().flatten() {
                    if let (Some(id), Some(title)) = (s(row, "/id"), s(row, "/title")) {
                        buttons.push(SimButton { kind: "list_reply".into(), id: id.into(), title: title.into() });
                    }
                }
            }
            let link = s(b, "/action/parameters/url").map(str::to_string);
            (parts.join("\n\n"), link)
        }
        "template" => (format!("📋 {}", s(b, "/name").unwrap_or("template")), None),
        other => (format!("[{other}]"), None),
    };
    (text, link, buttons)
}

/// Re-registers sandbox numbers in the (in-memory) simulator after a restart.
pub async fn restore(state: &AppState) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let Some(sim) = &state.sandbox else {
        return Ok(());
    };
    let rows = crate::entities::whatsapp_accounts::Entity::find()
        .filter(crate::entities::whatsapp_accounts::Column::IsSandbox.eq(true))
        .all(&state.db)
        .await?;
    for a in rows {
        let token = crate::accounts::service::access_token(state, &a).map_err(|e| anyhow::anyhow!(e.message))?;
        let secret = match &a.app_secret_enc {
            Some(enc) => crate::secrets::decrypt(
                &state.config.encryption_keys,
                a.tenant_id,
                a.id,
                crate::secrets::Purpose::AppSecret,
                enc,
            )
            .map_err(|e| anyhow::anyhow!(e.message))?,
            None => continue,
        };
        sim.sim.register_number(
            meta_sim::NumberSpec::new(&a.waba_id, &a.phone_number_id, &a.display_phone_number, token.expose(), secret)
                .with_webhook_url(format!("{}/api/webhooks/whatsapp", state.public_url())),
        );
        restore_windows(state, sim, &a).await?;
    }
    Ok(())
}

/// Meta keeps each customer's 24-hour window across our restarts; the in-memory simulator does
/// not, so it is told when each customer of the number last wrote (else replies fail with 131047).
async fn restore_windows(
    state: &AppState,
    sim: &meta_sim::RunningSim,
    account: &crate::entities::whatsapp_accounts::Model,
) -> anyhow::Result<()> {
    use crate::entities::{contacts, conversations};
    use sea_orm::{ColumnTrait, QueryFilter};
    let since = crate::db::now() - chrono::Duration::hours(24);
    let open = conversations::Entity::of(TenantId(account.tenant_id))
        .filter(conversations::Column::WhatsappAccountId.eq(account.id))
        .filter(conversations::Column::LastInboundAt.gt(since))
        .all(&state.db)
        .await?;
    for c in open {
        let Some(at) = c.last_inbound_at else { continue };
        let contact = contacts::Entity::secure_find(&state.db, TenantId(account.tenant_id), c.contact_id).await?;
        if let Some(wa_id) = contact.and_then(|k| k.wa_id) {
            let ago = (crate::db::now() - at).to_std().unwrap_or_default();
            sim.sim.restore_inbound(&account.phone_number_id, &wa_id, ago);
        }
    }
    Ok(())
}

/// The latest customers of a number, to pick from (the sandbox page): `(wa_id, name)`.
pub async fn known_customers(
    db: &sea_orm::DatabaseConnection,
    tenant: TenantId,
    account: Uuid,
) -> Result<Vec<(String, String)>, AppError> {
    let ids: Vec<Uuid> = conversations::Entity::of(tenant)
        .select_only()
        .column(conversations::Column::ContactId)
        .filter(conversations::Column::WhatsappAccountId.eq(account))
        .order_by_desc(conversations::Column::LastMessageAt)
        .limit(20)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let found = contacts::Entity::of(tenant).filter(contacts::Column::Id.is_in(ids.clone())).all(db).await?;
    let mut out = vec![];
    for id in ids {
        if let Some(c) = found.iter().find(|c| c.id == id)
            && let Some(w) = &c.wa_id
            && !out.iter().any(|(x, _): &(String, String)| x == w)
        {
            out.push((w.clone(), c.profile_name.clone().or(c.name.clone()).unwrap_or_default()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn business_messages_read_like_the_phone_shows_them() {
        let (t, _, b) = business_text(
            "interactive",
            &json!({"type": "button", "body": {"text": "Pick one"},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]}}),
        );
        assert_eq!(t, "Pick one");
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].id, "yes");
        let (t, l) = location_text(&json!({"latitude": 1.5, "longitude": 2.0, "name": "HQ"}));
        assert_eq!(t, "📍 HQ");
        assert!(l.unwrap().contains("mlat=1.5"));
        assert_eq!(parse_wa_id("+15551234").unwrap(), "15551234");
        assert!(parse_wa_id("12ab").is_err());
        let v =
            template_values(&json!({"components": [{"type": "body", "parameters": [{"type": "text", "text": "Jo"}]}]}));
        assert_eq!(v.get("1").map(String::as_str), Some("Jo"));
    }
}
