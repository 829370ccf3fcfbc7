//! From the event bus to the receiver: the dispatcher enqueues one `webhook-delivery` job per
//! matching endpoint; the job handler signs, sends, logs the attempt and retries or gives up.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::{jobs, webhook_deliveries, webhook_endpoints};
use crate::events::DomainEvent;
use crate::ids::TenantId;
use crate::jobs::runner::Handler;
use crate::jobs::{NewJob, Outcome};
use crate::state::AppState;

/// The delivery queue's name.
pub const QUEUE: &str = crate::jobs::queues::WEBHOOK_DELIVERY;
/// Each attempt gives up after this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of a response body is read (and kept, truncated, in the log on failure).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Subscribes to the event bus until `cancel`, enqueueing deliveries. Started with the workers.
pub fn start_dispatcher(state: &AppState, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
    let mut rx = state.events.subscribe();
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                _ = cancel.cancelled() => break,
                r = rx.recv() => r,
            };
            match item {
                Ok(ev) => {
                    if let Err(e) = dispatch(&state, &ev.event).await {
                        tracing::warn!(error = %e, kind = ev.event.kind(), "could not enqueue webhook deliveries");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "webhook dispatcher lagged; some events were not delivered");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// Whether an endpoint's filter admits an event type.
fn wants(events: &Value, event_type: &str) -> bool {
    events.as_array().is_some_and(|a| a.iter().any(|e| e == "*" || e == event_type))
}

/// How long a tenant's enabled endpoints are cached for the dispatcher. Changes made on this node
/// take effect at once; changes made on another node within this time.
const ENDPOINT_CACHE_TTL: Duration = Duration::from_secs(2);

type EndpointFilters = Arc<Vec<(Uuid, Value)>>;

fn endpoint_cache() -> &'static std::sync::Mutex<std::collections::HashMap<Uuid, (Instant, EndpointFilters)>> {
    static CACHE: OnceLock<std::sync::Mutex<std::collections::HashMap<Uuid, (Instant, EndpointFilters)>>> =
        OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Forgets the cached endpoints of a tenant (after a change on this node).
pub fn invalidate(tenant: TenantId) {
    endpoint_cache().lock().unwrap_or_else(|e| e.into_inner()).remove(&tenant.0);
}

/// The tenant's enabled endpoints and their filters, cached briefly: most events belong to tenants
/// without endpoints, and the dispatcher should not query for each of them.
async fn enabled_endpoints(state: &AppState, tenant: TenantId) -> Result<EndpointFilters, sea_orm::DbErr> {
    let now = Instant::now();
    if let Some((at, v)) = endpoint_cache().lock().unwrap_or_else(|e| e.into_inner()).get(&tenant.0)
        && now.duration_since(*at) < ENDPOINT_CACHE_TTL
    {
        return Ok(v.clone());
    }
    let rows: Vec<(Uuid, Value)> = webhook_endpoints::Entity::of(tenant)
        .select_only()
        .column(webhook_endpoints::Column::Id)
        .column(webhook_endpoints::Column::Events)
        .filter(webhook_endpoints::Column::Enabled.eq(true))
        .into_tuple()
        .all(&state.db)
        .await?;
    let v = Arc::new(rows);
    let mut g = endpoint_cache().lock().unwrap_or_else(|e| e.into_inner());
    if g.len() > 10_000 {
        g.clear();
    }
    g.insert(tenant.0, (now, v.clone()));
    Ok(v)
}

/// Enqueues one delivery per enabled endpoint of the tenant that wants this event. Returns how many.
pub async fn dispatch(state: &AppState, ev: &DomainEvent) -> Result<u64, sea_orm::DbErr> {
    let Some(event_type) = ev.event.public_type() else {
        return Ok(0);
    };
    let endpoints = enabled_endpoints(state, TenantId(ev.tenant_id)).await?;
    let targets: Vec<&(Uuid, Value)> = endpoints.iter().filter(|(_, events)| wants(events, event_type)).collect();
    if targets.is_empty() {
        return Ok(0);
    }
    // The id is derived from the content, so nodes sharing events through Redis enqueue one job.
    let data = ev.data();
    let digest = switchboard_crypto::token::sha256_hex(
        format!("{}|{}|{}", ev.tenant_id, ev.kind(), serde_json::to_string(&data).unwrap_or_default()).as_bytes(),
    );
    let event_id = format!("evt_{}", &digest[..32]);
    let body = serde_json::to_string(&json!({
        "type": event_type,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    }))
    .unwrap_or_default();
    let attempts = state.config.webhooks_retry_schedule.len() as i32 + 1;
    let jobs_: Vec<NewJob> = targets
        .iter()
        .map(|(id, _)| {
            crate::jobs::Job::job(&crate::jobs::payloads::DeliverWebhook {
                endpoint_id: *id,
                event_id: event_id.clone(),
                event_type: event_type.to_string(),
                body: body.clone(),
            })
            .unique(format!("{id}:{event_id}"))
            .attempts(attempts)
            .tenant(ev.tenant_id)
        })
        .collect();
    let n = crate::jobs::enqueue_many(state.writer(), jobs_).await?;
    state.jobs_wakeup.wake(QUEUE);
    Ok(n)
}

/// The delivery client: 10 s timeout, no redirects, no proxy, and a resolver that refuses
/// forbidden addresses unless private targets are allowed.
fn client(allow_private: bool) -> &'static reqwest::Client {
    static CLIENTS: [OnceLock<reqwest::Client>; 2] = [OnceLock::new(), OnceLock::new()];
    CLIENTS[usize::from(allow_private)].get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("Switchboard-Webhooks/1")
            .dns_resolver(Arc::new(super::ssrf::GuardedResolver { allow_private }))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// The job handler of `webhook-delivery`.
pub fn handler() -> Handler<AppState> {
    Arc::new(|state, job| async move { run(&state, &job).await }.boxed())
}

struct Attempt {
    status: Option<u16>,
    error: Option<String>,
}

async fn send(state: &AppState, e: &webhook_endpoints::Model, event_id: &str, body: &str) -> Attempt {
    let fail = |m: String| Attempt { status: None, error: Some(m) };
    let allow = state.config.webhooks_allow_private;
    let url = match super::ssrf::parse_url(&e.url, allow) {
        Ok(u) => u,
        Err(m) => return fail(format!("url {m}")),
    };
    // IP literals bypass the resolver; names are checked again by it when connecting.
    if let Err(m) = super::ssrf::check_url(&url, allow).await {
        return fail(format!("url {m}"));
    }
    let secret = match crate::secrets::decrypt(
        &state.config.encryption_keys,
        e.tenant_id,
        e.id,
        crate::secrets::Purpose::WebhookSecret,
        &e.secret_enc,
    ) {
        Ok(s) => s,
        Err(err) => return fail(format!("cannot read the signing secret: {}", err.message)),
    };
    let ts = chrono::Utc::now().timestamp();
    let res = client(allow)
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", super::sign(&secret, event_id, ts, body))
        .body(body.to_string())
        .send()
        .await;
    let mut res = match res {
        Ok(r) => r,
        Err(err) => {
            let kind = if err.is_timeout() { "timed out" } else { "request failed" };
            return fail(format!("{kind}: {}", error_chain(&err)));
        }
    };
    let status = res.status();
    // Read (a bounded part of) the body so the connection can be reused; keep a snippet on failure.
    let mut snippet = Vec::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        let room = MAX_RESPONSE_BYTES.saturating_sub(snippet.len());
        snippet.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if snippet.len() >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    if status.is_success() {
        Attempt { status: Some(status.as_u16()), error: None }
    } else {
        let text: String = String::from_utf8_lossy(&snippet).chars().take(300).collect();
        Attempt { status: Some(status.as_u16()), error: Some(format!("HTTP {}: {text}", status.as_u16())) }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s.chars().take(500).collect()
}

async fn run(state: &AppState, job: &jobs::Model) -> Result<(), Outcome> {
    let p = <crate::jobs::payloads::DeliverWebhook as crate::jobs::Job>::of(job)?;
    let (endpoint_id, event_id, body, event_type) =
        (p.endpoint_id, p.event_id.as_str(), p.body.as_str(), p.event_type.as_str());
    let retry = |e: sea_orm::DbErr| Outcome::Retry { error: e.to_string(), after: None };
    let Some(e) = webhook_endpoints::Entity::find_by_id(endpoint_id).one(&state.db).await.map_err(retry)? else {
        return Ok(()); // deleted meanwhile
    };
    if !e.enabled {
        return Ok(()); // disabled meanwhile: nothing to send
    }
    let started = Instant::now();
    let attempt = send(state, &e, event_id, body).await;
    let ok = attempt.error.is_none();
    webhook_deliveries::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(e.tenant_id),
        endpoint_id: Set(e.id),
        event_id: Set(event_id.to_string()),
        event_type: Set(event_type.to_string()),
        attempt: Set(job.attempts),
        status_code: Set(attempt.status.map(i32::from)),
        duration_ms: Set(started.elapsed().as_millis() as i64),
        error: Set(attempt.error.clone()),
        success: Set(ok),
        created_at: Set(crate::db::now()),
    }
    .insert(state.writer())
    .await
    .map_err(retry)?;
    if ok {
        if e.consecutive_failures != 0 || e.failing_since.is_some() {
            webhook_endpoints::Entity::update_many()
                .col_expr(webhook_endpoints::Column::ConsecutiveFailures, Expr::value(0))
                .col_expr(
                    webhook_endpoints::Column::FailingSince,
                    Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
                )
                .filter(webhook_endpoints::Column::Id.eq(e.id))
                .exec(state.writer())
                .await
                .map_err(retry)?;
        }
        return Ok(());
    }
    let error = attempt.error.unwrap_or_default();
    let schedule = &state.config.webhooks_retry_schedule;
    if job.attempts < job.max_attempts {
        let after = schedule.get((job.attempts - 1).max(0) as usize).or(schedule.last()).copied();
        return Err(Outcome::Retry { error, after: Some(after.unwrap_or(Duration::from_secs(60))) });
    }
    // The last attempt failed: the event is given up, and the endpoint may be disabled.
    if let Err(err) = record_final_failure(state, &e).await {
        tracing::warn!(error = %err.message, endpoint = %e.id, "could not record a webhook endpoint's failure");
    }
    Err(Outcome::Dead { error })
}

async fn record_final_failure(state: &AppState, e: &webhook_endpoints::Model) -> crate::error::AppResult<()> {
    let txn = state.writer().begin().await?;
    let Some(cur) = webhook_endpoints::Entity::find_by_id(e.id).one(&txn).await? else {
        return Ok(());
    };
    let now = crate::db::now();
    let failures = cur.consecutive_failures + 1;
    let since = cur.failing_since.unwrap_or(now);
    let disable =
        cur.enabled && (failures >= super::DISABLE_AFTER_FAILURES || now - since >= super::DISABLE_AFTER_FAILING_FOR);
    let reason = if failures >= super::DISABLE_AFTER_FAILURES {
        format!("{failures} deliveries in a row failed after every retry")
    } else {
        format!("deliveries have been failing since {} ({failures} given up)", since.to_rfc3339())
    };
    let tenant = cur.tenant_id;
    let url = cur.url.clone();
    let mut am: webhook_endpoints::ActiveModel = cur.into();
    am.consecutive_failures = Set(failures);
    am.failing_since = Set(Some(since));
    if disable {
        am.enabled = Set(false);
        am.disabled_reason = Set(Some(reason.clone()));
    }
    am.updated_at = Set(now);
    am.update(&txn).await?;
    if disable {
        crate::audit::record(
            &txn,
            crate::audit::Entry {
                tenant_id: Some(tenant),
                actor_user_id: None,
                action: "webhook_endpoint.disabled",
                target_type: Some("webhook_endpoint"),
                target_id: Some(e.id.to_string()),
                details: json!({ "url": url, "reason": reason, "consecutiveFailures": failures }),
                ip: None,
            },
        )
        .await?;
    }
    txn.commit().await?;
    if disable {
        invalidate(TenantId(tenant));
        tracing::warn!(endpoint = %e.id, %url, "webhook endpoint disabled after repeated failures");
        state.events.publish(DomainEvent::new(
            tenant,
            crate::events::Event::WebhookEndpointDisabled(crate::events::WebhookEndpointDisabled {
                id: e.id,
                url: url.to_string(),
                reason: reason.to_string(),
            }),
        ));
    }
    Ok(())
}
