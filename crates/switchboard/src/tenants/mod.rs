//! Tenants: plans, limits, theme, and the queries that create and read them.

pub mod plans;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::enums::TenantStatus;
use crate::entities::tenants;
use crate::error::AppResult;
use crate::ids::TenantId;

/// Plan limits enforced by the platform.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub messages_per_minute: i32,
    pub monthly_messages: i64,
    pub max_agents: i32,
    pub max_numbers: i32,
}

/// Branding applied through CSS custom properties.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Theme {
    pub color: String,
    pub name: String,
    pub logo_url: Option<String>,
}

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDto {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub status: TenantStatus,
    pub plan: String,
    pub limits: Limits,
    pub theme: Theme,
    pub billing_email: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<tenants::Model> for TenantDto {
    fn from(t: tenants::Model) -> Self {
        TenantDto {
            id: t.id,
            name: t.name,
            slug: t.slug,
            status: t.status,
            plan: t.plan,
            limits: Limits {
                messages_per_minute: t.limit_messages_per_minute,
                monthly_messages: t.limit_monthly_messages,
                max_agents: t.limit_max_agents,
                max_numbers: t.limit_max_numbers,
            },
            theme: Theme { color: t.theme_color, name: t.theme_name, logo_url: t.theme_logo_url },
            billing_email: t.billing_email,
            created_at: t.created_at,
        }
    }
}

/// Default per-tenant settings (business hours, opt-out keywords, …), stored as JSON.
pub fn default_settings() -> serde_json::Value {
    serde_json::json!({
        "timeZone": "UTC",
        "businessHours": null,
        "optOutKeywords": ["STOP", "UNSUBSCRIBE"],
        "autoAssign": false,
        "defaultLanguage": "en_US"
    })
}

/// Inserts a tenant on `plan` with the plan's limits and the default theme.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    name: &str,
    slug: &str,
    plan: &plans::Plan,
) -> AppResult<tenants::Model> {
    let now = crate::db::now();
    let model = tenants::ActiveModel {
        id: Set(crate::db::new_id()),
        name: Set(name.to_string()),
        slug: Set(slug.to_string()),
        status: Set(TenantStatus::Active),
        plan: Set(plan.name.to_string()),
        limit_messages_per_minute: Set(plan.messages_per_minute),
        limit_monthly_messages: Set(plan.monthly_messages),
        limit_max_agents: Set(plan.max_agents),
        limit_max_numbers: Set(plan.max_numbers),
        theme_color: Set("#0f766e".into()),
        theme_name: Set(name.to_string()),
        theme_logo_url: Set(None),
        billing_email: Set(None),
        settings: Set(default_settings()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(model.insert(db).await?)
}

pub async fn find<C: ConnectionTrait>(db: &C, id: TenantId) -> AppResult<Option<tenants::Model>> {
    Ok(tenants::Entity::find_by_id(id.0).one(db).await?)
}
