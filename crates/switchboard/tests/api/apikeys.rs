//! API keys: created by TENANT_ADMIN, shown once, stored hashed; scopes gate requests; revocation
//! and unknown keys are 401; the last-used time is kept.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;
use switchboard::entities::{api_keys, audit_log, messages};

use crate::helpers::{TestApp, assert_error, spawn_app, wait_for};

async fn create_key(app: &TestApp, token: &str, scopes: &[&str]) -> Value {
    let res = app.post("/api/api-keys", &json!({"name": "CRM", "scopes": scopes}), Some(token)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn sandbox_number(app: &TestApp, token: &str) -> Value {
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(token)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

/// A customer writes to the sandbox number; returns the conversation id.
async fn customer_conversation(app: &TestApp, token: &str, account_id: &str) -> String {
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{account_id}/sandbox/messages"),
            &json!({"from": "15551239999", "name": "Customer", "message": {"type": "text", "body": "hi"}}),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let wamid = res.json::<Value>().await.unwrap()["waMessageId"].as_str().unwrap().to_string();
    wait_for("inbound message", || async {
        messages::Entity::find()
            .filter(messages::Column::WaMessageId.eq(wamid.as_str()))
            .one(&app.state.db)
            .await
            .unwrap()
    })
    .await
    .conversation_id
    .to_string()
}

#[tokio::test]
async fn keys_are_shown_once_stored_hashed_and_audited() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let created = create_key(&app, &admin.access, &["read", "send"]).await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("sk_") && key.len() > 40, "{key}");
    assert_eq!(created["prefix"], &key[..8]);
    assert_eq!(created["scopes"], json!(["read", "send"]));
    assert!(created["lastUsedAt"].is_null());

    let row = api_keys::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(row.key_hash, switchboard_crypto::token::sha256_hex(key.as_bytes()));
    assert_ne!(row.key_hash, key);

    let list: Value = app.get("/api/api-keys", Some(&admin.access)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0].get("key").is_none(), "no secret in the list: {list}");
    assert!(!list.to_string().contains(key));
    assert_eq!(list["data"][0]["prefix"], &key[..8]);

    let audit = audit_log::Entity::find().filter(audit_log::Column::Action.eq("api_key.create")).all(&app.state.db);
    assert_eq!(audit.await.unwrap().len(), 1);

    // Field-named validation.
    let res = app.post("/api/api-keys", &json!({"name": "", "scopes": ["write"]}), Some(&admin.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields: Vec<&str> =
        b["error"]["details"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "scopes"]);
    let res = app.post("/api/api-keys", &json!({"name": "x"}), Some(&admin.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn scopes_gate_what_a_key_may_do() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let acct = sandbox_number(&app, &admin.access).await;
    let account_id = acct["id"].as_str().unwrap();
    let conv = customer_conversation(&app, &admin.access, account_id).await;
    let read = create_key(&app, &admin.access, &["read"]).await["key"].as_str().unwrap().to_string();
    let send = create_key(&app, &admin.access, &["send"]).await["key"].as_str().unwrap().to_string();
    let full = create_key(&app, &admin.access, &["admin"]).await["key"].as_str().unwrap().to_string();
    let text = json!({"type": "text", "text": {"body": "from the CRM"}});
    let number = json!({"name": "Second", "wabaId": "9123", "phoneNumberId": "123", "displayPhoneNumber": "+1 555 0199",
        "accessToken": "EAAG-test-token-1234"});

    // read: every GET (all conversations, like an admin), no writes.
    let list: Value = app.get("/api/conversations", Some(&read)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("/api/conversations/{conv}/messages"), Some(&read)).await.status(), StatusCode::OK);
    let res = app.post(&format!("/api/conversations/{conv}/messages"), &text, Some(&read)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.post(&format!("/api/conversations/{conv}/read"), &json!({}), Some(&read)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Key management is for admin keys only, even to read.
    assert_error(app.get("/api/api-keys", Some(&read)).await, StatusCode::FORBIDDEN, "forbidden").await;

    // send: sends and marks read, but does not manage numbers or keys.
    let res = app.post(&format!("/api/conversations/{conv}/messages"), &text, Some(&send)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = app.post(&format!("/api/conversations/{conv}/read"), &json!({}), Some(&send)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.post("/api/whatsapp-accounts?validate=false", &number, Some(&send)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.post("/api/api-keys", &json!({"name": "x", "scopes": ["admin"]}), Some(&send)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.patch(&format!("/api/conversations/{conv}"), &json!({"status": "resolved"}), Some(&send)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // admin: everything a TENANT_ADMIN can do.
    let res = app.post("/api/whatsapp-accounts?validate=false", &number, Some(&full)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.post("/api/api-keys", &json!({"name": "child", "scopes": ["read"]}), Some(&full)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.get("/api/api-keys", Some(&full)).await.status(), StatusCode::OK);
    let res = app.post(&format!("/api/conversations/{conv}/messages"), &text, Some(&full)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(app.get("/api/audit-log", Some(&full)).await.status(), StatusCode::OK);
    // But never more: the platform operator's routes stay closed to any key.
    for key in [&read, &send, &full] {
        assert_error(app.get("/api/admin/tenants", Some(key)).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

#[tokio::test]
async fn revoked_and_unknown_keys_are_401_and_use_is_recorded() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let created = create_key(&app, &admin.access, &["read"]).await;
    let key = created["key"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();

    assert_eq!(app.get("/api/conversations", Some(key)).await.status(), StatusCode::OK);
    let used = wait_for("last_used_at", || async {
        let k = api_keys::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap()).one(&app.state.db).await.unwrap();
        k.unwrap().last_used_at
    })
    .await;
    let list: Value = app.get("/api/api-keys", Some(&admin.access)).await.json().await.unwrap();
    assert!(list["data"][0]["lastUsedAt"].is_string());
    // At most one write a minute: another use does not move it.
    assert_eq!(app.get("/api/conversations", Some(key)).await.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let k = api_keys::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap()).one(&app.state.db).await.unwrap();
    assert_eq!(k.unwrap().last_used_at, Some(used));

    // Revocation takes effect at once on this node (the cached lookup is dropped).
    assert_eq!(app.delete(&format!("/api/api-keys/{id}"), Some(&admin.access)).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.get("/api/conversations", Some(key)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let list: Value = app.get("/api/api-keys", Some(&admin.access)).await.json().await.unwrap();
    assert!(list["data"][0]["revokedAt"].is_string());
    let audit = audit_log::Entity::find().filter(audit_log::Column::Action.eq("api_key.revoke")).all(&app.state.db);
    assert_eq!(audit.await.unwrap().len(), 1);

    let unknown = format!("sk_{}", "A".repeat(43));
    assert_error(app.get("/api/conversations", Some(&unknown)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.get("/api/conversations", Some("sk_")).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn roles_and_tenant_isolation_on_every_key_route() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let other = app.register("Globex", "gus@globex.test").await;
    let agent = app.user_with_role(&admin.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&admin.tenant_id, "bill@acme.test", Role::BillingAdmin).await;
    let root = app.system_admin().await;
    let created = create_key(&app, &admin.access, &["admin"]).await;
    let id = created["id"].as_str().unwrap();
    let body = json!({"name": "x", "scopes": ["read"]});

    for token in [&agent, &billing, &root] {
        assert_error(app.get("/api/api-keys", Some(token)).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(app.post("/api/api-keys", &body, Some(token)).await, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app.delete(&format!("/api/api-keys/{id}"), Some(token)).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_error(app.get("/api/api-keys", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.post("/api/api-keys", &body, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.delete(&format!("/api/api-keys/{id}"), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Another tenant sees none of it, and cannot revoke it.
    let list: Value = app.get("/api/api-keys", Some(&other.access)).await.json().await.unwrap();
    assert_eq!(list["data"], json!([]));
    let res = app.delete(&format!("/api/api-keys/{id}"), Some(&other.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // A key of one tenant sees only its tenant.
    let key = created["key"].as_str().unwrap();
    let theirs = create_key(&app, &other.access, &["read"]).await;
    let res = app.delete(&format!("/api/api-keys/{}", theirs["id"].as_str().unwrap()), Some(key)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let list: Value = app.get("/api/api-keys", Some(key)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn integration_endpoints_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    for (path, methods) in [
        ("/api/api-keys", &["get", "post"][..]),
        ("/api/api-keys/{id}", &["delete"][..]),
        ("/api/webhook-endpoints", &["get", "post"][..]),
        ("/api/webhook-endpoints/{id}", &["get", "patch", "delete"][..]),
        ("/api/webhook-endpoints/{id}/rotate-secret", &["post"][..]),
        ("/api/webhook-endpoints/{id}/deliveries", &["get"][..]),
        ("/api/analytics/summary", &["get"][..]),
        ("/api/analytics/agents", &["get"][..]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} missing from OpenAPI");
        }
    }
    let tags: Vec<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for t in ["api-keys", "webhook-endpoints", "analytics"] {
        assert!(tags.contains(&t), "tag {t}");
    }
}

#[tokio::test]
async fn keys_of_a_suspended_tenant_are_refused() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let root = app.system_admin().await;
    let key = create_key(&app, &admin.access, &["admin"]).await["key"].as_str().unwrap().to_string();
    let res = app
        .patch(&format!("/api/admin/tenants/{}", admin.tenant_id), &json!({"status": "suspended"}), Some(&root))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(app.get("/api/conversations", Some(&key)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
