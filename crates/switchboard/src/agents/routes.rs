//! `/api/agents`: who works the inbox, their presence and capacity.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, AgentChanges, AgentDto, Target};
use crate::access::extract::{Authed, InboxRole, TenantAdminRole};
use crate::entities::enums::AgentStatus;
use crate::error::{AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_agents)).routes(routes!(update_me)).routes(routes!(update_agent))
}

#[derive(Serialize, ToSchema)]
pub struct AgentList {
    pub data: Vec<AgentDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateMeRequest {
    /// `online`, `away` or `offline`.
    pub status: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAgentRequest {
    /// `online`, `away` or `offline`.
    pub status: Option<String>,
    /// 1 to 100 open conversations round-robin may assign to the agent.
    pub max_concurrent: Option<i32>,
}

fn status(raw: Option<&str>, v: &mut Validator) -> Option<AgentStatus> {
    let s = raw?;
    let parsed = AgentStatus::parse(s.trim());
    if parsed.is_none() {
        v.push("status", "must be online, away or offline");
    }
    parsed
}

/// The tenant's agents with their presence and open conversations.
#[utoipa::path(get, path = "/api/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = AgentList), (status = 403, body = ErrorBody)))]
async fn list_agents(State(state): State<AppState>, auth: Authed<InboxRole>) -> AppResult<axum::Json<AgentList>> {
    let data = service::list(&state, auth.tenant()?).await?;
    Ok(axum::Json(AgentList { data }))
}

/// Set the caller's own presence (publishes `agent.status`).
#[utoipa::path(patch, path = "/api/agents/me", tag = "agents", request_body = UpdateMeRequest,
    security(("bearer" = [])),
    responses((status = 200, body = AgentDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    ApiJson(req): ApiJson<UpdateMeRequest>,
) -> AppResult<axum::Json<AgentDto>> {
    let mut v = Validator::new();
    if req.status.is_none() {
        v.push("status", "is required");
    }
    let status = status(req.status.as_deref(), &mut v);
    v.finish()?;
    let changes = AgentChanges { status, max_concurrent: None };
    let a = service::update(&state, auth.tenant()?, Target::User(auth.user_id()), changes).await?;
    Ok(axum::Json(a))
}

/// Set an agent's presence or capacity (TENANT_ADMIN).
#[utoipa::path(patch, path = "/api/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    request_body = UpdateAgentRequest, security(("bearer" = [])),
    responses((status = 200, body = AgentDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_agent(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<UpdateAgentRequest>,
) -> AppResult<axum::Json<AgentDto>> {
    let mut v = Validator::new();
    let status = status(req.status.as_deref(), &mut v);
    if let Some(m) = req.max_concurrent
        && !(1..=100).contains(&m)
    {
        v.push("maxConcurrent", "must be between 1 and 100");
    }
    v.finish()?;
    let changes = AgentChanges { status, max_concurrent: req.max_concurrent };
    let a = service::update(&state, auth.tenant()?, Target::Agent(id), changes).await?;
    Ok(axum::Json(a))
}
