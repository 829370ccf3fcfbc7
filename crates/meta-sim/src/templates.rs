//! Message templates: storage, creation rules, placeholder counting and Graph JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::errors::GraphError;

/// A message template of a WABA.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Template {
    pub id: String,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub status: String,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    pub components: Value,
    #[serde(default)]
    pub rejected_reason: Option<String>,
}

/// A template to add directly (bypassing review) through the control API.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TemplateSpec {
    pub waba_id: String,
    pub name: String,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default = "default_category")]
    pub category: String,
    #[serde(default)]
    pub components: Value,
    #[serde(default = "default_status")]
    pub status: String,
}

fn default_language() -> String {
    "en_US".into()
}
fn default_category() -> String {
    "UTILITY".into()
}
fn default_status() -> String {
    "APPROVED".into()
}

pub const CATEGORIES: &[&str] = &["MARKETING", "UTILITY", "AUTHENTICATION"];

pub fn hello_world(waba_id: &str, id: String) -> Template {
    Template {
        id,
        waba_id: waba_id.to_string(),
        name: "hello_world".into(),
        language: "en_US".into(),
        category: "UTILITY".into(),
        status: "APPROVED".into(),
        parameter_format: "POSITIONAL".into(),
        components: json!([
            {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
            {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."},
            {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}
        ]),
        rejected_reason: None,
    }
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Distinct `{{…}}` placeholders in a text.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim().to_string();
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !out.contains(&name) {
            out.push(name);
        }
        rest = &after[end + 2..];
    }
    out
}

/// Validate a `POST /{waba-id}/message_templates` body and build the template (status PENDING).
pub fn from_create_request(waba_id: &str, body: &Value, id: String) -> Result<Template, GraphError> {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::invalid("The parameter name is required."))?;
    if !valid_name(name) {
        let mut e = GraphError::invalid(
            "Template name can only contain lowercase alphanumeric characters and underscores ( _ ).",
        );
        e.subcode = Some(2388043);
        return Err(e);
    }
    let language = body
        .get("language")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::invalid("The parameter language is required."))?;
    if language.is_empty() || language.len() > 10 {
        return Err(GraphError::invalid(format!("Invalid language: {language}")));
    }
    let category = body
        .get("category")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::invalid("The parameter category is required."))?
        .to_ascii_uppercase();
    if !CATEGORIES.contains(&category.as_str()) {
        return Err(GraphError::invalid(format!(
            "Param category must be one of {{AUTHENTICATION, MARKETING, UTILITY}} - got \"{category}\"."
        )));
    }
    let components = match body.get("components") {
        Some(Value::Array(a)) if !a.is_empty() => Value::Array(a.clone()),
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(GraphError::invalid("The parameter components is required."));
        }
        Some(_) => return Err(GraphError::invalid("Param components must be an array")),
    };
    let mut has_body = false;
    for (i, c) in components.as_array().into_iter().flatten().enumerate() {
        let ctype = c
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::invalid(format!("Param components[{i}]['type'] is required")))?
            .to_ascii_uppercase();
        match ctype.as_str() {
            "BODY" => {
                has_body = true;
                if category != "AUTHENTICATION" {
                    let text = c
                        .get("text")
                        .and_then(Value::as_str)
                        .ok_or_else(|| GraphError::invalid(format!("Param components[{i}]['text'] is required")))?;
                    if text.chars().count() > 1024 {
                        return Err(GraphError::invalid(
                            "Param components['BODY']['text'] is too long. Max length is 1024.",
                        ));
                    }
                }
            }
            "HEADER" | "FOOTER" | "BUTTONS" | "CAROUSEL" | "LIMITED_TIME_OFFER" | "CALL_PERMISSION_REQUEST" => {}
            other => {
                return Err(GraphError::invalid(format!(
                    "Param components[{i}]['type'] must be one of {{HEADER, BODY, FOOTER, BUTTONS, CAROUSEL, LIMITED_TIME_OFFER}} - got \"{other}\"."
                )));
            }
        }
    }
    if !has_body {
        return Err(GraphError::invalid("A template must have a BODY component."));
    }
    let parameter_format = body
        .get("parameter_format")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| "POSITIONAL".into());
    if parameter_format != "POSITIONAL" && parameter_format != "NAMED" {
        return Err(GraphError::invalid("Param parameter_format must be one of {POSITIONAL, NAMED}"));
    }
    Ok(Template {
        id,
        waba_id: waba_id.to_string(),
        name: name.to_string(),
        language: language.to_string(),
        category,
        status: "PENDING".into(),
        parameter_format,
        components,
        rejected_reason: None,
    })
}

fn component<'a>(components: &'a Value, ctype: &str) -> Option<&'a Value> {
    components
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(ctype)))
}

/// Check the parameters of a template send against the template (code 132000 on mismatch).
pub fn check_params(t: &Template, send_components: &[Value]) -> Result<(), GraphError> {
    let sent = |ctype: &str| -> usize {
        send_components
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str).is_some_and(|x| x.eq_ignore_ascii_case(ctype)))
            .map(|c| c.get("parameters").and_then(Value::as_array).map_or(0, Vec::len))
            .sum()
    };
    let expected_body = component(&t.components, "BODY")
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .map_or(0, |s| placeholders(s).len());
    let expected_header = match component(&t.components, "HEADER") {
        None => 0,
        Some(h) => match h.get("format").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
            Some("IMAGE" | "VIDEO" | "DOCUMENT" | "LOCATION") => 1,
            _ => h.get("text").and_then(Value::as_str).map_or(0, |s| placeholders(s).len()),
        },
    };
    // Authentication templates carry their code as one body parameter.
    let expected_body =
        if t.category == "AUTHENTICATION" && expected_body == 0 { sent("body").min(1) } else { expected_body };
    for (ctype, expected) in [("header", expected_header), ("body", expected_body)] {
        let got = sent(ctype);
        if got != expected {
            return Err(GraphError::code(132000).with_details(format!(
                "{ctype}: number of localizable_params ({got}) does not match the expected number of params ({expected})"
            )));
        }
    }
    Ok(())
}

/// Graph JSON of a template, restricted to `fields` when given (`id` is always included).
pub fn to_graph_json(t: &Template, fields: Option<&[String]>) -> Value {
    let mut full = json!({
        "name": t.name,
        "parameter_format": t.parameter_format,
        "components": t.components,
        "language": t.language,
        "status": t.status,
        "category": t.category,
        "id": t.id,
    });
    if let Some(r) = &t.rejected_reason {
        full["rejected_reason"] = json!(r);
    }
    match fields {
        None => full,
        Some(fields) => {
            let mut out = serde_json::Map::new();
            for f in fields {
                if let Some(v) = full.get(f.as_str()) {
                    out.insert(f.clone(), v.clone());
                }
            }
            out.insert("id".into(), json!(t.id));
            Value::Object(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_placeholders() {
        assert_eq!(placeholders("Hi {{1}}, order {{2}} / {{1}}").len(), 2);
        assert_eq!(placeholders("Hi {{first_name}}").len(), 1);
        assert!(placeholders("no vars").is_empty());
        assert!(valid_name("order_update_2"));
        assert!(!valid_name("Order-Update"));
    }
}
