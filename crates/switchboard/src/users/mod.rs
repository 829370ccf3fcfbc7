//! Users: the API view and the queries that the auth and team features share.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::enums::Role;
use crate::entities::users;
use crate::error::AppResult;

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDto {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<users::Model> for UserDto {
    fn from(u: users::Model) -> Self {
        UserDto {
            id: u.id,
            tenant_id: u.tenant_id,
            email: u.email,
            name: u.name,
            role: u.role,
            active: u.active,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
        }
    }
}

/// Looks a user up by normalised email (the column holds lower-cased addresses).
pub async fn find_by_email<C: ConnectionTrait>(db: &C, email: &str) -> AppResult<Option<users::Model>> {
    Ok(users::Entity::find().filter(users::Column::Email.eq(email)).one(db).await?)
}

pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Option<users::Model>> {
    Ok(users::Entity::find_by_id(id).one(db).await?)
}

/// The display name of each of the tenant's users (agents and admins, for the inbox).
pub async fn display_names<C: ConnectionTrait>(
    db: &C,
    tenant: crate::ids::TenantId,
) -> AppResult<std::collections::HashMap<Uuid, String>> {
    use crate::db::Scoped;
    Ok(users::Entity::of(tenant).all(db).await?.into_iter().map(|u| (u.id, u.name)).collect())
}
