//! The `/api/admin/*` routes.

use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service;
use super::service::{AdminTenantDto, LimitChanges, PlatformStats, TenantChanges};
use crate::access::extract::{Authed, ClientIp, SystemAdminRole};
use crate::entities::enums::TenantStatus;
use crate::error::{AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants))
        .routes(routes!(get_tenant, update_tenant))
        .routes(routes!(platform_stats))
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u64>,
    /// Rows to skip, 0 to 9223372036854775807 (default 0).
    pub offset: Option<u64>,
    /// `active` or `suspended`.
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantList {
    pub data: Vec<AdminTenantDto>,
}

/// Limit overrides; each > 0.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LimitsRequest {
    pub messages_per_minute: Option<i64>,
    pub monthly_messages: Option<i64>,
    pub max_agents: Option<i64>,
    pub max_numbers: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTenantRequest {
    /// A plan of `GET /api/plans`: its limits are copied unless `limits` gives them.
    pub plan: Option<String>,
    pub limits: Option<LimitsRequest>,
    /// `active` or `suspended`.
    pub status: Option<String>,
}

fn parse_status(raw: &str) -> Result<TenantStatus, String> {
    TenantStatus::parse(raw.trim()).ok_or_else(|| "must be active or suspended".to_string())
}

/// All tenants, newest first, with their users, numbers and month-to-date usage.
#[utoipa::path(get, path = "/api/admin/tenants", tag = "admin", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = TenantList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn list_tenants(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
    Query(p): Query<ListParams>,
) -> AppResult<axum::Json<TenantList>> {
    let mut v = Validator::new();
    let status = p.status.as_deref().and_then(|s| v.check("status", parse_status(s)));
    let offset = v.check("offset", crate::pagination::offset(p.offset));
    v.finish()?;
    let limit = p.limit.unwrap_or(50).clamp(1, 200);
    let data = service::list(&state.db, status, limit, offset.unwrap_or(0)).await?;
    Ok(axum::Json(TenantList { data }))
}

/// One tenant.
#[utoipa::path(get, path = "/api/admin/tenants/{id}", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = AdminTenantDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_tenant(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<AdminTenantDto>> {
    Ok(axum::Json(service::get(&state.db, id).await?))
}

/// Change a tenant's plan, limits or status (suspend / reactivate).
#[utoipa::path(patch, path = "/api/admin/tenants/{id}", tag = "admin", params(("id" = Uuid, Path)),
    request_body = UpdateTenantRequest, security(("bearer" = [])),
    responses((status = 200, body = AdminTenantDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_tenant(
    State(state): State<AppState>,
    auth: Authed<SystemAdminRole>,
    ClientIp(ip): ClientIp,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<UpdateTenantRequest>,
) -> AppResult<axum::Json<AdminTenantDto>> {
    let mut v = Validator::new();
    let plan = req.plan.as_deref().and_then(|p| {
        let names = crate::tenants::plans::PLANS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
        v.check("plan", crate::tenants::plans::find(p.trim()).ok_or_else(|| format!("must be one of {names}")))
    });
    let l = req.limits.unwrap_or_default();
    let mut positive = |field: &str, x: Option<i64>, max: i64| -> Option<i64> {
        let x = x?;
        v.check(field, if (1..=max).contains(&x) { Ok(x) } else { Err(format!("must be between 1 and {max}")) })
    };
    let i32max = i32::MAX as i64;
    let limits = LimitChanges {
        messages_per_minute: positive("limits.messagesPerMinute", l.messages_per_minute, i32max).map(|x| x as i32),
        monthly_messages: positive("limits.monthlyMessages", l.monthly_messages, i64::MAX),
        max_agents: positive("limits.maxAgents", l.max_agents, i32max).map(|x| x as i32),
        max_numbers: positive("limits.maxNumbers", l.max_numbers, i32max).map(|x| x as i32),
    };
    let status = req.status.as_deref().and_then(|s| v.check("status", parse_status(s)));
    v.finish()?;
    let changes = TenantChanges { plan, limits, status };
    Ok(axum::Json(service::update(&state, auth.user_id(), id, changes, &ip).await?))
}

/// Platform totals: tenants by status, users, numbers, messages today and this month, queues.
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = PlatformStats), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn platform_stats(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
) -> AppResult<axum::Json<PlatformStats>> {
    Ok(axum::Json(service::stats(&state).await?))
}
