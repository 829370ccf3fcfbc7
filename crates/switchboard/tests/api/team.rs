//! The team API: invitations, roles, activation, removal, the last-admin rule and the plan's agents.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;
use switchboard::entities::{agents, audit_log, invitations, tenants, users};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, assert_error, invite_token, spawn_app};

async fn actions(app: &TestApp, tenant: &str) -> Vec<String> {
    audit_log::Entity::find()
        .filter(audit_log::Column::TenantId.eq(tenant.parse::<Uuid>().unwrap()))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn fields(b: &Value) -> Vec<&str> {
    b["error"]["details"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect()
}

async fn login(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/api/auth/login", &json!({"email": email, "password": PASSWORD}), None).await
}

#[tokio::test]
async fn an_invited_user_sets_a_password_and_is_signed_in() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let res = app.post("/api/users", &json!({"email": " Bo@Acme.test ", "role": "AGENT"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let inv: Value = res.json().await.unwrap();
    let url = inv["inviteUrl"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/invite/inv_", app.base)), "{url}");
    assert_eq!(inv["user"]["email"], "bo@acme.test");
    assert_eq!(inv["user"]["role"], "AGENT");
    assert_eq!(inv["user"]["status"], "invited");
    assert_eq!(inv["user"]["active"], false);
    assert!(inv["expiresAt"].is_string());

    // Only a SHA-256 of the token is stored, and it expires in 7 days.
    let token = invite_token(&inv);
    let row = invitations::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(row.token_hash, switchboard_crypto::token::sha256_hex(token.as_bytes()));
    let ttl = row.expires_at - row.created_at;
    assert_eq!(ttl.num_days(), 7);

    // Not usable before acceptance; listed as invited; has an agent row already.
    assert_error(login(&app, "bo@acme.test").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let list: Value = app.get("/api/users", Some(&a.access)).await.json().await.unwrap();
    let statuses: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap(), u["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, vec![("ana@acme.test", "active"), ("bo@acme.test", "invited")]);
    assert!(list["data"][1]["invitationExpiresAt"].is_string());
    assert_eq!(app.count(agents::Entity).await, 2);

    let res =
        app.post("/api/auth/accept-invite", &json!({"token": token, "password": PASSWORD, "name": "Bo"}), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["user"]["email"], "bo@acme.test");
    assert_eq!(b["user"]["name"], "Bo");
    assert_eq!(b["user"]["role"], "AGENT");
    assert_eq!(b["user"]["active"], true);
    assert_eq!(b["tenant"]["id"], a.tenant_id.as_str());
    assert_eq!(b["tokenType"], "Bearer");
    assert!(b["refreshToken"].as_str().unwrap().starts_with("rt_"));
    let me = app.get("/api/auth/me", b["accessToken"].as_str()).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(login(&app, "bo@acme.test").await.status(), StatusCode::OK);
    let list: Value = app.get("/api/users", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(list["data"][1]["status"], "active");
    assert!(list["data"][1]["invitationExpiresAt"].is_null());

    // One time only.
    let again = app.post("/api/auth/accept-invite", &json!({"token": token, "password": PASSWORD}), None).await;
    assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
    let acts = actions(&app, &a.tenant_id).await;
    for want in ["user.invite", "user.invite_accept", "auth.login"] {
        assert!(acts.iter().any(|x| x == want), "{want} in {acts:?}");
    }
}

#[tokio::test]
async fn expired_unknown_and_invalid_invitations() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let inv = app.invite(&a.access, "bo@acme.test", "BILLING_ADMIN").await;
    invitations::Entity::update_many()
        .col_expr(invitations::Column::ExpiresAt, Expr::value(switchboard::db::now() - chrono::Duration::minutes(1)))
        .exec(app.state.writer())
        .await
        .unwrap();
    assert_error(app.accept_invite(&inv).await, StatusCode::GONE, "invite_expired").await;
    let list: Value = app.get("/api/users", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(list["data"][1]["active"], false);

    let res = app.post("/api/auth/accept-invite", &json!({"token": "inv_nope", "password": PASSWORD}), None).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.post("/api/auth/accept-invite", &json!({"password": "short", "name": " "}), None).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&b), vec!["token", "password", "name"]);

    // Inviting the same email again replaces the expired invitation with a fresh link.
    let again = app.invite(&a.access, "bo@acme.test", "AGENT").await;
    assert_eq!(again["user"]["role"], "AGENT");
    assert_error(app.accept_invite(&inv).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.accept_invite(&again).await.status(), StatusCode::OK);
    assert_eq!(app.count(invitations::Entity).await, 1);
}

#[tokio::test]
async fn invitations_are_validated() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let res =
        app.post("/api/users", &json!({"email": "nope", "role": "SYSTEM_ADMIN", "name": ""}), Some(&a.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&b), vec!["email", "role", "name"]);
    let res = app.post("/api/users", &json!({}), Some(&a.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&b), vec!["email", "role"]);
    // An existing account (here in another tenant) cannot be invited.
    app.register("Other", "olga@other.test").await;
    let res = app.post("/api/users", &json!({"email": "OLGA@other.test", "role": "AGENT"}), Some(&a.access)).await;
    assert_error(res, StatusCode::CONFLICT, "email_taken").await;
    let res = app.post("/api/users", &json!({"email": "ana@acme.test", "role": "AGENT"}), Some(&a.access)).await;
    assert_error(res, StatusCode::CONFLICT, "email_taken").await;

    let id = app.user_id_by_email(&a.access, "ana@acme.test").await;
    let res = app.patch(&format!("/api/users/{id}"), &json!({"role": "SYSTEM_ADMIN"}), Some(&a.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&b), vec!["role"]);
    let res = app.patch(&format!("/api/users/{id}"), &json!({"active": "yes"}), Some(&a.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
}

#[tokio::test]
async fn only_tenant_admins_manage_the_team() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let root = app.system_admin().await;
    let id = app.user_id_by_email(&a.access, "agent@acme.test").await;
    let path = format!("/api/users/{id}");
    for token in [&agent, &billing, &root] {
        assert_error(app.get("/api/users", Some(token)).await, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app.post("/api/users", &json!({"email": "x@acme.test", "role": "AGENT"}), Some(token)).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app.patch(&path, &json!({"role": "TENANT_ADMIN"}), Some(token)).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(app.delete(&path, Some(token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_error(app.get("/api/users", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.patch(&path, &json!({"role": "AGENT"}), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.post("/api/users", &json!({"email": "x@acme.test", "role": "AGENT"}), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.delete(&path, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.get("/api/users", Some(&a.access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_deactivated_or_removed() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let me = format!("/api/users/{}", a.user_id);
    let res = app.patch(&me, &json!({"role": "AGENT"}), Some(&a.access)).await;
    assert_error(res, StatusCode::CONFLICT, "last_admin").await;
    let res = app.patch(&me, &json!({"active": false}), Some(&a.access)).await;
    assert_error(res, StatusCode::CONFLICT, "last_admin").await;
    assert_error(app.delete(&me, Some(&a.access)).await, StatusCode::CONFLICT, "last_admin").await;

    // An invited (not yet active) admin does not count.
    let inv = app.invite(&a.access, "bea@acme.test", "TENANT_ADMIN").await;
    let res = app.patch(&me, &json!({"role": "AGENT"}), Some(&a.access)).await;
    assert_error(res, StatusCode::CONFLICT, "last_admin").await;
    let bea: Value = app.accept_invite(&inv).await.json().await.unwrap();
    let bea_token = bea["accessToken"].as_str().unwrap().to_string();

    // With a second active admin, the first may step down; then Bea is the last one.
    let res = app.patch(&me, &json!({"role": "AGENT"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "AGENT");
    let bea_path = format!("/api/users/{}", bea["user"]["id"].as_str().unwrap());
    let res = app.delete(&bea_path, Some(&bea_token)).await;
    assert_error(res, StatusCode::CONFLICT, "last_admin").await;
    // Demoted Ana's token still says TENANT_ADMIN for up to 15 minutes, but the rule holds anyway.
    let res = app.patch(&bea_path, &json!({"active": false}), Some(&a.access)).await;
    assert_error(res, StatusCode::CONFLICT, "last_admin").await;
    let t: Uuid = a.tenant_id.parse().unwrap();
    let admins = users::Entity::find()
        .filter(users::Column::TenantId.eq(t))
        .filter(users::Column::Role.eq(Role::TenantAdmin))
        .filter(users::Column::Active.eq(true))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(admins.len(), 1);
    let acts = actions(&app, &a.tenant_id).await;
    assert!(acts.iter().any(|x| x == "user.role_change"), "{acts:?}");
}

#[tokio::test]
async fn the_plan_limits_agents_including_open_invitations() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let t: Uuid = a.tenant_id.parse().unwrap();
    tenants::Entity::update_many()
        .col_expr(tenants::Column::LimitMaxAgents, Expr::value(2))
        .filter(tenants::Column::Id.eq(t))
        .exec(app.state.writer())
        .await
        .unwrap();
    // Ana is seat 1; an invited agent is seat 2.
    let inv = app.invite(&a.access, "bo@acme.test", "AGENT").await;
    let res = app.post("/api/users", &json!({"email": "cy@acme.test", "role": "TENANT_ADMIN"}), Some(&a.access)).await;
    let b = assert_error(res, StatusCode::FORBIDDEN, "plan_limit").await;
    assert_eq!(b["error"]["details"]["limit"], 2);
    // Billing admins take no seat.
    let billing = app.invite(&a.access, "bill@acme.test", "BILLING_ADMIN").await;
    let bill_path = format!("/api/users/{}", billing["user"]["id"].as_str().unwrap());
    let res = app.patch(&bill_path, &json!({"role": "AGENT"}), Some(&a.access)).await;
    assert_error(res, StatusCode::FORBIDDEN, "plan_limit").await;

    // An expired invitation frees its seat; accepting it is then refused.
    invitations::Entity::update_many()
        .col_expr(invitations::Column::ExpiresAt, Expr::value(switchboard::db::now() - chrono::Duration::minutes(1)))
        .filter(invitations::Column::UserId.eq(inv["user"]["id"].as_str().unwrap().parse::<Uuid>().unwrap()))
        .exec(app.state.writer())
        .await
        .unwrap();
    let res = app.patch(&bill_path, &json!({"role": "AGENT"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.accept_invite(&billing).await.status(), StatusCode::OK);
    // Full again: reactivating or re-inviting Bo needs a seat.
    let res = app.post("/api/users", &json!({"email": "bo@acme.test", "role": "AGENT"}), Some(&a.access)).await;
    assert_error(res, StatusCode::FORBIDDEN, "plan_limit").await;
    // Removing a member frees a seat.
    let res = app.delete(&format!("/api/users/{}", inv["user"]["id"].as_str().unwrap()), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.patch(&bill_path, &json!({"active": false}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.invite(&a.access, "cy@acme.test", "AGENT").await;
    let res = app.patch(&bill_path, &json!({"active": true}), Some(&a.access)).await;
    assert_error(res, StatusCode::FORBIDDEN, "plan_limit").await;
}

#[tokio::test]
async fn deactivation_ends_sessions_and_role_changes_are_audited() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    app.user_with_role(&a.tenant_id, "bo@acme.test", Role::Agent).await;
    let res = login(&app, "bo@acme.test").await;
    let refresh = res.json::<Value>().await.unwrap()["refreshToken"].as_str().unwrap().to_string();
    let id = app.user_id_by_email(&a.access, "bo@acme.test").await;
    let path = format!("/api/users/{id}");

    let res = app.patch(&path, &json!({"active": false}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!((b["active"].clone(), b["status"].clone()), (json!(false), json!("disabled")));
    assert_error(login(&app, "bo@acme.test").await, StatusCode::FORBIDDEN, "account_disabled").await;
    let res = app.post("/api/auth/refresh", &json!({"refreshToken": refresh}), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A disabled user without an open invitation is not "invited".
    let res = app.patch(&path, &json!({"active": true, "role": "BILLING_ADMIN"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(login(&app, "bo@acme.test").await.status(), StatusCode::OK);
    let me: Value = app.get("/api/auth/me", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(me["user"]["role"], "TENANT_ADMIN");

    let entries =
        audit_log::Entity::find().filter(audit_log::Column::TargetId.eq(id.clone())).all(&app.state.db).await.unwrap();
    let acts: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for want in ["user.deactivate", "user.activate", "user.role_change"] {
        assert!(acts.contains(&want), "{want} in {acts:?}");
    }
    let rc = entries.iter().find(|e| e.action == "user.role_change").unwrap();
    assert_eq!(rc.details["from"], "AGENT");
    assert_eq!(rc.details["to"], "BILLING_ADMIN");
    assert_eq!(rc.actor_user_id.unwrap().to_string(), a.user_id);

    // An invited user becomes active only by accepting.
    let inv = app.invite(&a.access, "cy@acme.test", "AGENT").await;
    let res = app
        .patch(
            &format!("/api/users/{}", inv["user"]["id"].as_str().unwrap()),
            &json!({"active": true}),
            Some(&a.access),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "invite_pending").await;
}

#[tokio::test]
async fn removing_a_member_unassigns_their_conversations() {
    const SECRET: &str = "team-secret";
    let app = crate::helpers::spawn_app_with(&[
        ("SWITCHBOARD_META_APP_SECRET", SECRET),
        ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1"),
    ])
    .await;
    let a = app.register("Acme", "ana@acme.test").await;
    app.user_with_role(&a.tenant_id, "bo@acme.test", Role::Agent).await;
    let bo = app.user_id_by_email(&a.access, "bo@acme.test").await;
    app.create_account(&a.access, "2001", None).await;
    let conv = app.inbound_conversation("2001", SECRET, "15550000009", "wamid.team1").await;
    let res = app.patch(&format!("/api/conversations/{conv}"), &json!({"assigneeId": bo}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app.delete(&format!("/api/users/{bo}"), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let c: Value = app.get(&format!("/api/conversations/{conv}"), Some(&a.access)).await.json().await.unwrap();
    assert!(c["assigneeId"].is_null(), "{c}");
    assert_error(login(&app, "bo@acme.test").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.delete(&format!("/api/users/{bo}"), Some(&a.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.count(agents::Entity).await, 1);
    assert!(actions(&app, &a.tenant_id).await.iter().any(|x| x == "user.delete"));
}

#[tokio::test]
async fn another_tenants_users_are_not_found() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    let inv = app.invite(&a.access, "bo@acme.test", "AGENT").await;
    let bo = inv["user"]["id"].as_str().unwrap();
    for id in [bo, a.user_id.as_str()] {
        let path = format!("/api/users/{id}");
        let res = app.patch(&path, &json!({"role": "BILLING_ADMIN"}), Some(&b.access)).await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.patch(&path, &json!({"active": false}), Some(&b.access)).await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_error(app.delete(&path, Some(&b.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    let list: Value = app.get("/api/users", Some(&b.access)).await.json().await.unwrap();
    let emails: Vec<&str> = list["data"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, vec!["ben@beta.test"]);
    // B cannot invite into A (the tenant comes from the token) nor take A's email.
    let res = app.post("/api/users", &json!({"email": "bo@acme.test", "role": "AGENT"}), Some(&b.access)).await;
    assert_error(res, StatusCode::CONFLICT, "email_taken").await;
    // Nothing of A changed.
    let list: Value = app.get("/api/users", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["data"][1]["role"], "AGENT");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let inv = app.invite(&a.access, "bea@acme.test", "TENANT_ADMIN").await;
    let bea: Value = app.accept_invite(&inv).await.json().await.unwrap();
    let bea_token = bea["accessToken"].as_str().unwrap().to_string();
    let ana_path = format!("/api/users/{}", a.user_id);
    let bea_path = format!("/api/users/{}", bea["user"]["id"].as_str().unwrap());
    let body = json!({"role": "AGENT"});
    let (r1, r2) =
        tokio::join!(app.patch(&bea_path, &body, Some(&a.access)), app.patch(&ana_path, &body, Some(&bea_token)));
    let mut statuses = [r1.status().as_u16(), r2.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let list: Value = app.get("/api/users", Some(&a.access)).await.json().await.unwrap();
    let admins = list["data"].as_array().unwrap().iter().filter(|u| u["role"] == "TENANT_ADMIN").count();
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn admin_endpoints_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    for (path, methods) in [
        ("/api/users", &["get", "post"][..]),
        ("/api/users/{id}", &["patch", "delete"][..]),
        ("/api/auth/accept-invite", &["post"][..]),
        ("/api/settings", &["get", "patch"][..]),
        ("/api/plans", &["get"][..]),
        ("/api/usage", &["get"][..]),
        ("/api/usage.csv", &["get"][..]),
        ("/api/audit-log", &["get"][..]),
        ("/api/admin/tenants", &["get"][..]),
        ("/api/admin/tenants/{id}", &["get", "patch"][..]),
        ("/api/admin/stats", &["get"][..]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} missing from OpenAPI");
        }
    }
    let tags: Vec<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for t in ["team", "settings", "usage", "audit"] {
        assert!(tags.contains(&t), "tag {t}");
    }
}
