//! Conversation queries and changes. Every function takes the caller's tenant.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::auth::extract::Principal;
use crate::entities::conversations;
use crate::entities::enums::Role;
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;

/// The tenant's conversation, or 404 (also for another tenant's id).
pub async fn get<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
) -> AppResult<conversations::Model> {
    conversations::Entity::find_by_id(id)
        .filter(conversations::Column::TenantId.eq(tenant.0))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))
}

/// True when `who` may see `c`: admins always; agents when it is theirs or unassigned.
pub fn visible_to(who: &Principal, c: &conversations::Model) -> bool {
    match who.role {
        Role::Agent => c.assignee_id.is_none_or(|a| a == who.user_id.0),
        Role::TenantAdmin => true,
        _ => false,
    }
}

/// The conversation if the caller may see it; 404 otherwise (not 403: its existence is private).
pub async fn get_visible<C: ConnectionTrait>(
    db: &C,
    who: &Principal,
    id: Uuid,
) -> AppResult<conversations::Model> {
    let c = get(db, who.tenant()?, id).await?;
    if !visible_to(who, &c) {
        return Err(AppError::not_found("conversation"));
    }
    Ok(c)
}
