//! The Graph API endpoints (`/{version}/…`) and the media download URL.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::errors::GraphError;
use crate::sim::{GraphResult, MetaSim, api_major, bump, read};
use crate::templates;

pub(crate) fn routes() -> Router<MetaSim> {
    Router::new()
        .route("/{ver}/{id}/messages", post(send))
        .route("/{ver}/{id}/media", post(upload))
        .route("/{ver}/{id}/message_templates", get(list_templates).post(create_template).delete(delete_templates))
        .route("/{ver}/{id}", get(get_object).delete(delete_object))
        .route("/whatsapp_business/attachments/", get(download))
        .route("/whatsapp_business/attachments", get(download))
}

fn respond(r: GraphResult) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `Authorization: Bearer <token>` or `?access_token=`.
fn token(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            let t = v[7..].trim();
            if !t.is_empty() {
                return Some(t.to_string());
            }
        }
        if v.len() > 6 && v[..6].eq_ignore_ascii_case("oauth ") {
            return Some(v[6..].trim().to_string());
        }
    }
    query.get("access_token").filter(|t| !t.is_empty()).cloned()
}

fn check_version(ver: &str, path: &str) -> Result<(), GraphError> {
    match api_major(ver) {
        Some(_) => Ok(()),
        None => Err(GraphError::unknown_path(path)),
    }
}

fn base_from(headers: &HeaderMap, sim: &MetaSim) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("http://{host}"),
        None => sim.base_url().unwrap_or_else(|| "http://127.0.0.1".to_string()),
    }
}

fn fields(query: &HashMap<String, String>) -> Option<Vec<String>> {
    query.get("fields").map(|f| f.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

fn select_fields(full: Value, fields: Option<&[String]>) -> Value {
    match fields {
        None => full,
        Some(fields) => {
            let mut out = serde_json::Map::new();
            for f in fields {
                if let Some(v) = full.get(f.as_str()) {
                    out.insert(f.clone(), v.clone());
                }
            }
            out.insert("id".into(), full["id"].clone());
            Value::Object(out)
        }
    }
}

async fn send(
    State(sim): State<MetaSim>,
    Path((ver, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = check_version(&ver, &format!("/{ver}/{id}/messages")) {
        return e.into_response();
    }
    let token = token(&headers, &query);
    match sim.graph_send(&id, token.as_deref(), &ver, &body) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], Bytes::from(bytes)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Supported upload MIME types and their size limits (Meta's media page).
fn media_limit(mime: &str) -> Option<usize> {
    const MB: usize = 1024 * 1024;
    let base = mime.split(';').next().unwrap_or("").trim();
    Some(match base {
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => 16 * MB,
        "video/mp4" | "video/3gpp" => 16 * MB,
        "image/jpeg" | "image/png" => 5 * MB,
        "image/webp" => 500 * 1024,
        "text/plain"
        | "application/pdf"
        | "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/msword"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => 100 * MB,
        _ => return None,
    })
}

async fn upload(
    State(sim): State<MetaSim>,
    Path((ver, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Err(e) = check_version(&ver, &format!("/{ver}/{id}/media")) {
        return e.into_response();
    }
    let token = token(&headers, &query);
    let number = match sim.authorize_number(&id, token.as_deref(), "post") {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(_) => {
            return GraphError::invalid("The request must be multipart/form-data with a file field").into_response();
        }
    };
    let mut product = None;
    let mut type_field = None;
    let mut file: Option<(Bytes, Option<String>, Option<String>)> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                match name.as_str() {
                    "messaging_product" => product = field.text().await.ok(),
                    "type" => type_field = field.text().await.ok(),
                    "file" => {
                        let ct = field.content_type().map(str::to_string);
                        let filename = field.file_name().map(str::to_string);
                        match field.bytes().await {
                            Ok(b) => file = Some((b, ct, filename)),
                            Err(e) => {
                                return GraphError::invalid(format!("Could not read file: {e}")).into_response();
                            }
                        }
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => {
                return GraphError::invalid(format!("Malformed multipart body: {e}")).into_response();
            }
        }
    }
    match product.as_deref() {
        Some(p) if p.eq_ignore_ascii_case("whatsapp") => {}
        None => {
            return GraphError::invalid("The parameter messaging_product is required.").into_response();
        }
        Some(p) => {
            return GraphError::invalid(format!("Param messaging_product must be one of {{WHATSAPP}} - got \"{p}\"."))
                .into_response();
        }
    }
    let Some((bytes, part_type, filename)) = file else {
        return GraphError::invalid("The parameter file is required.").into_response();
    };
    let part_type = part_type.filter(|t| t != "application/octet-stream");
    let mime = match (part_type, type_field) {
        (Some(p), Some(t)) if !p.eq_ignore_ascii_case(&t) => {
            return GraphError::code(131053)
                .with_details(format!(
                    "Media upload error: the file's type ({p}) does not match the type parameter ({t})"
                ))
                .into_response();
        }
        (Some(p), _) => p,
        (None, Some(t)) => t,
        (None, None) => {
            return GraphError::invalid("The parameter type is required.").into_response();
        }
    };
    let Some(limit) = media_limit(&mime) else {
        return GraphError::code(131053).with_details(format!("Unsupported media type: {mime}")).into_response();
    };
    if bytes.is_empty() || bytes.len() > limit {
        return GraphError::code(131053)
            .with_details(format!(
                "Media file size {} is outside the allowed range (1..={limit} bytes) for {mime}",
                bytes.len()
            ))
            .into_response();
    }
    let owner = read(&number.spec).phone_number_id.clone();
    let media = sim.store_media(&owner, bytes, mime, filename);
    bump(&sim.inner.stats.media_uploaded);
    axum::Json(json!({"id": media.id})).into_response()
}

async fn get_object(
    State(sim): State<MetaSim>,
    Path((ver, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_version(&ver, &format!("/{ver}/{id}")) {
        return e.into_response();
    }
    let token = token(&headers, &query);
    let fields = fields(&query);
    if sim.number(&id).is_some() {
        let number = match sim.authorize_number(&id, token.as_deref(), "get") {
            Ok(n) => n,
            Err(e) => return e.into_response(),
        };
        let spec = number.spec();
        let cfg = sim.cfg();
        let mps = spec.throughput_mps.unwrap_or(cfg.throughput_mps);
        let full = json!({
            "id": spec.phone_number_id,
            "display_phone_number": spec.display_phone_number,
            "verified_name": spec.verified_name,
            "quality_rating": spec.quality_rating,
            "code_verification_status": "VERIFIED",
            "platform_type": "CLOUD_API",
            "status": "CONNECTED",
            "name_status": "APPROVED",
            "messaging_limit_tier": "TIER_250",
            "whatsapp_business_manager_messaging_limit": "TIER_250",
            "throughput": {"level": if mps > 80 { "HIGH" } else { "STANDARD" }},
        });
        return axum::Json(select_fields(full, fields.as_deref())).into_response();
    }
    if let Some(media) = sim.get_media(&id) {
        if let Err(e) = sim.authorize_number(&media.owner, token.as_deref(), "get") {
            return match e.code {
                190 => e,
                _ => GraphError::unknown_object("get", &id),
            }
            .into_response();
        }
        if let Some(p) = query.get("phone_number_id")
            && *p != media.owner
        {
            return GraphError::unknown_object("get", &id).into_response();
        }
        let cfg = sim.cfg();
        let base = base_from(&headers, &sim);
        let url = sim.media_url(&media, Some(&base), &cfg).unwrap_or_default();
        return axum::Json(json!({
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": media.mime_type,
            "sha256": media.sha256_hex,
            "file_size": media.bytes.len(),
            "id": media.id,
        }))
        .into_response();
    }
    if let Some(t) = sim.find_template_by_id(&id) {
        if let Err(e) = sim.authorize_waba(&t.waba_id, token.as_deref(), "get") {
            return e.into_response();
        }
        return axum::Json(templates::to_graph_json(&t, fields.as_deref())).into_response();
    }
    let is_waba = sim.numbers().iter().any(|n| n.waba_id == id);
    if is_waba {
        if let Err(e) = sim.authorize_waba(&id, token.as_deref(), "get") {
            return e.into_response();
        }
        let full = json!({
            "id": id,
            "name": "meta-sim WhatsApp Business Account",
            "timezone_id": "1",
            "message_template_namespace": format!("sim_{id}"),
            "currency": "USD",
        });
        return axum::Json(select_fields(full, fields.as_deref())).into_response();
    }
    unknown(&sim, token.as_deref(), "get", &id)
}

fn unknown(sim: &MetaSim, token: Option<&str>, method: &str, id: &str) -> Response {
    let Some(token) = token else {
        return GraphError::bad_token(true).into_response();
    };
    let known = sim.numbers().iter().any(|n| n.access_token == token);
    if known {
        GraphError::unknown_object(method, id).into_response()
    } else {
        GraphError::bad_token(false).into_response()
    }
}

async fn delete_object(
    State(sim): State<MetaSim>,
    Path((ver, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_version(&ver, &format!("/{ver}/{id}")) {
        return e.into_response();
    }
    let token = token(&headers, &query);
    if let Some(media) = sim.get_media(&id) {
        if let Err(e) = sim.authorize_number(&media.owner, token.as_deref(), "delete") {
            return match e.code {
                190 => e,
                _ => GraphError::unknown_object("delete", &id),
            }
            .into_response();
        }
        sim.delete_media(&id);
        return axum::Json(json!({"success": true})).into_response();
    }
    unknown(&sim, token.as_deref(), "delete", &id)
}

async fn download(
    State(sim): State<MetaSim>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not Found").into_response();
    let (Some(mid), Some(ext), Some(hash)) = (query.get("mid"), query.get("ext"), query.get("hash")) else {
        return not_found();
    };
    let Ok(ext) = ext.parse::<u64>() else {
        return not_found();
    };
    if !sim.check_media_url(mid, ext, hash) {
        return not_found();
    }
    let Some(media) = sim.get_media(mid) else {
        return not_found();
    };
    let token = token(&headers, &HashMap::new());
    if let Err(e) = sim.authorize_number(&media.owner, token.as_deref(), "get") {
        return match e.code {
            190 => e.into_response(),
            _ => GraphError::code(10).into_response(),
        };
    }
    bump(&sim.inner.stats.media_downloaded);
    let mut resp = (StatusCode::OK, media.bytes.clone()).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&media.mime_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Some(f) = &media.filename
        && let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{}\"", f.replace('"', "")))
    {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

async fn list_templates(
    State(sim): State<MetaSim>,
    Path((ver, waba)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_version(&ver, &format!("/{ver}/{waba}/message_templates")) {
        return e.into_response();
    }
    let token = token(&headers, &query);
    if let Err(e) = sim.authorize_waba(&waba, token.as_deref(), "get") {
        return e.into_response();
    }
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 25,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => {
            return GraphError::invalid("Param limit must be an integer between 1 and 1000").into_response();
        }
    };
    let all: Vec<templates::Template> = sim
        .templates(&waba)
        .into_iter()
        .filter(|t| {
            query.get("status").is_none_or(|s| s.split(',').any(|s| s.trim().eq_ignore_ascii_case(&t.status)))
                && query
                    .get("category")
                    .is_none_or(|c| c.split(',').any(|c| c.trim().eq_ignore_ascii_case(&t.category)))
                && query.get("name").is_none_or(|n| t.name.contains(n.as_str()))
                && query.get("language").is_none_or(|l| *l == t.language)
        })
        .collect();
    let pos = |cursor: &str| -> Option<usize> {
        let id = crate::ids::decode_cursor(cursor)?;
        all.iter().position(|t| t.id == id)
    };
    let (start, end) = if let Some(after) = query.get("after") {
        match pos(after) {
            Some(p) => (p + 1, (p + 1 + limit).min(all.len())),
            None => return GraphError::invalid("Invalid paging cursor: after").into_response(),
        }
    } else if let Some(before) = query.get("before") {
        match pos(before) {
            Some(p) => (p.saturating_sub(limit), p),
            None => return GraphError::invalid("Invalid paging cursor: before").into_response(),
        }
    } else {
        (0, limit.min(all.len()))
    };
    let fields = fields(&query);
    let page = &all[start..end];
    let data: Vec<Value> = page.iter().map(|t| templates::to_graph_json(t, fields.as_deref())).collect();
    let mut out = json!({"data": data});
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        let before = crate::ids::cursor(&first.id);
        let after = crate::ids::cursor(&last.id);
        let mut paging = json!({"cursors": {"before": before, "after": after}});
        let base = base_from(&headers, &sim);
        let mut keep: Vec<String> = vec![format!("limit={limit}")];
        for k in ["fields", "status", "category", "name", "language", "access_token"] {
            if let Some(v) = query.get(k) {
                keep.push(format!("{k}={}", url_escape(v)));
            }
        }
        let link = |k: &str, c: &str| format!("{base}/{ver}/{waba}/message_templates?{}&{k}={c}", keep.join("&"));
        if end < all.len() {
            paging["next"] = json!(link("after", &after));
        }
        if start > 0 {
            paging["previous"] = json!(link("before", &before));
        }
        out["paging"] = paging;
    }
    axum::Json(out).into_response()
}

fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn create_template(
    State(sim): State<MetaSim>,
    Path((ver, waba)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = check_version(&ver, &format!("/{ver}/{waba}/message_templates")) {
        return e.into_response();
    }
    let token = token(&headers, &query);
    if let Err(e) = sim.authorize_waba(&waba, token.as_deref(), "post") {
        return e.into_response();
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return GraphError::invalid(format!("Request body is not valid JSON: {e}")).into_response();
        }
    };
    respond(sim.create_template(&waba, &body))
}

async fn delete_templates(
    State(sim): State<MetaSim>,
    Path((ver, waba)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_version(&ver, &format!("/{ver}/{waba}/message_templates")) {
        return e.into_response();
    }
    let token = token(&headers, &query);
    if let Err(e) = sim.authorize_waba(&waba, token.as_deref(), "delete") {
        return e.into_response();
    }
    let Some(name) = query.get("name") else {
        return GraphError::invalid("The parameter name is required.").into_response();
    };
    respond(sim.delete_templates(&waba, name, query.get("hsm_id").map(String::as_str)))
}
