use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use switchboard::agents::service::pick_round_robin;
use switchboard::entities::enums::{ConversationStatus, Role};
use switchboard::entities::{agents, conversations};
use switchboard::ids::TenantId;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};

const SECRET: &str = "platform-app-secret";

async fn user_id(app: &TestApp, token: &str) -> Uuid {
    let me: Value = app.get("/api/auth/me", Some(token)).await.json().await.unwrap();
    me["user"]["id"].as_str().unwrap().parse().unwrap()
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get("/api/agents", Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["data"].as_array().unwrap().clone()
}

async fn set_status(app: &TestApp, token: &str, status: &str) -> Value {
    let res = app.patch("/api/agents/me", &json!({"status": status}), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "set {status}");
    res.json().await.unwrap()
}

#[tokio::test]
async fn agents_are_listed_and_missing_rows_are_created_lazily() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@a.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@a.test", Role::BillingAdmin).await;
    assert_eq!(app.count(agents::Entity).await, 1, "only the registering admin");

    let all = list(&app, &agent).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(app.count(agents::Entity).await, 2, "the agent's row was created");
    let admin = all.iter().find(|x| x["role"] == "TENANT_ADMIN").unwrap();
    assert_eq!(admin["userId"], a.user_id.as_str());
    assert_eq!(admin["displayName"], "Ana Admin");
    assert_eq!(admin["email"], "a@a.test");
    assert_eq!(admin["status"], "offline");
    assert_eq!(admin["maxConcurrent"], 10);
    assert_eq!(admin["openConversations"], 0);
    assert!(admin["lastAssignedAt"].is_null());
    assert!(admin["id"].is_string());
    let ag = all.iter().find(|x| x["role"] == "AGENT").unwrap();
    assert_eq!(ag["email"], "agent@a.test");
    assert_eq!(ag["displayName"], "Member");
    // Listing again creates nothing more; billing admins are not agents and may not look.
    assert_eq!(list(&app, &a.access).await.len(), 2);
    assert_eq!(app.count(agents::Entity).await, 2);
    assert_error(app.get("/api/agents", Some(&billing)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.get("/api/agents", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A new agent's first PATCH /me creates their row too.
    let late = app.user_with_role(&a.tenant_id, "late@a.test", Role::Agent).await;
    let me = set_status(&app, &late, "away").await;
    assert_eq!(me["status"], "away");
    assert_eq!(me["email"], "late@a.test");
    assert_eq!(app.count(agents::Entity).await, 3);
}

#[tokio::test]
async fn presence_and_capacity_changes_are_validated_and_published() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@a.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@a.test", Role::BillingAdmin).await;
    let agent_user = user_id(&app, &agent).await;
    let mut events = app.state.events.subscribe();

    let me = set_status(&app, &agent, "online").await;
    assert_eq!(me["status"], "online");
    assert_eq!(me["userId"], agent_user.to_string());
    let e = events.try_recv().unwrap().event.clone();
    assert_eq!(e.kind(), "agent.status");
    assert_eq!(e.tenant_id.to_string(), a.tenant_id);
    assert_eq!(e.data(), json!({"agentId": me["id"], "userId": agent_user, "status": "online"}));
    // The same status again changes nothing and publishes nothing.
    let again = set_status(&app, &agent, "online").await;
    assert_eq!(again["statusChangedAt"], me["statusChangedAt"]);
    assert!(events.try_recv().is_err());

    for body in [json!({"status": "busy"}), json!({}), json!({"status": ""})] {
        let res = app.patch("/api/agents/me", &body, Some(&agent)).await;
        let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(e["error"]["details"]["fields"][0]["field"], "status");
    }
    assert_error(
        app.patch("/api/agents/me", &json!({"status": "online"}), Some(&billing)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Capacity: TENANT_ADMIN only, 1 to 100, through /api/agents/{id}.
    let path = format!("/api/agents/{}", me["id"].as_str().unwrap());
    assert_error(
        app.patch(&path, &json!({"maxConcurrent": 5}), Some(&agent)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.patch(&path, &json!({"maxConcurrent": 5}), Some(&billing)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for bad in [0, 101, -1] {
        let res = app.patch(&path, &json!({"maxConcurrent": bad}), Some(&a.access)).await;
        let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(e["error"]["details"]["fields"][0]["field"], "maxConcurrent");
    }
    let res = app.patch(&path, &json!({"maxConcurrent": 3, "status": "away"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["maxConcurrent"], 3);
    assert_eq!(changed["status"], "away");
    let e = events.try_recv().unwrap().event.clone();
    assert_eq!(e.kind(), "agent.status");
    assert_eq!(e.data()["status"], "away");
    let res = app.patch(&path, &json!({"maxConcurrent": 100}), Some(&a.access)).await;
    assert_eq!(res.json::<Value>().await.unwrap()["maxConcurrent"], 100);
    let res =
        app.patch(&format!("/api/agents/{}", Uuid::now_v7()), &json!({"maxConcurrent": 5}), Some(&a.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn another_tenant_neither_sees_nor_changes_agents() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let b = app.register("B", "b@b.test").await;
    let a_agents = list(&app, &a.access).await;
    let a_admin = a_agents[0]["id"].as_str().unwrap().to_string();

    let b_agents = list(&app, &b.access).await;
    assert_eq!(b_agents.len(), 1);
    assert_eq!(b_agents[0]["email"], "b@b.test");
    let res = app
        .patch(&format!("/api/agents/{a_admin}"), &json!({"status": "online", "maxConcurrent": 1}), Some(&b.access))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // B going online changes only B's row.
    set_status(&app, &b.access, "online").await;
    let again = list(&app, &a.access).await;
    assert_eq!(again[0]["status"], "offline");
    assert_eq!(again[0]["maxConcurrent"], 10);
    let a_tenant = TenantId(a.tenant_id.parse().unwrap());
    assert_eq!(pick_round_robin(&app.state.db, a_tenant).await.unwrap(), None);
}

#[tokio::test]
async fn round_robin_takes_turns_and_respects_capacity() {
    let app =
        spawn_app_with(&[("SWITCHBOARD_META_APP_SECRET", SECRET), ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1")])
            .await;
    let a = app.register("A", "a@a.test").await;
    let tenant = TenantId(a.tenant_id.parse().unwrap());
    let x = app.user_with_role(&a.tenant_id, "x@a.test", Role::Agent).await;
    let y = app.user_with_role(&a.tenant_id, "y@a.test", Role::Agent).await;
    let (xid, yid) = (user_id(&app, &x).await, user_id(&app, &y).await);
    let db = &app.state.db;

    // Nobody online: nobody picked.
    list(&app, &a.access).await;
    assert_eq!(pick_round_robin(db, tenant).await.unwrap(), None);

    // Conversations to fill capacity with (created while nobody is online).
    app.create_account(&a.access, "1001", None).await;
    let c1 = app.inbound_conversation("1001", SECRET, "15550000001", "wamid.rr1").await;
    let c2 = app.inbound_conversation("1001", SECRET, "15550000002", "wamid.rr2").await;

    set_status(&app, &x, "online").await;
    set_status(&app, &y, "online").await;
    // Never-assigned agents first, then whoever was assigned longest ago: turns alternate.
    let first = pick_round_robin(db, tenant).await.unwrap().unwrap();
    let second = pick_round_robin(db, tenant).await.unwrap().unwrap();
    assert_ne!(first, second);
    let mut both = [first, second];
    both.sort();
    let mut expect = [xid, yid];
    expect.sort();
    assert_eq!(both, expect);
    assert_eq!(pick_round_robin(db, tenant).await.unwrap(), Some(first));
    assert_eq!(pick_round_robin(db, tenant).await.unwrap(), Some(second));
    let listed = list(&app, &a.access).await;
    assert!(listed.iter().filter(|g| g["role"] == "AGENT").all(|g| g["lastAssignedAt"].is_string()));

    // Capacity: x at max_concurrent 1 with one open conversation is skipped.
    let x_agent = listed.iter().find(|g| g["userId"] == xid.to_string()).unwrap();
    let res = app
        .patch(
            &format!("/api/agents/{}", x_agent["id"].as_str().unwrap()),
            &json!({"maxConcurrent": 1}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    set_assignee(&app, c1, Some(xid), ConversationStatus::Open).await;
    let listed = list(&app, &a.access).await;
    let x_agent = listed.iter().find(|g| g["userId"] == xid.to_string()).unwrap();
    assert_eq!(x_agent["openConversations"], 1);
    for _ in 0..3 {
        assert_eq!(pick_round_robin(db, tenant).await.unwrap(), Some(yid));
    }
    // A pending conversation still counts; a resolved one does not.
    set_assignee(&app, c1, Some(xid), ConversationStatus::Pending).await;
    assert_eq!(pick_round_robin(db, tenant).await.unwrap(), Some(yid));
    set_assignee(&app, c1, Some(xid), ConversationStatus::Resolved).await;
    assert_eq!(pick_round_robin(db, tenant).await.unwrap(), Some(xid));
    // y full too, x full again: nobody.
    let y_agent = listed.iter().find(|g| g["userId"] == yid.to_string()).unwrap();
    app.patch(
        &format!("/api/agents/{}", y_agent["id"].as_str().unwrap()),
        &json!({"maxConcurrent": 1}),
        Some(&a.access),
    )
    .await;
    set_assignee(&app, c1, Some(xid), ConversationStatus::Open).await;
    set_assignee(&app, c2, Some(yid), ConversationStatus::Open).await;
    assert_eq!(pick_round_robin(db, tenant).await.unwrap(), None);
    // Away agents are never picked.
    set_assignee(&app, c2, None, ConversationStatus::Open).await;
    set_status(&app, &y, "away").await;
    assert_eq!(pick_round_robin(db, tenant).await.unwrap(), None);
    set_status(&app, &y, "online").await;
    assert_eq!(pick_round_robin(db, tenant).await.unwrap(), Some(yid));

    // Concurrent picks with two free agents never take the same turn.
    set_assignee(&app, c1, None, ConversationStatus::Open).await;
    for _ in 0..5 {
        let (p, q) =
            tokio::join!(pick_round_robin(app.state.writer(), tenant), pick_round_robin(app.state.writer(), tenant));
        let (p, q) = (p.unwrap(), q.unwrap());
        assert!(p.is_some() || q.is_some());
        if let (Some(p), Some(q)) = (p, q) {
            assert_ne!(p, q, "two picks took the same turn");
        }
    }
    let rows = agents::Entity::find()
        .filter(agents::Column::TenantId.eq(tenant.0))
        .filter(agents::Column::LastAssignedAt.is_not_null())
        .all(db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
}

async fn set_assignee(app: &TestApp, conv: Uuid, to: Option<Uuid>, status: ConversationStatus) {
    let c = conversations::Entity::find_by_id(conv).one(&app.state.db).await.unwrap().unwrap();
    let mut am: conversations::ActiveModel = c.into();
    am.assignee_id = Set(to);
    am.status = Set(status);
    am.update(app.state.writer()).await.unwrap();
}
