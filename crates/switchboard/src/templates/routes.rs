//! `/api/templates`: the inbox reads and previews templates; TENANT_ADMIN creates, syncs and deletes.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, Filter, Preview, SyncReport, TemplateDto};
use crate::access::extract::{Authed, InboxRole, TenantAdminRole};
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(sync_templates))
        .routes(routes!(get_template, delete_template))
        .routes(routes!(preview_template))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, `DELETED`, …
    pub status: Option<String>,
    /// `MARKETING`, `UTILITY`, `AUTHENTICATION`.
    pub category: Option<String>,
    /// Language code, e.g. `en_US`.
    pub language: Option<String>,
    /// Part of the name.
    pub search: Option<String>,
    pub whatsapp_account_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub data: Vec<TemplateDto>,
}

/// The tenant's templates, by name and language.
#[utoipa::path(get, path = "/api/templates", tag = "templates", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = TemplateList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_templates(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Query(p): Query<ListParams>,
) -> AppResult<axum::Json<TemplateList>> {
    let mut v = Validator::new();
    if let Some(s) = &p.status
        && !service::STATUSES.contains(&s.to_ascii_uppercase().as_str())
    {
        v.push("status", format!("must be one of {}", service::STATUSES.join(", ")));
    }
    if let Some(c) = &p.category
        && !super::validate::CATEGORIES.contains(&c.to_ascii_uppercase().as_str())
    {
        v.push("category", "must be MARKETING, UTILITY or AUTHENTICATION");
    }
    v.finish()?;
    let filter = Filter {
        status: p.status,
        category: p.category,
        language: p.language,
        search: p.search,
        account: p.whatsapp_account_id,
    };
    let rows = service::list(&state.db, auth.tenant()?, &filter).await?;
    Ok(axum::Json(TemplateList { data: rows.into_iter().map(TemplateDto::from).collect() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTemplateRequest {
    /// The number whose WhatsApp Business Account gets the template.
    #[schema(value_type = Uuid)]
    pub whatsapp_account_id: Option<String>,
    /// `[a-z0-9_]`, at most 512 characters.
    pub name: Option<String>,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: Option<String>,
    /// e.g. `en_US`.
    pub language: Option<String>,
    /// Meta's template components: `HEADER` (TEXT with at most one variable, IMAGE, VIDEO,
    /// DOCUMENT), `BODY` (positional `{{1}}` or named `{{first_name}}` variables, with `example`),
    /// `FOOTER`, `BUTTONS` (QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE).
    #[schema(value_type = Vec<Object>)]
    pub components: Option<Value>,
}

/// Create a template: checked by Meta's rules (each violation a 422 naming its field), submitted to
/// Meta and stored as PENDING with Meta's id. Meta's review arrives by webhook.
#[utoipa::path(post, path = "/api/templates", tag = "templates", request_body = CreateTemplateRequest,
    security(("bearer" = [])),
    responses((status = 201, body = TemplateDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "template_exists"), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn create_template(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ApiJson(req): ApiJson<CreateTemplateRequest>,
) -> AppResult<impl IntoResponse> {
    let mut v = Validator::new();
    let account = match req.whatsapp_account_id.as_deref().map(str::parse::<Uuid>) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            v.push("whatsappAccountId", "must be a WhatsApp account id");
            None
        }
        None => {
            v.push("whatsappAccountId", "is required");
            None
        }
    };
    let def = super::validate::definition(
        &mut v,
        req.name.as_deref(),
        req.category.as_deref(),
        req.language.as_deref(),
        req.components.as_ref(),
    );
    v.finish()?;
    let (Some(account), Some(def)) = (account, def) else {
        return Err(AppError::internal(anyhow::anyhow!("validated input missing")));
    };
    let t = service::create(&state, auth.tenant()?, auth.user_id(), account, def).await?;
    Ok((StatusCode::CREATED, axum::Json(TemplateDto::from(t))))
}

#[derive(Deserialize, IntoParams, ToSchema)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// Only this number (default: every active number).
    pub whatsapp_account_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct SyncResult {
    pub data: Vec<SyncReport>,
}

/// Pull every template from Meta now: adds the missing, updates the changed, marks those deleted at
/// Meta `DELETED`. Also runs hourly per number. The number may be given in the query or the body.
#[utoipa::path(post, path = "/api/templates/sync", tag = "templates", params(SyncParams),
    request_body(content = Option<SyncParams>, description = "optional `{\"whatsappAccountId\"}`"),
    security(("bearer" = [])),
    responses((status = 200, body = SyncResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn sync_templates(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Query(p): Query<SyncParams>,
    body: axum::body::Bytes,
) -> AppResult<axum::Json<SyncResult>> {
    let mut account = p.whatsapp_account_id;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let b: SyncParams = serde_json::from_slice(&body).map_err(|e| {
            AppError::field("whatsappAccountId", format!("the body must be {{\"whatsappAccountId\": \"…\"}}: {e}"))
        })?;
        account = account.or(b.whatsapp_account_id);
    }
    let data = service::sync(&state, auth.tenant()?, account).await?;
    Ok(axum::Json(SyncResult { data }))
}

/// One template.
#[utoipa::path(get, path = "/api/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = TemplateDto), (status = 404, body = ErrorBody)))]
async fn get_template(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<TemplateDto>> {
    Ok(axum::Json(service::get(&state.db, auth.tenant()?, id).await?.into()))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// `true`: delete the name in every language (Meta's delete by name, which also removes the
    /// rows of the other numbers on the same WABA); default `false`: this language only (by id).
    pub all_languages: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// Local template ids removed.
    pub deleted: Vec<Uuid>,
}

/// Delete at Meta and locally.
#[utoipa::path(delete, path = "/api/templates/{id}", tag = "templates", params(("id" = Uuid, Path), DeleteParams),
    security(("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn delete_template(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Path(id): Path<Uuid>,
    Query(p): Query<DeleteParams>,
) -> AppResult<axum::Json<Deleted>> {
    let deleted = service::delete(&state, auth.tenant()?, auth.user_id(), id, p.all_languages.unwrap_or(false)).await?;
    Ok(axum::Json(Deleted { deleted }))
}

/// What the customer will see: header, body, footer and buttons with the variables filled in from
/// the query (`?1=Jessica&first_name=…&header=…&buttons.0=…`); a variable not given shows the
/// template's example.
#[utoipa::path(get, path = "/api/templates/{id}/preview", tag = "templates",
    params(("id" = Uuid, Path), ("params" = HashMap<String, String>, Query, description = "variable values by number or name; `header`; `buttons.N`")),
    security(("bearer" = [])), responses((status = 200, body = Preview), (status = 404, body = ErrorBody)))]
async fn preview_template(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    Query(values): Query<HashMap<String, String>>,
) -> AppResult<axum::Json<Preview>> {
    let t = service::get(&state.db, auth.tenant()?, id).await?;
    Ok(axum::Json(service::preview(&t, &values)))
}
