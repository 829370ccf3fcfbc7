//! The audit log API: what is recorded, newest first, filters, keyset pages, roles, isolation.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::entities::enums::Role;

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app};

async fn page(app: &TestApp, token: &str, query: &str) -> Value {
    let res = app.get(&format!("/api/audit-log{query}"), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.unwrap()
}

fn actions(p: &Value) -> Vec<String> {
    p["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn sign_ins_team_and_settings_changes_are_listed_newest_first() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let res = app.post("/api/auth/login", &json!({"email": "ana@acme.test", "password": "wrong password"}), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.post("/api/auth/login", &json!({"email": "ana@acme.test", "password": PASSWORD}), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let inv = app.invite(&a.access, "bo@acme.test", "AGENT").await;
    assert_eq!(app.accept_invite(&inv).await.status(), StatusCode::OK);
    let bo = inv["user"]["id"].as_str().unwrap();
    let res = app.patch(&format!("/api/users/{bo}"), &json!({"role": "BILLING_ADMIN"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.patch("/api/settings", &json!({"timeZone": "Europe/Lisbon"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let all = page(&app, &a.access, "").await;
    assert_eq!(
        actions(&all),
        vec![
            "settings.update",
            "user.role_change",
            "auth.login",
            "user.invite_accept",
            "user.invite",
            "auth.login",
            "auth.login_failed",
            // helpers' `register` signs in after the (202) sign-up.
            "auth.login",
            "auth.register"
        ]
    );
    assert!(all["nextCursor"].is_null());
    let first = &all["data"][0];
    assert_eq!(first["actorUserId"], a.user_id.as_str());
    assert_eq!(first["actorEmail"], "ana@acme.test");
    assert_eq!(first["targetType"], "tenant");
    assert_eq!(first["details"], json!({"changed": ["timeZone"]}));
    assert!(first["createdAt"].is_string());
    assert!(first["ip"].is_string());
    let rc = &all["data"][1];
    assert_eq!(rc["targetId"], bo);
    assert_eq!(rc["details"]["from"], "AGENT");
    assert_eq!(rc["details"]["to"], "BILLING_ADMIN");

    // Filters: an exact action, or a prefix ending in a dot.
    assert_eq!(actions(&page(&app, &a.access, "?action=auth.login").await), vec!["auth.login"; 3]);
    assert_eq!(
        actions(&page(&app, &a.access, "?action=user.").await),
        vec!["user.role_change", "user.invite_accept", "user.invite"]
    );
    assert!(actions(&page(&app, &a.access, "?action=nothing").await).is_empty());

    // Keyset pages of 3 walk the whole log once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".into(),
        };
        let p = page(&app, &a.access, &q).await;
        seen.extend(actions(&p));
        match p["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, actions(&all));
    let res = app.get("/api/audit-log?cursor=garbage", Some(&a.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "cursor");
}

#[tokio::test]
async fn only_tenant_admins_read_their_own_tenants_log() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let root = app.system_admin().await;
    for token in [&agent, &billing, &root] {
        assert_error(app.get("/api/audit-log", Some(token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_error(app.get("/api/audit-log", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    app.patch("/api/settings", &json!({"autoAssign": true}), Some(&a.access)).await;
    let pb = page(&app, &b.access, "").await;
    assert_eq!(actions(&pb), vec!["auth.login", "auth.register"]);
    assert_eq!(pb["data"][0]["actorEmail"], "ben@beta.test");
    // A cursor from A's log does not reveal A's entries to B.
    let pa = page(&app, &a.access, "?limit=1").await;
    let c = pa["nextCursor"].as_str().unwrap();
    let pb = page(&app, &b.access, &format!("?cursor={c}")).await;
    assert!(pb["data"].as_array().unwrap().iter().all(|e| e["actorEmail"] != "ana@acme.test"));
}
