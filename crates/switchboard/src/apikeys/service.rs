//! Creating, listing and revoking keys. Requests that carry one are authenticated by
//! `access::keys` (below the features); a revocation here tells it to forget its cached lookup.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter, QueryOrder, Set, TransactionTrait};
use serde::Serialize;
use serde_json::json;
use switchboard_crypto::token::{random_token, sha256_hex};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{KEY_PREFIX, KeyScope};
use crate::audit;
use crate::db::Scoped;
use crate::entities::api_keys;
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::state::AppState;

/// A key as listed (never the secret).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyDto {
    pub id: Uuid,
    pub name: String,
    /// The key's first 8 characters.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_by: Option<Uuid>,
    pub last_used_at: Option<chrono::DateTime<Utc>>,
    pub revoked_at: Option<chrono::DateTime<Utc>>,
    pub created_at: chrono::DateTime<Utc>,
}

impl From<api_keys::Model> for ApiKeyDto {
    fn from(k: api_keys::Model) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            created_by: k.created_by,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
            created_at: k.created_at,
        }
    }
}

/// Creates a key; returns it with the secret (shown only this once).
pub async fn create(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    name: String,
    scopes: Vec<KeyScope>,
    ip: &str,
) -> AppResult<(ApiKeyDto, String)> {
    let secret = random_token(KEY_PREFIX, 32);
    let mut scopes = scopes;
    scopes.sort();
    scopes.dedup();
    let stored = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
    let txn = state.writer().begin().await?;
    let key = api_keys::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.0),
        name: Set(name),
        prefix: Set(secret.chars().take(8).collect()),
        key_hash: Set(sha256_hex(secret.as_bytes())),
        scopes: Set(stored.clone()),
        created_by: Set(Some(actor.0)),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(crate::db::now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "api_key.create",
            target_type: Some("api_key"),
            target_id: Some(key.id.to_string()),
            details: json!({ "name": key.name, "scopes": stored, "prefix": key.prefix }),
            ip: Some(ip),
        },
    )
    .await?;
    txn.commit().await?;
    Ok((key.into(), secret))
}

pub async fn list(state: &AppState, tenant: TenantId) -> AppResult<Vec<ApiKeyDto>> {
    let rows = api_keys::Entity::of(tenant).order_by_desc(api_keys::Column::CreatedAt).all(&state.db).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Revokes a key of the tenant (another tenant's key is a 404). Revoking twice is harmless.
pub async fn revoke(state: &AppState, tenant: TenantId, actor: UserId, id: Uuid, ip: &str) -> AppResult<()> {
    let txn = state.writer().begin().await?;
    let key = api_keys::Entity::secure_find(&txn, tenant, id).await?.ok_or_else(|| AppError::not_found("API key"))?;
    if key.revoked_at.is_none() {
        let hash = key.key_hash.clone();
        let mut am: api_keys::ActiveModel = key.into();
        am.revoked_at = Set(Some(crate::db::now()));
        am.update(&txn).await?;
        audit::record(
            &txn,
            audit::Entry {
                tenant_id: Some(tenant.0),
                actor_user_id: Some(actor.0),
                action: "api_key.revoke",
                target_type: Some("api_key"),
                target_id: Some(id.to_string()),
                details: json!({}),
                ip: Some(ip),
            },
        )
        .await?;
        txn.commit().await?;
        crate::access::keys::forget(&[hash]);
    }
    Ok(())
}

/// Revokes every live key that `creator` created (they lost access: removed or deactivated), each
/// audited as `api_key.revoke` with the reason, in the caller's transaction. Returns the keys'
/// hashes: pass them to [`forget`] after the commit.
pub async fn revoke_created_by<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    creator: Uuid,
    actor: UserId,
    reason: &str,
    ip: &str,
) -> AppResult<Vec<String>> {
    let keys = api_keys::Entity::of(tenant)
        .filter(api_keys::Column::CreatedBy.eq(creator))
        .filter(api_keys::Column::RevokedAt.is_null())
        .all(db)
        .await?;
    let mut hashes = Vec::with_capacity(keys.len());
    for key in keys {
        hashes.push(key.key_hash.clone());
        let (id, name) = (key.id, key.name.clone());
        let mut am: api_keys::ActiveModel = key.into();
        am.revoked_at = Set(Some(crate::db::now()));
        am.update(db).await?;
        audit::record(
            db,
            audit::Entry {
                tenant_id: Some(tenant.0),
                actor_user_id: Some(actor.0),
                action: "api_key.revoke",
                target_type: Some("api_key"),
                target_id: Some(id.to_string()),
                details: json!({ "name": name, "reason": reason, "createdBy": creator }),
                ip: Some(ip),
            },
        )
        .await?;
    }
    Ok(hashes)
}
