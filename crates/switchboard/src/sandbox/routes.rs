//! `/api/whatsapp-accounts/sandbox…`: creating a sandbox number and playing its customer.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{SimThread, ThreadParams, customer_view, parse_wa_id};
use crate::access::extract::{Authed, InboxRole, TenantAdminRole};
use crate::accounts::service::{self, AccountDto};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_sandbox)).routes(routes!(sandbox_customer_message, sandbox_thread))
}

/// Create a sandbox number on the built-in Meta simulator: no Meta account needed.
#[utoipa::path(post, path = "/api/whatsapp-accounts/sandbox", tag = "whatsapp-accounts", security(("bearer" = [])),
    responses((status = 201, body = AccountDto), (status = 403, body = ErrorBody), (status = 501, body = ErrorBody)))]
async fn create_sandbox(State(state): State<AppState>, auth: Authed<TenantAdminRole>) -> AppResult<impl IntoResponse> {
    let a = service::create_sandbox(&state, auth.tenant()?, auth.user_id()).await?;
    Ok((StatusCode::CREATED, axum::Json(AccountDto::from_model(a, &state))))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxMessageRequest {
    /// The simulated customer's WhatsApp id (digits).
    pub from: String,
    /// The customer's profile name.
    pub name: Option<String>,
    /// A meta-sim customer message, e.g. `{"type":"text","body":"Hi"}` (see docs/META-SIM.md).
    #[schema(value_type = Object)]
    pub message: Value,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxMessageResponse {
    /// The inbound message's wamid; it arrives through the signed webhook like Meta's.
    pub wa_message_id: String,
}

/// Make a simulated customer write to a sandbox number.
#[utoipa::path(post, path = "/api/whatsapp-accounts/{id}/sandbox/messages", tag = "whatsapp-accounts",
    params(("id" = Uuid, Path)), request_body = SandboxMessageRequest, security(("bearer" = [])),
    responses((status = 202, body = SandboxMessageResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn sandbox_customer_message(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<SandboxMessageRequest>,
) -> AppResult<impl IntoResponse> {
    let a = service::get(&state.db, auth.tenant()?, id).await?;
    let Some(sim) = state.sandbox.as_ref().filter(|_| a.is_sandbox) else {
        return Err(AppError::not_found("sandbox number"));
    };
    let from = req.from.trim();
    if from.is_empty() || from.len() > 20 || !from.chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::field("from", "must be a phone number in digits"));
    }
    let message: meta_sim::CustomerMessage = serde_json::from_value(req.message)
        .map_err(|e| AppError::field("message", format!("is not a valid customer message: {e}")))?;
    let wamid =
        sim.sim.customer_sends(&a.phone_number_id, from, req.name.as_deref().unwrap_or("Customer"), message).await;
    if wamid.is_empty() {
        return Err(AppError::not_found("sandbox number"));
    }
    Ok((StatusCode::ACCEPTED, axum::Json(SandboxMessageResponse { wa_message_id: wamid })))
}

/// The simulated customer's chat with a sandbox number (the customer's side).
#[utoipa::path(get, path = "/api/whatsapp-accounts/{id}/sandbox/messages", tag = "whatsapp-accounts",
    params(("id" = Uuid, Path), ThreadParams), security(("bearer" = [])),
    responses((status = 200, body = SimThread), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sandbox_thread(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    Query(p): Query<ThreadParams>,
) -> AppResult<axum::Json<SimThread>> {
    let wa_id = parse_wa_id(&p.wa_id).map_err(|m| AppError::field("waId", m))?;
    let data = customer_view(&state, auth.tenant()?, id, &wa_id).await?;
    Ok(axum::Json(SimThread { data }))
}
