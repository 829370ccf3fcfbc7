//! The OpenAPI document agrees with the wire: real answers validate against the schema the
//! document gives for their operation and status, and every status an operation answers is
//! documented. `.ci/fuzz` checks every operation with generated requests; this test keeps the
//! drift it once found (enums in PascalCase, the analytics agents typed as the team's, an error's
//! `details`, undocumented 400/401/403/404/415/422) from coming back between fuzzer runs.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// `~` and `/` escaped for a JSON pointer segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Errors of `body` against the schema documented for `method path` answering `status`.
fn conformance_errors(doc: &Value, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let op_ptr = format!("/paths/{}/{}", escape(path), method.to_lowercase());
    let Some(op) = doc.pointer(&op_ptr) else { return vec![format!("{method} {path} is not documented")] };
    let Some(mut response) = op["responses"].get(status.to_string()) else {
        return vec![format!("{method} {path} does not document {status}")];
    };
    let mut response_ptr = format!("{op_ptr}/responses/{status}");
    if let Some(target) = response.get("$ref").and_then(Value::as_str) {
        response_ptr = target.trim_start_matches('#').to_string();
        response = doc.pointer(&response_ptr).expect("shared response exists");
    }
    if response.pointer("/content/application~1json/schema").is_none() {
        return vec![format!("{method} {path} {status} has no JSON schema")];
    }
    // The whole document is the root, so the `#/components/schemas/…` references resolve (a
    // fragment's braces are percent-encoded).
    let mut schema = doc.clone();
    let target = format!("#{response_ptr}/content/application~1json/schema").replace('{', "%7B").replace('}', "%7D");
    schema["$ref"] = json!(target);
    let validator = jsonschema::draft202012::new(&schema).expect("the document's schemas compile");
    validator.iter_errors(body).map(|e| format!("{method} {path} {status}: {e} at {}", e.instance_path())).collect()
}

#[tokio::test]
async fn answers_validate_against_the_documented_schemas() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    // The check itself is not vacuous: a body the schema refuses is reported.
    assert!(
        !conformance_errors(&doc, "GET", "/api/auth/me", 200, &json!({"user": {"role": "TenantAdmin"}})).is_empty()
    );
    let admin = app.register("Acme", "ana@acme.test").await;
    let root = app.system_admin().await;

    // Data behind the answers: a sandbox number, a customer's conversation, an agent.
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let account: Value = res.json().await.unwrap();
    let account_id = account["id"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{account_id}/sandbox/messages"),
            &json!({"from": "15551234567", "name": "Sam", "message": {"type": "text", "body": "Hi"}}),
            Some(&admin.access),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let conversation = crate::helpers::wait_for("the sandbox message's conversation", || async {
        let b: Value = app.get("/api/conversations", Some(&admin.access)).await.json().await.unwrap();
        b["data"][0]["id"].as_str().map(str::to_string)
    })
    .await;
    app.invite(&admin.access, "agent@acme.test", "AGENT").await;
    let missing = uuid::Uuid::now_v7();

    // (token, method, path as documented, concrete path, body) — successes and errors.
    let a = admin.access.as_str();
    let cases: Vec<(&str, Method, &str, String, Option<Value>)> = vec![
        (a, Method::GET, "/api/auth/me", "/api/auth/me".into(), None),
        (&root, Method::GET, "/api/auth/me", "/api/auth/me".into(), None),
        (a, Method::GET, "/api/users", "/api/users".into(), None),
        (a, Method::GET, "/api/agents", "/api/agents".into(), None),
        (a, Method::GET, "/api/analytics/agents", "/api/analytics/agents".into(), None),
        (a, Method::GET, "/api/analytics/summary", "/api/analytics/summary".into(), None),
        (a, Method::GET, "/api/conversations", "/api/conversations".into(), None),
        (a, Method::GET, "/api/conversations/{id}", format!("/api/conversations/{conversation}"), None),
        (
            a,
            Method::GET,
            "/api/conversations/{id}/messages",
            format!("/api/conversations/{conversation}/messages"),
            None,
        ),
        (a, Method::GET, "/api/contacts", "/api/contacts".into(), None),
        (a, Method::GET, "/api/whatsapp-accounts", "/api/whatsapp-accounts".into(), None),
        (a, Method::GET, "/api/settings", "/api/settings".into(), None),
        (&root, Method::GET, "/api/admin/tenants", "/api/admin/tenants".into(), None),
        (&root, Method::GET, "/api/admin/jobs", "/api/admin/jobs".into(), None),
        (&root, Method::GET, "/api/admin/webhook-events", "/api/admin/webhook-events".into(), None),
        // Errors: each must be documented for its operation, with the error schema.
        ("", Method::GET, "/api/conversations", "/api/conversations".into(), None),
        (&root, Method::GET, "/api/conversations", "/api/conversations".into(), None),
        (a, Method::GET, "/api/admin/tenants", "/api/admin/tenants".into(), None),
        (a, Method::GET, "/api/conversations/{id}", format!("/api/conversations/{missing}"), None),
        (a, Method::GET, "/api/conversations/{id}", "/api/conversations/not-a-uuid".into(), None),
        (a, Method::GET, "/api/conversations", "/api/conversations?limit=-1".into(), None),
        (
            a,
            Method::PATCH,
            "/api/conversations/{id}",
            format!("/api/conversations/{conversation}"),
            Some(json!({"status": "nope"})),
        ),
        (a, Method::POST, "/api/canned-responses", "/api/canned-responses".into(), Some(json!({"title": ""}))),
    ];
    let mut errors = Vec::new();
    let mut statuses = Vec::new();
    for (token, method, documented, path, body) in cases {
        let mut req = app.client.request(method.clone(), app.url(&path));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        assert_eq!(res.headers()["content-type"], "application/json", "{method} {path}");
        let value: Value = res.json().await.unwrap();
        statuses.push(format!("{method} {path} {status}"));
        errors.extend(conformance_errors(&doc, method.as_str(), documented, status, &value));
    }
    // The invalid JSON and missing content type of a body (415) are documented too.
    let url = app.url(&format!("/api/conversations/{conversation}"));
    for (ctype, body) in [("application/json", "{"), ("text/plain", "{}")] {
        let res = app.client.patch(&url).bearer_auth(a).header("content-type", ctype).body(body).send().await.unwrap();
        let status = res.status().as_u16();
        let value: Value = res.json().await.unwrap();
        statuses.push(format!("PATCH {ctype} {status}"));
        errors.extend(conformance_errors(&doc, "PATCH", "/api/conversations/{id}", status, &value));
    }
    assert!(errors.is_empty(), "{errors:#?}\nanswers: {statuses:#?}");
}

#[tokio::test]
async fn enums_are_documented_as_serialized() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Role"]["enum"], json!(switchboard::entities::enums::Role::ALL));
    assert_eq!(schemas["ConversationStatus"]["enum"], json!(switchboard::entities::enums::ConversationStatus::ALL));
    assert_eq!(schemas["MessageStatus"]["enum"], json!(switchboard::entities::enums::MessageStatus::ALL));
}
