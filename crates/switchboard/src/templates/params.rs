//! A template's variables, read from its stored components: what a send must supply, how a simple
//! parameter map becomes Meta's `components`, and the text a customer will see.

use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::entities::templates;
use crate::error::FieldError;

/// Meta's limit on a body after its variables are filled in (error 132005 otherwise).
pub const MAX_HYDRATED_BODY: usize = 1024;

/// One `{{…}}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Positional(u32),
    Named(String),
}

impl Var {
    pub fn key(&self) -> String {
        match self {
            Var::Positional(n) => n.to_string(),
            Var::Named(s) => s.clone(),
        }
    }
}

/// Every `{{…}}` of a text in order of appearance (repeats included); `Err` names the first one
/// that is neither `{{1}}` nor `{{first_name}}`.
pub fn placeholders(text: &str) -> Result<Vec<Var>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let inner = &after[..end];
        if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            match inner.parse::<u32>() {
                Ok(n) if n > 0 && !inner.starts_with('0') => out.push(Var::Positional(n)),
                _ => return Err(format!("{{{{{inner}}}}} is not a valid variable: numbering starts at {{{{1}}}}")),
            }
        } else if inner.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && inner.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            out.push(Var::Named(inner.to_string()));
        } else {
            return Err(format!(
                "{{{{{inner}}}}} is not a valid variable: use {{{{1}}}} or a lowercase name such as {{{{first_name}}}}"
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// Distinct variables in order: positional ones sorted by number.
pub fn distinct(vars: &[Var]) -> Vec<Var> {
    let mut out: Vec<Var> = Vec::new();
    for v in vars {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    if out.iter().all(|v| matches!(v, Var::Positional(_))) {
        out.sort_by_key(|v| match v {
            Var::Positional(n) => *n,
            Var::Named(_) => 0,
        });
    }
    out
}

fn upper(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase()
}

fn text_of(c: &Value, key: &str) -> Option<String> {
    c.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A button as a send and a preview see it.
#[derive(Debug, Clone)]
pub struct ButtonSpec {
    pub kind: String,
    pub text: String,
    pub url: Option<String>,
    pub phone_number: Option<String>,
    /// URL buttons with a `{{1}}` suffix, copy-code and one-time-password buttons take a value.
    pub takes_value: bool,
    pub example: Option<String>,
}

/// What a stored template needs at send time.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`, `LOCATION`, or none.
    pub header_format: Option<String>,
    pub header_text: Option<String>,
    pub header_var: Option<Var>,
    pub header_example: Option<String>,
    pub body_text: String,
    pub body_vars: Vec<Var>,
    pub body_examples: Map<String, Value>,
    pub footer: Option<String>,
    pub buttons: Vec<ButtonSpec>,
    pub authentication: bool,
}

impl Spec {
    pub fn named(&self) -> bool {
        self.body_vars.iter().chain(self.header_var.iter()).any(|v| matches!(v, Var::Named(_)))
    }

    /// `POSITIONAL` or `NAMED`.
    pub fn parameter_format(&self) -> &'static str {
        if self.named() { "NAMED" } else { "POSITIONAL" }
    }

    pub fn of(t: &templates::Model) -> Self {
        Self::parse(&t.components, &t.category)
    }

    /// Reads Meta's template-definition components (as created or as Meta lists them).
    pub fn parse(components: &Value, category: &str) -> Self {
        let mut s = Spec { authentication: category.eq_ignore_ascii_case("AUTHENTICATION"), ..Default::default() };
        for c in components.as_array().into_iter().flatten() {
            match upper(c.get("type")).as_str() {
                "HEADER" => {
                    let format = upper(c.get("format"));
                    let format = if format.is_empty() { "TEXT".to_string() } else { format };
                    if format == "TEXT" {
                        let text = text_of(c, "text").unwrap_or_default();
                        s.header_var = placeholders(&text).ok().and_then(|v| v.into_iter().next());
                        s.header_example = c
                            .pointer("/example/header_text/0")
                            .or_else(|| c.pointer("/example/header_text_named_params/0/example"))
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        s.header_text = Some(text);
                    }
                    s.header_format = Some(format);
                }
                "BODY" => {
                    s.body_text = text_of(c, "text").unwrap_or_default();
                    s.body_vars = distinct(&placeholders(&s.body_text).unwrap_or_default());
                    if let Some(list) = c.pointer("/example/body_text/0").and_then(Value::as_array) {
                        for (i, v) in list.iter().enumerate() {
                            s.body_examples.insert((i + 1).to_string(), v.clone());
                        }
                    }
                    for p in
                        c.pointer("/example/body_text_named_params").and_then(Value::as_array).into_iter().flatten()
                    {
                        if let (Some(n), Some(e)) = (p.get("param_name").and_then(Value::as_str), p.get("example")) {
                            s.body_examples.insert(n.to_string(), e.clone());
                        }
                    }
                }
                "FOOTER" => s.footer = text_of(c, "text"),
                "BUTTONS" => {
                    for b in c.get("buttons").and_then(Value::as_array).into_iter().flatten() {
                        let kind = upper(b.get("type"));
                        let url = text_of(b, "url");
                        let takes_value = match kind.as_str() {
                            "URL" => url.as_deref().is_some_and(|u| u.contains("{{")),
                            "COPY_CODE" | "OTP" => true,
                            _ => false,
                        };
                        let example = match b.get("example") {
                            Some(Value::String(e)) => Some(e.clone()),
                            Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
                            _ => None,
                        };
                        s.buttons.push(ButtonSpec {
                            text: text_of(b, "text").unwrap_or_else(|| match kind.as_str() {
                                "COPY_CODE" => "Copy offer code".into(),
                                "OTP" => "Copy code".into(),
                                _ => String::new(),
                            }),
                            kind,
                            phone_number: text_of(b, "phone_number"),
                            url,
                            takes_value,
                            example,
                        });
                    }
                }
                _ => {}
            }
        }
        // Authentication bodies are Meta's ("{{1}} is your verification code."): the code is {{1}}.
        if s.authentication && s.body_vars.is_empty() {
            s.body_vars = vec![Var::Positional(1)];
            if s.body_text.is_empty() {
                s.body_text = "{{1}} is your verification code.".into();
            }
        }
        s
    }

    /// What a send must supply, for error messages and the API.
    pub fn variables(&self) -> Variables {
        Variables {
            header: self
                .header_var
                .as_ref()
                .map(|_| "text".to_string())
                .or_else(|| self.header_format.as_deref().filter(|f| *f != "TEXT").map(str::to_ascii_lowercase)),
            body: self.body_vars.iter().map(Var::key).collect(),
            buttons: self.buttons.iter().enumerate().filter(|(_, b)| b.takes_value).map(|(i, _)| i).collect(),
        }
    }
}

/// The parameters a send of this template takes.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Variables {
    /// `text` for a text header with a variable; `image`, `video`, `document` for media headers.
    pub header: Option<String>,
    /// Body variables: `["1","2"]` or `["first_name"]`.
    pub body: Vec<String>,
    /// Indexes of buttons that take a value (URL suffix, coupon code).
    pub buttons: Vec<usize>,
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o.get("text").and_then(as_text),
        _ => None,
    }
}

/// Meta refuses text parameters that are empty, contain new lines or tabs, or more than four
/// consecutive spaces (error 132000/132018 at send time).
fn text_param(field: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<String> {
    let Some(s) = as_text(v) else {
        errors.push(FieldError::new(field, "must be a string"));
        return None;
    };
    if s.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
        None
    } else if s.contains(['\n', '\t']) || s.contains("     ") {
        errors.push(FieldError::new(field, "must not contain new lines, tabs or more than 4 consecutive spaces"));
        None
    } else {
        Some(s)
    }
}

/// The media object of a header parameter: `{"image": {"link"|"id"|"localMediaId"}}` (or the
/// inner object alone).
fn media_param(field: &str, format: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<Value> {
    let kind = format.to_ascii_lowercase();
    let inner = match v {
        Value::Object(o) if o.contains_key(&kind) => o.get(&kind).cloned().unwrap_or(Value::Null),
        Value::Object(o) if o.keys().any(|k| ["image", "video", "document"].contains(&k.as_str())) => {
            errors.push(FieldError::new(
                field,
                format!("this template's header is {format}: give {{\"{kind}\": {{\"link\": \"https://…\"}}}}"),
            ));
            return None;
        }
        Value::Object(_) => v.clone(),
        Value::String(s) if s.starts_with("https://") || s.starts_with("http://") => json!({ "link": s }),
        _ => {
            errors.push(FieldError::new(field, format!("must be {{\"{kind}\": {{\"link\": \"https://…\"}}}} or an uploaded file {{\"{kind}\": {{\"localMediaId\": \"…\"}}}}")));
            return None;
        }
    };
    let Some(o) = inner.as_object() else {
        errors.push(FieldError::new(format!("{field}.{kind}"), "must be an object"));
        return None;
    };
    let sources = ["link", "id", "localMediaId"]
        .iter()
        .filter(|k| o.get(**k).and_then(Value::as_str).is_some_and(|s| !s.is_empty()))
        .count();
    if sources != 1 {
        errors.push(FieldError::new(format!("{field}.{kind}"), "needs exactly one of link, id or localMediaId"));
        return None;
    }
    if let Some(link) = o.get("link").and_then(Value::as_str)
        && !(link.starts_with("https://") || link.starts_with("http://"))
    {
        errors.push(FieldError::new(format!("{field}.{kind}.link"), "must be an http(s) URL"));
        return None;
    }
    let mut m = Map::new();
    for k in ["link", "id", "localMediaId", "filename"] {
        if let Some(x) = o.get(k).filter(|x| x.is_string()) {
            if k == "filename" && kind != "document" {
                continue;
            }
            m.insert(k.into(), x.clone());
        }
    }
    Some(json!({ "type": kind, kind: Value::Object(m) }))
}

fn render(text: &str, values: &dyn Fn(&Var) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        let raw = &rest[start..start + 2 + end + 2];
        match placeholders(raw).ok().and_then(|v| v.into_iter().next()).and_then(|v| values(&v)) {
            Some(s) => out.push_str(&s),
            None => out.push_str(raw),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The parameter map's `buttons`: `{"0": "suffix"}` (or a list by index).
fn button_values(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Map<String, Value> {
    match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(Value::Array(a)) => {
            a.iter().enumerate().filter(|(_, x)| !x.is_null()).map(|(i, x)| (i.to_string(), x.clone())).collect()
        }
        Some(_) => {
            errors
                .push(FieldError::new("parameters.buttons", "must be an object by button index, e.g. {\"0\": \"…\"}"));
            Map::new()
        }
    }
}

/// Checks a simple parameter map against the template's variables and builds Meta's send
/// `components`. `params`: body variables by number or name (`{"1": "Jessica"}` or
/// `{"first_name": "Jessica"}`), `header` (its text, or `{"image": {"link"|"localMediaId"}}` for
/// a media header) and `buttons` (`{"0": "url-suffix"}`, coupon codes, quick-reply payloads).
/// A missing or unknown parameter is an error naming it (`parameters.2`), so that Meta's 132000
/// never happens later.
pub fn build_components(template: &templates::Model, params: &Map<String, Value>) -> Result<Value, Vec<FieldError>> {
    let spec = Spec::of(template);
    let mut errors = Vec::new();
    let mut components = Vec::new();
    let named = spec.named();

    // Unknown keys first: a typo must not pass silently.
    let body_keys: Vec<String> = spec.body_vars.iter().map(Var::key).collect();
    let header_takes = spec.header_var.is_some() || spec.header_format.as_deref().is_some_and(|f| f != "TEXT");
    for k in params.keys() {
        let known = body_keys.contains(k) || (k == "header" && header_takes) || k == "buttons";
        if !known {
            let expected = if body_keys.is_empty() { "none".to_string() } else { body_keys.join(", ") };
            let what = if k == "header" {
                "this template's header takes no parameter".to_string()
            } else {
                format!("is not a variable of this template (body variables: {expected})")
            };
            errors.push(FieldError::new(format!("parameters.{k}"), what));
        }
    }

    // Header.
    match (spec.header_format.as_deref(), &spec.header_var) {
        (Some("TEXT"), Some(var)) => match params.get("header") {
            None => errors.push(FieldError::new("parameters.header", "is required: the header has a variable")),
            Some(v) => {
                if let Some(text) = text_param("parameters.header", v, &mut errors) {
                    let p = match var {
                        Var::Named(n) => json!({ "type": "text", "parameter_name": n, "text": text }),
                        Var::Positional(_) => json!({ "type": "text", "text": text }),
                    };
                    components.push(json!({ "type": "header", "parameters": [p] }));
                }
            }
        },
        (Some(f @ ("IMAGE" | "VIDEO" | "DOCUMENT")), _) => match params.get("header") {
            None => errors.push(FieldError::new(
                "parameters.header",
                format!(
                    "is required: the header is {}, e.g. {{\"{}\": {{\"link\": \"https://…\"}}}}",
                    f,
                    f.to_ascii_lowercase()
                ),
            )),
            Some(v) => {
                if let Some(p) = media_param("parameters.header", f, v, &mut errors) {
                    components.push(json!({ "type": "header", "parameters": [p] }));
                }
            }
        },
        (Some("LOCATION"), _) => match params.get("header").and_then(|v| v.get("location")) {
            Some(loc) if loc.get("latitude").is_some() && loc.get("longitude").is_some() => {
                components.push(json!({ "type": "header", "parameters": [{ "type": "location", "location": loc }] }))
            }
            _ => errors.push(FieldError::new(
                "parameters.header",
                "is required: the header is a LOCATION, e.g. {\"location\": {\"latitude\": …, \"longitude\": …}}",
            )),
        },
        _ => {}
    }

    // Body.
    let mut body_params = Vec::new();
    let mut values: Map<String, Value> = Map::new();
    for var in &spec.body_vars {
        let key = var.key();
        let field = format!("parameters.{key}");
        match params.get(&key) {
            None => errors.push(FieldError::new(&field, "is required by the template body")),
            Some(v) => {
                if let Some(text) = text_param(&field, v, &mut errors) {
                    values.insert(key.clone(), Value::String(text.clone()));
                    body_params.push(if named {
                        json!({ "type": "text", "parameter_name": key, "text": text })
                    } else {
                        json!({ "type": "text", "text": text })
                    });
                }
            }
        }
    }
    if !spec.body_vars.is_empty() && body_params.len() == spec.body_vars.len() {
        let hydrated = render(&spec.body_text, &|v| values.get(&v.key()).and_then(Value::as_str).map(str::to_string));
        let n = hydrated.chars().count();
        if n > MAX_HYDRATED_BODY {
            errors.push(FieldError::new(
                "parameters",
                format!("the body with these values is {n} characters; Meta allows {MAX_HYDRATED_BODY}"),
            ));
        }
        components.push(json!({ "type": "body", "parameters": body_params }));
    }

    // Buttons.
    let given = button_values(params.get("buttons"), &mut errors);
    for k in given.keys() {
        let ok = k
            .parse::<usize>()
            .ok()
            .and_then(|i| spec.buttons.get(i))
            .is_some_and(|b| b.takes_value || b.kind == "QUICK_REPLY");
        if !ok {
            errors.push(FieldError::new(format!("parameters.buttons.{k}"), "this button takes no parameter"));
        }
    }
    for (i, b) in spec.buttons.iter().enumerate() {
        let field = format!("parameters.buttons.{i}");
        let v = given.get(&i.to_string());
        match b.kind.as_str() {
            // Authentication: a one-time-password URL button carries the body's code.
            "URL" if b.takes_value => match v.or(values.get("1").filter(|_| spec.authentication)) {
                None => errors.push(FieldError::new(&field, "is required: the URL button ends with a variable")),
                Some(v) => {
                    if let Some(s) = text_param(&field, v, &mut errors) {
                        components.push(json!({ "type": "button", "sub_type": "url", "index": i.to_string(),
                            "parameters": [{ "type": "text", "text": s }] }));
                    }
                }
            },
            "COPY_CODE" => match v {
                None => errors.push(FieldError::new(&field, "is required: the coupon code to copy")),
                Some(v) => {
                    if let Some(s) = text_param(&field, v, &mut errors) {
                        if s.chars().count() > 15 {
                            errors.push(FieldError::new(&field, "a coupon code has at most 15 characters"));
                        } else {
                            components.push(json!({ "type": "button", "sub_type": "copy_code", "index": i.to_string(),
                                "parameters": [{ "type": "coupon_code", "coupon_code": s }] }));
                        }
                    }
                }
            },
            "OTP" => {
                // Authentication: the button carries the same code as the body.
                let code = v.and_then(as_text).or_else(|| values.get("1").and_then(Value::as_str).map(str::to_string));
                match code {
                    Some(c) => components.push(json!({ "type": "button", "sub_type": "url", "index": i.to_string(),
                        "parameters": [{ "type": "text", "text": c }] })),
                    None => errors.push(FieldError::new(&field, "is required: the one-time code")),
                }
            }
            "QUICK_REPLY" => {
                if let Some(v) = v
                    && let Some(p) = text_param(&field, v, &mut errors)
                {
                    components.push(json!({ "type": "button", "sub_type": "quick_reply", "index": i.to_string(),
                        "parameters": [{ "type": "payload", "payload": p }] }));
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() { Ok(Value::Array(components)) } else { Err(errors) }
}

/// The object of a stored message body that names an uploaded file (`localMediaId`): the body of
/// a media message, or the media parameter of a template's header. The sender uploads the file to
/// Meta first and puts Meta's `id` there instead.
pub fn local_media_slot(body: &mut Value) -> Option<&mut Map<String, Value>> {
    if body.get("localMediaId").is_some() {
        return body.as_object_mut();
    }
    body.get_mut("components")?
        .as_array_mut()?
        .iter_mut()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("header"))
        .flat_map(|c| c.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten())
        .find_map(|p| {
            let kind = p.get("type")?.as_str()?.to_string();
            let o = p.get_mut(&kind)?.as_object_mut()?;
            o.contains_key("localMediaId").then_some(o)
        })
}

/// What the customer will see.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// Header text (variables filled in), or null for media and no header.
    pub header: Option<String>,
    /// `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`, `LOCATION`, or null.
    pub header_format: Option<String>,
    pub body: String,
    pub footer: Option<String>,
    pub buttons: Vec<PreviewButton>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewButton {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The code a copy-code button copies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Renders the template with `values` (`1`, `first_name`, `header`, `buttons.0`); a variable without
/// a value shows the template's example, or stays `{{…}}`.
pub fn preview(template: &templates::Model, values: &std::collections::HashMap<String, String>) -> Preview {
    let spec = Spec::of(template);
    let header = spec
        .header_text
        .as_ref()
        .map(|t| render(t, &|_| values.get("header").cloned().or_else(|| spec.header_example.clone())));
    let body = render(&spec.body_text, &|v| {
        values.get(&v.key()).cloned().or_else(|| spec.body_examples.get(&v.key()).and_then(as_text))
    });
    let buttons = spec
        .buttons
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let given = values.get(&format!("buttons.{i}")).or_else(|| values.get(&format!("button{i}"))).cloned();
            let url = b.url.as_ref().map(|u| {
                if !b.takes_value {
                    return u.clone();
                }
                let example_suffix = b.example.as_ref().and_then(|e| {
                    let prefix = u.split("{{").next().unwrap_or_default();
                    e.strip_prefix(prefix).map(str::to_string)
                });
                render(u, &|_| given.clone().or_else(|| example_suffix.clone()))
            });
            let code = (b.kind == "COPY_CODE").then(|| given.clone().or_else(|| b.example.clone())).flatten();
            PreviewButton {
                kind: b.kind.clone(),
                text: b.text.clone(),
                url,
                phone_number: b.phone_number.clone(),
                code,
            }
        })
        .collect();
    Preview { header, header_format: spec.header_format.clone(), body, footer: spec.footer.clone(), buttons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(components: Value) -> templates::Model {
        templates::Model {
            id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            whatsapp_account_id: uuid::Uuid::nil(),
            name: "t".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components,
            meta_template_id: None,
            rejection_reason: None,
            quality_score: None,
            status_details: None,
            created_at: crate::db::now(),
            updated_at: crate::db::now(),
        }
    }

    #[test]
    fn parses_placeholders() {
        assert_eq!(placeholders("Hi {{1}} and {{2}} {{1}}").unwrap().len(), 3);
        assert_eq!(placeholders("Hi {{first_name}}").unwrap(), vec![Var::Named("first_name".into())]);
        assert!(placeholders("Hi {{ 1 }}").is_err());
        assert!(placeholders("Hi {{First}}").is_err());
        assert!(placeholders("Hi {{0}}").is_err());
        assert!(placeholders("no vars {{").unwrap().is_empty());
    }

    #[test]
    fn builds_positional_named_header_and_buttons() {
        let t = model(json!([
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{1}}"},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Track", "url": "https://x.test/t/{{1}}"},
                {"type": "COPY_CODE", "example": "SAVE"},
                {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001"}
            ]}
        ]));
        let p: Map<String, Value> = serde_json::from_value(json!({
            "1": "Jessica", "2": 42, "header": {"image": {"link": "https://x.test/a.png"}},
            "buttons": {"0": "abc", "1": "SAVE20"}
        }))
        .unwrap();
        let c = build_components(&t, &p).unwrap();
        assert_eq!(
            c[0],
            json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.test/a.png"}}]})
        );
        assert_eq!(c[1]["parameters"][1]["text"], "42");
        assert_eq!(c[2]["sub_type"], "url");
        assert_eq!(c[3]["parameters"][0]["coupon_code"], "SAVE20");

        let missing: Map<String, Value> = serde_json::from_value(json!({"1": "J", "3": "x"})).unwrap();
        let errs = build_components(&t, &missing).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in ["parameters.3", "parameters.2", "parameters.header", "parameters.buttons.0", "parameters.buttons.1"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }

        let named = model(json!([{"type": "BODY", "text": "Hi {{first_name}}"}]));
        let p: Map<String, Value> = serde_json::from_value(json!({"first_name": "Jessica"})).unwrap();
        assert_eq!(
            build_components(&named, &p).unwrap(),
            json!([{"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Jessica"}]}])
        );
        let p: Map<String, Value> = serde_json::from_value(json!({"first_name": "a\nb"})).unwrap();
        assert_eq!(build_components(&named, &p).unwrap_err()[0].field, "parameters.first_name");
    }

    #[test]
    fn previews_with_values_and_examples() {
        let t = model(json!([
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#1"]}},
            {"type": "BODY", "text": "Hi {{1}}, see {{2}}", "example": {"body_text": [["Ann", "x"]]}},
            {"type": "FOOTER", "text": "Bye"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://x.test/{{1}}", "example": ["https://x.test/abc"]}]}
        ]));
        let mut v = std::collections::HashMap::new();
        v.insert("1".to_string(), "Jessica".to_string());
        let p = preview(&t, &v);
        assert_eq!(p.header.as_deref(), Some("Order #1"));
        assert_eq!(p.body, "Hi Jessica, see x");
        assert_eq!(p.footer.as_deref(), Some("Bye"));
        assert_eq!(p.buttons[0].url.as_deref(), Some("https://x.test/abc"));
    }
}

#[cfg(test)]
mod auth_tests {
    use super::*;

    #[test]
    fn authentication_code_goes_to_body_and_otp_button() {
        let mut t = super::tests_support::model(json!([
            {"type": "BODY", "add_security_recommendation": true},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}
        ]));
        t.category = "AUTHENTICATION".into();
        let p: Map<String, Value> = serde_json::from_value(json!({"1": "123456"})).unwrap();
        let c = build_components(&t, &p).unwrap();
        assert_eq!(c[0], json!({"type": "body", "parameters": [{"type": "text", "text": "123456"}]}));
        assert_eq!(c[1]["parameters"][0]["text"], "123456");
        // As Meta lists it after sync: a URL button ending in the code.
        let mut listed = super::tests_support::model(json!([
            {"type": "BODY", "text": "*{{1}}* is your verification code."},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Copy code", "url": "https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code=otp{{1}}"}]}
        ]));
        listed.category = "AUTHENTICATION".into();
        let c = build_components(&listed, &p).unwrap();
        assert_eq!(c[1]["sub_type"], "url");
        assert_eq!(c[1]["parameters"][0]["text"], "123456");
    }
}

#[cfg(test)]
mod tests_support {
    pub fn model(components: serde_json::Value) -> crate::entities::templates::Model {
        crate::entities::templates::Model {
            id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            whatsapp_account_id: uuid::Uuid::nil(),
            name: "t".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components,
            meta_template_id: None,
            rejection_reason: None,
            quality_score: None,
            status_details: None,
            created_at: crate::db::now(),
            updated_at: crate::db::now(),
        }
    }
}
