//! `/api/admin/jobs`: operators see queue contents and depths, and retry dead jobs.

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::access::extract::{Authed, SystemAdminRole};
use crate::entities::enums::JobState;
use crate::entities::jobs;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::health::QueueStats;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_jobs)).routes(routes!(retry_job))
}

#[derive(Deserialize, IntoParams)]
pub struct JobsParams {
    pub queue: Option<String>,
    /// pending, running, done, failed or dead.
    pub state: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobDto {
    pub id: i64,
    pub queue: String,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub tenant_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<jobs::Model> for JobDto {
    fn from(j: jobs::Model) -> Self {
        JobDto {
            id: j.id,
            queue: j.queue,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            last_error: j.last_error,
            tenant_id: j.tenant_id,
            payload: j.payload,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct JobList {
    /// The jobs matching the filters, newest first.
    pub data: Vec<JobDto>,
    /// Every queue's depth (pending, running, failed, dead, oldest due job's age), whatever the
    /// filters: the same figures as `/api/health` and `/api/admin/stats`.
    pub queues: Vec<QueueStats>,
}

/// Jobs of every queue, newest first, and the depth of each queue.
#[utoipa::path(get, path = "/api/admin/jobs", tag = "admin", params(JobsParams), security(("bearer" = [])),
    responses((status = 200, body = JobList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_jobs(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
    Query(p): Query<JobsParams>,
) -> AppResult<axum::Json<JobList>> {
    let job_state = match p.state.as_deref() {
        None => None,
        Some(s) => Some(
            JobState::parse(s)
                .ok_or_else(|| AppError::field("state", format!("must be one of {}", JobState::ALL.join(", "))))?,
        ),
    };
    let rows =
        crate::jobs::list(&state.db, p.queue.as_deref(), job_state, p.limit.unwrap_or(100).clamp(1, 500)).await?;
    let queues = crate::health::queue_stats(&state.db).await?;
    Ok(axum::Json(JobList { data: rows.into_iter().map(Into::into).collect(), queues }))
}

/// Put a dead or failed job back in its queue with fresh attempts.
#[utoipa::path(post, path = "/api/admin/jobs/{id}/retry", tag = "admin", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = JobDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_job(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<JobDto>> {
    use sea_orm::EntityTrait;
    let Some(job) = jobs::Entity::find_by_id(id).one(&state.db).await? else {
        return Err(AppError::not_found("job"));
    };
    if !crate::jobs::retry(state.writer(), id).await? {
        return Err(AppError::conflict(
            "not_retryable",
            format!("job is {}; only dead or failed jobs can be retried", job.state),
        ));
    }
    if let Some(q) = [
        crate::jobs::queues::WEBHOOK_PROCESSOR,
        crate::jobs::queues::MESSAGE_SEND,
        crate::jobs::queues::MEDIA_DOWNLOAD,
        crate::jobs::queues::TEMPLATE_SYNC,
        crate::jobs::queues::WEBHOOK_DELIVERY,
    ]
    .into_iter()
    .find(|q| *q == job.queue)
    {
        state.jobs_wakeup.wake(q);
    }
    let job = jobs::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(|| AppError::not_found("job"))?;
    Ok(axum::Json(job.into()))
}
