//! Shared test helpers: a webhook receiver that verifies signatures, polling, HTTP helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use meta_sim::{MetaSim, NumberSpec, RunningSim, SimConfig};
use serde_json::Value;
use sha2::Sha256;

pub const WABA: &str = "102290129340398";
pub const PNID: &str = "106540352242922";
pub const DISPLAY: &str = "15550783881";
pub const TOKEN: &str = "EAAtest-token";
pub const SECRET: &str = "app-secret-123";
pub const USER: &str = "16505551234";

/// One webhook POST as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub body: Value,
    pub raw: Bytes,
    pub signature_ok: bool,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Delivery>>>,
    /// Answer 500 to this many POSTs before accepting.
    pub fail_next: Arc<AtomicU32>,
    pub attempts: Arc<AtomicU32>,
}

#[derive(Clone)]
struct RxState {
    secret: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    fail_next: Arc<AtomicU32>,
    attempts: Arc<AtomicU32>,
}

/// Verify `sha256=<hex>` independently of the simulator's code.
pub fn verify(secret: &str, raw: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(raw);
    mac.verify_slice(&sig).is_ok()
}

async fn receive(State(st): State<RxState>, headers: HeaderMap, raw: Bytes) -> StatusCode {
    st.attempts.fetch_add(1, Ordering::SeqCst);
    if st.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let sig = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()).unwrap_or("");
    let signature_ok = verify(&st.secret, &raw, sig);
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    st.got.lock().unwrap().push(Delivery { body, raw, signature_ok });
    StatusCode::OK
}

impl Receiver {
    pub async fn start(secret: &str) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let fail_next = Arc::new(AtomicU32::new(0));
        let attempts = Arc::new(AtomicU32::new(0));
        let st = RxState {
            secret: secret.to_string(),
            got: got.clone(),
            fail_next: fail_next.clone(),
            attempts: attempts.clone(),
        };
        let app = Router::new().route("/webhook", post(receive)).with_state(st);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url: format!("http://{addr}/webhook"), got, fail_next, attempts }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    /// Every `messages[]` element received so far.
    pub fn messages(&self) -> Vec<Value> {
        self.changes("messages").iter().flat_map(|v| v["messages"].as_array().cloned().unwrap_or_default()).collect()
    }

    /// Every `statuses[]` element received so far.
    pub fn statuses(&self) -> Vec<Value> {
        self.changes("messages").iter().flat_map(|v| v["statuses"].as_array().cloned().unwrap_or_default()).collect()
    }

    /// The `value`s of every change with this field.
    pub fn changes(&self, field: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for d in self.deliveries() {
            for e in d.body["entry"].as_array().cloned().unwrap_or_default() {
                for c in e["changes"].as_array().cloned().unwrap_or_default() {
                    if c["field"] == field {
                        out.push(c["value"].clone());
                    }
                }
            }
        }
        out
    }
}

/// Poll `f` until it is true or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub struct Env {
    pub running: RunningSim,
    pub rx: Receiver,
    pub http: reqwest::Client,
}

impl Env {
    pub fn sim(&self) -> &MetaSim {
        &self.running.sim
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.running.base_url, path)
    }

    /// POST /v23.0/{PNID}/messages with the standard token.
    pub async fn send(&self, body: Value) -> (u16, Value) {
        self.send_as("v23.0", Some(TOKEN), body).await
    }

    pub async fn send_as(&self, ver: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url(&format!("/{ver}/{PNID}/messages")))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap());
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap());
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
        (status, body)
    }
}

/// A simulator (fast config, tweaked by `f`) with one number whose webhooks go to a receiver.
pub async fn env_with(f: impl FnOnce(&mut SimConfig)) -> Env {
    let mut cfg = SimConfig::fast();
    f(&mut cfg);
    let running = MetaSim::spawn(cfg).await.unwrap();
    let rx = Receiver::start(SECRET).await;
    running.sim.register_number(NumberSpec::new(WABA, PNID, DISPLAY, TOKEN, SECRET).with_webhook_url(rx.url.clone()));
    Env { running, rx, http: reqwest::Client::new() }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

pub fn text_to(to: &str, body: &str) -> Value {
    serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body}
    })
}

pub fn error_code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or(-1)
}
