use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;
use switchboard::entities::{conversation_notes, conversations, messages};

use crate::helpers::{Account, TestApp, assert_error, spawn_app_with};

const SECRET: &str = "platform-app-secret";

async fn app() -> TestApp {
    spawn_app_with(&[("SWITCHBOARD_META_APP_SECRET", SECRET), ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1")])
        .await
}

/// Tenant A with a number and one inbound conversation.
async fn setup(app: &TestApp) -> (Account, uuid::Uuid) {
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let conv = app.inbound_conversation("1001", SECRET, "15551234567", "wamid.notes1").await;
    (a, conv)
}

async fn assign(app: &TestApp, conv: uuid::Uuid, to: Option<uuid::Uuid>) {
    let c = conversations::Entity::find_by_id(conv).one(&app.state.db).await.unwrap().unwrap();
    let mut am: conversations::ActiveModel = c.into();
    am.assignee_id = Set(to);
    am.update(app.state.writer()).await.unwrap();
}

async fn user_id(app: &TestApp, token: &str) -> uuid::Uuid {
    let me: Value = app.get("/api/auth/me", Some(token)).await.json().await.unwrap();
    me["user"]["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn notes_are_added_listed_and_published_but_never_sent() {
    let app = app().await;
    let (a, conv) = setup(&app).await;
    let path = format!("/api/conversations/{conv}/notes");
    let messages_before = app.count(messages::Entity).await;
    let mut events = app.state.events.subscribe();

    let res = app.post(&path, &json!({"body": "Customer is a VIP, be nice"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let n1: Value = res.json().await.unwrap();
    assert_eq!(n1["conversationId"], conv.to_string());
    assert_eq!(n1["authorUserId"], a.user_id.as_str());
    assert_eq!(n1["authorName"], "Ana Admin");
    assert_eq!(n1["body"], "Customer is a VIP, be nice");
    assert!(n1["id"].is_string() && n1["createdAt"].is_string());
    let res = app.post(&path, &json!({"body": "second"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let list: Value = app.get(&path, Some(&a.access)).await.json().await.unwrap();
    let bodies: Vec<&str> = list["data"].as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["Customer is a VIP, be nice", "second"], "oldest first");
    assert_eq!(list["data"][0], n1);

    let mut published = Vec::new();
    while let Ok(e) = events.try_recv() {
        if e.event.kind() == "note.created" {
            published.push(e.event.clone());
        }
    }
    assert_eq!(published.len(), 2);
    assert_eq!(published[0].data(), n1);
    assert_eq!(published[0].tenant_id.to_string(), a.tenant_id);

    // A note is not a message: nothing is queued for WhatsApp.
    assert_eq!(app.count(messages::Entity).await, messages_before);

    // Validation.
    for body in [json!({"body": ""}), json!({"body": "  \n "}), json!({}), json!({"body": "x".repeat(4097)})] {
        let res = app.post(&path, &body, Some(&a.access)).await;
        let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(e["error"]["details"]["fields"][0]["field"], "body");
    }
    let res = app.post(&path, &json!({"body": "x".repeat(4096)}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.count(conversation_notes::Entity).await, 3);
}

#[tokio::test]
async fn agents_see_notes_of_their_own_and_unassigned_conversations_only() {
    let app = app().await;
    let (a, conv) = setup(&app).await;
    let agent = app.user_with_role(&a.tenant_id, "agent@a.test", Role::Agent).await;
    let other = app.user_with_role(&a.tenant_id, "other@a.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@a.test", Role::BillingAdmin).await;
    let agent_id = user_id(&app, &agent).await;
    let path = format!("/api/conversations/{conv}/notes");

    // Unassigned: every agent may read and write.
    let res = app.post(&path, &json!({"body": "unassigned note"}), Some(&agent)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.get(&path, Some(&other)).await.status(), StatusCode::OK);

    // Assigned to `agent`: `other` gets 404 (its existence is private); admins still see it.
    assign(&app, conv, Some(agent_id)).await;
    let list: Value = app.get(&path, Some(&agent)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["authorName"], "Member");
    assert_error(app.get(&path, Some(&other)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.post(&path, &json!({"body": "sneaky"}), Some(&other)).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_eq!(app.get(&path, Some(&a.access)).await.status(), StatusCode::OK);
    let res = app.post(&path, &json!({"body": "admin note"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Billing admins never see the inbox.
    assert_error(app.get(&path, Some(&billing)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.post(&path, &json!({"body": "x"}), Some(&billing)).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    assert_error(app.get(&path, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.count(conversation_notes::Entity).await, 2);
}

#[tokio::test]
async fn another_tenant_cannot_read_or_write_notes() {
    let app = app().await;
    let (a, conv) = setup(&app).await;
    let b = app.register("B", "b@b.test").await;
    let path = format!("/api/conversations/{conv}/notes");
    let res = app.post(&path, &json!({"body": "private"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    assert_error(app.get(&path, Some(&b.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        app.post(&path, &json!({"body": "intrusion"}), Some(&b.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown = format!("/api/conversations/{}/notes", uuid::Uuid::now_v7());
    assert_error(app.get(&unknown, Some(&a.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.post(&unknown, &json!({"body": "x"}), Some(&a.access)).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_eq!(app.count(conversation_notes::Entity).await, 1);
}
