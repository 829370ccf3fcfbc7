//! `/api/whatsapp-accounts`: TENANT_ADMIN manages the tenant's numbers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::events::{self, AccountEventDto};
use super::service::{self, AccountChanges, AccountDto, NewAccount};
use crate::access::extract::{Authed, InboxRole, TenantAdminRole};
use crate::entities::enums::AccountStatus;
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account, update_account, delete_account))
        .routes(routes!(list_account_events))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccountRequest {
    pub name: Option<String>,
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub display_phone_number: Option<String>,
    pub access_token: Option<String>,
    /// The Meta app secret that signs this number's webhooks, when it is not the platform's.
    pub app_secret: Option<String>,
    /// Generated when absent.
    pub verify_token: Option<String>,
    /// Messages per second Meta allows this number (1 to 1000; default 80).
    pub throughput_mps: Option<i32>,
}

#[derive(Deserialize, IntoParams)]
pub struct CreateParams {
    /// Check the number and token against the Graph API first (default true).
    pub validate: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAccountRequest {
    pub name: Option<String>,
    pub access_token: Option<String>,
    /// A string sets it; `null` removes it; absent leaves it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub app_secret: Option<Option<String>>,
    pub verify_token: Option<String>,
    /// `active` or `disabled`.
    pub status: Option<String>,
    pub throughput_mps: Option<i32>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub data: Vec<AccountDto>,
}

fn digits(field: &str, v: &Option<String>, max: usize, val: &mut Validator) -> Option<String> {
    let s = v.as_deref().map(str::trim).unwrap_or("");
    if s.is_empty() {
        val.push(field, "is required");
        None
    } else if s.len() > max || !s.chars().all(|c| c.is_ascii_digit()) {
        val.push(field, format!("must be digits only (at most {max})"));
        None
    } else {
        Some(s.to_string())
    }
}

/// Tokens and secrets travel in HTTP headers (`Authorization: Bearer …`) and HMAC keys: printable
/// ASCII only, or every later Graph call with them fails before it is sent.
fn secret_field(field: &str, v: &str, val: &mut Validator) -> bool {
    if v.len() < 8 || v.len() > 1024 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        val.push(field, "must be 8 to 1024 printable ASCII characters without spaces");
        false
    } else {
        true
    }
}

fn throughput(v: Option<i32>, val: &mut Validator) -> Option<i32> {
    match v {
        Some(t) if !(1..=1000).contains(&t) => {
            val.push("throughputMps", "must be between 1 and 1000");
            None
        }
        other => other,
    }
}

/// The tenant's WhatsApp numbers.
#[utoipa::path(get, path = "/api/whatsapp-accounts", tag = "whatsapp-accounts", security(("bearer" = [])),
    responses((status = 200, body = AccountList), (status = 403, body = ErrorBody)))]
async fn list_accounts(State(state): State<AppState>, auth: Authed<InboxRole>) -> AppResult<axum::Json<AccountList>> {
    let rows = service::list(&state.db, auth.tenant()?).await?;
    Ok(axum::Json(AccountList { data: rows.into_iter().map(|a| AccountDto::from_model(a, &state)).collect() }))
}

/// Connect a WhatsApp number. The token is validated against the Graph API unless `validate=false`,
/// then stored encrypted; only its last 4 characters are ever returned.
#[utoipa::path(post, path = "/api/whatsapp-accounts", tag = "whatsapp-accounts", params(CreateParams),
    request_body = CreateAccountRequest, security(("bearer" = [])),
    responses((status = 201, body = AccountDto), (status = 403, body = ErrorBody, description = "role or plan limit"),
              (status = 409, body = ErrorBody, description = "phone number id (phone_number_taken) or WABA (waba_taken) already connected to another workspace"),
              (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn create_account(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Query(p): Query<CreateParams>,
    ApiJson(req): ApiJson<CreateAccountRequest>,
) -> AppResult<impl IntoResponse> {
    let mut v = Validator::new();
    let waba_id = digits("wabaId", &req.waba_id, 32, &mut v);
    let phone_number_id = digits("phoneNumberId", &req.phone_number_id, 32, &mut v);
    let token = req.access_token.clone().unwrap_or_default();
    let token_ok = secret_field("accessToken", &token, &mut v);
    if let Some(s) = &req.app_secret {
        secret_field("appSecret", s, &mut v);
    }
    if let Some(t) = &req.verify_token
        && (t.len() < 8 || t.len() > 256)
    {
        v.push("verifyToken", "must be 8 to 256 characters");
    }
    let name = match req.name.as_deref() {
        None => Some("WhatsApp".to_string()),
        Some(n) => v.check("name", crate::domain::parse_name(n, 100)),
    };
    let tp = throughput(req.throughput_mps, &mut v);
    v.finish()?;
    let (Some(waba_id), Some(phone_number_id), Some(name), true) = (waba_id, phone_number_id, name, token_ok) else {
        return Err(AppError::internal(anyhow::anyhow!("validated input missing")));
    };
    let display = if p.validate.unwrap_or(true) {
        Some(service::validate_with_graph(&state.graph, &phone_number_id, &token).await?)
    } else {
        None
    };
    let input = NewAccount {
        name,
        waba_id,
        phone_number_id,
        display_phone_number: req.display_phone_number.filter(|d| !d.trim().is_empty()),
        access_token: token,
        app_secret: req.app_secret,
        verify_token: req.verify_token,
        throughput_mps: tp.unwrap_or(80),
        is_sandbox: false,
    };
    let a = service::create(&state, auth.tenant()?, auth.user_id(), input, display).await?;
    Ok((StatusCode::CREATED, axum::Json(AccountDto::from_model(a, &state))))
}

/// One of the tenant's numbers.
#[utoipa::path(get, path = "/api/whatsapp-accounts/{id}", tag = "whatsapp-accounts", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = AccountDto), (status = 404, body = ErrorBody)))]
async fn get_account(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<AccountDto>> {
    let a = service::get(&state.db, auth.tenant()?, id).await?;
    Ok(axum::Json(AccountDto::from_model(a, &state)))
}

/// Change a number's name, credentials, status or throughput.
#[utoipa::path(patch, path = "/api/whatsapp-accounts/{id}", tag = "whatsapp-accounts", params(("id" = Uuid, Path)),
    request_body = UpdateAccountRequest, security(("bearer" = [])),
    responses((status = 200, body = AccountDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_account(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<UpdateAccountRequest>,
) -> AppResult<axum::Json<AccountDto>> {
    let mut v = Validator::new();
    let name = req.name.as_deref().and_then(|n| v.check("name", crate::domain::parse_name(n, 100)));
    if let Some(t) = &req.access_token {
        secret_field("accessToken", t, &mut v);
    }
    if let Some(Some(s)) = &req.app_secret {
        secret_field("appSecret", s, &mut v);
    }
    if let Some(t) = &req.verify_token
        && (t.len() < 8 || t.len() > 256)
    {
        v.push("verifyToken", "must be 8 to 256 characters");
    }
    let status = match req.status.as_deref() {
        None => None,
        Some("active") => Some(AccountStatus::Active),
        Some("disabled") => Some(AccountStatus::Disabled),
        Some(_) => {
            v.push("status", "must be active or disabled");
            None
        }
    };
    let tp = throughput(req.throughput_mps, &mut v);
    v.finish()?;
    let changes = AccountChanges {
        name,
        access_token: req.access_token,
        app_secret: req.app_secret,
        verify_token: req.verify_token,
        status,
        throughput_mps: tp,
    };
    let a = service::update(&state, auth.tenant()?, auth.user_id(), id, changes).await?;
    Ok(axum::Json(AccountDto::from_model(a, &state)))
}

/// Remove a number that has no conversations (disable it otherwise).
#[utoipa::path(delete, path = "/api/whatsapp-accounts/{id}", tag = "whatsapp-accounts", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_account(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
) -> AppResult<StatusCode> {
    service::delete(&state, auth.tenant()?, auth.user_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct EventsParams {
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountEventPage {
    pub data: Vec<AccountEventDto>,
    pub next_cursor: Option<String>,
}

/// The account-level webhooks Meta sent about a number (`account_update`, `errors`, group
/// lifecycle, settings and participants, …), newest first, keyset-paginated. Scoped by the tenant
/// and the number's WABA: WABA-level events carry no phone number id, so every number of the WABA
/// lists them, and `whatsappAccountId` says which number each was routed to.
#[utoipa::path(get, path = "/api/whatsapp-accounts/{id}/events", tag = "whatsapp-accounts",
    params(("id" = Uuid, Path), EventsParams), security(("bearer" = [])),
    responses((status = 200, body = AccountEventPage), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_account_events(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    Query(p): Query<EventsParams>,
) -> AppResult<axum::Json<AccountEventPage>> {
    let tenant = auth.tenant()?;
    let a = service::get(&state.db, tenant, id).await?;
    let cursor = p.cursor.as_deref().map(crate::pagination::decode).transpose()?;
    let limit = crate::pagination::limit(p.limit, 50, 200);
    let rows = events::page(&state.db, tenant, &a, cursor, limit).await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|e| crate::pagination::encode(e.created_at, e.id)))
        .flatten();
    Ok(axum::Json(AccountEventPage { data: rows.into_iter().map(Into::into).collect(), next_cursor }))
}
