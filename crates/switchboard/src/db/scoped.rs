//! Tenant scoping, once per entity: every query of a tenant-owned table starts from
//! [`Scoped::of`], [`Scoped::secure_find`], [`Scoped::update_of`] or [`Scoped::delete_of`], so
//! the `tenant_id = $1` filter is part of how the query is begun and cannot be forgotten halfway
//! down a builder chain (svix's `secure_find` is the model).
//!
//! Tables whose `tenant_id` is nullable (users — a system admin has none —, jobs, refresh tokens,
//! webhook events, audit log) are tenant-owned too: `tenant_id = $1` never matches a NULL, so
//! `of(t)` is exactly "the rows of tenant t", as the hand-written `eq(t)` was.

use sea_orm::sea_query::IntoCondition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, DeleteMany, EntityTrait, PrimaryKeyTrait, QueryFilter, Select, UpdateMany,
};
use uuid::Uuid;

use crate::entities::*;
use crate::ids::TenantId;

/// An entity with a `tenant_id` column. Implemented by [`tenant_owned!`] only.
pub trait TenantOwned: EntityTrait {
    /// The entity's `tenant_id` column.
    fn tenant_col() -> Self::Column;

    /// The condition `tenant_id = tenant`, for the rare query that is not begun here
    /// (an `update_many` with a `set` model, a join).
    fn tenant_is(tenant: TenantId) -> sea_orm::Condition {
        Self::tenant_col().eq(tenant.0).into_condition()
    }
}

/// The tenant-scoped beginnings of queries; implemented for every [`TenantOwned`] entity.
pub trait Scoped: TenantOwned {
    /// Every row of the tenant: the start of every tenant-scoped query.
    fn of(tenant: TenantId) -> Select<Self>;

    /// The row with this primary key, only if it belongs to the tenant, as a query to refine
    /// (another filter, `select_only`) before `.one()`.
    fn by_id(tenant: TenantId, id: Uuid) -> Select<Self>
    where
        <Self::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>;

    /// One row by primary key, only if it belongs to the tenant (None otherwise — callers turn
    /// it into 404, so another tenant's id looks like no id at all).
    #[allow(async_fn_in_trait)]
    async fn secure_find<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> Result<Option<Self::Model>, DbErr>
    where
        <Self::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>;

    /// `update_many` already filtered to the tenant.
    fn update_of(tenant: TenantId) -> UpdateMany<Self>;

    /// `delete_many` already filtered to the tenant.
    fn delete_of(tenant: TenantId) -> DeleteMany<Self>;
}

impl<E: TenantOwned> Scoped for E {
    fn of(tenant: TenantId) -> Select<E> {
        E::find().filter(E::tenant_is(tenant))
    }

    fn by_id(tenant: TenantId, id: Uuid) -> Select<E>
    where
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
    {
        E::find_by_id(id).filter(E::tenant_is(tenant))
    }

    async fn secure_find<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> Result<Option<E::Model>, DbErr>
    where
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
    {
        E::by_id(tenant, id).one(db).await
    }

    fn update_of(tenant: TenantId) -> UpdateMany<E> {
        E::update_many().filter(E::tenant_is(tenant))
    }

    fn delete_of(tenant: TenantId) -> DeleteMany<E> {
        E::delete_many().filter(E::tenant_is(tenant))
    }
}

/// `tenant_owned!(contacts, …)`: each module's `Entity` is [`TenantOwned`] through its
/// `Column::TenantId`.
macro_rules! tenant_owned {
    ($($m:ident),* $(,)?) => {
        $(impl TenantOwned for $m::Entity {
            fn tenant_col() -> $m::Column {
                $m::Column::TenantId
            }
        })*
    };
}

// Every entity with a `tenant_id` column (daily_usage's is half of its primary key; jobs have an
// i64 key, so `secure_find` does not apply to them, `of` / `update_of` do).
tenant_owned!(
    account_events,
    agents,
    api_keys,
    audit_log,
    campaign_recipients,
    campaigns,
    canned_responses,
    contact_identity_changes,
    contacts,
    conversation_notes,
    conversations,
    daily_usage,
    invitations,
    jobs,
    media,
    messages,
    pending_statuses,
    refresh_tokens,
    segments,
    templates,
    users,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
    whatsapp_accounts,
);
