//! Issue 14, items 4–6: the SSRF guard's IPv6 forms, numeric query values that used to panic, and
//! errors that used to leave the contract (plain-text rejections, hyper's empty 414/431).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

/// Every form the issue found accepted, and the other embeddings of forbidden IPv4 addresses.
const EMBEDDED: &[&str] = &[
    "https://[::127.0.0.1]/hook",
    "https://[::a9fe:a9fe]/hook",
    "https://[::ffff:0:a00:1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://[64:ff9b::a00:1]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[64:ff9b:1::a00:1]/hook",
    "https://[2002:7f00:1::]/hook",
    "https://[2002:a9fe:a9fe::1]/hook",
    "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",
    "https://[fec0::1]/hook",
    "https://[2001:db8::1]/hook",
    "https://100.64.0.1/hook",
    "https://192.0.2.10/hook",
    "https://240.0.0.1/hook",
];

#[tokio::test]
async fn the_ssrf_guard_refuses_ipv6_forms_embedding_ipv4_on_create_and_update() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    // A public literal (no DNS needed): accepted.
    let res = app
        .post(
            "/api/webhook-endpoints",
            &json!({"url": "https://93.184.216.34/hook", "events": ["*"]}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    for url in EMBEDDED {
        let res = app.post("/api/webhook-endpoints", &json!({"url": url, "events": ["*"]}), Some(&admin.access)).await;
        let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(b["error"]["details"]["fields"][0]["field"], "url", "create {url}: {b}");
        let res = app.patch(&format!("/api/webhook-endpoints/{id}"), &json!({"url": url}), Some(&admin.access)).await;
        let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(b["error"]["details"]["fields"][0]["field"], "url", "update {url}: {b}");
    }
    let ep: Value = app.get(&format!("/api/webhook-endpoints/{id}"), Some(&admin.access)).await.json().await.unwrap();
    assert_eq!(ep["url"], "https://93.184.216.34/hook", "no update went through");
}

/// Asserts the error contract: status, JSON content type, a code, a message, details an object.
async fn assert_contract(res: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(ct.as_deref(), Some("application/json"), "content type of a {status}");
    assert_eq!(res.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"));
    let b: Value = res.json().await.expect("a JSON body");
    assert_eq!(b["error"]["code"], code, "{b}");
    assert!(b["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    assert!(b["error"]["details"].is_object(), "details is an object, never null: {b}");
    b
}

#[tokio::test]
async fn numeric_query_values_are_range_checked_not_a_panic() {
    let app = spawn_app().await;
    let root = app.system_admin().await;
    let res = app.get("/api/admin/tenants?offset=9223372036854775808", Some(&root)).await;
    let b = assert_contract(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "offset");
    let res = app.get("/api/admin/tenants?offset=9223372036854775807", Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    for q in ["offset=-1", "limit=-1", "limit=1e3", "offset=99999999999999999999999", "limit=x"] {
        let res = app.get(&format!("/api/admin/tenants?{q}"), Some(&root)).await;
        assert_contract(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    for path in ["/api/admin/jobs?limit=-1", "/api/admin/webhook-events?limit=-5", "/api/admin/audit?limit=-1"] {
        assert_contract(app.get(path, Some(&root)).await, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
}

#[tokio::test]
async fn every_error_is_the_json_shape() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let t = Some(admin.access.as_str());
    // An invalid UUID in a path, a negative limit, a duplicated query field.
    assert_contract(app.get("/api/conversations/not-a-uuid", t).await, StatusCode::BAD_REQUEST, "invalid_path").await;
    assert_contract(app.get("/api/conversations?limit=-1", t).await, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app.get("/api/audit-log?action=a&action=b", t).await;
    assert_contract(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    // Multipart without a boundary.
    let res = app.post_raw("/api/media", "multipart/form-data", "x", t).await;
    assert_contract(res, StatusCode::BAD_REQUEST, "invalid_multipart").await;
    // A body over the limit.
    let big = format!("{{\"email\":\"{}\",\"password\":\"x\"}}", "a".repeat(3 * 1024 * 1024));
    let res = app.post_raw("/api/auth/login", "application/json", big, None).await;
    assert_contract(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Unknown route, wrong method.
    assert_contract(app.get("/api/nothing-here", None).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get("/api/auth/login", None).await;
    assert_contract(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    // Ordinary application errors have details too.
    assert_contract(app.get("/api/auth/me", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// Sends raw bytes (clients refuse to build such requests) and returns (status, head, body).
async fn raw(app: &crate::helpers::TestApp, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn assert_raw_contract((status, head, body): (u16, String, String), want: u16, code: &str) {
    assert_eq!(status, want, "head: {}", &head[..head.len().min(300)]);
    assert!(head.contains("\r\ncontent-type: application/json"), "{head}");
    let b: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("a JSON body, got {body:?}"));
    assert_eq!(b["error"]["code"], code);
    assert!(b["error"]["message"].is_string() && b["error"]["details"].is_object(), "{b}");
}

#[tokio::test]
async fn hypers_own_414_and_431_answers_are_json() {
    let app = spawn_app().await;
    // A 100 KB query string: hyper refuses URIs over 64 KiB before any handler runs.
    let long = format!("GET /api/health?q={} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(100 * 1024));
    assert_raw_contract(raw(&app, long.as_bytes()).await, 414, "uri_too_long");
    // More headers than hyper takes.
    let mut many = String::from("GET /api/health HTTP/1.1\r\nhost: x\r\n");
    for i in 0..120 {
        many.push_str(&format!("x-h-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_raw_contract(raw(&app, many.as_bytes()).await, 431, "headers_too_large");
    // A request hyper cannot parse at all.
    assert_raw_contract(raw(&app, b"GET /api/health HTTP/1.1\r\nbad header\r\n\r\n").await, 400, "bad_request");
    // An ordinary request on a kept-alive connection is untouched.
    let (status, head, body) =
        raw(&app, b"GET /api/health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
    assert_eq!(status, 200, "{head} {body}");
    assert!(head.contains("x-content-type-options: nosniff"));
}

#[tokio::test]
async fn every_response_carries_nosniff_and_hsts_only_over_https() {
    let app = spawn_app().await;
    let res = app.get("/api/health/live", None).await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers().get("strict-transport-security").is_none(), "no HSTS over http");
    let https = crate::helpers::spawn_app_with(&[("SWITCHBOARD_PUBLIC_URL", "https://switchboard.example")]).await;
    let res = https.get("/api/health/live", None).await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let hsts = res.headers()["strict-transport-security"].to_str().unwrap();
    assert!(hsts.starts_with("max-age=31536000"), "{hsts}");
    let res = https.get("/login", None).await;
    assert!(res.headers().contains_key("strict-transport-security"));
}
