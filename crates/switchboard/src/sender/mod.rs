//! The `message-send` queue: paces sends at Meta's limits and records the outcome.
//!
//! Pacing: a GCRA per number at the account's throughput (80/s by default, up to 1,000/s) with a
//! burst of a tenth of a second (Meta's own budget is a one-second bucket), per recipient (1 per
//! 6 s, burst 45: Meta's pair rate), and the tenant's plan per minute. Each send *books* its cell
//! (`Limiter::reserve`) and sleeps until it in place; a cell more than [`MAX_INLINE_WAIT`] away
//! defers the job through the queue (no attempt spent).
//!
//! Batches: the queue runs as a refill batch queue ([`batch_handler`], `QueueSpec::refill`): up
//! to [`WORKERS`] × [`BATCH`] sends are in flight; the runner claims again as soon as half a batch
//! of them freed their slots (a slot frees when Meta accepted the send, or the job is over), so the
//! slowest paced send of a batch never leaves the others' slots empty. A claimed batch's messages,
//! conversations, accounts, contacts and tenants are read with one query each, and its sends are
//! paced and sent concurrently. Their database writes are grouped across all batches of the
//! process: the sends that are ready at the same moment commit `send_started_at` in one statement,
//! and the accepted ones record their wamids and complete their jobs in one set-based transaction
//! (one recorder on SQLite, [`PG_RECORDERS`] on PostgreSQL). On SQLite, where every write queues for
//! the single writer connection, this is what lets one process send at 20 × 80/s.
//!
//! Never twice: `send_started_at` is committed before the request to Meta. A job that finds it set
//! without a wamid (a crash or a timeout after the request left) does not send again: the message
//! is failed as `outcome_unknown`. Meta echoes our message id in `biz_opaque_callback_data`, so a
//! status webhook for it later attaches the wamid and corrects the status. Retries happen only
//! when Meta certainly did not accept the message (an error answer, or no connection at all).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use meta_cloud::client::GraphError;
use meta_cloud::error::ErrorClass;
use meta_cloud::send::SendRequest;
use sea_orm::sea_query::{CaseStatement, Expr, Func};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::group::GroupCommit;
use crate::entities::enums::{AccountStatus, MessageStatus};
use crate::entities::{contacts, conversations, jobs, media, messages, pending_statuses, tenants, whatsapp_accounts};
use crate::events::DomainEvent;
use crate::jobs::Outcome;
use crate::jobs::payloads::SendJob;
use crate::jobs::runner::{BatchHandler, Done};
use crate::ratelimit::Rate;
use crate::state::AppState;

/// Jobs per claim when the queue is full (a claim that lags takes up to four batches' worth).
pub const BATCH: usize = 32;
/// With [`BATCH`]: up to 768 sends are paced at once per process. A send holds its slot from the
/// claim until Meta accepted it, so the slots must cover the target rate times that time
/// (measured by `switchboard-bench send`, which prints the sender's counters; the sizing and its
/// figures are in docs/BENCHMARKS.md, "Send pacing"). One 80/s number's booked cells reach
/// 768 / 80 = 9.6 s ahead, within [`MAX_INLINE_WAIT`]; slower numbers defer their excess through
/// the queue.
pub const WORKERS: usize = 24;

/// The burst a number's GCRA allows: a tenth of its per-second rate. Meta's budget is a bucket of
/// one second; the rest is margin for network jitter and inbound traffic, which Meta counts too.
pub fn number_rate(throughput_mps: i32) -> Rate {
    let mps = throughput_mps.max(1);
    Rate::per_second(mps as f64).burst((mps / 10).max(1) as u32)
}

/// Counters for diagnostics (process-wide, cumulative; read by `switchboard-bench send`).
pub mod counters {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    pub(super) static BATCHES: AtomicU64 = AtomicU64::new(0);
    pub(super) static JOBS: AtomicU64 = AtomicU64::new(0);
    pub(super) static MARK_GROUPS: AtomicU64 = AtomicU64::new(0);
    pub(super) static MARK_US: AtomicU64 = AtomicU64::new(0);
    pub(super) static RECORD_GROUPS: AtomicU64 = AtomicU64::new(0);
    pub(super) static RECORDED: AtomicU64 = AtomicU64::new(0);
    pub(super) static RECORD_US: AtomicU64 = AtomicU64::new(0);
    /// From claim (batch start) to the send's request leaving, summed over sends.
    pub(super) static TO_SEND_US: AtomicU64 = AtomicU64::new(0);
    /// Of which: waiting for the pacing cell.
    pub(super) static PACING_US: AtomicU64 = AtomicU64::new(0);
    /// Waiting for `send_started_at` to commit, summed over sends.
    pub(super) static MARK_WAIT_US: AtomicU64 = AtomicU64::new(0);
    /// The request to Meta, summed over sends.
    pub(super) static HTTP_US: AtomicU64 = AtomicU64::new(0);
    /// Waiting for the record to commit, summed over sends.
    pub(super) static RECORD_WAIT_US: AtomicU64 = AtomicU64::new(0);

    pub(super) fn add(c: &AtomicU64, since: std::time::Instant) {
        c.fetch_add(since.elapsed().as_micros() as u64, Relaxed);
    }

    /// `(name, value)` for each counter.
    pub fn snapshot() -> Vec<(&'static str, u64)> {
        [
            ("batches", &BATCHES),
            ("jobs", &JOBS),
            ("mark_groups", &MARK_GROUPS),
            ("mark_us", &MARK_US),
            ("record_groups", &RECORD_GROUPS),
            ("recorded", &RECORDED),
            ("record_us", &RECORD_US),
            ("to_send_us", &TO_SEND_US),
            ("pacing_us", &PACING_US),
            ("mark_wait_us", &MARK_WAIT_US),
            ("http_us", &HTTP_US),
            ("record_wait_us", &RECORD_WAIT_US),
        ]
        .into_iter()
        .map(|(n, c)| (n, c.load(Relaxed)))
        .collect()
    }
}

/// Recording transactions at once on PostgreSQL (a group whose messages got statuses before their
/// wamid was recorded costs a few statements per such message, so one recorder at a time fell
/// short of 20 × 80/s: docs/BENCHMARKS.md, "Send pacing").
const PG_RECORDERS: usize = 3;

/// Longest pacing wait spent inside a job before it is deferred through the queue instead.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(10);

/// The `message-send` batch handler. Its grouped writes ([`Writes`]) are shared by all batches of
/// the process (started with the first batch), so that sends of overlapping batches that are ready
/// at the same moment share one statement.
pub fn batch_handler() -> BatchHandler<AppState> {
    let writes: Arc<OnceLock<Arc<Writes>>> = Arc::default();
    Arc::new(move |state, jobs, owner| {
        let writes = writes.get_or_init(|| Arc::new(Writes::start(&state, &owner))).clone();
        Box::pin(run_batch(state, jobs, writes))
    })
}

/// A `message-send` job died (attempts spent on errors that may pass, or a payload that cannot
/// be sent): its message, if still queued, fails with the job's last error, in the same
/// transaction, so the agent sees it and can send again.
pub fn dead_job(job: &jobs::Model, error: &str) -> Option<sea_orm::sea_query::UpdateStatement> {
    use sea_orm::sea_query::Expr;
    let id = message_id(job)?;
    let now = crate::db::now();
    let q = messages::Entity::update_many()
        .col_expr(messages::Column::Status, Expr::value(MessageStatus::Failed.as_str()))
        .col_expr(messages::Column::FailedAt, Expr::value(now))
        .col_expr(messages::Column::ErrorTitle, Expr::value("send_failed"))
        .col_expr(messages::Column::ErrorDetails, Expr::value(crate::jobs::truncate(error, 1000)))
        .col_expr(messages::Column::UpdatedAt, Expr::value(now))
        .filter(messages::Column::Id.eq(id))
        .filter(messages::Column::Status.eq(MessageStatus::Queued));
    Some(sea_orm::QueryTrait::into_query(q))
}

fn message_id(job: &jobs::Model) -> Option<Uuid> {
    match <SendJob as crate::jobs::Job>::of(job).ok()? {
        SendJob::Send { message_id } => Some(message_id),
        SendJob::MarkRead { .. } => None,
    }
}

/// What a batch's sends need, read once for the batch.
#[derive(Default)]
struct Loaded {
    messages: HashMap<Uuid, messages::Model>,
    conversations: HashMap<Uuid, conversations::Model>,
    accounts: HashMap<Uuid, whatsapp_accounts::Model>,
    contacts: HashMap<Uuid, contacts::Model>,
    tenants: HashMap<Uuid, tenants::Model>,
}

impl Loaded {
    async fn load(state: &AppState, ids: Vec<Uuid>) -> Result<Self, DbErr> {
        let mut l = Loaded::default();
        if ids.is_empty() {
            return Ok(l);
        }
        let db = &state.db;
        l.messages = messages::Entity::find()
            .filter(messages::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let conv_ids: HashSet<Uuid> = l.messages.values().map(|m| m.conversation_id).collect();
        l.conversations = conversations::Entity::find()
            .filter(conversations::Column::Id.is_in(conv_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let acct_ids: HashSet<Uuid> = l.conversations.values().map(|c| c.whatsapp_account_id).collect();
        let contact_ids: HashSet<Uuid> = l.conversations.values().map(|c| c.contact_id).collect();
        let tenant_ids: HashSet<Uuid> = l.messages.values().map(|m| m.tenant_id).collect();
        // Independent of each other: one round trip's wait for the three.
        let (accounts, contacts_, tenants_) = tokio::try_join!(
            whatsapp_accounts::Entity::find().filter(whatsapp_accounts::Column::Id.is_in(acct_ids)).all(db),
            contacts::Entity::find().filter(contacts::Column::Id.is_in(contact_ids)).all(db),
            tenants::Entity::find().filter(tenants::Column::Id.is_in(tenant_ids)).all(db),
        )?;
        l.accounts = accounts.into_iter().map(|a| (a.id, a)).collect();
        l.contacts = contacts_.into_iter().map(|c| (c.id, c)).collect();
        l.tenants = tenants_.into_iter().map(|t| (t.id, t)).collect();
        Ok(l)
    }
}

/// The grouped writes (`db::group`): sends ready at the same moment share one statement. One
/// writer for `send_started_at`, one recorder on SQLite (its writer is one connection) and
/// [`PG_RECORDERS`] on PostgreSQL; each takes everything that queued meanwhile as its next group,
/// so the number of writes follows the database's latency, not the send rate.
struct Writes {
    mark: GroupCommit<Uuid, Result<Arc<HashSet<Uuid>>, String>>,
    record: GroupCommit<Sent, Result<(), String>>,
}

struct Sent {
    job_id: i64,
    message_id: Uuid,
    wamid: String,
}

/// Submissions a group takes at most.
const GROUP: usize = 500;

impl Writes {
    /// Starts the writers; they stop when the `Writes` is dropped.
    fn start(state: &AppState, owner: &str) -> Self {
        // Bounded well above what can be in flight (WORKERS × BATCH sends).
        let mark = GroupCommit::new(65_536, GROUP);
        let st = state.clone();
        mark.spawn_writers(1, move |ids: Vec<Uuid>| {
            let state = st.clone();
            async move { mark_many(&state, ids).await }
        });
        let record = GroupCommit::new(65_536, GROUP);
        let recorders =
            if state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres { PG_RECORDERS } else { 1 };
        let (st, owner) = (state.clone(), owner.to_string());
        record.spawn_writers(recorders, move |group: Vec<Sent>| {
            let (state, owner) = (st.clone(), owner.clone());
            async move {
                let t = std::time::Instant::now();
                let res = record_many(&state, &owner, group.iter().collect()).await;
                counters::RECORD_GROUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                counters::RECORDED.fetch_add(group.len() as u64, std::sync::atomic::Ordering::Relaxed);
                counters::add(&counters::RECORD_US, t);
                res
            }
        });
        Writes { mark, record }
    }

    /// Commits `send_started_at` (grouped with the other sends of this moment); `false` when it was
    /// already set (another worker got there first).
    async fn mark_started(&self, id: Uuid) -> Result<bool, Outcome> {
        let closed = |_| Outcome::Retry { error: "send batch closed".into(), after: None };
        let marked = self.mark.submit(id).await.map_err(closed)?;
        marked.map(|set| set.contains(&id)).map_err(|error| Outcome::Retry { error, after: None })
    }

    /// Records the wamid and `sent` and completes the job, in one transaction with the others.
    async fn record_sent(&self, sent: Sent) -> Result<(), Outcome> {
        let closed = |_| Outcome::Retry { error: "send batch closed".into(), after: None };
        self.record.submit(sent).await.map_err(closed)?.map_err(|error| Outcome::Retry { error, after: None })
    }
}

/// Sets `send_started_at` on the group's messages that have none; the ids it set.
async fn mark_many(state: &AppState, ids: Vec<Uuid>) -> Result<Arc<HashSet<Uuid>>, String> {
    let t = std::time::Instant::now();
    let res = messages::Entity::update_many()
        .col_expr(messages::Column::SendStartedAt, Expr::value(crate::db::now()))
        .filter(messages::Column::Id.is_in(ids))
        .filter(messages::Column::SendStartedAt.is_null())
        .exec_with_returning(state.writer())
        .await
        .map(|rows| Arc::new(rows.into_iter().map(|m| m.id).collect::<HashSet<Uuid>>()))
        .map_err(|e| e.to_string());
    counters::MARK_GROUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    counters::add(&counters::MARK_US, t);
    res
}

/// Records wamids and `sent`, applies statuses that arrived before them, and completes the jobs:
/// one transaction for the group, with set-based statements (one `UPDATE` for every wamid and
/// status, one look-up of early statuses; only messages that have some are handled one by one).
async fn record_many(state: &AppState, owner: &str, sent: Vec<&Sent>) -> Result<(), String> {
    use sea_orm::sea_query::ExprTrait;
    let run = async {
        let txn = state.writer().begin().await?;
        let now = crate::db::now();
        let ids: Vec<Uuid> = sent.iter().map(|s| s.message_id).collect();
        let sent_status = MessageStatus::Sent;
        // As `messages::status::apply(.., Sent, now, None)` per message: the status moves only
        // forward, the first `sent_at` is kept.
        let preds: Vec<&str> = crate::messages::status::predecessors(sent_status).iter().map(|s| s.as_str()).collect();
        for chunk in sent.chunks(200) {
            let mut wamid = CaseStatement::new();
            for s in chunk {
                wamid = wamid.case(Expr::col(messages::Column::Id).eq(s.message_id), Expr::val(s.wamid.as_str()));
            }
            messages::Entity::update_many()
                .col_expr(messages::Column::WaMessageId, wamid.finally(Expr::col(messages::Column::WaMessageId)).into())
                .col_expr(
                    messages::Column::Status,
                    CaseStatement::new()
                        .case(Expr::col(messages::Column::Status).is_in(preds.clone()), Expr::val(sent_status.as_str()))
                        .finally(Expr::col(messages::Column::Status))
                        .into(),
                )
                .col_expr(
                    messages::Column::SentAt,
                    Func::coalesce([Expr::col(messages::Column::SentAt), Expr::val(now)]).into(),
                )
                .col_expr(messages::Column::UpdatedAt, Expr::value(now))
                .filter(messages::Column::Id.is_in(chunk.iter().map(|s| s.message_id)))
                .exec(&txn)
                .await?;
        }
        // Statuses that arrived before their wamid was recorded (kept in `pending_statuses`).
        let wamids: Vec<&str> = sent.iter().map(|s| s.wamid.as_str()).collect();
        let mut early: HashSet<String> = HashSet::new();
        for chunk in wamids.chunks(200) {
            let found: Vec<String> = pending_statuses::Entity::find()
                .select_only()
                .column(pending_statuses::Column::WaMessageId)
                .filter(pending_statuses::Column::WaMessageId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&txn)
                .await?;
            early.extend(found);
        }
        let mut events = Vec::new();
        if !early.is_empty() {
            let with_early: Vec<Uuid> =
                sent.iter().filter(|s| early.contains(&s.wamid)).map(|s| s.message_id).collect();
            let updated = messages::Entity::find().filter(messages::Column::Id.is_in(with_early)).all(&txn).await?;
            for u in &updated {
                crate::messages::status::apply_pending_statuses(&txn, &mut events, u).await?;
            }
        }
        let job_ids: Vec<i64> = sent.iter().map(|s| s.job_id).collect();
        crate::jobs::complete_many(&txn, &job_ids, owner).await?;
        txn.commit().await?;
        for e in events {
            state.events.publish(e);
        }
        publish_statuses(state, ids).await;
        Ok::<(), DbErr>(())
    };
    run.await.map_err(|e| e.to_string())
}

async fn run_batch(
    state: AppState,
    batch: Vec<jobs::Model>,
    writes: Arc<Writes>,
) -> Vec<(jobs::Model, Result<Done, Outcome>)> {
    let claimed = std::time::Instant::now();
    counters::BATCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    counters::JOBS.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let ids: Vec<Uuid> = batch.iter().filter_map(message_id).collect();
    let loaded = match Loaded::load(&state, ids).await {
        Ok(l) => l,
        Err(e) => return batch.into_iter().map(|j| (j, Err(db_retry(e.clone())))).collect(),
    };
    futures_util::future::join_all(batch.into_iter().map(|job| {
        let (state, loaded, writes) = (&state, &loaded, &writes);
        async move {
            let slot = Slot::default();
            let r = match <SendJob as crate::jobs::Job>::of(&job) {
                Ok(SendJob::MarkRead { account_id, wa_message_id, .. }) => {
                    mark_read(state, account_id, &wa_message_id).await.map(|()| Done::Pending)
                }
                Ok(SendJob::Send { .. }) => send(state, loaded, writes, &job, claimed, &slot).await,
                Err(dead) => Err(dead),
            };
            slot.free();
            (job, r)
        }
    }))
    .await
}

/// A job's refill slot ([`crate::jobs::runner::job_finished`]), given back once: when Meta
/// accepted the send (before it is recorded), or when the job is over.
#[derive(Default)]
struct Slot(std::sync::atomic::AtomicBool);

impl Slot {
    fn free(&self) {
        if !self.0.swap(true, std::sync::atomic::Ordering::Relaxed) {
            crate::jobs::runner::job_finished();
        }
    }
}

fn db_retry(e: sea_orm::DbErr) -> Outcome {
    Outcome::Retry { error: e.to_string(), after: None }
}

/// Marks the message failed with Meta's (or our) code, title and details.
async fn fail(
    state: &AppState,
    m: &messages::Model,
    code: Option<i64>,
    title: &str,
    details: Option<String>,
) -> Result<(), Outcome> {
    let now = crate::db::now();
    crate::messages::status::apply(
        state.writer(),
        m.tenant_id,
        m.id,
        MessageStatus::Failed,
        now,
        Some(crate::messages::status::Failure {
            code: code.map(|c| c as i32),
            title: Some(title.to_string()),
            details,
        }),
    )
    .await
    .map_err(db_retry)?;
    if code == Some(crate::contacts::service::STOPPED_MARKETING as i64)
        && let Some(c) =
            crate::contacts::service::opted_out_by_meta(state.writer(), m.tenant_id, m.conversation_id, m.id)
                .await
                .map_err(db_retry)?
    {
        state.events.publish(crate::contacts::service::opt_event(&c, true, "meta_131050"));
    }
    publish_status(state, m.id).await;
    Ok(())
}

async fn publish_status(state: &AppState, id: Uuid) {
    publish_statuses(state, vec![id]).await
}

async fn publish_statuses(state: &AppState, ids: Vec<Uuid>) {
    if let Ok(ms) = messages::Entity::find().filter(messages::Column::Id.is_in(ids)).all(&state.db).await {
        for m in ms {
            let ev = crate::events::MessageStatusChanged::of(&m, None);
            state.events.publish(DomainEvent::new(m.tenant_id, crate::events::Event::MessageStatus(ev)));
        }
    }
}

async fn send(
    state: &AppState,
    loaded: &Loaded,
    writes: &Writes,
    job: &jobs::Model,
    claimed: std::time::Instant,
    slot: &Slot,
) -> Result<Done, Outcome> {
    let attempt = job.attempts;
    let id = match <SendJob as crate::jobs::Job>::of(job)? {
        SendJob::Send { message_id } => message_id,
        SendJob::MarkRead { .. } => return Err(Outcome::Dead { error: "not a send".into() }),
    };
    let Some(m) = loaded.messages.get(&id) else {
        return Err(Outcome::Dead { error: format!("message {id} not found") });
    };
    if m.status != MessageStatus::Queued || m.wa_message_id.is_some() {
        return Ok(Done::Pending); // already sent or failed: a duplicate job does nothing
    }
    if m.send_started_at.is_some() {
        return fail(
            state,
            m,
            None,
            "outcome_unknown",
            Some(
                "the request to Meta was interrupted; the message may have been delivered and is not sent again".into(),
            ),
        )
        .await
        .map(|()| Done::Pending);
    }
    let conv = loaded
        .conversations
        .get(&m.conversation_id)
        .ok_or_else(|| Outcome::Dead { error: "conversation not found".into() })?;
    let acct = loaded
        .accounts
        .get(&conv.whatsapp_account_id)
        .ok_or_else(|| Outcome::Dead { error: "account not found".into() })?;
    let contact =
        loaded.contacts.get(&conv.contact_id).ok_or_else(|| Outcome::Dead { error: "contact not found".into() })?;
    let tenant = loaded.tenants.get(&m.tenant_id).ok_or_else(|| Outcome::Dead { error: "tenant not found".into() })?;

    match acct.status {
        // Waiting for new credentials: keep the message queued.
        AccountStatus::NeedsReauth => {
            return Err(Outcome::Defer {
                after: Duration::from_secs(30),
                reason: "account needs re-authorisation".into(),
            });
        }
        AccountStatus::Disabled => return fail(state, m, None, "account_disabled", None).await.map(|()| Done::Pending),
        AccountStatus::Active => {}
    }
    if tenant.status == crate::entities::enums::TenantStatus::Suspended {
        return fail(state, m, None, "tenant_suspended", None).await.map(|()| Done::Pending);
    }

    // Pacing: the recipient and the plan (rarely binding, long waits), then the number (the tight
    // one, booked last so that the send follows its cell). Each call books a cell and the send
    // sleeps until it in place; only a cell further away than MAX_INLINE_WAIT goes back to the
    // queue. (Deferring every lost cell through the job table cost more than the send itself and
    // held numbers far below their rate: docs/BENCHMARKS.md.)
    let limits = [
        (
            format!("pair:{}:{}", acct.id, contact.wa_id.clone().or(contact.user_id.clone()).unwrap_or_default()),
            Rate::per_second(1.0 / 6.0).burst(45),
        ),
        (
            format!("plan:{}", tenant.id),
            Rate::per_second(tenant.limit_messages_per_minute.max(1) as f64 / 60.0)
                .burst(tenant.limit_messages_per_minute.max(1) as u32),
        ),
        (format!("num:{}", acct.id), number_rate(acct.throughput_mps)),
    ];
    let started_pacing = std::time::Instant::now();
    for (key, rate) in &limits {
        let budget = MAX_INLINE_WAIT.saturating_sub(started_pacing.elapsed());
        match state.limiter.reserve(key, *rate, budget).await {
            Ok(wait) if wait.is_zero() => {}
            Ok(wait) => {
                let t = std::time::Instant::now();
                tokio::time::sleep(wait).await;
                counters::add(&counters::PACING_US, t);
            }
            Err(wait) => return Err(Outcome::Defer { after: wait, reason: format!("pacing {key}") }),
        }
    }

    let token = crate::accounts::service::access_token(state, acct).map_err(|e| Outcome::Dead { error: e.message })?;
    let graph = state.graph_for(acct);

    // Uploaded files go to Meta first (their Meta id replaces ours).
    let mut body = m.content.clone();
    // (A media message's body, or a template's header parameter.)
    if let Some(local) = crate::templates::params::local_media_slot(&mut body)
        .and_then(|o| o.get("localMediaId"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Uuid>().ok())
    {
        let file = media::Entity::find_by_id(local)
            .filter(media::Column::TenantId.eq(m.tenant_id))
            .one(&state.db)
            .await
            .map_err(db_retry)?
            .ok_or_else(|| Outcome::Dead { error: "uploaded media not found".into() })?;
        let bytes = tokio::fs::read(state.config.media_dir.join(&file.path))
            .await
            .map_err(|e| Outcome::Retry { error: format!("reading media: {e}"), after: None })?;
        let up = graph
            .upload_media(
                &token,
                &acct.phone_number_id,
                bytes,
                &file.mime_type,
                file.filename.as_deref().unwrap_or("file"),
            )
            .await;
        match up {
            Ok(u) => {
                if let Some(o) = crate::templates::params::local_media_slot(&mut body) {
                    o.remove("localMediaId");
                    o.insert("id".into(), Value::String(u.id));
                }
            }
            Err(e) => return handle_error(state, m, acct, e, attempt, false).await.map(|()| Done::Pending),
        }
    }

    // A phone number when we have one; else Meta's `recipient` (the BSUID) for customers who
    // share only a username (Meta refuses it for one-tap/zero-tap/copy-code authentication
    // templates, with 131062: shown on the message).
    let mut request = json!({
        "messaging_product": "whatsapp", "recipient_type": "individual",
        "type": m.msg_type, m.msg_type.clone(): body, "biz_opaque_callback_data": m.id.to_string(),
    });
    match (&contact.wa_id, &contact.user_id) {
        (Some(to), _) => request["to"] = json!(to),
        (None, Some(user)) => request["recipient"] = json!(user),
        (None, None) => {
            return fail(state, m, None, "no_recipient", Some("the contact has no phone number or user id".into()))
                .await
                .map(|()| Done::Pending);
        }
    }
    if let Some(w) = &m.reply_to_wa_id
        && m.msg_type != "reaction"
    {
        request["context"] = json!({ "message_id": w });
    }
    let request = match SendRequest::from_value(request) {
        Ok(r) => r,
        Err(e) => return fail(state, m, None, "invalid_request", Some(e)).await.map(|()| Done::Pending),
    };

    // Commit that the request is about to leave before it leaves.
    let t = std::time::Instant::now();
    if !writes.mark_started(m.id).await? {
        return Ok(Done::Pending); // another worker got here first
    }
    counters::add(&counters::MARK_WAIT_US, t);
    counters::add(&counters::TO_SEND_US, claimed);
    let t = std::time::Instant::now();
    let answer = graph.send_message(&token, &acct.phone_number_id, &request).await;
    counters::add(&counters::HTTP_US, t);
    match answer {
        Ok(resp) => {
            let Some(wamid) = resp.message_id().map(str::to_string) else {
                return fail(state, m, None, "outcome_unknown", Some("Meta accepted without a message id".into()))
                    .await
                    .map(|()| Done::Pending);
            };
            // Meta has it: the rest is bookkeeping, another send may take this one's slot.
            slot.free();
            let t = std::time::Instant::now();
            writes.record_sent(Sent { job_id: job.id, message_id: m.id, wamid }).await?;
            counters::add(&counters::RECORD_WAIT_US, t);
            Ok(Done::Recorded)
        }
        Err(e) => handle_error(state, m, acct, e, attempt, true).await.map(|()| Done::Pending),
    }
}

/// Clears `send_started_at`: Meta certainly did not take the message, so it may be sent again.
async fn release(state: &AppState, m: &messages::Model) -> Result<(), Outcome> {
    messages::Entity::update_many()
        .col_expr(messages::Column::SendStartedAt, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(messages::Column::Id.eq(m.id))
        .exec(state.writer())
        .await
        .map_err(db_retry)?;
    Ok(())
}

async fn handle_error(
    state: &AppState,
    m: &messages::Model,
    acct: &whatsapp_accounts::Model,
    e: GraphError,
    attempt: i32,
    started: bool,
) -> Result<(), Outcome> {
    let attempt = attempt.max(0) as u32;
    match &e {
        GraphError::Api { class, body, .. } => {
            if started {
                release(state, m).await?;
            }
            let code = body.code;
            let details = body.error_data.as_ref().and_then(|d| d.details.clone()).or(Some(body.message.clone()));
            match class {
                ErrorClass::RetryLater => Err(Outcome::Retry {
                    error: e.to_string(),
                    after: meta_cloud::error::retry_after(code, attempt).or(Some(Duration::from_secs(1))),
                }),
                ErrorClass::Credentials => {
                    needs_reauth(state, acct, &e).await?;
                    Err(Outcome::Defer {
                        after: Duration::from_secs(30),
                        reason: "account needs re-authorisation".into(),
                    })
                }
                ErrorClass::WindowClosed => fail(state, m, Some(code), "window_closed", details).await,
                ErrorClass::QualityHold => {
                    Err(Outcome::Retry { error: e.to_string(), after: Some(Duration::from_secs(24 * 3600)) })
                }
                _ => fail(state, m, Some(code), &body.message, details).await,
            }
        }
        // No connection was made: certainly not sent.
        GraphError::Connect(_) => {
            if started {
                release(state, m).await?;
            }
            Err(Outcome::Retry { error: e.to_string(), after: None })
        }
        GraphError::Status { status, .. } if *status == 429 || (*status >= 500 && !started) => {
            if started {
                release(state, m).await?;
            }
            Err(Outcome::Retry { error: e.to_string(), after: None })
        }
        // The request may have reached Meta: never resend (see the module docs).
        GraphError::Timeout | GraphError::Transport(_) | GraphError::Decode(_) | GraphError::Status { .. }
            if started =>
        {
            fail(state, m, None, "outcome_unknown", Some(format!("{e}; not resent to avoid a duplicate"))).await
        }
        _ => {
            if started {
                release(state, m).await?;
            }
            Err(Outcome::Retry { error: e.to_string(), after: None })
        }
    }
}

/// Credentials rejected: the account waits for new ones (its sends stay queued) and admins are told.
async fn needs_reauth(state: &AppState, acct: &whatsapp_accounts::Model, e: &GraphError) -> Result<(), Outcome> {
    let r = whatsapp_accounts::Entity::update_many()
        .col_expr(whatsapp_accounts::Column::Status, Expr::value(AccountStatus::NeedsReauth.as_str()))
        .col_expr(whatsapp_accounts::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(whatsapp_accounts::Column::Id.eq(acct.id))
        .filter(whatsapp_accounts::Column::Status.eq(AccountStatus::Active))
        .exec(state.writer())
        .await
        .map_err(db_retry)?;
    if r.rows_affected == 1 {
        state.directory.invalidate();
        crate::audit::record(
            state.writer(),
            crate::audit::Entry {
                tenant_id: Some(acct.tenant_id),
                actor_user_id: None,
                action: "whatsapp_account.needs_reauth",
                target_type: Some("whatsapp_account"),
                target_id: Some(acct.id.to_string()),
                details: json!({ "error": e.to_string() }),
                ip: None,
            },
        )
        .await
        .map_err(|e| Outcome::Retry { error: e.message, after: None })?;
        state.events.publish(DomainEvent::new(
            acct.tenant_id,
            crate::events::Event::AccountNeedsReauth(crate::events::AccountNeedsReauth {
                whatsapp_account_id: acct.id,
                phone_number_id: acct.phone_number_id.clone(),
                error: e.to_string(),
            }),
        ));
        tracing::warn!(account = %acct.id, "WhatsApp account credentials rejected; sends wait for new credentials");
    }
    Ok(())
}

async fn mark_read(state: &AppState, account: Uuid, wamid: &str) -> Result<(), Outcome> {
    let acct = whatsapp_accounts::Entity::find_by_id(account)
        .one(&state.db)
        .await
        .map_err(db_retry)?
        .ok_or_else(|| Outcome::Dead { error: "account not found".into() })?;
    if acct.status != AccountStatus::Active {
        return Err(Outcome::Defer { after: Duration::from_secs(30), reason: "account not active".into() });
    }
    let token = crate::accounts::service::access_token(state, &acct).map_err(|e| Outcome::Dead { error: e.message })?;
    match state.graph_for(&acct).mark_read(&token, &acct.phone_number_id, wamid, true).await {
        Ok(_) => Ok(()),
        Err(GraphError::Api { class: ErrorClass::RetryLater, .. })
        | Err(GraphError::Connect(_))
        | Err(GraphError::Timeout) => Err(Outcome::Retry { error: "mark-as-read failed".into(), after: None }),
        Err(GraphError::Api { class: ErrorClass::Credentials, .. }) => {
            Err(Outcome::Defer { after: Duration::from_secs(60), reason: "credentials".into() })
        }
        // A read receipt is best effort: an old or unknown message is not worth retrying.
        Err(e) => Err(Outcome::Dead { error: e.to_string() }),
    }
}
