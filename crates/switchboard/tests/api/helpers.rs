use std::collections::HashMap;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Config;
use switchboard::db::DbOptions;
use switchboard::startup::{Application, build_state};
use switchboard::state::AppState;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// This node's webhook writer (processing reads its pressure).
    pub ingest: switchboard::webhooks::ingest::Ingestor,
    pub config: Config,
    pub _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh database URL: a SQLite file in `dir`, or a new PostgreSQL database.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("SWITCHBOARD_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            use sea_orm::ConnectionTrait;
            let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
            let admin = switchboard::db::connect(&admin_url, &DbOptions { max_connections: 1, lazy: false })
                .await
                .expect("connect to SWITCHBOARD_TEST_DATABASE_URL");
            admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
            admin.close().await.ok();
            let (base, _) = admin_url.rsplit_once('/').expect("URL with a database name");
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
    }
}

pub fn test_config(dir: &std::path::Path, database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("SWITCHBOARD_DATA_DIR".into(), dir.display().to_string());
    vars.insert("SWITCHBOARD_LISTEN".into(), "127.0.0.1:0".into());
    vars.insert("SWITCHBOARD_DATABASE_URL".into(), database_url.into());
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_vars(&vars).expect("test config")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    // TEST_LOG=debug shows the app's logs.
    if let Ok(filter) = std::env::var("TEST_LOG") {
        switchboard::telemetry::init(switchboard::config::LogFormat::Pretty, &filter);
    }
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let config = test_config(dir.path(), &url, extra);
    let state = build_state(config.clone(), true, DbOptions::default()).await.expect("state");
    start(state, config, dir).await
}

pub async fn start(state: AppState, config: Config, dir: tempfile::TempDir) -> TestApp {
    let app = Application::with_state(state.clone(), config.listen).await.expect("bind");
    let base = format!("http://{}", app.local_addr());
    let ingest = app.ingest().clone();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp { base, client: reqwest::Client::new(), state, ingest, config, _dir: dir, shutdown: Some(tx) }
}

/// A signed-in user of a fresh tenant.
pub struct Account {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub tenant_id: String,
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// Stops serving and working (as at SIGTERM); the database stays for another node to open.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut r = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut r = self.client.get(self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn register(&self, tenant: &str, email: &str) -> Account {
        let res = self
            .post(
                "/api/auth/register",
                &json!({"tenantName": tenant, "name": "Ana Admin", "email": email, "password": PASSWORD}),
                None,
            )
            .await;
        // A sign-up answers 202 whether the email was new or not; the session comes from signing in.
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let res = self.post("/api/auth/login", &json!({"email": email, "password": PASSWORD}), None).await;
        assert_eq!(res.status(), StatusCode::OK, "sign in after sign-up");
        let b: Value = res.json().await.unwrap();
        Account {
            access: b["accessToken"].as_str().unwrap().into(),
            refresh: b["refreshToken"].as_str().unwrap().into(),
            user_id: b["user"]["id"].as_str().unwrap().into(),
            tenant_id: b["tenant"]["id"].as_str().unwrap().into(),
        }
    }

    /// Creates a SYSTEM_ADMIN through the same code path as the CLI and signs in.
    pub async fn system_admin(&self) -> String {
        let email = switchboard::domain::Email::parse("root@platform.test").unwrap();
        let pw = switchboard::domain::NewPassword::parse(PASSWORD).unwrap();
        switchboard::auth::service::create_system_admin(&self.state, &email, "Root", &pw).await.unwrap();
        let res =
            self.post("/api/auth/login", &json!({"email": "root@platform.test", "password": PASSWORD}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let b: Value = res.json().await.unwrap();
        b["accessToken"].as_str().unwrap().into()
    }
}

/// Asserts the error envelope and returns it.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "unexpected status");
    let b: Value = res.json().await.expect("JSON error body");
    assert_eq!(b["error"]["code"], code, "body: {b}");
    assert!(b["error"]["message"].is_string());
    b
}

/// Polls `f` every 20 ms until it returns `Some`, for at most 15 s.
pub async fn wait_for<T, F, Fut>(what: &str, f: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

impl TestApp {
    /// Connects a (non-validated) WhatsApp number to the account's tenant.
    pub async fn create_account(&self, token: &str, phone_number_id: &str, app_secret: Option<&str>) -> Value {
        let mut body = json!({
            "name": "Main", "wabaId": format!("9{phone_number_id}"), "phoneNumberId": phone_number_id,
            "displayPhoneNumber": "+1 555 0100", "accessToken": "EAAG-test-token-1234",
        });
        if let Some(s) = app_secret {
            body["appSecret"] = json!(s);
        }
        let res = self.post("/api/whatsapp-accounts?validate=false", &body, Some(token)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "create account");
        res.json().await.unwrap()
    }

    /// POSTs a webhook body signed with `secret`.
    pub async fn post_webhook(&self, body: &[u8], secret: &str) -> Response {
        self.client
            .post(self.url("/api/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", meta_cloud::signature::sign(secret.as_bytes(), body))
            .body(body.to_vec())
            .send()
            .await
            .expect("request")
    }

    pub async fn count<E>(&self, _e: E) -> u64
    where
        E: sea_orm::EntityTrait,
        E::Model: Send + Sync,
    {
        use sea_orm::PaginatorTrait;
        <E as sea_orm::EntityTrait>::find().count(&self.state.db).await.unwrap()
    }
}

/// A Meta-shaped webhook with the given messages/statuses for one number.
pub fn envelope(phone_number_id: &str, value_extra: Value) -> Vec<u8> {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100", "phone_number_id": phone_number_id},
    });
    if let (Some(v), Some(extra)) = (value.as_object_mut(), value_extra.as_object()) {
        for (k, x) in extra {
            v.insert(k.clone(), x.clone());
        }
    }
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": format!("9{phone_number_id}"), "changes": [{"field": "messages", "value": value}]}]
    }))
    .unwrap()
}

pub fn text_message(from: &str, wamid: &str, body: &str, ts: i64) -> Value {
    json!({
        "contacts": [{"profile": {"name": "Jessica"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": {"body": body}}]
    })
}

impl TestApp {
    /// Adds a user with `role` to a tenant directly (the team API arrives later) and signs in.
    pub async fn user_with_role(
        &self,
        tenant_id: &str,
        email: &str,
        role: switchboard::entities::enums::Role,
    ) -> String {
        use sea_orm::{ActiveModelTrait, Set};
        let now = switchboard::db::now();
        switchboard::entities::users::ActiveModel {
            sessions_revoked_at: Set(None),
            id: Set(switchboard::db::new_id()),
            tenant_id: Set(Some(tenant_id.parse().unwrap())),
            email: Set(email.into()),
            password_hash: Set(switchboard_crypto::password::hash_password(PASSWORD).unwrap()),
            name: Set("Member".into()),
            role: Set(role),
            active: Set(true),
            last_login_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.state.writer())
        .await
        .unwrap();
        let res = self.post("/api/auth/login", &json!({"email": email, "password": PASSWORD}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["accessToken"].as_str().unwrap().into()
    }

    pub async fn patch(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut r = self.client.patch(self.url(path)).json(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut r = self.client.delete(self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }
}

impl TestApp {
    /// POSTs a raw body with the given content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> Response {
        let mut r = self.client.post(self.url(path)).header("content-type", content_type).body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    /// Delivers a signed inbound text from `from` to the number and waits for its conversation;
    /// returns the conversation id. The app must have SWITCHBOARD_META_APP_SECRET = `secret`.
    pub async fn inbound_conversation(
        &self,
        phone_number_id: &str,
        secret: &str,
        from: &str,
        wamid: &str,
    ) -> uuid::Uuid {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let body = envelope(phone_number_id, text_message(from, wamid, "hello", chrono::Utc::now().timestamp()));
        let res = self.post_webhook(&body, secret).await;
        assert_eq!(res.status(), StatusCode::OK, "webhook accepted");
        wait_for("inbound message stored", || async {
            switchboard::entities::messages::Entity::find()
                .filter(switchboard::entities::messages::Column::WaMessageId.eq(wamid))
                .one(&self.state.db)
                .await
                .unwrap()
        })
        .await
        .conversation_id
    }
}

/// A Server-Sent Events subscription read in a test.
pub struct Sse {
    res: Response,
    buf: String,
}

/// One received event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub kind: String,
    pub data: Value,
}

impl TestApp {
    pub async fn subscribe(&self, token: &str, last_event_id: Option<&str>) -> Sse {
        let mut r = self.client.get(self.url("/api/events")).bearer_auth(token);
        if let Some(id) = last_event_id {
            r = r.header("last-event-id", id);
        }
        let res = r.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Sse { res, buf: String::new() }
    }
}

impl Sse {
    /// The next event (heartbeats skipped), or `None` after `timeout`.
    pub async fn next(&mut self, timeout: std::time::Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                let (mut id, mut kind, mut data) = (None, String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment/heartbeat
                }
                return Some(SseEvent { id, kind, data: serde_json::from_str(&data).unwrap_or(Value::String(data)) });
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk()).await.ok()?.ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Waits (up to 15 s) for an event of `kind` matching `pred`, skipping others.
    pub async fn expect(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> SseEvent {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let e = self.next(left).await.unwrap_or_else(|| panic!("no {kind} event arrived"));
            if e.kind == kind && pred(&e.data) {
                return e;
            }
        }
    }
}

impl TestApp {
    /// Invites `email` with `role` through the team API; returns the response body.
    pub async fn invite(&self, admin: &str, email: &str, role: &str) -> Value {
        let res = self.post("/api/users", &json!({"email": email, "role": role}), Some(admin)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "invite {email}");
        res.json().await.unwrap()
    }

    /// Accepts the invitation of an `invite` response body with `PASSWORD`.
    pub async fn accept_invite(&self, invite: &Value) -> Response {
        self.post("/api/auth/accept-invite", &json!({"token": invite_token(invite), "password": PASSWORD}), None).await
    }

    /// The id of the tenant user with `email`, from the team list.
    pub async fn user_id_by_email(&self, admin: &str, email: &str) -> String {
        let list: Value = self.get("/api/users", Some(admin)).await.json().await.unwrap();
        list["data"].as_array().unwrap().iter().find(|u| u["email"] == email).expect("user listed")["id"]
            .as_str()
            .unwrap()
            .into()
    }
}

/// The token of an invitation link (`…/invite/{token}`).
pub fn invite_token(invite: &Value) -> String {
    invite["inviteUrl"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

/// An app whose job workers do not run: a test processes the queue itself.
pub async fn app_without_workers() -> TestApp {
    spawn_app_with(&[
        ("SWITCHBOARD_META_APP_SECRET", "platform-app-secret"),
        ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1"),
        ("SWITCHBOARD_RUN_WORKERS", "false"),
    ])
    .await
}

/// Claims every pending webhook job and processes them as one batch.
pub async fn run_one_batch(
    app: &TestApp,
) -> Vec<(switchboard::entities::jobs::Model, Result<switchboard::jobs::runner::Done, switchboard::jobs::Outcome>)> {
    let jobs = switchboard::jobs::claim_ahead(
        app.state.writer(),
        switchboard::jobs::queues::WEBHOOK_PROCESSOR,
        "test-owner",
        1000,
        std::time::Duration::from_secs(60),
        Some(switchboard::webhooks::fair::HORIZON),
    )
    .await
    .unwrap();
    switchboard::webhooks::batch::process_jobs(&app.state, &app.ingest, jobs, "test-owner").await
}
