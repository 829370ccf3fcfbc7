//! `/api/api-keys` (TENANT_ADMIN): create (the key is shown once), list, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::KeyScope;
use super::service::{self, ApiKeyDto};
use crate::access::extract::{Authed, ClientIp, TenantAdminRole};
use crate::error::{AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_keys, create_key)).routes(routes!(revoke_key))
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKeyDto>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    /// What the key is for (1–100 characters).
    pub name: Option<String>,
    /// One or more of `read`, `send`, `admin`.
    pub scopes: Option<Vec<String>>,
}

/// The new key: `key` is shown only in this response.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub api_key: ApiKeyDto,
    /// `sk_…`: use as `Authorization: Bearer sk_…`.
    pub key: String,
}

/// The tenant's API keys, revoked ones included (never the secrets).
#[utoipa::path(get, path = "/api/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_keys(State(state): State<AppState>, auth: Authed<TenantAdminRole>) -> AppResult<axum::Json<ApiKeyList>> {
    Ok(axum::Json(ApiKeyList { data: service::list(&state, auth.tenant()?).await? }))
}

/// Create an API key with scopes; the key is in the response and never again.
#[utoipa::path(post, path = "/api/api-keys", tag = "api-keys", request_body = CreateKeyRequest, security(("bearer" = [])),
    responses((status = 201, body = CreatedKey), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> AppResult<impl IntoResponse> {
    let mut v = Validator::new();
    let name = req.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() || name.chars().count() > 100 {
        v.push("name", "must be 1 to 100 characters");
    }
    let mut scopes = Vec::new();
    match req.scopes.as_deref() {
        None | Some([]) => v.push("scopes", "must list at least one of read, send, admin"),
        Some(list) => {
            for s in list {
                match KeyScope::parse(s) {
                    Some(k) => scopes.push(k),
                    None => {
                        v.push("scopes", format!("unknown scope {s:?}; expected read, send or admin"));
                        break;
                    }
                }
            }
        }
    }
    v.finish()?;
    let (api_key, key) = service::create(&state, auth.tenant()?, auth.user_id(), name.to_string(), scopes, &ip).await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedKey { api_key, key })))
}

/// Revoke a key: requests with it get 401 (at once on this node, within 30 s on others).
#[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    Path(id): Path<Uuid>,
) -> AppResult<StatusCode> {
    service::revoke(&state, auth.tenant()?, auth.user_id(), id, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}
