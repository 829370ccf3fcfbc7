//! `/api/campaigns`: tenant admins create, start, pause, resume and cancel campaigns; the inbox
//! roles and billing admins read them and their funnels.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, Action, Funnel, NewCampaign};
use super::window::SendWindow;
use super::{Audience, Variables};
use crate::access::extract::{Authed, TenantAdminRole, TenantMember};
use crate::entities::campaigns;
use crate::entities::enums::{CampaignState, RecipientState};
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_campaigns, create_campaign))
        .routes(routes!(get_campaign))
        .routes(routes!(start_campaign))
        .routes(routes!(duplicate_campaign))
        .routes(routes!(retry_failed))
        .routes(routes!(test_send))
        .routes(routes!(pause_campaign))
        .routes(routes!(resume_campaign))
        .routes(routes!(cancel_campaign))
        .routes(routes!(list_recipients))
        .routes(routes!(export_recipients))
        .routes(routes!(preview_audience))
}

/// A campaign with its funnel.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignDto {
    pub id: Uuid,
    pub name: String,
    pub whatsapp_account_id: Uuid,
    pub template_id: Uuid,
    pub state: CampaignState,
    /// Why it is paused, failed or cancelled.
    pub state_reason: Option<String>,
    #[schema(value_type = Object)]
    pub variables: serde_json::Value,
    #[schema(value_type = Object)]
    pub audience: serde_json::Value,
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The daily send window on the workspace's clock, if any.
    pub send_window: Option<SendWindow>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Present on a single campaign (`GET /api/campaigns/{id}` and the actions).
    pub funnel: Option<Funnel>,
}

impl CampaignDto {
    fn of(c: campaigns::Model, funnel: Option<Funnel>) -> Self {
        let send_window = SendWindow::of(&c);
        Self {
            id: c.id,
            name: c.name,
            whatsapp_account_id: c.whatsapp_account_id,
            template_id: c.template_id,
            state: c.state,
            state_reason: c.state_reason,
            variables: c.variables,
            audience: c.audience,
            scheduled_at: c.scheduled_at,
            send_window,
            started_at: c.started_at,
            completed_at: c.completed_at,
            created_at: c.created_at,
            funnel,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CampaignList {
    pub data: Vec<CampaignDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCampaignRequest {
    /// 1 to 100 characters.
    pub name: Option<String>,
    pub whatsapp_account_id: Option<Uuid>,
    /// An approved template of that number (checked again when the campaign starts).
    pub template_id: Option<Uuid>,
    /// Template parameter → its source: `{"1": {"from": "name", "fallback": "there"}}`;
    /// `from` is `constant` (with `value`), `name`, `phone` or `attribute` (`value` names it).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Option<serde_json::Value>,
    /// Who receives it (all contacts when empty).
    #[serde(default)]
    pub audience: Option<Audience>,
    /// Start at this time instead of at once.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Send only between these times each day, on the workspace's clock (its time zone setting):
    /// `{"start": "09:00", "end": "20:00"}`; `end` before `start` spans midnight.
    pub send_window: Option<SendWindowRequest>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendWindowRequest {
    pub start: String,
    pub end: String,
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// 1 to 200 (default 50).
    pub limit: Option<u64>,
}

/// The tenant's campaigns, newest first.
#[utoipa::path(get, path = "/api/campaigns", tag = "campaigns", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = CampaignList), (status = 403, body = ErrorBody)))]
async fn list_campaigns(
    State(state): State<AppState>,
    auth: Authed<TenantMember>,
    Query(p): Query<ListParams>,
) -> AppResult<axum::Json<CampaignList>> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be 1 to 200"));
    }
    let rows = service::list(&state.db, auth.tenant()?, limit).await?;
    Ok(axum::Json(CampaignList { data: rows.into_iter().map(|c| CampaignDto::of(c, None)).collect() }))
}

/// Create a draft campaign.
/// With an `Idempotency-Key`, a retry returns the campaign the first request created (200).
#[utoipa::path(post, path = "/api/campaigns", tag = "campaigns", request_body = CreateCampaignRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe (1 to 128 characters)")),
    security(("bearer" = [])),
    responses((status = 201, body = CampaignDto), (status = 200, body = CampaignDto, description = "created before with this Idempotency-Key"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_campaign(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateCampaignRequest>,
) -> AppResult<impl IntoResponse> {
    let key = crate::json::idempotency_key(&headers, None)?;
    let mut v = Validator::new();
    let name = v.check("name", crate::domain::parse_name(req.name.as_deref().unwrap_or(""), 100));
    let account = v.check("whatsappAccountId", req.whatsapp_account_id.ok_or_else(|| "required".to_string()));
    let template = v.check("templateId", req.template_id.ok_or_else(|| "required".to_string()));
    let variables: Option<Variables> = v.check(
        "variables",
        serde_json::from_value(req.variables.unwrap_or_else(|| serde_json::json!({}))).map_err(|e| e.to_string()),
    );
    let send_window = req.send_window.as_ref().and_then(|w| v.check("sendWindow", SendWindow::parse(&w.start, &w.end)));
    v.finish()?;
    let (Some(name), Some(whatsapp_account_id), Some(template_id), Some(variables)) =
        (name, account, template, variables)
    else {
        return Err(AppError::internal(anyhow::anyhow!("validated input missing")));
    };
    let new = NewCampaign {
        name,
        whatsapp_account_id,
        template_id,
        variables,
        audience: req.audience.unwrap_or_default(),
        scheduled_at: req.scheduled_at,
        send_window,
    };
    let (c, created) = service::create(&state.db, auth.tenant()?, auth.user_id(), new, key).await?;
    if created {
        return Ok((StatusCode::CREATED, axum::Json(CampaignDto::of(c, Some(Funnel::default())))));
    }
    let f = service::funnel(&state.db, &c).await?;
    Ok((StatusCode::OK, axum::Json(CampaignDto::of(c, Some(f)))))
}

/// One campaign with its live funnel.
#[utoipa::path(get, path = "/api/campaigns/{id}", tag = "campaigns", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = CampaignDto), (status = 404, body = ErrorBody)))]
async fn get_campaign(
    State(state): State<AppState>,
    auth: Authed<TenantMember>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<CampaignDto>> {
    let c = service::get(&state.db, auth.tenant()?, id).await?;
    let f = service::funnel(&state.db, &c).await?;
    Ok(axum::Json(CampaignDto::of(c, Some(f))))
}

#[derive(Deserialize, IntoParams, Default)]
pub struct ReasonParams {
    /// Why (kept as the campaign's state reason, up to 500 characters).
    pub reason: Option<String>,
}

async fn act(
    state: &AppState,
    auth: &Authed<TenantAdminRole>,
    id: Uuid,
    a: Action,
    reason: Option<String>,
    key: Option<String>,
) -> AppResult<axum::Json<CampaignDto>> {
    let reason = reason.map(|r| r.trim().chars().take(500).collect::<String>()).filter(|r| !r.is_empty());
    let c = service::act(&state.db, &state.events, auth.tenant()?, id, a, reason, key).await?;
    if matches!(c.state, CampaignState::Running) {
        state.jobs_wakeup.wake(crate::jobs::queues::CAMPAIGN_RUN);
    }
    let f = service::funnel(&state.db, &c).await?;
    Ok(axum::Json(CampaignDto::of(c, Some(f))))
}

/// Start a draft: at once, or at its `scheduledAt`. Starting twice is harmless (200 with the
/// campaign as it is); with the `Idempotency-Key` of the start that went through, a retry gets
/// the campaign as it is even once it has completed.
#[utoipa::path(post, path = "/api/campaigns/{id}/start", tag = "campaigns",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    security(("bearer" = [])),
    responses((status = 200, body = CampaignDto), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "campaign_state, template_not_approved"),
              (status = 422, body = ErrorBody, description = "a malformed Idempotency-Key")))]
async fn start_campaign(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> AppResult<axum::Json<CampaignDto>> {
    let key = crate::json::idempotency_key(&headers, None)?;
    act(&state, &auth, id, Action::Start, None, key).await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DuplicateRequest {
    /// 1 to 100 characters (default: the original's name with " (copy)").
    pub name: Option<String>,
}

/// A new draft with the campaign's number, template, values, audience and send window (not its
/// schedule, state or recipients).
#[utoipa::path(post, path = "/api/campaigns/{id}/duplicate", tag = "campaigns", params(("id" = Uuid, Path)),
    request_body(content = DuplicateRequest, description = "optional"), security(("bearer" = [])),
    responses((status = 201, body = CampaignDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn duplicate_campaign(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    body: Option<ApiJson<DuplicateRequest>>,
) -> AppResult<impl IntoResponse> {
    let req = body.map(|ApiJson(r)| r).unwrap_or_default();
    let name = match req.name.as_deref() {
        None => None,
        Some(n) => Some(crate::domain::parse_name(n, 100).map_err(|m| AppError::field("name", m))?),
    };
    let c = service::duplicate(&state.db, auth.tenant()?, auth.user_id(), id, name).await?;
    Ok((StatusCode::CREATED, axum::Json(CampaignDto::of(c, Some(Funnel::default())))))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryFailedResult {
    /// Recipients sent again (0 when none failed for a retryable reason).
    pub retried: u64,
    pub campaign: CampaignDto,
}

/// Retry failed recipients whose failure sending again can fix: Meta's retry-later errors
/// (throttling, a transient error on its side) and sends that never got Meta's answer. Each is
/// sent once more as its next attempt; a completed campaign runs again, a paused one sends them
/// when resumed. 131049 has its own retry, and other failures would fail again as they are.
#[utoipa::path(post, path = "/api/campaigns/{id}/retry-failed", tag = "campaigns", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = RetryFailedResult), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "campaign_state, template_not_approved")))]
async fn retry_failed(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<RetryFailedResult>> {
    let (c, retried) = service::retry_failed(&state.db, &state.events, auth.tenant()?, id).await?;
    if c.state == CampaignState::Running {
        state.jobs_wakeup.wake(crate::jobs::queues::CAMPAIGN_RUN);
    }
    let f = service::funnel(&state.db, &c).await?;
    Ok(axum::Json(RetryFailedResult { retried, campaign: CampaignDto::of(c, Some(f)) }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSendRequest {
    /// The contact to send the test to (its own values fill the template).
    pub contact_id: Option<Uuid>,
}

/// Send the campaign's message to one contact now, to check how it looks: the template with that
/// contact's values, through the usual rules (opt-out, the number's state, plan limits); in any
/// state of the campaign, never counted as a recipient. With an `Idempotency-Key`, a retry
/// returns the same message.
#[utoipa::path(post, path = "/api/campaigns/{id}/test", tag = "campaigns",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    request_body = TestSendRequest, security(("bearer" = [])),
    responses((status = 202, body = crate::messages::MessageDto, description = "queued to the sender"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn test_send(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<TestSendRequest>,
) -> AppResult<impl IntoResponse> {
    let key = crate::json::idempotency_key(&headers, None)?;
    let contact = req.contact_id.ok_or_else(|| AppError::field("contactId", "required"))?;
    let m = super::run::test_send(&state, auth.tenant()?, id, contact, key).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(crate::messages::MessageDto::from(m))))
}

/// Pause a running or scheduled campaign: no new message is created; those already queued (at
/// most a few seconds of the number's throughput) still go out.
#[utoipa::path(post, path = "/api/campaigns/{id}/pause", tag = "campaigns", params(("id" = Uuid, Path), ReasonParams),
    security(("bearer" = [])),
    responses((status = 200, body = CampaignDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn pause_campaign(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    Query(p): Query<ReasonParams>,
) -> AppResult<axum::Json<CampaignDto>> {
    act(&state, &auth, id, Action::Pause, p.reason, None).await
}

/// Resume a paused campaign where it stopped (nobody is sent twice).
#[utoipa::path(post, path = "/api/campaigns/{id}/resume", tag = "campaigns", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CampaignDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn resume_campaign(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<CampaignDto>> {
    act(&state, &auth, id, Action::Resume, None, None).await
}

/// Cancel a campaign for good.
#[utoipa::path(post, path = "/api/campaigns/{id}/cancel", tag = "campaigns", params(("id" = Uuid, Path), ReasonParams),
    security(("bearer" = [])),
    responses((status = 200, body = CampaignDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_campaign(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    Query(p): Query<ReasonParams>,
) -> AppResult<axum::Json<CampaignDto>> {
    act(&state, &auth, id, Action::Cancel, p.reason, None).await
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientDto {
    pub id: Uuid,
    pub contact_id: Uuid,
    /// The contact (absent once deleted).
    pub contact: Option<RecipientContact>,
    pub state: RecipientState,
    /// Why it was skipped or failed before sending.
    pub reason: Option<String>,
    pub detail: Option<String>,
    /// Its message (`GET /api/conversations/…/messages` shows it in its conversation).
    pub message_id: Option<Uuid>,
    /// 0 for the first message; one more for each retry after Meta limited it (131049).
    pub attempt: i32,
    /// The message's status now: `queued`, `sent`, `delivered`, `read`, `played`, `failed`.
    pub message_status: Option<String>,
    /// Meta's error of a failed message: its code and title.
    pub error_code: Option<i32>,
    pub error_title: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientContact {
    pub wa_id: Option<String>,
    /// The saved name, else the WhatsApp profile name.
    pub name: Option<String>,
}

impl From<service::Recipient> for RecipientDto {
    fn from(r: service::Recipient) -> Self {
        let (row, m) = (r.row, r.message);
        Self {
            id: row.id,
            contact_id: row.contact_id,
            contact: r.contact.map(|c| RecipientContact { wa_id: c.wa_id, name: c.name.or(c.profile_name) }),
            state: row.state,
            reason: row.reason,
            detail: row.detail,
            message_id: row.message_id,
            attempt: row.attempt,
            message_status: m.as_ref().map(|m| m.status.as_str().to_string()),
            error_code: m.as_ref().and_then(|m| m.error_code),
            error_title: m.and_then(|m| m.error_title),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientList {
    pub data: Vec<RecipientDto>,
    /// Pass as `after` for the next page (absent on the last).
    pub next: Option<Uuid>,
}

#[derive(Deserialize, IntoParams)]
pub struct RecipientParams {
    /// `pending`, `queued`, `skipped` or `failed`.
    pub state: Option<String>,
    /// The last id of the previous page.
    pub after: Option<Uuid>,
    /// 1 to 500 (default 100).
    pub limit: Option<u64>,
}

/// A campaign's recipients, in pages.
#[utoipa::path(get, path = "/api/campaigns/{id}/recipients", tag = "campaigns", params(("id" = Uuid, Path), RecipientParams),
    security(("bearer" = [])),
    responses((status = 200, body = RecipientList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_recipients(
    State(state): State<AppState>,
    auth: Authed<TenantMember>,
    Path(id): Path<Uuid>,
    Query(p): Query<RecipientParams>,
) -> AppResult<axum::Json<RecipientList>> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::field("limit", "must be 1 to 500"));
    }
    let st = match p.state.as_deref() {
        None => None,
        Some(s) => Some(
            RecipientState::parse(s).ok_or_else(|| AppError::field("state", "pending, queued, skipped or failed"))?,
        ),
    };
    let rows = service::recipients(&state.db, auth.tenant()?, id, st, p.after, limit).await?;
    let next = (rows.len() as u64 == limit).then(|| rows.last().map(|r| r.row.id)).flatten();
    Ok(axum::Json(RecipientList { data: rows.into_iter().map(Into::into).collect(), next }))
}

/// Every recipient with their outcome as CSV (`text/csv`, header row first), streamed.
#[utoipa::path(get, path = "/api/campaigns/{id}/recipients.csv", tag = "campaigns", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
async fn export_recipients(
    State(state): State<AppState>,
    auth: Authed<TenantMember>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::response::Response> {
    let tenant = auth.tenant()?;
    let c = service::get(&state.db, tenant, id).await?;
    let body = axum::body::Body::from_stream(super::export::stream(state.db.clone(), tenant, c.id));
    let name: String = c.name.chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' }).collect();
    let disposition = format!("attachment; filename=\"campaign-{name}-recipients.csv\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AudiencePreview {
    /// Contacts in the audience now.
    pub count: u64,
    /// Up to ten of them.
    pub sample: Vec<crate::events::payloads::ContactDto>,
}

/// How many contacts an audience has, and a sample, before saving a campaign.
#[utoipa::path(post, path = "/api/campaigns/audience-preview", tag = "campaigns", request_body = Audience,
    security(("bearer" = [])), responses((status = 200, body = AudiencePreview), (status = 422, body = ErrorBody)))]
async fn preview_audience(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ApiJson(a): ApiJson<Audience>,
) -> AppResult<axum::Json<AudiencePreview>> {
    let (count, sample) = service::preview(&state.db, auth.tenant()?, &a).await?;
    Ok(axum::Json(AudiencePreview { count, sample: sample.into_iter().map(Into::into).collect() }))
}
