//! `/api/admin/*`: the platform operator's view across tenants (SYSTEM_ADMIN only).

use axum::extract::{Query, State};
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::{Authed, SystemAdminRole};
use crate::entities::tenants;
use crate::error::{AppResult, ErrorBody};
use crate::state::AppState;
use crate::tenants::TenantDto;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tenants))
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantList {
    pub data: Vec<TenantDto>,
}

/// All tenants, newest first.
#[utoipa::path(get, path = "/api/admin/tenants", tag = "admin", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = TenantList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_tenants(
    State(state): State<AppState>,
    _auth: Authed<SystemAdminRole>,
    Query(p): Query<ListParams>,
) -> AppResult<axum::Json<TenantList>> {
    let limit = p.limit.unwrap_or(50).clamp(1, 200);
    let rows = tenants::Entity::find()
        .order_by_desc(tenants::Column::CreatedAt)
        .limit(limit)
        .offset(p.offset.unwrap_or(0))
        .all(&state.db)
        .await?;
    Ok(axum::Json(TenantList { data: rows.into_iter().map(Into::into).collect() }))
}
