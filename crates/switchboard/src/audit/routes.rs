//! `/api/audit-log`: the tenant's audit entries, newest first (TENANT_ADMIN).

use std::collections::HashMap;

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::extract::{Authed, TenantAdminRole};
use crate::entities::{audit_log, users};
use crate::error::{AppResult, ErrorBody, Validator};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_log))
}

#[derive(Deserialize, IntoParams)]
pub struct AuditParams {
    /// An exact action (`user.role_change`), or a prefix ending in `.` (`auth.`).
    pub action: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<u64>,
}

/// Who did what, and when.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryDto {
    pub id: Uuid,
    pub action: String,
    pub actor_user_id: Option<Uuid>,
    /// The actor's email, while the user exists.
    pub actor_email: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub data: Vec<AuditEntryDto>,
    pub next_cursor: Option<String>,
}

/// The tenant's audit log, newest first, keyset-paginated.
#[utoipa::path(get, path = "/api/audit-log", tag = "audit", params(AuditParams), security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_audit_log(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    Query(p): Query<AuditParams>,
) -> AppResult<axum::Json<AuditPage>> {
    let mut v = Validator::new();
    let cursor = match p.cursor.as_deref() {
        Some(c) => v.check("cursor", crate::pagination::decode(c).map_err(|e| e.message)),
        None => None,
    };
    let action = p.action.as_deref().map(str::trim).filter(|a| !a.is_empty());
    if action.is_some_and(|a| a.len() > 100) {
        v.push("action", "must be at most 100 characters");
    }
    v.finish()?;
    let limit = crate::pagination::limit(p.limit, 50, 200);
    let tenant = auth.tenant()?;
    let mut q = audit_log::Entity::find().filter(audit_log::Column::TenantId.eq(tenant.0));
    match action {
        Some(a) if a.ends_with('.') => q = q.filter(audit_log::Column::Action.starts_with(a)),
        Some(a) => q = q.filter(audit_log::Column::Action.eq(a)),
        None => {}
    }
    if let Some((ts, id)) = cursor {
        q = q.filter(
            Condition::any()
                .add(audit_log::Column::CreatedAt.lt(ts))
                .add(Condition::all().add(audit_log::Column::CreatedAt.eq(ts)).add(audit_log::Column::Id.lt(id))),
        );
    }
    let rows = q
        .order_by_desc(audit_log::Column::CreatedAt)
        .order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| crate::pagination::encode(r.created_at, r.id)))
        .flatten();
    let mut actor_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.actor_user_id).collect();
    actor_ids.sort();
    actor_ids.dedup();
    let emails: HashMap<Uuid, String> = if actor_ids.is_empty() {
        HashMap::new()
    } else {
        users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::Email)
            .filter(users::Column::Id.is_in(actor_ids))
            .filter(users::Column::TenantId.eq(tenant.0))
            .into_tuple::<(Uuid, String)>()
            .all(&state.db)
            .await?
            .into_iter()
            .collect()
    };
    let data = rows
        .into_iter()
        .map(|r| AuditEntryDto {
            actor_email: r.actor_user_id.and_then(|a| emails.get(&a).cloned()),
            id: r.id,
            action: r.action,
            actor_user_id: r.actor_user_id,
            target_type: r.target_type,
            target_id: r.target_id,
            details: r.details,
            ip: r.ip,
            created_at: r.created_at,
        })
        .collect();
    Ok(axum::Json(AuditPage { data, next_cursor }))
}
