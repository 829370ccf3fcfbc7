//! The durable job queue. Jobs are rows of `jobs` in the main database, enqueued in the same
//! transaction as the data they describe (inbox/outbox), so no crash can separate the two.
//!
//! Claiming takes due jobs with an expiring lease: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so many
//! workers on many nodes share a queue; on SQLite the lock clause is omitted and one process runs
//! the workers. A crashed worker's lease expires and its jobs run again. Failures retry with
//! exponential backoff and full jitter until `max_attempts`; then the job is dead (kept, listed,
//! retryable). Finished jobs are deleted after a retention period.

pub mod payloads;
pub mod routes;
pub mod runner;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set,
    TryInsertResult,
};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::enums::JobState;
use crate::entities::jobs;

/// Queue names.
pub mod queues {
    pub const WEBHOOK_PROCESSOR: &str = "webhook-processor";
    pub const MESSAGE_SEND: &str = "message-send";
    pub const MEDIA_DOWNLOAD: &str = "media-download";
    pub const TEMPLATE_SYNC: &str = "template-sync";
    pub const WEBHOOK_DELIVERY: &str = "webhook-delivery";
    pub const CAMPAIGN_RUN: &str = "campaign-run";
    pub const CAMPAIGN_RETRY: &str = "campaign-retry";
}

/// A queue's job: its queue name and its payload type ([`payloads`]). Enqueue with
/// [`Job::job`], read in the handler with [`Job::of`].
pub trait Job: serde::Serialize + serde::de::DeserializeOwned {
    const QUEUE: &'static str;

    /// A new job of this queue with this payload.
    fn job(&self) -> NewJob {
        NewJob::new(Self::QUEUE, serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// The payload of a claimed job; a payload that does not parse kills the job (it can never
    /// succeed), with the reason.
    fn of(job: &jobs::Model) -> Result<Self, Outcome> {
        serde_json::from_value(job.payload.clone())
            .map_err(|e| Outcome::Dead { error: format!("{} job payload is not valid: {e}", Self::QUEUE) })
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub queue: &'static str,
    pub payload: Value,
    pub run_at: Option<DateTime<Utc>>,
    /// Enqueueing a second job with the same (queue, key) is a no-op while the first is kept.
    pub unique_key: Option<String>,
    pub max_attempts: i32,
    pub tenant_id: Option<Uuid>,
}

impl NewJob {
    pub fn new(queue: &'static str, payload: Value) -> Self {
        Self { queue, payload, run_at: None, unique_key: None, max_attempts: 10, tenant_id: None }
    }
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }
    pub fn at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }
    pub fn attempts(mut self, max: i32) -> Self {
        self.max_attempts = std::cmp::max(max, 1);
        self
    }
    pub fn tenant(mut self, tenant: Uuid) -> Self {
        self.tenant_id = Some(tenant);
        self
    }

    fn into_active(self, now: DateTime<Utc>) -> jobs::ActiveModel {
        jobs::ActiveModel {
            queue: Set(self.queue.to_string()),
            payload: Set(self.payload),
            state: Set(JobState::Pending),
            attempts: Set(0),
            max_attempts: Set(self.max_attempts),
            run_at: Set(self.run_at.unwrap_or(now)),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            unique_key: Set(self.unique_key),
            last_error: Set(None),
            tenant_id: Set(self.tenant_id),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
    }
}

/// Inserts jobs (use the caller's transaction). Returns how many were new; duplicates by unique
/// key are skipped.
pub async fn enqueue_many<C: ConnectionTrait>(db: &C, jobs_: Vec<NewJob>) -> Result<u64, DbErr> {
    if jobs_.is_empty() {
        return Ok(0);
    }
    let now = crate::db::now();
    let res = jobs::Entity::insert_many(jobs_.into_iter().map(|j| j.into_active(now)))
        .on_conflict(OnConflict::columns([jobs::Column::Queue, jobs::Column::UniqueKey]).do_nothing().to_owned())
        .exec_without_returning(db)
        .await;
    match res {
        Ok(inserted) => Ok(inserted),
        Err(DbErr::RecordNotInserted) => Ok(0),
        Err(e) => Err(e),
    }
}

/// The statement [`enqueue_many`] runs (`None` when there is nothing to insert), for callers that
/// combine it with other statements (the PostgreSQL ingest path runs it under a data-modifying
/// `WITH`, one round trip for events and jobs).
pub fn enqueue_many_statement(jobs_: Vec<NewJob>) -> Option<sea_orm::sea_query::InsertStatement> {
    if jobs_.is_empty() {
        return None;
    }
    let now = crate::db::now();
    let q = jobs::Entity::insert_many(jobs_.into_iter().map(|j| j.into_active(now)))
        .on_conflict(OnConflict::columns([jobs::Column::Queue, jobs::Column::UniqueKey]).do_nothing().to_owned());
    Some(sea_orm::QueryTrait::into_query(q))
}

/// Inserts one job; `false` when a job with the same unique key already exists.
pub async fn enqueue<C: ConnectionTrait>(db: &C, job: NewJob) -> Result<bool, DbErr> {
    let now = crate::db::now();
    let res = jobs::Entity::insert(job.into_active(now))
        .on_conflict_do_nothing_on([jobs::Column::Queue, jobs::Column::UniqueKey])
        .exec(db)
        .await?;
    Ok(matches!(res, TryInsertResult::Inserted(_)))
}

/// Claims up to `limit` due jobs of `queue` for `owner`, leasing them for `lease`. (Jobs whose
/// lease expired are put back by [`recover_expired`].)
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    queue: &str,
    owner: &str,
    limit: u64,
    lease: Duration,
) -> Result<Vec<jobs::Model>, DbErr> {
    claim_ahead(db, queue, owner, limit, lease, None).await
}

/// [`claim`], also taking never-tried jobs due within `lookahead` once the due ones are taken
/// (earliest first). For queues whose fresh jobs are spread into the near future only to order
/// them (the webhook queue's per-tenant fair share, `webhooks::fair`): idle workers need not
/// wait for them, and retries keep their backoff.
pub async fn claim_ahead<C: ConnectionTrait>(
    db: &C,
    queue: &str,
    owner: &str,
    limit: u64,
    lease: Duration,
    lookahead: Option<Duration>,
) -> Result<Vec<jobs::Model>, DbErr> {
    let now = crate::db::now();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let due_by = match lookahead {
        Some(ahead) => Expr::col("run_at")
            .lte(now)
            .or(Expr::col("attempts").eq(0).and(Expr::col("run_at").lte(now + to_chrono(ahead)))),
        None => Expr::col("run_at").lte(now),
    };
    let due = Query::select()
        .column("id")
        .from("jobs")
        // One state and a range on run_at: an ordered scan of ix_jobs_due, no sort of the backlog.
        .and_where(Expr::col("queue").eq(queue))
        .and_where(Expr::col("state").eq(JobState::Pending.as_str()))
        .and_where(due_by)
        .order_by("run_at", sea_orm::Order::Asc)
        .order_by("id", sea_orm::Order::Asc)
        .limit(limit)
        // PostgreSQL: concurrent claimers skip each other's rows. SQLite: omitted (single writer).
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let update = Query::update()
        .table("jobs")
        .value("state", JobState::Running.as_str())
        .value("lease_owner", owner)
        .value("lease_expires_at", lease_until)
        .value("attempts", Expr::col("attempts").add(1))
        .value("updated_at", now)
        .and_where(Expr::col("id").in_subquery(due))
        .returning_all()
        .to_owned();
    let stmt = db.get_database_backend().build(&update);
    let mut rows = jobs::Model::find_by_statement(stmt).all(db).await?;
    rows.sort_by_key(|j| (j.run_at, j.id));
    Ok(rows)
}

/// Puts jobs whose lease expired (their worker crashed or hung) back in the queue, due now. Their
/// attempt stays counted, so a job that keeps killing its worker ends up dead.
pub async fn recover_expired<C: ConnectionTrait>(db: &C, queue: &str) -> Result<u64, DbErr> {
    let now = crate::db::now();
    let r = jobs::Entity::update_many()
        .col_expr(jobs::Column::State, Expr::value(JobState::Pending.as_str()))
        .col_expr(jobs::Column::RunAt, Expr::value(now))
        .col_expr(jobs::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(jobs::Column::LastError, Expr::value("lease expired: the worker stopped"))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .filter(jobs::Column::Queue.eq(queue))
        .filter(jobs::Column::State.eq(JobState::Running))
        .filter(jobs::Column::LeaseExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// Extends the lease of jobs this owner still runs (a heartbeat while their handler works), so a
/// long batch is never re-queued and done twice while its worker is alive. Returns how many.
pub async fn extend_leases<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    owner: &str,
    lease: Duration,
) -> Result<u64, DbErr> {
    let until = crate::db::now() + to_chrono(lease);
    update_held(db, ids, owner, |q| q.col_expr(jobs::Column::LeaseExpiresAt, Expr::value(until))).await
}

/// Applies `set` to the jobs of `ids` this owner still runs, 500 at a time; how many changed.
async fn update_held<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    owner: &str,
    set: impl Fn(sea_orm::UpdateMany<jobs::Entity>) -> sea_orm::UpdateMany<jobs::Entity>,
) -> Result<u64, DbErr> {
    let mut n = 0;
    for chunk in ids.chunks(500) {
        let r = set(jobs::Entity::update_many())
            .filter(jobs::Column::Id.is_in(chunk.iter().copied()))
            .filter(jobs::Column::LeaseOwner.eq(owner))
            .filter(jobs::Column::State.eq(JobState::Running))
            .exec(db)
            .await?;
        n += r.rows_affected;
    }
    Ok(n)
}

/// The earliest `run_at` of `queue`'s due jobs of tenants other than `tenants` (a short index
/// range: due jobs only), if any wait.
pub async fn first_due_of_others<C: ConnectionTrait>(
    db: &C,
    queue: &str,
    tenants: &[Uuid],
) -> Result<Option<DateTime<Utc>>, DbErr> {
    jobs::Entity::find()
        .select_only()
        .column(jobs::Column::RunAt)
        .filter(jobs::Column::Queue.eq(queue))
        .filter(jobs::Column::State.eq(JobState::Pending))
        .filter(jobs::Column::RunAt.lte(crate::db::now()))
        .filter(jobs::Column::TenantId.is_not_in(tenants.iter().copied()))
        .order_by_asc(jobs::Column::RunAt)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await
}

/// Puts jobs this owner claimed back in the queue untouched: pending, their attempt not
/// counted, their `run_at` (their place) kept.
pub async fn release<C: ConnectionTrait>(db: &C, ids: &[i64], owner: &str) -> Result<u64, DbErr> {
    update_held(db, ids, owner, |q| {
        q.col_expr(jobs::Column::State, Expr::value(JobState::Pending.as_str()))
            .col_expr(jobs::Column::Attempts, Expr::col(jobs::Column::Attempts).sub(1))
            .col_expr(jobs::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(jobs::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
    })
    .await
}

/// Marks a job done, if this owner still holds it.
pub async fn complete<C: ConnectionTrait>(db: &C, id: i64, owner: &str) -> Result<bool, DbErr> {
    let r = jobs::Entity::update_many()
        .col_expr(jobs::Column::State, Expr::value(JobState::Done.as_str()))
        .col_expr(jobs::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(jobs::Column::Id.eq(id))
        .filter(jobs::Column::LeaseOwner.eq(owner))
        .filter(jobs::Column::State.eq(JobState::Running))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Marks several jobs done, if this owner still holds them (inside a handler's transaction, so
/// that the work and its completion commit together).
pub async fn complete_many<C: ConnectionTrait>(db: &C, ids: &[i64], owner: &str) -> Result<u64, DbErr> {
    let now = crate::db::now();
    update_held(db, ids, owner, |q| {
        q.col_expr(jobs::Column::State, Expr::value(JobState::Done.as_str()))
            .col_expr(jobs::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(jobs::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
    })
    .await
}

/// What to do with a job that did not succeed.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Try again after a backoff (or the given delay); dead after max attempts.
    Retry { error: String, after: Option<Duration> },
    /// Never retry: the job is dead at once (still kept and retryable by an operator).
    Dead { error: String },
    /// Not a failure: run again later without spending an attempt (rate limits, paused accounts).
    Defer { after: Duration, reason: String },
}

/// Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)].
pub fn backoff(attempt: i32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.clamp(0, 20) as u32).min(cap);
    let ms = exp.as_millis().max(1) as u64;
    Duration::from_millis(rand_u64() % (ms + 1))
}

fn rand_u64() -> u64 {
    // Jitter needs no cryptographic randomness; UUIDv4 bits are a dependency-free source.
    Uuid::new_v4().as_u64_pair().0
}

/// Records a failure, deferral or death, if this owner still holds the job.
pub async fn finish_unsuccessfully<C: ConnectionTrait>(
    db: &C,
    job: &jobs::Model,
    owner: &str,
    outcome: Outcome,
    base: Duration,
    cap: Duration,
) -> Result<JobState, DbErr> {
    let now = crate::db::now();
    let (state, run_at, attempts, error) = match outcome {
        Outcome::Defer { after, reason } => {
            (JobState::Pending, now + to_chrono(after), std::cmp::max(job.attempts - 1, 0), Some(reason))
        }
        Outcome::Dead { error } => (JobState::Dead, now, job.attempts, Some(error)),
        Outcome::Retry { error, after } => {
            if job.attempts >= job.max_attempts {
                (JobState::Dead, now, job.attempts, Some(error))
            } else {
                let delay = after.unwrap_or_else(|| backoff(job.attempts, base, cap));
                // Waiting for its retry: pending again (so one index serves every claim), with
                // attempts and last_error telling that it failed.
                (JobState::Pending, now + to_chrono(delay), job.attempts, Some(error))
            }
        }
    };
    jobs::Entity::update_many()
        .col_expr(jobs::Column::State, Expr::value(state.as_str()))
        .col_expr(jobs::Column::RunAt, Expr::value(run_at))
        .col_expr(jobs::Column::Attempts, Expr::value(attempts))
        .col_expr(jobs::Column::LastError, Expr::value(error.map(|e| truncate(e.as_str(), 2000))))
        .col_expr(jobs::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .filter(jobs::Column::Id.eq(job.id))
        .filter(jobs::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(state)
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Puts a dead or failed job back in the queue with fresh attempts. `false` when there is no
/// such job in a retryable state.
pub async fn retry<C: ConnectionTrait>(db: &C, id: i64) -> Result<bool, DbErr> {
    let r = jobs::Entity::update_many()
        .col_expr(jobs::Column::State, Expr::value(JobState::Pending.as_str()))
        .col_expr(jobs::Column::Attempts, Expr::value(0))
        .col_expr(jobs::Column::RunAt, Expr::value(crate::db::now()))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(jobs::Column::Id.eq(id))
        // Dead, or waiting for a retry after a failure: run it now with fresh attempts.
        .filter(sea_orm::Condition::any().add(jobs::Column::State.is_in([JobState::Dead, JobState::Failed])).add(
            sea_orm::Condition::all().add(jobs::Column::State.eq(JobState::Pending)).add(jobs::Column::Attempts.gt(0)),
        ))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Deletes finished jobs older than `retention`. Dead jobs are kept for operators.
pub async fn cleanup<C: ConnectionTrait>(db: &C, retention: Duration) -> Result<u64, DbErr> {
    let cutoff = crate::db::now() - to_chrono(retention);
    let r = jobs::Entity::delete_many()
        .filter(jobs::Column::State.eq(JobState::Done))
        .filter(jobs::Column::UpdatedAt.lt(cutoff))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// Lists jobs for operators, newest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    queue: Option<&str>,
    state: Option<JobState>,
    limit: u64,
) -> Result<Vec<jobs::Model>, DbErr> {
    let mut q = jobs::Entity::find();
    if let Some(queue) = queue {
        q = q.filter(jobs::Column::Queue.eq(queue));
    }
    match state {
        // Failed = waiting for a retry: pending with attempts spent.
        Some(JobState::Failed) => {
            q = q.filter(jobs::Column::State.eq(JobState::Pending)).filter(jobs::Column::Attempts.gt(0));
        }
        Some(state) => q = q.filter(jobs::Column::State.eq(state)),
        None => {}
    }
    q.order_by_desc(jobs::Column::Id).limit(limit).all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_by_the_exponential_and_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(10);
        for attempt in 0..30 {
            let d = backoff(attempt, base, cap);
            let bound = base.saturating_mul(1 << std::cmp::min(attempt, 20)).min(cap);
            assert!(d <= bound, "attempt {attempt}: {d:?} > {bound:?}");
        }
        // Full jitter spreads values: 50 draws are not all equal.
        let draws: std::collections::HashSet<_> = (0..50).map(|_| backoff(5, base, cap)).collect();
        assert!(draws.len() > 10);
    }
}
