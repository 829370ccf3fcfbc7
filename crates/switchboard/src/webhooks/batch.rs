//! Batch processing of `webhook-processor` jobs: up to `spec().batch` stored webhooks are applied
//! in ONE transaction with set-based statements (contacts and conversations inserted for every
//! sender at once, read back with one `IN (…)` query; messages inserted many rows per statement;
//! statuses for unknown wamids stored many rows per statement), the events marked and their jobs
//! completed in that same transaction, and usage applied once per (tenant, day) as its last
//! statement. The results are those of [`processor::process_event`] run on each event in order
//! (the tests hold both to the same behaviour); when the batch fails for any reason it is rolled
//! back and its events are processed one by one that way, so one bad event neither blocks nor
//! poisons the others.
//!
//! PostgreSQL runs several batches at once. New contacts and conversations are inserted outside
//! the batch's transaction (committed at once), because an insert that meets another batch's
//! uncommitted row for the same customer waits for that whole transaction. The batch that created
//! a conversation counts it as opened; if that batch fails, its fallback does. Inside the
//! transaction, rows are locked in this order: messages, the statuses' messages, then the
//! conversations' updates and the usage rows, both just before the commit, so that two batches
//! wait for each other briefly instead of deadlocking (a deadlock would still only cost the
//! fallback).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use meta_cloud::webhook::{self as mw, MessageKind, WebhookEvent};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait, UpdateMany,
};
use uuid::Uuid;

use super::ingest::Ingestor;
use super::processor::{self, Ctx};
use crate::contacts::identity::{self, Sighting};
use crate::db::Scoped;
use crate::directory::RoutedAccount;
use crate::entities::enums::{ConversationStatus, Direction, MessageStatus, WebhookState};
use crate::entities::{contacts, conversations, jobs, messages, pending_statuses, webhook_events};
use crate::events::DomainEvent;
use crate::ids::TenantId;
use crate::jobs::payloads::ProcessWebhook;
use crate::jobs::runner::{BatchHandler, Done, QueueSpec};
use crate::jobs::{Outcome, queues};
use crate::state::AppState;

/// Rows per multi-row statement (stays far below both backends' bound-parameter limits).
const CHUNK: usize = 200;
/// SQLite: items (messages, statuses, …) per transaction while POSTs wait for the writer, and
/// when none do.
const SQLITE_SLICE_BUSY: usize = 48;
const SQLITE_SLICE_IDLE: usize = 512;
/// Processing is "behind" when the oldest event it claimed waited longer than this.
const BEHIND: chrono::TimeDelta = chrono::TimeDelta::seconds(2);
/// While behind and POSTs wait to be stored, processing pauses for this multiple of the time its
/// last transaction took (1: at most half of the writer and of the CPUs go to processing).
const YIELD_FACTOR: u32 = 1;
const MAX_YIELD: std::time::Duration = std::time::Duration::from_millis(500);

/// The queue's settings: PostgreSQL runs a few batches at once; SQLite has one writer connection,
/// shared with the ingest path, so one batch at a time, small enough to hold it briefly.
pub fn spec(config: &crate::config::Config) -> QueueSpec {
    let postgres = config.is_postgres();
    QueueSpec::new(queues::WEBHOOK_PROCESSOR, if postgres { config.webhook_workers } else { 1 })
        .batch(if postgres { 256 } else { 128 })
        .lookahead(super::fair::HORIZON)
        .on_dead(dead_job)
}

/// A `webhook-processor` job died: its event is `failed`, with the job's last error, in the same
/// transaction (listed by `GET /api/admin/webhook-events?state=failed`, counted in
/// `/api/metrics`, replayable). An event already processed stays so.
pub fn dead_job(job: &jobs::Model, error: &str) -> Option<sea_orm::sea_query::UpdateStatement> {
    let id = <ProcessWebhook as crate::jobs::Job>::of(job).ok()?.event_id;
    let q = webhook_events::Entity::update_many()
        .col_expr(webhook_events::Column::State, Expr::value(WebhookState::Failed.as_str()))
        .col_expr(
            webhook_events::Column::LastError,
            Expr::value(crate::jobs::truncate(&format!("processing job died: {error}"), 2000)),
        )
        .col_expr(webhook_events::Column::ProcessedAt, Expr::value(crate::db::now()))
        .filter(webhook_events::Column::Id.eq(id))
        .filter(webhook_events::Column::State.is_not_in([WebhookState::Processed, WebhookState::Unroutable]));
    Some(sea_orm::QueryTrait::into_query(q))
}

/// The batch handler for `webhook-processor`.
/// `ingest` is the acknowledgement path's writer on this node: processing yields to it.
pub fn handler(ingest: Ingestor) -> BatchHandler<AppState> {
    Arc::new(move |state, claimed, owner| {
        let ingest = ingest.clone();
        Box::pin(async move { process_jobs(&state, &ingest, claimed, &owner).await })
    })
}

type JobResult = (jobs::Model, Result<Done, Outcome>);

struct Item {
    jobs: Vec<jobs::Model>,
    event: webhook_events::Model,
    payload: mw::WebhookPayload,
}

/// Processes claimed `webhook-processor` jobs as one batch (see the module documentation).
pub async fn process_jobs(
    state: &AppState,
    ingest: &Ingestor,
    claimed: Vec<jobs::Model>,
    owner: &str,
) -> Vec<JobResult> {
    let started = std::time::Instant::now();
    let n_claimed = claimed.len();
    if let Some(head) = claimed.iter().map(|j| j.run_at).min() {
        ingest.served(head);
    }
    let mut results: Vec<JobResult> = Vec::with_capacity(claimed.len());
    let mut wanted = Vec::with_capacity(claimed.len());
    for job in claimed {
        match <ProcessWebhook as crate::jobs::Job>::of(&job) {
            Ok(p) => wanted.push((job, p.event_id)),
            Err(dead) => results.push((job, Err(dead))),
        }
    }
    if wanted.is_empty() {
        return results;
    }
    let ids: Vec<Uuid> = wanted.iter().map(|(_, id)| *id).collect::<HashSet<_>>().into_iter().collect();
    let mut stored = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        match webhook_events::Entity::find()
            .filter(webhook_events::Column::Id.is_in(chunk.iter().copied()))
            .all(&state.db)
            .await
        {
            Ok(rows) => stored.extend(rows.into_iter().map(|e| (e.id, e))),
            Err(e) => {
                let error = e.to_string();
                results.extend(
                    wanted.into_iter().map(|(j, _)| (j, Err(Outcome::Retry { error: error.clone(), after: None }))),
                );
                return results;
            }
        }
    }

    let read = started.elapsed();
    let mut items: Vec<Item> = Vec::new();
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    let mut finished: Vec<jobs::Model> = Vec::new(); // nothing to do but complete the job
    let mut single: Vec<(jobs::Model, Uuid)> = Vec::new(); // processed alone
    for (job, id) in wanted {
        if let Some(&i) = index.get(&id) {
            items[i].jobs.push(job); // a replay's job next to the original: one pass does both
            continue;
        }
        let Some(event) = stored.get(&id) else {
            results.push((job, Err(Outcome::Dead { error: format!("webhook event {id} not found") })));
            continue;
        };
        if matches!(event.state, WebhookState::Processed | WebhookState::Unroutable) {
            finished.push(job); // already done (a duplicate job, or a replay that was superseded)
            continue;
        }
        match mw::parse_webhook(&event.body) {
            Ok(payload) if within_bounds(&payload).is_ok() => {
                index.insert(id, items.len());
                items.push(Item { jobs: vec![job], event: event.clone(), payload });
            }
            // The single path marks it failed and kills its job.
            _ => single.push((job, id)),
        }
    }

    // On SQLite the writer connection is shared with the ingest path: while POSTs wait for it, a
    // transaction takes only a small slice of the claimed events, so that an acknowledgement waits
    // for a few milliseconds of processing at most; when none wait, larger ones.
    let parsed = started.elapsed();
    let sqlite = !state.config.is_postgres();
    // Overload: when processing is already behind, acknowledging new webhooks comes first (an
    // unacknowledged one is retried by Meta, later and later), so batches run one at a time and,
    // when POSTs had to wait for a writer (every ingest writer busy; on SQLite, the one writer
    // connection held by processing), pause after each transaction for as long as it took:
    // processing keeps about half of one worker's time. Caught up, or with writers to spare, it
    // runs flat out again.
    // Fair share (`webhooks::fair`): jobs taken ahead of their time beyond this claim's event
    // budget go back, so that a tenant's burst of large bodies holds a worker for one budget at
    // most before other tenants' due jobs are claimed.
    let oldest = items.iter().map(|i| i.event.received_at).min();
    let behind = oldest.is_some_and(|t| crate::db::now() - t > BEHIND);
    // Conversations a failed batch created outside its transaction (PostgreSQL), for the fallback.
    let mut fresh: HashSet<Uuid> = HashSet::new();
    let mut rest = items;
    let mut spent = 0;
    while !rest.is_empty() || !finished.is_empty() {
        if spent >= EVENT_BUDGET && !rest.is_empty() {
            rest = release_ahead(state, rest, owner, &mut results).await;
            if rest.is_empty() && finished.is_empty() {
                break;
            }
        }
        let budget = match (sqlite, ingest.waiting() > 0) {
            // PostgreSQL: slices of one budget, so the fair-share hand-back below runs between them.
            (false, _) => EVENT_BUDGET,
            (true, true) => SQLITE_SLICE_BUSY,
            (true, false) => SQLITE_SLICE_IDLE,
        };
        let (mut n, mut size) = (0, 0);
        while n < rest.len() && (n == 0 || size < budget) {
            size += rest[n].payload.events().count();
            n += 1;
        }
        spent += size;
        let tail = rest.split_off(n);
        let slice = std::mem::replace(&mut rest, tail);
        let done = std::mem::take(&mut finished);
        let overloaded = behind && ingest.saturated_within(std::time::Duration::from_secs(1));
        let turn = if overloaded { Some(ingest.overload_turn().await) } else { None };
        let slice_started = std::time::Instant::now();
        let saturation = ingest.saturation();
        let mut applied = apply_batch(state, &slice, &done, owner, &mut fresh).await;
        if let Err(e) = &applied
            && is_deadlock(e)
        {
            // Two batches locked shared rows (conversations, usage) in different orders and
            // PostgreSQL chose this one: running it again is far cheaper than one event at a time.
            tracing::debug!(events = slice.len(), "webhook batch deadlocked; running it again");
            applied = apply_batch(state, &slice, &done, owner, &mut fresh).await;
        }
        match applied {
            Ok(out) => {
                published(state, out);
                results.extend(done.into_iter().map(|j| (j, Ok(Done::Recorded))));
                for it in slice {
                    results.extend(it.jobs.into_iter().map(|j| (j, Ok(Done::Recorded))));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, events = slice.len(), "webhook batch failed; processing its events one by one");
                results.extend(done.into_iter().map(|j| (j, Ok(Done::Pending))));
                for it in slice {
                    let id = it.event.id;
                    single.extend(it.jobs.into_iter().map(|j| (j, id)));
                }
            }
        }
        // POSTs waited for a writer during this transaction, or wait now.
        let acks_waited = ingest.waiting() > 0 || ingest.saturation() > saturation;
        if behind && acks_waited {
            let pause = (slice_started.elapsed() * YIELD_FACTOR).min(MAX_YIELD);
            crate::metrics::add(&state.metrics.webhook_processing_yield_ms_total, pause.as_millis() as u64);
            tokio::time::sleep(pause).await;
        }
        drop(turn);
    }
    for (job, id) in single {
        let r = process_one(state, Some(job.clone()), id, owner, &mut fresh).await;
        results.push((job, r));
    }
    tracing::debug!(
        jobs = n_claimed,
        read_ms = read.as_millis() as u64,
        parse_ms = (parsed - read).as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "webhook jobs processed"
    );
    results
}

/// The most events (messages, statuses, errors, changes) one webhook body may carry. Meta sends at
/// most a few hundred updates per delivery; a body past this is an attack or a bug, and would
/// hold a worker for seconds: it is `failed` at once, with the reason, and not processed.
pub const MAX_EVENTS_PER_BODY: usize = 2_000;
/// The most `entry[]` items one body may carry.
pub const MAX_ENTRIES_PER_BODY: usize = 500;

/// Whether a parsed body is within [`MAX_EVENTS_PER_BODY`] and [`MAX_ENTRIES_PER_BODY`].
pub fn within_bounds(p: &mw::WebhookPayload) -> Result<(), String> {
    if p.entry.len() > MAX_ENTRIES_PER_BODY {
        return Err(format!("too many entries: {} (at most {MAX_ENTRIES_PER_BODY} per webhook)", p.entry.len()));
    }
    let n = p.events().take(MAX_EVENTS_PER_BODY + 1).count();
    if n > MAX_EVENTS_PER_BODY {
        return Err(format!("too many changes, messages or statuses: over {MAX_EVENTS_PER_BODY} per webhook"));
    }
    Ok(())
}

/// Events (messages, statuses, changes) one claimed batch processes before it gives back the jobs
/// that other tenants' waiting jobs precede.
pub const EVENT_BUDGET: usize = 1_024;

/// Once a claimed batch has processed [`EVENT_BUDGET`] events, and another tenant has due jobs
/// waiting, gives back (in one statement, keeping their place) its remaining jobs queued after
/// the first of those: the next claim takes that tenant's job before them (`webhooks::fair` puts
/// a quiet tenant's job at the frontier). A tenant alone is never slowed by it.
async fn release_ahead(state: &AppState, items: Vec<Item>, owner: &str, results: &mut Vec<JobResult>) -> Vec<Item> {
    let tenants: Vec<Uuid> = items
        .iter()
        .flat_map(|it| it.jobs.iter().filter_map(|j| j.tenant_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let first = match crate::jobs::first_due_of_others(state.writer(), queues::WEBHOOK_PROCESSOR, &tenants).await {
        Ok(Some(at)) => at,
        _ => return items, // alone (or the check failed): process them now
    };
    let (kept, beyond): (Vec<Item>, Vec<Item>) =
        items.into_iter().partition(|it| !it.jobs.iter().all(|j| j.run_at > first));
    if beyond.is_empty() {
        return kept;
    }
    let ids: Vec<i64> = beyond.iter().flat_map(|it| it.jobs.iter().map(|j| j.id)).collect();
    if crate::jobs::release(state.writer(), &ids, owner).await.is_err() {
        let mut all = kept;
        all.extend(beyond);
        return all;
    }
    for it in beyond {
        results.extend(it.jobs.into_iter().map(|j| (j, Ok(Done::Recorded))));
    }
    kept
}

/// After a commit: wake the queues it enqueued to, count, publish its domain events.
fn published(state: &AppState, out: Out) {
    for q in out.queued {
        state.jobs_wakeup.wake(q);
    }
    for _ in 0..out.processed {
        crate::metrics::inc(&state.metrics.webhook_events_processed_total);
    }
    for _ in 0..out.unroutable {
        crate::metrics::inc(&state.metrics.webhook_events_unroutable_total);
    }
    for e in out.events {
        state.events.publish(e);
    }
}

/// One event on its own: a batch of one, so that it follows exactly the batch's rules. Used for
/// the events of a failed batch (one bad event neither blocks nor poisons the others), for
/// unparseable bodies (marked `failed` at once) and by [`processor::process_event`]. With `job`,
/// the job is completed in the event's transaction.
pub(crate) async fn process_one(
    state: &AppState,
    job: Option<jobs::Model>,
    id: Uuid,
    owner: &str,
    fresh: &mut HashSet<Uuid>,
) -> Result<Done, Outcome> {
    let Some(event) = webhook_events::Entity::find_by_id(id).one(&state.db).await.map_err(processor::retry)? else {
        return Err(Outcome::Dead { error: format!("webhook event {id} not found") });
    };
    if matches!(event.state, WebhookState::Processed | WebhookState::Unroutable) {
        return Ok(Done::Pending); // already done (a duplicate job, or a replay that was superseded)
    }
    let payload = match mw::parse_webhook(&event.body).map_err(|e| format!("unparseable webhook: {e}")).and_then(|p| {
        within_bounds(&p)?;
        Ok(p)
    }) {
        Ok(p) => p,
        Err(error) => {
            processor::mark(state.writer(), id, WebhookState::Failed, Some(error.clone()), None)
                .await
                .map_err(processor::retry)?;
            crate::metrics::inc(&state.metrics.webhook_events_failed_total);
            return Err(Outcome::Dead { error });
        }
    };
    let with_job = job.is_some();
    let item = Item { jobs: job.into_iter().collect(), event, payload };
    let mut applied = apply_batch(state, std::slice::from_ref(&item), &[], owner, fresh).await;
    if let Err(e) = &applied
        && is_deadlock(e)
    {
        applied = apply_batch(state, std::slice::from_ref(&item), &[], owner, fresh).await;
    }
    match applied {
        Ok(out) => {
            published(state, out);
            Ok(if with_job { Done::Recorded } else { Done::Pending })
        }
        Err(e) => {
            let error = e.to_string();
            tracing::warn!(event = %id, error = %error, "webhook event failed to process");
            // Counted on the event while its job retries; `failed` once the job dies.
            if let Err(e) = processor::note_failed_attempt(state.writer(), id, &error).await {
                tracing::warn!(event = %id, error = %e, "could not record the failed attempt");
            }
            Err(Outcome::Retry { error, after: None })
        }
    }
}

struct Out {
    events: Vec<DomainEvent>,
    queued: Vec<&'static str>,
    processed: usize,
    unroutable: usize,
}

/// A message to store in a customer's conversation, with a wamid and a customer: the set-based
/// path.
struct Inbound<'a> {
    acct: Arc<RoutedAccount>,
    m: &'a mw::InboundMessage,
    /// Who the customer is, as this event says.
    who: Sighting<'a>,
    flow: Flow,
    /// The stored webhook event it came from.
    event: Uuid,
}

/// Where a stored message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// The customer wrote now: unread, window, reopening, assignment, opt-out keywords, usage.
    Live,
    /// The business wrote from the WhatsApp Business app (coexistence): an outbound message
    /// Switchboard never sends.
    Echo,
    /// An earlier message imported from the Business app (`history`), either direction.
    History { outbound: bool },
}

impl Inbound<'_> {
    fn tenant(&self) -> Uuid {
        self.acct.tenant_id
    }
    fn live(&self) -> bool {
        self.flow == Flow::Live
    }
    fn direction(&self) -> Direction {
        match self.flow {
            Flow::Live | Flow::History { outbound: false } => Direction::Inbound,
            Flow::Echo | Flow::History { outbound: true } => Direction::Outbound,
        }
    }
    fn origin(&self) -> Option<&'static str> {
        match self.flow {
            Flow::Live => None,
            Flow::Echo => Some("business_app"),
            Flow::History { .. } => Some("history"),
        }
    }
    fn status(&self) -> MessageStatus {
        match self.flow {
            Flow::Live | Flow::History { outbound: false } => MessageStatus::Received,
            Flow::Echo => MessageStatus::Sent,
            Flow::History { outbound: true } => match self.m.history_status.as_deref().map(str::to_ascii_uppercase) {
                Some(s) if s == "READ" => MessageStatus::Read,
                Some(s) if s == "PLAYED" => MessageStatus::Played,
                Some(s) if s == "DELIVERED" => MessageStatus::Delivered,
                Some(s) if s == "ERROR" => MessageStatus::Failed,
                _ => MessageStatus::Sent,
            },
        }
    }
}

/// The customer an event's message is from (inbound), to (echo) or with (history), or `None`
/// when it names no one (kept as an `unattributable_message` account event instead).
fn classify<'a>(tenant: Uuid, ev: &WebhookEvent<'a>) -> Option<(&'a mw::InboundMessage, Sighting<'a>, Flow)> {
    let username = |c: Option<&'a mw::Contact>| c.and_then(|c| c.profile.as_ref()).and_then(|p| p.username.as_deref());
    let (m, who, flow) = match *ev {
        WebhookEvent::Message { contact, message: m, .. } => {
            let who = Sighting::new(
                tenant,
                m.from.as_deref().or(contact.and_then(|c| c.wa_id.as_deref())),
                m.from_user_id.as_deref().or(contact.and_then(|c| c.user_id.as_deref())),
            )
            .profile(contact.and_then(|c| c.name()), username(contact));
            let who = match &m.kind {
                MessageKind::System(sys) => system_change(who, sys),
                _ => who,
            };
            (m, who, Flow::Live)
        }
        WebhookEvent::Echo { contact, message: m, .. } => {
            let who = Sighting::new(
                tenant,
                m.to.as_deref().or(contact.and_then(|c| c.wa_id.as_deref())),
                m.to_user_id.as_deref().or(contact.and_then(|c| c.user_id.as_deref())),
            )
            .profile(contact.and_then(|c| c.name()), username(contact));
            (m, who, Flow::Echo)
        }
        WebhookEvent::History { business_number, thread, message: m, .. } => {
            let ctx = thread.context.as_ref();
            let outbound = m.to.is_some() || (business_number.is_some() && m.from.as_deref() == business_number);
            let who = Sighting::new(
                tenant,
                Some(thread.id.as_str()).filter(|t| !t.is_empty()).or(ctx.and_then(|c| c.wa_id.as_deref())),
                ctx.and_then(|c| c.user_id.as_deref()).or(if outbound { None } else { m.from_user_id.as_deref() }),
            )
            .profile(None, username(ctx));
            (m, who, Flow::History { outbound })
        }
        _ => return None,
    };
    (who.identifies() && !m.id.is_empty()).then_some((m, who, flow))
}

/// `user_changed_number` / `user_changed_user_id`: the sender's identifiers before, and after.
fn system_change<'a>(who: Sighting<'a>, sys: &'a mw::InboundSystem) -> Sighting<'a> {
    match sys.system_type.as_deref() {
        Some("user_changed_number" | "customer_changed_number") => {
            who.changes_to(sys.wa_id.as_deref().or(sys.new_wa_id.as_deref()), sys.user_id.as_deref())
        }
        Some("user_changed_user_id") => {
            let mut who = who;
            if let Some(prev) = sys.previous_user_id.as_deref() {
                who.user_id = Some(prev).filter(|p| !p.is_empty());
            }
            who.changes_to(None, sys.user_id.as_deref())
        }
        _ => who,
    }
}

async fn apply_batch(
    state: &AppState,
    items: &[Item],
    finished: &[jobs::Model],
    owner: &str,
    fresh: &mut HashSet<Uuid>,
) -> Result<Out, DbErr> {
    // Accounts are resolved before the transaction (cached directory, no writer time spent).
    let mut by_phone: HashMap<&str, Option<Arc<RoutedAccount>>> = HashMap::new();
    let mut by_waba: HashMap<&str, Vec<Arc<RoutedAccount>>> = HashMap::new();
    for it in items {
        for ev in it.payload.events() {
            let (waba, phone) = processor::event_ids(&ev);
            if let Some(p) = phone
                && !by_phone.contains_key(p)
            {
                by_phone.insert(p, state.directory.by_phone(p).await);
            }
            if !by_waba.contains_key(waba) {
                by_waba.insert(waba, state.directory.by_waba(waba).await);
            }
        }
    }

    let mut ctx = Ctx::new(None);
    let mut inbound: Vec<Inbound<'_>> = Vec::new();
    let mut statuses: Vec<(Uuid, &mw::MessageStatus)> = Vec::new();
    // Each event's terminal state, note and tenant (the notes of what it did not store join later).
    let mut ends: Vec<(Uuid, WebhookState, Option<String>, Option<Uuid>)> = Vec::with_capacity(items.len());
    let (mut processed, mut unroutable) = (0, 0);

    let started = std::time::Instant::now();
    let txn = state.writer().begin().await?;
    let began = started.elapsed();
    for it in items {
        ctx.routed = 0;
        ctx.unroutable.clear();
        ctx.tenant_id = it.event.tenant_id;
        ctx.event = Some(it.event.id);
        for ev in it.payload.events() {
            let (waba, phone) = processor::event_ids(&ev);
            let acct = match phone {
                Some(p) => by_phone.get(p).cloned().flatten(),
                None => by_waba.get(waba).and_then(|v| v.first().cloned()),
            };
            let Some(acct) = acct else {
                ctx.unroutable.push(phone.unwrap_or(waba).to_string());
                continue;
            };
            ctx.routed += 1;
            ctx.tenant_id = Some(acct.tenant_id);
            if let Some((m, who, flow)) = classify(acct.tenant_id, &ev) {
                inbound.push(Inbound { acct, m, who, flow, event: it.event.id });
                continue;
            }
            match ev {
                WebhookEvent::Status { status, .. } => statuses.push((acct.tenant_id, status)),
                // Everything rarer goes through the per-event code, in order.
                other => processor::apply(&txn, &mut ctx, &acct, other).await?,
            }
        }
        let (new_state, note) = if ctx.routed == 0 && !ctx.unroutable.is_empty() {
            unroutable += 1;
            (WebhookState::Unroutable, Some(format!("unknown phone number or WABA: {}", ctx.unroutable.join(", "))))
        } else if !ctx.unroutable.is_empty() {
            processed += 1;
            (WebhookState::Processed, Some(format!("skipped unknown: {}", ctx.unroutable.join(", "))))
        } else {
            processed += 1;
            (WebhookState::Processed, None)
        };
        ends.push((it.event.id, new_state, note, ctx.tenant_id));
    }

    let routed = started.elapsed();
    // PostgreSQL: new contacts are committed on their own (see `inbound_messages`); SQLite has one
    // writer connection, which this transaction holds, and no concurrent batches.
    let autocommit = state.config.is_postgres().then(|| state.writer());
    let conversation_updates = inbound_messages(&txn, autocommit, &mut ctx, &inbound, fresh).await?;
    let stored = started.elapsed();
    apply_statuses(&txn, &mut ctx, &statuses).await?;
    let statused = started.elapsed();

    let queued: Vec<&'static str> = ctx.jobs.iter().map(|j| j.queue).collect();
    crate::jobs::enqueue_many(&txn, std::mem::take(&mut ctx.jobs)).await?;
    let now = crate::db::now();
    // (state, note, tenant) → the events that end that way.
    #[allow(clippy::type_complexity)]
    let mut marks: BTreeMap<(&'static str, Option<String>, Option<Uuid>), Vec<Uuid>> = BTreeMap::new();
    for (id, st, note, tenant) in ends {
        let note = match (note, ctx.notes.remove(&id)) {
            (n, None) => n,
            (None, Some(extra)) => Some(summarise(&extra)),
            (Some(n), Some(extra)) => Some(format!("{n}; {}", summarise(&extra))),
        };
        marks.entry((st.as_str(), note, tenant)).or_default().push(id);
    }
    for ((new_state, note, tenant), ids) in marks {
        for chunk in ids.chunks(CHUNK) {
            let mut q = webhook_events::Entity::update_many()
                .col_expr(webhook_events::Column::State, Expr::value(new_state))
                .col_expr(webhook_events::Column::LastError, Expr::value(note.clone()))
                .col_expr(webhook_events::Column::Attempts, Expr::col(webhook_events::Column::Attempts).add(1))
                .col_expr(webhook_events::Column::ProcessedAt, Expr::value(now));
            if let Some(t) = tenant {
                q = q.col_expr(webhook_events::Column::TenantId, Expr::value(t));
            }
            q.filter(webhook_events::Column::Id.is_in(chunk.iter().copied())).exec(&txn).await?;
        }
    }
    let job_ids: Vec<i64> = items.iter().flat_map(|it| it.jobs.iter()).chain(finished).map(|j| j.id).collect();
    crate::jobs::complete_many(&txn, &job_ids, owner).await?;
    for u in conversation_updates {
        u.exec(&txn).await?;
    }
    crate::usage::add_all(&txn, std::mem::take(&mut ctx.usage)).await?;
    let before_commit = started.elapsed();
    txn.commit().await?;
    // The conversations this batch created were opened in it.
    fresh.retain(|c| !ctx.conversations.contains(c));
    tracing::debug!(
        events = items.len(),
        messages = inbound.len(),
        statuses = statuses.len(),
        begin_ms = began.as_millis() as u64,
        routed_ms = routed.as_millis() as u64,
        messages_ms = (stored - routed).as_millis() as u64,
        statuses_ms = (statused - stored).as_millis() as u64,
        tail_ms = (before_commit - statused).as_millis() as u64,
        commit_ms = (started.elapsed() - before_commit).as_millis() as u64,
        "webhook batch applied"
    );
    Ok(Out { events: ctx.events, queued, processed, unroutable })
}

/// An event's notes in one line: the first few, then how many more.
fn summarise(notes: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = notes.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
    if notes.len() > SHOWN {
        s.push_str(&format!("; and {} more", notes.len() - SHOWN));
    }
    s
}

/// Ignores "nothing inserted" (every row conflicted).
fn inserted_or_none(r: Result<u64, DbErr>) -> Result<u64, DbErr> {
    match r {
        Err(DbErr::RecordNotInserted) => Ok(0),
        r => r,
    }
}

/// `ON CONFLICT DO NOTHING` with no target: any unique index (contacts have two).
fn do_nothing() -> OnConflict {
    OnConflict::new().do_nothing().to_owned()
}

/// Per conversation: what its new messages change.
#[derive(Default)]
struct ConvChange {
    unread: i32,
    newest: Option<(DateTime<Utc>, String)>,
    last_inbound: Option<DateTime<Utc>>,
}

/// Stores the inbound messages; returns the conversations' updates, which the caller runs last,
/// just before the commit, so that the row locks they take are held as briefly as possible (two
/// batches that touch one conversation wait for each other there).
async fn inbound_messages(
    txn: &DatabaseTransaction,
    autocommit: Option<&DatabaseConnection>,
    ctx: &mut Ctx,
    inbound: &[Inbound<'_>],
    fresh: &mut HashSet<Uuid>,
) -> Result<Vec<UpdateMany<conversations::Entity>>, DbErr> {
    let mut updates = Vec::new();
    if inbound.is_empty() {
        return Ok(updates);
    }
    let t0 = std::time::Instant::now();
    let now = crate::db::now();

    // Contacts: one resolution for every message's customer (`contacts::identity`).
    let sightings: Vec<Sighting<'_>> = inbound.iter().map(|x| x.who).collect();
    let resolved = identity::resolve(txn, autocommit, &sightings).await?;
    for id in &resolved.updated {
        if let Some(c) = resolved.contacts.iter().flatten().find(|c| c.id == *id) {
            ctx.events.push(DomainEvent::new(c.tenant_id, crate::events::Event::ContactUpdated(c.clone().into())));
        }
    }
    let contact_of: Vec<contacts::Model> = resolved
        .contacts
        .into_iter()
        .map(|c| c.ok_or_else(|| DbErr::RecordNotFound("contact of a message".into())))
        .collect::<Result<_, _>>()?;
    let conv_key = |i: usize| (inbound[i].tenant(), contact_of[i].id, inbound[i].acct.id);

    // Conversations: one per (tenant, contact, number); created at its first message's time.
    // Only the customer writing now (not an echo or imported history) reopens or opens one.
    let mut conv_wanted: BTreeMap<(Uuid, Uuid, Uuid), (Uuid, DateTime<Utc>)> = BTreeMap::new();
    let mut live_keys: HashSet<(Uuid, Uuid, Uuid)> = HashSet::new();
    for (i, x) in inbound.iter().enumerate() {
        let at = crate::messages::status::secs_to_time(x.m.timestamp_secs());
        conv_wanted.entry(conv_key(i)).or_insert((crate::db::new_id(), at));
        if x.live() {
            live_keys.insert(conv_key(i));
        }
    }
    let rows: Vec<conversations::ActiveModel> = conv_wanted
        .iter()
        .map(|((tenant, contact, account), (id, at))| {
            let mut row = crate::conversations::service::new_row(*tenant, *contact, *account, *at);
            row.id = Set(*id);
            row
        })
        .collect();
    let t_contacts = t0.elapsed();
    // As for contacts: existing conversations first, then only the missing ones inserted, outside
    // the transaction on PostgreSQL. The batch that creates a conversation counts it as opened,
    // even when a concurrent batch stores the message first (the same delivery twice); should
    // this batch fail, `fresh` has the one-event-at-a-time fallback open them instead.
    let keys: Vec<(Uuid, Uuid)> = conv_wanted.keys().map(|(t, c, _)| (*t, *c)).collect::<Vec<_>>();
    let mut conv_of = find_conversations(txn, &keys, &conv_wanted).await?;
    let mut created: HashSet<Uuid> = HashSet::new();
    // Created by an earlier attempt of this batch that failed (outside its transaction): still
    // this batch's to open.
    for (c, new) in conv_of.values_mut() {
        if fresh.contains(&c.id) {
            *new = true;
            created.insert(c.id);
        }
    }
    let missing: Vec<conversations::ActiveModel> = rows
        .into_iter()
        .filter(|r| {
            let key = (*r.tenant_id.as_ref(), *r.contact_id.as_ref(), *r.whatsapp_account_id.as_ref());
            !conv_of.contains_key(&key)
        })
        .collect();
    if !missing.is_empty() {
        // A conversation of a contact this transaction inserted or changed goes in with it: on
        // the other connection its foreign-key check would wait for this transaction, which
        // waits for that connection (PostgreSQL takes a key lock on a contact whose number or
        // user id changes).
        let (outside, inside): (Vec<_>, Vec<_>) = missing.into_iter().partition(|r| {
            let c = r.contact_id.as_ref();
            autocommit.is_some() && !resolved.uncommitted.contains(c) && !resolved.updated.contains(c)
        });
        for chunk in inside.chunks(CHUNK) {
            let insert = conversations::Entity::insert_many(chunk.to_vec()).on_conflict(do_nothing());
            inserted_or_none(insert.exec_without_returning(txn).await)?;
        }
        if let (Some(db), false) = (autocommit, outside.is_empty()) {
            let t = crate::db::begin_bounded(db).await?;
            for chunk in outside.chunks(CHUNK) {
                let insert = conversations::Entity::insert_many(chunk.to_vec()).on_conflict(do_nothing());
                inserted_or_none(insert.exec_without_returning(&t).await)?;
            }
            t.commit().await?;
        }
        let missing_keys: Vec<(Uuid, Uuid)> =
            conv_wanted.keys().filter(|k| !conv_of.contains_key(k)).map(|(t, c, _)| (*t, *c)).collect();
        let found = find_conversations(txn, &missing_keys, &conv_wanted).await?;
        created.extend(found.values().filter(|(_, new)| *new).map(|(c, _)| c.id));
        if autocommit.is_some() {
            fresh.extend(created.iter().copied());
        }
        conv_of.extend(found);
    }
    for key in conv_wanted.keys() {
        let (c, opened) =
            conv_of.get_mut(key).ok_or_else(|| DbErr::RecordNotFound("conversation after upsert".into()))?;
        if !live_keys.contains(key) {
            *opened = false; // created by the business's own messages: nobody opened it
            continue;
        }
        // Reopened by the customer writing again; new and reopened ones may be auto-assigned.
        let reopens = !*opened && c.status == ConversationStatus::Resolved;
        let assign = (*opened || reopens) && processor::settings_of(txn, ctx, key.0).await?.auto_assign;
        *c = crate::conversations::service::customer_wrote(txn, c.clone(), reopens, assign).await?;
        *opened |= reopens;
    }
    let t_convs = t0.elapsed();

    // Quoted messages (replies, reactions): stored ones, or earlier ones of this batch.
    let quoted: Vec<Option<String>> = inbound
        .iter()
        .map(|x| match &x.m.kind {
            MessageKind::Reaction(r) => Some(r.message_id.clone()),
            _ => x.m.context.as_ref().and_then(|c| c.id.clone()),
        })
        .collect();
    let mut stored_quoted: HashMap<(Uuid, String), Uuid> = HashMap::new();
    let q_keys: Vec<(Uuid, &str)> = inbound
        .iter()
        .zip(&quoted)
        .filter_map(|(x, q)| q.as_deref().map(|q| (x.tenant(), q)))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for (tenant, wamids) in group_by_tenant(&q_keys) {
        for chunk in wamids.chunks(CHUNK) {
            let found: Vec<(Uuid, Option<String>)> = messages::Entity::of(TenantId(tenant))
                .select_only()
                .column(messages::Column::Id)
                .column(messages::Column::WaMessageId)
                .filter(messages::Column::WaMessageId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(txn)
                .await?;
            for (id, w) in found {
                stored_quoted.insert((tenant, w.unwrap_or_default()), id);
            }
        }
    }

    // Messages: the unique (tenant, wamid) decides; a redelivered one (stored, or earlier in this
    // batch) inserts nothing.
    let mut rows: Vec<(usize, Uuid, messages::ActiveModel)> = Vec::with_capacity(inbound.len());
    let mut in_batch: HashMap<(Uuid, &str), Uuid> = HashMap::new();
    for (i, x) in inbound.iter().enumerate() {
        let tenant = x.tenant();
        if in_batch.contains_key(&(tenant, x.m.id.as_str())) {
            // Delivered twice within this batch: said on the later event, as when stored earlier.
            ctx.note(x.event, format!("message {} already stored", x.m.id));
            continue;
        }
        let at = crate::messages::status::secs_to_time(x.m.timestamp_secs());
        let q = quoted[i].clone();
        let reply_to_id = q
            .as_deref()
            .and_then(|w| stored_quoted.get(&(tenant, w.to_string())).or_else(|| in_batch.get(&(tenant, w))).copied());
        let mut row = crate::messages::new_row(
            tenant,
            conv_of[&conv_key(i)].0.id,
            x.direction(),
            &x.m.type_name,
            crate::messages::content_of(x.m),
            x.status(),
            at,
        );
        row.raw = Set(Some(x.m.raw.clone()));
        row.wa_message_id = Set(Some(x.m.id.clone()));
        row.reply_to_id = Set(reply_to_id);
        row.reply_to_wa_id = Set(q);
        row.reply_to_from = Set(x.m.context.as_ref().and_then(|c| c.from.clone()));
        row.origin = Set(x.origin().map(str::to_string));
        if x.direction() == Direction::Outbound {
            row.sent_at = Set(Some(at));
        }
        let id = crate::db::new_id();
        row.id = Set(id);
        in_batch.insert((tenant, x.m.id.as_str()), id);
        rows.push((i, id, row));
    }
    let mut sorted: Vec<&(usize, Uuid, messages::ActiveModel)> = rows.iter().collect();
    sorted.sort_by_key(|(i, _, _)| inbound[*i].m.id.as_str());
    let mut inserted: HashSet<Uuid> = HashSet::new();
    for chunk in sorted.chunks(CHUNK) {
        let keys = messages::Entity::insert_many(chunk.iter().map(|(_, _, r)| r.clone()))
            .on_conflict(
                OnConflict::columns([messages::Column::TenantId, messages::Column::WaMessageId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_with_returning_keys(txn)
            .await;
        match keys {
            Ok(keys) => inserted.extend(keys),
            Err(DbErr::RecordNotInserted) => {}
            Err(e) => return Err(e),
        }
    }

    let t_insert = t0.elapsed();
    // What each new message changes, in arrival order.
    let mut changes: BTreeMap<Uuid, ConvChange> = BTreeMap::new();
    let mut counted_open: HashSet<Uuid> = HashSet::new();
    let mut opted_out: HashSet<Uuid> = HashSet::new();
    for (i, id, row) in rows {
        if !inserted.contains(&id) {
            // Already stored (a redelivery, or the same wamid sent again): said on the event.
            ctx.note(inbound[i].event, format!("message {} already stored", inbound[i].m.id));
            continue;
        }
        let x = &inbound[i];
        let tenant = x.tenant();
        let c = &contact_of[i];
        let (conv, conv_opened) = &conv_of[&conv_key(i)];
        let msg: messages::Model = sea_orm::TryIntoModel::try_into_model(row)?;
        let at = msg.created_at;
        // The conversation counts as opened with its first new message.
        let opened = *conv_opened && counted_open.insert(conv.id);

        let ch = changes.entry(conv.id).or_default();
        if ch.newest.as_ref().is_none_or(|(t, _)| *t <= at) {
            ch.newest = Some((at, crate::messages::preview(x.m)));
        }
        let d = ctx.usage.entry((tenant, at.date_naive())).or_default();
        match x.flow {
            Flow::Live => {
                ch.unread += 1;
                if ch.last_inbound.is_none_or(|t| t < at) {
                    ch.last_inbound = Some(at);
                }
                d.messages_in += 1;
                d.conversations_opened += opened as i64;
                // Opt-out keywords (case-insensitive, whole message).
                if let MessageKind::Text(t) = &x.m.kind
                    && !c.opted_out
                    && !opted_out.contains(&c.id)
                    && processor::opt_out_on_keyword(txn, ctx, c, &t.body).await?
                {
                    opted_out.insert(c.id);
                }
            }
            // A business message, sent outside Switchboard: counted as one (never re-sent).
            Flow::Echo => d.messages_out += 1,
            Flow::History { .. } => {}
        }
        processor::stored_inbound(ctx, x.acct.id, &x.m.kind, msg, conv, opened);
    }
    // Created here, but its message was stored by a concurrent batch (which found the conversation
    // existing): it is still this batch's to count.
    for (key, (conv, opened)) in &conv_of {
        if *opened && created.contains(&conv.id) && !counted_open.contains(&conv.id) {
            let at = conv_wanted.get(key).map(|(_, at)| *at).unwrap_or(now);
            ctx.usage.entry((key.0, at.date_naive())).or_default().conversations_opened += 1;
        }
    }

    // The conversations' changes, set-based: one UPDATE … SET col = CASE id WHEN … per chunk (rows
    // locked in id order).
    let convs: HashMap<Uuid, &(conversations::Model, bool)> = conv_of.values().map(|v| (v.0.id, v)).collect();
    let changes: Vec<(Uuid, ConvChange)> = changes.into_iter().collect();
    for chunk in changes.chunks(CHUNK / 2) {
        use conversations::Column as C;
        let is = |id: Uuid| Expr::col(C::Id).eq(id);
        let (mut unread, mut inbound, mut last_at, mut preview, mut status) = (
            CaseStatement::new(),
            CaseStatement::new(),
            CaseStatement::new(),
            CaseStatement::new(),
            CaseStatement::new(),
        );
        let (mut any_inbound, mut any_last, mut any_status) = (false, false, false);
        for (id, ch) in chunk {
            let (conv, opened) = convs[id];
            unread = unread.case(is(*id), Expr::val(ch.unread));
            // Older messages arriving late must not move the window or the list order backwards.
            if let Some(at) = ch.last_inbound
                && conv.last_inbound_at.is_none_or(|t| t < at)
            {
                inbound = inbound.case(is(*id), Expr::val(at));
                any_inbound = true;
            }
            if let Some((at, pv)) = &ch.newest
                && (conv.last_message_at <= *at || *opened)
            {
                last_at = last_at.case(is(*id), Expr::val(*at));
                preview = preview.case(is(*id), Expr::val(pv.clone()));
                any_last = true;
            }
            if conv.status == ConversationStatus::Pending {
                status = status.case(is(*id), Expr::val(ConversationStatus::Open.as_str()));
                any_status = true;
            }
        }
        let mut upd = conversations::Entity::update_many()
            .col_expr(C::UnreadCount, Expr::col(C::UnreadCount).add(Expr::Case(Box::new(unread.finally(Expr::val(0))))))
            .col_expr(C::UpdatedAt, Expr::value(now));
        if any_inbound {
            upd = upd.col_expr(C::LastInboundAt, inbound.finally(Expr::col(C::LastInboundAt)).into());
        }
        if any_last {
            upd = upd
                .col_expr(C::LastMessageAt, last_at.finally(Expr::col(C::LastMessageAt)).into())
                .col_expr(C::LastMessagePreview, preview.finally(Expr::col(C::LastMessagePreview)).into());
        }
        if any_status {
            upd = upd.col_expr(C::Status, status.finally(Expr::col(C::Status)).into());
        }
        updates.push(upd.filter(C::Id.is_in(chunk.iter().map(|(id, _)| *id))));
    }
    tracing::debug!(
        contacts_ms = t_contacts.as_millis() as u64,
        conversations_ms = (t_convs - t_contacts).as_millis() as u64,
        insert_ms = (t_insert - t_convs).as_millis() as u64,
        after_ms = (t0.elapsed() - t_insert).as_millis() as u64,
        "webhook batch messages"
    );
    Ok(updates)
}

/// Statuses: the messages they name are read with one query per tenant; those not known yet are
/// kept as pending statuses, many rows per statement.
async fn apply_statuses(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    statuses: &[(Uuid, &mw::MessageStatus)],
) -> Result<(), DbErr> {
    if statuses.is_empty() {
        return Ok(());
    }
    let keys: Vec<(Uuid, &str)> = statuses
        .iter()
        .filter(|(_, s)| !s.id.is_empty())
        .map(|(t, s)| (*t, s.id.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut known: HashMap<(Uuid, String), messages::Model> = HashMap::new();
    for (tenant, wamids) in group_by_tenant(&keys) {
        for chunk in wamids.chunks(CHUNK) {
            let found = messages::Entity::of(TenantId(tenant))
                .filter(messages::Column::WaMessageId.is_in(chunk.iter().copied()))
                .all(txn)
                .await?;
            for m in found {
                known.insert((tenant, m.wa_message_id.clone().unwrap_or_default()), m);
            }
        }
    }
    let now = crate::db::now();
    let mut pending: Vec<pending_statuses::ActiveModel> = Vec::new();
    let mut known_steps: Vec<(messages::Model, &mw::MessageStatus)> = Vec::new();
    for (tenant, s) in statuses {
        if s.id.is_empty() {
            continue;
        }
        let key = (*tenant, s.id.clone());
        let msg = match known.get(&key) {
            Some(m) => Some(m.clone()),
            None => {
                let m = crate::messages::status::reconcile_by_callback(txn, TenantId(*tenant), s).await?;
                if let Some(m) = &m {
                    known.insert(key, m.clone());
                }
                m
            }
        };
        match msg {
            Some(msg) => known_steps.push((msg, *s)),
            // The send that produced this wamid is not recorded yet: keep the status for later.
            None => pending.push(pending_statuses::ActiveModel {
                id: Set(crate::db::new_id()),
                tenant_id: Set(*tenant),
                wa_message_id: Set(s.id.clone()),
                status: Set(s.raw.clone()),
                // Applied in arrival order later: keep the order within the batch.
                received_at: Set(now + chrono::Duration::microseconds(pending.len() as i64)),
            }),
        }
    }
    super::statuses::apply_known(txn, ctx, known_steps).await?;
    for chunk in pending.chunks(CHUNK) {
        pending_statuses::Entity::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// PostgreSQL's "deadlock detected" (SQLSTATE 40P01).
fn is_deadlock(e: &DbErr) -> bool {
    e.to_string().contains("deadlock detected")
}

/// The wanted conversations of these `(tenant, contact)`s that exist, by key, each with whether
/// this batch created it (its id is the one the batch proposed).
#[allow(clippy::type_complexity)]
async fn find_conversations(
    txn: &DatabaseTransaction,
    keys: &[(Uuid, Uuid)],
    wanted: &BTreeMap<(Uuid, Uuid, Uuid), (Uuid, DateTime<Utc>)>,
) -> Result<HashMap<(Uuid, Uuid, Uuid), (conversations::Model, bool)>, DbErr> {
    let mut out = HashMap::new();
    for (tenant, contact_ids) in group_by_tenant(keys) {
        let contact_ids: Vec<Uuid> = contact_ids.into_iter().collect::<HashSet<_>>().into_iter().collect();
        for chunk in contact_ids.chunks(CHUNK) {
            let found = conversations::Entity::of(TenantId(tenant))
                .filter(conversations::Column::ContactId.is_in(chunk.iter().copied()))
                .all(txn)
                .await?;
            for c in found {
                let key = (tenant, c.contact_id, c.whatsapp_account_id);
                if let Some((proposed, _)) = wanted.get(&key) {
                    let created = c.id == *proposed;
                    out.insert(key, (c, created));
                }
            }
        }
    }
    Ok(out)
}

/// `(tenant, key)` pairs grouped by tenant (usually one).
fn group_by_tenant<K: Copy>(pairs: &[(Uuid, K)]) -> BTreeMap<Uuid, Vec<K>> {
    let mut out: BTreeMap<Uuid, Vec<K>> = BTreeMap::new();
    for (t, k) in pairs {
        out.entry(*t).or_default().push(*k);
    }
    out
}
