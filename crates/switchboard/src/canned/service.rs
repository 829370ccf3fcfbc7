//! Canned-response queries and changes. Every function takes the caller's tenant.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::canned_responses;
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::state::AppState;

/// A saved reply.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CannedDto {
    pub id: Uuid,
    /// What agents type after `/` to insert it: `[a-z0-9_-]{1,32}`, unique in the tenant.
    pub shortcut: String,
    pub title: String,
    pub body: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<canned_responses::Model> for CannedDto {
    fn from(m: canned_responses::Model) -> Self {
        CannedDto {
            id: m.id,
            shortcut: m.shortcut,
            title: m.title,
            body: m.body,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Checks a shortcut: `[a-z0-9_-]{1,32}`.
pub fn parse_shortcut(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty()
        || s.len() > 32
        || !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err("must be 1 to 32 characters of a-z, 0-9, _ and -".into());
    }
    Ok(s.to_string())
}

/// Checks a body: 1 to 4096 characters, not only spaces.
pub fn parse_body(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("is required".into());
    }
    if raw.chars().count() > 4096 {
        return Err("must be at most 4096 characters".into());
    }
    Ok(raw.to_string())
}

fn taken(e: sea_orm::DbErr) -> AppError {
    if crate::db::is_unique_violation(&e) {
        AppError::conflict("shortcut_taken", "another canned response already uses this shortcut")
    } else {
        e.into()
    }
}

/// The tenant's canned responses by shortcut, optionally those whose shortcut, title or body
/// contains `search` (case-insensitive).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    search: Option<&str>,
) -> AppResult<Vec<canned_responses::Model>> {
    let mut q = canned_responses::Entity::of(tenant);
    if let Some(s) = search {
        let mut escaped = String::new();
        for c in s.to_lowercase().chars() {
            if matches!(c, '\\' | '%' | '_') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        let like = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
        let lower = |c: canned_responses::Column| Expr::expr(Func::lower(Expr::col(c)));
        q = q.filter(
            Condition::any()
                .add(lower(canned_responses::Column::Shortcut).like(like()))
                .add(lower(canned_responses::Column::Title).like(like()))
                .add(lower(canned_responses::Column::Body).like(like())),
        );
    }
    Ok(q.order_by_asc(canned_responses::Column::Shortcut).all(db).await?)
}

/// The tenant's canned response, or 404 (also for another tenant's id).
pub async fn get<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<canned_responses::Model> {
    canned_responses::Entity::secure_find(db, tenant, id).await?.ok_or_else(|| AppError::not_found("canned response"))
}

/// Parsed input of a new canned response.
pub struct NewCanned {
    pub shortcut: String,
    pub title: String,
    pub body: String,
}

pub async fn create(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    input: NewCanned,
) -> AppResult<canned_responses::Model> {
    let now = crate::db::now();
    canned_responses::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.0),
        shortcut: Set(input.shortcut),
        title: Set(input.title),
        body: Set(input.body),
        created_by: Set(Some(actor.0)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(state.writer())
    .await
    .map_err(taken)
}

/// Parsed changes to a canned response.
#[derive(Default)]
pub struct CannedChanges {
    pub shortcut: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
}

pub async fn update(
    state: &AppState,
    tenant: TenantId,
    id: Uuid,
    ch: CannedChanges,
) -> AppResult<canned_responses::Model> {
    let txn = sea_orm::TransactionTrait::begin(state.writer()).await?;
    let current = get(&txn, tenant, id).await?;
    let mut am: canned_responses::ActiveModel = current.into();
    if let Some(s) = ch.shortcut {
        am.shortcut = Set(s);
    }
    if let Some(t) = ch.title {
        am.title = Set(t);
    }
    if let Some(b) = ch.body {
        am.body = Set(b);
    }
    am.updated_at = Set(crate::db::now());
    let updated = am.update(&txn).await.map_err(taken)?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn delete(state: &AppState, tenant: TenantId, id: Uuid) -> AppResult<()> {
    let res = canned_responses::Entity::delete_of(tenant)
        .filter(canned_responses::Column::Id.eq(id))
        .exec(state.writer())
        .await?;
    if res.rows_affected == 0 {
        return Err(AppError::not_found("canned response"));
    }
    Ok(())
}
