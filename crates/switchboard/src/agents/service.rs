//! Agent queries and changes, and round-robin assignment. Every function takes the tenant.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, NullOrdering, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::enums::{AgentStatus, ConversationStatus, Role};
use crate::entities::{agents, conversations, users};
use crate::error::{AppError, AppResult};
use crate::events::DomainEvent;
use crate::ids::{TenantId, UserId};
use crate::state::AppState;

/// Roles that work the inbox and so have an agent row.
const INBOX_ROLES: [Role; 2] = [Role::TenantAdmin, Role::Agent];

/// An agent as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentDto {
    pub id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub status: AgentStatus,
    /// Open (not resolved) conversations round-robin may give this agent at most.
    pub max_concurrent: i32,
    /// Conversations assigned to the agent that are not resolved.
    pub open_conversations: i64,
    pub status_changed_at: DateTime<Utc>,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

fn dto(a: agents::Model, u: &users::Model, open: i64) -> AgentDto {
    AgentDto {
        id: a.id,
        user_id: a.user_id,
        display_name: a.display_name,
        email: u.email.clone(),
        role: u.role,
        status: a.status,
        max_concurrent: a.max_concurrent,
        open_conversations: open,
        status_changed_at: a.status_changed_at,
        last_assigned_at: a.last_assigned_at,
    }
}

fn new_row(u: &users::Model, tenant: TenantId) -> agents::ActiveModel {
    let now = crate::db::now();
    agents::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.0),
        user_id: Set(u.id),
        display_name: Set(u.name.clone()),
        status: Set(AgentStatus::Offline),
        max_concurrent: Set(10),
        status_changed_at: Set(now),
        last_assigned_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Active users of the tenant who work the inbox.
async fn inbox_users<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<Vec<users::Model>, DbErr> {
    users::Entity::of(tenant)
        .filter(users::Column::Active.eq(true))
        .filter(users::Column::Role.is_in(INBOX_ROLES))
        .all(db)
        .await
}

/// Creates the missing agent rows of the given users (a concurrent creation is harmless).
async fn insert_missing<C: ConnectionTrait>(db: &C, tenant: TenantId, missing: &[&users::Model]) -> Result<(), DbErr> {
    if missing.is_empty() {
        return Ok(());
    }
    agents::Entity::insert_many(missing.iter().map(|u| new_row(u, tenant)))
        .on_conflict(OnConflict::column(agents::Column::UserId).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Open conversations per assignee in the tenant.
async fn open_counts<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<HashMap<Uuid, i64>, DbErr> {
    let rows: Vec<(Option<Uuid>, i64)> = conversations::Entity::of(tenant)
        .select_only()
        .column(conversations::Column::AssigneeId)
        .column_as(conversations::Column::Id.count(), "n")
        .filter(conversations::Column::AssigneeId.is_not_null())
        .filter(conversations::Column::Status.ne(ConversationStatus::Resolved))
        .group_by(conversations::Column::AssigneeId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|(a, n)| a.map(|a| (a, n))).collect())
}

/// The tenant's agents (TENANT_ADMIN and AGENT users), creating rows missing for any of them.
pub async fn list(state: &AppState, tenant: TenantId) -> AppResult<Vec<AgentDto>> {
    let us = inbox_users(&state.db, tenant).await?;
    let mut rows = agents::Entity::of(tenant).all(&state.db).await?;
    let missing: Vec<&users::Model> = us.iter().filter(|u| !rows.iter().any(|a| a.user_id == u.id)).collect();
    if !missing.is_empty() {
        insert_missing(state.writer(), tenant, &missing).await?;
        rows = agents::Entity::of(tenant).all(state.writer()).await?;
    }
    let counts = open_counts(&state.db, tenant).await?;
    let by_id: HashMap<Uuid, &users::Model> = us.iter().map(|u| (u.id, u)).collect();
    let mut out: Vec<AgentDto> = rows
        .into_iter()
        .filter_map(|a| {
            let u = by_id.get(&a.user_id)?;
            let open = counts.get(&a.user_id).copied().unwrap_or(0);
            Some(dto(a, u, open))
        })
        .collect();
    out.sort_by(|a, b| a.display_name.to_lowercase().cmp(&b.display_name.to_lowercase()).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Parsed changes to an agent.
#[derive(Default)]
pub struct AgentChanges {
    pub status: Option<AgentStatus>,
    pub max_concurrent: Option<i32>,
}

/// Which agent to change.
pub enum Target {
    /// The caller's own row (created when missing).
    User(UserId),
    /// An agent row of the tenant by id.
    Agent(Uuid),
}

/// Changes an agent; a status change publishes `agent.status`.
pub async fn update(state: &AppState, tenant: TenantId, target: Target, ch: AgentChanges) -> AppResult<AgentDto> {
    let txn = state.writer().begin().await?;
    let find = agents::Entity::of(tenant);
    let (current, user) = match target {
        Target::User(u) => {
            let user = users::Entity::by_id(tenant, u.0)
                .filter(users::Column::Active.eq(true))
                .filter(users::Column::Role.is_in(INBOX_ROLES))
                .one(&txn)
                .await?
                .ok_or_else(|| AppError::not_found("agent"))?;
            let by_user = find.filter(agents::Column::UserId.eq(u.0));
            let a = match by_user.clone().one(&txn).await? {
                Some(a) => a,
                None => {
                    insert_missing(&txn, tenant, &[&user]).await?;
                    by_user.one(&txn).await?.ok_or_else(|| AppError::not_found("agent"))?
                }
            };
            (a, user)
        }
        Target::Agent(id) => {
            let a =
                find.filter(agents::Column::Id.eq(id)).one(&txn).await?.ok_or_else(|| AppError::not_found("agent"))?;
            let user = users::Entity::secure_find(&txn, tenant, a.user_id)
                .await?
                .ok_or_else(|| AppError::not_found("agent"))?;
            (a, user)
        }
    };
    let now = crate::db::now();
    let status_change = ch.status.filter(|s| *s != current.status);
    let mut am: agents::ActiveModel = current.into();
    if let Some(s) = status_change {
        am.status = Set(s);
        am.status_changed_at = Set(now);
    }
    if let Some(m) = ch.max_concurrent {
        am.max_concurrent = Set(m);
    }
    am.updated_at = Set(now);
    let updated = am.update(&txn).await?;
    let open = open_counts(&txn, tenant).await?.get(&updated.user_id).copied().unwrap_or(0);
    txn.commit().await?;
    if let Some(s) = status_change {
        state.events.publish(DomainEvent::new(
            tenant.0,
            crate::events::Event::AgentStatus(crate::events::AgentStatusChanged {
                agent_id: updated.id,
                user_id: updated.user_id,
                status: s,
            }),
        ));
    }
    Ok(dto(updated, &user, open))
}

/// Picks the next agent for a new conversation: among online agents below their
/// `max_concurrent` open conversations, the one assigned longest ago (never assigned first).
/// Their `last_assigned_at` moves to now with a conditional update, so two concurrent picks never
/// both take the same turn. Returns the agent's user id, or `None` when nobody is available.
/// The agent row of `user` (if any) shows the user's current name.
pub async fn sync_display_name<C: ConnectionTrait>(db: &C, user: &users::Model) -> Result<(), DbErr> {
    agents::Entity::update_many()
        .col_expr(agents::Column::DisplayName, Expr::value(user.name.clone()))
        .filter(agents::Column::UserId.eq(user.id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn pick_round_robin<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<Option<Uuid>, DbErr> {
    let inbox_user_ids = Query::select()
        .column(users::Column::Id)
        .from(users::Entity)
        .and_where(users::Column::TenantId.eq(tenant.0))
        .and_where(users::Column::Active.eq(true))
        .and_where(users::Column::Role.is_in(INBOX_ROLES))
        .to_owned();
    let candidates = agents::Entity::of(tenant)
        .filter(agents::Column::Status.eq(AgentStatus::Online))
        .filter(agents::Column::UserId.in_subquery(inbox_user_ids))
        .order_by_with_nulls(agents::Column::LastAssignedAt, Order::Asc, NullOrdering::First)
        .order_by_asc(agents::Column::Id)
        .all(db)
        .await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let counts = open_counts(db, tenant).await?;
    for a in candidates {
        let open = counts.get(&a.user_id).copied().unwrap_or(0);
        if open >= a.max_concurrent as i64 {
            continue;
        }
        let now = crate::db::now();
        // Compare-and-set on the turn we read: a concurrent pick that took it changes the value.
        let same_turn = match a.last_assigned_at {
            Some(t) => Condition::all().add(agents::Column::LastAssignedAt.eq(t)),
            None => Condition::all().add(agents::Column::LastAssignedAt.is_null()),
        };
        let res = agents::Entity::update_of(tenant)
            .col_expr(agents::Column::LastAssignedAt, Expr::value(now))
            .filter(agents::Column::Id.eq(a.id))
            .filter(agents::Column::Status.eq(AgentStatus::Online))
            .filter(same_turn)
            .exec(db)
            .await?;
        if res.rows_affected == 1 {
            return Ok(Some(a.user_id));
        }
    }
    Ok(None)
}
