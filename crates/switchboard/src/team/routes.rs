//! `/api/users` (TENANT_ADMIN) and `/api/auth/accept-invite` (public, with the invitation token).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, MemberChanges, MemberDto, NewInvite};
use crate::access::extract::{Authed, ClientIp, TenantAdminRole};
use crate::auth::routes::AuthResponse;
use crate::domain::{Email, NewPassword, parse_name};
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, invite_user))
        .routes(routes!(update_user, delete_user))
        .routes(routes!(accept_invite))
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub data: Vec<MemberDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteRequest {
    pub email: Option<String>,
    /// TENANT_ADMIN, AGENT or BILLING_ADMIN.
    pub role: Option<String>,
    /// Display name until the invitee chooses one (default: the email's local part).
    pub name: Option<String>,
}

/// The invited member and the one-time link (shown only in this response).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteResponse {
    pub user: MemberDto,
    /// `{public_url}/invite/{token}`: send it to the invitee (Switchboard does not send mail yet).
    pub invite_url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptInviteRequest {
    pub token: Option<String>,
    /// At least 10 characters.
    pub password: Option<String>,
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserRequest {
    /// TENANT_ADMIN, AGENT or BILLING_ADMIN.
    pub role: Option<String>,
    pub active: Option<bool>,
}

/// The tenant's users, including invited ones (TENANT_ADMIN).
#[utoipa::path(get, path = "/api/users", tag = "team", security(("bearer" = [])),
    responses((status = 200, body = MemberList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(State(state): State<AppState>, auth: Authed<TenantAdminRole>) -> AppResult<axum::Json<MemberList>> {
    Ok(axum::Json(MemberList { data: service::list(&state.db, auth.tenant()?).await? }))
}

/// Invite a user by email with a role; the response carries the one-time invitation link.
#[utoipa::path(post, path = "/api/users", tag = "team", request_body = InviteRequest, security(("bearer" = [])),
    responses((status = 201, body = InviteResponse), (status = 403, body = ErrorBody, description = "forbidden or plan_limit"),
              (status = 409, body = ErrorBody, description = "email_taken"), (status = 422, body = ErrorBody)))]
async fn invite_user(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<InviteRequest>,
) -> AppResult<impl IntoResponse> {
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(req.email.as_deref().unwrap_or("")));
    let role = v.check("role", service::parse_role(req.role.as_deref().unwrap_or("")));
    let name = req.name.as_deref().and_then(|n| v.check("name", parse_name(n, 100)));
    v.finish()?;
    let (Some(email), Some(role)) = (email, role) else {
        return Err(AppError::internal(anyhow::anyhow!("validated input missing")));
    };
    let inv = service::invite(&state, auth.tenant()?, auth.user_id(), NewInvite { email, role, name }, &ip).await?;
    let body = InviteResponse { user: inv.member, invite_url: inv.invite_url, expires_at: inv.expires_at };
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// Change a user's role or activation (TENANT_ADMIN).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "team", params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest, security(("bearer" = [])),
    responses((status = 200, body = MemberDto), (status = 403, body = ErrorBody, description = "forbidden or plan_limit"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "last_admin or invite_pending"),
              (status = 422, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> AppResult<axum::Json<MemberDto>> {
    let mut v = Validator::new();
    let role = req.role.as_deref().and_then(|r| v.check("role", service::parse_role(r)));
    v.finish()?;
    let changes = MemberChanges { role, active: req.active };
    Ok(axum::Json(service::update(&state, auth.tenant()?, auth.user_id(), id, changes, &ip).await?))
}

/// Remove a user from the tenant (TENANT_ADMIN).
#[utoipa::path(delete, path = "/api/users/{id}", tag = "team", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "last_admin")))]
async fn delete_user(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    Path(id): Path<Uuid>,
) -> AppResult<StatusCode> {
    service::delete(&state, auth.tenant()?, auth.user_id(), id, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation: set a password, activate the account and sign in.
#[utoipa::path(post, path = "/api/auth/accept-invite", tag = "auth", request_body = AcceptInviteRequest,
    responses((status = 200, body = AuthResponse), (status = 404, body = ErrorBody, description = "unknown or used"),
              (status = 410, body = ErrorBody, description = "invite_expired"), (status = 422, body = ErrorBody)))]
async fn accept_invite(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<AcceptInviteRequest>,
) -> AppResult<axum::Json<AuthResponse>> {
    let mut v = Validator::new();
    let token = req.token.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if token.is_none() {
        v.push("token", "is required");
    }
    let password = v.check("password", NewPassword::parse(req.password.as_deref().unwrap_or("")));
    let name = req.name.as_deref().and_then(|n| v.check("name", parse_name(n, 100)));
    v.finish()?;
    let (Some(token), Some(password)) = (token, password) else {
        return Err(AppError::internal(anyhow::anyhow!("validated input missing")));
    };
    let session = service::accept(&state, token, password, name, &ip).await?;
    Ok(axum::Json(session.into()))
}
