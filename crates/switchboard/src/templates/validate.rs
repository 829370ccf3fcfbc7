//! A new template checked by Meta's rules before it is submitted: every violation is reported at
//! once, each under its field path (`components[1].text`).

use serde_json::{Map, Value, json};

use super::params::{Var, distinct, placeholders};
use crate::error::Validator;

pub const CATEGORIES: &[&str] = &["MARKETING", "UTILITY", "AUTHENTICATION"];
pub const MAX_NAME: usize = 512;
pub const MAX_BODY: usize = 1024;
pub const MAX_HEADER_TEXT: usize = 60;
pub const MAX_FOOTER: usize = 60;
pub const MAX_BUTTON_TEXT: usize = 25;
pub const MAX_BUTTONS: usize = 10;
pub const MAX_URL_BUTTONS: usize = 2;
pub const MAX_PHONE_BUTTONS: usize = 1;
pub const MAX_COUPON: usize = 15;

/// A definition that passed every check, normalised (upper-case types and formats) for Meta.
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    pub category: String,
    pub language: String,
    /// `positional` or `named`, as Meta's create call takes it.
    pub parameter_format: String,
    pub components: Value,
}

pub fn name(v: &mut Validator, name: Option<&str>) -> Option<String> {
    let n = name.unwrap_or_default();
    if n.is_empty() {
        v.push("name", "is required");
    } else if n.len() > MAX_NAME {
        v.push("name", format!("must be at most {MAX_NAME} characters"));
    } else if !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        v.push("name", "only lowercase letters, digits and _ are allowed");
    } else {
        return Some(n.to_string());
    }
    None
}

/// `en`, `en_US`, `fil`, `zh_HK`, `es_419`…
pub fn language(v: &mut Validator, lang: Option<&str>) -> Option<String> {
    let l = lang.unwrap_or_default();
    let (base, region) = l.split_once('_').map_or((l, None), |(a, b)| (a, Some(b)));
    let ok_base = (2..=3).contains(&base.len()) && base.bytes().all(|b| b.is_ascii_lowercase());
    let ok_region = region.is_none_or(|r| (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    if l.is_empty() {
        v.push("language", "is required");
        None
    } else if !ok_base || !ok_region {
        v.push("language", "must be a language code such as en_US or pt_BR");
        None
    } else {
        Some(l.to_string())
    }
}

/// `Value::pointer` for a component already known to be an object.
fn ptr<'a>(c: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let path = path.trim_start_matches('/');
    let (first, rest) = path.split_once('/').unwrap_or((path, ""));
    let v = c.get(first)?;
    if rest.is_empty() { Some(v) } else { v.pointer(&format!("/{rest}")) }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn str_field<'a>(v: &mut Validator, c: &'a Map<String, Value>, path: &str, key: &str) -> Option<&'a str> {
    match c.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            v.push(&format!("{path}.{key}"), "is required");
            None
        }
        Some(_) => {
            v.push(&format!("{path}.{key}"), "must be a string");
            None
        }
    }
}

fn non_empty_strings(v: Option<&Value>) -> Option<Vec<String>> {
    let a = v?.as_array()?;
    a.iter().map(|x| x.as_str().filter(|s| !s.trim().is_empty()).map(str::to_string)).collect()
}

/// Checks the variables of a text; returns them (distinct, in order) when they are well formed.
fn vars_of(v: &mut Validator, path: &str, text: &str) -> Option<Vec<Var>> {
    match placeholders(text) {
        Err(e) => {
            v.push(path, e);
            None
        }
        Ok(all) => {
            let d = distinct(&all);
            let positional = d.iter().filter(|x| matches!(x, Var::Positional(_))).count();
            if positional > 0 && positional < d.len() {
                v.push(path, "do not mix positional {{1}} and named {{first_name}} variables");
                return None;
            }
            if positional > 0 {
                let nums: Vec<u32> =
                    d.iter().filter_map(|x| if let Var::Positional(n) = x { Some(*n) } else { None }).collect();
                let max = nums.iter().copied().max().unwrap_or(0);
                if let Some(gap) = (1..=max).find(|n| !nums.contains(n)) {
                    v.push(
                        path,
                        format!("variables must be numbered from {{{{1}}}} without gaps: {{{{{gap}}}}} is missing"),
                    );
                    return None;
                }
            }
            Some(d)
        }
    }
}

/// Named examples: `[{"param_name": "first_name", "example": "Jessica"}]`, exactly the variables.
fn named_examples(v: &mut Validator, path: &str, given: Option<&Value>, vars: &[Var]) {
    let list = given.and_then(Value::as_array);
    let Some(list) = list else {
        v.push(path, "needs an example for every variable: [{\"param_name\": \"…\", \"example\": \"…\"}]");
        return;
    };
    let mut names = Vec::new();
    for (j, p) in list.iter().enumerate() {
        let n = p.get("param_name").and_then(Value::as_str);
        let e = p.get("example").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
        match (n, e) {
            (Some(n), Some(_)) => names.push(n.to_string()),
            _ => v.push(&format!("{path}[{j}]"), "needs param_name and a non-empty example"),
        }
    }
    for var in vars {
        if !names.contains(&var.key()) {
            v.push(path, format!("needs an example for {{{{{}}}}}", var.key()));
        }
    }
    for n in &names {
        if !vars.iter().any(|x| &x.key() == n) {
            v.push(path, format!("has an example for {n}, which is not a variable of the text"));
        }
    }
}

fn check_header(v: &mut Validator, p: &str, c: &mut Map<String, Value>, format_vars: &mut Vec<Var>) {
    let format = c.get("format").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
    match format.as_str() {
        "TEXT" => {
            c.insert("format".into(), json!("TEXT"));
            let Some(text) = str_field(v, c, p, "text") else { return };
            if chars(text) > MAX_HEADER_TEXT {
                v.push(&format!("{p}.text"), format!("must be at most {MAX_HEADER_TEXT} characters"));
            }
            let Some(vars) = vars_of(v, &format!("{p}.text"), text) else { return };
            if vars.len() > 1 {
                v.push(&format!("{p}.text"), "a header allows at most one variable");
                return;
            }
            if let Some(var) = vars.first() {
                match var {
                    Var::Positional(_) => {
                        if non_empty_strings(ptr(c, "/example/header_text")).is_none_or(|e| e.len() != 1) {
                            v.push(
                                &format!("{p}.example.header_text"),
                                "needs one example value for the variable, e.g. [\"#1234\"]",
                            );
                        }
                    }
                    Var::Named(_) => named_examples(
                        v,
                        &format!("{p}.example.header_text_named_params"),
                        ptr(c, "/example/header_text_named_params"),
                        &vars,
                    ),
                }
                format_vars.push(var.clone());
            }
        }
        "IMAGE" | "VIDEO" | "DOCUMENT" => {
            c.insert("format".into(), json!(format));
            if non_empty_strings(ptr(c, "/example/header_handle")).is_none_or(|e| e.is_empty()) {
                v.push(
                    &format!("{p}.example.header_handle"),
                    "a media header needs a sample: the handle of a file uploaded with Meta's Resumable Upload API",
                );
            }
        }
        "" => v.push(&format!("{p}.format"), "is required: TEXT, IMAGE, VIDEO or DOCUMENT"),
        _ => v.push(&format!("{p}.format"), "must be TEXT, IMAGE, VIDEO or DOCUMENT"),
    }
}

fn check_body(v: &mut Validator, p: &str, c: &Map<String, Value>, auth: bool, format_vars: &mut Vec<Var>) {
    if auth {
        // Meta writes authentication bodies itself; only the security recommendation is optional.
        if c.get("text").is_some() {
            v.push(&format!("{p}.text"), "authentication templates have Meta's fixed text; leave text out");
        }
        return;
    }
    let Some(text) = str_field(v, c, p, "text") else { return };
    let path = format!("{p}.text");
    if chars(text) > MAX_BODY {
        v.push(&path, format!("must be at most {MAX_BODY} characters (it has {})", chars(text)));
    }
    let Some(vars) = vars_of(v, &path, text) else { return };
    if vars.is_empty() {
        return;
    }
    let t = text.trim();
    if t.starts_with("{{") || t.ends_with("}}") {
        v.push(&path, "must not start or end with a variable (Meta rejects such templates)");
    }
    if matches!(vars[0], Var::Positional(_)) {
        let given = ptr(c, "/example/body_text/0").and_then(Value::as_array);
        let ok = given.is_some_and(|g| {
            g.len() == vars.len() && g.iter().all(|x| x.as_str().is_some_and(|s| !s.trim().is_empty()))
        });
        if !ok {
            v.push(
                &format!("{p}.example.body_text"),
                format!("needs one example value per variable ({}), e.g. [[\"Jessica\", …]]", vars.len()),
            );
        }
    } else {
        named_examples(
            v,
            &format!("{p}.example.body_text_named_params"),
            ptr(c, "/example/body_text_named_params"),
            &vars,
        );
    }
    format_vars.extend(vars);
}

fn check_footer(v: &mut Validator, p: &str, c: &Map<String, Value>, auth: bool) {
    if auth {
        if let Some(m) = c.get("code_expiration_minutes")
            && !m.as_u64().is_some_and(|m| (1..=90).contains(&m))
        {
            v.push(&format!("{p}.code_expiration_minutes"), "must be 1 to 90");
        }
        return;
    }
    let Some(text) = str_field(v, c, p, "text") else { return };
    if chars(text) > MAX_FOOTER {
        v.push(&format!("{p}.text"), format!("must be at most {MAX_FOOTER} characters"));
    }
    if text.contains("{{") {
        v.push(&format!("{p}.text"), "a footer cannot have variables");
    }
}

fn check_buttons(v: &mut Validator, p: &str, c: &mut Map<String, Value>, auth: bool) {
    let Some(buttons) = c.get_mut("buttons").and_then(Value::as_array_mut) else {
        v.push(&format!("{p}.buttons"), "is required: a list of buttons");
        return;
    };
    if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
        v.push(&format!("{p}.buttons"), format!("must have 1 to {MAX_BUTTONS} buttons"));
        return;
    }
    let (mut urls, mut phones, mut codes) = (0, 0, 0);
    let mut kinds = Vec::new();
    let mut titles: Vec<String> = Vec::new();
    for (j, b) in buttons.iter_mut().enumerate() {
        let bp = format!("{p}.buttons[{j}]");
        let Some(b) = b.as_object_mut() else {
            v.push(&bp, "must be an object");
            continue;
        };
        let kind = b.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
        b.insert("type".into(), json!(kind));
        let needs_text = matches!(kind.as_str(), "QUICK_REPLY" | "URL" | "PHONE_NUMBER");
        if needs_text && let Some(t) = str_field(v, b, &bp, "text") {
            if chars(t) > MAX_BUTTON_TEXT {
                v.push(&format!("{bp}.text"), format!("must be at most {MAX_BUTTON_TEXT} characters"));
            } else if titles.iter().any(|x| x == t) {
                v.push(&format!("{bp}.text"), "button texts must be unique");
            } else if t.contains("{{") {
                v.push(&format!("{bp}.text"), "a button text cannot have variables");
            }
            titles.push(t.to_string());
        }
        match kind.as_str() {
            "QUICK_REPLY" if !auth => {}
            "URL" if !auth => {
                urls += 1;
                let Some(url) = str_field(v, b, &bp, "url") else { continue };
                let up = format!("{bp}.url");
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
                    v.push(&up, "must be an http(s) URL of at most 2000 characters");
                    continue;
                }
                match placeholders(url) {
                    Err(e) => v.push(&up, e),
                    Ok(vars) if vars.is_empty() => {}
                    Ok(vars) => {
                        if vars.len() > 1 || vars[0] != Var::Positional(1) || !url.ends_with("{{1}}") {
                            v.push(
                                &up,
                                "may end with one variable {{1}} (the suffix given at send time), nothing else",
                            );
                        } else if non_empty_strings(b.get("example")).is_none_or(|e| e.len() != 1) {
                            v.push(&format!("{bp}.example"), "needs one example: the full URL with a sample suffix");
                        }
                    }
                }
            }
            "PHONE_NUMBER" if !auth => {
                phones += 1;
                let Some(num) = str_field(v, b, &bp, "phone_number") else { continue };
                let digits = num.strip_prefix('+').unwrap_or(num);
                if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    v.push(
                        &format!("{bp}.phone_number"),
                        "must be a phone number in international format, e.g. +15550001234",
                    );
                }
            }
            "COPY_CODE" if !auth => {
                codes += 1;
                match b.get("example").and_then(Value::as_str) {
                    Some(e) if !e.trim().is_empty() && chars(e) <= MAX_COUPON => {}
                    _ => {
                        v.push(&format!("{bp}.example"), format!("needs a sample code of 1 to {MAX_COUPON} characters"))
                    }
                }
            }
            "OTP" if auth => {
                let t = b.get("otp_type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
                if !["COPY_CODE", "ONE_TAP", "ZERO_TAP"].contains(&t.as_str()) {
                    v.push(&format!("{bp}.otp_type"), "must be COPY_CODE, ONE_TAP or ZERO_TAP");
                }
            }
            _ if auth => v.push(&format!("{bp}.type"), "authentication templates take one OTP button"),
            _ => v.push(&format!("{bp}.type"), "must be QUICK_REPLY, URL, PHONE_NUMBER or COPY_CODE"),
        }
        kinds.push(kind);
    }
    if urls > MAX_URL_BUTTONS {
        v.push(&format!("{p}.buttons"), format!("at most {MAX_URL_BUTTONS} URL buttons"));
    }
    if phones > MAX_PHONE_BUTTONS {
        v.push(&format!("{p}.buttons"), "at most 1 PHONE_NUMBER button");
    }
    if codes > 1 {
        v.push(&format!("{p}.buttons"), "at most 1 COPY_CODE button");
    }
    // Quick replies must be grouped together, before or after the other buttons.
    let groups = kinds.windows(2).filter(|w| (w[0] == "QUICK_REPLY") != (w[1] == "QUICK_REPLY")).count();
    if groups > 1 {
        v.push(
            &format!("{p}.buttons"),
            "quick-reply buttons must be grouped together, not mixed between other buttons",
        );
    }
}

/// Checks a whole definition. `Err` carries a 422 naming every invalid field.
pub fn definition(
    v: &mut Validator,
    name_in: Option<&str>,
    category_in: Option<&str>,
    language_in: Option<&str>,
    components_in: Option<&Value>,
) -> Option<Definition> {
    let name = name(v, name_in);
    let language = language(v, language_in);
    let category = category_in.unwrap_or_default().to_ascii_uppercase();
    let category_ok = CATEGORIES.contains(&category.as_str());
    if !category_ok {
        v.push("category", "must be MARKETING, UTILITY or AUTHENTICATION");
    }
    let auth = category == "AUTHENTICATION";
    let mut components = match components_in {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            v.push("components", "is required: at least a BODY component");
            return None;
        }
        Some(_) => {
            v.push("components", "must be a list of components");
            return None;
        }
    };
    let mut seen: Vec<String> = Vec::new();
    let mut vars: Vec<Var> = Vec::new();
    for (i, c) in components.iter_mut().enumerate() {
        let p = format!("components[{i}]");
        let Some(c) = c.as_object_mut() else {
            v.push(&p, "must be an object");
            continue;
        };
        let kind = c.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
        if !["HEADER", "BODY", "FOOTER", "BUTTONS"].contains(&kind.as_str()) {
            v.push(&format!("{p}.type"), "must be HEADER, BODY, FOOTER or BUTTONS");
            continue;
        }
        if seen.contains(&kind) {
            v.push(&format!("{p}.type"), format!("only one {kind} component is allowed"));
            continue;
        }
        seen.push(kind.clone());
        c.insert("type".into(), json!(kind));
        match kind.as_str() {
            "HEADER" if auth => v.push(&format!("{p}.type"), "authentication templates have no header"),
            "HEADER" => check_header(v, &p, c, &mut vars),
            "BODY" => check_body(v, &p, c, auth, &mut vars),
            "FOOTER" => check_footer(v, &p, c, auth),
            _ => check_buttons(v, &p, c, auth),
        }
    }
    if !seen.iter().any(|k| k == "BODY") {
        v.push("components", "a BODY component is required");
    }
    let named = vars.iter().any(|x| matches!(x, Var::Named(_)));
    if named && vars.iter().any(|x| matches!(x, Var::Positional(_))) {
        v.push("components", "the header and the body must use the same kind of variables (positional or named)");
    }
    Some(Definition {
        name: name?,
        category: if category_ok { category } else { return None },
        language: language?,
        parameter_format: if named { "named".into() } else { "positional".into() },
        components: Value::Array(components),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: Value) -> Vec<String> {
        let mut v = Validator::new();
        let _ = definition(
            &mut v,
            body["name"].as_str(),
            body["category"].as_str(),
            body["language"].as_str(),
            body.get("components"),
        );
        match v.finish() {
            Ok(()) => vec![],
            Err(e) => e.details["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_string())
                .collect(),
        }
    }

    #[test]
    fn a_full_template_passes() {
        let ok = json!({"name": "order_update", "category": "utility", "language": "en_US", "components": [
            {"type": "header", "format": "text", "text": "Order {{1}}", "example": {"header_text": ["#1"]}},
            {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships.", "example": {"body_text": [["Ann", "#1"]]}},
            {"type": "FOOTER", "text": "Thanks"},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Yes"}, {"type": "QUICK_REPLY", "text": "No"},
                {"type": "URL", "text": "Track", "url": "https://x.test/t/{{1}}", "example": ["https://x.test/t/1"]},
                {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001234"},
                {"type": "COPY_CODE", "example": "SAVE20"}
            ]}
        ]});
        assert_eq!(fields(ok), Vec::<String>::new());
    }

    #[test]
    fn each_violation_names_its_field() {
        let bad = json!({"name": "Bad-Name", "category": "PROMO", "language": "english", "components": [
            {"type": "HEADER", "format": "TEXT", "text": "{{1}} {{2}}"},
            {"type": "BODY", "text": format!("Hi {{{{1}}}} and {{{{3}}}} {}", "x".repeat(1100))},
            {"type": "FOOTER", "text": "f".repeat(61)},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "a", "url": "https://a/{{1}}"}, {"type": "URL", "text": "b", "url": "https://b"},
                {"type": "URL", "text": "c", "url": "https://c"}, {"type": "QUICK_REPLY", "text": "x".repeat(26)}
            ]}
        ]});
        let f = fields(bad);
        for want in [
            "name",
            "category",
            "language",
            "components[0].text",
            "components[1].text",
            "components[2].text",
            "components[3].buttons",
            "components[3].buttons[0].example",
            "components[3].buttons[3].text",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} not in {f:?}");
        }
        let named_mixed = json!({"name": "a", "category": "MARKETING", "language": "en", "components": [
            {"type": "BODY", "text": "Hi {{first_name}} {{1}}."}]});
        assert_eq!(fields(named_mixed), vec!["components[0].text"]);
        let missing_examples = json!({"name": "a", "category": "MARKETING", "language": "en", "components": [
            {"type": "BODY", "text": "Hi {{first_name}}."}]});
        assert_eq!(fields(missing_examples), vec!["components[0].example.body_text_named_params"]);
    }

    #[test]
    fn name_length_media_headers_and_button_count() {
        let body = json!({"type": "BODY", "text": "Hello there"});
        let with = |name: &str, components: Value| json!({"name": name, "category": "MARKETING", "language": "en", "components": components});
        assert_eq!(fields(with(&"a".repeat(MAX_NAME), json!([body]))), Vec::<String>::new());
        assert_eq!(fields(with(&"a".repeat(MAX_NAME + 1), json!([body]))), vec!["name"]);
        for format in ["IMAGE", "VIDEO", "DOCUMENT", "video"] {
            let ok = json!([{"type": "HEADER", "format": format, "example": {"header_handle": ["4::aGFuZGxl"]}}, body]);
            assert_eq!(fields(with("media", ok)), Vec::<String>::new(), "{format}");
            let no_sample = json!([{"type": "HEADER", "format": format}, body]);
            assert_eq!(fields(with("media", no_sample)), vec!["components[0].example.header_handle"], "{format}");
        }
        let audio = json!([{"type": "HEADER", "format": "AUDIO"}, body]);
        assert_eq!(fields(with("media", audio)), vec!["components[0].format"]);
        let buttons: Vec<Value> =
            (0..=MAX_BUTTONS).map(|i| json!({"type": "QUICK_REPLY", "text": format!("Option {i}")})).collect();
        let ten = json!([body, {"type": "BUTTONS", "buttons": buttons[..MAX_BUTTONS]}]);
        assert_eq!(fields(with("many", ten)), Vec::<String>::new());
        let eleven = json!([body, {"type": "BUTTONS", "buttons": buttons}]);
        assert_eq!(fields(with("many", eleven)), vec!["components[1].buttons"]);
        let two_phones = json!([body, {"type": "BUTTONS", "buttons": [
            {"type": "PHONE_NUMBER", "text": "A", "phone_number": "+15550001"},
            {"type": "PHONE_NUMBER", "text": "B", "phone_number": "+15550002"}]}]);
        assert_eq!(fields(with("phones", two_phones)), vec!["components[1].buttons"]);
    }

    #[test]
    fn authentication_templates_take_metas_body_and_one_otp_button() {
        let auth = |components: Value| json!({"name": "login_code", "category": "AUTHENTICATION", "language": "en", "components": components});
        let ok = json!([
            {"type": "BODY", "add_security_recommendation": true},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}
        ]);
        assert_eq!(fields(auth(ok)), Vec::<String>::new());
        let bad = json!([
            {"type": "HEADER", "format": "TEXT", "text": "Code"},
            {"type": "BODY", "text": "Your code is {{1}}"},
            {"type": "FOOTER", "code_expiration_minutes": 91},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Resend"}, {"type": "OTP", "otp_type": "MAGIC"}]}
        ]);
        assert_eq!(
            fields(auth(bad)),
            vec![
                "components[0].type",
                "components[1].text",
                "components[2].code_expiration_minutes",
                "components[3].buttons[0].type",
                "components[3].buttons[1].otp_type",
            ]
        );
    }
}
