//! Outgoing webhooks: signed deliveries checked by an independent implementation against a local
//! receiver, retries with backoff, disabling after repeated failures, the delivery log, the SSRF
//! guard, roles and tenant isolation.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;
use switchboard::entities::{audit_log, webhook_endpoints};
use switchboard::events::DomainEvent;

use crate::helpers::{Account, TestApp, assert_error, spawn_app, spawn_app_with, wait_for};

/// What the receiver saw: headers, body and when.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
    at: Instant,
}

/// A local receiver on 127.0.0.1:0 answering with scripted statuses (then 200).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    always: Arc<Mutex<Option<u16>>>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let r = Receiver::default();
        let r2 = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let r = r2.clone();
                async move {
                    r.got.lock().unwrap().push(Received { headers, body, at: Instant::now() });
                    let status = r.script.lock().unwrap().pop_front().or(*r.always.lock().unwrap()).unwrap_or(200);
                    (axum::http::StatusCode::from_u16(status).unwrap(), "receiver says hi")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    async fn wait(&self, n: usize) -> Vec<Received> {
        wait_for("webhook deliveries", || async {
            let g = self.got();
            (g.len() >= n).then_some(g)
        })
        .await
    }
}

/// Standard Webhooks verification, written independently of the server's code.
fn verify(secret: &str, r: &Received) -> Value {
    let id = r.headers["webhook-id"].to_str().unwrap();
    let ts = r.headers["webhook-timestamp"].to_str().unwrap();
    let sig = r.headers["webhook-signature"].to_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{}", r.body).as_bytes());
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    assert!(sig.split(' ').any(|s| s == expected), "signature {sig} != {expected}");
    let age = chrono::Utc::now().timestamp() - ts.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "timestamp is current");
    serde_json::from_str(&r.body).unwrap()
}

const PRIVATE_OK: (&str, &str) = ("SWITCHBOARD_WEBHOOKS_ALLOW_PRIVATE", "true");

async fn endpoint(app: &TestApp, token: &str, url: &str, events: Value) -> Value {
    let res = app
        .post("/api/webhook-endpoints", &json!({"url": url, "events": events, "description": "CRM"}), Some(token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

/// A stable id for a test label (`"c1"` → the same uuid every time).
fn id_of(label: &str) -> uuid::Uuid {
    let digest = switchboard_crypto::token::sha256_hex(label.as_bytes());
    uuid::Uuid::parse_str(&digest[..32]).unwrap()
}

/// Publishes a typed event of `kind` named by `data["id"]` (and `data["name"]` for contacts).
fn publish(app: &TestApp, a: &Account, kind: &'static str, data: Value) {
    use switchboard::events::{ContactDto, ContactUpdated, Event, MessageStatusChanged, NoteDto};
    let id = id_of(data["id"].as_str().unwrap());
    let now = switchboard::db::now();
    let event = match kind {
        "contact.updated" => Event::ContactUpdated(ContactUpdated {
            contact_id: id,
            opted_out: false,
            contact: ContactDto {
                id,
                wa_id: None,
                user_id: None,
                profile_name: None,
                username: None,
                name: data["name"].as_str().map(str::to_string),
                opted_out: false,
                opted_out_at: None,
                opt_out_source: None,
                tags: vec![],
                attributes: json!({}),
                created_at: now,
                updated_at: now,
            },
        }),
        "note.created" => Event::NoteCreated(NoteDto {
            id,
            conversation_id: id,
            author_user_id: None,
            author_name: None,
            body: "note".into(),
            created_at: now,
        }),
        "message.status" => Event::MessageStatus(MessageStatusChanged {
            message_id: id,
            conversation_id: id,
            status: switchboard::entities::enums::MessageStatus::Delivered,
            reported: None,
            wa_message_id: None,
            error: None,
        }),
        other => panic!("no test event for {other}"),
    };
    app.state.events.publish(DomainEvent::new(a.tenant_id.parse().unwrap(), event));
}

async fn deliveries(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let res = app.get(&format!("/api/webhook-endpoints/{id}/deliveries"), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn deliveries_are_signed_filtered_and_logged() {
    let app = spawn_app_with(&[PRIVATE_OK]).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let (rx, url) = Receiver::start().await;
    let ep = endpoint(&app, &admin.access, &url, json!(["contact.updated", "message.received"])).await;
    let secret = ep["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(ep["enabled"], true);
    let id = ep["id"].as_str().unwrap();
    // The secret is shown once: not in the list or the detail.
    let list: Value = app.get("/api/webhook-endpoints", Some(&admin.access)).await.json().await.unwrap();
    assert!(!list.to_string().contains(&secret));
    assert_eq!(list["data"][0]["events"], json!(["contact.updated", "message.received"]));

    // A subscribed event arrives signed; an unsubscribed one does not.
    publish(&app, &admin, "note.created", json!({"id": "n1"}));
    publish(&app, &admin, "contact.updated", json!({"id": "c1", "name": "Jessica"}));
    let got = rx.wait(1).await;
    let body = verify(&secret, &got[0]);
    assert_eq!(body["type"], "contact.updated");
    assert_eq!(body["data"]["contactId"], id_of("c1").to_string());
    assert_eq!(body["data"]["contact"]["name"], "Jessica");
    assert!(body["timestamp"].is_string());
    assert_eq!(got[0].headers["content-type"], "application/json");

    // End to end: a customer's message reaches the receiver as message.received.
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&admin.access)).await;
    let acct: Value = res.json().await.unwrap();
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{}/sandbox/messages", acct["id"].as_str().unwrap()),
            &json!({"from": "15551230001", "name": "Customer", "message": {"type": "text", "body": "Hello hooks"}}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let received =
        wait_for("message.received", || async { rx.got().into_iter().find(|r| r.body.contains("message.received")) })
            .await;
    let body = verify(&secret, &received);
    assert_eq!(body["data"]["content"]["body"], "Hello hooks");
    assert!(rx.got().iter().all(|r| !r.body.contains("note.created")));

    // The log lists each attempt with its response code.
    let log = wait_for("delivery log", || async {
        let d = deliveries(&app, &admin.access, id).await;
        (d.len() >= 2).then_some(d)
    })
    .await;
    assert!(log.iter().all(|d| d["success"] == true && d["statusCode"] == 200 && d["attempt"] == 1), "{log:?}");
    assert!(log.iter().any(|d| d["eventType"] == "contact.updated"));
    assert!(log[0]["durationMs"].is_i64());

    // Rotation: later deliveries are signed with the new secret.
    let res = app.post(&format!("/api/webhook-endpoints/{id}/rotate-secret"), &json!({}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated = res.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_string();
    assert_ne!(rotated, secret);
    let before = rx.got().len();
    publish(&app, &admin, "contact.updated", json!({"id": "c2"}));
    let got = rx.wait(before + 1).await;
    assert_eq!(verify(&rotated, got.last().unwrap())["data"]["contactId"], id_of("c2").to_string());

    // "*" takes everything published; a disabled endpoint gets nothing.
    let res = app.patch(&format!("/api/webhook-endpoints/{id}"), &json!({"events": ["*"]}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let before = rx.got().len();
    publish(&app, &admin, "note.created", json!({"id": "n2"}));
    let got = rx.wait(before + 1).await;
    assert_eq!(verify(&rotated, got.last().unwrap())["type"], "note.created");
    let res = app.patch(&format!("/api/webhook-endpoints/{id}"), &json!({"enabled": false}), Some(&admin.access)).await;
    assert_eq!(res.json::<Value>().await.unwrap()["enabled"], false);
    let before = rx.got().len();
    publish(&app, &admin, "note.created", json!({"id": "n3"}));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.got().len(), before);
    let audits = audit_log::Entity::find()
        .filter(audit_log::Column::Action.is_in(["webhook_endpoint.create", "webhook_endpoint.rotate_secret"]))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(audits.len(), 2);
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_until_they_succeed() {
    let app = spawn_app_with(&[PRIVATE_OK, ("SWITCHBOARD_WEBHOOKS_RETRY_SCHEDULE", "0.3,0.6,5")]).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let (rx, url) = Receiver::start().await;
    rx.script.lock().unwrap().extend([500, 503]);
    let ep = endpoint(&app, &admin.access, &url, json!(["contact.updated"])).await;
    let secret = ep["secret"].as_str().unwrap();
    publish(&app, &admin, "contact.updated", json!({"id": "c1"}));

    let got = rx.wait(3).await;
    let ids: Vec<_> = got.iter().map(|r| r.headers["webhook-id"].to_str().unwrap().to_string()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "the same event id on every attempt: {ids:?}");
    for r in &got {
        verify(secret, r);
    }
    let gaps = [got[1].at - got[0].at, got[2].at - got[1].at];
    assert!(gaps[0] >= Duration::from_millis(300), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(600), "{gaps:?}");

    let id = ep["id"].as_str().unwrap();
    let log = wait_for("three attempts logged", || async {
        let d = deliveries(&app, &admin.access, id).await;
        (d.len() == 3).then_some(d)
    })
    .await;
    let rows: Vec<(i64, Value, bool)> =
        log.iter().map(|d| (d["attempt"].as_i64().unwrap(), d["statusCode"].clone(), d["success"] == true)).collect();
    assert_eq!(rows, vec![(3, json!(200), true), (2, json!(503), false), (1, json!(500), false)]);
    assert!(log[2]["error"].as_str().unwrap().contains("500"));
    let e: Value = app.get(&format!("/api/webhook-endpoints/{id}"), Some(&admin.access)).await.json().await.unwrap();
    assert_eq!((e["enabled"].clone(), e["consecutiveFailures"].clone()), (json!(true), json!(0)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got().len(), 3, "no attempt after the success");
}

#[tokio::test]
async fn an_endpoint_failing_repeatedly_is_disabled_and_the_tenant_told() {
    let app = spawn_app_with(&[PRIVATE_OK, ("SWITCHBOARD_WEBHOOKS_RETRY_SCHEDULE", "0.05")]).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let mut stream = app.subscribe(&admin.access, None).await;
    let (rx, url) = Receiver::start().await;
    *rx.always.lock().unwrap() = Some(500);
    let ep = endpoint(&app, &admin.access, &url, json!(["*"])).await;
    let id = ep["id"].as_str().unwrap().to_string();

    for i in 0..5 {
        publish(&app, &admin, "contact.updated", json!({"id": format!("c{i}")}));
        // Each event fails twice (one retry) and is given up.
        rx.wait(2 * (i + 1)).await;
        wait_for("the event given up", || async {
            let e = webhook_endpoints::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap())
                .one(&app.state.db)
                .await
                .unwrap()
                .unwrap();
            (e.consecutive_failures == i as i32 + 1).then_some(())
        })
        .await;
    }
    let told = stream.expect("webhook_endpoint.disabled", |d| d["id"] == id.as_str()).await;
    assert!(told.data["reason"].as_str().unwrap().contains("5"));
    let e: Value = app.get(&format!("/api/webhook-endpoints/{id}"), Some(&admin.access)).await.json().await.unwrap();
    assert_eq!(e["enabled"], false);
    assert_eq!(e["consecutiveFailures"], 5);
    assert!(e["disabledReason"].is_string() && e["failingSince"].is_string());
    let audit = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("webhook_endpoint.disabled"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target_id.as_deref(), Some(id.as_str()));
    assert_eq!(deliveries(&app, &admin.access, &id).await.len(), 10);

    // Nothing more is sent; re-enabling starts afresh.
    publish(&app, &admin, "contact.updated", json!({"id": "later"}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got().len(), 10);
    let res = app.patch(&format!("/api/webhook-endpoints/{id}"), &json!({"enabled": true}), Some(&admin.access)).await;
    let e: Value = res.json().await.unwrap();
    assert_eq!((e["enabled"].clone(), e["consecutiveFailures"].clone()), (json!(true), json!(0)));
    assert!(e["disabledReason"].is_null());
}

#[tokio::test]
async fn the_ssrf_guard_refuses_private_targets_at_create_and_at_delivery() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.8/hook",
        "https://172.16.5.4/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "http://example.com/hook",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let res = app.post("/api/webhook-endpoints", &json!({"url": url, "events": ["*"]}), Some(&admin.access)).await;
        let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(b["error"]["details"]["fields"][0]["field"], "url", "{url}: {b}");
    }

    // A target that became private after the check (DNS changed) is refused at delivery time.
    let (rx, url) = Receiver::start().await;
    let tenant: uuid::Uuid = admin.tenant_id.parse().unwrap();
    let id = switchboard::db::new_id();
    let now = switchboard::db::now();
    let secret = switchboard::outhooks::new_secret();
    webhook_endpoints::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant),
        url: Set(url.replace("http://", "https://")),
        description: Set(None),
        events: Set(json!(["*"])),
        enabled: Set(true),
        secret_enc: Set(switchboard::secrets::encrypt(
            &app.state.config.encryption_keys,
            tenant,
            id,
            switchboard::secrets::Purpose::WebhookSecret,
            &secret,
        )),
        consecutive_failures: Set(0),
        failing_since: Set(None),
        disabled_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(app.state.writer())
    .await
    .unwrap();
    publish(&app, &admin, "contact.updated", json!({"id": "c1"}));
    let log = wait_for("refused attempt logged", || async {
        let d = deliveries(&app, &admin.access, &id.to_string()).await;
        (!d.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(log[0]["success"], false);
    assert!(log[0]["statusCode"].is_null());
    assert!(log[0]["error"].as_str().unwrap().contains("not allowed"), "{log:?}");
    assert!(rx.got().is_empty(), "nothing reached the private address");
}

#[tokio::test]
async fn roles_validation_and_tenant_isolation_on_every_endpoint_route() {
    let app = spawn_app_with(&[PRIVATE_OK]).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let other = app.register("Globex", "gus@globex.test").await;
    let agent = app.user_with_role(&admin.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&admin.tenant_id, "bill@acme.test", Role::BillingAdmin).await;
    let root = app.system_admin().await;
    let (_rx, url) = Receiver::start().await;
    let ep = endpoint(&app, &admin.access, &url, json!(["message.status"])).await;
    let id = ep["id"].as_str().unwrap();
    let body = json!({"url": url, "events": ["*"]});
    let routes = [
        ("GET", "/api/webhook-endpoints".to_string()),
        ("POST", "/api/webhook-endpoints".to_string()),
        ("GET", format!("/api/webhook-endpoints/{id}")),
        ("PATCH", format!("/api/webhook-endpoints/{id}")),
        ("DELETE", format!("/api/webhook-endpoints/{id}")),
        ("POST", format!("/api/webhook-endpoints/{id}/rotate-secret")),
        ("GET", format!("/api/webhook-endpoints/{id}/deliveries")),
    ];
    let call = |method: &'static str, path: String, token: Option<String>| {
        let app = &app;
        let body = body.clone();
        async move {
            let t = token.as_deref();
            match method {
                "GET" => app.get(&path, t).await,
                "POST" => app.post(&path, &body, t).await,
                "PATCH" => app.patch(&path, &body, t).await,
                _ => app.delete(&path, t).await,
            }
        }
    };
    for (method, path) in &routes {
        for token in [&agent, &billing, &root] {
            let res = call(method, path.clone(), Some(token.clone())).await;
            assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
        assert_error(call(method, path.clone(), None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        // Another tenant's admin: the endpoint does not exist for them.
        if path.contains(id) {
            let res = call(method, path.clone(), Some(other.access.clone())).await;
            assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    let theirs: Value = app.get("/api/webhook-endpoints", Some(&other.access)).await.json().await.unwrap();
    assert_eq!(theirs["data"], json!([]));
    // Events of another tenant never reach this endpoint.
    publish(&app, &other, "message.status", json!({"id": "m1"}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(deliveries(&app, &admin.access, id).await.is_empty());

    // Field-named validation.
    let res = app.post("/api/webhook-endpoints", &json!({"events": ["message.exploded"]}), Some(&admin.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields: Vec<&str> =
        b["error"]["details"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["url", "events"]);
    let res = app.post("/api/webhook-endpoints", &json!({"url": url, "events": []}), Some(&admin.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.get(&format!("/api/webhook-endpoints/{id}/deliveries?limit=x"), Some(&admin.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // The owner can delete it; then it is gone.
    assert_eq!(
        app.delete(&format!("/api/webhook-endpoints/{id}"), Some(&admin.access)).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app.get(&format!("/api/webhook-endpoints/{id}"), Some(&admin.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn an_endpoint_failing_for_a_day_is_disabled_at_its_next_final_failure() {
    let app = spawn_app_with(&[PRIVATE_OK, ("SWITCHBOARD_WEBHOOKS_RETRY_SCHEDULE", "0.05")]).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let (rx, url) = Receiver::start().await;
    *rx.always.lock().unwrap() = Some(502);
    let ep = endpoint(&app, &admin.access, &url, json!(["*"])).await;
    let id: uuid::Uuid = ep["id"].as_str().unwrap().parse().unwrap();
    let row = webhook_endpoints::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
    let mut am: webhook_endpoints::ActiveModel = row.into();
    am.consecutive_failures = Set(1);
    am.failing_since = Set(Some(switchboard::db::now() - chrono::Duration::hours(25)));
    am.update(app.state.writer()).await.unwrap();

    publish(&app, &admin, "contact.updated", json!({"id": "c1"}));
    let e = wait_for("endpoint disabled", || async {
        let e = webhook_endpoints::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
        (!e.enabled).then_some(e)
    })
    .await;
    assert_eq!(e.consecutive_failures, 2);
    assert!(e.disabled_reason.unwrap().contains("failing since"));
    assert_eq!(rx.got().len(), 2);
}
