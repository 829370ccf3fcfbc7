//! The `/_sim/…` control API (JSON), mirroring the direct `MetaSim` methods.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{ReviewOutcome, ReviewRule, SimConfig};
use crate::customer::CustomerMessage;
use crate::sim::{MetaSim, NumberSpec};
use crate::templates::TemplateSpec;

pub(crate) fn routes() -> Router<MetaSim> {
    Router::new()
        .route("/_sim/health", get(|| async { axum::Json(json!({"ok": true})) }))
        .route("/_sim/numbers", get(list_numbers).post(register_number))
        .route("/_sim/numbers/{id}/webhook", put(set_webhook))
        .route("/_sim/numbers/{id}/sent", get(sent))
        .route("/_sim/numbers/{id}/read_marks", get(read_marks))
        .route("/_sim/customer_messages", post(customer_message))
        .route("/_sim/failures", post(failures))
        .route("/_sim/webhook_unreachable", post(unreachable))
        .route("/_sim/template_review", post(template_review))
        .route("/_sim/template_outcomes", post(template_outcome))
        .route("/_sim/templates", post(add_template))
        .route("/_sim/templates/{waba_id}", get(list_templates))
        .route("/_sim/template_status", post(template_status))
        .route("/_sim/stats", get(stats))
        .route("/_sim/config", get(get_config).patch(patch_config))
        .route("/_sim/reset", post(reset))
}

fn bad(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": msg.into()}))).into_response()
}

fn not_found(msg: impl Into<String>) -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({"error": msg.into()}))).into_response()
}

/// Parse a JSON body, answering 400 with a readable message on failure.
#[allow(clippy::result_large_err)]
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

async fn list_numbers(State(sim): State<MetaSim>) -> Response {
    axum::Json(sim.numbers()).into_response()
}

async fn register_number(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let spec: NumberSpec = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    sim.register_number(spec.clone());
    (StatusCode::CREATED, axum::Json(spec)).into_response()
}

#[derive(Deserialize)]
struct WebhookBody {
    url: Option<String>,
}

async fn set_webhook(State(sim): State<MetaSim>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let b: WebhookBody = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if sim.set_webhook_url(&id, b.url) {
        axum::Json(json!({"ok": true})).into_response()
    } else {
        not_found(format!("unknown phone_number_id {id}"))
    }
}

async fn sent(State(sim): State<MetaSim>, Path(id): Path<String>) -> Response {
    if sim.number(&id).is_none() {
        return not_found(format!("unknown phone_number_id {id}"));
    }
    axum::Json(sim.sent_messages(&id)).into_response()
}

async fn read_marks(State(sim): State<MetaSim>, Path(id): Path<String>) -> Response {
    if sim.number(&id).is_none() {
        return not_found(format!("unknown phone_number_id {id}"));
    }
    axum::Json(sim.marked_read(&id)).into_response()
}

#[derive(Deserialize)]
struct CustomerBody {
    phone_number_id: String,
    from: String,
    #[serde(default = "default_profile")]
    profile_name: String,
    #[serde(default)]
    reply_to: Option<String>,
    message: CustomerMessage,
}

fn default_profile() -> String {
    "Sim Customer".into()
}

async fn customer_message(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let b: CustomerBody = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let msg = match b.reply_to {
        Some(r) => b.message.reply_to(r),
        None => b.message,
    };
    match sim.customer_sends_sync(&b.phone_number_id, &b.from, &b.profile_name, msg) {
        Some(wamid) => axum::Json(json!({"wamid": wamid})).into_response(),
        None => not_found(format!("unknown phone_number_id {}", b.phone_number_id)),
    }
}

#[derive(Deserialize)]
struct FailureBody {
    phone_number_id: String,
    #[serde(default = "one")]
    count: u32,
    code: i64,
    #[serde(default, rename = "async")]
    asynchronous: bool,
}

fn one() -> u32 {
    1
}

async fn failures(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let b: FailureBody = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if sim.number(&b.phone_number_id).is_none() {
        return not_found(format!("unknown phone_number_id {}", b.phone_number_id));
    }
    if b.asynchronous {
        sim.inject_async_failures(&b.phone_number_id, b.count, b.code);
    } else {
        sim.inject_failures(&b.phone_number_id, b.count, b.code);
    }
    axum::Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct UnreachableBody {
    unreachable: bool,
}

async fn unreachable(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let b: UnreachableBody = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    sim.set_webhook_unreachable(b.unreachable);
    axum::Json(json!({"ok": true, "unreachable": b.unreachable})).into_response()
}

async fn template_review(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let rule: ReviewRule = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    sim.set_template_review(rule.clone());
    axum::Json(rule).into_response()
}

#[derive(Deserialize)]
struct OutcomeBody {
    name: String,
    #[serde(flatten)]
    outcome: ReviewOutcome,
}

async fn template_outcome(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let b: OutcomeBody = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    sim.set_template_outcome(&b.name, b.outcome);
    axum::Json(json!({"ok": true})).into_response()
}

async fn add_template(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let spec: TemplateSpec = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = sim.add_template(spec);
    (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response()
}

async fn list_templates(State(sim): State<MetaSim>, Path(waba): Path<String>) -> Response {
    axum::Json(sim.templates(&waba)).into_response()
}

#[derive(Deserialize)]
struct TemplateStatusBody {
    waba_id: String,
    name: String,
    #[serde(default)]
    language: Option<String>,
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn template_status(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let b: TemplateStatusBody = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if sim.set_template_status(&b.waba_id, &b.name, b.language.as_deref(), &b.status, b.reason.as_deref()) {
        axum::Json(json!({"ok": true})).into_response()
    } else {
        not_found(format!("no template {} in WABA {}", b.name, b.waba_id))
    }
}

async fn stats(State(sim): State<MetaSim>) -> Response {
    axum::Json(sim.stats()).into_response()
}

async fn get_config(State(sim): State<MetaSim>) -> Response {
    axum::Json(sim.config()).into_response()
}

/// Merge a partial JSON object into the configuration.
async fn patch_config(State(sim): State<MetaSim>, body: axum::body::Bytes) -> Response {
    let patch: Value = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut current = serde_json::to_value(sim.config()).expect("config serializes");
    merge(&mut current, patch);
    match serde_json::from_value::<SimConfig>(current) {
        Ok(cfg) => {
            sim.set_config(cfg);
            axum::Json(sim.config()).into_response()
        }
        Err(e) => bad(format!("invalid config: {e}")),
    }
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (t, p) => *t = p,
    }
}

async fn reset(State(sim): State<MetaSim>) -> Response {
    sim.reset();
    axum::Json(json!({"ok": true})).into_response()
}
