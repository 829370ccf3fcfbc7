//! `/api/plans` and `/api/usage` (TENANT_ADMIN and BILLING_ADMIN), with a CSV export.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::report::{self, UsageReport};
use crate::access::extract::{AnyRole, Authed, BillingRole};
use crate::error::{AppResult, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_plans)).routes(routes!(get_usage)).routes(routes!(usage_csv))
}

/// A plan of the catalogue and its limits.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanDto {
    pub name: &'static str,
    pub messages_per_minute: i32,
    pub monthly_messages: i64,
    /// TENANT_ADMIN and AGENT users (pending invitations included).
    pub max_agents: i32,
    pub max_numbers: i32,
    /// The plan new workspaces get.
    pub default: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PlanList {
    pub data: Vec<PlanDto>,
}

#[derive(Deserialize, IntoParams)]
pub struct UsageParams {
    /// First day, `YYYY-MM-DD` (default: the first of this month).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`, at most 366 days after `from` (default: today).
    pub to: Option<String>,
}

/// The plan catalogue.
#[utoipa::path(get, path = "/api/plans", tag = "usage", security(("bearer" = [])),
    responses((status = 200, body = PlanList), (status = 401, body = ErrorBody)))]
async fn list_plans(_auth: Authed<AnyRole>) -> axum::Json<PlanList> {
    let data = crate::tenants::plans::PLANS
        .iter()
        .map(|p| PlanDto {
            name: p.name,
            messages_per_minute: p.messages_per_minute,
            monthly_messages: p.monthly_messages,
            max_agents: p.max_agents,
            max_numbers: p.max_numbers,
            default: p.name == crate::tenants::plans::DEFAULT_PLAN,
        })
        .collect();
    axum::Json(PlanList { data })
}

/// Daily usage over a range and month-to-date against the plan (TENANT_ADMIN, BILLING_ADMIN).
#[utoipa::path(get, path = "/api/usage", tag = "usage", params(UsageParams), security(("bearer" = [])),
    responses((status = 200, body = UsageReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_usage(
    State(state): State<AppState>,
    auth: Authed<BillingRole>,
    Query(p): Query<UsageParams>,
) -> AppResult<axum::Json<UsageReport>> {
    let (from, to) = report::parse_range(p.from.as_deref(), p.to.as_deref())?;
    Ok(axum::Json(report::report(&state.db, auth.tenant()?, from, to).await?))
}

/// The daily rows as CSV (`text/csv`, header row first).
#[utoipa::path(get, path = "/api/usage.csv", tag = "usage", params(UsageParams), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn usage_csv(
    State(state): State<AppState>,
    auth: Authed<BillingRole>,
    Query(p): Query<UsageParams>,
) -> AppResult<impl IntoResponse> {
    let (from, to) = report::parse_range(p.from.as_deref(), p.to.as_deref())?;
    let days = report::daily(&state.db, auth.tenant()?, from, to).await?;
    let disposition = format!("attachment; filename=\"usage-{from}-{to}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        report::to_csv(&days),
    ))
}
