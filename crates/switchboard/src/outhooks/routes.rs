//! `/api/webhook-endpoints` (TENANT_ADMIN): CRUD, secret rotation and the delivery log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, DeliveryDto, EndpointChanges, EndpointDto, NewEndpoint, WithSecret};
use crate::access::extract::{Authed, ClientIp, TenantAdminRole};
use crate::error::{AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<EndpointDto>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryDto>,
}

#[derive(Deserialize, ToSchema)]
pub struct EndpointRequest {
    /// https:// (http:// and private addresses only when the operator allows them).
    pub url: Option<String>,
    /// Public event types (`message.received`, `message.sent`, `message.status`,
    /// `conversation.updated`, `contact.updated`, `template.updated`, `note.created`,
    /// `agent.status`, `campaign.updated`, `campaign.progress`) or `["*"]`.
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// Default true on create.
    pub enabled: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
pub struct DeliveryParams {
    /// 1 to 200 (default 50).
    pub limit: Option<String>,
}

async fn check_url(state: &AppState, v: &mut Validator, raw: Option<&str>) -> Option<String> {
    let allow = state.config.webhooks_allow_private;
    let url = v.check("url", super::ssrf::parse_url(raw.unwrap_or(""), allow))?;
    v.check("url", super::ssrf::check_url(&url, allow).await)?;
    Some(url.to_string())
}

fn check_events(v: &mut Validator, events: &[String]) -> Option<Vec<String>> {
    if events.is_empty() {
        v.push("events", "must list at least one event type, or \"*\"");
        return None;
    }
    if let Some(bad) = events.iter().find(|e| *e != "*" && !super::EVENT_TYPES.contains(&e.as_str())) {
        v.push(
            "events",
            format!("unknown event type {bad:?}; expected one of {}, or \"*\"", super::EVENT_TYPES.join(", ")),
        );
        return None;
    }
    let mut out = events.to_vec();
    out.dedup();
    Some(out)
}

fn check_description(v: &mut Validator, d: Option<&str>) -> Option<String> {
    let d = d.map(str::trim).filter(|d| !d.is_empty())?;
    if d.chars().count() > 500 {
        v.push("description", "must be at most 500 characters");
        return None;
    }
    Some(d.to_string())
}

/// The tenant's webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/api/webhook-endpoints", tag = "webhook-endpoints", security(("bearer" = [])),
    responses((status = 200, body = EndpointList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_endpoints(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
) -> AppResult<axum::Json<EndpointList>> {
    Ok(axum::Json(EndpointList { data: service::list(&state, auth.tenant()?).await? }))
}

/// Add an endpoint; the signing secret is in the response (and again only on rotation).
#[utoipa::path(post, path = "/api/webhook-endpoints", tag = "webhook-endpoints", request_body = EndpointRequest,
    security(("bearer" = [])),
    responses((status = 201, body = WithSecret), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "invalid field, or a URL that resolves to a forbidden address")))]
async fn create_endpoint(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<EndpointRequest>,
) -> AppResult<impl IntoResponse> {
    let mut v = Validator::new();
    let url = check_url(&state, &mut v, req.url.as_deref()).await;
    let events = match req.events.as_deref() {
        Some(e) => check_events(&mut v, e),
        None => {
            v.push("events", "is required");
            None
        }
    };
    let description = check_description(&mut v, req.description.as_deref());
    v.finish()?;
    let (Some(url), Some(events)) = (url, events) else {
        return Err(crate::error::AppError::internal(anyhow::anyhow!("validated input missing")));
    };
    let n = NewEndpoint { url, events, description, enabled: req.enabled.unwrap_or(true) };
    let created = service::create(&state, auth.tenant()?, auth.user_id(), n, &ip).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/webhook-endpoints/{id}", tag = "webhook-endpoints", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = EndpointDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_endpoint(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<EndpointDto>> {
    Ok(axum::Json(service::get(&state, auth.tenant()?, id).await?))
}

/// Change the URL, events, description or enabled flag; enabling clears the failure streak.
#[utoipa::path(patch, path = "/api/webhook-endpoints/{id}", tag = "webhook-endpoints", params(("id" = Uuid, Path)),
    request_body = EndpointRequest, security(("bearer" = [])),
    responses((status = 200, body = EndpointDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_endpoint(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<EndpointRequest>,
) -> AppResult<axum::Json<EndpointDto>> {
    let tenant = auth.tenant()?;
    service::get(&state, tenant, id).await?;
    let mut v = Validator::new();
    let url = match req.url.as_deref() {
        Some(u) => check_url(&state, &mut v, Some(u)).await,
        None => None,
    };
    let events = req.events.as_deref().and_then(|e| check_events(&mut v, e));
    let description = req.description.as_deref().map(|d| check_description(&mut v, Some(d)));
    v.finish()?;
    let changes = EndpointChanges { url, events, description, enabled: req.enabled };
    Ok(axum::Json(service::update(&state, tenant, auth.user_id(), id, changes, &ip).await?))
}

/// Remove an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/webhook-endpoints/{id}", tag = "webhook-endpoints", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_endpoint(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    Path(id): Path<Uuid>,
) -> AppResult<StatusCode> {
    service::delete(&state, auth.tenant()?, auth.user_id(), id, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the signing secret; the new one is in the response.
#[utoipa::path(post, path = "/api/webhook-endpoints/{id}/rotate-secret", tag = "webhook-endpoints",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = WithSecret), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn rotate_secret(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<WithSecret>> {
    Ok(axum::Json(service::rotate_secret(&state, auth.tenant()?, auth.user_id(), id, &ip).await?))
}

/// Delivery attempts, newest first: event, attempt, response code, duration, error.
#[utoipa::path(get, path = "/api/webhook-endpoints/{id}/deliveries", tag = "webhook-endpoints",
    params(("id" = Uuid, Path), DeliveryParams), security(("bearer" = [])),
    responses((status = 200, body = DeliveryList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    Query(p): Query<DeliveryParams>,
) -> AppResult<axum::Json<DeliveryList>> {
    let requested = match p.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        Some(l) => {
            Some(l.parse::<u64>().map_err(|_| crate::error::AppError::field("limit", "must be a whole number"))?)
        }
        None => None,
    };
    let limit = crate::pagination::limit(requested, 50, 200);
    Ok(axum::Json(DeliveryList { data: service::deliveries(&state, auth.tenant()?, id, limit).await? }))
}
