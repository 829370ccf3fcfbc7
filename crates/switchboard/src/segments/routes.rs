//! `/api/segments`: saved segments (TENANT_ADMIN manages them; any member reads them) and a live
//! count with a sample before saving.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::Rule;
use super::service::{self, SegmentDto};
use crate::access::extract::{Authed, TenantAdminRole, TenantMember};
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::events::payloads::ContactDto;
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_segments, create_segment))
        .routes(routes!(preview_segment))
        .routes(routes!(get_segment, update_segment, delete_segment))
}

#[derive(Serialize, ToSchema)]
pub struct SegmentList {
    pub data: Vec<SegmentDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SegmentRequest {
    /// 1 to 100 characters, unique in the workspace (required on create).
    pub name: Option<String>,
    /// The rules (required on create): docs/CAMPAIGNS.md, "Segments".
    #[schema(value_type = Option<Object>)]
    pub rules: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentPreview {
    /// Contacts the rules admit now.
    pub count: u64,
    /// Up to ten of them.
    pub sample: Vec<ContactDto>,
}

fn parse_rules(v: &mut Validator, raw: Option<serde_json::Value>, required: bool) -> Option<Rule> {
    match raw {
        Some(r) => v.check("rules", Rule::parse(&r).map_err(|e| e.to_string())),
        None if required => v.check("rules", Err::<Rule, _>("is required".to_string())),
        None => None,
    }
}

/// The workspace's saved segments, by name.
#[utoipa::path(get, path = "/api/segments", tag = "segments", security(("bearer" = [])),
    responses((status = 200, body = SegmentList), (status = 403, body = ErrorBody)))]
async fn list_segments(
    State(state): State<AppState>,
    auth: Authed<TenantMember>,
) -> AppResult<axum::Json<SegmentList>> {
    let rows = service::list(&state.db, auth.tenant()?).await?;
    Ok(axum::Json(SegmentList { data: rows.into_iter().map(Into::into).collect() }))
}

/// Save a segment.
#[utoipa::path(post, path = "/api/segments", tag = "segments", request_body = SegmentRequest, security(("bearer" = [])),
    responses((status = 201, body = SegmentDto), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "segment_name_taken, segment_limit"),
              (status = 422, body = ErrorBody)))]
async fn create_segment(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ApiJson(req): ApiJson<SegmentRequest>,
) -> AppResult<impl IntoResponse> {
    let mut v = Validator::new();
    let name = v.check("name", crate::domain::parse_name(req.name.as_deref().unwrap_or(""), 100));
    let rule = parse_rules(&mut v, req.rules, true);
    v.finish()?;
    let (Some(name), Some(rule)) = (name, rule) else {
        return Err(AppError::internal(anyhow::anyhow!("validated input missing")));
    };
    let m = service::create(&state.db, auth.tenant()?, auth.user_id(), name, &rule).await?;
    Ok((StatusCode::CREATED, axum::Json(SegmentDto::from(m))))
}

/// How many contacts rules admit now, and ten of them (before saving).
#[utoipa::path(post, path = "/api/segments/preview", tag = "segments", request_body = PreviewRequest,
    security(("bearer" = [])),
    responses((status = 200, body = SegmentPreview), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn preview_segment(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> AppResult<axum::Json<SegmentPreview>> {
    let rule = Rule::parse(&req.rules).map_err(|e| AppError::field("rules", e.to_string()))?;
    let (count, sample) = service::preview(&state.db, auth.tenant()?, &rule).await?;
    Ok(axum::Json(SegmentPreview { count, sample: sample.into_iter().map(Into::into).collect() }))
}

/// One segment.
#[utoipa::path(get, path = "/api/segments/{id}", tag = "segments", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = SegmentDto), (status = 404, body = ErrorBody)))]
async fn get_segment(
    State(state): State<AppState>,
    auth: Authed<TenantMember>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<SegmentDto>> {
    Ok(axum::Json(service::get(&state.db, auth.tenant()?, id).await?.into()))
}

/// Rename a segment or change its rules (campaigns already made from it keep their copy).
#[utoipa::path(patch, path = "/api/segments/{id}", tag = "segments", params(("id" = Uuid, Path)),
    request_body = SegmentRequest, security(("bearer" = [])),
    responses((status = 200, body = SegmentDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_segment(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<SegmentRequest>,
) -> AppResult<axum::Json<SegmentDto>> {
    let mut v = Validator::new();
    let name = req.name.as_deref().and_then(|n| v.check("name", crate::domain::parse_name(n, 100)));
    let rule = parse_rules(&mut v, req.rules, false);
    v.finish()?;
    let m = service::update(&state.db, auth.tenant()?, id, name, rule.as_ref()).await?;
    Ok(axum::Json(m.into()))
}

/// Delete a segment (campaigns made from it keep their copy of its rules).
#[utoipa::path(delete, path = "/api/segments/{id}", tag = "segments", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_segment(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
) -> AppResult<StatusCode> {
    service::delete(&state.db, auth.tenant()?, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
