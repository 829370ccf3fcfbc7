//! Inbound fidelity (issue #13): payloads shaped as other open-source WhatsApp libraries and
//! Meta's reference write them — contacts known by phone and/or BSUID, number changes, edits,
//! echoes, history, every account-level field delivered three times, replies to unknown
//! messages, marketing preferences — and the invariant that every acknowledged event reaches a
//! terminal state, with nothing dead and silent.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::enums::{Direction, JobState, WebhookState};
use switchboard::entities::{
    account_events, audit_log, contact_identity_changes, contacts, conversations, jobs, messages, webhook_events,
    whatsapp_accounts,
};

use crate::helpers::{TestApp, spawn_app_with, wait_for};

const SECRET: &str = "platform-app-secret";

async fn app() -> TestApp {
    spawn_app_with(&[("SWITCHBOARD_META_APP_SECRET", SECRET), ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1")])
        .await
}

/// A webhook body with one change of `field` for number `pnid` (WABA `9{pnid}`, as
/// `TestApp::create_account` sets it).
fn change(pnid: &str, field: &str, value: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": format!("9{pnid}"), "time": 1_750_000_000, "changes": [{"field": field, "value": value}]}]}))
    .unwrap()
}

fn messages_value(pnid: &str, extra: Value) -> Value {
    let mut v = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100", "phone_number_id": pnid}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

async fn post(app: &TestApp, body: &[u8]) {
    assert_eq!(app.post_webhook(body, SECRET).await.status(), StatusCode::OK);
}

/// Waits until no webhook event is pending, then returns every event.
async fn settled(app: &TestApp) -> Vec<webhook_events::Model> {
    wait_for("every webhook event in a terminal state", || async {
        let all = webhook_events::Entity::find().all(&app.state.db).await.unwrap();
        all.iter().all(|e| e.state != WebhookState::Pending).then_some(all)
    })
    .await
}

async fn message(app: &TestApp, wamid: &str) -> Option<messages::Model> {
    messages::Entity::find().filter(messages::Column::WaMessageId.eq(wamid)).one(&app.state.db).await.unwrap()
}

async fn contact_by_user(app: &TestApp, user_id: &str) -> contacts::Model {
    contacts::Entity::find().filter(contacts::Column::UserId.eq(user_id)).one(&app.state.db).await.unwrap().unwrap()
}

fn text(from: Option<&str>, from_user: Option<&str>, wamid: &str, body: &str) -> Value {
    // Now: the customer-service window is open for replies.
    let now = chrono::Utc::now().timestamp().to_string();
    let mut m = json!({"id": wamid, "timestamp": now, "type": "text", "text": {"body": body}});
    if let Some(f) = from {
        m["from"] = json!(f);
    }
    if let Some(u) = from_user {
        m["from_user_id"] = json!(u);
    }
    m
}

#[tokio::test]
async fn a_known_user_id_from_a_new_number_is_one_contact_with_the_new_number() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let first = messages_value(
        "1001",
        json!({"contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234", "user_id": "US.777"}],
               "messages": [text(Some("16505551234"), Some("US.777"), "wamid.n1", "hello")]}),
    );
    post(&app, &change("1001", "messages", first)).await;
    settled(&app).await;
    // The customer changed number: the same BSUID from a number the platform does not know.
    let second = messages_value(
        "1001",
        json!({"contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505559999", "user_id": "US.777"}],
               "messages": [text(Some("16505559999"), Some("US.777"), "wamid.n2", "new phone")]}),
    );
    post(&app, &change("1001", "messages", second)).await;
    let events = settled(&app).await;
    assert!(events.iter().all(|e| e.state == WebhookState::Processed), "{events:?}");
    assert_eq!(app.count(contacts::Entity).await, 1);
    let c = contact_by_user(&app, "US.777").await;
    assert_eq!(c.wa_id.as_deref(), Some("16505559999"));
    let (m1, m2) = (message(&app, "wamid.n1").await.unwrap(), message(&app, "wamid.n2").await.unwrap());
    assert_eq!(m1.conversation_id, m2.conversation_id);
    let history = contact_identity_changes::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(
        (history[0].field.as_str(), history[0].old_value.as_deref(), history[0].new_value.as_deref()),
        ("wa_id", Some("16505551234"), Some("16505559999"))
    );
    // The API shows it.
    let res = app.get(&format!("/api/contacts/{}", c.id), Some(&a.access)).await;
    let dto: Value = res.json().await.unwrap();
    assert_eq!(dto["waId"], "16505559999");
    assert_eq!(dto["userId"], "US.777");
}

#[tokio::test]
async fn an_edit_whose_from_differs_from_its_contact_block_is_stored() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let first = messages_value(
        "1001",
        json!({"contacts": [{"profile": {"name": "Ed"}, "wa_id": "15550001111", "user_id": "US.1"}],
               "messages": [text(Some("15550001111"), None, "wamid.e1", "hello")]}),
    );
    post(&app, &change("1001", "messages", first)).await;
    settled(&app).await;
    // pywa's edited-message shape: the `from` is another number than the contact block's.
    let edit = messages_value(
        "1001",
        json!({"contacts": [{"profile": {"name": "Ed"}, "wa_id": "15550001111", "user_id": "US.1"}],
               "messages": [{"from": "15550002222", "id": "wamid.e2", "timestamp": "1750000001", "type": "edit",
                              "edit": {"original_message_id": "wamid.e1", "message": {"type": "text", "text": {"body": "hello!"}}}}]}),
    );
    post(&app, &change("1001", "messages", edit)).await;
    let events = settled(&app).await;
    assert!(events.iter().all(|e| e.state == WebhookState::Processed), "{events:?}");
    assert!(message(&app, "wamid.e2").await.is_some(), "the edit is stored");
    assert_eq!(app.count(contacts::Entity).await, 1, "one person");
}

#[tokio::test]
async fn a_message_with_only_a_user_id_works_end_to_end_including_the_reply() {
    let app = spawn_app_with(&[("SWITCHBOARD_META_APP_SECRET", SECRET)]).await;
    let a = app.register("A", "a@a.test").await;
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let acct: Value = res.json().await.unwrap();
    let (pnid, waba) = (acct["phoneNumberId"].as_str().unwrap(), acct["wabaId"].as_str().unwrap());
    let value = messages_value(
        pnid,
        json!({"contacts": [{"profile": {"name": "Uma", "username": "uma.k"}, "user_id": "US.42"}],
               "messages": [text(None, Some("US.42"), "wamid.u1", "hi, no phone")]}),
    );
    let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": [{"field": "messages", "value": value}]}]}))
    .unwrap();
    post(&app, &body).await;
    settled(&app).await;
    let m = message(&app, "wamid.u1").await.expect("stored");
    let c = contact_by_user(&app, "US.42").await;
    assert_eq!((c.wa_id.as_deref(), c.username.as_deref()), (None, Some("uma.k")));
    let dto: Value = app.get(&format!("/api/contacts/{}", c.id), Some(&a.access)).await.json().await.unwrap();
    assert_eq!(dto["username"], "uma.k");

    // The reply goes to Meta's `recipient` (the BSUID), and is accepted.
    let res = app
        .post(
            &format!("/api/conversations/{}/messages", m.conversation_id),
            &json!({"type": "text", "text": {"body": "Hello Uma"}}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let sim = &app.state.sandbox.as_ref().unwrap().sim;
    let sent = wait_for("sim received the reply", || async {
        sim.sent_messages(pnid).into_iter().find(|s| s.body["text"]["body"] == "Hello Uma")
    })
    .await;
    assert_eq!(sent.body["recipient"], "US.42");
    assert!(sent.body.get("to").is_none());
    wait_for("reply sent", || async {
        let m = messages::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap()).one(&app.state.db).await.unwrap()?;
        m.wa_message_id.is_some().then_some(())
    })
    .await;
}

#[tokio::test]
async fn system_messages_change_the_contacts_number_and_user_id() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let first = messages_value(
        "1001",
        json!({"contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234", "user_id": "US.1"}],
               "messages": [text(Some("16505551234"), Some("US.1"), "wamid.s0", "hello")]}),
    );
    post(&app, &change("1001", "messages", first)).await;
    settled(&app).await;
    // Meta's official "System Message" example (no contacts block), with the BSUID of the era.
    let changed = messages_value(
        "1001",
        json!({"messages": [{"from": "16505551234", "id": "wamid.s1", "timestamp": "1750000002", "type": "system",
            "system": {"body": "User Sheena changed from 16505551234 to 12195555358", "wa_id": "12195555358",
                       "user_id": "US.2", "type": "user_changed_number"}}]}),
    );
    post(&app, &change("1001", "messages", changed)).await;
    settled(&app).await;
    let c = contact_by_user(&app, "US.2").await;
    assert_eq!(c.wa_id.as_deref(), Some("12195555358"));
    // pywa's user_changed_user_id: no `from`, the previous BSUID named.
    let changed = messages_value(
        "1001",
        json!({"messages": [{"id": "wamid.s2", "timestamp": "1750000003", "type": "system",
            "system": {"body": "User changed from US.2 to US.3", "user_id": "US.3", "previous_user_id": "US.2",
                       "type": "user_changed_user_id"}}]}),
    );
    post(&app, &change("1001", "messages", changed)).await;
    let events = settled(&app).await;
    assert!(events.iter().all(|e| e.state == WebhookState::Processed), "{events:?}");
    assert_eq!(app.count(contacts::Entity).await, 1);
    let c = contact_by_user(&app, "US.3").await;
    assert_eq!(c.wa_id.as_deref(), Some("12195555358"));
    let n = contact_identity_changes::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(n.iter().filter(|h| h.source == "system").count(), 3, "{n:?}");
    // Both system messages are in the conversation.
    let s1 = message(&app, "wamid.s1").await.unwrap();
    assert_eq!(s1.conversation_id, message(&app, "wamid.s2").await.unwrap().conversation_id);
}

#[tokio::test]
async fn every_account_level_kind_delivered_three_times_is_stored_once() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    let acct = app.create_account(&a.access, "1001", None).await;
    let pn_meta = json!({"display_phone_number": "15550100", "phone_number_id": "1001"});
    // One realistic value per field (Meta's reference pages and pywa fixtures).
    let kinds: Vec<(&str, Value)> = vec![
        ("account_update", json!({"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}})),
        ("account_review_update", json!({"decision": "APPROVED"})),
        (
            "account_alerts",
            json!({"entity_type": "BUSINESS", "entity_id": "506914307656634",
            "alert_info": {"alert_severity": "WARNING", "alert_status": "ACTIVE", "alert_type": "OBA_REJECTED", "alert_description": "x"}}),
        ),
        (
            "business_capability_update",
            json!({"max_daily_conversations_per_business": 2000, "max_phone_numbers_per_waba": 25}),
        ),
        (
            "phone_number_name_update",
            json!({"display_phone_number": "15550100", "decision": "APPROVED", "requested_verified_name": "Lucky", "rejection_reason": null}),
        ),
        (
            "phone_number_quality_update",
            json!({"display_phone_number": "+1 555 0100", "event": "FLAGGED", "current_limit": "TIER_10K"}),
        ),
        ("security", json!({"display_phone_number": "15550100", "event": "PIN_CHANGED"})),
        (
            "flows",
            json!({"event": "FLOW_STATUS_CHANGE", "message": "m", "flow_id": "66", "old_status": "DRAFT", "new_status": "PUBLISHED"}),
        ),
        (
            "message_template_components_update",
            json!({"message_template_id": 1315502779341834_i64, "message_template_name": "order_confirmation",
            "message_template_language": "en_US", "message_template_element": "Thanks {{1}}"}),
        ),
        (
            "partner_solutions",
            json!({"event": "SOLUTION_CREATED", "solution_id": "774485461512159", "solution_status": "INITIATED"}),
        ),
        (
            "calls",
            json!({"messaging_product": "whatsapp", "metadata": pn_meta, "calls": [{"id": "wacid.abc", "from": "15551234567",
            "to": "15550100", "event": "connect", "timestamp": "1752583107", "direction": "USER_INITIATED"}]}),
        ),
        (
            "user_preferences",
            json!({"messaging_product": "whatsapp", "metadata": pn_meta, "user_preferences": [{"wa_id": "15551234567",
            "detail": "User requested to stop marketing messages", "category": "marketing_messages", "value": "stop", "timestamp": 1731705721}]}),
        ),
        (
            "smb_app_state_sync",
            json!({"messaging_product": "whatsapp", "metadata": pn_meta, "state_sync": [{"type": "contact",
            "contact": {"full_name": "Pablo Morales", "first_name": "Pablo", "phone_number": "16505551234"}, "action": "add",
            "metadata": {"timestamp": "1739321024"}}]}),
        ),
        (
            "template_category_update",
            json!({"message_template_id": 1, "message_template_name": "x", "message_template_language": "en_US",
            "previous_category": "UTILITY", "new_category": "MARKETING"}),
        ),
        (
            "messages",
            messages_value(
                "1001",
                json!({"errors": [{"code": 130429, "title": "Rate limit hit", "message": "Rate limit hit",
            "error_data": {"details": "too many"}}]}),
            ),
        ),
        ("some_future_field", json!({"anything": [1, 2, 3]})),
    ];
    for _ in 0..3 {
        for (field, value) in &kinds {
            post(&app, &change("1001", field, value.clone())).await;
        }
    }
    let events = settled(&app).await;
    assert_eq!(events.len(), kinds.len() * 3);
    assert!(events.iter().all(|e| e.state == WebhookState::Processed), "{events:?}");
    let stored = account_events::Entity::find().all(&app.state.db).await.unwrap();
    for (field, _) in &kinds {
        let want = match *field {
            "template_category_update" => 0, // applied to the template, not an account event
            _ => 1,
        };
        let field = if *field == "messages" { "errors" } else { field };
        assert_eq!(stored.iter().filter(|e| e.field == field).count(), want, "{field}: {stored:?}");
    }
    // Listed once each for the tenant too.
    let id = acct["id"].as_str().unwrap();
    let page: Value =
        app.get(&format!("/api/whatsapp-accounts/{id}/events?limit=100"), Some(&a.access)).await.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), stored.len());
    // Acted on: the number's quality and messaging limit, the opt-out, the synced contact's name.
    let acct_row = whatsapp_accounts::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(acct_row.quality_rating.as_deref(), Some("FLAGGED"));
    assert!(acct_row.messaging_limit.is_some());
    let shown: Value = app.get(&format!("/api/whatsapp-accounts/{id}"), Some(&a.access)).await.json().await.unwrap();
    assert_eq!(shown["qualityRating"], "FLAGGED");
    let stopped =
        contacts::Entity::find().filter(contacts::Column::WaId.eq("15551234567")).one(&app.state.db).await.unwrap();
    assert!(stopped.unwrap().opted_out);
    let synced =
        contacts::Entity::find().filter(contacts::Column::WaId.eq("16505551234")).one(&app.state.db).await.unwrap();
    assert_eq!(synced.unwrap().name.as_deref(), Some("Pablo Morales"));
}

#[tokio::test]
async fn a_reply_to_an_unknown_message_keeps_the_quoted_id_and_sender() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let mut m = text(Some("15551234567"), None, "wamid.r1", "about that");
    m["context"] = json!({"from": "15550100", "id": "wamid.never-stored"});
    let v = messages_value(
        "1001",
        json!({"contacts": [{"profile": {"name": "J"}, "wa_id": "15551234567"}], "messages": [m]}),
    );
    post(&app, &change("1001", "messages", v)).await;
    settled(&app).await;
    let stored = message(&app, "wamid.r1").await.unwrap();
    let page: Value = app
        .get(&format!("/api/conversations/{}/messages", stored.conversation_id), Some(&a.access))
        .await
        .json()
        .await
        .unwrap();
    let dto = &page["data"][0];
    assert_eq!(dto["replyToId"], Value::Null);
    assert_eq!(dto["replyToWaMessageId"], "wamid.never-stored");
    assert_eq!(dto["replyToFrom"], "15550100");
    // The inbox says so.
    let html = app
        .client
        .get(app.url(&format!("/inbox/{}", stored.conversation_id)))
        .header("cookie", format!("sb_access={}; sb_csrf=test-csrf", a.access))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Reply to a message not in this inbox"), "{html}");
}

#[tokio::test]
async fn echoes_and_history_appear_in_the_conversation_once_and_are_never_sent() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let pn_meta = json!({"display_phone_number": "15550100", "phone_number_id": "1001"});
    let echo = json!({"messaging_product": "whatsapp", "metadata": pn_meta, "message_echoes": [{"from": "15550100",
        "to": "+16505551234", "id": "wamid.echo1", "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": "Here's the info"}}]});
    let history = json!({"messaging_product": "whatsapp", "metadata": pn_meta, "history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
        "threads": [{"id": "16505551234", "messages": [
            {"from": "15550100", "to": "16505551234", "id": "wamid.h1", "timestamp": "1739230955", "type": "text", "text": {"body": "Earlier answer"}, "history_context": {"status": "READ"}},
            {"from": "16505551234", "id": "wamid.h2", "timestamp": "1739230970", "type": "text", "text": {"body": "Thanks!"}, "history_context": {"status": "READ"}}]}]}]});
    for _ in 0..3 {
        post(&app, &change("1001", "smb_message_echoes", echo.clone())).await;
        post(&app, &change("1001", "history", history.clone())).await;
    }
    let events = settled(&app).await;
    assert!(events.iter().all(|e| e.state == WebhookState::Processed), "{events:?}");
    assert_eq!(app.count(messages::Entity).await, 3, "each once");
    assert_eq!(app.count(conversations::Entity).await, 1);
    let e = message(&app, "wamid.echo1").await.unwrap();
    assert_eq!((e.direction, e.origin.as_deref()), (Direction::Outbound, Some("business_app")));
    let h1 = message(&app, "wamid.h1").await.unwrap();
    assert_eq!((h1.direction, h1.origin.as_deref()), (Direction::Outbound, Some("history")));
    assert_eq!(h1.status, switchboard::entities::enums::MessageStatus::Read);
    let h2 = message(&app, "wamid.h2").await.unwrap();
    assert_eq!((h2.direction, h2.origin.as_deref()), (Direction::Inbound, Some("history")));
    assert_eq!(e.conversation_id, h2.conversation_id);
    // Never queued for sending; shown as sent from the Business app.
    let sends = jobs::Entity::find()
        .filter(jobs::Column::Queue.eq(switchboard::jobs::queues::MESSAGE_SEND))
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(sends.is_empty());
    let page: Value = app
        .get(&format!("/api/conversations/{}/messages", e.conversation_id), Some(&a.access))
        .await
        .json()
        .await
        .unwrap();
    assert!(page["data"].as_array().unwrap().iter().any(|m| m["origin"] == "business_app"));
    // Counted as a business message.
    let usage: Value = app.get("/api/usage", Some(&a.access)).await.json().await.unwrap();
    assert!(usage.to_string().contains("\"messagesOut\":1"), "{usage}");
}

#[tokio::test]
async fn user_preferences_stop_then_resume_set_and_clear_the_opt_out_audited() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let pn_meta = json!({"display_phone_number": "15550100", "phone_number_id": "1001"});
    let pref = |v: &str, ts: i64| {
        json!({"messaging_product": "whatsapp", "metadata": pn_meta, "contacts": [{"wa_id": "16505551234"}],
            "user_preferences": [{"wa_id": "16505551234", "detail": format!("User requested to {v} marketing messages"),
            "category": "marketing_messages", "value": v, "timestamp": ts}]})
    };
    post(&app, &change("1001", "user_preferences", pref("stop", 1))).await;
    settled(&app).await;
    let c = contacts::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert!(c.opted_out);
    assert_eq!(c.opt_out_source.as_deref(), Some("user_preferences"));
    let dto: Value = app.get(&format!("/api/contacts/{}", c.id), Some(&a.access)).await.json().await.unwrap();
    assert_eq!((dto["optedOut"].clone(), dto["optOutSource"].clone()), (json!(true), json!("user_preferences")));
    post(&app, &change("1001", "user_preferences", pref("resume", 2))).await;
    settled(&app).await;
    let c = contacts::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert!(!c.opted_out);
    let audit = audit_log::Entity::find().all(&app.state.db).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).filter(|a| a.starts_with("contact.opt")).collect();
    assert_eq!(actions, vec!["contact.opt_out", "contact.opt_in"]);
}

/// A trigger that refuses messages whose text contains `POISON` (per backend: test code only).
async fn poison(app: &TestApp, on: bool) {
    let pg = app.config.is_postgres();
    let sql: &[&str] = match (pg, on) {
        (false, true) => &["CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.content LIKE '%POISON%' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
        (false, false) => &["DROP TRIGGER poison"],
        (true, true) => &[
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.content::text LIKE '%POISON%' THEN \
             RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()",
        ],
        (true, false) => &["DROP TRIGGER poison ON messages"],
    };
    for s in sql {
        app.state.db.execute_unprepared(s).await.unwrap();
    }
}

#[tokio::test]
async fn a_processing_failure_is_a_failed_event_in_the_list_and_metrics_and_replays() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let admin = app.system_admin().await;
    poison(&app, true).await;
    let v = messages_value(
        "1001",
        json!({"contacts": [{"wa_id": "15551234567"}], "messages": [text(Some("15551234567"), None, "wamid.x", "POISON")]}),
    );
    post(&app, &change("1001", "messages", v)).await;
    // Retrying, the attempt is visible on the event; fast-forward to its last attempt.
    let job = wait_for("a failed attempt", || async {
        let j = jobs::Entity::find()
            .filter(jobs::Column::Queue.eq(switchboard::jobs::queues::WEBHOOK_PROCESSOR))
            .one(&app.state.db)
            .await
            .unwrap()?;
        (j.attempts >= 1 && j.last_error.is_some() && j.state == JobState::Pending).then_some(j)
    })
    .await;
    let e = webhook_events::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(e.state, WebhookState::Pending);
    assert!(e.attempts >= 1 && e.last_error.as_deref().unwrap_or_default().contains("injected"), "{e:?}");
    app.state
        .db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            app.state.db.get_database_backend(),
            if app.config.is_postgres() {
                "UPDATE jobs SET attempts = max_attempts - 1, run_at = $1 WHERE id = $2"
            } else {
                "UPDATE jobs SET attempts = max_attempts - 1, run_at = ? WHERE id = ?"
            },
            [switchboard::db::now().into(), job.id.into()],
        ))
        .await
        .unwrap();
    let failed = wait_for("the event failed", || async {
        let e = webhook_events::Entity::find().one(&app.state.db).await.unwrap()?;
        (e.state == WebhookState::Failed).then_some(e)
    })
    .await;
    assert!(failed.last_error.unwrap().contains("processing job died"));
    let dead = jobs::Entity::find().filter(jobs::Column::State.eq(JobState::Dead)).all(&app.state.db).await.unwrap();
    assert_eq!(dead.len(), 1);
    // Listed, counted, shown.
    let list: Value = app.get("/api/admin/webhook-events?state=failed", Some(&admin)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    let metrics = app.get("/api/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("switchboard_webhook_events_failed 1"), "{metrics}");
    assert!(metrics.contains("switchboard_jobs_dead{queue=\"webhook-processor\"} 1"), "{metrics}");
    // The cause removed, a replay processes it.
    poison(&app, false).await;
    let res = app.post(&format!("/api/admin/webhook-events/{}/replay", failed.id), &json!({}), Some(&admin)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let events = settled(&app).await;
    assert_eq!(events[0].state, WebhookState::Processed);
    assert!(message(&app, "wamid.x").await.is_some());
    let metrics = app.get("/api/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("switchboard_webhook_events_failed 0"), "{metrics}");
}

#[tokio::test]
async fn wamids_are_scoped_to_their_tenant() {
    // Issue #14.1: tenant A's message with B's wamid must not shadow B's.
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    let b = app.register("B", "b@b.test").await;
    app.create_account(&a.access, "1001", None).await;
    app.create_account(&b.access, "2002", None).await;
    for pn in ["1001", "2002"] {
        let v = messages_value(
            pn,
            json!({"contacts": [{"wa_id": "15551234567"}], "messages": [text(Some("15551234567"), None, "wamid.same", pn)]}),
        );
        post(&app, &change(pn, "messages", v)).await;
    }
    let events = settled(&app).await;
    assert!(events.iter().all(|e| e.state == WebhookState::Processed));
    let all = messages::Entity::find()
        .filter(messages::Column::WaMessageId.eq("wamid.same"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "each tenant keeps its own message");
    let tenants: std::collections::HashSet<_> = all.iter().map(|m| m.tenant_id).collect();
    assert_eq!(tenants.len(), 2);
}

#[tokio::test]
async fn a_body_past_the_limits_fails_at_once_and_another_tenant_is_not_held_up() {
    // Issue #14.3: 200,000 empty changes signed with the noisy tenant's own secret.
    let app = app().await;
    let noisy = app.register("Noisy", "n@n.test").await;
    let quiet = app.register("Quiet", "q@q.test").await;
    app.create_account(&noisy.access, "1001", Some("noisy-secret")).await;
    app.create_account(&quiet.access, "2002", None).await;
    let changes: Vec<Value> = (0..200_000).map(|_| json!({})).collect();
    let flood = serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": "91001", "changes": changes}]}))
    .unwrap();
    assert_eq!(app.post_webhook(&flood, "noisy-secret").await.status(), StatusCode::OK);
    let v = messages_value(
        "2002",
        json!({"contacts": [{"wa_id": "15551234567"}], "messages": [text(Some("15551234567"), None, "wamid.q", "hello")]}),
    );
    post(&app, &change("2002", "messages", v)).await;
    let events = settled(&app).await;
    let failed: Vec<_> = events.iter().filter(|e| e.state == WebhookState::Failed).collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert!(failed[0].last_error.as_deref().unwrap_or_default().contains("too many"), "{:?}", failed[0]);
    assert!(message(&app, "wamid.q").await.is_some());
    assert_eq!(app.count(account_events::Entity).await, 0, "nothing of the flood was processed");
}

#[tokio::test]
async fn a_redelivered_message_is_said_on_its_event_not_dropped_silently() {
    // Issue #14.1: a duplicate that is refused is visible on the event.
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let v = messages_value(
        "1001",
        json!({"contacts": [{"wa_id": "15551234567"}], "messages": [text(Some("15551234567"), None, "wamid.d", "hi")]}),
    );
    let body = change("1001", "messages", v);
    post(&app, &body).await;
    settled(&app).await;
    post(&app, &body).await;
    let events = settled(&app).await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.state == WebhookState::Processed));
    let notes: Vec<_> = events.iter().filter_map(|e| e.last_error.clone()).collect();
    assert_eq!(notes, vec!["message wamid.d already stored".to_string()], "{events:?}");
    assert_eq!(app.count(messages::Entity).await, 1);
}

#[tokio::test]
async fn a_noisy_tenants_backlog_does_not_hold_up_a_quiet_tenants_message() {
    // Issue #14.3: fair processing across tenants. The noisy tenant posts a burst far above its
    // share; the quiet tenant's one message, posted after the whole burst, is processed while
    // most of the burst still waits (first come, first served would process it last).
    let app = app().await;
    let noisy = app.register("Noisy", "n@n.test").await;
    let quiet = app.register("Quiet", "q@q.test").await;
    app.create_account(&noisy.access, "1001", None).await;
    app.create_account(&quiet.access, "2002", None).await;
    let burst = 150;
    let bodies: Vec<Vec<u8>> = (0..burst)
        .map(|b| {
            let msgs: Vec<Value> = (0..100)
                .map(|i| {
                    let mut m = text(Some(&format!("1555{b:03}{i:04}")), None, &format!("wamid.n{b}.{i}"), "x");
                    m["text"]["body"] = json!("a longer message body that makes each webhook a few kilobytes long");
                    m
                })
                .collect();
            change("1001", "messages", messages_value("1001", json!({"messages": msgs})))
        })
        .collect();
    let posts = bodies.iter().map(|b| app.post_webhook(b, SECRET));
    for res in futures_util::future::join_all(posts).await {
        assert_eq!(res.status(), StatusCode::OK);
    }
    let pending = || async {
        webhook_events::Entity::find()
            .filter(webhook_events::Column::State.eq(WebhookState::Pending))
            .all(&app.state.db)
            .await
            .unwrap()
            .len()
    };
    let v = messages_value(
        "2002",
        json!({"contacts": [{"wa_id": "15559990000"}], "messages": [text(Some("15559990000"), None, "wamid.quiet", "hi")]}),
    );
    let before = pending().await;
    post(&app, &change("2002", "messages", v)).await;
    wait_for("the quiet tenant's message", || message(&app, "wamid.quiet")).await;
    let after = pending().await;
    // First come, first served would process the whole remaining burst first.
    assert!(before >= 40, "the burst was processed before the quiet message was even posted ({before} left)");
    assert!(
        before - after <= before / 2,
        "the quiet message waited for {} of the {before} bodies still pending when it arrived",
        before - after
    );
    // And nothing of the burst is lost.
    let events = settled(&app).await;
    assert!(events.iter().all(|e| e.state == WebhookState::Processed));
    assert_eq!(app.count(messages::Entity).await as usize, burst * 100 + 1);
}

/// A new conversation of a contact the same batch inserts (a recycled number: another user id
/// takes the number from its old holder) or re-keys (a known user id from a new number, first
/// time on a second number of the tenant). On PostgreSQL the batch once inserted that
/// conversation on its second connection, whose foreign-key check waited for the batch's own
/// uncommitted contact row: the batch hung for good, its events `pending`. Both must settle.
#[tokio::test]
async fn a_new_conversation_of_a_contact_the_batch_inserts_or_rekeys_does_not_hang() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    app.create_account(&a.access, "1002", None).await;
    let hello = messages_value(
        "1001",
        json!({"contacts": [{"profile": {"name": "Old"}, "wa_id": "16505551234", "user_id": "US.1"}],
               "messages": [text(Some("16505551234"), Some("US.1"), "wamid.r1", "hello")]}),
    );
    post(&app, &change("1001", "messages", hello)).await;
    settled(&app).await;
    // The number now belongs to someone else (another user id): a new contact takes it.
    let recycled = messages_value(
        "1001",
        json!({"contacts": [{"profile": {"name": "New"}, "wa_id": "16505551234", "user_id": "US.2"}],
               "messages": [text(Some("16505551234"), Some("US.2"), "wamid.r2", "hi, new owner")]}),
    );
    post(&app, &change("1001", "messages", recycled)).await;
    // The first customer, from a new number, writes to the tenant's second number.
    let moved = messages_value(
        "1002",
        json!({"contacts": [{"profile": {"name": "Old"}, "wa_id": "16505557777", "user_id": "US.1"}],
               "messages": [text(Some("16505557777"), Some("US.1"), "wamid.r3", "me again")]}),
    );
    post(&app, &change("1002", "messages", moved)).await;
    let events = settled(&app).await;
    assert!(events.iter().all(|e| e.state == WebhookState::Processed), "{events:?}");
    assert_eq!(app.count(contacts::Entity).await, 2);
    let (old, new) = (contact_by_user(&app, "US.1").await, contact_by_user(&app, "US.2").await);
    assert_eq!(old.wa_id.as_deref(), Some("16505557777"));
    assert_eq!(new.wa_id.as_deref(), Some("16505551234"));
    let db = &app.state.db;
    let conv = |id| async move { conversations::Entity::find_by_id(id).one(db).await.unwrap().unwrap() };
    let (m1, m2, m3) = (
        message(&app, "wamid.r1").await.unwrap(),
        message(&app, "wamid.r2").await.unwrap(),
        message(&app, "wamid.r3").await.unwrap(),
    );
    assert_eq!(conv(m1.conversation_id).await.contact_id, old.id);
    assert_eq!(conv(m2.conversation_id).await.contact_id, new.id);
    let c3 = conv(m3.conversation_id).await;
    assert_eq!(c3.contact_id, old.id);
    assert_ne!(m3.conversation_id, m1.conversation_id, "a conversation per number");
}
