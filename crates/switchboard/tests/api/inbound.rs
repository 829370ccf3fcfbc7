use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::enums::{MessageStatus, WebhookState};
use switchboard::entities::{account_events, contacts, conversations, daily_usage, messages, webhook_events};

use crate::helpers::{
    TestApp, app_without_workers, assert_error, envelope, run_one_batch, spawn_app_with, text_message, wait_for,
};

const PLATFORM_SECRET: &str = "platform-app-secret";

async fn app() -> TestApp {
    spawn_app_with(&[
        ("SWITCHBOARD_META_APP_SECRET", PLATFORM_SECRET),
        ("SWITCHBOARD_META_VERIFY_TOKEN", "platform-verify-token"),
        ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1"),
    ])
    .await
}

async fn message_by_wamid(app: &TestApp, wamid: &str) -> Option<messages::Model> {
    messages::Entity::find().filter(messages::Column::WaMessageId.eq(wamid)).one(&app.state.db).await.unwrap()
}

async fn wait_message(app: &TestApp, wamid: &str) -> messages::Model {
    wait_for(wamid, || message_by_wamid(app, wamid)).await
}

async fn wait_event_state(app: &TestApp, state: WebhookState) -> webhook_events::Model {
    wait_for("webhook event state", || async {
        webhook_events::Entity::find().filter(webhook_events::Column::State.eq(state)).one(&app.state.db).await.unwrap()
    })
    .await
}

#[tokio::test]
async fn verification_handshake_echoes_the_challenge() {
    let app = app().await;
    let acct_owner = app.register("A", "a@a.test").await;
    let acct = app.create_account(&acct_owner.access, "1001", None).await;
    let own_token = acct["webhook"]["verifyToken"].as_str().unwrap().to_string();
    assert!(acct["webhook"]["callbackUrl"].as_str().unwrap().ends_with("/api/webhooks/whatsapp"));

    for token in ["platform-verify-token", own_token.as_str()] {
        let res = app
            .get(
                &format!("/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), "1158201444");
    }
    let res = app.get("/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", None).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.get("/api/webhooks/whatsapp?hub.mode=subscribe", None).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_handshake").await;
}

#[tokio::test]
async fn signatures_are_checked_before_anything_is_stored() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", Some("account-own-secret")).await;
    let body = envelope("1001", text_message("15551234567", "wamid.sig1", "hi", 1_700_000_000));

    // Missing, wrong secret, tampered body: 401 and nothing stored.
    let res = app.client.post(app.url("/api/webhooks/whatsapp")).body(body.clone()).send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.post_webhook(&body, "wrong-secret").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let sig = meta_cloud::signature::sign(PLATFORM_SECRET.as_bytes(), &body);
    let mut tampered = body.clone();
    tampered[40] ^= 1;
    let res = app
        .client
        .post(app.url("/api/webhooks/whatsapp"))
        .header("x-hub-signature-256", sig)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.count(webhook_events::Entity).await, 0);
    let metrics = app.get("/api/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("switchboard_webhooks_bad_signature_total 3"), "{metrics}");

    // The platform secret and the account's own secret are both accepted.
    assert_eq!(app.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK);
    let body2 = envelope("1001", text_message("15551234567", "wamid.sig2", "again", 1_700_000_001));
    assert_eq!(app.post_webhook(&body2, "account-own-secret").await.status(), StatusCode::OK);
    assert_eq!(wait_message(&app, "wamid.sig1").await.content["body"], "hi");
    assert_eq!(wait_message(&app, "wamid.sig2").await.content["body"], "again");

    // Over 3 MB: 413.
    let big = vec![b' '; 3 * 1024 * 1024 + 10];
    let res = app.post_webhook(&big, PLATFORM_SECRET).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn the_same_delivery_three_times_stores_one_message() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let body = envelope("1001", text_message("15551234567", "wamid.dup", "hello", 1_700_000_000));
    for _ in 0..3 {
        assert_eq!(app.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK);
    }
    wait_for("three events processed", || async {
        let n = webhook_events::Entity::find()
            .filter(webhook_events::Column::State.eq(WebhookState::Processed))
            .all(&app.state.db)
            .await
            .unwrap()
            .len();
        (n == 3).then_some(())
    })
    .await;
    assert_eq!(app.count(messages::Entity).await, 1);
    assert_eq!(app.count(conversations::Entity).await, 1);
    let conv = conversations::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(conv.unread_count, 1);
    assert_eq!(conv.last_message_preview.as_deref(), Some("hello"));
    let contact = contacts::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(contact.wa_id.as_deref(), Some("15551234567"));
    assert_eq!(contact.profile_name.as_deref(), Some("Jessica"));
    let usage = daily_usage::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(usage.messages_in, 1);
    assert_eq!(usage.conversations_opened, 1);
}

/// Inserts an outbound message as the sender would after Meta accepted it.
async fn outbound(app: &TestApp, tenant: uuid::Uuid, conversation: uuid::Uuid, wamid: &str) -> uuid::Uuid {
    use sea_orm::{ActiveModelTrait, Set};
    let now = switchboard::db::now();
    let id = switchboard::db::new_id();
    let mut row = switchboard::messages::new_row(
        tenant,
        conversation,
        switchboard::entities::enums::Direction::Outbound,
        "text",
        json!({"body": "reply"}),
        MessageStatus::Sent,
        now,
    );
    row.id = Set(id);
    row.wa_message_id = Set(Some(wamid.into()));
    row.sent_at = Set(Some(now));
    row.insert(app.state.writer()).await.unwrap();
    id
}

fn status(wamid: &str, s: &str, ts: i64) -> Value {
    json!({
        "id": wamid, "status": s, "timestamp": ts.to_string(), "recipient_id": "15551234567",
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    })
}

async fn post_statuses(app: &TestApp, statuses: Vec<Value>) {
    let body = envelope("1001", json!({ "statuses": statuses }));
    assert_eq!(app.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK);
}

async fn setup_conversation(app: &TestApp) -> (uuid::Uuid, uuid::Uuid) {
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let body = envelope("1001", text_message("15551234567", "wamid.in1", "hi", 1_700_000_000));
    app.post_webhook(&body, PLATFORM_SECRET).await;
    let m = wait_message(app, "wamid.in1").await;
    (m.tenant_id, m.conversation_id)
}

#[tokio::test]
async fn statuses_only_move_forward_and_pricing_counts_once() {
    let app = app().await;
    let (tenant, conv) = setup_conversation(&app).await;
    let id = outbound(&app, tenant, conv, "wamid.out1").await;

    // read arrives first, then a late delivered and a repeated sent.
    post_statuses(&app, vec![status("wamid.out1", "read", 1_700_000_300)]).await;
    post_statuses(
        &app,
        vec![status("wamid.out1", "delivered", 1_700_000_200), status("wamid.out1", "sent", 1_700_000_100)],
    )
    .await;
    post_statuses(&app, vec![status("wamid.out1", "read", 1_700_000_300)]).await;
    wait_for("all status events processed", || async {
        let pending = webhook_events::Entity::find()
            .filter(webhook_events::Column::State.eq(WebhookState::Pending))
            .all(&app.state.db)
            .await
            .unwrap();
        pending.is_empty().then_some(())
    })
    .await;
    let m = messages::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Read);
    assert_eq!(m.read_at.unwrap().timestamp(), 1_700_000_300);
    assert_eq!(m.delivered_at.unwrap().timestamp(), 1_700_000_200, "a late delivered still records its time");
    let usage = daily_usage::Entity::find().all(&app.state.db).await.unwrap();
    let utility: i64 = usage.iter().map(|u| u.utility).sum();
    let billable: i64 = usage.iter().map(|u| u.billable).sum();
    assert_eq!((utility, billable), (1, 1), "three priced statuses bill one message");
}

#[tokio::test]
async fn a_failed_status_keeps_code_title_and_details() {
    let app = app().await;
    let (tenant, conv) = setup_conversation(&app).await;
    let id = outbound(&app, tenant, conv, "wamid.out2").await;
    post_statuses(
        &app,
        vec![json!({
            "id": "wamid.out2", "status": "failed", "timestamp": "1700000400", "recipient_id": "15551234567",
            "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                        "error_data": {"details": "Message failed to send because more than 24 hours have passed"}}]
        })],
    )
    .await;
    let m = wait_for("failed", || async {
        let m = messages::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
        (m.status == MessageStatus::Failed).then_some(m)
    })
    .await;
    assert_eq!(m.error_code, Some(131047));
    assert_eq!(m.error_title.as_deref(), Some("Re-engagement message"));
    assert!(m.error_details.unwrap().contains("24 hours"));
}

#[tokio::test]
async fn a_status_before_its_message_is_applied_when_the_message_appears() {
    let app = app().await;
    let (tenant, conv) = setup_conversation(&app).await;
    post_statuses(&app, vec![status("wamid.early", "delivered", 1_700_000_500)]).await;
    wait_for("pending status stored", || async {
        let n = switchboard::entities::pending_statuses::Entity::find().all(&app.state.db).await.unwrap().len();
        (n == 1).then_some(())
    })
    .await;
    let id = outbound(&app, tenant, conv, "wamid.early").await;
    let msg = messages::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
    let mut events = Vec::new();
    switchboard::messages::status::apply_pending_statuses(app.state.writer(), &mut events, &msg).await.unwrap();
    let m = messages::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Delivered);
    assert_eq!(events.len(), 1);
    assert_eq!(app.count(switchboard::entities::pending_statuses::Entity).await, 0);
}

#[tokio::test]
async fn an_unknown_number_is_unroutable_and_listed() {
    let app = app().await;
    let body = envelope("999999", text_message("15551234567", "wamid.lost", "anyone?", 1_700_000_000));
    assert_eq!(app.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK);
    let ev = wait_event_state(&app, WebhookState::Unroutable).await;
    assert!(ev.last_error.unwrap().contains("999999"));
    assert_eq!(app.count(messages::Entity).await, 0);
    let root = app.system_admin().await;
    let list: Value = app.get("/api/admin/webhook-events?state=unroutable", Some(&root)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // Not retried forever: its job is done, not waiting.
    let job = switchboard::entities::jobs::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(job.state, switchboard::entities::enums::JobState::Done);

    // Once the number is connected, a replay routes it.
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "999999", None).await;
    let res = app.post(&format!("/api/admin/webhook-events/{}/replay", ev.id), &json!({}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    wait_message(&app, "wamid.lost").await;
    // Replaying again does not duplicate anything.
    app.post(&format!("/api/admin/webhook-events/{}/replay", ev.id), &json!({}), Some(&root)).await;
    wait_event_state(&app, WebhookState::Processed).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.count(messages::Entity).await, 1);
    let res =
        app.post(&format!("/api/admin/webhook-events/{}/replay", uuid::Uuid::new_v4()), &json!({}), Some(&root)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn stop_opts_the_contact_out() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    app.post_webhook(
        &envelope("1001", text_message("15551234567", "wamid.s1", " stop ", 1_700_000_000)),
        PLATFORM_SECRET,
    )
    .await;
    wait_message(&app, "wamid.s1").await;
    let c = contacts::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert!(c.opted_out);
    assert!(c.opted_out_at.is_some());
    // A sentence containing the word is not an opt-out.
    app.post_webhook(
        &envelope("1001", text_message("15550000000", "wamid.s2", "please don't stop", 1_700_000_000)),
        PLATFORM_SECRET,
    )
    .await;
    wait_message(&app, "wamid.s2").await;
    let other = contacts::Entity::find()
        .filter(contacts::Column::WaId.eq("15550000000"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!other.opted_out);
}

fn official_examples() -> Vec<(String, Value)> {
    let text = include_str!("../../../meta-cloud/tests/fixtures/official-webhook-examples.json");
    let v: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
    v.into_iter().collect()
}

#[tokio::test]
async fn every_official_example_is_stored_as_the_right_rows() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "106540352242922", None).await;
    let examples = official_examples();
    assert_eq!(examples.len(), 16);
    let mut expected_messages = 0;
    for (i, (name, mut ex)) in examples.into_iter().enumerate() {
        // The examples share wamids; give each its own so that none is a duplicate of another.
        let value = &mut ex["entry"][0]["changes"][0]["value"];
        let has_message = value.get("messages").is_some();
        if has_message {
            value["messages"][0]["id"] = json!(format!("wamid.example.{i}"));
            expected_messages += 1;
        }
        let body = serde_json::to_vec(&ex).unwrap();
        assert_eq!(app.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK, "{name}");
        if !has_message {
            continue;
        }
        let m = wait_message(&app, &format!("wamid.example.{i}")).await;
        let original = &ex["entry"][0]["changes"][0]["value"]["messages"][0];
        let t = original["type"].as_str().unwrap();
        assert_eq!(m.msg_type, t, "{name}");
        assert_eq!(m.raw.as_ref().unwrap(), original, "{name}: raw JSON kept");
        match t {
            "text" => assert_eq!(m.content["body"], original["text"]["body"], "{name}"),
            "reaction" => {
                assert_eq!(m.content["emoji"], original["reaction"]["emoji"]);
                assert_eq!(m.reply_to_wa_id.as_deref(), original["reaction"]["message_id"].as_str());
            }
            "image" => assert_eq!(m.content["id"], original["image"]["id"]),
            "location" => assert_eq!(m.content["latitude"], original["location"]["latitude"]),
            "unsupported" => assert!(m.content["errors"][0]["code"].is_number(), "{name}: errors kept"),
            "interactive" => assert_eq!(m.content["type"], original["interactive"]["type"]),
            "contacts" => assert_eq!(m.content["contacts"], original["contacts"], "{name}"),
            other => assert_eq!(m.content, original[other], "{name}"),
        }
        if name.contains("Product Inquiry") {
            assert!(m.content["referredProduct"].is_object());
        }
        if name.contains("Click to WhatsApp") {
            assert!(m.content["referral"].is_object());
        }
    }
    wait_for("all examples processed", || async {
        let n = webhook_events::Entity::find()
            .filter(webhook_events::Column::State.eq(WebhookState::Processed))
            .all(&app.state.db)
            .await
            .unwrap()
            .len();
        (n == 16).then_some(())
    })
    .await;
    assert_eq!(app.count(messages::Entity).await, expected_messages);
    // The three group webhooks are kept for the tenant as account events.
    let groups = account_events::Entity::find().all(&app.state.db).await.unwrap();
    let fields: Vec<&str> = groups.iter().map(|g| g.field.as_str()).collect();
    for f in ["group_lifecycle_update", "group_settings_update", "group_participants_update"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
}

#[tokio::test]
async fn an_acknowledged_webhook_survives_a_crash_before_processing() {
    use switchboard::db::DbOptions;
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database_url(dir.path()).await;
    let extra = [
        ("SWITCHBOARD_META_APP_SECRET", PLATFORM_SECRET),
        ("SWITCHBOARD_RUN_WORKERS", "false"),
        ("SWITCHBOARD_SANDBOX", "false"),
    ];
    let config = crate::helpers::test_config(dir.path(), &url, &extra);
    let state = switchboard::startup::build_state(config.clone(), true, DbOptions::default()).await.unwrap();
    let first = crate::helpers::start(state, config.clone(), tempfile::tempdir().unwrap()).await;
    let a = first.register("A", "a@a.test").await;
    first.create_account(&a.access, "1001", None).await;
    let body = envelope("1001", text_message("15551234567", "wamid.crash", "are you there", 1_700_000_000));
    assert_eq!(first.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK);
    // "Crash": the process goes away after the 200 without running any worker.
    assert_eq!(first.count(messages::Entity).await, 0);
    drop(first);

    // Restart with workers on the same database: the event is processed.
    let config2 = crate::helpers::test_config(dir.path(), &url, &[("SWITCHBOARD_META_APP_SECRET", PLATFORM_SECRET)]);
    let state2 = switchboard::startup::build_state(config2.clone(), true, DbOptions::default()).await.unwrap();
    let second = crate::helpers::start(state2, config2, dir).await;
    let m = wait_message(&second, "wamid.crash").await;
    assert_eq!(m.content["body"], "are you there");
}

#[tokio::test]
async fn database_down_means_503_and_nothing_acknowledged() {
    let app = app().await;
    let body = envelope("1001", text_message("15551234567", "wamid.down", "x", 1_700_000_000));
    app.state.writer().close_by_ref().await.unwrap();
    let res = app.post_webhook(&body, PLATFORM_SECRET).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    // Count through a new connection (on PostgreSQL the closed pool is shared).
    use sea_orm::PaginatorTrait;
    let fresh = switchboard::db::connect(app.config.database_url.expose(), &Default::default()).await.unwrap();
    assert_eq!(webhook_events::Entity::find().count(&fresh).await.unwrap(), 0);
}

#[tokio::test]
async fn sandbox_customer_messages_arrive_through_the_signed_webhook_with_media() {
    let media_dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(&[("SWITCHBOARD_MEDIA_DIR", media_dir.path().to_str().unwrap())]).await;
    let a = app.register("A", "a@a.test").await;
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let acct: Value = res.json().await.unwrap();
    assert_eq!(acct["isSandbox"], true);
    assert!(acct.get("accessToken").is_none() && acct["accessTokenLast4"].as_str().unwrap().len() == 4);
    let id = acct["id"].as_str().unwrap();

    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{id}/sandbox/messages"),
            &json!({"from": "15557654321", "name": "Sam", "message": {"type": "text", "body": "Hello from the sandbox"}}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let wamid = res.json::<Value>().await.unwrap()["waMessageId"].as_str().unwrap().to_string();
    let m = wait_message(&app, &wamid).await;
    assert_eq!(m.content["body"], "Hello from the sandbox");
    // It came through the signed webhook endpoint, stored as a raw event like Meta's.
    let phone = acct["phoneNumberId"].as_str().unwrap();
    let stored = webhook_events::Entity::find()
        .filter(webhook_events::Column::PhoneNumberId.eq(phone))
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(stored.iter().any(|e| String::from_utf8_lossy(&e.body).contains(&wamid)), "no stored webhook event");

    // An image: stored by the media job and served to the tenant only.
    use base64::Engine;
    let png = b"\x89PNG\r\n\x1a\nfake-image-bytes".to_vec();
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{id}/sandbox/messages"),
            &json!({"from": "15557654321", "message": {"type": "image", "mime_type": "image/png",
                     "data_base64": base64::engine::general_purpose::STANDARD.encode(&png), "caption": "look"}}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{:?}", res.text().await);
    let media_id = wait_for("media stored", || async {
        let all =
            messages::Entity::find().filter(messages::Column::MsgType.eq("image")).one(&app.state.db).await.unwrap();
        all.and_then(|m| m.content.get("localMediaId").and_then(Value::as_str).map(str::to_string))
    })
    .await;
    let res = app.get(&format!("/api/media/{media_id}"), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().to_vec(), png);
    // The file lives in SWITCHBOARD_MEDIA_DIR.
    fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .flat_map(|e| if e.path().is_dir() { files(&e.path()) } else { vec![e.path()] })
            .collect()
    }
    assert!(files(media_dir.path()).iter().any(|f| std::fs::read(f).unwrap() == png), "not in SWITCHBOARD_MEDIA_DIR");
    let b = app.register("B", "b@b.test").await;
    assert_error(app.get(&format!("/api/media/{media_id}"), Some(&b.access)).await, StatusCode::NOT_FOUND, "not_found")
        .await;
}

/// An app whose workers do not run, so that a test hands the stored events to one batch itself.
fn messages_from(from: &str, name: &str, items: &[(&str, &str, i64)]) -> Value {
    let msgs: Vec<Value> = items
        .iter()
        .map(|(wamid, body, ts)| {
            json!({"from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": {"body": body}})
        })
        .collect();
    json!({ "contacts": [{"profile": {"name": name}, "wa_id": from}], "messages": msgs })
}

#[tokio::test]
async fn one_batch_applies_many_messages_from_many_senders_like_one_event_at_a_time() {
    use switchboard::entities::{jobs, pending_statuses};
    let app = app_without_workers().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let t0 = 1_700_000_000;
    // 12 senders, 3 messages each, one POST per message, the newest posted first for half of them.
    for s in 0..12 {
        let from = format!("1555000{s:04}");
        let order: Vec<i64> = if s % 2 == 0 { vec![0, 1, 2] } else { vec![2, 1, 0] };
        for i in order {
            let wamid = format!("wamid.b{s}.{i}");
            let body = format!("msg {i} from {s}");
            let ev = envelope("1001", messages_from(&from, &format!("Customer {s}"), &[(&wamid, &body, t0 + i)]));
            assert_eq!(app.post_webhook(&ev, PLATFORM_SECRET).await.status(), StatusCode::OK);
        }
    }
    // One POST carrying several messages of a new sender, one of them a reply to an earlier one of
    // the batch, and one sender's message redelivered (the same POST twice) within the batch.
    let many = envelope(
        "1001",
        messages_from("15559999999", "Many", &[("wamid.m1", "first", t0 + 10), ("wamid.m2", "second", t0 + 11)]),
    );
    assert_eq!(app.post_webhook(&many, PLATFORM_SECRET).await.status(), StatusCode::OK);
    let reply = envelope(
        "1001",
        json!({"contacts": [{"profile": {"name": "Many"}, "wa_id": "15559999999"}],
               "messages": [{"from": "15559999999", "id": "wamid.m3", "timestamp": (t0 + 12).to_string(), "type": "text",
                             "text": {"body": "reply"}, "context": {"from": "15550100", "id": "wamid.m1"}}]}),
    );
    for _ in 0..2 {
        assert_eq!(app.post_webhook(&reply, PLATFORM_SECRET).await.status(), StatusCode::OK);
    }
    // A status for a message the platform does not know yet, and a STOP.
    post_statuses(&app, vec![status("wamid.unknown", "delivered", t0 + 20)]).await;
    let stop = envelope("1001", messages_from("15550000003", "Customer 3", &[("wamid.stop", "STOP", t0 + 30)]));
    assert_eq!(app.post_webhook(&stop, PLATFORM_SECRET).await.status(), StatusCode::OK);
    assert_eq!(app.count(messages::Entity).await, 0, "workers are off");

    let results = run_one_batch(&app).await;
    assert_eq!(results.len(), 36 + 1 + 2 + 1 + 1);
    for (job, r) in &results {
        assert!(matches!(r, Ok(switchboard::jobs::runner::Done::Recorded)), "job {}: {r:?}", job.id);
    }

    assert_eq!(app.count(messages::Entity).await, 36 + 3 + 1);
    assert_eq!(app.count(contacts::Entity).await, 13);
    assert_eq!(app.count(conversations::Entity).await, 13);
    let convs = conversations::Entity::find().all(&app.state.db).await.unwrap();
    for c in &convs {
        let contact = contacts::Entity::find_by_id(c.contact_id).one(&app.state.db).await.unwrap().unwrap();
        let wa = contact.wa_id.clone().unwrap();
        if wa == "15559999999" {
            assert_eq!(contact.profile_name.as_deref(), Some("Many"));
            assert_eq!(c.unread_count, 3, "the redelivered reply counts once");
            assert_eq!(c.last_message_preview.as_deref(), Some("reply"));
            assert_eq!(c.last_inbound_at.unwrap().timestamp(), t0 + 12);
        } else if wa == "15550000003" {
            assert_eq!(c.unread_count, 4);
            assert_eq!(c.last_message_preview.as_deref(), Some("STOP"));
            assert!(contact.opted_out, "STOP opts the contact out");
        } else {
            let s: i64 = wa[7..].parse().unwrap();
            assert_eq!(contact.profile_name.as_deref(), Some(format!("Customer {s}").as_str()));
            assert_eq!(c.unread_count, 3);
            // The newest message wins the preview whatever the order of arrival.
            assert_eq!(c.last_message_preview.as_deref(), Some(format!("msg 2 from {s}").as_str()));
            assert_eq!(c.last_message_at.timestamp(), t0 + 2);
            assert!(!contact.opted_out);
        }
    }
    let m3 = message_by_wamid(&app, "wamid.m3").await.unwrap();
    let m1 = message_by_wamid(&app, "wamid.m1").await.unwrap();
    assert_eq!(m3.reply_to_id, Some(m1.id), "a reply links to a message of the same batch");
    assert_eq!(m3.conversation_id, m1.conversation_id);
    assert_eq!(app.count(pending_statuses::Entity).await, 1);
    let usage = daily_usage::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(usage.iter().map(|u| u.messages_in).sum::<i64>(), 40);
    assert_eq!(usage.iter().map(|u| u.conversations_opened).sum::<i64>(), 13);
    let events = webhook_events::Entity::find().all(&app.state.db).await.unwrap();
    assert!(events.iter().all(|e| e.state == WebhookState::Processed && e.tenant_id.is_some()));
    let jobs = jobs::Entity::find()
        .filter(jobs::Column::Queue.eq(switchboard::jobs::queues::WEBHOOK_PROCESSOR))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 41);
    assert!(jobs.iter().all(|j| j.state == switchboard::entities::enums::JobState::Done));

    // Running the same events again (a replay of everything) changes nothing.
    for e in &events {
        switchboard::webhooks::processor::process_event(&app.state, e.id).await.unwrap();
    }
    assert_eq!(app.count(messages::Entity).await, 40);
    let again = daily_usage::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(again.iter().map(|u| u.messages_in).sum::<i64>(), 40);
}

#[tokio::test]
async fn a_bad_event_in_a_batch_neither_blocks_nor_poisons_the_others() {
    use switchboard::entities::enums::JobState;
    use switchboard::entities::jobs;
    let app = app_without_workers().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let t0 = 1_700_000_000;
    // A contact known by its BSUID: a later message from another number with the same BSUID is
    // the same customer on a new number (issue #13: it used to fail the batch and then die).
    let known = json!({"contacts": [{"profile": {"name": "Known"}, "wa_id": "15551110000", "user_id": "US.1"}],
        "messages": [{"from": "15551110000", "id": "wamid.k", "timestamp": t0.to_string(), "type": "text", "text": {"body": "hi"}}]});
    assert_eq!(app.post_webhook(&envelope("1001", known), PLATFORM_SECRET).await.status(), StatusCode::OK);
    let first = run_one_batch(&app).await;
    assert!(first.iter().all(|(_, r)| r.is_ok()));

    let good = |n: i64| envelope("1001", text_message(&format!("1555222{n:04}"), &format!("wamid.g{n}"), "ok", t0 + n));
    for n in 0..3 {
        app.post_webhook(&good(n), PLATFORM_SECRET).await;
    }
    let poison = json!({"contacts": [{"profile": {"name": "Impostor"}, "wa_id": "15553330000", "user_id": "US.1"}],
        "messages": [{"from": "15553330000", "id": "wamid.p", "timestamp": t0.to_string(), "type": "text", "text": {"body": "x"}}]});
    app.post_webhook(&envelope("1001", poison), PLATFORM_SECRET).await;
    // Not JSON at all, but signed: stored, then marked failed by the worker.
    assert_eq!(app.post_webhook(b"not json", PLATFORM_SECRET).await.status(), StatusCode::OK);
    for n in 3..6 {
        app.post_webhook(&good(n), PLATFORM_SECRET).await;
    }
    // The same good event twice (a redelivery) in the same failing batch.
    app.post_webhook(&good(0), PLATFORM_SECRET).await;

    let results = run_one_batch(&app).await;
    assert_eq!(results.len(), 9);
    let mut retried = 0;
    let mut dead = 0;
    for (_, r) in &results {
        match r {
            Ok(_) => {}
            Err(switchboard::jobs::Outcome::Retry { .. }) => retried += 1,
            Err(switchboard::jobs::Outcome::Dead { .. }) => dead += 1,
            Err(o) => panic!("unexpected {o:?}"),
        }
    }
    assert_eq!((retried, dead), (0, 1), "{results:?}");
    for n in 0..6 {
        assert!(message_by_wamid(&app, &format!("wamid.g{n}")).await.is_some(), "wamid.g{n}");
    }
    let p = message_by_wamid(&app, "wamid.p").await.expect("the known customer's message from a new number");
    let k = message_by_wamid(&app, "wamid.k").await.unwrap();
    assert_eq!(p.conversation_id, k.conversation_id, "one customer, one conversation");
    let c = contacts::Entity::find().filter(contacts::Column::UserId.eq("US.1")).one(&app.state.db).await.unwrap();
    assert_eq!(c.unwrap().wa_id.as_deref(), Some("15553330000"), "the contact's number is the new one");
    assert_eq!(app.count(messages::Entity).await, 8);
    let usage = daily_usage::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(usage.iter().map(|u| u.messages_in).sum::<i64>(), 8, "counted once each");
    assert_eq!(usage.iter().map(|u| u.conversations_opened).sum::<i64>(), 7, "opened once each");
    let failed = wait_event_state(&app, WebhookState::Failed).await;
    assert!(failed.last_error.unwrap().contains("unparseable"));
    let pending = webhook_events::Entity::find()
        .filter(webhook_events::Column::State.eq(WebhookState::Pending))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(pending.len(), 0, "every event reached its terminal state");
    // The dead job is recorded by the runner; here only the outcome is returned.
    let done = jobs::Entity::find()
        .filter(jobs::Column::Queue.eq(switchboard::jobs::queues::WEBHOOK_PROCESSOR))
        .filter(jobs::Column::State.eq(JobState::Done))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(done.len(), 9, "completed in the batches' transactions");
}

#[tokio::test]
async fn one_batch_applies_statuses_of_known_messages_like_one_at_a_time() {
    let app = app_without_workers().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let body = envelope("1001", text_message("15551234567", "wamid.in1", "hi", 1_700_000_000));
    assert_eq!(app.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK);
    run_one_batch(&app).await;
    let m = message_by_wamid(&app, "wamid.in1").await.expect("inbound stored");
    let (tenant, conv) = (m.tenant_id, m.conversation_id);
    let one = outbound(&app, tenant, conv, "wamid.b1").await;
    let two = outbound(&app, tenant, conv, "wamid.b2").await;
    let three = outbound(&app, tenant, conv, "wamid.b3").await;

    // One message gets read before delivered, repeated; one fails after delivered (a failure that
    // does not move it back); one fails while only sent. All in one batch, across three POSTs.
    let failed = |wamid: &str, ts: i64| {
        let mut s = status(wamid, "failed", ts);
        s["errors"] = json!([{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "gone"}}]);
        s
    };
    post_statuses(
        &app,
        vec![status("wamid.b1", "read", 1_700_000_300), status("wamid.b2", "delivered", 1_700_000_200)],
    )
    .await;
    post_statuses(
        &app,
        vec![
            status("wamid.b1", "delivered", 1_700_000_200),
            failed("wamid.b2", 1_700_000_250),
            failed("wamid.b3", 1_700_000_260),
        ],
    )
    .await;
    post_statuses(&app, vec![status("wamid.b1", "read", 1_700_000_400)]).await;
    let out = run_one_batch(&app).await;
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|(_, r)| r.is_ok()), "every job of the batch succeeded");

    let get = |id| {
        let db = app.state.db.clone();
        async move { messages::Entity::find_by_id(id).one(&db).await.unwrap().unwrap() }
    };
    let m1 = get(one).await;
    assert_eq!(m1.status, MessageStatus::Read);
    assert_eq!(m1.read_at.unwrap().timestamp(), 1_700_000_300, "the first read's time stays");
    assert_eq!(m1.delivered_at.unwrap().timestamp(), 1_700_000_200, "a late delivered still records its time");
    let m2 = get(two).await;
    assert_eq!(m2.status, MessageStatus::Delivered, "failed after delivered does not move it back");
    assert_eq!(m2.error_code, None);
    let m3 = get(three).await;
    assert_eq!(m3.status, MessageStatus::Failed);
    assert_eq!((m3.error_code, m3.error_details.as_deref()), (Some(131026), Some("gone")));
    assert!(m1.billed && m2.billed && m3.billed);
    let usage = daily_usage::Entity::find().all(&app.state.db).await.unwrap();
    let utility: i64 = usage.iter().map(|u| u.utility).sum();
    assert_eq!(utility, 3, "six priced statuses bill three messages once each");

    // A second batch with more statuses for the same messages bills nothing again.
    post_statuses(&app, vec![status("wamid.b1", "read", 1_700_000_500), status("wamid.b2", "read", 1_700_000_500)])
        .await;
    run_one_batch(&app).await;
    assert_eq!(get(two).await.status, MessageStatus::Read);
    let usage = daily_usage::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(usage.iter().map(|u| u.utility).sum::<i64>(), 3);
}

/// Overload: with processing already behind (its oldest event waited minutes), batches pause while
/// POSTs wait to be stored, so acknowledgements go first; nothing is lost, all of it is processed.
#[tokio::test]
async fn processing_that_is_behind_yields_to_acknowledgements_and_loses_nothing() {
    use sea_orm::sea_query::Expr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    // One ingest writer on PostgreSQL too, so that 32 connections keep it busy in a debug build.
    let app = Arc::new(
        spawn_app_with(&[
            ("SWITCHBOARD_META_APP_SECRET", PLATFORM_SECRET),
            ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1"),
            ("SWITCHBOARD_RUN_WORKERS", "false"),
            ("SWITCHBOARD_INGEST_WRITERS", "1"),
        ])
        .await,
    );
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let post = |app: Arc<TestApp>, n: u64| async move {
        let body = envelope("1001", text_message(&format!("1555{:07}", n % 500), &format!("wamid.ov.{n}"), "hi", 1));
        assert_eq!(app.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK);
    };
    // A backlog that arrived a minute ago and was never processed.
    for n in 0..400 {
        post(app.clone(), n).await;
    }
    webhook_events::Entity::update_many()
        .col_expr(webhook_events::Column::ReceivedAt, Expr::value(chrono::Utc::now() - chrono::TimeDelta::minutes(1)))
        .exec(app.state.writer())
        .await
        .unwrap();

    let yielded = || app.state.metrics.webhook_processing_yield_ms_total.load(Relaxed);
    assert_eq!(yielded(), 0);
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(switchboard::startup::runner(&app.state, &app.ingest).run(cancel.clone()));
    // Webhooks keep arriving from 32 connections until processing has paused for them.
    let next = Arc::new(AtomicU64::new(400));
    let stop = Arc::new(AtomicBool::new(false));
    let posters: Vec<_> = (0..32)
        .map(|_| {
            let (app, next, stop) = (app.clone(), next.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Relaxed) && next.load(Relaxed) < 3_000 {
                    post(app.clone(), next.fetch_add(1, Relaxed)).await;
                }
            })
        })
        .collect();
    wait_for("processing to yield to acknowledgements", || async { (yielded() > 0).then_some(()) }).await;
    stop.store(true, Relaxed);
    for p in posters {
        p.await.unwrap();
    }
    let total = next.load(Relaxed).min(3_000);
    assert!(total > 400);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while app.count(messages::Entity).await < total {
        assert!(std::time::Instant::now() < deadline, "not every acknowledged message was processed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.count(messages::Entity).await, total);
    cancel.cancel();
    run.await.unwrap();
}

/// An account's own app secret signs only for that account's numbers: a workspace cannot sign
/// events into another workspace's number (the platform secret, Meta's app, still can).
#[tokio::test]
async fn an_account_secret_cannot_sign_events_for_another_workspace() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    let b = app.register("B", "b@b.test").await;
    app.create_account(&a.access, "1001", Some("secret-of-a")).await;
    app.create_account(&b.access, "2002", Some("secret-of-b")).await;
    let c = app.register("C", "c@c.test").await;
    app.create_account(&c.access, "3003", None).await; // platform secret only
    let change = |phone: &str, wamid: &str| {
        let body: Value =
            serde_json::from_slice(&envelope(phone, text_message("15551234567", wamid, "hi", 1))).unwrap();
        body["entry"][0].clone()
    };
    let mixed = |other: &str| {
        serde_json::to_vec(&json!({"object": "whatsapp_business_account",
            "entry": [change("1001", &format!("wamid.own.{other}")), change(other, &format!("wamid.forged.{other}"))]}))
        .unwrap()
    };
    for other in ["2002", "3003"] {
        let res = app.post_webhook(&mixed(other), "secret-of-a").await;
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(app.count(webhook_events::Entity).await, 0);

    // A's own number with A's secret; the mixed body with the platform secret.
    let own = envelope("1001", text_message("15551234567", "wamid.own.only", "mine", 1));
    assert_eq!(app.post_webhook(&own, "secret-of-a").await.status(), StatusCode::OK);
    assert_eq!(app.post_webhook(&mixed("2002"), PLATFORM_SECRET).await.status(), StatusCode::OK);
    let forged = wait_message(&app, "wamid.forged.2002").await;
    assert_eq!(forged.tenant_id.to_string(), b.tenant_id);
    assert_eq!(wait_message(&app, "wamid.own.only").await.tenant_id.to_string(), a.tenant_id);
}

/// A WhatsApp Business Account belongs to one workspace (its WABA-level webhooks are routed by
/// its id); the same workspace may connect several of its numbers.
#[tokio::test]
async fn a_waba_belongs_to_one_workspace() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    let b = app.register("B", "b@b.test").await;
    app.create_account(&a.access, "1001", None).await; // WABA 91001
    let number = |phone: &str| {
        json!({"name": "Second", "wabaId": "91001", "phoneNumberId": phone, "displayPhoneNumber": "+1 555 0101",
               "accessToken": "EAAG-test-token-5678"})
    };
    let res = app.post("/api/whatsapp-accounts?validate=false", &number("2002"), Some(&b.access)).await;
    assert_error(res, StatusCode::CONFLICT, "waba_taken").await;
    let res = app.post("/api/whatsapp-accounts?validate=false", &number("1002"), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // A phone number id already taken is still reported as such.
    let res = app.post("/api/whatsapp-accounts?validate=false", &number("1001"), Some(&b.access)).await;
    assert_error(res, StatusCode::CONFLICT, "phone_number_taken").await;
}

/// A new message in a resolved conversation reopens that conversation (it is not a second one),
/// and UNSUBSCRIBE, the other default opt-out keyword, opts the customer out.
#[tokio::test]
async fn a_new_message_reopens_a_resolved_conversation_and_unsubscribe_opts_out() {
    let app = app().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let post = |wamid: &'static str, body: &'static str| {
        let app = &app;
        async move {
            let res = app
                .post_webhook(
                    &envelope("1001", text_message("15551234567", wamid, body, 1_700_000_000)),
                    PLATFORM_SECRET,
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            wait_message(app, wamid).await
        }
    };
    let first = post("wamid.r1", "hello").await;
    let id = first.conversation_id.to_string();
    let res = app.patch(&format!("/api/conversations/{id}"), &json!({"status": "resolved"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let c: Value = app.get(&format!("/api/conversations/{id}"), Some(&a.access)).await.json().await.unwrap();
    assert_eq!(c["status"], "resolved");

    let second = post("wamid.r2", "unsubscribe").await;
    assert_eq!(second.conversation_id, first.conversation_id);
    let c: Value = app.get(&format!("/api/conversations/{id}"), Some(&a.access)).await.json().await.unwrap();
    assert_eq!(c["status"], "open", "{c}");
    assert!(c["resolvedAt"].is_null(), "{c}");
    assert_eq!(app.count(conversations::Entity).await, 1);
    let contact = contacts::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert!(contact.opted_out, "UNSUBSCRIBE is a default opt-out keyword");
}

/// PostgreSQL commits a batch's new conversations outside its transaction. When the batch then
/// fails, its one-event-at-a-time fallback finds those conversations already there and must still
/// treat them as opened (here: auto-assigned). The failure is injected once by a trigger on the
/// batch's first update of `webhook_events` (a sequence, so the rollback does not undo the count).
#[tokio::test]
async fn conversations_created_by_a_failed_batch_are_opened_by_its_fallback() {
    use sea_orm::ConnectionTrait;
    let app = app_without_workers().await;
    if !app.config.is_postgres() {
        eprintln!("skipped: SQLite creates conversations inside the batch's transaction");
        return;
    }
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    let res = app.patch("/api/settings", &json!({"autoAssign": true}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.patch("/api/agents/me", &json!({"status": "online"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    for sql in [
        "CREATE SEQUENCE fail_once_seq",
        "CREATE FUNCTION fail_once() RETURNS trigger AS $$ BEGIN \
         IF nextval('fail_once_seq') = 1 THEN RAISE EXCEPTION 'injected batch failure'; END IF; \
         RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER fail_once BEFORE UPDATE ON webhook_events FOR EACH STATEMENT EXECUTE FUNCTION fail_once()",
    ] {
        app.state.db.execute_unprepared(sql).await.unwrap();
    }
    for n in 0..3 {
        let body = envelope("1001", text_message(&format!("1555444{n:04}"), &format!("wamid.f{n}"), "hello", 1));
        assert_eq!(app.post_webhook(&body, PLATFORM_SECRET).await.status(), StatusCode::OK);
    }
    let results = run_one_batch(&app).await;
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    let seq = app.state.db.query_one_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT last_value FROM fail_once_seq",
    ));
    let fired: i64 = seq.await.unwrap().unwrap().try_get("", "last_value").unwrap();
    assert!(fired >= 2, "the batch did not fail and fall back (trigger ran {fired} time(s))");
    let convs = conversations::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(convs.len(), 3);
    for c in convs {
        assert_eq!(c.assignee_id.map(|u| u.to_string()), Some(a.user_id.clone()), "conversation {} not opened", c.id);
    }
}

#[tokio::test]
async fn a_status_whose_wamid_the_sender_recorded_meanwhile_is_applied_not_parked() {
    // The race on PostgreSQL: a status batch looks its wamid up (not there yet), the sender then
    // commits the wamid, and the batch falls back to the callback data. The message must be found
    // by its id with that wamid, not only while its wamid is still empty — else the status is
    // parked as pending after the sender's one look at pending statuses, and never applies.
    use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
    let app = app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    app.create_account(&a.access, "1001", None).await;
    app.inbound_conversation("1001", PLATFORM_SECRET, "15550000001", "wamid.race1").await;
    // Stand-in for an outbound message the sender has just recorded with its wamid.
    let m = message_by_wamid(&app, "wamid.race1").await.unwrap();
    let mut am: messages::ActiveModel = m.clone().into();
    am.direction = Set(switchboard::entities::enums::Direction::Outbound);
    let m = am.update(&app.state.db).await.unwrap();
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": "1001"},
        "statuses": [{"id": "wamid.race1", "status": "failed", "timestamp": "1", "recipient_id": "15550000001",
                      "biz_opaque_callback_data": m.id.to_string(),
                      "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}}]}]});
    let parsed = meta_cloud::webhook::WebhookPayload::from_value(payload).unwrap();
    let status = parsed.statuses().next().unwrap().clone();
    let txn = app.state.writer().begin().await.unwrap();
    let found =
        switchboard::messages::status::reconcile_by_callback(&txn, switchboard::ids::TenantId(m.tenant_id), &status)
            .await
            .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(found.map(|f| f.id), Some(m.id), "found by its id and the wamid already recorded");
    // A callback naming another message with a different wamid is still not that message.
    let mut other = status.clone();
    other.id = "wamid.someone-else".into();
    let txn = app.state.writer().begin().await.unwrap();
    let found =
        switchboard::messages::status::reconcile_by_callback(&txn, switchboard::ids::TenantId(m.tenant_id), &other)
            .await
            .unwrap();
    assert!(found.is_none());
}
