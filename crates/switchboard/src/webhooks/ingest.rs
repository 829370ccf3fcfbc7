//! The acknowledgement path: signature, routing, and a group-commit writer that stores each raw
//! event and its processing job in the same transaction before the 200 is sent.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sea_orm::sea_query::{CommonTableExpression, WithClause};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryTrait, Set, TransactionTrait};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::db::group::{Closed, GroupCommit};
use crate::directory::RoutedAccount;
use crate::entities::enums::WebhookState;
use crate::entities::webhook_events;
use crate::jobs::{self, NewJob};
use crate::state::AppState;

/// Only the ids needed to pick a signing secret and a tenant; the rest is the worker's business.
#[derive(Deserialize, Default)]
struct Routing {
    #[serde(default)]
    entry: Vec<RoutingEntry>,
}
#[derive(Deserialize, Default)]
struct RoutingEntry {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    changes: Vec<RoutingChange>,
}
#[derive(Deserialize, Default)]
struct RoutingChange {
    #[serde(default)]
    value: Option<RoutingValue>,
}
#[derive(Deserialize, Default)]
struct RoutingValue {
    #[serde(default)]
    metadata: Option<RoutingMetadata>,
}
#[derive(Deserialize, Default)]
struct RoutingMetadata {
    #[serde(default)]
    phone_number_id: Option<Value>,
}

fn as_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The outcome of checking a webhook's signature.
pub struct Verified {
    pub tenant_id: Option<Uuid>,
    pub phone_number_id: Option<String>,
}

/// Verifies `X-Hub-Signature-256` with the platform app secret, or with the app secrets of the
/// accounts the body is for. `None`: no secret verifies it.
///
/// An account's own app secret vouches for that account only: every change in the body must be
/// for a number whose account's secret verifies the signature (a WABA-level change: for one of
/// the WABA's accounts), otherwise a workspace with its own app secret could sign events into
/// another workspace's numbers. Changes for unknown numbers are left to processing (unroutable).
pub async fn verify(state: &AppState, body: &[u8], signature: &str) -> Option<Verified> {
    let routing: Routing = serde_json::from_slice(body).unwrap_or_default();
    let mut phone_ids: Vec<String> = Vec::new();
    // Per change, the accounts one of which must verify: its number's, or its WABA's.
    let mut vouchers: Vec<Vec<Arc<RoutedAccount>>> = Vec::new();
    for entry in &routing.entry {
        let waba = entry.id.as_ref().and_then(as_id);
        for change in &entry.changes {
            let phone =
                change.value.as_ref().and_then(|v| v.metadata.as_ref()?.phone_number_id.as_ref()).and_then(as_id);
            let accounts = match phone {
                Some(p) => {
                    let a = state.directory.by_phone(&p).await;
                    phone_ids.push(p);
                    a.into_iter().collect()
                }
                None => match &waba {
                    Some(w) => state.directory.by_waba(w).await,
                    None => Vec::new(),
                },
            };
            if !accounts.is_empty() && !vouchers.iter().any(|v| same_accounts(v, &accounts)) {
                vouchers.push(accounts);
            }
        }
    }
    let routed = Verified {
        tenant_id: vouchers.first().and_then(|v| v.first()).map(|a| a.tenant_id),
        phone_number_id: phone_ids.first().cloned(),
    };
    if let Some(secret) = &state.config.meta_app_secret
        && meta_cloud::signature::verify(secret.expose().as_bytes(), body, signature)
    {
        return Some(routed);
    }
    let signed_by = |a: &RoutedAccount| {
        a.app_secret.as_ref().is_some_and(|s| meta_cloud::signature::verify(s.expose().as_bytes(), body, signature))
    };
    let vouched = !vouchers.is_empty() && vouchers.iter().all(|v| v.iter().any(|a| signed_by(a)));
    vouched.then_some(routed)
}

fn same_accounts(a: &[Arc<RoutedAccount>], b: &[Arc<RoutedAccount>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.id == y.id)
}

struct Item {
    event: webhook_events::ActiveModel,
    id: Uuid,
    tenant_id: Option<Uuid>,
    /// When its processing job may run: now, or later within the tenant's fair share.
    run_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Batches concurrent webhook writes into shared transactions (group commit, `db::group`): each
/// event and its job still commit together, and each POST is answered only after its commit.
/// Cheap to clone: one per node, shared by the webhook route (which stores) and processing
/// (which reads its pressure and fair clock).
#[derive(Clone)]
pub struct Ingestor(Arc<Shared>);

struct Shared {
    commit: GroupCommit<Item, Result<(), String>>,
    /// Held by the one processing batch allowed to run while processing is behind (overload).
    overload_turn: Mutex<()>,
    /// Each tenant's share of processing (`webhooks::fair`).
    fair: super::fair::FairClock,
}

const MAX_BATCH: usize = 256;

impl Ingestor {
    fn new() -> Self {
        Self(Arc::new(Shared {
            commit: GroupCommit::new(8192, MAX_BATCH),
            overload_turn: Mutex::new(()),
            fair: Default::default(),
        }))
    }

    /// POSTs had to wait for a writer within the last `window`.
    pub fn saturated_within(&self, window: Duration) -> bool {
        self.0.commit.saturated_within(window)
    }

    /// A counter that grows each time POSTs had to wait because every writer was busy.
    pub fn saturation(&self) -> u64 {
        self.0.commit.saturation()
    }

    /// While processing is behind, batches take turns (one at a time, across workers), so that
    /// processing's share of the CPUs and connections stays bounded and POSTs are acknowledged.
    pub async fn overload_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.overload_turn.lock().await
    }

    /// Starts `writers` writer tasks (1 on SQLite: one writer connection; several on PostgreSQL).
    /// `db` is the writer connection; `wake` the processing queue's wake-up.
    pub fn start(db: sea_orm::DatabaseConnection, wake: Arc<tokio::sync::Notify>, writers: usize) -> Self {
        let ingest = Self::new();
        ingest.0.commit.spawn_writers(writers, move |batch: Vec<Item>| {
            let (db, wake) = (db.clone(), wake.clone());
            async move {
                let result = write_batch(&db, &batch).await;
                if result.is_ok() {
                    wake.notify_one();
                }
                result
            }
        });
        ingest
    }

    /// POSTs waiting for a writer to take them into a group commit.
    pub fn waiting(&self) -> usize {
        self.0.commit.waiting()
    }

    /// Processing claimed webhook jobs whose earliest `run_at` is `head` (`webhooks::fair`).
    pub fn served(&self, head: chrono::DateTime<chrono::Utc>) {
        self.0.fair.served(head);
    }

    /// Stores one raw webhook and its job; resolves after the commit.
    pub async fn store(&self, body: Bytes, headers: Value, verified: Verified) -> Result<Uuid, String> {
        let id = crate::db::new_id();
        let now = crate::db::now();
        let run_at = verified.tenant_id.map(|t| self.0.fair.schedule(t, super::fair::cost(body.len()), now));
        let event = webhook_events::ActiveModel {
            id: Set(id),
            received_at: Set(now),
            body: Set(body.to_vec()),
            headers: Set(headers),
            tenant_id: Set(verified.tenant_id),
            phone_number_id: Set(verified.phone_number_id),
            state: Set(WebhookState::Pending),
            attempts: Set(0),
            last_error: Set(None),
            processed_at: Set(None),
        };
        let item = Item { event, id, tenant_id: verified.tenant_id, run_at };
        match tokio::time::timeout(Duration::from_secs(10), self.0.commit.submit(item)).await {
            Ok(Ok(Ok(()))) => Ok(id),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(Closed)) => Err("ingest writer stopped".into()),
            Err(_) => Err("timed out waiting for the database".into()),
        }
    }
}

async fn write_batch(db: &sea_orm::DatabaseConnection, batch: &[Item]) -> Result<(), String> {
    let events: Vec<webhook_events::ActiveModel> = batch.iter().map(|i| i.event.clone()).collect();
    let jobs_: Vec<NewJob> = batch
        .iter()
        .map(|i| {
            let mut j =
                jobs::Job::job(&jobs::payloads::ProcessWebhook { event_id: i.id }).unique(i.id.to_string()).attempts(8);
            j.tenant_id = i.tenant_id;
            j.run_at = i.run_at;
            j
        })
        .collect();
    let run = async {
        if db.get_database_backend() == DbBackend::Postgres {
            // One statement, atomic on its own: `WITH ev AS (INSERT INTO webhook_events …) INSERT
            // INTO jobs …`. One round trip instead of four (BEGIN, two inserts, COMMIT).
            let Some(insert_jobs) = jobs::enqueue_many_statement(jobs_) else {
                return Ok(());
            };
            let insert_events = webhook_events::Entity::insert_many(events).into_query();
            let cte = CommonTableExpression::new().query(insert_events).table_name("ev").to_owned();
            db.execute(&insert_jobs.with(WithClause::new().cte(cte).to_owned())).await?;
            return Ok(());
        }
        let txn = db.begin().await?;
        webhook_events::Entity::insert_many(events).exec_without_returning(&txn).await?;
        jobs::enqueue_many(&txn, jobs_).await?;
        txn.commit().await
    };
    run.await.map_err(|e: sea_orm::DbErr| {
        tracing::error!(error = %e, n = batch.len(), "storing webhooks failed");
        e.to_string()
    })
}
