//! `/api/audit-log`: the tenant's audit entries, newest first (TENANT_ADMIN); `/api/admin/audit`:
//! every entry, the tenants' and the platform's own, for the operator (SYSTEM_ADMIN).

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::service::{self, AuditEntryDto, ListFilter, Scope};
use crate::access::extract::{Authed, SystemAdminRole, TenantAdminRole};
use crate::error::{AppResult, ErrorBody, Validator};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_log)).routes(routes!(list_platform_audit))
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

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub data: Vec<AuditEntryDto>,
    pub next_cursor: Option<String>,
}

/// The checks both listings share: the cursor and the action filter.
fn cursor_and_action<'a>(
    v: &mut Validator,
    cursor: Option<&str>,
    action: Option<&'a str>,
) -> (Option<(DateTime<Utc>, Uuid)>, Option<&'a str>) {
    let cursor = cursor.and_then(|c| v.check("cursor", crate::pagination::decode(c).map_err(|e| e.message)));
    let action = action.map(str::trim).filter(|a| !a.is_empty());
    if action.is_some_and(|a| a.len() > 100) {
        v.push("action", "must be at most 100 characters");
    }
    (cursor, action)
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
    let (cursor, action) = cursor_and_action(&mut v, p.cursor.as_deref(), p.action.as_deref());
    v.finish()?;
    let limit = crate::pagination::limit(p.limit, 50, 200);
    let filter = ListFilter { scope: Scope::Tenant(auth.tenant()?), action, actor_user_id: None };
    let (rows, next_cursor) = service::list(&state.db, &filter, cursor, limit).await?;
    let data = rows.into_iter().map(|r| r.entry).collect();
    Ok(axum::Json(AuditPage { data, next_cursor }))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PlatformAuditParams {
    /// A tenant's id, or `platform` for the entries of no tenant (the operator's sign-ins, system
    /// admins created); absent: every entry.
    pub tenant_id: Option<String>,
    /// An exact action (`admin.tenant_update`), or a prefix ending in `.` (`admin.`).
    pub action: Option<String>,
    /// The user who acted.
    pub actor_user_id: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<u64>,
}

/// An audit entry with its tenant.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAuditEntryDto {
    /// The tenant the entry belongs to; `null` for the platform's own entries.
    pub tenant_id: Option<Uuid>,
    #[serde(flatten)]
    pub entry: AuditEntryDto,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAuditPage {
    pub data: Vec<PlatformAuditEntryDto>,
    pub next_cursor: Option<String>,
}

fn parse_uuid(raw: &str) -> Result<Uuid, String> {
    raw.trim().parse().map_err(|_| "must be a UUID".to_string())
}

/// Every audit entry across tenants and the platform's own (no tenant), newest first,
/// keyset-paginated.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", params(PlatformAuditParams), security(("bearer" = [])),
    responses((status = 200, body = PlatformAuditPage), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_platform_audit(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
    Query(p): Query<PlatformAuditParams>,
) -> AppResult<axum::Json<PlatformAuditPage>> {
    let mut v = Validator::new();
    let (cursor, action) = cursor_and_action(&mut v, p.cursor.as_deref(), p.action.as_deref());
    let scope = match p.tenant_id.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Some(Scope::AdminAll),
        Some("platform") => Some(Scope::AdminPlatform),
        Some(t) => {
            v.check("tenantId", parse_uuid(t).map_err(|_| "must be a UUID or platform".into())).map(Scope::AdminTenant)
        }
    };
    let actor_user_id = p.actor_user_id.as_deref().and_then(|a| v.check("actorUserId", parse_uuid(a)));
    v.finish()?;
    let limit = crate::pagination::limit(p.limit, 50, 200);
    let filter = ListFilter { scope: scope.unwrap_or(Scope::AdminAll), action, actor_user_id };
    let (rows, next_cursor) = service::list(&state.db, &filter, cursor, limit).await?;
    let data = rows.into_iter().map(|r| PlatformAuditEntryDto { tenant_id: r.tenant_id, entry: r.entry }).collect();
    Ok(axum::Json(PlatformAuditPage { data, next_cursor }))
}
