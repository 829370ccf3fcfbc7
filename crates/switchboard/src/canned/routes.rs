//! `/api/canned-responses`: the inbox roles maintain the team's saved replies; admins delete them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, CannedChanges, CannedDto, NewCanned};
use crate::access::extract::{Authed, InboxRole, TenantAdminRole};
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_canned, create_canned)).routes(routes!(
        get_canned,
        update_canned,
        delete_canned
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// Part of the shortcut, title or body (case-insensitive).
    pub search: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CannedList {
    pub data: Vec<CannedDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCannedRequest {
    /// `[a-z0-9_-]{1,32}`, unique in the tenant.
    pub shortcut: Option<String>,
    /// 1 to 100 characters.
    pub title: Option<String>,
    /// 1 to 4096 characters.
    pub body: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCannedRequest {
    pub shortcut: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
}

fn title(raw: &str) -> Result<String, String> {
    crate::domain::parse_name(raw, 100)
}

/// The tenant's canned responses, by shortcut.
#[utoipa::path(get, path = "/api/canned-responses", tag = "canned-responses", params(ListParams),
    security(("bearer" = [])), responses((status = 200, body = CannedList), (status = 403, body = ErrorBody)))]
async fn list_canned(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Query(p): Query<ListParams>,
) -> AppResult<axum::Json<CannedList>> {
    let search = p.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let rows = service::list(&state.db, auth.tenant()?, search).await?;
    Ok(axum::Json(CannedList { data: rows.into_iter().map(Into::into).collect() }))
}

/// Save a reply.
#[utoipa::path(post, path = "/api/canned-responses", tag = "canned-responses",
    request_body = CreateCannedRequest, security(("bearer" = [])),
    responses((status = 201, body = CannedDto), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "shortcut_taken"), (status = 422, body = ErrorBody)))]
async fn create_canned(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    ApiJson(req): ApiJson<CreateCannedRequest>,
) -> AppResult<impl IntoResponse> {
    let mut v = Validator::new();
    let shortcut = v.check("shortcut", service::parse_shortcut(req.shortcut.as_deref().unwrap_or("")));
    let title = v.check("title", title(req.title.as_deref().unwrap_or("")));
    let body = v.check("body", service::parse_body(req.body.as_deref().unwrap_or("")));
    v.finish()?;
    let (Some(shortcut), Some(title), Some(body)) = (shortcut, title, body) else {
        return Err(AppError::internal(anyhow::anyhow!("validated input missing")));
    };
    let input = NewCanned { shortcut, title, body };
    let m = service::create(&state, auth.tenant()?, auth.user_id(), input).await?;
    Ok((StatusCode::CREATED, axum::Json(CannedDto::from(m))))
}

/// One canned response.
#[utoipa::path(get, path = "/api/canned-responses/{id}", tag = "canned-responses", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = CannedDto), (status = 404, body = ErrorBody)))]
async fn get_canned(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<CannedDto>> {
    let m = service::get(&state.db, auth.tenant()?, id).await?;
    Ok(axum::Json(m.into()))
}

/// Change a canned response's shortcut, title or body.
#[utoipa::path(patch, path = "/api/canned-responses/{id}", tag = "canned-responses", params(("id" = Uuid, Path)),
    request_body = UpdateCannedRequest, security(("bearer" = [])),
    responses((status = 200, body = CannedDto), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_canned(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<UpdateCannedRequest>,
) -> AppResult<axum::Json<CannedDto>> {
    let mut v = Validator::new();
    let changes = CannedChanges {
        shortcut: req.shortcut.as_deref().and_then(|s| v.check("shortcut", service::parse_shortcut(s))),
        title: req.title.as_deref().and_then(|t| v.check("title", title(t))),
        body: req.body.as_deref().and_then(|b| v.check("body", service::parse_body(b))),
    };
    v.finish()?;
    let m = service::update(&state, auth.tenant()?, id, changes).await?;
    Ok(axum::Json(m.into()))
}

/// Delete a canned response (TENANT_ADMIN).
#[utoipa::path(delete, path = "/api/canned-responses/{id}", tag = "canned-responses", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_canned(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
) -> AppResult<StatusCode> {
    service::delete(&state, auth.tenant()?, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
