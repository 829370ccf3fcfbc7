//! Webhook scheduling, batching, signing and delivery with retries.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::sim::{Inner, MetaSim, bump, read, unix_now};

/// One webhook update.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// An inbound customer message (`field: messages`).
    Message { pnid: String, contact: Value, message: Value },
    /// A status of an outbound message (`field: messages`).
    Status { pnid: String, status: Value },
    /// A WABA-level event (`message_template_status_update`, …), sent to every distinct
    /// receiver of the WABA's numbers.
    Waba { waba_id: String, field: &'static str, value: Value },
}

pub(crate) struct Scheduled {
    pub due: Instant,
    pub seq: u64,
    pub epoch: u64,
    pub item: Item,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due && self.seq == other.seq
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap, we want the earliest first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.due.cmp(&self.due).then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Compute `sha256=<hex>` of HMAC-SHA256(app_secret, body).
pub fn signature_header(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC accepts any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Target {
    url: String,
    secret: String,
}

/// An update routed to a receiver, with the metadata of its number.
struct Routed {
    waba_id: String,
    pnid: String,
    display: String,
    item: Item,
}

struct Pending {
    items: Vec<Routed>,
    since: Instant,
}

/// Resolve an update to (target, routed) pairs; empty when nobody listens.
fn route(sim: &MetaSim, item: Item) -> Vec<(Target, Routed)> {
    match &item {
        Item::Message { pnid, .. } | Item::Status { pnid, .. } => {
            let Some(n) = sim.number(pnid) else {
                return vec![];
            };
            let spec = read(&n.spec);
            let Some(url) = spec.webhook_url.clone() else {
                bump(&sim.inner.stats.webhook_items_dropped_no_url);
                return vec![];
            };
            vec![(
                Target { url, secret: spec.app_secret.clone() },
                Routed {
                    waba_id: spec.waba_id.clone(),
                    pnid: pnid.clone(),
                    display: spec.display_phone_number.clone(),
                    item,
                },
            )]
        }
        Item::Waba { waba_id, .. } => {
            let mut targets: Vec<Target> = Vec::new();
            for n in read(&sim.inner.numbers).values() {
                let spec = read(&n.spec);
                if &spec.waba_id == waba_id
                    && let Some(url) = &spec.webhook_url
                {
                    let t = Target { url: url.clone(), secret: spec.app_secret.clone() };
                    if !targets.contains(&t) {
                        targets.push(t);
                    }
                }
            }
            if targets.is_empty() {
                bump(&sim.inner.stats.webhook_items_dropped_no_url);
            }
            targets
                .into_iter()
                .map(|t| {
                    (
                        t,
                        Routed {
                            waba_id: waba_id.clone(),
                            pnid: String::new(),
                            display: String::new(),
                            item: item.clone(),
                        },
                    )
                })
                .collect()
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    object: &'static str,
    entry: Vec<EntryOut<'a>>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<u64>,
    changes: Vec<ChangeOut<'a>>,
}

#[derive(Serialize)]
struct ChangeOut<'a> {
    value: ChangeValue<'a>,
    field: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ChangeValue<'a> {
    Messages(MessagesValue<'a>),
    Raw(&'a Value),
}

#[derive(Serialize)]
struct MessagesValue<'a> {
    messaging_product: &'static str,
    metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contacts: Option<Vec<&'a Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Vec<&'a Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statuses: Option<Vec<&'a Value>>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    display_phone_number: &'a str,
    phone_number_id: &'a str,
}

/// Build the `whatsapp_business_account` envelope for a batch, keys in Meta's order: one entry
/// per WABA, one change per (phone number, kind) for `messages`, one change per WABA-level event.
fn build_payload(items: &[Routed]) -> Vec<u8> {
    let time = unix_now().as_secs();
    let mut entries: Vec<EntryOut<'_>> = Vec::new();
    // (entry index, pnid, is_status) → change index
    let mut change_index: HashMap<(usize, &str, bool), usize> = HashMap::new();
    for r in items {
        let ei = match entries.iter().position(|e| e.id == r.waba_id) {
            Some(i) => i,
            None => {
                entries.push(EntryOut { id: &r.waba_id, time: None, changes: Vec::new() });
                entries.len() - 1
            }
        };
        let entry = &mut entries[ei];
        let (is_status, contact, update) = match &r.item {
            Item::Waba { field, value, .. } => {
                entry.time = Some(time);
                entry.changes.push(ChangeOut { value: ChangeValue::Raw(value), field });
                continue;
            }
            Item::Message { contact, message, .. } => (false, Some(contact), message),
            Item::Status { status, .. } => (true, None, status),
        };
        let changes = &mut entry.changes;
        let ci = *change_index.entry((ei, r.pnid.as_str(), is_status)).or_insert_with(|| {
            changes.push(ChangeOut {
                value: ChangeValue::Messages(MessagesValue {
                    messaging_product: "whatsapp",
                    metadata: Metadata { display_phone_number: &r.display, phone_number_id: &r.pnid },
                    contacts: (!is_status).then(Vec::new),
                    messages: (!is_status).then(Vec::new),
                    statuses: is_status.then(Vec::new),
                }),
                field: "messages",
            });
            changes.len() - 1
        });
        if let ChangeValue::Messages(v) = &mut changes[ci].value {
            if let (Some(cs), Some(c)) = (v.contacts.as_mut(), contact)
                && !cs.iter().any(|x| x["wa_id"] == c["wa_id"])
            {
                cs.push(c);
            }
            let list = if is_status { v.statuses.as_mut() } else { v.messages.as_mut() };
            if let Some(list) = list {
                list.push(update);
            }
        }
    }
    serde_json::to_vec(&Envelope { object: "whatsapp_business_account", entry: entries })
        .expect("webhook payload serializes")
}

/// The scheduler: keeps due times, batches due updates per receiver and spawns deliveries.
pub(crate) async fn run_scheduler(weak: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Scheduled>) {
    let mut heap: BinaryHeap<Scheduled> = BinaryHeap::new();
    let mut pending: HashMap<Target, Pending> = HashMap::new();
    loop {
        let (linger, batch_max) = match weak.upgrade() {
            Some(inner) => {
                let c = read(&inner.config);
                (c.webhook_batch_linger, c.webhook_batch_max)
            }
            None => return,
        };
        let next_due = heap.peek().map(|s| s.due);
        let linger_due = pending.values().map(|p| p.since + linger).min();
        let wake = match (next_due, linger_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(s) => heap.push(s),
                None => return,
            },
            _ = async {
                match wake {
                    Some(w) => tokio::time::sleep_until(w.into()).await,
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
        // Drain what else is queued without waiting.
        for _ in 0..10_000 {
            match rx.try_recv() {
                Ok(s) => heap.push(s),
                Err(_) => break,
            }
        }
        let Some(inner) = weak.upgrade() else { return };
        let sim = MetaSim::from_inner(inner);
        let epoch = sim.inner.epoch.load(Ordering::Relaxed);
        let now = Instant::now();
        while heap.peek().is_some_and(|s| s.due <= now) {
            let s = heap.pop().expect("peeked");
            if s.epoch != epoch {
                continue;
            }
            for (target, routed) in route(&sim, s.item) {
                let p = pending.entry(target.clone()).or_insert_with(|| Pending { items: Vec::new(), since: now });
                p.items.push(routed);
                if p.items.len() >= batch_max {
                    let p = pending.remove(&target).expect("present");
                    dispatch(&sim, target, p.items);
                }
            }
        }
        let ready: Vec<Target> =
            pending.iter().filter(|(_, p)| p.since + linger <= now).map(|(t, _)| t.clone()).collect();
        for t in ready {
            if let Some(p) = pending.remove(&t) {
                dispatch(&sim, t, p.items);
            }
        }
    }
}

fn dispatch(sim: &MetaSim, target: Target, items: Vec<Routed>) {
    let body = Bytes::from(build_payload(&items));
    let n = items.len() as u64;
    tokio::spawn(deliver(sim.weak(), target, body, n));
}

async fn deliver(weak: Weak<Inner>, target: Target, body: Bytes, n_items: u64) {
    let signature = signature_header(&target.secret, &body);
    let mut retry: u32 = 0;
    let mut nominal_age = Duration::ZERO;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let cfg = read(&inner.config).clone();
        let ok = if inner.webhook_unreachable.load(Ordering::Relaxed) {
            false
        } else {
            attempt(&inner, &target, &body, &signature, cfg.webhook_timeout).await
        };
        if ok {
            bump(&inner.stats.webhooks_delivered);
            inner.stats.webhook_items_delivered.fetch_add(n_items, Ordering::Relaxed);
            return;
        }
        bump(&inner.stats.webhook_attempts_failed);
        retry += 1;
        let policy = &cfg.webhook_retry;
        let nominal = policy.nominal_delay(retry);
        nominal_age += nominal;
        if nominal_age > policy.max_age {
            tracing::warn!(url = %target.url, "webhook dropped after the retry window");
            bump(&inner.stats.webhooks_dropped);
            return;
        }
        bump(&inner.stats.webhooks_retried);
        let sleep = policy.scaled(nominal);
        drop(inner);
        if !sleep.is_zero() {
            tokio::time::sleep(sleep).await;
        }
    }
}

async fn attempt(inner: &Arc<Inner>, target: &Target, body: &Bytes, signature: &str, timeout: Duration) -> bool {
    let Ok(_permit) = inner.webhook_permits.acquire().await else {
        return false;
    };
    let res = inner
        .http
        .post(&target.url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .header("user-agent", "facebookexternalua")
        .timeout(timeout)
        .body(body.clone())
        .send()
        .await;
    match res {
        Ok(r) => {
            let ok = r.status().as_u16() == 200;
            // Drain the body so the connection can be reused.
            let _ = r.bytes().await;
            if !ok {
                tracing::debug!(url = %target.url, "webhook receiver answered non-200");
            }
            ok
        }
        Err(e) => {
            tracing::debug!(url = %target.url, error = %e, "webhook POST failed");
            false
        }
    }
}
