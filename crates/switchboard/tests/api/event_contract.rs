//! Domain events are a typed contract (issue #15): every kind has one payload shape, published in
//! the OpenAPI document (components, `x-events`, and the 3.1 `webhooks` section for outgoing
//! webhooks). The payloads the app produces validate against those schemas — samples of every
//! kind with empty and full optional fields, and the real events of a conversation on the
//! `/api/events` stream and in outgoing webhook deliveries.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::entities::enums::{AgentStatus, ConversationStatus, Direction, MessageStatus};
use switchboard::events::*;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app_with, wait_for};

/// A validator for `#/components/schemas/{name}` of the app's own document.
fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let schema = json!({"$ref": format!("#/components/schemas/{name}"), "components": doc["components"]});
    jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("schema {name}: {e}"))
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path())).collect()
}

/// The schema of an event kind, from the document's `x-events`.
fn kind_validator(doc: &Value, kind: &str) -> jsonschema::Validator {
    let r = doc["x-events"][kind]["$ref"].as_str().unwrap_or_else(|| panic!("{kind} not in x-events"));
    validator(doc, r.trim_start_matches("#/components/schemas/"))
}

fn samples() -> Vec<Event> {
    let (id, now) = (Uuid::new_v4(), switchboard::db::now());
    let err = Some(MessageError { code: Some(131050), title: Some("t".into()), details: Some("d".into()) });
    let msg = |full: bool| MessageDto {
        id,
        conversation_id: id,
        direction: if full { Direction::Outbound } else { Direction::Inbound },
        msg_type: "text".into(),
        content: json!({"body": "hi"}),
        status: MessageStatus::Received,
        wa_message_id: full.then(|| "wamid.1".into()),
        client_message_id: full.then(|| "c1".into()),
        reply_to_id: full.then_some(id),
        reply_to_wa_message_id: full.then(|| "wamid.0".into()),
        reply_to_from: full.then(|| "1555".into()),
        origin: full.then(|| "business_app".into()),
        error: if full { err.clone() } else { None },
        sender_user_id: full.then_some(id),
        sent_at: full.then_some(now),
        delivered_at: full.then_some(now),
        read_at: full.then_some(now),
        failed_at: full.then_some(now),
        created_at: now,
    };
    let contact = |full: bool| ContactDto {
        id,
        wa_id: full.then(|| "1555".into()),
        user_id: full.then(|| "US.1".into()),
        profile_name: full.then(|| "P".into()),
        username: full.then(|| "u".into()),
        name: full.then(|| "N".into()),
        opted_out: full,
        opted_out_at: full.then_some(now),
        opt_out_source: full.then(|| "keyword".into()),
        tags: if full { vec!["vip".into()] } else { vec![] },
        attributes: json!({"a": 1}),
        created_at: now,
        updated_at: now,
    };
    let mut out = Vec::new();
    for full in [false, true] {
        out.push(Event::MessageCreated(msg(full)));
        out.push(Event::MessageStatus(MessageStatusChanged {
            message_id: id,
            conversation_id: id,
            status: MessageStatus::Failed,
            reported: full.then_some(MessageStatus::Read),
            wa_message_id: full.then(|| "wamid.1".into()),
            error: if full { err.clone() } else { None },
        }));
        out.push(Event::MessageMedia(MessageMedia { message_id: id, media_id: id }));
        out.push(Event::ConversationUpdated(ConversationUpdated {
            id,
            conversation_id: id,
            contact_id: id,
            whatsapp_account_id: id,
            status: ConversationStatus::Resolved,
            assignee_id: full.then_some(id),
            previous_assignee_id: full.then_some(id),
            opened: full,
        }));
        out.push(Event::ContactUpdated(ContactUpdated { contact_id: id, opted_out: full, contact: contact(full) }));
        out.push(Event::NoteCreated(NoteDto {
            id,
            conversation_id: id,
            author_user_id: full.then_some(id),
            author_name: full.then(|| "A".into()),
            body: "b".into(),
            created_at: now,
        }));
        out.push(Event::AgentStatus(AgentStatusChanged { agent_id: id, user_id: id, status: AgentStatus::Away }));
        out.push(Event::AccountNeedsReauth(AccountNeedsReauth {
            whatsapp_account_id: id,
            phone_number_id: "1".into(),
            error: "190".into(),
        }));
        out.push(Event::AccountUpdated(AccountUpdated {
            whatsapp_account_id: id,
            quality_rating: full.then(|| "GREEN".into()),
            messaging_limit: full.then(|| "TIER_1K".into()),
        }));
        out.push(Event::AccountEvent(AccountEvent {
            whatsapp_account_id: id,
            field: "calls".into(),
            payload: json!({"calls": []}),
        }));
        out.push(Event::TemplateUpdated(TemplateUpdated {
            whatsapp_account_id: full.then_some(id),
            template_ids: if full { vec![id] } else { vec![] },
            meta_template_id: full.then(|| "1".into()),
            status: full.then(|| "APPROVED".into()),
            deleted: full,
        }));
        out.push(Event::WebhookEndpointDisabled(WebhookEndpointDisabled {
            id,
            url: "https://x.test".into(),
            reason: "r".into(),
        }));
        out.push(Event::CampaignProgress(CampaignProgress {
            id,
            recipients: 25,
            pending: if full { 0 } else { 5 },
            skipped: 2,
            failed_before_send: 0,
            queued: 3,
            sent: 5,
            delivered: 5,
            read: 5,
            failed: 0,
            limited_by_meta: 0,
        }));
        out.push(Event::CampaignUpdated(CampaignUpdated {
            id,
            name: "Spring sale".into(),
            state: switchboard::entities::enums::CampaignState::Paused,
            state_reason: full.then(|| "held by Meta: the template is PAUSED".into()),
        }));
    }
    out
}

#[tokio::test]
async fn every_kind_is_published_and_its_payloads_validate() {
    let app = spawn_app_with(&[]).await;
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    let samples = samples();
    let covered: std::collections::HashSet<&str> = samples.iter().map(Event::kind).collect();
    for (kind, _) in KINDS {
        assert!(covered.contains(kind), "no sample of {kind}");
    }
    for e in &samples {
        let v = kind_validator(&doc, e.kind());
        let errs = errors(&v, &e.data());
        assert!(errs.is_empty(), "{}: {errs:?}\n{}", e.kind(), e.data());
        // The payload reads back as the same event (the Redis relay between nodes).
        let wire = serde_json::to_value(DomainEvent::new(Uuid::nil(), e.clone())).unwrap();
        assert_eq!(serde_json::from_value::<DomainEvent>(wire).unwrap().event, *e);
    }
    // Outgoing webhooks: one entry per public type, its `data` the kind's payload.
    for (public, kind) in PUBLIC_TYPES {
        let schema = &doc["webhooks"][public]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(schema["properties"]["type"]["const"], *public);
        let r = doc["x-events"][kind]["$ref"].as_str().unwrap();
        assert_eq!(schema["properties"]["data"]["$ref"], r, "{public}");
    }
}

/// A receiver for outgoing webhooks: every body it got.
async fn receiver() -> (Arc<Mutex<Vec<Value>>>, String) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (got, url)
}

#[tokio::test]
async fn the_stream_and_outgoing_webhooks_send_what_the_document_says() {
    let app: TestApp = spawn_app_with(&[("SWITCHBOARD_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    let (got, url) = receiver().await;
    let events: Vec<&str> = PUBLIC_TYPES.iter().map(|(p, _)| *p).collect();
    let res = app.post("/api/webhook-endpoints", &json!({"url": url, "events": events}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&admin.access)).await;
    let acct: Value = res.json().await.unwrap();
    let account = acct["id"].as_str().unwrap().to_string();
    let mut stream = app.subscribe(&admin.access, None).await;

    // A customer writes; the agent sets a note, edits the contact, replies; statuses come back.
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{account}/sandbox/messages"),
            &json!({"from": "15551230001", "name": "Customer", "message": {"type": "text", "body": "Hello"}}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let created = stream.expect("message.created", |_| true).await;
    let conv = created.data["conversationId"].as_str().unwrap().to_string();
    let contact = stream.expect("conversation.updated", |_| true).await.data["contactId"].as_str().unwrap().to_string();
    let res = app.post(&format!("/api/conversations/{conv}/notes"), &json!({"body": "VIP"}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.patch(&format!("/api/contacts/{contact}"), &json!({"name": "Jess"}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            &format!("/api/conversations/{conv}/messages"),
            &json!({"type": "text", "text": {"body": "Hi!"}}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // Every event on the stream, until the reply's delivery status, validates.
    let mut seen = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !(seen.contains("message.status") && seen.contains("note.created") && seen.contains("contact.updated")) {
        assert!(std::time::Instant::now() < deadline, "saw only {seen:?}");
        let Some(e) = stream.next(std::time::Duration::from_secs(5)).await else { continue };
        if e.kind == "reset" || e.kind.is_empty() {
            continue;
        }
        let errs = errors(&kind_validator(&doc, &e.kind), &e.data);
        assert!(errs.is_empty(), "stream {}: {errs:?}\n{}", e.kind, e.data);
        seen.insert(e.kind.clone());
    }
    // Every delivery validates against its `webhooks` entry.
    let bodies = wait_for("deliveries of each kind", || async {
        let g = got.lock().unwrap().clone();
        let types: std::collections::HashSet<String> =
            g.iter().filter_map(|b| b["type"].as_str().map(str::to_string)).collect();
        ["message.received", "message.sent", "note.created", "contact.updated", "message.status"]
            .iter()
            .all(|t| types.contains(*t))
            .then_some(g)
    })
    .await;
    for b in bodies {
        let t = b["type"].as_str().unwrap();
        let schema = json!({
            "$ref": format!("#/webhooks/{t}/post/requestBody/content/application~1json/schema"),
            "webhooks": doc["webhooks"], "components": doc["components"],
        });
        let v = jsonschema::draft202012::new(&schema).unwrap();
        let errs = errors(&v, &b);
        assert!(errs.is_empty(), "delivery {t}: {errs:?}\n{b}");
    }
}
