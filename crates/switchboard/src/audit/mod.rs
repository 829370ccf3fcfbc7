//! The audit log: who did what, and when. Written in the same transaction as the change it records.

pub mod routes;
pub mod service;

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::audit_log;
use crate::error::AppResult;

/// One audit entry to record.
pub struct Entry<'a> {
    pub tenant_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<String>,
    pub details: Value,
    pub ip: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// A user acting on their own account (sign-in, profile, password).
    pub fn by_user(tenant_id: Option<Uuid>, user_id: Uuid, action: &'a str, details: Value, ip: &'a str) -> Self {
        Self {
            tenant_id,
            actor_user_id: Some(user_id),
            action,
            target_type: Some("user"),
            target_id: Some(user_id.to_string()),
            details,
            ip: Some(ip),
        }
    }
}

pub async fn record<C: ConnectionTrait>(db: &C, e: Entry<'_>) -> AppResult<()> {
    Ok(record_db(db, e).await?)
}

/// [`record`] for callers that work in database errors (webhook processing, jobs).
pub async fn record_db<C: ConnectionTrait>(db: &C, e: Entry<'_>) -> Result<(), sea_orm::DbErr> {
    audit_log::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(e.tenant_id),
        actor_user_id: Set(e.actor_user_id),
        action: Set(e.action.to_string()),
        target_type: Set(e.target_type.map(str::to_string)),
        target_id: Set(e.target_id),
        details: Set(e.details),
        ip: Set(e.ip.map(str::to_string)),
        created_at: Set(crate::db::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
