//! Request validation of `POST /{phone-number-id}/messages`, as strict as Meta on the points
//! that matter to a client (required fields, types, lengths, counts) and lenient on the rest.

use serde_json::Value;

use crate::errors::GraphError;

/// What the send pipeline needs from a validated request.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The `to` (or `recipient`) value as given.
    pub input: String,
    /// The normalised WhatsApp id (digits only), or the BSUID.
    pub wa_id: String,
    pub msg_type: String,
    pub template: Option<TemplateRef>,
    /// Media ids referenced by the message (must exist).
    pub media_ids: Vec<(String, String)>,
    pub biz_opaque_callback_data: Option<String>,
    pub is_group: bool,
}

#[derive(Debug, Clone)]
pub struct TemplateRef {
    pub name: String,
    pub language: String,
    pub components: Vec<Value>,
}

pub const MESSAGE_TYPES: &[&str] = &[
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
];

const INTERACTIVE_TYPES: &[&str] = &[
    "button",
    "list",
    "cta_url",
    "product",
    "product_list",
    "catalog_message",
    "flow",
    "location_request_message",
    "address_message",
    "order_details",
    "order_status",
    "call_permission_request",
    "voice_call",
    "carousel",
];

fn inv(details: impl Into<String>) -> GraphError {
    GraphError::invalid(details)
}

fn req<'a>(obj: &'a Value, key: &str, path: &str) -> Result<&'a Value, GraphError> {
    match obj.get(key) {
        Some(Value::Null) | None => Err(inv(format!("Param {path}['{key}'] is required"))),
        Some(v) => Ok(v),
    }
}

fn req_str<'a>(obj: &'a Value, key: &str, path: &str) -> Result<&'a str, GraphError> {
    match req(obj, key, path)? {
        Value::String(s) => Ok(s.as_str()),
        _ => Err(inv(format!("Param {path}['{key}'] must be a string"))),
    }
}

fn opt_str<'a>(obj: &'a Value, key: &str, path: &str) -> Result<Option<&'a str>, GraphError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(inv(format!("Param {path}['{key}'] must be a string"))),
    }
}

fn max_len(s: &str, max: usize, what: &str) -> Result<(), GraphError> {
    let n = s.chars().count();
    if n > max {
        return Err(inv(format!("Param {what} is too long. Max length is {max}, got {n}.")));
    }
    Ok(())
}

fn is_number(v: &Value) -> bool {
    match v {
        Value::Number(_) => true,
        Value::String(s) => s.trim().parse::<f64>().is_ok(),
        _ => false,
    }
}

/// Normalise a `to` value the way Meta does: `+`, `-`, spaces and parentheses are ignored.
pub fn normalize_phone(to: &str) -> Option<String> {
    let digits: String = to.chars().filter(|c| !matches!(c, '+' | '-' | ' ' | '(' | ')' | '.')).collect();
    if (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) { Some(digits) } else { None }
}

/// Validate a send body (not a mark-as-read body).
pub fn validate_send(body: &Value) -> Result<Validated, GraphError> {
    if !body.is_object() {
        return Err(inv("Request body must be a JSON object"));
    }
    match body.get("messaging_product") {
        None | Some(Value::Null) => {
            return Err(inv("The parameter messaging_product is required."));
        }
        Some(Value::String(s)) if s.eq_ignore_ascii_case("whatsapp") => {}
        Some(other) => {
            return Err(inv(format!("Param messaging_product must be one of {{WHATSAPP}} - got {other}.")));
        }
    }
    let recipient_type = opt_str(body, "recipient_type", "message")?.unwrap_or("individual");
    if recipient_type != "individual" && recipient_type != "group" {
        return Err(inv(format!(
            "Param recipient_type must be one of {{INDIVIDUAL, GROUP}} - got \"{recipient_type}\"."
        )));
    }
    let is_group = recipient_type == "group";
    let (input, wa_id) = match (opt_str(body, "to", "message")?, opt_str(body, "recipient", "message")?) {
        (Some(to), _) => {
            if is_group {
                (to.to_string(), to.to_string())
            } else {
                let wa = normalize_phone(to)
                    .ok_or_else(|| inv(format!("Invalid parameter: to. \"{to}\" is not a valid phone number.")))?;
                (to.to_string(), wa)
            }
        }
        (None, Some(bsuid)) if !bsuid.is_empty() => (bsuid.to_string(), bsuid.to_string()),
        _ => return Err(inv("The parameter to is required.")),
    };
    let msg_type = match body.get("type") {
        None | Some(Value::Null) => "text".to_string(),
        Some(Value::String(t)) => t.to_ascii_lowercase(),
        Some(_) => return Err(inv("Param type must be a string")),
    };
    if !MESSAGE_TYPES.contains(&msg_type.as_str()) {
        return Err(inv(format!(
            "Param type must be one of {{AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO}} - got \"{msg_type}\"."
        )));
    }
    if let Some(ctx) = body.get("context") {
        if !ctx.is_object() {
            return Err(inv("Param context must be an object"));
        }
        req_str(ctx, "message_id", "context")?;
    }
    let biz_opaque_callback_data = match body.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            max_len(s, 512, "biz_opaque_callback_data")?;
            Some(s.clone())
        }
        Some(_) => return Err(inv("Param biz_opaque_callback_data must be a string")),
    };
    let payload = match body.get(msg_type.as_str()) {
        None | Some(Value::Null) => {
            return Err(inv(format!("Param {msg_type} is required for type {msg_type}")));
        }
        Some(v) => v,
    };
    let mut media_ids = Vec::new();
    let mut template = None;
    match msg_type.as_str() {
        "text" => {
            let body_text = req_str(payload, "body", "text")?;
            if body_text.trim().is_empty() {
                return Err(inv("Param text['body'] must not be empty"));
            }
            max_len(body_text, 4096, "text['body']")?;
            if let Some(p) = payload.get("preview_url")
                && !p.is_boolean()
                && !p.is_null()
            {
                return Err(inv("Param text['preview_url'] must be a boolean"));
            }
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            if !payload.is_object() {
                return Err(inv(format!("Param {msg_type} must be an object")));
            }
            let id = opt_str(payload, "id", &msg_type)?;
            let link = opt_str(payload, "link", &msg_type)?;
            match (id, link) {
                (Some(_), Some(_)) => {
                    return Err(inv(format!("Param {msg_type} must contain either 'id' or 'link', not both")));
                }
                (None, None) => {
                    return Err(inv(format!("Param {msg_type} must contain either 'id' or 'link'")));
                }
                (Some(id), None) => media_ids.push((msg_type.clone(), id.to_string())),
                // Meta fetches links asynchronously (an unreachable link fails later with
                // 131053); only an empty link is rejected up front.
                (None, Some(link)) => {
                    if link.trim().is_empty() {
                        return Err(inv(format!("Param {msg_type}['link'] is not a valid URI.")));
                    }
                }
            }
            if let Some(caption) = opt_str(payload, "caption", &msg_type)? {
                if msg_type == "audio" || msg_type == "sticker" {
                    return Err(inv(format!("Param {msg_type}['caption'] is not supported for type {msg_type}")));
                }
                max_len(caption, 1024, &format!("{msg_type}['caption']"))?;
            }
            if msg_type != "document" && payload.get("filename").is_some() {
                return Err(inv(format!("Param {msg_type}['filename'] is not supported for type {msg_type}")));
            }
        }
        "location" => {
            for k in ["latitude", "longitude"] {
                let v = req(payload, k, "location")?;
                if !is_number(v) {
                    return Err(inv(format!("Param location['{k}'] must be a number")));
                }
            }
        }
        "contacts" => {
            let arr = payload.as_array().ok_or_else(|| inv("Param contacts must be an array"))?;
            if arr.is_empty() {
                return Err(inv("Param contacts must contain at least one contact"));
            }
            for (i, c) in arr.iter().enumerate() {
                let name = req(c, "name", &format!("contacts[{i}]"))?;
                req_str(name, "formatted_name", &format!("contacts[{i}]['name']"))?;
            }
        }
        "reaction" => {
            let mid = req_str(payload, "message_id", "reaction")?;
            if mid.is_empty() {
                return Err(inv("Param reaction['message_id'] must not be empty"));
            }
            if let Some(e) = payload.get("emoji")
                && !e.is_string()
                && !e.is_null()
            {
                return Err(inv("Param reaction['emoji'] must be a string"));
            }
        }
        "interactive" => validate_interactive(payload, &mut media_ids)?,
        "template" => {
            let name = req_str(payload, "name", "template")?;
            let lang = req(payload, "language", "template")?;
            let code = req_str(lang, "code", "template['language']")?;
            if let Some(p) = opt_str(lang, "policy", "template['language']")?
                && p != "deterministic"
            {
                return Err(inv(format!(
                    "Param template['language']['policy'] must be one of {{DETERMINISTIC}} - got \"{p}\"."
                )));
            }
            let components = match payload.get("components") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => return Err(inv("Param template['components'] must be an array")),
            };
            for (i, c) in components.iter().enumerate() {
                let ctype = req_str(c, "type", &format!("template['components'][{i}]"))?;
                match ctype.to_ascii_lowercase().as_str() {
                    "header" | "body" | "button" | "footer" | "carousel" | "limited_time_offer" | "order_status" => {}
                    other => {
                        return Err(inv(format!(
                            "Param template['components'][{i}]['type'] must be one of {{HEADER, BODY, BUTTON, CAROUSEL, LIMITED_TIME_OFFER}} - got \"{other}\"."
                        )));
                    }
                }
                if let Some(params) = c.get("parameters") {
                    let params = params.as_array().ok_or_else(|| {
                        inv(format!("Param template['components'][{i}]['parameters'] must be an array"))
                    })?;
                    for (j, p) in params.iter().enumerate() {
                        let path = format!("template['components'][{i}]['parameters'][{j}]");
                        let ptype = req_str(p, "type", &path)?;
                        if ptype == "text" && !ctype.eq_ignore_ascii_case("button") {
                            let t = req(p, "text", &path)?;
                            if !t.is_string() {
                                return Err(inv(format!("Param {path}['text'] must be a string")));
                            }
                        }
                        if matches!(ptype, "image" | "video" | "document")
                            && let Some(m) = p.get(ptype)
                            && let Some(id) = m.get("id").and_then(Value::as_str)
                        {
                            media_ids.push((ptype.to_string(), id.to_string()));
                        }
                    }
                }
                if ctype.eq_ignore_ascii_case("button") {
                    if c.get("sub_type").is_none() {
                        return Err(inv(format!("Param template['components'][{i}]['sub_type'] is required")));
                    }
                    match c.get("index") {
                        Some(Value::Number(_)) => {}
                        Some(Value::String(s)) if s.parse::<u32>().is_ok() => {}
                        _ => {
                            return Err(inv(format!(
                                "Param template['components'][{i}]['index'] is required and must be an integer"
                            )));
                        }
                    }
                }
            }
            template = Some(TemplateRef { name: name.to_string(), language: code.to_string(), components });
        }
        _ => unreachable!("type checked above"),
    }
    Ok(Validated { input, wa_id, msg_type, template, media_ids, biz_opaque_callback_data, is_group })
}

fn validate_text_block(obj: &Value, key: &str, max: usize, required: bool) -> Result<(), GraphError> {
    match obj.get(key) {
        None | Some(Value::Null) if required => Err(inv(format!("Param interactive['{key}'] is required"))),
        None | Some(Value::Null) => Ok(()),
        Some(b) => {
            let text = req_str(b, "text", &format!("interactive['{key}']"))?;
            max_len(text, max, &format!("interactive['{key}']['text']"))
        }
    }
}

fn validate_interactive(payload: &Value, media_ids: &mut Vec<(String, String)>) -> Result<(), GraphError> {
    let itype = req_str(payload, "type", "interactive")?;
    if !INTERACTIVE_TYPES.contains(&itype) {
        return Err(inv(format!(
            "Param interactive['type'] must be one of {{BUTTON, LIST, CTA_URL, PRODUCT, PRODUCT_LIST, CATALOG_MESSAGE, FLOW, LOCATION_REQUEST_MESSAGE, ADDRESS_MESSAGE, ORDER_DETAILS, ORDER_STATUS}} - got \"{itype}\"."
        )));
    }
    let action = req(payload, "action", "interactive")?;
    if let Some(h) = payload.get("header").filter(|h| !h.is_null()) {
        let htype = req_str(h, "type", "interactive['header']")?;
        match htype {
            "text" => {
                let t = req_str(h, "text", "interactive['header']")?;
                max_len(t, 60, "interactive['header']['text']")?;
            }
            "image" | "video" | "document" => {
                let m = req(h, htype, "interactive['header']")?;
                if let Some(id) = m.get("id").and_then(Value::as_str) {
                    media_ids.push((htype.to_string(), id.to_string()));
                }
            }
            other => {
                return Err(inv(format!(
                    "Param interactive['header']['type'] must be one of {{TEXT, IMAGE, VIDEO, DOCUMENT}} - got \"{other}\"."
                )));
            }
        }
    }
    validate_text_block(payload, "footer", 60, false)?;
    match itype {
        "button" => {
            validate_text_block(payload, "body", 1024, true)?;
            let buttons = req(action, "buttons", "interactive['action']")?
                .as_array()
                .ok_or_else(|| inv("Param interactive['action']['buttons'] must be an array"))?;
            if buttons.is_empty() {
                return Err(inv("Param interactive['action']['buttons'] must have at least 1 element"));
            }
            if buttons.len() > 3 {
                return Err(inv(format!(
                    "Param interactive['action']['buttons'] must have at most 3 elements, got {}",
                    buttons.len()
                )));
            }
            let mut ids = Vec::new();
            let mut titles = Vec::new();
            for (i, b) in buttons.iter().enumerate() {
                let path = format!("interactive['action']['buttons'][{i}]");
                let btype = req_str(b, "type", &path)?;
                if btype != "reply" {
                    return Err(inv(format!("Param {path}['type'] must be one of {{REPLY}} - got \"{btype}\".")));
                }
                let reply = req(b, "reply", &path)?;
                let id = req_str(reply, "id", &format!("{path}['reply']"))?;
                let title = req_str(reply, "title", &format!("{path}['reply']"))?;
                max_len(id, 256, &format!("{path}['reply']['id']"))?;
                max_len(title, 20, &format!("{path}['reply']['title']"))?;
                if title.trim().is_empty() {
                    return Err(inv(format!("Param {path}['reply']['title'] must not be empty")));
                }
                if ids.contains(&id) || titles.contains(&title) {
                    return Err(inv("Buttons must have unique ids and titles"));
                }
                ids.push(id);
                titles.push(title);
            }
        }
        "list" => {
            validate_text_block(payload, "body", 4096, true)?;
            let button = req_str(action, "button", "interactive['action']")?;
            max_len(button, 20, "interactive['action']['button']")?;
            let sections = req(action, "sections", "interactive['action']")?
                .as_array()
                .ok_or_else(|| inv("Param interactive['action']['sections'] must be an array"))?;
            if sections.is_empty() || sections.len() > 10 {
                return Err(inv(format!(
                    "Param interactive['action']['sections'] must have between 1 and 10 elements, got {}",
                    sections.len()
                )));
            }
            let mut total_rows = 0;
            let mut row_ids = Vec::new();
            for (i, s) in sections.iter().enumerate() {
                let path = format!("interactive['action']['sections'][{i}]");
                match opt_str(s, "title", &path)? {
                    Some(t) => max_len(t, 24, &format!("{path}['title']"))?,
                    None if sections.len() > 1 => {
                        return Err(inv(format!(
                            "Param {path}['title'] is required when there is more than one section"
                        )));
                    }
                    None => {}
                }
                let rows = req(s, "rows", &path)?
                    .as_array()
                    .ok_or_else(|| inv(format!("Param {path}['rows'] must be an array")))?;
                if rows.is_empty() {
                    return Err(inv(format!("Param {path}['rows'] must not be empty")));
                }
                for (j, r) in rows.iter().enumerate() {
                    let rpath = format!("{path}['rows'][{j}]");
                    let id = req_str(r, "id", &rpath)?;
                    max_len(id, 200, &format!("{rpath}['id']"))?;
                    let title = req_str(r, "title", &rpath)?;
                    max_len(title, 24, &format!("{rpath}['title']"))?;
                    if let Some(d) = opt_str(r, "description", &rpath)? {
                        max_len(d, 72, &format!("{rpath}['description']"))?;
                    }
                    if row_ids.contains(&id) {
                        return Err(inv("Row ids must be unique"));
                    }
                    row_ids.push(id);
                }
                total_rows += rows.len();
            }
            if total_rows > 10 {
                return Err(inv(format!("Total row count exceeded. Max allowed is 10, got {total_rows}.")));
            }
        }
        "cta_url" => {
            validate_text_block(payload, "body", 1024, true)?;
            let params = req(action, "parameters", "interactive['action']")?;
            let dt = req_str(params, "display_text", "interactive['action']['parameters']")?;
            max_len(dt, 20, "interactive['action']['parameters']['display_text']")?;
            let url = req_str(params, "url", "interactive['action']['parameters']")?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(inv("Param interactive['action']['parameters']['url'] is not a valid URI."));
            }
        }
        "flow" | "order_details" | "order_status" | "catalog_message" => {
            validate_text_block(payload, "body", 1024, true)?;
        }
        _ => {
            validate_text_block(payload, "body", 1024, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn official_examples_validate() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/meta/official-send-examples.json");
        let Ok(text) = std::fs::read_to_string(path) else {
            return; // reference material not present
        };
        let all: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
        let mut ok = 0;
        let mut failed = Vec::new();
        for (name, mut body) in all {
            if body.get("status").is_some() {
                continue;
            }
            body["to"] = json!("+1 (650) 555-1234");
            match validate_send(&body) {
                Ok(_) => ok += 1,
                Err(e) => failed.push(format!("{name}: {:?}", e.details)),
            }
        }
        // Two official examples are broken: one lacks `"type":"interactive"` (so it is read as
        // text), one has a placeholder header type.
        assert!(ok >= 44, "{ok} valid; failures: {failed:#?}");
        assert!(
            failed
                .iter()
                .all(|f| f.starts_with("Send Reply to List Message") || f.starts_with("Send Multi-Product Message")),
            "{failed:#?}"
        );
    }

    #[test]
    fn rejects_four_buttons() {
        let b = json!({"type":"reply","reply":{"id":"a","title":"a"}});
        let mut buttons = vec![];
        for i in 0..4 {
            let mut x = b.clone();
            x["reply"]["id"] = json!(format!("id{i}"));
            x["reply"]["title"] = json!(format!("t{i}"));
            buttons.push(x);
        }
        let body = json!({"messaging_product":"whatsapp","to":"123456","type":"interactive",
            "interactive":{"type":"button","body":{"text":"x"},"action":{"buttons":buttons}}});
        assert!(validate_send(&body).is_err());
    }
}
