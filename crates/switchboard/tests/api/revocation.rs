//! Access that ends when an account does (issue 14, item 2): a deleted or deactivated user's
//! still-valid access token, cookie session and API keys stop working at once, and so do a
//! suspended tenant's tokens; what the user handed out (API keys, invitations) is revoked.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::audit_log;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, invite_token, spawn_app};

/// A second TENANT_ADMIN (invited and accepted) of `admin`'s tenant: (token, user id).
async fn second_admin(app: &TestApp, admin: &str) -> (String, String) {
    let inv = app.invite(admin, "bob@acme.test", "TENANT_ADMIN").await;
    let res = app.accept_invite(&inv).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    (b["accessToken"].as_str().unwrap().to_string(), b["user"]["id"].as_str().unwrap().to_string())
}

async fn create_key(app: &TestApp, token: &str) -> (String, String) {
    let res = app.post("/api/api-keys", &json!({"name": "CRM", "scopes": ["admin"]}), Some(token)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b: Value = res.json().await.unwrap();
    (b["key"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string())
}

/// The admin-only writes the issue reproduced with a removed admin's token.
async fn assert_refused(app: &TestApp, token: &str, status: StatusCode, code: &str) {
    let res = app.post("/api/api-keys", &json!({"name": "Backdoor", "scopes": ["admin"]}), Some(token)).await;
    assert_error(res, status, code).await;
    let res = app.post("/api/users", &json!({"email": "eve@acme.test", "role": "TENANT_ADMIN"}), Some(token)).await;
    assert_error(res, status, code).await;
    let res = app.patch("/api/settings", &json!({"name": "Owned"}), Some(token)).await;
    assert_error(res, status, code).await;
    let res = app.get("/api/conversations", Some(token)).await;
    assert_error(res, status, code).await;
}

async fn audit_entries(app: &TestApp, tenant: &str, action: &str) -> Vec<audit_log::Model> {
    audit_log::Entity::find()
        .filter(audit_log::Column::TenantId.eq(tenant.parse::<Uuid>().unwrap()))
        .filter(audit_log::Column::Action.eq(action))
        .all(&app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_deleted_users_token_cookie_keys_and_invitations_stop_working() {
    let app = spawn_app().await;
    let ana = app.register("Acme", "ana@acme.test").await;
    let (bob, bob_id) = second_admin(&app, &ana.access).await;
    let (key, key_id) = create_key(&app, &bob).await;
    let pending = app.invite(&bob, "cy@acme.test", "AGENT").await;
    // All of it works while Bob is a member.
    assert_eq!(app.get("/api/settings", Some(&key)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/settings", Some(&bob)).await.status(), StatusCode::OK);

    let res = app.delete(&format!("/api/users/{bob_id}"), Some(&ana.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // His access token (still within its 15 minutes) is refused on every route, not only /me.
    assert_refused(&app, &bob, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // So is the same token as the web app's cookie session.
    let res =
        app.client.get(app.url("/api/settings")).header("cookie", format!("sb_access={bob}")).send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // His API key is revoked, visibly and audited.
    assert_error(app.get("/api/settings", Some(&key)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let keys: Value = app.get("/api/api-keys", Some(&ana.access)).await.json().await.unwrap();
    let listed = keys["data"].as_array().unwrap().iter().find(|k| k["id"] == key_id.as_str()).unwrap().clone();
    assert!(listed["revokedAt"].is_string(), "{listed}");
    let revoked = audit_entries(&app, &ana.tenant_id, "api_key.revoke").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].details["reason"], "creator_removed");
    assert_eq!(revoked[0].actor_user_id.unwrap().to_string(), ana.user_id);
    // The invitation he sent can no longer be accepted; the admin may invite again.
    let res = app.accept_invite(&pending).await;
    assert_error(res, StatusCode::GONE, "invite_expired").await;
    assert_eq!(audit_entries(&app, &ana.tenant_id, "user.invite_revoke").await.len(), 1);
    let again = app.invite(&ana.access, "cy@acme.test", "AGENT").await;
    assert_ne!(invite_token(&again), invite_token(&pending));
    assert_eq!(app.accept_invite(&again).await.status(), StatusCode::OK);
    // The remaining admin is unaffected.
    assert_eq!(app.get("/api/settings", Some(&ana.access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_deactivated_users_token_and_keys_stop_working() {
    let app = spawn_app().await;
    let ana = app.register("Acme", "ana@acme.test").await;
    let (bob, bob_id) = second_admin(&app, &ana.access).await;
    let (key, _) = create_key(&app, &bob).await;
    // A first request caches Bob's standing; the deactivation must not wait for it to expire.
    assert_eq!(app.get("/api/settings", Some(&bob)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/settings", Some(&key)).await.status(), StatusCode::OK);
    // Token times are whole seconds: deactivate in a later second than Bob's token was issued.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let res = app.patch(&format!("/api/users/{bob_id}"), &json!({"active": false}), Some(&ana.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    assert_refused(&app, &bob, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.get("/api/settings", Some(&key)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let revoked = audit_entries(&app, &ana.tenant_id, "api_key.revoke").await;
    assert_eq!(revoked[0].details["reason"], "creator_deactivated");
    // Reactivated, Bob signs in again; the revoked key stays revoked.
    let res = app.patch(&format!("/api/users/{bob_id}"), &json!({"active": true}), Some(&ana.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(app.get("/api/settings", Some(&key)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The access token issued before the deactivation stays dead after the reactivation.
    assert_refused(&app, &bob, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.get("/api/auth/me", Some(&bob)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Signing in again gives a token that works.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = app
        .post("/api/auth/login", &json!({"email": "bob@acme.test", "password": crate::helpers::PASSWORD}), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = res.json::<Value>().await.unwrap()["accessToken"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/auth/me", Some(&fresh)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_suspended_tenants_tokens_are_refused_until_it_is_reactivated() {
    let app = spawn_app().await;
    let ana = app.register("Acme", "ana@acme.test").await;
    let other = app.register("Globex", "gus@globex.test").await;
    let (key, _) = create_key(&app, &ana.access).await;
    let root = app.system_admin().await;
    assert_eq!(app.get("/api/settings", Some(&ana.access)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/settings", Some(&key)).await.status(), StatusCode::OK);

    let path = format!("/api/admin/tenants/{}", ana.tenant_id);
    let res = app.patch(&path, &json!({"status": "suspended"}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);

    assert_refused(&app, &ana.access, StatusCode::FORBIDDEN, "tenant_suspended").await;
    assert_error(app.get("/api/auth/me", Some(&ana.access)).await, StatusCode::FORBIDDEN, "tenant_suspended").await;
    assert_error(app.get("/api/settings", Some(&key)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Another tenant and the operator are unaffected.
    assert_eq!(app.get("/api/settings", Some(&other.access)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/admin/tenants", Some(&root)).await.status(), StatusCode::OK);

    let res = app.patch(&path, &json!({"status": "active"}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.get("/api/settings", Some(&ana.access)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/settings", Some(&key)).await.status(), StatusCode::OK);
}
