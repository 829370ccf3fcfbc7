//! `/api/analytics/summary` and `/api/analytics/agents` (TENANT_ADMIN and BILLING_ADMIN).

use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, AgentFigures, Summary};
use crate::access::extract::{Authed, BillingRole};
use crate::error::{AppResult, ErrorBody};
use crate::state::AppState;
use crate::usage::report::parse_range;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary)).routes(routes!(agents))
}

#[derive(Deserialize, IntoParams)]
pub struct RangeParams {
    /// First day, `YYYY-MM-DD` (UTC; default: the first of this month).
    pub from: Option<String>,
    /// Last day included, `YYYY-MM-DD`, at most 366 days after `from` (default: today).
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentFiguresList {
    pub data: Vec<AgentFigures>,
}

/// Messages, conversations, response and resolution times, delivery and read rates, failures.
#[utoipa::path(get, path = "/api/analytics/summary", tag = "analytics", params(RangeParams), security(("bearer" = [])),
    responses((status = 200, body = Summary), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn summary(
    State(state): State<AppState>,
    auth: Authed<BillingRole>,
    Query(p): Query<RangeParams>,
) -> AppResult<axum::Json<Summary>> {
    let (from, to) = parse_range(p.from.as_deref(), p.to.as_deref())?;
    Ok(axum::Json(service::summary(&state.db, auth.tenant()?, from, to).await?))
}

/// Per agent: conversations handled, messages sent, median first response.
#[utoipa::path(get, path = "/api/analytics/agents", tag = "analytics", params(RangeParams), security(("bearer" = [])),
    responses((status = 200, body = AgentFiguresList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn agents(
    State(state): State<AppState>,
    auth: Authed<BillingRole>,
    Query(p): Query<RangeParams>,
) -> AppResult<axum::Json<AgentFiguresList>> {
    let (from, to) = parse_range(p.from.as_deref(), p.to.as_deref())?;
    Ok(axum::Json(AgentFiguresList { data: service::agents(&state.db, auth.tenant()?, from, to).await? }))
}
