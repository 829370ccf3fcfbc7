//! `/api/health`: liveness, readiness, and a detailed report of every dependency.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{DatabaseConnection, FromQueryResult};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(live)).routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    pub version: &'static str,
    pub database: DependencyStatus,
    /// Present when `SWITCHBOARD_REDIS_URL` is configured.
    pub redis: Option<DependencyStatus>,
    pub jobs: Vec<QueueStats>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyStatus {
    pub status: &'static str,
    pub backend: Option<&'static str>,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// Depth of one job queue.
#[derive(Serialize, ToSchema, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub queue: String,
    pub pending: i64,
    pub running: i64,
    pub failed: i64,
    pub dead: i64,
    /// Age in seconds of the oldest job that is due and not yet running.
    pub oldest_pending_age_secs: Option<f64>,
}

async fn check_db(db: &DatabaseConnection) -> DependencyStatus {
    let started = Instant::now();
    let r = crate::db::ping(db).await;
    DependencyStatus {
        status: if r.is_ok() { "ok" } else { "unavailable" },
        backend: Some(crate::db::backend_name(db)),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        // The kind of failure only: connection strings never reach a response.
        error: r.err().map(
            |e| {
                if crate::db::is_unavailable(&e) { "unreachable".into() } else { "query failed".into() }
            },
        ),
    }
}

async fn check_redis(state: &AppState) -> Option<DependencyStatus> {
    let mut conn = state.redis.clone()?;
    let started = Instant::now();
    let r: Result<String, _> =
        tokio::time::timeout(std::time::Duration::from_secs(2), redis::cmd("PING").query_async(&mut conn))
            .await
            .unwrap_or_else(|_| Err(redis::RedisError::from((redis::ErrorKind::Io, "timeout"))));
    Some(DependencyStatus {
        status: if r.is_ok() { "ok" } else { "unavailable" },
        backend: Some("redis"),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        error: r.err().map(|_| "unreachable".into()),
    })
}

#[derive(FromQueryResult)]
struct StateCount {
    queue: String,
    state: String,
    n: i64,
}

/// Per-queue job counts, from one grouped query.
pub async fn queue_stats(db: &DatabaseConnection) -> Result<Vec<QueueStats>, sea_orm::DbErr> {
    let q = Query::select()
        .column("queue")
        // A pending job with attempts spent is waiting for its retry: report it as failed.
        .expr_as(
            sea_orm::sea_query::CaseStatement::new()
                .case(Expr::col("state").eq("pending").and(Expr::col("attempts").gt(0)), Expr::val("failed"))
                .finally(Expr::col("state")),
            Alias::new("state"),
        )
        .expr_as(Func::count(Expr::col("id")), Alias::new("n"))
        .from("jobs")
        .and_where(Expr::col("state").is_in(["pending", "running", "failed", "dead"]))
        .add_group_by([Expr::col("queue"), Expr::cust("2")])
        .to_owned();
    let rows = StateCount::find_by_statement(db.get_database_backend().build(&q)).all(db).await?;
    let mut out: Vec<QueueStats> = Vec::new();
    for r in rows {
        let idx = match out.iter().position(|s| s.queue == r.queue) {
            Some(i) => i,
            None => {
                out.push(QueueStats { queue: r.queue.clone(), ..Default::default() });
                out.len() - 1
            }
        };
        let s = &mut out[idx];
        match r.state.as_str() {
            "pending" => s.pending = r.n,
            "running" => s.running = r.n,
            "failed" => s.failed = r.n,
            _ => s.dead = r.n,
        }
    }
    let now = chrono::Utc::now();
    for s in &mut out {
        if s.pending == 0 {
            continue;
        }
        use crate::entities::jobs;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
        let oldest: Option<Option<chrono::DateTime<chrono::Utc>>> = jobs::Entity::find()
            .select_only()
            .column_as(jobs::Column::RunAt.min(), "m")
            .filter(jobs::Column::Queue.eq(&s.queue))
            .filter(jobs::Column::State.eq(crate::entities::enums::JobState::Pending))
            .filter(jobs::Column::RunAt.lte(now))
            .into_tuple()
            .one(db)
            .await?;
        let oldest = oldest.flatten();
        s.oldest_pending_age_secs = oldest.map(|t| std::cmp::max((now - t).num_milliseconds(), 0) as f64 / 1000.0);
    }
    out.sort_by(|a, b| a.queue.cmp(&b.queue));
    Ok(out)
}

/// Dependencies and queue depths; 503 when a dependency is down.
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, body = HealthReport), (status = 503, body = HealthReport)))]
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let database = check_db(&state.db).await;
    let redis = check_redis(&state).await;
    let jobs = if database.status == "ok" { queue_stats(&state.db).await.unwrap_or_default() } else { Vec::new() };
    let healthy = database.status == "ok" && redis.as_ref().is_none_or(|r| r.status == "ok");
    let report = HealthReport {
        status: if healthy { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
        database,
        redis,
        jobs,
    };
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(report))
}

/// Ready to take traffic: the database answers.
#[utoipa::path(get, path = "/api/health/ready", tag = "health",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match crate::db::ping(&state.db).await {
        Ok(()) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ready"}))),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "unavailable"}))),
    }
}

/// The process is alive.
#[utoipa::path(get, path = "/api/health/live", tag = "health", responses((status = 200, description = "alive")))]
async fn live() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "alive"}))
}

/// Stored webhook events in the failed state (replayable).
pub async fn failed_webhook_events<C: sea_orm::ConnectionTrait>(db: &C) -> Result<i64, sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    use crate::entities::{enums::WebhookState, webhook_events};
    let q = webhook_events::Entity::find().filter(webhook_events::Column::State.eq(WebhookState::Failed));
    Ok(q.count(db).await? as i64)
}

/// Process counters (Prometheus text format).
#[utoipa::path(get, path = "/api/metrics", tag = "health", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = state.metrics.render();
    // Gauges read from the database, so that every node reports the same durable state.
    if let Ok(n) = failed_webhook_events(&state.db).await {
        out.push_str(
            "# HELP switchboard_webhook_events_failed Stored webhook events in the failed state (replayable)\n",
        );
        out.push_str("# TYPE switchboard_webhook_events_failed gauge\n");
        out.push_str(&format!("switchboard_webhook_events_failed {n}\n"));
    }
    if let Ok(queues) = queue_stats(&state.db).await {
        out.push_str("# HELP switchboard_jobs_dead Dead jobs kept for operators, per queue\n");
        out.push_str("# TYPE switchboard_jobs_dead gauge\n");
        for q in queues {
            out.push_str(&format!("switchboard_jobs_dead{{queue=\"{}\"}} {}\n", q.queue, q.dead));
        }
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
