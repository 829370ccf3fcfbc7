//! The team inbox end to end: customer → webhook → stream → agent reply → meta-sim → statuses.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use switchboard::entities::enums::{AccountStatus, MessageStatus, Role, TenantStatus};
use switchboard::entities::{contacts, conversations, messages, templates, tenants, whatsapp_accounts};

use crate::helpers::{Account, TestApp, assert_error, spawn_app_with, wait_for};

#[path = "../../../meta-cloud/tests/common/spec_check.rs"]
mod spec_check;

struct Inbox {
    app: TestApp,
    admin: Account,
    account_id: String,
    phone_number_id: String,
}

impl Inbox {
    fn sim(&self) -> &meta_sim::MetaSim {
        &self.app.state.sandbox.as_ref().unwrap().sim
    }

    /// A simulated customer writes; returns the conversation id once stored.
    async fn customer_says(&self, from: &str, text: &str) -> String {
        let res = self
            .app
            .post(
                &format!("/api/whatsapp-accounts/{}/sandbox/messages", self.account_id),
                &json!({"from": from, "name": "Customer", "message": {"type": "text", "body": text}}),
                Some(&self.admin.access),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let wamid = res.json::<Value>().await.unwrap()["waMessageId"].as_str().unwrap().to_string();
        let m = wait_for("inbound message", || async {
            messages::Entity::find()
                .filter(messages::Column::WaMessageId.eq(wamid.as_str()))
                .one(&self.app.state.db)
                .await
                .unwrap()
        })
        .await;
        m.conversation_id.to_string()
    }

    async fn reply(&self, conv: &str, body: Value, token: &str) -> reqwest::Response {
        self.app.post(&format!("/api/conversations/{conv}/messages"), &body, Some(token)).await
    }

    async fn message(&self, id: &str) -> messages::Model {
        messages::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap()).one(&self.app.state.db).await.unwrap().unwrap()
    }

    async fn wait_status(&self, id: &str, s: MessageStatus) -> messages::Model {
        wait_for("message status", || async {
            let m = self.message(id).await;
            // Statuses move fast: "delivered" is reached when the message is already read.
            let reached = m.status == s
                || (s == MessageStatus::Delivered && matches!(m.status, MessageStatus::Read | MessageStatus::Played));
            reached.then_some(m)
        })
        .await
    }

    /// An APPROVED template matching meta-sim's seeded `hello_world`.
    async fn approved_template(&self, name: &str, category: &str, status: &str) {
        let now = switchboard::db::now();
        templates::ActiveModel {
            id: Set(switchboard::db::new_id()),
            tenant_id: Set(self.admin.tenant_id.parse().unwrap()),
            whatsapp_account_id: Set(self.account_id.parse().unwrap()),
            name: Set(name.into()),
            language: Set("en_US".into()),
            category: Set(category.into()),
            status: Set(status.into()),
            components: Set(json!([{"type": "BODY", "text": "Hello World"}])),
            meta_template_id: Set(None),
            rejection_reason: Set(None),
            quality_score: Set(None),
            status_details: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.app.state.writer())
        .await
        .unwrap();
    }
}

async fn inbox_with(extra: &[(&str, &str)]) -> Inbox {
    let app = spawn_app_with(extra).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let acct: Value = res.json().await.unwrap();
    Inbox {
        account_id: acct["id"].as_str().unwrap().into(),
        phone_number_id: acct["phoneNumberId"].as_str().unwrap().into(),
        app,
        admin,
    }
}

async fn inbox() -> Inbox {
    inbox_with(&[]).await
}

#[tokio::test]
async fn customer_to_agent_and_back_with_statuses_on_the_stream() {
    let ib = inbox().await;
    let mut stream = ib.app.subscribe(&ib.admin.access, None).await;
    let conv = ib.customer_says("15551230001", "Hi, where is my order?").await;

    let created = stream.expect("message.created", |d| d["direction"] == "inbound").await;
    assert_eq!(created.data["content"]["body"], "Hi, where is my order?");
    stream.expect("conversation.updated", |d| d["conversationId"] == conv.as_str() || d["id"] == conv.as_str()).await;

    let list: Value = ib.app.get("/api/conversations", Some(&ib.admin.access)).await.json().await.unwrap();
    let c = &list["data"][0];
    assert_eq!(c["id"], conv.as_str());
    assert_eq!(c["unreadCount"], 1);
    assert_eq!(c["window"]["open"], true);
    assert!(c["window"]["expiresAt"].is_string());
    assert_eq!(c["contact"]["waId"], "15551230001");
    assert_eq!(c["lastMessagePreview"], "Hi, where is my order?");

    let res = ib.reply(&conv, json!({"type": "text", "text": {"body": "On its way! 🚚"}}), &ib.admin.access).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let queued: Value = res.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    let id = queued["id"].as_str().unwrap().to_string();

    // meta-sim received one request, and it validates against Meta's OpenAPI spec.
    let sent = wait_for("sim received the send", || async {
        let s = ib.sim().sent_messages(&ib.phone_number_id);
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(sent.len(), 1);
    let body = serde_json::to_value(&sent[0]).unwrap();
    let request = body.get("body").or(body.get("request")).cloned().unwrap_or(body.clone());
    let errors = spec_check::spec_errors(&request);
    assert!(errors.is_empty(), "request {request} violates Meta's spec: {errors:?}");
    assert_eq!(request["to"], "15551230001");
    assert_eq!(request["text"]["body"], "On its way! 🚚");

    // Collect this message's status events until every lifecycle step has reached the stream
    // (webhooks may be applied in any order: "delivered" can arrive after "read").
    let mut seen: Vec<(String, String)> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let has = |seen: &[(String, String)], s: &str| seen.iter().any(|(r, st)| r == s || st == s);
    while !["sent", "delivered", "read"].iter().all(|s| has(&seen, s)) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let e = stream.next(left).await.unwrap_or_else(|| panic!("status events so far: {seen:?}"));
        if e.kind == "message.status" && e.data["messageId"] == id.as_str() {
            seen.push((
                e.data["reported"].as_str().unwrap_or("").into(),
                e.data["status"].as_str().unwrap_or("").into(),
            ));
        }
    }
    let m = ib.wait_status(&id, MessageStatus::Read).await;
    assert!(m.wa_message_id.is_some() && m.sent_at.is_some() && m.delivered_at.is_some() && m.read_at.is_some());

    // The thread lists both messages, newest first, and mark-read clears the badge.
    let page: Value =
        ib.app.get(&format!("/api/conversations/{conv}/messages"), Some(&ib.admin.access)).await.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["direction"], "outbound");
    let read: Value = ib
        .app
        .post(&format!("/api/conversations/{conv}/read"), &json!({}), Some(&ib.admin.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["unreadCount"], 0);
    wait_for("read receipt at Meta", || async {
        (!ib.sim().marked_read(&ib.phone_number_id).is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_same_idempotency_key_sends_once() {
    let ib = inbox().await;
    let conv = ib.customer_says("15551230002", "hello").await;
    let send = || async {
        ib.app
            .client
            .post(ib.app.url(&format!("/api/conversations/{conv}/messages")))
            .bearer_auth(&ib.admin.access)
            .header("idempotency-key", "reply-42")
            .json(&json!({"type": "text", "text": {"body": "once"}}))
            .send()
            .await
            .unwrap()
    };
    let first = send().await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let second = send().await;
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    ib.wait_status(first["id"].as_str().unwrap(), MessageStatus::Read).await;
    assert_eq!(ib.sim().sent_messages(&ib.phone_number_id).len(), 1);
}

#[tokio::test]
async fn send_rules_window_opt_out_templates_quota_and_suspension() {
    let ib = inbox().await;
    let conv = ib.customer_says("15551230003", "hi").await;
    let conv_id: uuid::Uuid = conv.parse().unwrap();
    ib.approved_template("hello_world", "UTILITY", "APPROVED").await;
    ib.approved_template("promo", "MARKETING", "APPROVED").await;
    ib.approved_template("draft", "UTILITY", "PENDING").await;

    // Validation names the field.
    let res = ib.reply(&conv, json!({"type": "text", "text": {"body": ""}}), &ib.admin.access).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = ib.reply(&conv, json!({"type": "fax"}), &ib.admin.access).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // Outside the 24-hour window: text refused, template accepted.
    let c = conversations::Entity::find_by_id(conv_id).one(&ib.app.state.db).await.unwrap().unwrap();
    let mut am: conversations::ActiveModel = c.into();
    am.last_inbound_at = Set(Some(switchboard::db::now() - chrono::Duration::hours(25)));
    am.update(ib.app.state.writer()).await.unwrap();
    let res = ib.reply(&conv, json!({"type": "text", "text": {"body": "late"}}), &ib.admin.access).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "window_closed").await;
    let res = ib
        .reply(
            &conv,
            json!({"type": "template", "template": {"name": "hello_world", "language": "en_US"}}),
            &ib.admin.access,
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let tpl: Value = res.json().await.unwrap();
    ib.wait_status(tpl["id"].as_str().unwrap(), MessageStatus::Delivered).await;

    // A template that is not approved, or unknown.
    let res = ib
        .reply(&conv, json!({"type": "template", "template": {"name": "draft", "language": "en_US"}}), &ib.admin.access)
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "template_not_approved").await;
    let res = ib
        .reply(&conv, json!({"type": "template", "template": {"name": "nope", "language": "en_US"}}), &ib.admin.access)
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // Opted out: marketing refused, utility still allowed.
    let k = contacts::Entity::find().one(&ib.app.state.db).await.unwrap().unwrap();
    let mut km: contacts::ActiveModel = k.into();
    km.opted_out = Set(true);
    km.update(ib.app.state.writer()).await.unwrap();
    let res = ib
        .reply(&conv, json!({"type": "template", "template": {"name": "promo", "language": "en_US"}}), &ib.admin.access)
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "opted_out").await;

    // Quota: the plan's monthly messages are used up.
    let tid: uuid::Uuid = ib.admin.tenant_id.parse().unwrap();
    let t = tenants::Entity::find_by_id(tid).one(&ib.app.state.db).await.unwrap().unwrap();
    let mut tm: tenants::ActiveModel = t.clone().into();
    tm.limit_monthly_messages = Set(1);
    tm.update(ib.app.state.writer()).await.unwrap();
    let res = ib
        .reply(
            &conv,
            json!({"type": "template", "template": {"name": "hello_world", "language": "en_US"}}),
            &ib.admin.access,
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "quota_exceeded").await;

    // Suspended tenant: sends are refused (signing in is too, but this token is still valid).
    let t = tenants::Entity::find_by_id(tid).one(&ib.app.state.db).await.unwrap().unwrap();
    let mut tm: tenants::ActiveModel = t.into();
    tm.limit_monthly_messages = Set(1000);
    tm.status = Set(TenantStatus::Suspended);
    tm.update(ib.app.state.writer()).await.unwrap();
    let res = ib
        .reply(
            &conv,
            json!({"type": "template", "template": {"name": "hello_world", "language": "en_US"}}),
            &ib.admin.access,
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "tenant_suspended").await;
}

#[tokio::test]
async fn starting_a_conversation_with_a_template() {
    let ib = inbox().await;
    ib.approved_template("hello_world", "UTILITY", "APPROVED").await;
    let res = ib
        .app
        .post(
            "/api/messages",
            &json!({"whatsappAccountId": ib.account_id, "to": "+1 555 123 0009", "type": "template",
                    "template": {"name": "hello_world", "language": "en_US"}}),
            Some(&ib.admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let m: Value = res.json().await.unwrap();
    ib.wait_status(m["id"].as_str().unwrap(), MessageStatus::Read).await;
    let sent = ib.sim().sent_messages(&ib.phone_number_id);
    let req = serde_json::to_value(&sent[0]).unwrap();
    let req = req.get("body").cloned().unwrap_or(req);
    assert_eq!(req["to"], "15551230009");
    assert!(spec_check::spec_errors(&req).is_empty());
    // A free-form text to someone who never wrote: window closed.
    let res = ib
        .app
        .post(
            "/api/messages",
            &json!({"whatsappAccountId": ib.account_id, "to": "15551230010", "type": "text", "text": {"body": "hi"}}),
            Some(&ib.admin.access),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "window_closed").await;
    let res = ib
        .app
        .post(
            "/api/messages",
            &json!({"whatsappAccountId": ib.account_id, "to": "12", "type": "text", "text": {"body": "x"}}),
            Some(&ib.admin.access),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn rate_limited_sends_are_retried_and_permanent_errors_fail_visibly() {
    let ib = inbox().await;
    let conv = ib.customer_says("15551230004", "hi").await;
    ib.sim().inject_failures(&ib.phone_number_id, 2, 130429);
    let res = ib.reply(&conv, json!({"type": "text", "text": {"body": "retry me"}}), &ib.admin.access).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    ib.wait_status(&id, MessageStatus::Read).await;
    let stats = serde_json::to_value(ib.sim().stats()).unwrap();
    assert!(stats.to_string().contains("130429"), "the sim refused twice: {stats}");
    assert_eq!(ib.sim().sent_messages(&ib.phone_number_id).len(), 1, "accepted once");

    ib.sim().inject_failures(&ib.phone_number_id, 1, 131026);
    let res = ib.reply(&conv, json!({"type": "text", "text": {"body": "undeliverable"}}), &ib.admin.access).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let m = ib.wait_status(&id, MessageStatus::Failed).await;
    assert_eq!(m.error_code, Some(131026));
    assert!(m.error_title.is_some());
}

#[tokio::test]
async fn rejected_credentials_pause_the_number_until_new_ones_arrive() {
    let ib = inbox().await;
    let mut stream = ib.app.subscribe(&ib.admin.access, None).await;
    let conv = ib.customer_says("15551230005", "hi").await;
    ib.sim().inject_failures(&ib.phone_number_id, 1, 190);
    let res = ib.reply(&conv, json!({"type": "text", "text": {"body": "after reauth"}}), &ib.admin.access).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    stream.expect("account.needs_reauth", |d| d["whatsappAccountId"] == ib.account_id.as_str()).await;
    let acct = whatsapp_accounts::Entity::find().one(&ib.app.state.db).await.unwrap().unwrap();
    assert_eq!(acct.status, AccountStatus::NeedsReauth);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ib.message(&id).await.status, MessageStatus::Queued, "waits, not failed");

    // The admin re-enters the token: the number is active again and the message goes out.
    let token = ib.sim().numbers().into_iter().next().unwrap().access_token;
    let res = ib
        .app
        .patch(
            &format!("/api/whatsapp-accounts/{}", ib.account_id),
            &json!({"accessToken": token}),
            Some(&ib.admin.access),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "active");
    wait_for("sent after reauth", || async { (ib.message(&id).await.wa_message_id.is_some()).then_some(()) }).await;
}

#[tokio::test]
async fn pacing_keeps_a_number_under_meta_throughput() {
    let ib = inbox().await;
    // Meta (the sim) allows 10/s on this number; Switchboard is told the same.
    let numbers = ib.sim().numbers();
    ib.sim().register_number(numbers[0].clone().with_throughput(10));
    ib.app
        .patch(
            &format!("/api/whatsapp-accounts/{}", ib.account_id),
            &json!({"throughputMps": 10}),
            Some(&ib.admin.access),
        )
        .await;
    let mut convs = Vec::new();
    for i in 0..8 {
        convs.push(ib.customer_says(&format!("1555124{i:04}"), "hi").await);
    }
    let mut ids = Vec::new();
    for round in 0..3 {
        for c in &convs {
            let res = ib
                .reply(c, json!({"type": "text", "text": {"body": format!("burst {round}")}}), &ib.admin.access)
                .await;
            ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
        }
    }
    for id in &ids {
        wait_for("sent", || async { ib.message(id).await.wa_message_id.is_some().then_some(()) }).await;
    }
    let stats = serde_json::to_value(ib.sim().stats()).unwrap();
    assert!(!stats.to_string().contains("130429"), "no throughput errors: {stats}");
}

#[tokio::test]
async fn agents_see_their_own_and_unassigned_conversations() {
    let ib = inbox().await;
    let agent = ib.app.user_with_role(&ib.admin.tenant_id, "agent@acme.test", Role::Agent).await;
    let mut agent_stream = ib.app.subscribe(&agent, None).await;
    let c1 = ib.customer_says("15551230006", "unassigned one").await;
    let c2 = ib.customer_says("15551230007", "for the admin").await;
    let res = ib
        .app
        .patch(&format!("/api/conversations/{c2}"), &json!({"assigneeId": ib.admin.user_id}), Some(&ib.admin.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let list: Value = ib.app.get("/api/conversations", Some(&agent)).await.json().await.unwrap();
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![c1.as_str()]);
    assert_error(
        ib.app.get(&format!("/api/conversations/{c2}"), Some(&agent)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        ib.reply(&c2, json!({"type": "text", "text": {"body": "x"}}), &agent).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // The stream: the agent hears about c1 but not about the admin's c2.
    ib.customer_says("15551230007", "again for the admin").await;
    ib.customer_says("15551230006", "again unassigned").await;
    let e = agent_stream.expect("message.created", |d| d["content"]["body"] == "again unassigned").await;
    assert_eq!(e.data["conversationId"], c1.as_str());
    while let Some(e) = agent_stream.next(Duration::from_millis(300)).await {
        assert_ne!(e.data["content"]["body"], "again for the admin", "leaked to the agent");
    }

    // Filters: mine / none / status.
    ib.app
        .patch(
            &format!("/api/conversations/{c1}"),
            &json!({"assigneeId": null, "status": "resolved"}),
            Some(&ib.admin.access),
        )
        .await;
    let mine: Value = ib.app.get("/api/conversations?assignee=me", Some(&ib.admin.access)).await.json().await.unwrap();
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    let resolved: Value =
        ib.app.get("/api/conversations?status=resolved", Some(&ib.admin.access)).await.json().await.unwrap();
    assert_eq!(resolved["data"][0]["id"], c1.as_str());
    assert!(resolved["data"][0]["resolvedAt"].is_string());
    let searched: Value =
        ib.app.get("/api/conversations?search=15551230007", Some(&ib.admin.access)).await.json().await.unwrap();
    assert_eq!(searched["data"][0]["id"], c2.as_str());
    let res = ib
        .app
        .patch(
            &format!("/api/conversations/{c1}"),
            &json!({"assigneeId": uuid::Uuid::new_v4()}),
            Some(&ib.admin.access),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = ib.app.get("/api/conversations?status=bogus", Some(&ib.admin.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn stream_resumes_after_last_event_id_without_a_gap() {
    let ib = inbox().await;
    let mut s1 = ib.app.subscribe(&ib.admin.access, None).await;
    ib.customer_says("15551230008", "one").await;
    let first = s1.expect("message.created", |d| d["content"]["body"] == "one").await;
    drop(s1);
    ib.customer_says("15551230008", "two").await;
    let mut s2 = ib.app.subscribe(&ib.admin.access, first.id.as_deref()).await;
    let e = s2.expect("message.created", |_| true).await;
    assert_eq!(e.data["content"]["body"], "two", "the missed event is replayed first");
}

#[tokio::test]
async fn other_tenants_get_404_on_every_conversation_route() {
    let ib = inbox().await;
    let conv = ib.customer_says("15551230011", "private").await;
    let b = ib.app.register("Other", "b@other.test").await;
    for (method, path) in [
        ("GET", format!("/api/conversations/{conv}")),
        ("PATCH", format!("/api/conversations/{conv}")),
        ("POST", format!("/api/conversations/{conv}/read")),
        ("GET", format!("/api/conversations/{conv}/messages")),
        ("POST", format!("/api/conversations/{conv}/messages")),
    ] {
        let res = match method {
            "GET" => ib.app.get(&path, Some(&b.access)).await,
            "PATCH" => ib.app.patch(&path, &json!({"status": "resolved"}), Some(&b.access)).await,
            _ => ib.app.post(&path, &json!({"type": "text", "text": {"body": "x"}}), Some(&b.access)).await,
        };
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = ib
        .app
        .post(
            "/api/messages",
            &json!({"whatsappAccountId": ib.account_id, "to": "15550000000", "type": "text", "text": {"body": "x"}}),
            Some(&b.access),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let list: Value = ib.app.get("/api/conversations", Some(&b.access)).await.json().await.unwrap();
    assert!(list["data"].as_array().unwrap().is_empty());
    // B's stream carries none of A's events.
    let mut sb = ib.app.subscribe(&b.access, None).await;
    ib.customer_says("15551230011", "still private").await;
    assert!(sb.next(Duration::from_millis(500)).await.is_none());
    let billing = ib.app.user_with_role(&ib.admin.tenant_id, "bill@acme.test", Role::BillingAdmin).await;
    assert_error(ib.app.get("/api/conversations", Some(&billing)).await, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn media_upload_and_send() {
    let ib = inbox().await;
    let conv = ib.customer_says("15551230012", "send me the menu").await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"%PDF-1.4 menu".to_vec())
            .file_name("menu.pdf")
            .mime_str("application/pdf")
            .unwrap(),
    );
    let res = ib
        .app
        .client
        .post(ib.app.url("/api/media"))
        .bearer_auth(&ib.admin.access)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let up: Value = res.json().await.unwrap();
    let res = ib
        .reply(&conv, json!({"type": "document", "document": {"localMediaId": up["id"], "filename": "menu.pdf", "caption": "Our menu"}}), &ib.admin.access)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    ib.wait_status(&id, MessageStatus::Delivered).await;
    let sent = serde_json::to_value(&ib.sim().sent_messages(&ib.phone_number_id)[0]).unwrap();
    let req = sent.get("body").cloned().unwrap_or(sent);
    assert!(req["document"]["id"].is_string(), "uploaded to Meta first: {req}");
    assert!(spec_check::spec_errors(&req).is_empty());
    let bad = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"MZ".to_vec())
            .file_name("x.exe")
            .mime_str("application/x-msdownload")
            .unwrap(),
    );
    let res =
        ib.app.client.post(ib.app.url("/api/media")).bearer_auth(&ib.admin.access).multipart(bad).send().await.unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn two_nodes_share_one_rate_budget_through_redis() {
    let Ok(url) = std::env::var("SWITCHBOARD_TEST_REDIS_URL") else {
        eprintln!("SWITCHBOARD_TEST_REDIS_URL not set: the shared-budget check runs in .ci/run");
        return;
    };
    let client = redis::Client::open(url.as_str()).unwrap();
    let node_a =
        switchboard::ratelimit::Limiter::Redis(redis::aio::ConnectionManager::new(client.clone()).await.unwrap());
    let node_b = switchboard::ratelimit::Limiter::Redis(redis::aio::ConnectionManager::new(client).await.unwrap());
    let key = format!("test:{}", uuid::Uuid::new_v4());
    let rate = switchboard::ratelimit::Rate::per_second(20.0).burst(1);
    let start = std::time::Instant::now();
    let (mut a, mut b) = (0, 0);
    let mut turn = 0u32;
    while start.elapsed() < Duration::from_millis(1000) {
        // Alternate who asks first, so neither node always wins the next free cell.
        turn += 1;
        let (first, second) = if turn.is_multiple_of(2) { (&node_a, &node_b) } else { (&node_b, &node_a) };
        let (got_first, got_second) =
            (first.acquire(&key, rate).await.is_ok(), second.acquire(&key, rate).await.is_ok());
        let (got_a, got_b) = if turn.is_multiple_of(2) { (got_first, got_second) } else { (got_second, got_first) };
        a += got_a as u32;
        b += got_b as u32;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let total = a + b;
    assert!((19..=22).contains(&total), "one budget of ~20/s for both nodes, got {a} + {b}");
    assert!(a > 0 && b > 0, "both nodes drew from it");
}

#[tokio::test]
async fn two_nodes_share_the_event_stream_through_redis() {
    let Ok(url) = std::env::var("SWITCHBOARD_TEST_REDIS_URL") else {
        eprintln!("SWITCHBOARD_TEST_REDIS_URL not set: the two-node stream check runs in .ci/run");
        return;
    };
    let extra = [("SWITCHBOARD_REDIS_URL", url.as_str()), ("SWITCHBOARD_SANDBOX", "false")];
    let node_a = spawn_app_with(&extra).await;
    let node_b = spawn_app_with(&extra).await;
    let user = node_b.register("B", "b@b.test").await;
    let mut stream = node_b.subscribe(&user.access, None).await;
    // Something happens on node A for B's tenant: node B's subscriber hears it.
    let marker = uuid::Uuid::new_v4();
    node_a.state.events.publish(switchboard::events::DomainEvent::new(
        user.tenant_id.parse().unwrap(),
        switchboard::events::Event::ConversationUpdated(switchboard::events::ConversationUpdated {
            id: marker,
            conversation_id: marker,
            contact_id: marker,
            whatsapp_account_id: marker,
            status: switchboard::entities::enums::ConversationStatus::Open,
            assignee_id: None,
            previous_assignee_id: None,
            opened: false,
        }),
    ));
    let e = stream.expect("conversation.updated", |d| d["id"] == marker.to_string()).await;
    assert_eq!(e.kind, "conversation.updated");
    let health: Value = node_a.get("/api/health", None).await.json().await.unwrap();
    assert_eq!(health["redis"]["status"], "ok");
}
