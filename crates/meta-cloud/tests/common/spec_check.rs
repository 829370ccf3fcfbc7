//! Validates send bodies against Meta's official OpenAPI spec (fixtures/meta-openapi-v23.yaml),
//! with the adjustments the spec's README documents. Shared by this crate's tests and the
//! product's end-to-end tests (included there by path).
#![allow(dead_code)]

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

// ---- OpenAPI helper ---------------------------------------------------------------------------

struct Spec {
    schemas: Map<String, Value>,
    mapping: Map<String, Value>,
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let doc: Value = serde_yaml_ng::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../meta-cloud/tests/fixtures/meta-openapi-v23.yaml"
        )))
        .expect("spec parses");
        let mut schemas = doc["components"]["schemas"].as_object().unwrap().clone();
        adjust(&mut schemas);
        let mapping = schemas["Message"]["discriminator"]["mapping"].as_object().unwrap().clone();
        Spec { schemas, mapping }
    })
}

/// The README's documented adjustments: where the spec disagrees with its own examples and the
/// live API, the examples win.
fn adjust(s: &mut Map<String, Value>) {
    s["BaseMessageProperties"]["required"] = json!(["messaging_product", "to"]);
    // Documented on Meta's send-messages page as a common field; the spec's base omits it.
    s["BaseMessageProperties"]["properties"]["biz_opaque_callback_data"] = json!({"type": "string", "maxLength": 512});
    s["LanguageObject"]["required"] = json!(["code"]);
    let loc = &mut s["LocationMessage"]["allOf"][1]["properties"]["location"]["properties"];
    loc["latitude"]["type"] = json!("number");
    loc["longitude"]["type"] = json!("number");
    s["TemplateComponent"]["properties"]["index"] = json!({"type": ["string", "integer"]});
    s["ButtonComponent"]["allOf"][1]["properties"]["index"] = json!({"type": ["string", "integer"]});
    let types = s["InteractiveObject"]["properties"]["type"]["enum"].as_array_mut().unwrap();
    types.extend([json!("cta_url"), json!("order_details"), json!("order_status")]);
    // cta_url, order_details and order_status actions are documented on their own pages.
    let actions = s["ActionObject"]["oneOf"].as_array_mut().unwrap();
    actions.push(json!({"required": ["name", "parameters"], "properties": {
        "name": {"enum": ["cta_url"]},
        "parameters": {"type": "object", "required": ["display_text", "url"], "properties": {
            "display_text": {"type": "string", "maxLength": 20}, "url": {"type": "string"}}}}}));
    actions.push(json!({"required": ["name", "parameters"], "properties": {"name": {"enum": ["review_and_pay", "review_order"]}}}));
}

/// Inlines `$ref`s, merges `allOf` into one object schema (properties and required united,
/// closed if any part is closed) and drops annotations.
fn resolve(v: &Value, depth: usize) -> Value {
    assert!(depth < 64, "schema nesting too deep (cycle?)");
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                let name = r.strip_prefix("#/components/schemas/").expect("local ref");
                return resolve(&spec_schemas()[name], depth + 1);
            }
            let mut out = Map::new();
            for (k, val) in o {
                if matches!(k.as_str(), "discriminator" | "example" | "examples" | "description") {
                    continue;
                }
                if k == "properties" {
                    let props =
                        val.as_object().unwrap().iter().map(|(pk, pv)| (pk.clone(), resolve(pv, depth + 1))).collect();
                    out.insert(k.clone(), Value::Object(props));
                } else {
                    out.insert(k.clone(), resolve(val, depth + 1));
                }
            }
            if let Some(Value::Array(parts)) = out.remove("allOf") {
                let mut merged = Value::Object(Map::new());
                for p in parts.iter().chain([&Value::Object(out.clone())]) {
                    merge(&mut merged, p);
                }
                return merged;
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, depth + 1)).collect()),
        other => other.clone(),
    }
}

fn spec_schemas() -> &'static Map<String, Value> {
    &spec().schemas
}

fn merge(into: &mut Value, part: &Value) {
    let into = into.as_object_mut().unwrap();
    for (k, v) in part.as_object().unwrap() {
        match k.as_str() {
            "properties" => {
                let props = into.entry("properties").or_insert_with(|| json!({})).as_object_mut().unwrap();
                for (pk, pv) in v.as_object().unwrap() {
                    match props.get_mut(pk) {
                        Some(existing @ Value::Object(_)) => {
                            for (kk, vv) in pv.as_object().unwrap() {
                                existing[kk] = vv.clone();
                            }
                        }
                        _ => {
                            props.insert(pk.clone(), pv.clone());
                        }
                    }
                }
            }
            "required" => {
                let req = into.entry("required").or_insert_with(|| json!([])).as_array_mut().unwrap();
                for r in v.as_array().unwrap() {
                    if !req.contains(r) {
                        req.push(r.clone());
                    }
                }
            }
            "additionalProperties" => {
                if v == &json!(false) || !into.contains_key(k) {
                    into.insert(k.clone(), v.clone());
                }
            }
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Validates a send body: the `Message` variant picked by `type` (default `text`), or the
/// mark-as-read payload.
pub fn spec_errors(instance: &Value) -> Vec<String> {
    let s = spec();
    let schema_name = if instance.get("status").is_some() && instance.get("to").is_none() {
        "MarkMessageRequestPayload".to_string()
    } else {
        let t = instance.get("type").and_then(Value::as_str).unwrap_or("text");
        match s.mapping.get(t).and_then(Value::as_str) {
            Some(r) => r.trim_start_matches("#/components/schemas/").to_string(),
            None => return vec![format!("no Message variant for type {t}")],
        }
    };
    let schema = resolve(&s.schemas[&schema_name], 0);
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}
