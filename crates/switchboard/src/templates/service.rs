//! Template logic: create (validated, then submitted to Meta), list, delete, sync with Meta (the
//! `template-sync` job, hourly per number), and the Graph management rate limit per WABA.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use meta_cloud::client::{CreateTemplate, GraphError, TemplateInfo, TemplateQuery};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::Spec;
pub use super::params::{Preview, Variables, build_components, preview};
use super::validate::Definition;
use crate::audit;
use crate::db::Scoped;
use crate::entities::enums::AccountStatus;
use crate::entities::{templates, whatsapp_accounts};
use crate::error::{AppError, AppResult};
use crate::events::DomainEvent;
use crate::ids::{TenantId, UserId};
use crate::jobs::Outcome;
use crate::jobs::runner::Handler;
use crate::ratelimit::Rate;
use crate::state::AppState;

/// Meta allows 200 template-management calls per hour per WABA: 150/h with a burst of 50 never
/// exceeds 200 in any hour.
pub fn management_rate() -> Rate {
    Rate::per_second(150.0 / 3600.0).burst(50)
}

/// Sync runs every hour per number.
pub const SYNC_EVERY: chrono::Duration = crate::jobs::payloads::SyncTemplates::EVERY;

/// Statuses Meta reports, plus `DELETED` for templates gone from Meta.
pub const STATUSES: &[&str] = &[
    "APPROVED",
    "PENDING",
    "REJECTED",
    "PAUSED",
    "DISABLED",
    "IN_APPEAL",
    "PENDING_DELETION",
    "LIMIT_EXCEEDED",
    "DELETED",
];

/// A template as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateDto {
    pub id: Uuid,
    pub whatsapp_account_id: Uuid,
    pub name: String,
    pub language: String,
    pub category: String,
    /// `PENDING`, `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, … or `DELETED` (gone from Meta).
    pub status: String,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    /// Meta's definition components.
    #[schema(value_type = Vec<Object>)]
    pub components: Value,
    /// What a send must supply.
    pub variables: Variables,
    pub meta_template_id: Option<String>,
    pub rejection_reason: Option<String>,
    /// Meta's `rejection_info {reason, recommendation}`, `other_info` (pause) or `disable_info`.
    #[schema(value_type = Option<Object>)]
    pub status_details: Option<Value>,
    pub quality_score: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<templates::Model> for TemplateDto {
    fn from(t: templates::Model) -> Self {
        let spec = Spec::of(&t);
        TemplateDto {
            id: t.id,
            whatsapp_account_id: t.whatsapp_account_id,
            parameter_format: spec.parameter_format().into(),
            variables: spec.variables(),
            name: t.name,
            language: t.language,
            category: t.category,
            status: t.status,
            components: t.components,
            meta_template_id: t.meta_template_id,
            rejection_reason: t.rejection_reason,
            status_details: t.status_details,
            quality_score: t.quality_score,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// List filters (all optional).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<String>,
    pub category: Option<String>,
    pub language: Option<String>,
    pub search: Option<String>,
    pub account: Option<Uuid>,
}

pub async fn list<C: ConnectionTrait>(db: &C, tenant: TenantId, f: &Filter) -> AppResult<Vec<templates::Model>> {
    let mut q = templates::Entity::of(tenant);
    if let Some(s) = &f.status {
        q = q.filter(templates::Column::Status.eq(s.to_ascii_uppercase()));
    }
    if let Some(c) = &f.category {
        q = q.filter(templates::Column::Category.eq(c.to_ascii_uppercase()));
    }
    if let Some(l) = &f.language {
        q = q.filter(templates::Column::Language.eq(l.as_str()));
    }
    if let Some(a) = f.account {
        q = q.filter(templates::Column::WhatsappAccountId.eq(a));
    }
    if let Some(s) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        // Names are lowercase ASCII; a search for "Order Update" finds order_update.
        let needle = s.to_lowercase().replace(' ', "_").replace(['%', '\\'], "");
        q = q.filter(templates::Column::Name.contains(needle));
    }
    Ok(q.order_by_asc(templates::Column::Name).order_by_asc(templates::Column::Language).all(db).await?)
}

/// The tenant's template, or 404 (also for another tenant's id).
pub async fn get<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<templates::Model> {
    templates::Entity::secure_find(db, tenant, id).await?.ok_or_else(|| AppError::not_found("template"))
}

/// Takes one management call from the WABA's hourly budget, or says how long to wait.
pub async fn take_call(state: &AppState, waba_id: &str) -> Result<(), Duration> {
    state.limiter.acquire(&format!("waba-mgmt:{waba_id}"), management_rate()).await
}

async fn take_call_or_429(state: &AppState, waba_id: &str) -> AppResult<()> {
    take_call(state, waba_id).await.map_err(|wait| {
        AppError::too_many(
            "rate_limited",
            "Meta's template management limit for this WhatsApp Business Account is used up; retry later",
            wait.as_secs() + 1,
        )
    })
}

/// Meta's code 4 and 80007: the app or the WABA called too often.
fn is_throttled(e: &GraphError) -> bool {
    matches!(e.code(), Some(4 | 80007))
}

/// A Graph failure of a management call, as an API error.
pub fn graph_error(e: GraphError) -> AppError {
    use axum::http::StatusCode;
    if is_throttled(&e) {
        return AppError::too_many(
            "meta_rate_limited",
            "Meta is throttling template calls for this account; retry later",
            60,
        );
    }
    match e {
        GraphError::Api { body, class, .. } => {
            let status = match class {
                meta_cloud::error::ErrorClass::RetryLater => StatusCode::BAD_GATEWAY,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let details = body.error_data.as_ref().and_then(|d| d.details.clone());
            AppError::new(
                status,
                "meta_rejected",
                format!("Meta refused: {}", details.clone().unwrap_or(body.message.clone())),
            )
            .with_details(json!({ "metaCode": body.code, "metaSubcode": body.error_subcode, "details": details }))
        }
        GraphError::Timeout | GraphError::Transport(_) | GraphError::Connect(_) => AppError::new(
            StatusCode::BAD_GATEWAY,
            "graph_unreachable",
            "the Graph API could not be reached; retry later",
        ),
        other => AppError::new(StatusCode::BAD_GATEWAY, "graph_error", other.to_string()),
    }
}

fn publish(state: &AppState, tenant: TenantId, ev: crate::events::TemplateUpdated) {
    state.events.publish(DomainEvent::new(tenant.0, crate::events::Event::TemplateUpdated(ev)));
}

/// Validates nothing (the routes did): stores the template as PENDING, submits it to Meta, and
/// keeps Meta's id and status. The row is written first, so a second create of the same (number,
/// name, language) is a 409 without a Graph call, and a status webhook arriving before Meta's
/// answer is processed finds it by name and language.
pub async fn create(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    account_id: Uuid,
    def: Definition,
) -> AppResult<templates::Model> {
    let account = crate::accounts::service::get(&state.db, tenant, account_id).await?;
    let token = crate::accounts::service::access_token(state, &account)?;
    let now = crate::db::now();
    let id = crate::db::new_id();
    let row = templates::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.0),
        whatsapp_account_id: Set(account.id),
        name: Set(def.name.clone()),
        language: Set(def.language.clone()),
        category: Set(def.category.clone()),
        status: Set("PENDING".into()),
        components: Set(def.components.clone()),
        meta_template_id: Set(None),
        rejection_reason: Set(None),
        quality_score: Set(None),
        status_details: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    {
        let txn = state.writer().begin().await?;
        let existing = templates::Entity::of(tenant)
            .filter(templates::Column::WhatsappAccountId.eq(account.id))
            .filter(templates::Column::Name.eq(def.name.as_str()))
            .filter(templates::Column::Language.eq(def.language.as_str()))
            .one(&txn)
            .await?;
        match existing {
            // A template deleted at Meta keeps its row (status DELETED) until it is created again.
            Some(old) if old.status == "DELETED" => {
                templates::Entity::delete_by_id(old.id).exec(&txn).await?;
            }
            Some(_) => {
                return Err(AppError::conflict(
                    "template_exists",
                    format!("this number already has a template {} in {}", def.name, def.language),
                ));
            }
            None => {}
        }
        row.insert(&txn).await.map_err(|e| {
            if crate::db::is_unique_violation(&e) {
                AppError::conflict("template_exists", "this number already has a template with this name and language")
            } else {
                e.into()
            }
        })?;
        txn.commit().await?;
    }
    let undo = || async {
        let _ = templates::Entity::delete_by_id(id).exec(state.writer()).await;
    };
    if let Err(e) = take_call_or_429(state, &account.waba_id).await {
        undo().await;
        return Err(e);
    }
    let request = CreateTemplate {
        name: def.name.clone(),
        category: def.category.clone(),
        language: def.language.clone(),
        parameter_format: Some(def.parameter_format.clone()),
        components: def.components.clone(),
    };
    let created = match state.graph_for(&account).create_template(&token, &account.waba_id, &request).await {
        Ok(c) => c,
        Err(e) => {
            undo().await;
            // Meta already has it (created elsewhere): say so like a local duplicate.
            if matches!(&e, GraphError::Api { body, .. } if body.error_subcode == Some(2388024)) {
                return Err(AppError::conflict(
                    "template_exists",
                    "Meta already has a template with this name and language; sync to see it",
                ));
            }
            return Err(graph_error(e));
        }
    };
    let txn = state.writer().begin().await?;
    let mut q = templates::Entity::update_many()
        .col_expr(templates::Column::MetaTemplateId, Expr::value(created.id.clone()))
        .col_expr(templates::Column::UpdatedAt, Expr::value(crate::db::now()));
    if let Some(c) = created.category.as_ref().filter(|c| !c.is_empty()) {
        q = q.col_expr(templates::Column::Category, Expr::value(c.to_ascii_uppercase()));
    }
    q.filter(templates::Column::Id.eq(id)).exec(&txn).await?;
    // Meta may answer APPROVED at once; a status that arrived by webhook meanwhile is newer.
    if let Some(s) = created.status.as_ref().filter(|s| !s.is_empty() && s.as_str() != "PENDING") {
        templates::Entity::update_many()
            .col_expr(templates::Column::Status, Expr::value(s.to_ascii_uppercase()))
            .filter(templates::Column::Id.eq(id))
            .filter(templates::Column::Status.eq("PENDING"))
            .exec(&txn)
            .await?;
    }
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "template.create",
            target_type: Some("template"),
            target_id: Some(id.to_string()),
            details: json!({ "name": def.name, "language": def.language, "metaTemplateId": created.id }),
            ip: None,
        },
    )
    .await?;
    let model = get(&txn, tenant, id).await?;
    txn.commit().await?;
    publish(
        state,
        tenant,
        crate::events::TemplateUpdated {
            whatsapp_account_id: Some(model.whatsapp_account_id),
            template_ids: vec![id],
            meta_template_id: model.meta_template_id.clone(),
            status: Some(model.status.clone()),
            deleted: false,
        },
    );
    Ok(model)
}

/// Deletes at Meta and locally. `all_languages`: by name, as Meta does without `hsm_id` (every
/// language, and the rows of every number on the same WABA); otherwise this language only.
/// Returns the ids of the deleted rows.
pub async fn delete(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    id: Uuid,
    all_languages: bool,
) -> AppResult<Vec<Uuid>> {
    let t = get(&state.db, tenant, id).await?;
    let account = crate::accounts::service::get(&state.db, tenant, t.whatsapp_account_id).await?;
    // By name, Meta is always asked (other languages may still be there); one language only if
    // Meta has it.
    let at_meta = all_languages || (t.status != "DELETED" && t.meta_template_id.is_some());
    if at_meta {
        let token = crate::accounts::service::access_token(state, &account)?;
        take_call_or_429(state, &account.waba_id).await?;
        let hsm = if all_languages { None } else { t.meta_template_id.as_deref() };
        match state.graph_for(&account).delete_template(&token, &account.waba_id, &t.name, hsm).await {
            Ok(_) => {}
            // Already gone at Meta: deleting locally is what the caller wants.
            Err(GraphError::Api { body, .. }) if body.error_subcode == Some(2593002) => {}
            Err(e) => return Err(graph_error(e)),
        }
    }
    let txn = state.writer().begin().await?;
    let rows: Vec<templates::Model> = if all_languages {
        let same_waba = Query::select()
            .column(whatsapp_accounts::Column::Id)
            .from(whatsapp_accounts::Entity)
            .and_where(Expr::col(whatsapp_accounts::Column::TenantId).eq(tenant.0))
            .and_where(Expr::col(whatsapp_accounts::Column::WabaId).eq(account.waba_id.as_str()))
            .to_owned();
        templates::Entity::of(tenant)
            .filter(templates::Column::Name.eq(t.name.as_str()))
            .filter(templates::Column::WhatsappAccountId.in_subquery(same_waba))
            .all(&txn)
            .await?
    } else {
        vec![t.clone()]
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    templates::Entity::delete_of(tenant).filter(templates::Column::Id.is_in(ids.clone())).exec(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "template.delete",
            target_type: Some("template"),
            target_id: Some(id.to_string()),
            details: json!({ "name": t.name, "language": t.language, "allLanguages": all_languages, "rows": ids.len() }),
            ip: None,
        },
    )
    .await?;
    txn.commit().await?;
    publish(
        state,
        tenant,
        crate::events::TemplateUpdated {
            whatsapp_account_id: None,
            template_ids: ids.clone(),
            meta_template_id: None,
            status: None,
            deleted: true,
        },
    );
    Ok(ids)
}

/// What a sync changed on one number.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub whatsapp_account_id: Uuid,
    /// Templates at Meta.
    pub total: usize,
    pub added: usize,
    pub updated: usize,
    /// Marked `DELETED`: gone from Meta.
    pub deleted: usize,
}

/// Why a sync did not run.
#[derive(Debug)]
pub enum SyncFailure {
    /// The WABA's management budget is used up for now.
    Limited(Duration),
    Graph(GraphError),
    App(AppError),
}

impl From<DbErr> for SyncFailure {
    fn from(e: DbErr) -> Self {
        SyncFailure::App(e.into())
    }
}

impl From<AppError> for SyncFailure {
    fn from(e: AppError) -> Self {
        SyncFailure::App(e)
    }
}

impl From<SyncFailure> for AppError {
    fn from(f: SyncFailure) -> Self {
        match f {
            SyncFailure::Limited(wait) => AppError::too_many(
                "rate_limited",
                "Meta's template management limit for this WhatsApp Business Account is used up; retry later",
                wait.as_secs() + 1,
            ),
            SyncFailure::Graph(e) => graph_error(e),
            SyncFailure::App(e) => e,
        }
    }
}

const SYNC_FIELDS: &str = "id,name,language,status,category,components,parameter_format,rejected_reason,quality_score";

fn remote_quality(t: &TemplateInfo) -> Option<String> {
    match t.extra.get("quality_score") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("score").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn remote_reason(t: &TemplateInfo) -> Option<String> {
    t.extra.get("rejected_reason").and_then(Value::as_str).filter(|r| !r.is_empty() && *r != "NONE").map(str::to_string)
}

/// Pulls every template of the number's WABA from Meta (following paging) and makes the local
/// rows match: adds the missing, updates the changed, and marks those gone from Meta `DELETED`
/// (kept, so that the inbox can still say what was sent; a new create of the same name and
/// language replaces the row).
pub async fn sync_account(state: &AppState, account: &whatsapp_accounts::Model) -> Result<SyncReport, SyncFailure> {
    let token = crate::accounts::service::access_token(state, account)?;
    take_call(state, &account.waba_id).await.map_err(SyncFailure::Limited)?;
    let query = TemplateQuery { fields: Some(SYNC_FIELDS.into()), limit: Some(100), ..Default::default() };
    let remote =
        state.graph_for(account).list_templates(&token, &account.waba_id, &query).await.map_err(SyncFailure::Graph)?;

    // Each further page was a call too: charge them (best effort; the next run waits if over).
    for _ in 1..remote.len().div_ceil(100) {
        let _ = take_call(state, &account.waba_id).await;
    }
    let mut report = SyncReport { whatsapp_account_id: account.id, total: remote.len(), ..Default::default() };
    let txn = state.writer().begin().await?;
    let local = templates::Entity::of(TenantId(account.tenant_id))
        .filter(templates::Column::WhatsappAccountId.eq(account.id))
        .all(&txn)
        .await?;
    let now = crate::db::now();
    let mut seen = std::collections::HashSet::new();
    for r in &remote {
        let (Some(name), Some(language)) = (r.name.as_deref(), r.language.as_deref()) else { continue };
        let language = language.replace('-', "_");
        seen.insert((name.to_string(), language.clone()));
        let status = r.status.clone().unwrap_or_else(|| "PENDING".into()).to_ascii_uppercase();
        let category = r.category.clone().unwrap_or_default().to_ascii_uppercase();
        let components = r.components.clone().unwrap_or_else(|| json!([]));
        let reason = remote_reason(r);
        let quality = remote_quality(r);
        match local.iter().find(|l| l.name == name && l.language == language) {
            Some(l) => {
                let changed = l.status != status
                    || l.category != category
                    || l.components != components
                    || l.meta_template_id != r.id
                    || l.rejection_reason != reason
                    || (quality.is_some() && l.quality_score != quality);
                if changed {
                    let mut am: templates::ActiveModel = l.clone().into();
                    am.status = Set(status);
                    am.category = Set(category);
                    am.components = Set(components);
                    am.meta_template_id = Set(r.id.clone());
                    am.rejection_reason = Set(reason);
                    if quality.is_some() {
                        am.quality_score = Set(quality);
                    }
                    am.updated_at = Set(now);
                    am.update(&txn).await?;
                    report.updated += 1;
                }
            }
            None => {
                let row = templates::ActiveModel {
                    id: Set(crate::db::new_id()),
                    tenant_id: Set(account.tenant_id),
                    whatsapp_account_id: Set(account.id),
                    name: Set(name.to_string()),
                    language: Set(language),
                    category: Set(category),
                    status: Set(status),
                    components: Set(components),
                    meta_template_id: Set(r.id.clone()),
                    rejection_reason: Set(reason),
                    quality_score: Set(quality),
                    status_details: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                };
                // A create or a concurrent sync may have inserted it meanwhile: fine.
                let res = templates::Entity::insert(row)
                    .on_conflict_do_nothing_on([
                        templates::Column::TenantId,
                        templates::Column::WhatsappAccountId,
                        templates::Column::Name,
                        templates::Column::Language,
                    ])
                    .exec(&txn)
                    .await?;
                if matches!(res, sea_orm::TryInsertResult::Inserted(_)) {
                    report.added += 1;
                }
            }
        }
    }
    // Gone from Meta. A row without Meta's id younger than 10 minutes may be a create in flight.
    let in_flight = now - chrono::Duration::minutes(10);
    let gone: Vec<Uuid> = local
        .iter()
        .filter(|l| l.status != "DELETED" && !seen.contains(&(l.name.clone(), l.language.clone())))
        .filter(|l| l.meta_template_id.is_some() || l.created_at < in_flight)
        .map(|l| l.id)
        .collect();
    if !gone.is_empty() {
        templates::Entity::update_many()
            .col_expr(templates::Column::Status, Expr::value("DELETED"))
            .col_expr(templates::Column::UpdatedAt, Expr::value(now))
            .filter(templates::Column::Id.is_in(gone.clone()))
            .exec(&txn)
            .await?;
        report.deleted = gone.len();
    }
    txn.commit().await?;
    if report.added + report.updated + report.deleted > 0 {
        publish(
            state,
            TenantId(account.tenant_id),
            crate::events::TemplateUpdated {
                whatsapp_account_id: Some(account.id),
                template_ids: Vec::new(),
                meta_template_id: None,
                status: None,
                deleted: false,
            },
        );
    }
    Ok(report)
}

/// Syncs one number (`account`) or every active number of the tenant.
pub async fn sync(state: &AppState, tenant: TenantId, account: Option<Uuid>) -> AppResult<Vec<SyncReport>> {
    let accounts = match account {
        Some(id) => vec![crate::accounts::service::get(&state.db, tenant, id).await?],
        None => crate::accounts::service::list(&state.db, tenant)
            .await?
            .into_iter()
            .filter(|a| a.status == AccountStatus::Active)
            .collect(),
    };
    let mut out = Vec::new();
    for a in &accounts {
        out.push(sync_account(state, a).await?);
        // Keep the hourly job alive for numbers created before it existed.
        schedule_sync(state.writer(), TenantId(a.tenant_id), a.id, crate::db::now() + SYNC_EVERY).await?;
    }
    Ok(out)
}

/// The tenant's templates with these names (every language and number).
pub async fn by_names<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    names: impl IntoIterator<Item = String>,
) -> Result<Vec<templates::Model>, DbErr> {
    templates::Entity::of(tenant).filter(templates::Column::Name.is_in(names)).all(db).await
}

/// Enqueues the number's sync to run at `at` (`SyncTemplates::at`: one per number and hour).
pub async fn schedule_sync<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    account: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    crate::jobs::enqueue(db, crate::jobs::payloads::SyncTemplates::at(tenant.0, account, at)).await
}

/// Makes sure every number has its hourly sync scheduled (numbers connected before the job
/// existed, or whose chain ended). Idempotent: one job per number and hour.
pub async fn arm_sync(state: &AppState) -> Result<(), DbErr> {
    let at = crate::db::now() + SYNC_EVERY;
    for a in whatsapp_accounts::Entity::find().all(&state.db).await? {
        schedule_sync(state.writer(), TenantId(a.tenant_id), a.id, at).await?;
    }
    Ok(())
}

/// The `template-sync` job: syncs one number, and schedules its next run an hour later (first, so
/// that a failure or a dead job does not end the hourly chain). Throttling by Meta (4, 80007)
/// backs off; our own budget defers without spending an attempt.
pub fn sync_handler() -> Handler<AppState> {
    Arc::new(|state, job| {
        Box::pin(async move {
            let id = <crate::jobs::payloads::SyncTemplates as crate::jobs::Job>::of(&job)?.account_id;
            let retry = |e: DbErr| Outcome::Retry { error: e.to_string(), after: None };
            let Some(account) = whatsapp_accounts::Entity::find_by_id(id).one(&state.db).await.map_err(retry)? else {
                return Ok(()); // the number was removed: its chain ends here
            };
            schedule_sync(state.writer(), TenantId(account.tenant_id), account.id, crate::db::now() + SYNC_EVERY)
                .await
                .map_err(retry)?;
            if account.status != AccountStatus::Active {
                return Ok(()); // disabled or waiting for new credentials: try again next hour
            }
            match sync_account(&state, &account).await {
                Ok(r) => {
                    tracing::debug!(account = %account.id, added = r.added, updated = r.updated, deleted = r.deleted, "templates synced");
                    Ok(())
                }
                Err(SyncFailure::Limited(wait)) => {
                    Err(Outcome::Defer { after: wait, reason: "template management budget of the WABA".into() })
                }
                Err(SyncFailure::Graph(e)) if is_throttled(&e) => {
                    let after =
                        Duration::from_secs(300u64 << job.attempts.clamp(0, 4) as u32).min(Duration::from_secs(3600));
                    Err(Outcome::Retry { error: e.to_string(), after: Some(after) })
                }
                Err(SyncFailure::Graph(e)) => match e.class() {
                    Some(meta_cloud::error::ErrorClass::Credentials) => {
                        Err(Outcome::Dead { error: format!("credentials refused: {e}") })
                    }
                    _ if e.retry_after(std::cmp::max(job.attempts, 0) as u32).is_some()
                        || e.class().is_some_and(|c| c.is_retryable()) =>
                    {
                        Err(Outcome::Retry { error: e.to_string(), after: None })
                    }
                    _ => Err(Outcome::Dead { error: e.to_string() }),
                },
                Err(SyncFailure::App(e)) => Err(Outcome::Retry { error: e.to_string(), after: None }),
            }
        })
    })
}

/// Status webhooks name a template by Meta's id; one that arrives before the create recorded that
/// id is matched by name and language on the WABA's numbers instead (see the webhook processor).
pub fn adopt_condition(tenant: TenantId, waba_id: &str, name: &str, language: &str) -> Condition {
    let same_waba = Query::select()
        .column(whatsapp_accounts::Column::Id)
        .from(whatsapp_accounts::Entity)
        .and_where(Expr::col(whatsapp_accounts::Column::TenantId).eq(tenant.0))
        .and_where(Expr::col(whatsapp_accounts::Column::WabaId).eq(waba_id))
        .to_owned();
    Condition::all()
        .add(templates::Column::TenantId.eq(tenant.0))
        .add(templates::Column::MetaTemplateId.is_null())
        .add(templates::Column::Name.eq(name))
        .add(templates::Column::Language.eq(language.replace('-', "_")))
        .add(templates::Column::WhatsappAccountId.in_subquery(same_waba))
}
