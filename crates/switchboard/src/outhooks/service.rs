//! Endpoint CRUD, secret rotation and the delivery log. No HTTP here.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit;
use crate::db::Scoped;
use crate::entities::{webhook_deliveries, webhook_endpoints};
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::secrets::{self, Purpose};
use crate::state::AppState;

/// An endpoint as shown (never the secret, except in [`WithSecret`]).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointDto {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Public event types, or `["*"]`.
    pub events: Vec<String>,
    pub enabled: bool,
    /// Deliveries that failed for good in a row.
    pub consecutive_failures: i32,
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the endpoint was disabled automatically.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<webhook_endpoints::Model> for EndpointDto {
    fn from(e: webhook_endpoints::Model) -> Self {
        Self {
            id: e.id,
            url: e.url,
            description: e.description,
            events: serde_json::from_value(e.events).unwrap_or_default(),
            enabled: e.enabled,
            consecutive_failures: e.consecutive_failures,
            failing_since: e.failing_since,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret (create and rotate only).
#[derive(Serialize, ToSchema)]
pub struct WithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointDto,
    /// `whsec_<base64>`: the HMAC key is the base64 part, decoded.
    pub secret: String,
}

/// One delivery attempt.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDto {
    pub id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub attempt: i32,
    /// The receiver's HTTP status; null when no response came.
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub success: bool,
    pub created_at: DateTime<Utc>,
}

impl From<webhook_deliveries::Model> for DeliveryDto {
    fn from(d: webhook_deliveries::Model) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            attempt: d.attempt,
            status_code: d.status_code,
            duration_ms: d.duration_ms,
            error: d.error,
            success: d.success,
            created_at: d.created_at,
        }
    }
}

/// Parsed input of a create.
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
}

/// Parsed input of an update; `None` leaves a field as it is.
pub struct EndpointChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

async fn find(state: &AppState, tenant: TenantId, id: Uuid) -> AppResult<webhook_endpoints::Model> {
    webhook_endpoints::Entity::secure_find(&state.db, tenant, id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook endpoint"))
}

fn entry<'a>(
    tenant: TenantId,
    actor: UserId,
    action: &'a str,
    id: Uuid,
    details: Value,
    ip: &'a str,
) -> audit::Entry<'a> {
    audit::Entry {
        tenant_id: Some(tenant.0),
        actor_user_id: Some(actor.0),
        action,
        target_type: Some("webhook_endpoint"),
        target_id: Some(id.to_string()),
        details,
        ip: Some(ip),
    }
}

pub async fn create(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    n: NewEndpoint,
    ip: &str,
) -> AppResult<WithSecret> {
    let id = crate::db::new_id();
    let secret = super::new_secret();
    let now = crate::db::now();
    let txn = state.writer().begin().await?;
    let e = webhook_endpoints::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.0),
        url: Set(n.url),
        description: Set(n.description),
        events: Set(json!(n.events)),
        enabled: Set(n.enabled),
        secret_enc: Set(secrets::encrypt(&state.config.encryption_keys, tenant.0, id, Purpose::WebhookSecret, &secret)),
        consecutive_failures: Set(0),
        failing_since: Set(None),
        disabled_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let details = json!({ "url": e.url, "events": e.events });
    audit::record(&txn, entry(tenant, actor, "webhook_endpoint.create", id, details, ip)).await?;
    txn.commit().await?;
    super::deliver::invalidate(tenant);
    Ok(WithSecret { endpoint: e.into(), secret })
}

pub async fn list(state: &AppState, tenant: TenantId) -> AppResult<Vec<EndpointDto>> {
    let rows =
        webhook_endpoints::Entity::of(tenant).order_by_asc(webhook_endpoints::Column::CreatedAt).all(&state.db).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn get(state: &AppState, tenant: TenantId, id: Uuid) -> AppResult<EndpointDto> {
    Ok(find(state, tenant, id).await?.into())
}

pub async fn update(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    id: Uuid,
    c: EndpointChanges,
    ip: &str,
) -> AppResult<EndpointDto> {
    let e = find(state, tenant, id).await?;
    let reenabled = c.enabled == Some(true) && !e.enabled;
    let mut am: webhook_endpoints::ActiveModel = e.into();
    if let Some(url) = c.url {
        am.url = Set(url);
    }
    if let Some(events) = c.events {
        am.events = Set(json!(events));
    }
    if let Some(d) = c.description {
        am.description = Set(d);
    }
    if let Some(enabled) = c.enabled {
        am.enabled = Set(enabled);
    }
    if reenabled {
        // A fresh start: the failure streak that disabled it is forgotten.
        am.consecutive_failures = Set(0);
        am.failing_since = Set(None);
        am.disabled_reason = Set(None);
    }
    am.updated_at = Set(crate::db::now());
    let txn = state.writer().begin().await?;
    let e = am.update(&txn).await?;
    let details = json!({ "url": e.url, "events": e.events, "enabled": e.enabled });
    audit::record(&txn, entry(tenant, actor, "webhook_endpoint.update", id, details, ip)).await?;
    txn.commit().await?;
    super::deliver::invalidate(tenant);
    Ok(e.into())
}

pub async fn delete(state: &AppState, tenant: TenantId, actor: UserId, id: Uuid, ip: &str) -> AppResult<()> {
    let e = find(state, tenant, id).await?;
    let txn = state.writer().begin().await?;
    webhook_endpoints::Entity::delete_by_id(e.id).exec(&txn).await?;
    audit::record(&txn, entry(tenant, actor, "webhook_endpoint.delete", id, json!({ "url": e.url }), ip)).await?;
    txn.commit().await?;
    super::deliver::invalidate(tenant);
    Ok(())
}

/// A new secret; deliveries signed from now on use it.
pub async fn rotate_secret(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    id: Uuid,
    ip: &str,
) -> AppResult<WithSecret> {
    let e = find(state, tenant, id).await?;
    let secret = super::new_secret();
    let mut am: webhook_endpoints::ActiveModel = e.into();
    am.secret_enc = Set(secrets::encrypt(&state.config.encryption_keys, tenant.0, id, Purpose::WebhookSecret, &secret));
    am.updated_at = Set(crate::db::now());
    let txn = state.writer().begin().await?;
    let e = am.update(&txn).await?;
    audit::record(&txn, entry(tenant, actor, "webhook_endpoint.rotate_secret", id, json!({}), ip)).await?;
    txn.commit().await?;
    super::deliver::invalidate(tenant);
    Ok(WithSecret { endpoint: e.into(), secret })
}

/// The newest delivery attempts of an endpoint.
pub async fn deliveries(state: &AppState, tenant: TenantId, id: Uuid, limit: u64) -> AppResult<Vec<DeliveryDto>> {
    let e = find(state, tenant, id).await?;
    let rows = webhook_deliveries::Entity::of(tenant)
        .filter(webhook_deliveries::Column::EndpointId.eq(e.id))
        .order_by_desc(webhook_deliveries::Column::CreatedAt)
        .order_by_desc(webhook_deliveries::Column::Attempt)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}
