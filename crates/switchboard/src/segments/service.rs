//! Saved segments and evaluating rules over contacts. Every function takes the caller's tenant.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Facts, Rule};
use crate::db::Scoped;
use crate::entities::enums::ConversationStatus;
use crate::entities::{contacts, conversations, segments};
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};

/// Contacts read per page while evaluating.
pub const PAGE: u64 = 1_000;
/// At most this many saved segments per tenant.
pub const MAX_SAVED: u64 = 500;

/// A saved segment.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SegmentDto {
    pub id: Uuid,
    pub name: String,
    /// The rules (docs/CAMPAIGNS.md, "Segments").
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<segments::Model> for SegmentDto {
    fn from(m: segments::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            rules: m.rules,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The segment facts of a page of contacts, in one query: when each last wrote (on any number)
/// and the status of their most recently active conversation.
pub async fn facts_of<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    page: &[contacts::Model],
) -> Result<HashMap<Uuid, Facts>, sea_orm::DbErr> {
    let ids: Vec<Uuid> = page.iter().map(|c| c.id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, ConversationStatus, Option<DateTime<Utc>>, DateTime<Utc>)> = conversations::Entity::of(tenant)
        .select_only()
        .column(conversations::Column::ContactId)
        .column(conversations::Column::Status)
        .column(conversations::Column::LastInboundAt)
        .column(conversations::Column::LastMessageAt)
        .filter(conversations::Column::ContactId.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, (Facts, DateTime<Utc>)> = HashMap::new();
    for (contact, status, inbound, active) in rows {
        let e = out.entry(contact).or_insert((Facts::default(), DateTime::<Utc>::MIN_UTC));
        e.0.last_inbound_at = e.0.last_inbound_at.max(inbound);
        if active >= e.1 {
            e.0.conversation_status = Some(status);
            e.1 = active;
        }
    }
    Ok(out.into_iter().map(|(k, (f, _))| (k, f)).collect())
}

/// One page of the tenant's contacts after `after` (id order), with those `admits` keeps, and
/// the page's last id (`None`: no more). `needs_facts`: fetch [`Facts`] for the page.
pub async fn scan_page<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    after: Option<Uuid>,
    limit: u64,
    needs_facts: bool,
    admits: impl Fn(&contacts::Model, &Facts, DateTime<Utc>) -> bool,
) -> Result<(Vec<contacts::Model>, Option<Uuid>), sea_orm::DbErr> {
    let mut q = contacts::Entity::of(tenant);
    if let Some(a) = after {
        q = q.filter(contacts::Column::Id.gt(a));
    }
    let rows = q.order_by_asc(contacts::Column::Id).limit(limit).all(db).await?;
    let last = rows.last().map(|c| c.id);
    let facts = if needs_facts { facts_of(db, tenant, &rows).await? } else { HashMap::new() };
    let (none, now) = (Facts::default(), crate::db::now());
    let kept = rows.into_iter().filter(|c| admits(c, facts.get(&c.id).unwrap_or(&none), now)).collect();
    Ok((kept, last))
}

/// How many of the tenant's contacts a rule admits now, and ten of them.
pub async fn preview(db: &DatabaseConnection, tenant: TenantId, rule: &Rule) -> AppResult<(u64, Vec<contacts::Model>)> {
    let pages = |after| scan_page(db, tenant, after, PAGE, rule.needs_facts(), |c, f, now| rule.admits(c, f, now));
    Ok(count_and_sample(pages).await?)
}

/// Walks pages (`page(after)` → the kept contacts and the page's last id, `None` at the end) and
/// counts them, keeping the first ten.
pub async fn count_and_sample<F, Fut>(mut page: F) -> Result<(u64, Vec<contacts::Model>), sea_orm::DbErr>
where
    F: FnMut(Option<Uuid>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<contacts::Model>, Option<Uuid>), sea_orm::DbErr>>,
{
    let (mut after, mut n, mut sample) = (None, 0u64, Vec::new());
    loop {
        let (kept, last) = page(after).await?;
        n += kept.len() as u64;
        sample.extend(kept.into_iter().take(10usize.saturating_sub(sample.len())));
        match last {
            Some(l) => after = Some(l),
            None => return Ok((n, sample)),
        }
    }
}

fn name_taken(e: sea_orm::DbErr) -> AppError {
    if crate::db::is_unique_violation(&e) {
        AppError::conflict("segment_name_taken", "another segment already has this name")
    } else {
        e.into()
    }
}

pub async fn list(db: &DatabaseConnection, tenant: TenantId) -> AppResult<Vec<segments::Model>> {
    Ok(segments::Entity::of(tenant).order_by_asc(segments::Column::Name).all(db).await?)
}

/// The tenant's segment (404 for another tenant's).
pub async fn get<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<segments::Model> {
    segments::Entity::secure_find(db, tenant, id).await?.ok_or_else(|| AppError::not_found("segment"))
}

pub async fn create(
    db: &DatabaseConnection,
    tenant: TenantId,
    by: UserId,
    name: String,
    rule: &Rule,
) -> AppResult<segments::Model> {
    use sea_orm::PaginatorTrait;
    if segments::Entity::of(tenant).count(db).await? >= MAX_SAVED {
        return Err(AppError::conflict("segment_limit", format!("a workspace keeps at most {MAX_SAVED} segments")));
    }
    let now = crate::db::now();
    let row = segments::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.0),
        name: Set(name),
        rules: Set(rule.to_json()),
        created_by: Set(Some(by.0)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    row.insert(db).await.map_err(name_taken)
}

pub async fn update(
    db: &DatabaseConnection,
    tenant: TenantId,
    id: Uuid,
    name: Option<String>,
    rule: Option<&Rule>,
) -> AppResult<segments::Model> {
    let row = get(db, tenant, id).await?;
    let mut am: segments::ActiveModel = row.into();
    if let Some(n) = name {
        am.name = Set(n);
    }
    if let Some(r) = rule {
        am.rules = Set(r.to_json());
    }
    am.updated_at = Set(crate::db::now());
    am.update(db).await.map_err(name_taken)
}

/// Deleting a segment leaves the campaigns made from it as they are (they keep a copy).
pub async fn delete(db: &DatabaseConnection, tenant: TenantId, id: Uuid) -> AppResult<()> {
    let r = segments::Entity::delete_of(tenant).filter(segments::Column::Id.eq(id)).exec(db).await?;
    if r.rows_affected == 0 {
        return Err(AppError::not_found("segment"));
    }
    Ok(())
}

/// A saved segment's rules (for a campaign's copy).
pub async fn rules_of<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<Rule> {
    let row = get(db, tenant, id).await?;
    Rule::parse(&row.rules).map_err(|e| AppError::internal(anyhow::anyhow!("stored segment {id} is invalid: {e}")))
}
