//! The simulated Meta: numbers, limits, sends, customers, media, templates, statistics.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc};

use crate::config::{ReviewOutcome, ReviewRule, SimConfig};
use crate::customer::{CustomerMessage, MediaInput, default_mime};
use crate::errors::GraphError;
use crate::ids;
use crate::templates::{self, Template, TemplateSpec};
use crate::validate::{self, Validated};
use crate::webhook::{self, Item, Scheduled};

/// A business phone number registered in the simulator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NumberSpec {
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub access_token: String,
    /// Key of the `X-Hub-Signature-256` HMAC of this number's webhooks.
    pub app_secret: String,
    /// Where webhooks for this number go; `None` drops them.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Messages per second for this number (default: `SimConfig::throughput_mps`).
    #[serde(default)]
    pub throughput_mps: Option<u32>,
    #[serde(default = "default_verified_name")]
    pub verified_name: String,
    #[serde(default = "default_quality")]
    pub quality_rating: String,
}

fn default_verified_name() -> String {
    "Switchboard Sandbox".into()
}
fn default_quality() -> String {
    "GREEN".into()
}

impl NumberSpec {
    pub fn new(
        waba_id: impl Into<String>,
        phone_number_id: impl Into<String>,
        display_phone_number: impl Into<String>,
        access_token: impl Into<String>,
        app_secret: impl Into<String>,
    ) -> Self {
        Self {
            waba_id: waba_id.into(),
            phone_number_id: phone_number_id.into(),
            display_phone_number: display_phone_number.into(),
            access_token: access_token.into(),
            app_secret: app_secret.into(),
            webhook_url: None,
            throughput_mps: None,
            verified_name: default_verified_name(),
            quality_rating: default_quality(),
        }
    }

    pub fn with_webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    pub fn with_throughput(mut self, mps: u32) -> Self {
        self.throughput_mps = Some(mps);
        self
    }
}

/// A message the business sent (accepted by `POST /messages`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SentMessage {
    pub wamid: String,
    pub phone_number_id: String,
    /// `to` as given in the request.
    pub to: String,
    /// Normalised recipient id.
    pub wa_id: String,
    #[serde(rename = "type")]
    pub msg_type: String,
    /// The raw JSON request body.
    pub body: Value,
    /// The version prefix used (`v23.0`).
    pub api_version: String,
    /// Unix milliseconds of acceptance.
    pub timestamp_ms: u64,
    /// `Some(code)` when the message was accepted but will fail asynchronously.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_failure_code: Option<i64>,
}

/// Counters of what the simulator did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SimStats {
    pub sends_accepted: u64,
    pub sends_rejected: u64,
    pub rejected_by_code: BTreeMap<i64, u64>,
    /// Accepted sends that end in a `failed` status (injected async failures, 131047).
    pub async_failures: u64,
    pub marked_read: u64,
    pub customer_messages: u64,
    pub statuses_emitted: u64,
    pub template_updates_emitted: u64,
    /// Webhook updates (messages, statuses, template events) handed to the deliverer.
    pub webhook_items_scheduled: u64,
    /// Updates dropped because the number had no webhook URL.
    pub webhook_items_dropped_no_url: u64,
    /// POSTs acknowledged with HTTP 200.
    pub webhooks_delivered: u64,
    /// Updates inside acknowledged POSTs.
    pub webhook_items_delivered: u64,
    /// Attempts that failed (connection error, timeout, non-200, receiver set unreachable).
    pub webhook_attempts_failed: u64,
    /// Retries performed.
    pub webhooks_retried: u64,
    /// POSTs abandoned after the retry window (7 days, scaled).
    pub webhooks_dropped: u64,
    pub media_uploaded: u64,
    pub media_downloaded: u64,
    pub templates_created: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub sends_accepted: AtomicU64,
    pub sends_rejected: AtomicU64,
    pub rejected_by_code: Mutex<BTreeMap<i64, u64>>,
    pub async_failures: AtomicU64,
    pub marked_read: AtomicU64,
    pub customer_messages: AtomicU64,
    pub statuses_emitted: AtomicU64,
    pub template_updates_emitted: AtomicU64,
    pub webhook_items_scheduled: AtomicU64,
    pub webhook_items_dropped_no_url: AtomicU64,
    pub webhooks_delivered: AtomicU64,
    pub webhook_items_delivered: AtomicU64,
    pub webhook_attempts_failed: AtomicU64,
    pub webhooks_retried: AtomicU64,
    pub webhooks_dropped: AtomicU64,
    pub media_uploaded: AtomicU64,
    pub media_downloaded: AtomicU64,
    pub templates_created: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(cap: f64, now: Instant) -> Self {
        Self { tokens: cap, last: now }
    }

    fn refill(&mut self, now: Instant, rate: f64, cap: f64) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(cap);
        self.last = now;
    }

    fn take(&mut self, now: Instant, rate: f64, cap: f64) -> bool {
        self.refill(now, rate, cap);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Default)]
struct UserState {
    pair: Option<Bucket>,
    last_inbound: Option<Instant>,
    last_outbound_wamid: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct InjectedFailure {
    code: i64,
    asynchronous: bool,
}

pub(crate) struct Number {
    pub spec: RwLock<Arc<NumberSpec>>,
    throughput: Mutex<Option<Bucket>>,
    users: Mutex<HashMap<String, UserState>>,
    sent: Mutex<VecDeque<SentMessage>>,
    inbound_wamids: Mutex<HashSet<String>>,
    read_marks: Mutex<Vec<String>>,
    failures: Mutex<VecDeque<InjectedFailure>>,
    failures_pending: AtomicU64,
}

impl Number {
    fn new(spec: NumberSpec) -> Self {
        Self {
            spec: RwLock::new(Arc::new(spec)),
            throughput: Mutex::new(None),
            users: Mutex::new(HashMap::new()),
            sent: Mutex::new(VecDeque::new()),
            inbound_wamids: Mutex::new(HashSet::new()),
            read_marks: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
            failures_pending: AtomicU64::new(0),
        }
    }

    pub(crate) fn spec(&self) -> Arc<NumberSpec> {
        self.spec.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn take_failure(&self) -> Option<InjectedFailure> {
        if self.failures_pending.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let f = lock(&self.failures).pop_front();
        if f.is_some() {
            self.failures_pending.fetch_sub(1, Ordering::Relaxed);
        }
        f
    }

    /// Consume one throughput token (per-number mps, inbound and outbound alike).
    fn take_throughput(&self, mps: u32, now: Instant) -> bool {
        let rate = f64::from(mps);
        let mut b = lock(&self.throughput);
        b.get_or_insert_with(|| Bucket::full(rate, now)).take(now, rate, rate)
    }
}

/// A media object (uploaded by the business or sent by a customer).
pub(crate) struct Media {
    pub id: String,
    pub owner: String,
    pub mime_type: String,
    pub bytes: Bytes,
    pub sha256_hex: String,
    pub sha256_b64: String,
    pub filename: Option<String>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

pub(crate) struct Inner {
    pub config: RwLock<Arc<SimConfig>>,
    pub numbers: RwLock<HashMap<String, Arc<Number>>>,
    pub templates: Mutex<HashMap<String, Vec<Template>>>,
    pub review_overrides: Mutex<HashMap<String, ReviewOutcome>>,
    pub media: RwLock<HashMap<String, Arc<Media>>>,
    pub stats: Counters,
    pub webhook_unreachable: AtomicBool,
    pub base_url: RwLock<Option<String>>,
    pub url_secret: [u8; 32],
    pub epoch: AtomicU64,
    seq: AtomicU64,
    queue_tx: mpsc::UnboundedSender<Scheduled>,
    queue_rx: Mutex<Option<mpsc::UnboundedReceiver<Scheduled>>>,
    deliverer_started: AtomicBool,
    pub http: reqwest::Client,
    pub webhook_permits: Semaphore,
}

/// The whole simulated state. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct MetaSim {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for MetaSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaSim").field("numbers", &read(&self.inner.numbers).len()).finish_non_exhaustive()
    }
}

/// The HTTP status Meta's API answers with, and the JSON body.
pub(crate) type GraphResult = Result<Value, GraphError>;

impl MetaSim {
    pub fn new(config: SimConfig) -> Self {
        let config = config.normalized();
        let (tx, rx) = mpsc::unbounded_channel();
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("reqwest client");
        let permits = config.webhook_concurrency;
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(Arc::new(config)),
                numbers: RwLock::new(HashMap::new()),
                templates: Mutex::new(HashMap::new()),
                review_overrides: Mutex::new(HashMap::new()),
                media: RwLock::new(HashMap::new()),
                stats: Counters::default(),
                webhook_unreachable: AtomicBool::new(false),
                base_url: RwLock::new(None),
                url_secret: rand::rng().random(),
                epoch: AtomicU64::new(0),
                seq: AtomicU64::new(0),
                queue_tx: tx,
                queue_rx: Mutex::new(Some(rx)),
                deliverer_started: AtomicBool::new(false),
                http,
                webhook_permits: Semaphore::new(permits),
            }),
        }
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    pub(crate) fn weak(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// Start the webhook deliverer on the current Tokio runtime (idempotent; no-op outside a
    /// runtime). `router()` and `spawn()` call it.
    pub fn start_deliverer(&self) {
        if self.inner.deliverer_started.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some(rx) = lock(&self.inner.queue_rx).take() {
            self.inner.deliverer_started.store(true, Ordering::Release);
            handle.spawn(webhook::run_scheduler(self.weak(), rx));
        }
    }

    /// The base URL media download links point to (`spawn` sets it).
    pub fn set_base_url(&self, base_url: impl Into<String>) {
        *write(&self.inner.base_url) = Some(base_url.into().trim_end_matches('/').to_string());
    }

    pub fn base_url(&self) -> Option<String> {
        read(&self.inner.base_url).clone()
    }

    /// A snapshot of the configuration.
    pub fn config(&self) -> SimConfig {
        (**read(&self.inner.config)).clone()
    }

    pub(crate) fn cfg(&self) -> Arc<SimConfig> {
        read(&self.inner.config).clone()
    }

    /// Replace the configuration (takes effect for new events; webhook concurrency is fixed at
    /// construction).
    pub fn set_config(&self, config: SimConfig) {
        *write(&self.inner.config) = Arc::new(config.normalized());
    }

    /// Change the configuration in place.
    pub fn update_config(&self, f: impl FnOnce(&mut SimConfig)) {
        let mut cfg = self.config();
        f(&mut cfg);
        self.set_config(cfg);
    }

    // ----------------------------------------------------------------------------- numbers

    /// Register (or update, keeping its state) a business number. The first number of a WABA
    /// gives it the stock `hello_world` template (if `seed_hello_world`).
    pub fn register_number(&self, n: NumberSpec) {
        let waba = n.waba_id.clone();
        {
            let mut numbers = write(&self.inner.numbers);
            match numbers.get(&n.phone_number_id) {
                Some(existing) => *write(&existing.spec) = Arc::new(n),
                None => {
                    numbers.insert(n.phone_number_id.clone(), Arc::new(Number::new(n)));
                }
            }
        }
        if self.cfg().seed_hello_world {
            let mut t = lock(&self.inner.templates);
            let list = t.entry(waba.clone()).or_default();
            if list.is_empty() {
                list.push(templates::hello_world(&waba, ids::numeric_id()));
            }
        }
    }

    /// All registered numbers.
    pub fn numbers(&self) -> Vec<NumberSpec> {
        let mut v: Vec<NumberSpec> = read(&self.inner.numbers).values().map(|n| (*n.spec()).clone()).collect();
        v.sort_by(|a, b| a.phone_number_id.cmp(&b.phone_number_id));
        v
    }

    /// Point a number's webhooks somewhere else (or nowhere).
    pub fn set_webhook_url(&self, phone_number_id: &str, url: Option<String>) -> bool {
        match self.number(phone_number_id) {
            Some(n) => {
                Arc::make_mut(&mut write(&n.spec)).webhook_url = url;
                true
            }
            None => false,
        }
    }

    pub(crate) fn number(&self, id: &str) -> Option<Arc<Number>> {
        read(&self.inner.numbers).get(id).cloned()
    }

    fn token_known(&self, token: &str) -> bool {
        read(&self.inner.numbers).values().any(|n| read(&n.spec).access_token == token)
    }

    /// Authorize a Graph call on a phone number id: unknown token → 401/190; a valid token that
    /// does not own the number (or an unknown number) → 400/100 subcode 33.
    pub(crate) fn authorize_number(
        &self,
        id: &str,
        token: Option<&str>,
        method: &str,
    ) -> Result<Arc<Number>, GraphError> {
        let token = token.ok_or_else(|| GraphError::bad_token(true))?;
        if let Some(n) = self.number(id)
            && read(&n.spec).access_token == token
        {
            return Ok(n);
        }
        if self.token_known(token) {
            Err(GraphError::unknown_object(method, id))
        } else {
            Err(GraphError::bad_token(false))
        }
    }

    /// Numbers of a WABA whose token is `token`.
    pub(crate) fn authorize_waba(&self, waba_id: &str, token: Option<&str>, method: &str) -> Result<(), GraphError> {
        let token = token.ok_or_else(|| GraphError::bad_token(true))?;
        let ok = read(&self.inner.numbers).values().any(|n| {
            let s = read(&n.spec);
            s.waba_id == waba_id && s.access_token == token
        });
        if ok {
            Ok(())
        } else if self.token_known(token) {
            Err(GraphError::unknown_object(method, waba_id))
        } else {
            Err(GraphError::bad_token(false))
        }
    }

    // ----------------------------------------------------------------------------- control

    /// The next `count` sends of this number fail synchronously with `code` (HTTP status per
    /// Meta's error table).
    pub fn inject_failures(&self, phone_number_id: &str, count: u32, code: i64) {
        self.inject(phone_number_id, count, code, false);
    }

    /// The next `count` sends of this number are accepted (HTTP 200) and then fail with a
    /// `failed` status webhook carrying `code`.
    pub fn inject_async_failures(&self, phone_number_id: &str, count: u32, code: i64) {
        self.inject(phone_number_id, count, code, true);
    }

    fn inject(&self, phone_number_id: &str, count: u32, code: i64, asynchronous: bool) {
        if let Some(n) = self.number(phone_number_id) {
            let mut f = lock(&n.failures);
            for _ in 0..count {
                f.push_back(InjectedFailure { code, asynchronous });
            }
            n.failures_pending.store(f.len() as u64, Ordering::Relaxed);
        }
    }

    /// While `true`, every webhook POST attempt fails (as if the receiver were down); retries
    /// continue per the retry policy.
    pub fn set_webhook_unreachable(&self, unreachable: bool) {
        self.inner.webhook_unreachable.store(unreachable, Ordering::Relaxed);
    }

    /// Set the rule deciding template reviews.
    pub fn set_template_review(&self, rule: ReviewRule) {
        self.update_config(|c| c.template_review = rule);
    }

    /// Force the review outcome of templates with this name (overrides the rule).
    pub fn set_template_outcome(&self, name: &str, outcome: ReviewOutcome) {
        lock(&self.inner.review_overrides).insert(name.to_string(), outcome);
    }

    /// Add a template directly, without review (status from the spec, APPROVED by default).
    /// Returns its id.
    pub fn add_template(&self, spec: TemplateSpec) -> String {
        let body = json!({
            "name": spec.name, "language": spec.language, "category": spec.category,
            "components": if spec.components.is_null() { json!([{"type":"BODY","text":"Hello"}]) } else { spec.components.clone() },
        });
        let id = ids::numeric_id();
        let mut t = match templates::from_create_request(&spec.waba_id, &body, id.clone()) {
            Ok(t) => t,
            Err(_) => Template {
                id: id.clone(),
                waba_id: spec.waba_id.clone(),
                name: spec.name.clone(),
                language: spec.language.clone(),
                category: spec.category.to_ascii_uppercase(),
                status: String::new(),
                parameter_format: "POSITIONAL".into(),
                components: spec.components.clone(),
                rejected_reason: None,
            },
        };
        t.status = spec.status.to_ascii_uppercase();
        let mut all = lock(&self.inner.templates);
        let list = all.entry(spec.waba_id.clone()).or_default();
        list.retain(|x| !(x.name == t.name && x.language == t.language));
        list.push(t);
        id
    }

    /// Templates of a WABA.
    pub fn templates(&self, waba_id: &str) -> Vec<Template> {
        lock(&self.inner.templates).get(waba_id).cloned().unwrap_or_default()
    }

    /// Change a template's status (e.g. `PAUSED`, `DISABLED`) and send the
    /// `message_template_status_update` webhook. Returns false if no such template.
    pub fn set_template_status(
        &self,
        waba_id: &str,
        name: &str,
        language: Option<&str>,
        status: &str,
        reason: Option<&str>,
    ) -> bool {
        let changed: Vec<Template> = {
            let mut all = lock(&self.inner.templates);
            let Some(list) = all.get_mut(waba_id) else {
                return false;
            };
            list.iter_mut()
                .filter(|t| t.name == name && language.is_none_or(|l| l == t.language))
                .map(|t| {
                    t.status = status.to_ascii_uppercase();
                    t.clone()
                })
                .collect()
        };
        for t in &changed {
            self.emit_template_event(t, &t.status, reason.unwrap_or("NONE"), None);
        }
        !changed.is_empty()
    }

    /// Change a template's quality rating (`GREEN`, `YELLOW`, `RED`) and send the
    /// `message_template_quality_update` webhook. Returns false if no such template.
    pub fn set_template_quality(&self, waba_id: &str, name: &str, language: Option<&str>, quality: &str) -> bool {
        let matching: Vec<Template> = lock(&self.inner.templates)
            .get(waba_id)
            .map(|list| {
                list.iter().filter(|t| t.name == name && language.is_none_or(|l| l == t.language)).cloned().collect()
            })
            .unwrap_or_default();
        for t in &matching {
            let value = json!({
                "previous_quality_score": "GREEN",
                "new_quality_score": quality.to_ascii_uppercase(),
                "message_template_id": t.id.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(t.id)),
                "message_template_name": t.name,
                "message_template_language": t.language,
            });
            bump(&self.inner.stats.template_updates_emitted);
            self.schedule(
                Instant::now(),
                Item::Waba { waba_id: t.waba_id.clone(), field: "message_template_quality_update", value },
            );
        }
        !matching.is_empty()
    }

    /// What the business sent from this number, oldest first.
    pub fn sent_messages(&self, phone_number_id: &str) -> Vec<SentMessage> {
        self.number(phone_number_id).map(|n| lock(&n.sent).iter().cloned().collect()).unwrap_or_default()
    }

    /// Message ids the business marked as read on this number.
    pub fn marked_read(&self, phone_number_id: &str) -> Vec<String> {
        self.number(phone_number_id).map(|n| lock(&n.read_marks).clone()).unwrap_or_default()
    }

    /// Records that `wa_id` last wrote to the number `ago` ago: Meta remembers the customer-service
    /// window across a restart of its client, so a sandbox restored after a restart must too.
    pub fn restore_inbound(&self, phone_number_id: &str, wa_id: &str, ago: std::time::Duration) {
        let Some(n) = self.number(phone_number_id) else { return };
        let Some(at) = Instant::now().checked_sub(ago) else { return };
        let mut users = lock(&n.users);
        let u = users.entry(wa_id.to_string()).or_default();
        if u.last_inbound.is_none_or(|t| t < at) {
            u.last_inbound = Some(at);
        }
    }

    /// Is the customer-service window with this user open?
    pub fn window_open(&self, phone_number_id: &str, wa_id: &str) -> bool {
        let window = self.cfg().customer_service_window;
        self.number(phone_number_id).is_some_and(|n| {
            lock(&n.users).get(wa_id).and_then(|u| u.last_inbound).is_some_and(|t| t.elapsed() < window)
        })
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        let s = &self.inner.stats;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SimStats {
            sends_accepted: g(&s.sends_accepted),
            sends_rejected: g(&s.sends_rejected),
            rejected_by_code: lock(&s.rejected_by_code).clone(),
            async_failures: g(&s.async_failures),
            marked_read: g(&s.marked_read),
            customer_messages: g(&s.customer_messages),
            statuses_emitted: g(&s.statuses_emitted),
            template_updates_emitted: g(&s.template_updates_emitted),
            webhook_items_scheduled: g(&s.webhook_items_scheduled),
            webhook_items_dropped_no_url: g(&s.webhook_items_dropped_no_url),
            webhooks_delivered: g(&s.webhooks_delivered),
            webhook_items_delivered: g(&s.webhook_items_delivered),
            webhook_attempts_failed: g(&s.webhook_attempts_failed),
            webhooks_retried: g(&s.webhooks_retried),
            webhooks_dropped: g(&s.webhooks_dropped),
            media_uploaded: g(&s.media_uploaded),
            media_downloaded: g(&s.media_downloaded),
            templates_created: g(&s.templates_created),
        }
    }

    /// Forget everything: numbers, templates, media, sent messages, injected failures, pending
    /// webhooks (not yet posted) and counters. The configuration is kept.
    pub fn reset(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        write(&self.inner.numbers).clear();
        lock(&self.inner.templates).clear();
        lock(&self.inner.review_overrides).clear();
        write(&self.inner.media).clear();
        self.inner.webhook_unreachable.store(false, Ordering::Relaxed);
        let s = &self.inner.stats;
        for c in [
            &s.sends_accepted,
            &s.sends_rejected,
            &s.async_failures,
            &s.marked_read,
            &s.customer_messages,
            &s.statuses_emitted,
            &s.template_updates_emitted,
            &s.webhook_items_scheduled,
            &s.webhook_items_dropped_no_url,
            &s.webhooks_delivered,
            &s.webhook_items_delivered,
            &s.webhook_attempts_failed,
            &s.webhooks_retried,
            &s.webhooks_dropped,
            &s.media_uploaded,
            &s.media_downloaded,
            &s.templates_created,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        lock(&s.rejected_by_code).clear();
    }

    // ----------------------------------------------------------------------------- webhooks

    pub(crate) fn schedule(&self, due: Instant, item: Item) {
        self.start_deliverer();
        bump(&self.inner.stats.webhook_items_scheduled);
        let _ = self.inner.queue_tx.send(Scheduled {
            due,
            seq: self.inner.seq.fetch_add(1, Ordering::Relaxed),
            epoch: self.inner.epoch.load(Ordering::Relaxed),
            item,
        });
    }

    fn emit_template_event(&self, t: &Template, event: &str, reason: &str, rejection: Option<Value>) {
        let mut value = json!({
            "event": event,
            "message_template_id": t.id.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(t.id)),
            "message_template_name": t.name,
            "message_template_language": t.language,
            "reason": reason,
            "message_template_category": t.category,
        });
        if let Some(r) = rejection {
            value["rejection_info"] = r;
        }
        bump(&self.inner.stats.template_updates_emitted);
        self.schedule(
            Instant::now(),
            Item::Waba { waba_id: t.waba_id.clone(), field: "message_template_status_update", value },
        );
    }

    // ----------------------------------------------------------------------------- sending

    fn reject(&self, e: GraphError) -> GraphError {
        bump(&self.inner.stats.sends_rejected);
        *lock(&self.inner.stats.rejected_by_code).entry(e.code).or_insert(0) += 1;
        e
    }

    /// `POST /{version}/{phone_number_id}/messages`.
    pub(crate) fn graph_send(
        &self,
        phone_number_id: &str,
        token: Option<&str>,
        version: &str,
        raw: &[u8],
    ) -> Result<Vec<u8>, GraphError> {
        let number = self.authorize_number(phone_number_id, token, "post").map_err(|e| self.reject(e))?;
        let body: Value = serde_json::from_slice(raw)
            .map_err(|e| self.reject(GraphError::invalid(format!("Request body is not valid JSON: {e}"))))?;
        if body.get("status").is_some() {
            return self.mark_read(&number, &body).map(|v| v.to_string().into_bytes()).map_err(|e| self.reject(e));
        }
        let v = validate::validate_send(&body).map_err(|e| self.reject(e))?;
        self.accept_send(&number, version, body, v).map_err(|e| self.reject(e))
    }

    fn mark_read(&self, number: &Number, body: &Value) -> GraphResult {
        match body.get("messaging_product").and_then(Value::as_str) {
            Some(p) if p.eq_ignore_ascii_case("whatsapp") => {}
            _ => {
                return Err(GraphError::invalid("The parameter messaging_product is required."));
            }
        }
        let status = body.get("status").and_then(Value::as_str).unwrap_or("");
        if status != "read" {
            return Err(GraphError::invalid(format!("Param status must be one of {{READ}} - got \"{status}\".")));
        }
        let mid = body
            .get("message_id")
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::invalid("The parameter message_id is required."))?;
        if let Some(t) = body.get("typing_indicator") {
            let tt = t.get("type").and_then(Value::as_str);
            if tt != Some("text") {
                return Err(GraphError::invalid("Param typing_indicator['type'] must be one of {TEXT}"));
            }
        }
        if self.cfg().strict_mark_read && !lock(&number.inbound_wamids).contains(mid) {
            return Err(GraphError::invalid(format!(
                "Invalid parameter: message_id \"{mid}\" is not a message received by this phone number"
            )));
        }
        lock(&number.read_marks).push(mid.to_string());
        bump(&self.inner.stats.marked_read);
        Ok(json!({"success": true}))
    }

    fn accept_send(&self, number: &Number, version: &str, body: Value, v: Validated) -> Result<Vec<u8>, GraphError> {
        let cfg = self.cfg();
        let spec = number.spec();
        // Referenced media must exist.
        if !v.media_ids.is_empty() {
            let media = read(&self.inner.media);
            for (kind, id) in &v.media_ids {
                if !media.contains_key(id) {
                    return Err(GraphError::invalid(format!(
                        "Param {kind}['id'] is not a valid whatsapp business account media attachment ID"
                    )));
                }
            }
        }
        if v.wa_id == spec.display_phone_number {
            return Err(GraphError::code(131021));
        }
        // Failures injected through the control API.
        let injected = number.take_failure();
        if let Some(f) = injected
            && !f.asynchronous
        {
            return Err(GraphError::code(f.code));
        }
        // Templates: existence/approval (132001) and parameter count (132000).
        let mut template_category: Option<String> = None;
        if let Some(tr) = &v.template {
            let all = lock(&self.inner.templates);
            let t =
                all.get(&spec.waba_id).and_then(|l| l.iter().find(|t| t.name == tr.name && t.language == tr.language));
            match t {
                None => {
                    return Err(GraphError::code(132001)
                        .with_details(format!("template name ({}) does not exist in {}", tr.name, tr.language)));
                }
                Some(t) if t.status == "PAUSED" => return Err(GraphError::code(132015)),
                Some(t) if t.status == "DISABLED" => return Err(GraphError::code(132016)),
                Some(t) if t.status != "APPROVED" => {
                    return Err(GraphError::code(132001).with_details(format!(
                        "template name ({}) is not approved in {} (status {})",
                        tr.name, tr.language, t.status
                    )));
                }
                Some(t) => {
                    templates::check_params(t, &tr.components)?;
                    template_category = Some(t.category.to_ascii_lowercase());
                }
            }
        }
        let now = Instant::now();
        // Throughput (per number) and pair rate (per number + user).
        if cfg.limits_enabled {
            let mps = spec.throughput_mps.unwrap_or(cfg.throughput_mps).max(1);
            if !number.take_throughput(mps, now) {
                return Err(GraphError::code(130429));
            }
        }
        // Pair rate and the customer-service window (non-template messages only).
        let wamid = ids::wamid(&v.wa_id, false);
        let mut async_failure: Option<(i64, Option<String>)> = injected.map(|f| (f.code, None));
        let window_open;
        {
            let mut users = lock(&number.users);
            let u = users.entry(v.wa_id.clone()).or_default();
            if cfg.limits_enabled && !v.is_group {
                let cap = f64::from(cfg.pair_rate_burst);
                let rate = 1.0 / cfg.pair_rate_interval.as_secs_f64().max(1e-9);
                let b = u.pair.get_or_insert_with(|| Bucket::full(cap, now));
                if !b.take(now, rate, cap) {
                    return Err(GraphError::code(131056));
                }
            }
            window_open = v.is_group
                || u.last_inbound.is_some_and(|t| now.saturating_duration_since(t) < cfg.customer_service_window);
            if v.template.is_none() && cfg.enforce_window && !window_open {
                if cfg.window_failure_async {
                    async_failure.get_or_insert((131047, None));
                } else {
                    return Err(GraphError::code(131047));
                }
            }
            u.last_outbound_wamid = Some(wamid.clone());
        }
        // Accepted.
        let ts = unix_now();
        bump(&self.inner.stats.sends_accepted);
        if async_failure.is_some() {
            bump(&self.inner.stats.async_failures);
        }
        // Serialized from structs so the keys come in Meta's order.
        let response = serde_json::to_vec(&SendResponse {
            messaging_product: "whatsapp",
            contacts: [SendContact { input: &v.input, wa_id: &v.wa_id }],
            messages: [SendMessageId { id: &wamid, message_status: v.template.is_some().then_some("accepted") }],
        })
        .expect("response serializes");
        let sent = SentMessage {
            wamid: wamid.clone(),
            phone_number_id: spec.phone_number_id.clone(),
            to: v.input.clone(),
            wa_id: v.wa_id.clone(),
            msg_type: v.msg_type.clone(),
            body,
            api_version: version.to_string(),
            timestamp_ms: ts.as_millis() as u64,
            async_failure_code: async_failure.as_ref().map(|f| f.0),
        };
        {
            let mut log = lock(&number.sent);
            if cfg.max_sent_kept_per_number > 0 {
                while log.len() >= cfg.max_sent_kept_per_number {
                    log.pop_front();
                }
                log.push_back(sent);
            }
        }
        if spec.webhook_url.is_some() {
            self.schedule_statuses(
                &cfg,
                &spec,
                version,
                &wamid,
                &v,
                template_category.as_deref(),
                window_open,
                async_failure,
                now,
                ts,
            );
        } else {
            self.inner.stats.webhook_items_dropped_no_url.fetch_add(1, Ordering::Relaxed);
        }
        Ok(response)
    }

    #[allow(clippy::too_many_arguments)]
    fn schedule_statuses(
        &self,
        cfg: &SimConfig,
        spec: &NumberSpec,
        version: &str,
        wamid: &str,
        v: &Validated,
        template_category: Option<&str>,
        window_open: bool,
        async_failure: Option<(i64, Option<String>)>,
        now: Instant,
        ts: Duration,
    ) {
        let pnid = spec.phone_number_id.clone();
        let base = |status: &str, at: Duration| -> Value {
            let mut s = json!({
                "id": wamid,
                "status": status,
                "timestamp": at.as_secs().to_string(),
                "recipient_id": v.wa_id,
            });
            if v.is_group {
                s["recipient_type"] = json!("group");
            }
            if let Some(b) = &v.biz_opaque_callback_data {
                s["biz_opaque_callback_data"] = json!(b);
            }
            s
        };
        let d = &cfg.status_delays;
        if let Some((code, details)) = async_failure {
            let mut s = base("failed", ts + d.sent);
            s["errors"] = json!([GraphError::webhook_error(code, details.as_deref())]);
            bump(&self.inner.stats.statuses_emitted);
            self.schedule(now + d.sent, Item::Status { pnid, status: s });
            return;
        }
        let category = template_category.unwrap_or("service").to_string();
        let pricing_type = match template_category {
            None => "free_customer_service",
            Some("utility") if window_open => "free_customer_service",
            Some(_) => "regular",
        };
        let pricing = json!({
            "billable": pricing_type == "regular",
            "pricing_model": "PMP",
            "type": pricing_type,
            "category": category,
        });
        // v24.0+ drops `conversation`; older versions carry one per message.
        let with_conversation = api_major(version).is_some_and(|m| m <= 23);
        let conversation_id = ids::hex32();
        let conversation = |sent: bool| -> Value {
            let mut c = json!({"id": conversation_id, "origin": {"type": category}});
            if sent {
                c["expiration_timestamp"] = json!((ts.as_secs() + 24 * 3600).to_string());
            }
            c
        };
        let mut rng = rand::rng();
        let skip_delivered = rng.random_bool(cfg.delivered_skip_probability);
        let read = rng.random_bool(cfg.read_probability);
        let swap = rng.random_bool(cfg.out_of_order_probability);
        let duplicate = rng.random_bool(cfg.duplicate_probability);

        let mut events: Vec<(Duration, Value)> = Vec::with_capacity(4);
        let mut sent = base("sent", ts + d.sent);
        if with_conversation {
            sent["conversation"] = conversation(true);
        }
        sent["pricing"] = pricing.clone();
        events.push((d.sent, sent));
        if !skip_delivered {
            let mut s = base("delivered", ts + d.delivered);
            if with_conversation {
                s["conversation"] = conversation(false);
            }
            s["pricing"] = pricing.clone();
            events.push((d.delivered, s));
        }
        if read || skip_delivered {
            let mut s = base("read", ts + d.read);
            if skip_delivered {
                if with_conversation {
                    s["conversation"] = conversation(false);
                }
                s["pricing"] = pricing.clone();
            }
            events.push((d.read, s));
        }
        if swap && events.len() >= 3 {
            let (a, b) = (events[1].0, events[2].0);
            events[1].0 = b;
            events[2].0 = a;
            let (ta, tb) = (events[1].1["timestamp"].clone(), events[2].1["timestamp"].clone());
            events[1].1["timestamp"] = tb;
            events[2].1["timestamp"] = ta;
        }
        if duplicate {
            let i = rng.random_range(0..events.len());
            let (delay, s) = events[i].clone();
            events.push((delay + Duration::from_millis(1), s));
        }
        for (delay, status) in events {
            bump(&self.inner.stats.statuses_emitted);
            self.schedule(now + delay, Item::Status { pnid: pnid.clone(), status });
        }
    }

    // ----------------------------------------------------------------------------- customers

    /// A simulated customer sends `message` to the business number: opens/refreshes the
    /// customer-service window, stores any media, and enqueues the signed `messages` webhook.
    /// Returns the inbound wamid (empty string if the number is unknown).
    pub async fn customer_sends(
        &self,
        phone_number_id: &str,
        from_wa_id: &str,
        profile_name: &str,
        message: CustomerMessage,
    ) -> String {
        self.customer_sends_sync(phone_number_id, from_wa_id, profile_name, message).unwrap_or_default()
    }

    /// Non-async form of [`MetaSim::customer_sends`]; `None` if the number is unknown.
    pub fn customer_sends_sync(
        &self,
        phone_number_id: &str,
        from_wa_id: &str,
        profile_name: &str,
        message: CustomerMessage,
    ) -> Option<String> {
        let number = self.number(phone_number_id)?;
        let spec = number.spec();
        let cfg = self.cfg();
        let now = Instant::now();
        let wamid = ids::wamid(from_wa_id, true);
        let ts = unix_now().as_secs().to_string();
        let last_outbound;
        {
            let mut users = lock(&number.users);
            let u = users.entry(from_wa_id.to_string()).or_default();
            u.last_inbound = Some(now);
            last_outbound = u.last_outbound_wamid.clone();
        }
        // Inbound traffic counts against the number's throughput too (never rejected here).
        if cfg.limits_enabled {
            let mps = spec.throughput_mps.unwrap_or(cfg.throughput_mps);
            let _ = number.take_throughput(mps, now);
        }
        lock(&number.inbound_wamids).insert(wamid.clone());
        bump(&self.inner.stats.customer_messages);

        let mut msg = self.build_inbound(&spec, &cfg, from_wa_id, &wamid, &ts, message, last_outbound);
        if msg.get("from").is_none() {
            msg["from"] = json!(from_wa_id);
        }
        let contact = json!({"profile": {"name": profile_name}, "wa_id": from_wa_id});
        if spec.webhook_url.is_some() {
            self.schedule(now, Item::Message { pnid: spec.phone_number_id.clone(), contact, message: msg });
        } else {
            bump(&self.inner.stats.webhook_items_dropped_no_url);
        }
        Some(wamid)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_inbound(
        &self,
        spec: &NumberSpec,
        cfg: &SimConfig,
        from: &str,
        wamid: &str,
        ts: &str,
        message: CustomerMessage,
        last_outbound: Option<String>,
    ) -> Value {
        let mut m = json!({"from": from, "id": wamid, "timestamp": ts});
        let ctx = |id: &str| json!({"from": spec.display_phone_number, "id": id});
        let media = |kind: &str, input: MediaInput, voice: bool, filename: Option<&str>| -> Value {
            let mime = input.mime_type.unwrap_or_else(|| default_mime(kind, voice).to_string());
            let data = input.data.unwrap_or_else(|| format!("meta-sim placeholder {kind} from {from}").into_bytes());
            let media = self.store_media(&spec.phone_number_id, Bytes::from(data), mime, filename.map(str::to_string));
            let mut o = json!({"mime_type": media.mime_type, "sha256": media.sha256_b64, "id": media.id});
            if cfg.inbound_media_url
                && let Some(url) = self.media_url(&media, None, cfg)
            {
                o["url"] = json!(url);
            }
            o
        };
        match message {
            CustomerMessage::Text { body } => {
                m["type"] = json!("text");
                m["text"] = json!({"body": body});
            }
            CustomerMessage::Image { media: i, caption } => {
                let mut o = media("image", i, false, None);
                if let Some(c) = caption {
                    o["caption"] = json!(c);
                }
                m["type"] = json!("image");
                m["image"] = o;
            }
            CustomerMessage::Audio { media: i, voice } => {
                let mut o = media("audio", i, voice, None);
                o["voice"] = json!(voice);
                m["type"] = json!("audio");
                m["audio"] = o;
            }
            CustomerMessage::Video { media: i, caption } => {
                let mut o = media("video", i, false, None);
                if let Some(c) = caption {
                    o["caption"] = json!(c);
                }
                m["type"] = json!("video");
                m["video"] = o;
            }
            CustomerMessage::Document { media: i, caption, filename } => {
                let filename = filename.unwrap_or_else(|| "document.pdf".into());
                let mut o = media("document", i, false, Some(&filename));
                o["filename"] = json!(filename);
                if let Some(c) = caption {
                    o["caption"] = json!(c);
                }
                m["type"] = json!("document");
                m["document"] = o;
            }
            CustomerMessage::Sticker { media: i, animated } => {
                let mut o = media("sticker", i, false, None);
                o["animated"] = json!(animated);
                m["type"] = json!("sticker");
                m["sticker"] = o;
            }
            CustomerMessage::Location { latitude, longitude, name, address, url } => {
                let mut o = json!({"latitude": latitude, "longitude": longitude});
                if let Some(n) = name {
                    o["name"] = json!(n);
                }
                if let Some(a) = address {
                    o["address"] = json!(a);
                }
                if let Some(u) = url {
                    o["url"] = json!(u);
                }
                m["type"] = json!("location");
                m["location"] = o;
            }
            CustomerMessage::Contacts { contacts } => {
                m["type"] = json!("contacts");
                m["contacts"] = json!(contacts);
            }
            CustomerMessage::ButtonReply { id, title } => {
                m["type"] = json!("interactive");
                m["interactive"] = json!({"type": "button_reply", "button_reply": {"id": id, "title": title}});
                if let Some(o) = &last_outbound {
                    m["context"] = ctx(o);
                }
            }
            CustomerMessage::ListReply { id, title, description } => {
                let mut r = json!({"id": id, "title": title});
                if let Some(d) = description {
                    r["description"] = json!(d);
                }
                m["type"] = json!("interactive");
                m["interactive"] = json!({"type": "list_reply", "list_reply": r});
                if let Some(o) = &last_outbound {
                    m["context"] = ctx(o);
                }
            }
            CustomerMessage::Button { payload, text } => {
                m["type"] = json!("button");
                m["button"] = json!({"payload": payload, "text": text});
                if let Some(o) = &last_outbound {
                    m["context"] = ctx(o);
                }
            }
            CustomerMessage::Reaction { message_id, emoji } => {
                m["type"] = json!("reaction");
                m["reaction"] = json!({"message_id": message_id, "emoji": emoji});
            }
            CustomerMessage::Reply { reply_to, message } => {
                m = self.build_inbound(spec, cfg, from, wamid, ts, *message, last_outbound);
                m["context"] = ctx(&reply_to);
            }
            CustomerMessage::Raw { message } => {
                if let Value::Object(obj) = message {
                    for (k, v) in obj {
                        m[k] = v;
                    }
                }
            }
        }
        m
    }

    // ----------------------------------------------------------------------------- media

    pub(crate) fn store_media(
        &self,
        owner: &str,
        bytes: Bytes,
        mime_type: String,
        filename: Option<String>,
    ) -> Arc<Media> {
        let digest = Sha256::digest(&bytes);
        use base64::Engine;
        let media = Arc::new(Media {
            id: ids::numeric_id(),
            owner: owner.to_string(),
            mime_type,
            sha256_hex: hex::encode(digest),
            sha256_b64: base64::engine::general_purpose::STANDARD.encode(digest),
            bytes,
            filename,
        });
        write(&self.inner.media).insert(media.id.clone(), media.clone());
        media
    }

    pub(crate) fn get_media(&self, id: &str) -> Option<Arc<Media>> {
        read(&self.inner.media).get(id).cloned()
    }

    pub(crate) fn delete_media(&self, id: &str) -> bool {
        write(&self.inner.media).remove(id).is_some()
    }

    fn url_sig(&self, mid: &str, ext: u64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.inner.url_secret).expect("hmac key");
        mac.update(format!("{mid}:{ext}").as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// A fresh, expiring download URL of a media object.
    pub(crate) fn media_url(&self, media: &Media, base: Option<&str>, cfg: &SimConfig) -> Option<String> {
        let base = match base {
            Some(b) => b.to_string(),
            None => self.base_url()?,
        };
        let ext = (unix_now() + cfg.media_url_ttl).as_millis() as u64;
        Some(format!(
            "{base}/whatsapp_business/attachments/?mid={}&ext={ext}&hash={}",
            media.id,
            self.url_sig(&media.id, ext)
        ))
    }

    /// Check a download URL's signature and expiry.
    pub(crate) fn check_media_url(&self, mid: &str, ext: u64, hash: &str) -> bool {
        let expected = self.url_sig(mid, ext);
        let fresh = unix_now().as_millis() as u64 <= ext;
        fresh && constant_eq(expected.as_bytes(), hash.as_bytes())
    }

    // ----------------------------------------------------------------------------- templates

    /// Create a template from a Graph request body and schedule its review.
    pub(crate) fn create_template(&self, waba_id: &str, body: &Value) -> GraphResult {
        let t = templates::from_create_request(waba_id, body, ids::numeric_id())?;
        {
            let mut all = lock(&self.inner.templates);
            let list = all.entry(waba_id.to_string()).or_default();
            if list.iter().any(|x| x.name == t.name && x.language == t.language) {
                let mut e = GraphError::invalid(format!(
                    "Content in this language already exists: there is already {} content for this template ({}).",
                    t.language, t.name
                ));
                e.subcode = Some(2388024);
                return Err(e);
            }
            list.push(t.clone());
        }
        bump(&self.inner.stats.templates_created);
        let resp = json!({"id": t.id, "status": "PENDING", "category": t.category});
        let weak = self.weak();
        let delay = self.cfg().template_review_delay;
        let id = t.id.clone();
        let waba = waba_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(inner) = weak.upgrade() {
                MetaSim::from_inner(inner).review_template(&waba, &id);
            }
        });
        Ok(resp)
    }

    fn review_template(&self, waba_id: &str, id: &str) {
        let rule = self.cfg().template_review.clone();
        let reviewed = {
            let mut all = lock(&self.inner.templates);
            let Some(t) = all.get_mut(waba_id).and_then(|l| l.iter_mut().find(|t| t.id == id)) else {
                return;
            };
            if t.status != "PENDING" {
                return;
            }
            let outcome =
                lock(&self.inner.review_overrides).get(&t.name).cloned().unwrap_or_else(|| rule.decide(&t.name));
            match outcome {
                ReviewOutcome::StayPending => return,
                ReviewOutcome::Approve => {
                    t.status = "APPROVED".into();
                    (t.clone(), None)
                }
                ReviewOutcome::Reject { reason } => {
                    t.status = "REJECTED".into();
                    t.rejected_reason = Some(reason.clone());
                    (t.clone(), Some(reason))
                }
            }
        };
        match reviewed {
            (t, None) => self.emit_template_event(&t, "APPROVED", "NONE", None),
            (t, Some(reason)) => {
                let info = json!({
                    "reason": reason,
                    "recommendation": "Review the template guidelines, edit the template and submit it again.",
                });
                self.emit_template_event(&t, "REJECTED", &reason, Some(info));
            }
        }
    }

    /// Delete templates by name (all languages) or by `hsm_id` + name.
    pub(crate) fn delete_templates(&self, waba_id: &str, name: &str, hsm_id: Option<&str>) -> GraphResult {
        let mut all = lock(&self.inner.templates);
        let list = all.entry(waba_id.to_string()).or_default();
        let before = list.len();
        list.retain(|t| !(t.name == name && hsm_id.is_none_or(|h| h == t.id)));
        if list.len() == before {
            let mut e = GraphError::invalid(format!("Message template \"{name}\" not found"));
            e.subcode = Some(2593002);
            return Err(e);
        }
        Ok(json!({"success": true}))
    }

    pub(crate) fn find_template_by_id(&self, id: &str) -> Option<Template> {
        lock(&self.inner.templates).values().flat_map(|l| l.iter()).find(|t| t.id == id).cloned()
    }
}

#[derive(Serialize)]
struct SendResponse<'a> {
    messaging_product: &'static str,
    contacts: [SendContact<'a>; 1],
    messages: [SendMessageId<'a>; 1],
}

#[derive(Serialize)]
struct SendContact<'a> {
    input: &'a str,
    wa_id: &'a str,
}

#[derive(Serialize)]
struct SendMessageId<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_status: Option<&'static str>,
}

/// `v23.0` → 23.
pub(crate) fn api_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
