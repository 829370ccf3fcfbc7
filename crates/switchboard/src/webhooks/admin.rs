//! `/api/admin/webhook-events`: stored raw events (e.g. the unroutable ones) and replay.

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::access::extract::{Authed, SystemAdminRole};
use crate::entities::enums::WebhookState;
use crate::entities::webhook_events;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::jobs::queues;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(replay_event))
}

#[derive(Deserialize, IntoParams)]
pub struct EventParams {
    /// pending, processed, failed or unroutable.
    pub state: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEventDto {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub state: WebhookState,
    pub tenant_id: Option<Uuid>,
    pub phone_number_id: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
    pub size_bytes: usize,
    /// The raw body as received (UTF-8, lossy).
    pub body: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEventList {
    pub data: Vec<WebhookEventDto>,
}

impl From<webhook_events::Model> for WebhookEventDto {
    fn from(e: webhook_events::Model) -> Self {
        WebhookEventDto {
            id: e.id,
            received_at: e.received_at,
            state: e.state,
            tenant_id: e.tenant_id,
            phone_number_id: e.phone_number_id,
            attempts: e.attempts,
            last_error: e.last_error,
            processed_at: e.processed_at,
            size_bytes: e.body.len(),
            body: String::from_utf8_lossy(&e.body).into_owned(),
        }
    }
}

/// Stored webhook events, newest first.
#[utoipa::path(get, path = "/api/admin/webhook-events", tag = "admin", params(EventParams), security(("bearer" = [])),
    responses((status = 200, body = WebhookEventList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
    Query(p): Query<EventParams>,
) -> AppResult<axum::Json<WebhookEventList>> {
    let mut q = webhook_events::Entity::find();
    if let Some(s) = p.state.as_deref() {
        let s = WebhookState::parse(s)
            .ok_or_else(|| AppError::field("state", format!("must be one of {}", WebhookState::ALL.join(", "))))?;
        q = q.filter(webhook_events::Column::State.eq(s));
    }
    let rows = q
        .order_by_desc(webhook_events::Column::ReceivedAt)
        .limit(p.limit.unwrap_or(100).clamp(1, 500))
        .all(&state.db)
        .await?;
    Ok(axum::Json(WebhookEventList { data: rows.into_iter().map(Into::into).collect() }))
}

/// Process a stored event again (idempotent: messages are not duplicated, statuses do not regress).
#[utoipa::path(post, path = "/api/admin/webhook-events/{id}/replay", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 202, body = WebhookEventDto), (status = 404, body = ErrorBody)))]
async fn replay_event(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
    Path(id): Path<Uuid>,
) -> AppResult<(axum::http::StatusCode, axum::Json<WebhookEventDto>)> {
    let txn = state.writer().begin().await?;
    let updated = webhook_events::Entity::update_many()
        .col_expr(webhook_events::Column::State, Expr::value(WebhookState::Pending.as_str()))
        .filter(webhook_events::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::not_found("webhook event"));
    }
    let key = format!("{id}:replay:{}", Uuid::new_v4().simple());
    let job = crate::jobs::Job::job(&crate::jobs::payloads::ProcessWebhook { event_id: id }).unique(key);
    crate::jobs::enqueue(&txn, job).await?;
    txn.commit().await?;
    state.jobs_wakeup.wake(queues::WEBHOOK_PROCESSOR);
    let e = webhook_events::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("webhook event"))?;
    Ok((axum::http::StatusCode::ACCEPTED, axum::Json(e.into())))
}
