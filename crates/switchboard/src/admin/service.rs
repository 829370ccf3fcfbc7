//! The platform operator's queries and changes across tenants. No HTTP here.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit;
use crate::entities::enums::{Role, TenantStatus};
use crate::entities::{daily_usage, tenants, users, whatsapp_accounts};
use crate::error::{AppError, AppResult};
use crate::health::QueueStats;
use crate::ids::UserId;
use crate::state::AppState;
use crate::tenants::TenantDto;
use crate::usage::report::{MonthToDate, percent};

/// A tenant with its size and month-to-date usage.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminTenantDto {
    #[serde(flatten)]
    pub tenant: TenantDto,
    /// Users of the tenant (any role, active or not).
    pub users: i64,
    /// Connected WhatsApp numbers.
    pub numbers: i64,
    pub month_to_date: MonthToDate,
}

fn first_of_month() -> NaiveDate {
    let today = Utc::now().date_naive();
    NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today)
}

async fn count_by_tenant<C, E>(db: &C, col: E::Column, ids: &[Uuid]) -> AppResult<HashMap<Uuid, i64>>
where
    C: ConnectionTrait,
    E: EntityTrait,
{
    let rows: Vec<(Option<Uuid>, i64)> = E::find()
        .select_only()
        .column(col)
        .column_as(col.count(), "n")
        .filter(col.is_in(ids.iter().copied()))
        .group_by(col)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|(t, n)| t.map(|t| (t, n))).collect())
}

/// Messages out this month per tenant.
async fn month_out<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> AppResult<HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, Option<i64>)> = daily_usage::Entity::find()
        .select_only()
        .column(daily_usage::Column::TenantId)
        .expr_as(Func::cast_as(Func::sum(Expr::col(daily_usage::Column::MessagesOut)), "bigint"), "s")
        .filter(daily_usage::Column::TenantId.is_in(ids.iter().copied()))
        .filter(daily_usage::Column::Day.gte(first_of_month()))
        .group_by(daily_usage::Column::TenantId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(t, s)| (t, s.unwrap_or(0))).collect())
}

async fn with_counts<C: ConnectionTrait>(db: &C, rows: Vec<tenants::Model>) -> AppResult<Vec<AdminTenantDto>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let users = count_by_tenant::<_, users::Entity>(db, users::Column::TenantId, &ids).await?;
    let numbers =
        count_by_tenant::<_, whatsapp_accounts::Entity>(db, whatsapp_accounts::Column::TenantId, &ids).await?;
    let out = month_out(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|t| {
            let used = out.get(&t.id).copied().unwrap_or(0);
            AdminTenantDto {
                users: users.get(&t.id).copied().unwrap_or(0),
                numbers: numbers.get(&t.id).copied().unwrap_or(0),
                month_to_date: MonthToDate {
                    messages_out: used,
                    limit: t.limit_monthly_messages,
                    percent: percent(used, t.limit_monthly_messages),
                },
                tenant: t.into(),
            }
        })
        .collect())
}

/// Tenants newest first, optionally only those with `status`.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    status: Option<TenantStatus>,
    limit: u64,
    offset: u64,
) -> AppResult<Vec<AdminTenantDto>> {
    let mut q = tenants::Entity::find();
    if let Some(s) = status {
        q = q.filter(tenants::Column::Status.eq(s));
    }
    let rows = q
        .order_by_desc(tenants::Column::CreatedAt)
        .order_by_desc(tenants::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    with_counts(db, rows).await
}

pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<AdminTenantDto> {
    let t = tenants::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("tenant"))?;
    with_counts(db, vec![t]).await?.pop().ok_or_else(|| AppError::not_found("tenant"))
}

/// The names of the given tenants (unknown ids are left out).
pub async fn tenant_names<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> AppResult<HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String)> = tenants::Entity::find()
        .select_only()
        .column(tenants::Column::Id)
        .column(tenants::Column::Name)
        .filter(tenants::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Parsed limit overrides (each > 0).
#[derive(Default, Debug, Clone, Copy)]
pub struct LimitChanges {
    pub messages_per_minute: Option<i32>,
    pub monthly_messages: Option<i64>,
    pub max_agents: Option<i32>,
    pub max_numbers: Option<i32>,
}

/// Parsed changes to a tenant.
#[derive(Default)]
pub struct TenantChanges {
    /// A plan of the catalogue: its limits are copied unless `limits` overrides them.
    pub plan: Option<&'static crate::tenants::plans::Plan>,
    pub limits: LimitChanges,
    pub status: Option<TenantStatus>,
}

/// Changes a tenant's plan, limits or status, recorded as `admin.tenant_update` in the tenant's
/// audit log. Suspension takes effect at once: sign-in and refresh are refused, sends are refused,
/// webhooks are still stored and processed.
pub async fn update(
    state: &AppState,
    actor: UserId,
    id: Uuid,
    ch: TenantChanges,
    ip: &str,
) -> AppResult<AdminTenantDto> {
    let txn = state.writer().begin().await?;
    let t = tenants::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("tenant"))?;
    let mut am: tenants::ActiveModel = t.clone().into();
    let mut details = Map::new();
    if let Some(p) = ch.plan {
        am.plan = Set(p.name.to_string());
        am.limit_messages_per_minute = Set(p.messages_per_minute);
        am.limit_monthly_messages = Set(p.monthly_messages);
        am.limit_max_agents = Set(p.max_agents);
        am.limit_max_numbers = Set(p.max_numbers);
    }
    let l = ch.limits;
    if let Some(v) = l.messages_per_minute {
        am.limit_messages_per_minute = Set(v);
    }
    if let Some(v) = l.monthly_messages {
        am.limit_monthly_messages = Set(v);
    }
    if let Some(v) = l.max_agents {
        am.limit_max_agents = Set(v);
    }
    if let Some(v) = l.max_numbers {
        am.limit_max_numbers = Set(v);
    }
    if let Some(s) = ch.status {
        am.status = Set(s);
    }
    am.updated_at = Set(crate::db::now());
    let updated = am.update(&txn).await?;
    let before = serde_json::to_value(TenantDto::from(t)).unwrap_or_default();
    let after = serde_json::to_value(TenantDto::from(updated.clone())).unwrap_or_default();
    for key in ["plan", "limits", "status"] {
        if before.get(key) != after.get(key) {
            details.insert(key.into(), json!({ "from": before.get(key), "to": after.get(key) }));
        }
    }
    let status_changed = details.contains_key("status");
    if !details.is_empty() {
        audit::record(
            &txn,
            audit::Entry {
                tenant_id: Some(id),
                actor_user_id: Some(actor.0),
                action: "admin.tenant_update",
                target_type: Some("tenant"),
                target_id: Some(id.to_string()),
                details: Value::Object(details),
                ip: Some(ip),
            },
        )
        .await?;
    }
    txn.commit().await?;
    if status_changed {
        // Its users' live tokens and its API keys are refused from the next request on.
        crate::access::standing::forget_tenant(id);
        crate::access::keys::forget_tenant(id);
    }
    get(&state.db, id).await
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCounts {
    pub total: i64,
    pub active: i64,
    pub suspended: i64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageCounts {
    pub messages_in: i64,
    pub messages_out: i64,
}

/// Platform totals.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformStats {
    pub tenants: TenantCounts,
    /// Tenant users (SYSTEM_ADMINs not included).
    pub users: i64,
    pub active_users: i64,
    pub numbers: i64,
    /// Today (UTC), from the daily usage counters.
    pub today: MessageCounts,
    /// This calendar month (UTC).
    pub month: MessageCounts,
    pub queues: Vec<QueueStats>,
    /// Stored webhook events that failed (unparseable, or their processing job died): listed by
    /// `GET /api/admin/webhook-events?state=failed`, replayable.
    pub failed_webhook_events: i64,
}

/// How many stored webhook events are `failed`.
async fn message_counts<C: ConnectionTrait>(db: &C, from: NaiveDate) -> AppResult<MessageCounts> {
    let sum = |c: daily_usage::Column| Func::cast_as(Func::sum(Expr::col(c)), "bigint");
    let row: Option<(Option<i64>, Option<i64>)> = daily_usage::Entity::find()
        .select_only()
        .expr_as(sum(daily_usage::Column::MessagesIn), "i")
        .expr_as(sum(daily_usage::Column::MessagesOut), "o")
        .filter(daily_usage::Column::Day.gte(from))
        .into_tuple()
        .one(db)
        .await?;
    let (i, o) = row.unwrap_or_default();
    Ok(MessageCounts { messages_in: i.unwrap_or(0), messages_out: o.unwrap_or(0) })
}

pub async fn stats(state: &AppState) -> AppResult<PlatformStats> {
    let db = &state.db;
    let by_status: Vec<(TenantStatus, i64)> = tenants::Entity::find()
        .select_only()
        .column(tenants::Column::Status)
        .column_as(tenants::Column::Id.count(), "n")
        .group_by(tenants::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut tenants = TenantCounts::default();
    for (s, n) in by_status {
        tenants.total += n;
        match s {
            TenantStatus::Active => tenants.active += n,
            TenantStatus::Suspended => tenants.suspended += n,
        }
    }
    let tenant_users = users::Entity::find().filter(users::Column::Role.ne(Role::SystemAdmin));
    let users = tenant_users.clone().count(db).await? as i64;
    let active_users = tenant_users.filter(users::Column::Active.eq(true)).count(db).await? as i64;
    let numbers = whatsapp_accounts::Entity::find().count(db).await? as i64;
    let today = message_counts(db, Utc::now().date_naive()).await?;
    let month = message_counts(db, first_of_month()).await?;
    let queues = crate::health::queue_stats(db).await?;
    let failed_webhook_events = crate::health::failed_webhook_events(db).await?;
    Ok(PlatformStats { tenants, users, active_users, numbers, today, month, queues, failed_webhook_events })
}
