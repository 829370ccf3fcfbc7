//! The operator's platform-wide audit log, `GET /api/admin/audit`: every tenant's entries and the
//! platform's own (no tenant), newest first, filters, keyset pages, validation, roles; and its
//! section on the `/admin` page.

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use switchboard::entities::audit_log;
use switchboard::entities::enums::Role;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app};

async fn page(app: &TestApp, token: &str, query: &str) -> Value {
    let res = app.get(&format!("/api/admin/audit{query}"), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.unwrap()
}

fn actions(p: &Value) -> Vec<String> {
    p["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

fn tenants(p: &Value) -> Vec<Value> {
    p["data"].as_array().unwrap().iter().map(|e| e["tenantId"].clone()).collect()
}

/// Follows `nextCursor` with pages of `size` and returns every action seen.
async fn walk(app: &TestApp, token: &str, filter: &str, size: u64) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let q = match &cursor {
            Some(c) => format!("?limit={size}&cursor={c}{filter}"),
            None => format!("?limit={size}{filter}"),
        };
        let p = page(app, token, &q).await;
        assert!(p["data"].as_array().unwrap().len() as u64 <= size);
        seen.extend(actions(&p));
        match p["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return seen,
        }
    }
    panic!("the pages did not end");
}

async fn field_error(app: &TestApp, token: &str, query: &str, field: &str) {
    let res = app.get(&format!("/api/admin/audit{query}"), Some(token)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(b["error"]["details"]["fields"][0]["field"], field, "{query}: {b}");
}

#[tokio::test]
async fn the_operator_sees_every_tenants_entries_and_the_platforms_own() {
    let app = spawn_app().await;
    let acme = app.register("Acme", "ana@acme.test").await;
    let beta = app.register("Beta", "ben@beta.test").await;
    // Creating the system admin and its sign-in are the platform's own entries (no tenant).
    let root = app.system_admin().await;
    let me: Value = app.get("/api/auth/me", Some(&root)).await.json().await.unwrap();
    let root_id = me["user"]["id"].as_str().unwrap().to_string();
    let res = app.patch(&format!("/api/admin/tenants/{}", acme.tenant_id), &json!({"plan": "pro"}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .patch(&format!("/api/admin/tenants/{}", beta.tenant_id), &json!({"status": "suspended"}), Some(&root))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The operator's own password change: a platform entry too. Its access token stays valid.
    let body = json!({"currentPassword": PASSWORD, "newPassword": "another long password"});
    assert_eq!(app.post("/api/auth/password", &body, Some(&root)).await.status(), StatusCode::NO_CONTENT);

    let all = page(&app, &root, "").await;
    assert_eq!(
        actions(&all),
        vec![
            "user.password_changed",
            "admin.tenant_update",
            "admin.tenant_update",
            "auth.login",
            "admin.create_system_admin",
            // helpers' `register` signs in after the (202) sign-up.
            "auth.login",
            "auth.register",
            "auth.login",
            "auth.register",
        ]
    );
    assert!(all["nextCursor"].is_null());
    let (a, b) = (json!(acme.tenant_id), json!(beta.tenant_id));
    assert_eq!(
        tenants(&all),
        vec![Value::Null, b.clone(), a.clone(), Value::Null, Value::Null, b.clone(), b.clone(), a.clone(), a.clone()]
    );
    // The same item shape as the tenant's log, plus `tenantId`.
    let suspended = &all["data"][1];
    assert_eq!(suspended["actorUserId"], root_id.as_str());
    assert_eq!(suspended["actorEmail"], "root@platform.test");
    assert_eq!(suspended["targetType"], "tenant");
    assert_eq!(suspended["targetId"], beta.tenant_id.as_str());
    assert_eq!(suspended["details"]["status"], json!({"from": "active", "to": "suspended"}));
    assert!(suspended["ip"].is_string() && suspended["createdAt"].is_string() && suspended["id"].is_string());
    assert_eq!(all["data"][2]["details"]["plan"], json!({"from": "starter", "to": "pro"}));
    let created = &all["data"][4];
    assert!(created["actorUserId"].is_null() && created["actorEmail"].is_null());
    assert_eq!(created["details"]["email"], "root@platform.test");
    assert_eq!(all["data"][5]["actorEmail"], "ben@beta.test");

    // The tenant's own log is unchanged: its entries only, no tenantId, the operator unnamed.
    let own: Value = app.get("/api/audit-log", Some(&acme.access)).await.json().await.unwrap();
    assert_eq!(actions(&own), vec!["admin.tenant_update", "auth.login", "auth.register"]);
    assert!(own["data"][0].get("tenantId").is_none());
    assert!(own["data"][0]["actorEmail"].is_null());

    // Filters: tenant (or the platform), action (exact or prefix), actor, combined.
    let platform = page(&app, &root, "?tenantId=platform").await;
    assert_eq!(actions(&platform), vec!["user.password_changed", "auth.login", "admin.create_system_admin"]);
    assert!(tenants(&platform).iter().all(Value::is_null));
    let one = page(&app, &root, &format!("?tenantId={}", acme.tenant_id)).await;
    assert_eq!(actions(&one), vec!["admin.tenant_update", "auth.login", "auth.register"]);
    assert!(tenants(&one).iter().all(|t| *t == a));
    assert!(actions(&page(&app, &root, &format!("?tenantId={}", Uuid::now_v7())).await).is_empty());
    assert_eq!(
        actions(&page(&app, &root, "?action=admin.").await),
        vec!["admin.tenant_update", "admin.tenant_update", "admin.create_system_admin"]
    );
    assert_eq!(actions(&page(&app, &root, "?action=auth.register").await), vec!["auth.register", "auth.register"]);
    assert_eq!(
        actions(&page(&app, &root, &format!("?actorUserId={root_id}")).await),
        vec!["user.password_changed", "admin.tenant_update", "admin.tenant_update", "auth.login"]
    );
    let both = page(&app, &root, &format!("?tenantId={}&actorUserId={root_id}&action=admin.", beta.tenant_id)).await;
    assert_eq!(actions(&both), vec!["admin.tenant_update"]);
    assert_eq!(tenants(&both), vec![b.clone()]);
    assert!(actions(&page(&app, &root, "?tenantId=platform&action=auth.register").await).is_empty());

    // Keyset pages walk the log once, with or without filters.
    assert_eq!(walk(&app, &root, "", 2).await, actions(&all));
    assert_eq!(walk(&app, &root, "", 1).await, actions(&all));
    assert_eq!(walk(&app, &root, "&tenantId=platform", 1).await, actions(&platform));
    assert_eq!(walk(&app, &root, &format!("&actorUserId={root_id}"), 3).await.len(), 4);

    // Bad input is a 422 naming the field.
    field_error(&app, &root, "?cursor=garbage", "cursor").await;
    field_error(&app, &root, "?tenantId=acme", "tenantId").await;
    field_error(&app, &root, "?tenantId=PLATFORMS", "tenantId").await;
    field_error(&app, &root, "?actorUserId=root", "actorUserId").await;
    field_error(&app, &root, &format!("?action={}", "a".repeat(101)), "action").await;

    // The route is documented.
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    let op = &doc["paths"]["/api/admin/audit"]["get"];
    let params: Vec<&str> = op["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for p in ["tenantId", "action", "actorUserId", "cursor", "limit"] {
        assert!(params.contains(&p), "{p} in {params:?}");
    }
    assert!(op["responses"].get("403").is_some() && op["responses"].get("422").is_some());
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["PlatformAuditEntryDto"].to_string().contains("tenantId"));
    assert!(schemas["AuditEntryDto"]["properties"].get("actorEmail").is_some());
}

#[tokio::test]
async fn pages_are_exact_when_entries_share_a_timestamp() {
    let app = spawn_app().await;
    let root = app.system_admin().await;
    let acme = app.register("Acme", "ana@acme.test").await;
    let at = switchboard::db::now() + chrono::Duration::seconds(60);
    for i in 0..7 {
        audit_log::ActiveModel {
            id: Set(switchboard::db::new_id()),
            tenant_id: Set((i % 2 == 0).then(|| acme.tenant_id.parse().unwrap())),
            actor_user_id: Set(None),
            action: Set(format!("test.same_time_{i}")),
            target_type: Set(None),
            target_id: Set(None),
            details: Set(json!({})),
            ip: Set(None),
            created_at: Set(at),
        }
        .insert(app.state.writer())
        .await
        .unwrap();
    }
    let all = page(&app, &root, "?limit=200").await;
    let expected: Vec<String> = (0..7).rev().map(|i| format!("test.same_time_{i}")).collect();
    assert_eq!(actions(&all)[..7], expected[..], "same time: newest id first");
    for size in [1, 2, 3] {
        assert_eq!(walk(&app, &root, "", size).await, actions(&all), "pages of {size}");
    }
    let acme_only = walk(&app, &root, &format!("&tenantId={}&action=test.", acme.tenant_id), 2).await;
    assert_eq!(acme_only, vec!["test.same_time_6", "test.same_time_4", "test.same_time_2", "test.same_time_0"]);
    let platform_only = walk(&app, &root, "&tenantId=platform&action=test.", 2).await;
    assert_eq!(platform_only, vec!["test.same_time_5", "test.same_time_3", "test.same_time_1"]);
}

#[tokio::test]
async fn only_system_admins_read_the_platform_log() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let mut keys = Vec::new();
    for scope in ["admin", "read"] {
        let res = app.post("/api/api-keys", &json!({"name": "CRM", "scopes": [scope]}), Some(&a.access)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        keys.push(res.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_string());
    }
    for token in [&a.access, &agent, &billing, &keys[0], &keys[1]] {
        for q in ["", "?tenantId=platform", &format!("?tenantId={}", a.tenant_id)] {
            let res = app.get(&format!("/api/admin/audit{q}"), Some(token)).await;
            assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
    }
    assert_error(app.get("/api/admin/audit", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.get("/api/admin/audit", Some("not-a-token")).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let root = app.system_admin().await;
    assert_eq!(app.get("/api/admin/audit", Some(&root)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_platform_page_shows_the_latest_entries() {
    let app = spawn_app().await;
    let acme = app.register("Acme", "ana@acme.test").await;
    let root = app.system_admin().await;
    let get_page = |path: &'static str, token: String| {
        let app = &app;
        async move {
            let res = app
                .client
                .get(app.url(path))
                .header(COOKIE, format!("sb_access={token}; sb_csrf=csrf-test-token-0123456789"))
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let res = app
        .patch(&format!("/api/admin/tenants/{}", acme.tenant_id), &json!({"status": "suspended"}), Some(&root))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let (status, html) = get_page("/admin", root.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let at = html.find("Platform audit log").expect("the audit section");
    let section = &html[at..];
    // Sign-up, its sign-in (helpers' `register`), the operator's creation and sign-in, the suspension.
    assert_eq!(section.matches("data-testid=\"audit-row\"").count(), 5);
    let first = &section[section.find("data-testid=\"audit-row\"").unwrap()..];
    let first = &first[..first.find("</tr>").unwrap()];
    assert!(first.contains("Acme") && first.contains("root@platform.test"), "{first}");
    assert!(first.contains("admin.tenant_update") && first.contains(&format!("tenant {}", acme.tenant_id)), "{first}");
    assert!(section.contains("auth.login") && section.contains("admin.create_system_admin"));
    assert!(section.contains("ana@acme.test"), "the sign-up's actor");
    assert!(section.contains("<span class=\"badge\">platform</span>"), "platform entries are marked");

    // At most 50, newest first.
    for i in 0..60 {
        let entry = switchboard::audit::Entry {
            tenant_id: None,
            actor_user_id: None,
            action: if i == 59 { "test.newest" } else { "test.filler" },
            target_type: None,
            target_id: None,
            details: json!({}),
            ip: None,
        };
        switchboard::audit::record(app.state.writer(), entry).await.unwrap();
    }
    let (_, html) = get_page("/admin", root.clone()).await;
    let section = &html[html.find("Platform audit log").unwrap()..];
    assert_eq!(section.matches("data-testid=\"audit-row\"").count(), 50);
    assert!(section.contains("test.newest") && !section.contains("admin.tenant_update"));

    // Tenant roles still cannot open the page.
    let beta = app.register("Beta", "ben@beta.test").await;
    let (status, html) = get_page("/admin", beta.access.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!html.contains("Platform audit log"));
}
