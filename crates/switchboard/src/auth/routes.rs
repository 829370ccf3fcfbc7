//! `/api/auth/*`: thin handlers over `auth::service`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, Session};
use crate::access::extract::{ACCESS_TTL_SECS, AnyRole, Authed, ClientIp};
use crate::domain::{Email, NewPassword, parse_name};
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;
use crate::tenants::TenantDto;
use crate::users::UserDto;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    pub tenant_name: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LogoutRequest {
    /// Ends this session only; without it every session of the user ends.
    pub refresh_token: Option<String>,
}

/// Tokens and the signed-in user.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: UserDto,
    pub tenant: Option<TenantDto>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    pub user: UserDto,
    pub tenant: Option<TenantDto>,
}

/// The caller's own profile; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProfileRequest {
    /// 1 to 100 characters after trimming.
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    pub current_password: Option<String>,
    /// At least 10 characters.
    pub new_password: Option<String>,
}

impl From<Session> for AuthResponse {
    fn from(s: Session) -> Self {
        AuthResponse {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            token_type: "Bearer",
            expires_in: ACCESS_TTL_SECS,
            user: s.user.into(),
            tenant: s.tenant.map(Into::into),
        }
    }
}

/// The answer to every valid sign-up, whether the email was new or not.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterAccepted {
    /// Always `accepted`.
    pub status: &'static str,
    pub message: &'static str,
}

/// The message of every accepted sign-up.
pub const REGISTER_ACCEPTED: &str =
    "if this email had no account yet, the workspace was created: sign in with POST /api/auth/login";

/// Create a tenant and its first TENANT_ADMIN. The answer is the same 202 whether the email was
/// new or already had an account (so sign-up cannot be used to find out which emails have one):
/// sign in with `POST /api/auth/login` next. Throttled per client address (10 an hour).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 202, body = RegisterAccepted, description = "accepted; sign in next"),
              (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "`too_many_registrations`; see Retry-After")))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> AppResult<impl IntoResponse> {
    let mut v = Validator::new();
    let tenant_name = v.check("tenantName", parse_name(req.tenant_name.as_deref().unwrap_or(""), 100));
    let name = v.check("name", parse_name(req.name.as_deref().unwrap_or(""), 100));
    let email = v.check("email", Email::parse(req.email.as_deref().unwrap_or("")));
    let password = v.check("password", NewPassword::parse(req.password.as_deref().unwrap_or("")));
    v.finish()?;
    let (Some(tenant_name), Some(name), Some(email), Some(password)) = (tenant_name, name, email, password) else {
        return Err(AppError::internal(anyhow::anyhow!("validator passed with missing fields")));
    };
    // Created or taken: one answer.
    service::register(&state, service::Registration { tenant_name, name, email, password }, &ip).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(RegisterAccepted { status: "accepted", message: REGISTER_ACCEPTED })))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "account disabled or tenant suspended"),
              (status = 429, body = ErrorBody, description = "too many failures; see Retry-After")))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> AppResult<axum::Json<AuthResponse>> {
    let session = service::login(&state, &req.email, &req.password, &ip).await?;
    Ok(axum::Json(session.into()))
}

/// Exchange a refresh token for a new pair; the old refresh token stops working.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> AppResult<axum::Json<AuthResponse>> {
    let session = service::refresh(&state, &req.refresh_token, &ip).await?;
    Ok(axum::Json(session.into()))
}

/// End a session (or all of the user's sessions).
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body(content = LogoutRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    auth: Authed<AnyRole>,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    let req: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::bad_request("invalid_json", format!("the request body is not valid: {e}")))?
    };
    service::logout(&state, auth.user_id().0, req.refresh_token.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user and their tenant.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
async fn me(State(state): State<AppState>, auth: Authed<AnyRole>) -> AppResult<axum::Json<MeResponse>> {
    let user = crate::users::find(&state.db, auth.user_id().0)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| AppError::unauthorized("this account no longer exists or is disabled"))?;
    me_response(&state, user, auth.principal.tenant_id).await
}

async fn me_response(
    state: &AppState,
    user: crate::entities::users::Model,
    tenant: Option<crate::ids::TenantId>,
) -> AppResult<axum::Json<MeResponse>> {
    let tenant = match tenant {
        Some(t) => crate::tenants::find(&state.db, t).await?.map(Into::into),
        None => None,
    };
    Ok(axum::Json(MeResponse { user: user.into(), tenant }))
}

/// Change the signed-in user's own name (any role; not with an API key).
#[utoipa::path(patch, path = "/api/auth/me", tag = "auth", request_body = UpdateProfileRequest,
    security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "an API key"), (status = 422, body = ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    auth: Authed<AnyRole>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<UpdateProfileRequest>,
) -> AppResult<axum::Json<MeResponse>> {
    let user_id = auth.principal.person()?;
    let mut v = Validator::new();
    let name = v.check("name", parse_name(req.name.as_deref().unwrap_or(""), 100));
    v.finish()?;
    let Some(name) = name else {
        return Err(AppError::internal(anyhow::anyhow!("validator passed with missing fields")));
    };
    let user = service::update_profile(&state, user_id.0, name, &ip).await?;
    me_response(&state, user, auth.principal.tenant_id).await
}

/// Change the signed-in user's own password. Every session of the user ends (all refresh tokens are
/// revoked; access tokens already issued run out within 15 minutes): sign in again with the new one.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "changed; every session ended"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "an API key"),
              (status = 422, body = ErrorBody,
               description = "`validation_failed`, or `invalid_current_password` (field `currentPassword`)"),
              (status = 429, body = ErrorBody, description = "too many wrong current passwords; see Retry-After")))]
async fn change_password(
    State(state): State<AppState>,
    auth: Authed<AnyRole>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    let user_id = auth.principal.person()?;
    let mut v = Validator::new();
    let current = req.current_password.filter(|c| !c.is_empty());
    if current.is_none() {
        v.push("currentPassword", "is required");
    }
    let new = v.check("newPassword", NewPassword::parse(req.new_password.as_deref().unwrap_or("")));
    v.finish()?;
    let (Some(current), Some(new)) = (current, new) else {
        return Err(AppError::internal(anyhow::anyhow!("validator passed with missing fields")));
    };
    service::change_password(&state, user_id.0, &current, &new, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}
