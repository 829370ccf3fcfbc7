//! Conversation queries and changes. Every function takes the caller's tenant.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::access::principal::Principal;
use crate::db::Scoped;
use crate::entities::conversations;
use crate::entities::enums::Role;
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;

/// The tenant's conversation, or 404 (also for another tenant's id).
pub async fn get<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<conversations::Model> {
    conversations::Entity::secure_find(db, tenant, id).await?.ok_or_else(|| AppError::not_found("conversation"))
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
pub async fn get_visible<C: ConnectionTrait>(db: &C, who: &Principal, id: Uuid) -> AppResult<conversations::Model> {
    let c = get(db, who.tenant()?, id).await?;
    if !visible_to(who, &c) {
        return Err(AppError::not_found("conversation"));
    }
    Ok(c)
}

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{Condition, QueryOrder, QuerySelect, TransactionTrait};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::entities::enums::ConversationStatus;
use crate::entities::{contacts, messages, users};
use crate::events::DomainEvent;
use crate::state::AppState;

/// The contact as shown with a conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactSummary {
    pub id: Uuid,
    pub wa_id: Option<String>,
    /// The name the team gave, else the WhatsApp profile name.
    pub name: Option<String>,
    pub profile_name: Option<String>,
    pub opted_out: bool,
}

/// The 24-hour customer-service window.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    pub open: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A conversation as the inbox shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDto {
    pub id: Uuid,
    pub status: ConversationStatus,
    pub assignee_id: Option<Uuid>,
    #[schema(value_type = Vec<String>)]
    pub tags: serde_json::Value,
    pub whatsapp_account_id: Uuid,
    pub contact: ContactSummary,
    pub last_message_at: DateTime<Utc>,
    pub last_message_preview: Option<String>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub unread_count: i32,
    pub window: Window,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub fn dto(c: conversations::Model, contact: Option<&contacts::Model>) -> ConversationDto {
    let (open, expires_at) = crate::messages::outbound::window(&c);
    ConversationDto {
        id: c.id,
        status: c.status,
        assignee_id: c.assignee_id,
        tags: c.tags,
        whatsapp_account_id: c.whatsapp_account_id,
        contact: match contact {
            Some(k) => ContactSummary {
                id: k.id,
                wa_id: k.wa_id.clone(),
                name: k.name.clone().or(k.profile_name.clone()),
                profile_name: k.profile_name.clone(),
                opted_out: k.opted_out,
            },
            None => ContactSummary { id: c.contact_id, wa_id: None, name: None, profile_name: None, opted_out: false },
        },
        last_message_at: c.last_message_at,
        last_message_preview: c.last_message_preview,
        last_inbound_at: c.last_inbound_at,
        unread_count: c.unread_count,
        window: Window { open, expires_at },
        first_response_at: c.first_response_at,
        resolved_at: c.resolved_at,
        created_at: c.created_at,
    }
}

/// Loads contacts for a page of conversations in one query.
pub async fn with_contacts<C: ConnectionTrait>(
    db: &C,
    rows: Vec<conversations::Model>,
) -> AppResult<Vec<ConversationDto>> {
    let ids: Vec<Uuid> = rows.iter().map(|c| c.contact_id).collect();
    let contacts: std::collections::HashMap<Uuid, contacts::Model> = if ids.is_empty() {
        Default::default()
    } else {
        contacts::Entity::find()
            .filter(contacts::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|c| {
            let k = contacts.get(&c.contact_id);
            dto(c, k)
        })
        .collect())
}

/// Filters of the inbox list.
pub struct ListFilter {
    pub status: Option<ConversationStatus>,
    /// `Some(None)`: unassigned; `Some(Some(id))`: that user's.
    pub assignee: Option<Option<Uuid>>,
    pub search: Option<String>,
    pub cursor: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u64,
}

/// Latest activity first, keyset-paginated on (last_message_at, id).
pub async fn list<C: ConnectionTrait>(db: &C, who: &Principal, f: ListFilter) -> AppResult<Vec<conversations::Model>> {
    let tenant = who.tenant()?.0;
    let mut q = conversations::Entity::of(TenantId(tenant));
    if let Some(s) = f.status {
        q = q.filter(conversations::Column::Status.eq(s));
    }
    match f.assignee {
        Some(Some(a)) => q = q.filter(conversations::Column::AssigneeId.eq(a)),
        Some(None) => q = q.filter(conversations::Column::AssigneeId.is_null()),
        None => {}
    }
    if who.role == Role::Agent {
        q = q.filter(
            Condition::any()
                .add(conversations::Column::AssigneeId.is_null())
                .add(conversations::Column::AssigneeId.eq(who.user_id.0)),
        );
    }
    if let Some(term) = f.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", term.to_lowercase().replace(['%', '_'], ""));
        let lower = |c: contacts::Column| Expr::expr(Func::lower(Expr::col(c)));
        let matching_contacts = Query::select()
            .column(contacts::Column::Id)
            .from(contacts::Entity)
            .and_where(Expr::col(contacts::Column::TenantId).eq(tenant))
            .cond_where(
                Condition::any()
                    .add(lower(contacts::Column::Name).like(pattern.as_str()))
                    .add(lower(contacts::Column::ProfileName).like(pattern.as_str()))
                    .add(Expr::col(contacts::Column::WaId).like(pattern.as_str())),
            )
            .to_owned();
        q =
            q.filter(Condition::any().add(conversations::Column::ContactId.in_subquery(matching_contacts)).add(
                Expr::expr(Func::lower(Expr::col(conversations::Column::LastMessagePreview))).like(pattern.as_str()),
            ));
    }
    if let Some((ts, id)) = f.cursor {
        q = q.filter(crate::pagination::before(
            (conversations::Entity, conversations::Column::LastMessageAt),
            (conversations::Entity, conversations::Column::Id),
            ts,
            id,
        ));
    }
    Ok(q.order_by_desc(conversations::Column::LastMessageAt)
        .order_by_desc(conversations::Column::Id)
        .limit(f.limit)
        .all(db)
        .await?)
}

/// Parsed changes to a conversation.
#[derive(Default)]
pub struct Changes {
    pub status: Option<ConversationStatus>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<Uuid>>,
    pub tags: Option<Vec<String>>,
}

/// Applies status, assignment and tags; publishes `conversation.updated`.
pub async fn update(state: &AppState, who: &Principal, id: Uuid, ch: Changes) -> AppResult<conversations::Model> {
    use sea_orm::{ActiveModelTrait, Set};
    let tenant = who.tenant()?;
    let txn = state.writer().begin().await?;
    let c = get_visible(&txn, who, id).await?;
    if let Some(Some(a)) = ch.assignee {
        let u = users::Entity::by_id(tenant, a).filter(users::Column::Active.eq(true)).one(&txn).await?;
        if !u.is_some_and(|u| matches!(u.role, Role::Agent | Role::TenantAdmin)) {
            return Err(AppError::field("assigneeId", "is not an active agent or admin of this workspace"));
        }
    }
    let previous_assignee = c.assignee_id;
    let mut am: conversations::ActiveModel = c.clone().into();
    let now = crate::db::now();
    if let Some(s) = ch.status {
        am.status = Set(s);
        am.resolved_at = Set(if s == ConversationStatus::Resolved { Some(now) } else { None });
    }
    if let Some(a) = ch.assignee {
        am.assignee_id = Set(a);
    }
    if let Some(t) = ch.tags {
        am.tags = Set(json!(t));
    }
    am.updated_at = Set(now);
    let updated = am.update(&txn).await?;
    txn.commit().await?;
    publish_updated(state, &updated, previous_assignee).await;
    Ok(updated)
}

/// Publishes the conversation's current state.
pub async fn publish_updated(state: &AppState, c: &conversations::Model, previous_assignee: Option<Uuid>) {
    let ev = crate::events::ConversationUpdated::of(c, previous_assignee, false);
    state.events.publish(DomainEvent::new(c.tenant_id, crate::events::Event::ConversationUpdated(ev)));
}

/// Marks the conversation read, and asks Meta to show the customer's last message as read.
pub async fn mark_read(state: &AppState, who: &Principal, id: Uuid) -> AppResult<conversations::Model> {
    use crate::jobs::queues;
    let txn = state.writer().begin().await?;
    let c = get_visible(&txn, who, id).await?;
    conversations::Entity::update_many()
        .col_expr(conversations::Column::UnreadCount, Expr::value(0))
        .filter(conversations::Column::Id.eq(c.id))
        .exec(&txn)
        .await?;
    let last_inbound = messages::Entity::of(TenantId(c.tenant_id))
        .filter(messages::Column::ConversationId.eq(c.id))
        .filter(messages::Column::Direction.eq(crate::entities::enums::Direction::Inbound))
        .order_by_desc(messages::Column::CreatedAt)
        .one(&txn)
        .await?;
    if c.unread_count > 0
        && let Some(wamid) = last_inbound.and_then(|m| m.wa_message_id)
    {
        crate::jobs::enqueue(
            &txn,
            crate::jobs::Job::job(&crate::jobs::payloads::SendJob::mark_read(c.whatsapp_account_id, wamid.clone()))
                .unique(format!("read:{wamid}"))
                .tenant(c.tenant_id)
                .attempts(5),
        )
        .await?;
    }
    txn.commit().await?;
    state.jobs_wakeup.wake(queues::MESSAGE_SEND);
    let updated = get(&state.db, who.tenant()?, id).await?;
    publish_updated(state, &updated, updated.assignee_id).await;
    Ok(updated)
}

/// Messages of a conversation, newest first, keyset-paginated on (created_at, id).
pub async fn messages_page<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    conversation: Uuid,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> AppResult<Vec<messages::Model>> {
    let mut q = messages::Entity::of(tenant).filter(messages::Column::ConversationId.eq(conversation));
    if let Some((ts, id)) = cursor {
        q = q.filter(crate::pagination::before(
            (messages::Entity, messages::Column::CreatedAt),
            (messages::Entity, messages::Column::Id),
            ts,
            id,
        ));
    }
    Ok(q.order_by_desc(messages::Column::CreatedAt).order_by_desc(messages::Column::Id).limit(limit).all(db).await?)
}

/// A new open conversation row (the one place the row is spelled out).
pub fn new_row(tenant: Uuid, contact: Uuid, account: Uuid, at: DateTime<Utc>) -> conversations::ActiveModel {
    use crate::entities::enums::ConversationStatus;
    use sea_orm::Set;
    let now = crate::db::now();
    conversations::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant),
        contact_id: Set(contact),
        whatsapp_account_id: Set(account),
        status: Set(ConversationStatus::Open),
        assignee_id: Set(None),
        tags: Set(serde_json::json!([])),
        last_inbound_at: Set(None),
        last_message_at: Set(at),
        last_message_preview: Set(None),
        unread_count: Set(0),
        first_response_at: Set(None),
        resolved_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// The customer wrote in `c`: a resolved conversation reopens (`reopen`), and with `assign` (new
/// or reopened, the tenant's `autoAssign` on) an unassigned one goes round-robin to an agent.
pub async fn customer_wrote<C: ConnectionTrait>(
    db: &C,
    mut c: conversations::Model,
    reopen: bool,
    assign: bool,
) -> Result<conversations::Model, sea_orm::DbErr> {
    use crate::entities::enums::ConversationStatus;
    use sea_orm::{ActiveModelTrait, Set};
    if reopen {
        let mut am: conversations::ActiveModel = c.into();
        am.status = Set(ConversationStatus::Open);
        am.resolved_at = Set(None);
        am.first_response_at = Set(None);
        am.updated_at = Set(crate::db::now());
        c = am.update(db).await?;
    }
    if assign
        && c.assignee_id.is_none()
        && let Some(agent) = crate::agents::service::pick_round_robin(db, TenantId(c.tenant_id)).await?
    {
        conversations::Entity::update_many()
            .col_expr(conversations::Column::AssigneeId, Expr::value(agent))
            .filter(conversations::Column::Id.eq(c.id))
            .exec(db)
            .await?;
        c.assignee_id = Some(agent);
    }
    Ok(c)
}

/// The contact's conversation on this number for the business to write in (starting a
/// conversation from the API): created when there is none, reopened when resolved. Returns
/// whether it was opened (for usage).
pub async fn open<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    contact: Uuid,
    account: Uuid,
) -> Result<(conversations::Model, bool), sea_orm::DbErr> {
    let find = || async {
        conversations::Entity::of(tenant)
            .filter(conversations::Column::ContactId.eq(contact))
            .filter(conversations::Column::WhatsappAccountId.eq(account))
            .one(db)
            .await
    };
    if let Some(c) = find().await? {
        let resolved = c.status == crate::entities::enums::ConversationStatus::Resolved;
        return Ok((customer_wrote(db, c, resolved, false).await?, resolved));
    }
    let inserted = conversations::Entity::insert(new_row(tenant.0, contact, account, crate::db::now()))
        .on_conflict_do_nothing()
        .exec(db)
        .await?;
    let created = matches!(inserted, sea_orm::TryInsertResult::Inserted(_));
    let c = find().await?.ok_or_else(|| sea_orm::DbErr::RecordNotFound("conversation after upsert".into()))?;
    Ok((c, created))
}

/// The contact's conversation on this number for a bulk send (a campaign): an existing one as it
/// is — a resolved conversation is not reopened, so that a campaign does not fill the inbox; the
/// customer's reply reopens it — or a new one, created resolved for the same reason. A new one is
/// counted as opened in the day's usage.
pub async fn for_bulk_send<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    contact: Uuid,
    account: Uuid,
) -> Result<conversations::Model, sea_orm::DbErr> {
    use crate::entities::enums::ConversationStatus;
    use sea_orm::Set;
    let find = || async {
        conversations::Entity::find()
            .filter(conversations::Column::TenantId.eq(tenant))
            .filter(conversations::Column::ContactId.eq(contact))
            .filter(conversations::Column::WhatsappAccountId.eq(account))
            .one(db)
            .await
    };
    if let Some(c) = find().await? {
        return Ok(c);
    }
    let now = crate::db::now();
    let mut row = new_row(tenant, contact, account, now);
    row.status = Set(ConversationStatus::Resolved);
    row.resolved_at = Set(Some(now));
    let inserted = conversations::Entity::insert(row).on_conflict_do_nothing().exec(db).await?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) {
        let delta = crate::usage::Delta { conversations_opened: 1, ..Default::default() };
        crate::usage::add(db, tenant, now.date_naive(), delta).await?;
    }
    find().await?.ok_or_else(|| sea_orm::DbErr::RecordNotFound("conversation after upsert".into()))
}

/// Messages a customer by phone number on one of the tenant's numbers (`POST /api/messages`):
/// the contact is found or created (`contacts::identity`), their conversation opened, the rules
/// checked, the message enqueued — once per client message id. An agent may not write into a
/// conversation assigned to someone else.
pub async fn start_with_message(
    state: &AppState,
    who: &crate::access::principal::Principal,
    account_id: Uuid,
    to: &str,
    message: &crate::messages::outbound::SendMessageRequest,
    client_id: Option<String>,
) -> crate::error::AppResult<crate::entities::messages::Model> {
    let tenant_id = who.tenant()?;
    let account = crate::accounts::service::get(&state.db, tenant_id, account_id).await?;
    if let Some(existing) = crate::messages::outbound::existing(&state.db, tenant_id, client_id.as_deref()).await? {
        return Ok(existing);
    }
    let tenant = crate::entities::tenants::Entity::find_by_id(tenant_id.0)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("tenant"))?;
    let composed = crate::messages::outbound::compose(&state.db, tenant_id, &account, None, message).await?;

    let txn = state.writer().begin().await?;
    let sighting = crate::contacts::identity::Sighting::new(tenant_id.0, Some(to), None)
        .source(crate::contacts::identity::Source::Api);
    let contact = crate::contacts::identity::resolve(&txn, None, &[sighting])
        .await?
        .contacts
        .pop()
        .flatten()
        .ok_or_else(|| AppError::not_found("contact"))?;
    let (conv, opened) = open(&txn, tenant_id, contact.id, account.id).await?;
    if opened {
        crate::usage::add(
            &txn,
            tenant_id.0,
            crate::db::now().date_naive(),
            crate::usage::Delta { conversations_opened: 1, ..Default::default() },
        )
        .await?;
    }
    txn.commit().await?;
    if who.role == crate::entities::enums::Role::Agent && !visible_to(who, &conv) {
        return Err(AppError::forbidden("this customer's conversation is assigned to another agent"));
    }
    crate::messages::outbound::check_rules(&state.db, &tenant, &account, Some(&conv), &contact, &composed).await?;
    let (msg, _) = crate::messages::outbound::enqueue(state, &conv, composed, client_id, Some(who.user_id.0)).await?;
    Ok(msg)
}
