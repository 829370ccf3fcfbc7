//! Runs queue handlers: per-queue concurrency, leases, timeouts, retries, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::Outcome;
use crate::entities::jobs;
use crate::metrics::Metrics;
use crate::state::Wakeup;

/// A queue's settings. The retry schedule lives here, not in handlers.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: &'static str,
    pub concurrency: usize,
    pub lease: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Jobs a batch handler gets at once (1 for per-job handlers).
    pub batch: usize,
    /// Batch queues only: keep up to `concurrency × batch` jobs in flight and claim more as soon as
    /// half a batch of them finished ([`job_finished`]), instead of `concurrency` workers that each
    /// claim again only when their whole batch is done (see [`QueueSpec::refill`]).
    pub refill: bool,
    /// Runs in the transaction that marks one of this queue's jobs dead ([`DeadHook`]).
    pub on_dead: Option<DeadHook>,
    /// Claim never-tried jobs due within this much ahead once the due ones are taken
    /// ([`super::claim_ahead`]).
    pub lookahead: Option<Duration>,
}

/// What a queue's dead job leaves behind: a statement run in the transaction that marks the job
/// dead (given the job and its last error), so that what the job was for shows the failure too —
/// a webhook event turns `failed`, a queued message fails. Nothing a job was for stays silently
/// pending.
pub type DeadHook = fn(&jobs::Model, &str) -> Option<sea_orm::sea_query::UpdateStatement>;

impl QueueSpec {
    pub fn new(name: &'static str, concurrency: usize) -> Self {
        Self {
            name,
            concurrency: concurrency.max(1),
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(15 * 60),
            batch: 1,
            refill: false,
            on_dead: None,
            lookahead: None,
        }
    }

    /// For [`Runner::register_batch`]: up to `n` jobs per handler call.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// For [`Runner::register_batch`]: one claimer keeps `concurrency × batch` jobs in flight,
    /// claiming whenever at least half a batch of slots is free (all free slots, up to four batches'
    /// worth per handler call, so that a claim delayed by a busy database catches up). A slot
    /// frees when the handler calls [`job_finished`] for a job, or when its batch returns. For
    /// handlers whose jobs finish at different times (the sender: each send waits for its pacing
    /// cell), so that the slowest job of a batch does not hold the others' slots empty.
    pub fn refill(mut self) -> Self {
        self.refill = true;
        self
    }

    /// See [`QueueSpec::lookahead`].
    pub fn lookahead(mut self, ahead: Duration) -> Self {
        self.lookahead = Some(ahead);
        self
    }

    /// See [`DeadHook`].
    pub fn on_dead(mut self, hook: DeadHook) -> Self {
        self.on_dead = Some(hook);
        self
    }
}

tokio::task_local! {
    static SLOTS: Arc<Slots>;
}

/// The in-flight slots a refill batch holds: given back one by one by [`job_finished`], the rest
/// when the batch is done (also on panic or timeout: `Drop`).
struct Slots {
    sem: Arc<Semaphore>,
    held: std::sync::atomic::AtomicUsize,
}

impl Slots {
    fn release(&self, n: usize) {
        use std::sync::atomic::Ordering;
        let mut cur = self.held.load(Ordering::Relaxed);
        loop {
            let k = n.min(cur);
            if k == 0 {
                return;
            }
            match self.held.compare_exchange_weak(cur, cur - k, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    self.sem.add_permits(k);
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.release(usize::MAX);
    }
}

/// Called by a batch handler when one of its jobs needs no more time (its outcome is known, only
/// the batch's bookkeeping remains): on a [`QueueSpec::refill`] queue the runner may claim another
/// job in its place. A no-op elsewhere (or when called more often than the batch has jobs).
pub fn job_finished() {
    let _ = SLOTS.try_with(|s| s.release(1));
}

/// A job handler: `Ok` completes the job; `Err(outcome)` retries, defers or kills it.
pub type Handler<C> = Arc<dyn Fn(C, jobs::Model) -> BoxFuture<'static, Result<(), Outcome>> + Send + Sync>;

/// What a batch handler reports per job: `Ok(Done::Recorded)` when it already marked the job done
/// in its own transaction (with [`super::complete_many`]), `Ok(Done::Pending)` when the runner
/// should, `Err(outcome)` to retry, defer or kill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Recorded,
    Pending,
}

/// A handler that takes several claimed jobs at once (`jobs`, and the lease owner it must use to
/// complete them), returning one result per job, in any order.
pub type BatchHandler<C> = Arc<
    dyn Fn(C, Vec<jobs::Model>, String) -> BoxFuture<'static, Vec<(jobs::Model, Result<Done, Outcome>)>> + Send + Sync,
>;

/// What the handlers are given with each job (the application's handles, in `serve` and
/// `worker`).
pub trait Context: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> Context for T {}

enum Work<C> {
    One(Handler<C>),
    Batch(BatchHandler<C>),
}

/// What the runner itself needs: the connection it claims, completes and cleans up with, the
/// queues' wake-ups, the dead-job counter and how long finished jobs are kept.
#[derive(Clone)]
pub struct Handles {
    pub writer: DatabaseConnection,
    pub wakeup: Wakeup,
    pub metrics: Arc<Metrics>,
    pub retention: Duration,
}

struct Env<C> {
    /// Handed to every handler call.
    ctx: C,
    h: Handles,
}

/// The set of queues this process works on.
pub struct Runner<C> {
    env: Arc<Env<C>>,
    queues: Vec<(QueueSpec, Work<C>)>,
    owner: String,
}

/// A refill claim takes at most this many batches' worth of jobs at once.
const MAX_REFILL_BATCHES: usize = 4;
const MAX_IDLE_POLL: Duration = Duration::from_millis(500);
const MIN_IDLE_POLL: Duration = Duration::from_millis(5);

impl<C: Context> Runner<C> {
    /// `ctx` is given to the handlers; `handles` is what the runner itself uses.
    pub fn new(ctx: C, handles: Handles) -> Self {
        let owner = format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple());
        Self { env: Arc::new(Env { ctx, h: handles }), queues: Vec::new(), owner }
    }

    pub fn register(mut self, spec: QueueSpec, handler: Handler<C>) -> Self {
        self.queues.push((spec, Work::One(handler)));
        self
    }

    /// A queue whose handler takes up to `spec.batch` jobs per call; `spec.concurrency` batches
    /// run at once.
    pub fn register_batch(mut self, spec: QueueSpec, handler: BatchHandler<C>) -> Self {
        self.queues.push((spec, Work::Batch(handler)));
        self
    }

    /// Runs until `cancel` fires, then waits for in-flight jobs (bounded by their lease).
    pub async fn run(self, cancel: CancellationToken) {
        let mut tasks = Vec::new();
        for (spec, work) in self.queues {
            let state = self.env.clone();
            let owner = self.owner.clone();
            let cancel = cancel.clone();
            match work {
                Work::One(handler) => tasks.push(tokio::spawn(run_queue(state, spec, handler, owner, cancel))),
                Work::Batch(handler) if spec.refill => {
                    tasks.push(tokio::spawn(run_refill(state, spec, handler, owner, cancel)));
                }
                Work::Batch(handler) => {
                    for worker in 0..spec.concurrency {
                        let (state, spec, handler, owner, cancel) =
                            (state.clone(), spec.clone(), handler.clone(), owner.clone(), cancel.clone());
                        tasks.push(tokio::spawn(run_batches(state, spec, handler, owner, cancel, worker == 0)));
                    }
                }
            }
        }
        let maint = tokio::spawn(maintenance(self.env.h.clone(), cancel.clone()));
        for t in tasks {
            let _ = t.await;
        }
        maint.abort();
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "node".into())
}

async fn run_queue<C: Context>(
    state: Arc<Env<C>>,
    spec: QueueSpec,
    handler: Handler<C>,
    owner: String,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(spec.concurrency));
    let mut claimer = Claimer::new(&state, &spec, true);
    tracing::debug!(queue = spec.name, concurrency = spec.concurrency, "queue worker started");
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let free = permits.available_permits();
        if free == 0 {
            // Wait for a slot (or shutdown).
            tokio::select! {
                _ = cancel.cancelled() => break,
                p = permits.clone().acquire_owned() => drop(p),
            }
            continue;
        }
        let Some(batch) = claimer.next(&state, &owner, free, &cancel).await else { continue };
        for job in batch {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (state, spec, handler, owner) = (state.clone(), spec.clone(), handler.clone(), owner.clone());
            tokio::spawn(async move {
                run_one(&state, &spec, &handler, &owner, job).await;
                drop(permit);
            });
        }
    }
    // Graceful shutdown: let in-flight jobs finish (each is bounded by its lease timeout).
    let _ = tokio::time::timeout(spec.lease, permits.acquire_many(spec.concurrency as u32)).await;
    tracing::debug!(queue = spec.name, "queue worker stopped");
}

/// Puts jobs whose lease expired (their worker died) back in the queue.
async fn recover<C: Context>(state: &Env<C>, queue: &'static str) {
    match super::recover_expired(&state.h.writer, queue).await {
        Ok(n) if n > 0 => tracing::warn!(queue, jobs = n, "re-queued jobs whose lease expired"),
        Ok(_) => {}
        Err(e) => tracing::warn!(queue, error = %e, "recovering expired leases failed"),
    }
}

/// One batch worker: claims up to `spec.batch` due jobs, hands them to the handler together, and
/// records what the handler did not record itself. Several of these run per queue (concurrency).
async fn run_batches<C: Context>(
    state: Arc<Env<C>>,
    spec: QueueSpec,
    handler: BatchHandler<C>,
    owner: String,
    cancel: CancellationToken,
    recovers: bool,
) {
    let mut claimer = Claimer::new(&state, &spec, recovers);
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let Some(batch) = claimer.next(&state, &owner, spec.batch, &cancel).await else { continue };
        if batch.len() == spec.batch {
            // More may be waiting: let another idle batch worker look too.
            claimer.wake.notify_one();
        }
        run_batch(&state, &spec, &handler, &owner, batch, None).await;
    }
    tracing::debug!(queue = spec.name, "batch worker stopped");
}

/// Runs one claimed batch through the handler (bounded by the lease) and records what the handler
/// did not record itself. `slots`: the refill slots the batch holds, visible to the handler.
async fn run_batch<C: Context>(
    state: &Env<C>,
    spec: &QueueSpec,
    handler: &BatchHandler<C>,
    owner: &str,
    batch: Vec<jobs::Model>,
    slots: Option<Arc<Slots>>,
) {
    let budget = spec.lease * MAX_LEASES;
    let span = tracing::info_span!("jobs", queue = spec.name, n = batch.len());
    let fut = tracing::Instrument::instrument(handler(state.ctx.clone(), batch.clone(), owner.to_string()), span);
    let task = match slots {
        Some(slots) => tokio::spawn(SLOTS.scope(slots, fut)),
        None => tokio::spawn(fut),
    };
    let ids: Vec<i64> = batch.iter().map(|j| j.id).collect();
    let results = match tokio::time::timeout(budget, heartbeat(state, spec, owner, &ids, task)).await {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => {
            let error = format!("handler panicked: {join}");
            batch.into_iter().map(|j| (j, Err(Outcome::Retry { error: error.clone(), after: None }))).collect()
        }
        Err(_) => {
            let error = format!("timed out after {budget:?}");
            batch.into_iter().map(|j| (j, Err(Outcome::Retry { error: error.clone(), after: None }))).collect()
        }
    };
    let mut done = Vec::new();
    for (job, result) in results {
        match result {
            Ok(Done::Recorded) => {}
            Ok(Done::Pending) => done.push(job.id),
            Err(outcome) => record(state, spec, owner, &job, Err(outcome)).await,
        }
    }
    if !done.is_empty()
        && let Err(e) = super::complete_many(&state.h.writer, &done, owner).await
    {
        tracing::warn!(queue = spec.name, error = %e, "could not record the jobs' outcome");
    }
}

/// A refill batch queue ([`QueueSpec::refill`]): one claimer keeps up to `concurrency × batch`
/// jobs in flight. It claims (every free slot, up to [`MAX_REFILL_BATCHES`] batches) whenever at least half a batch of slots is free,
/// and runs each claimed batch as its own task; a job's slot frees when the handler reports it
/// finished ([`job_finished`]) or its batch returns.
async fn run_refill<C: Context>(
    state: Arc<Env<C>>,
    spec: QueueSpec,
    handler: BatchHandler<C>,
    owner: String,
    cancel: CancellationToken,
) {
    let cap = spec.concurrency * spec.batch;
    let sem = Arc::new(Semaphore::new(cap));
    let low = (spec.batch / 2).clamp(1, cap);
    let mut claimer = Claimer::new(&state, &spec, true);
    tracing::debug!(queue = spec.name, slots = cap, "refill batch queue started");
    loop {
        if cancel.is_cancelled() {
            break;
        }
        if sem.available_permits() < low {
            // Wait for enough free slots (or shutdown).
            tokio::select! {
                _ = cancel.cancelled() => break,
                p = sem.acquire_many(low as u32) => drop(p),
            }
            continue;
        }
        // Normally half a batch to a batch; more when claims lag behind (a busy database): one
        // claim then takes what freed up meanwhile, so the claim rate never bounds the queue.
        let free = sem.available_permits().min(spec.batch * MAX_REFILL_BATCHES);
        let Some(batch) = claimer.next(&state, &owner, free, &cancel).await else { continue };
        // Only this loop takes slots, so they are free; `forget` hands them to `Slots`.
        let Ok(permits) = sem.acquire_many(batch.len() as u32).await else { break };
        permits.forget();
        let slots = Arc::new(Slots { sem: sem.clone(), held: std::sync::atomic::AtomicUsize::new(batch.len()) });
        let (state, spec, handler, owner) = (state.clone(), spec.clone(), handler.clone(), owner.clone());
        tokio::spawn(async move {
            run_batch(&state, &spec, &handler, &owner, batch, Some(slots.clone())).await;
            // Slots not reported finished by the handler are free once the outcomes are recorded.
            slots.release(usize::MAX);
        });
    }
    // Graceful shutdown: let in-flight batches finish (each is bounded by its lease timeout).
    let _ = tokio::time::timeout(spec.lease, sem.acquire_many(cap as u32)).await;
    tracing::debug!(queue = spec.name, "refill batch queue stopped");
}

/// The claim step every worker loop shares: expired leases recovered every 5 s (when this loop is
/// the queue's recoverer), up to `n` due jobs claimed; after a failed claim it waits 1 s, after an
/// empty one until woken or its idle poll (doubling up to [`MAX_IDLE_POLL`]) has passed.
struct Claimer {
    spec: QueueSpec,
    wake: Arc<tokio::sync::Notify>,
    idle: Duration,
    recovers: bool,
    last_recovery: std::time::Instant,
}

impl Claimer {
    fn new<C>(state: &Env<C>, spec: &QueueSpec, recovers: bool) -> Self {
        Self {
            spec: spec.clone(),
            wake: state.h.wakeup.get(spec.name),
            idle: MIN_IDLE_POLL,
            recovers,
            last_recovery: std::time::Instant::now() - Duration::from_secs(60),
        }
    }

    /// Claimed jobs (never empty), or `None` after waiting: the caller checks for shutdown and
    /// loops.
    async fn next<C: Context>(
        &mut self,
        state: &Env<C>,
        owner: &str,
        n: usize,
        cancel: &CancellationToken,
    ) -> Option<Vec<jobs::Model>> {
        let spec = &self.spec;
        if self.recovers && self.last_recovery.elapsed() >= Duration::from_secs(5) {
            self.last_recovery = std::time::Instant::now();
            recover(state, spec.name).await;
        }
        match super::claim_ahead(&state.h.writer, spec.name, owner, n as u64, spec.lease, spec.lookahead).await {
            Ok(batch) if !batch.is_empty() => {
                self.idle = MIN_IDLE_POLL;
                Some(batch)
            }
            Ok(_) => {
                tokio::select! {
                    _ = cancel.cancelled() => {},
                    _ = self.wake.notified() => self.idle = MIN_IDLE_POLL,
                    _ = tokio::time::sleep(self.idle) => self.idle = (self.idle * 2).min(MAX_IDLE_POLL),
                }
                None
            }
            Err(e) => {
                tracing::warn!(queue = spec.name, error = %e, "claiming jobs failed");
                tokio::select! {
                    _ = cancel.cancelled() => {},
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {},
                }
                None
            }
        }
    }
}

async fn run_one<C: Context>(state: &Env<C>, spec: &QueueSpec, handler: &Handler<C>, owner: &str, job: jobs::Model) {
    let id = job.id;
    let span = tracing::info_span!("job", queue = spec.name, id, attempt = job.attempts);
    let budget = spec.lease * MAX_LEASES;
    let fut = tracing::Instrument::instrument(handler(state.ctx.clone(), job.clone()), span);
    let result = match tokio::time::timeout(budget, heartbeat(state, spec, owner, &[id], tokio::spawn(fut))).await {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => Err(Outcome::Retry { error: format!("handler panicked: {join}"), after: None }),
        Err(_) => Err(Outcome::Retry { error: format!("timed out after {budget:?}"), after: None }),
    };
    record(state, spec, owner, &job, result).await;
}

/// A handler may run for at most this many lease periods, its lease extended every third of one
/// ([`heartbeat`]); past that it counts as hung and its jobs are retried.
const MAX_LEASES: u32 = 10;

/// Awaits `task` while extending its jobs' leases every third of a lease, so that a long batch
/// (a backlog, a slow database) is not taken for a dead worker's and run twice. A process that
/// dies stops beating, and its leases run out as before.
async fn heartbeat<C, T>(
    state: &Env<C>,
    spec: &QueueSpec,
    owner: &str,
    ids: &[i64],
    task: tokio::task::JoinHandle<T>,
) -> Result<T, tokio::task::JoinError> {
    let mut task = task;
    let every = spec.lease / 3;
    loop {
        tokio::select! {
            r = &mut task => return r,
            _ = tokio::time::sleep(every) => {
                match super::extend_leases(&state.h.writer, ids, owner, spec.lease).await {
                    Ok(n) => tracing::debug!(queue = spec.name, jobs = n, "leases extended"),
                    Err(e) => tracing::warn!(queue = spec.name, error = %e, "could not extend leases"),
                }
            }
        }
    }
}

/// Records a job's outcome, if this owner still holds it.
async fn record<C: Context>(
    state: &Env<C>,
    spec: &QueueSpec,
    owner: &str,
    job: &jobs::Model,
    result: Result<(), Outcome>,
) {
    let id = job.id;
    let db = &state.h.writer;
    let res = match result {
        Ok(()) => super::complete(db, id, owner).await.map(|_| ()),
        Err(outcome) => {
            let describe = format!("{outcome:?}");
            let error = match &outcome {
                Outcome::Retry { error, .. } | Outcome::Dead { error } => error.clone(),
                Outcome::Defer { reason, .. } => reason.clone(),
            };
            record_failure(db, spec, owner, job, outcome, &error).await.map(|dead| {
                if dead {
                    crate::metrics::inc(&state.h.metrics.jobs_dead_total);
                    tracing::error!(queue = spec.name, id, "job is dead: {describe}");
                } else {
                    tracing::debug!(queue = spec.name, id, "job not done: {describe}");
                }
            })
        }
    };
    if let Err(e) = res {
        // The lease will expire and the job will run again: handlers are idempotent.
        tracing::warn!(queue = spec.name, id, error = %e, "could not record the job's outcome");
    }
}

/// Records an unsuccessful outcome and, when the job is now dead, its queue's [`DeadHook`], in one
/// transaction. Returns whether the job died.
async fn record_failure(
    db: &sea_orm::DatabaseConnection,
    spec: &QueueSpec,
    owner: &str,
    job: &jobs::Model,
    outcome: Outcome,
    error: &str,
) -> Result<bool, sea_orm::DbErr> {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let txn = db.begin().await?;
    let state = super::finish_unsuccessfully(&txn, job, owner, outcome, spec.backoff_base, spec.backoff_cap).await?;
    let dead = matches!(state, crate::entities::enums::JobState::Dead);
    if dead && let Some(stmt) = spec.on_dead.and_then(|hook| hook(job, error)) {
        txn.execute(&stmt).await?;
    }
    txn.commit().await?;
    Ok(dead)
}

/// Periodic clean-up of finished jobs.
async fn maintenance(h: Handles, cancel: CancellationToken) {
    let retention = h.retention;
    let mut last_cleanup: Option<std::time::Instant> = None;
    loop {
        if last_cleanup.is_none_or(|t| t.elapsed() >= Duration::from_secs(300)) {
            last_cleanup = Some(std::time::Instant::now());
            match super::cleanup(&h.writer, retention).await {
                Ok(n) if n > 0 => tracing::debug!(deleted = n, "cleaned up finished jobs"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "job clean-up failed"),
            }
        }
        // Fresh planner statistics, so a backlog or an import does not collapse processing.
        match crate::db::refresh_statistics(&h.writer).await {
            Ok(t) if !t.is_empty() => tracing::info!(tables = ?t, "analysed tables whose statistics were stale"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "refreshing planner statistics failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(15)) => {},
        }
    }
}
