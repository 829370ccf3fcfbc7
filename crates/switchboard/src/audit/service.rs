//! Reading the audit log: one keyset-paginated query (newest first) for a tenant's own log and for
//! the operator's platform-wide view. No HTTP here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::{Scoped, TenantOwned};
use crate::entities::{audit_log, users};
use crate::error::AppResult;
use crate::ids::TenantId;

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

/// Whose entries a listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One tenant's log, as its TENANT_ADMIN sees it: actor emails only of the tenant's own users.
    Tenant(TenantId),
    /// The operator's view (SYSTEM_ADMIN) of one tenant's entries.
    AdminTenant(Uuid),
    /// The operator's view of the platform's own entries (no tenant).
    AdminPlatform,
    /// The operator's view of every entry, the tenants' and the platform's.
    AdminAll,
}

/// What to list.
pub struct ListFilter<'a> {
    pub scope: Scope,
    /// An exact action, or a prefix ending in `.`.
    pub action: Option<&'a str>,
    pub actor_user_id: Option<Uuid>,
}

/// One entry with the tenant it belongs to (`None`: the platform's own).
pub struct AuditRow {
    pub tenant_id: Option<Uuid>,
    pub entry: AuditEntryDto,
}

/// A page of entries, newest first, after `cursor` (`(created_at, id)` of the previous page's
/// last row), and the cursor of the next page when this one is full.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    f: &ListFilter<'_>,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> AppResult<(Vec<AuditRow>, Option<String>)> {
    let mut q = match f.scope {
        Scope::Tenant(t) => audit_log::Entity::of(t),
        Scope::AdminTenant(t) => audit_log::Entity::of(TenantId(t)),
        Scope::AdminPlatform => audit_log::Entity::find().filter(audit_log::Column::TenantId.is_null()),
        Scope::AdminAll => audit_log::Entity::find(),
    };
    match f.action {
        Some(a) if a.ends_with('.') => q = q.filter(audit_log::Column::Action.starts_with(a)),
        Some(a) => q = q.filter(audit_log::Column::Action.eq(a)),
        None => {}
    }
    if let Some(actor) = f.actor_user_id {
        q = q.filter(audit_log::Column::ActorUserId.eq(actor));
    }
    if let Some((ts, id)) = cursor {
        q = q.filter(crate::pagination::before(audit_log::Column::CreatedAt, audit_log::Column::Id, ts, id));
    }
    let rows =
        q.order_by_desc(audit_log::Column::CreatedAt).order_by_desc(audit_log::Column::Id).limit(limit).all(db).await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| crate::pagination::encode(r.created_at, r.id)))
        .flatten();
    let mut actor_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.actor_user_id).collect();
    actor_ids.sort();
    actor_ids.dedup();
    let emails: HashMap<Uuid, String> = if actor_ids.is_empty() {
        HashMap::new()
    } else {
        let mut uq = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::Email)
            .filter(users::Column::Id.is_in(actor_ids));
        // A tenant's log names only its own users (not the operator who changed its plan).
        if let Scope::Tenant(t) = f.scope {
            uq = uq.filter(users::Entity::tenant_is(t));
        }
        uq.into_tuple::<(Uuid, String)>().all(db).await?.into_iter().collect()
    };
    let data = rows
        .into_iter()
        .map(|r| AuditRow {
            tenant_id: r.tenant_id,
            entry: AuditEntryDto {
                actor_email: r.actor_user_id.and_then(|a| emails.get(&a).cloned()),
                id: r.id,
                action: r.action,
                actor_user_id: r.actor_user_id,
                target_type: r.target_type,
                target_id: r.target_id,
                details: r.details,
                ip: r.ip,
                created_at: r.created_at,
            },
        })
        .collect();
    Ok((data, next_cursor))
}
