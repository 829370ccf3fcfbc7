//! Campaign rows and their rules: create, read, the state machine, the audience, the funnel.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Audience, Variables};
use crate::db::scoped::Scoped;
use crate::entities::enums::{CampaignState, RecipientState};
use crate::entities::{campaign_recipients, campaigns, contacts, messages, templates};
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};

/// A new campaign, as validated input.
pub struct NewCampaign {
    pub name: String,
    pub whatsapp_account_id: Uuid,
    pub template_id: Uuid,
    pub variables: Variables,
    pub audience: Audience,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub send_window: Option<super::window::SendWindow>,
}

/// Creates a draft. The number and the template must be the tenant's, the template the number's.
/// With an `Idempotency-Key`, a repeated create returns the campaign the first one made
/// (`Ok((campaign, false))`), even when both arrive at once.
pub async fn create(
    db: &DatabaseConnection,
    tenant: TenantId,
    by: UserId,
    new: NewCampaign,
    key: Option<String>,
) -> AppResult<(campaigns::Model, bool)> {
    if let Some(k) = &key
        && let Some(c) = by_key(db, tenant, k).await?
    {
        return Ok((c, false));
    }
    let account = crate::accounts::service::get(db, tenant, new.whatsapp_account_id).await?;
    let template = template_of(db, tenant, new.template_id).await?;
    if template.whatsapp_account_id != account.id {
        return Err(AppError::field("templateId", "this template belongs to another number"));
    }
    let audience = resolve(db, tenant, new.audience).await?;
    let now = crate::db::now();
    let row = campaigns::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.0),
        name: Set(new.name),
        whatsapp_account_id: Set(account.id),
        template_id: Set(template.id),
        variables: Set(serde_json::to_value(&new.variables).unwrap_or_default()),
        audience: Set(serde_json::to_value(&audience).unwrap_or_default()),
        state: Set(CampaignState::Draft),
        state_reason: Set(None),
        run_generation: Set(0),
        planned: Set(false),
        scheduled_at: Set(new.scheduled_at),
        send_window: Set(new.send_window.as_ref().and_then(|w| serde_json::to_value(w).ok())),
        started_at: Set(None),
        completed_at: Set(None),
        created_by: Set(Some(by.0)),
        idempotency_key: Set(key.clone()),
        start_key: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match row.insert(db).await {
        Ok(c) => Ok((c, true)),
        // The same key, created concurrently: theirs is the campaign.
        Err(e) if key.is_some() => match by_key(db, tenant, key.as_deref().unwrap_or_default()).await? {
            Some(c) => Ok((c, false)),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

async fn by_key(db: &DatabaseConnection, tenant: TenantId, key: &str) -> AppResult<Option<campaigns::Model>> {
    Ok(campaigns::Entity::of(tenant).filter(campaigns::Column::IdempotencyKey.eq(key)).one(db).await?)
}

/// A new draft with everything of `id` but its name, schedule and history: the same number,
/// template, values, audience (a saved segment's rules as the original copied them) and send
/// window. The name defaults to "<name> (copy)".
pub async fn duplicate(
    db: &DatabaseConnection,
    tenant: TenantId,
    by: UserId,
    id: Uuid,
    name: Option<String>,
) -> AppResult<campaigns::Model> {
    let c = get(db, tenant, id).await?;
    let name = name.unwrap_or_else(|| {
        let base: String = c.name.chars().take(100 - " (copy)".len()).collect();
        format!("{base} (copy)")
    });
    let now = crate::db::now();
    let row = campaigns::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.0),
        name: Set(name),
        whatsapp_account_id: Set(c.whatsapp_account_id),
        template_id: Set(c.template_id),
        variables: Set(c.variables),
        audience: Set(c.audience),
        state: Set(CampaignState::Draft),
        state_reason: Set(None),
        run_generation: Set(0),
        planned: Set(false),
        scheduled_at: Set(None),
        send_window: Set(c.send_window),
        started_at: Set(None),
        completed_at: Set(None),
        created_by: Set(Some(by.0)),
        idempotency_key: Set(None),
        start_key: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(row.insert(db).await?)
}

/// Whether sending a failed recipient's message again can succeed: Meta said to retry later
/// (throttling, a transient error on its side: [`meta_cloud::error::ErrorClass::RetryLater`]), or
/// the send never got Meta's answer (no code: the network, Meta unreachable, the send job gave
/// up). Not 131049 (it has its own retry a day later) nor anything that would fail again as is.
pub fn retryable(code: Option<i32>) -> bool {
    match code {
        None => true,
        Some(c) => meta_cloud::error::classify(c as i64) == meta_cloud::error::ErrorClass::RetryLater,
    }
}

/// Recipients whose message failed for a [`retryable`] reason.
pub async fn retryable_failures<C: ConnectionTrait>(db: &C, c: &campaigns::Model) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let (mut q, m) = with_messages(c);
    let r = Alias::new(RECIPIENTS);
    let q = q
        .expr_as(Expr::col((r.clone(), campaign_recipients::Column::Id)), Alias::new("id"))
        .expr_as(Expr::col((m.clone(), messages::Column::ErrorCode)), Alias::new("code"))
        .and_where(Expr::col((r, campaign_recipients::Column::State)).eq(RecipientState::Queued.as_str()))
        .and_where(Expr::col((m, messages::Column::Status)).eq("failed"))
        .to_owned();
    let mut out = Vec::new();
    for row in db.query_all(&q).await? {
        let code: Option<i32> = row.try_get("", "code")?;
        if retryable(code) {
            out.push(row.try_get("", "id")?);
        }
    }
    Ok(out)
}

/// Puts recipients back to pending, each on its next attempt (a new client message id, so the
/// new message is not the failed one), with `detail` saying why. A completed campaign runs again
/// (a new generation and its run job, in the caller's transaction) and the new state is returned;
/// a paused one stays paused (resuming sends them). `None`: the campaign changed meanwhile.
pub async fn send_again<C: ConnectionTrait>(
    db: &C,
    c: &campaigns::Model,
    ids: &[Uuid],
    detail: &str,
    reason: Option<String>,
) -> Result<Option<campaigns::Model>, sea_orm::DbErr> {
    let now = crate::db::now();
    for chunk in ids.chunks(500) {
        campaign_recipients::Entity::update_many()
            .col_expr(campaign_recipients::Column::State, Expr::value(RecipientState::Pending.as_str()))
            .col_expr(campaign_recipients::Column::Attempt, Expr::col(campaign_recipients::Column::Attempt).add(1))
            .col_expr(campaign_recipients::Column::MessageId, Expr::value(Option::<Uuid>::None))
            .col_expr(campaign_recipients::Column::Reason, Expr::value(Option::<String>::None))
            .col_expr(campaign_recipients::Column::Detail, Expr::value(Some(detail.to_string())))
            .col_expr(campaign_recipients::Column::UpdatedAt, Expr::value(now))
            .filter(campaign_recipients::Column::TenantId.eq(c.tenant_id))
            .filter(campaign_recipients::Column::CampaignId.eq(c.id))
            .filter(campaign_recipients::Column::Id.is_in(chunk.iter().copied()))
            .filter(campaign_recipients::Column::State.eq(RecipientState::Queued))
            .exec(db)
            .await?;
    }
    if c.state != CampaignState::Completed {
        return Ok(Some(c.clone()));
    }
    let again = campaigns::Model {
        state: CampaignState::Running,
        state_reason: reason.clone(),
        run_generation: c.run_generation + 1,
        completed_at: None,
        updated_at: now,
        ..c.clone()
    };
    let r = campaigns::Entity::update_many()
        .col_expr(campaigns::Column::State, Expr::value(CampaignState::Running.as_str()))
        .col_expr(campaigns::Column::StateReason, Expr::value(reason))
        .col_expr(campaigns::Column::RunGeneration, Expr::value(again.run_generation))
        .col_expr(campaigns::Column::CompletedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(campaigns::Column::UpdatedAt, Expr::value(now))
        .filter(campaigns::Column::Id.eq(c.id))
        .filter(campaigns::Column::State.eq(CampaignState::Completed))
        .filter(campaigns::Column::RunGeneration.eq(c.run_generation))
        .exec(db)
        .await?;
    if r.rows_affected == 0 {
        return Ok(None);
    }
    enqueue_run(db, &again, None).await?;
    Ok(Some(again))
}

/// "Retry failed": the recipients whose message failed for a [`retryable`] reason are sent again
/// (see [`send_again`]); only a completed or paused campaign, with its template approved.
/// Returns the campaign and how many recipients go again (0 when none can: a second click).
pub async fn retry_failed(
    db: &DatabaseConnection,
    events: &crate::events::EventBus,
    tenant: TenantId,
    id: Uuid,
) -> AppResult<(campaigns::Model, u64)> {
    let c = get(db, tenant, id).await?;
    if !matches!(c.state, CampaignState::Completed | CampaignState::Paused) {
        return Err(AppError::conflict(
            "campaign_state",
            format!("a {} campaign's failures cannot be retried (only a completed or paused one's)", c.state),
        ));
    }
    let t = template_of(db, tenant, c.template_id).await?;
    if !t.status.eq_ignore_ascii_case("APPROVED") {
        return Err(AppError::conflict(
            "template_not_approved",
            format!("the template is {}; only an approved template can be sent", t.status),
        ));
    }
    let txn = db.begin().await?;
    let ids = retryable_failures(&txn, &c).await?;
    if ids.is_empty() {
        txn.rollback().await?;
        return Ok((c, 0));
    }
    let reason = format!("retrying {} failed recipients", ids.len());
    let Some(after) = send_again(&txn, &c, &ids, "sent again by \"retry failed\"", Some(reason)).await? else {
        txn.rollback().await?;
        return Err(AppError::conflict("campaign_state", "the campaign changed meanwhile; try again"));
    };
    txn.commit().await?;
    if after.state != c.state {
        announce(events, &after);
    }
    Ok((after, ids.len() as u64))
}

async fn template_of<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<templates::Model> {
    templates::Entity::secure_find(db, tenant, id)
        .await?
        .ok_or_else(|| AppError::field("templateId", "no such template"))
}

/// Checks an audience and resolves a saved segment into a copy of its rules as they are now
/// (what a campaign keeps).
async fn resolve(db: &DatabaseConnection, tenant: TenantId, mut audience: Audience) -> AppResult<Audience> {
    check_contacts(db, tenant, &audience).await?;
    if let Some(id) = audience.segment_id {
        let rules = crate::segments::service::rules_of(db, tenant, id).await.map_err(|e| {
            if e.status == axum::http::StatusCode::NOT_FOUND {
                AppError::field("audience.segmentId", "no such segment")
            } else {
                e
            }
        })?;
        audience.rules = Some(rules);
    }
    Ok(audience)
}

/// Named contacts must all be the tenant's (a 422 naming the others, never a silent drop).
async fn check_contacts(db: &DatabaseConnection, tenant: TenantId, a: &Audience) -> AppResult<()> {
    a.check().map_err(|m| AppError::field("audience", m))?;
    let Some(ids) = &a.contact_ids else { return Ok(()) };
    if ids.len() > 100_000 {
        return Err(AppError::field("audience.contactIds", "at most 100,000 contacts; use tags for more"));
    }
    let wanted: HashSet<Uuid> = ids.iter().copied().collect();
    let mut found = HashSet::new();
    let all: Vec<Uuid> = wanted.iter().copied().collect();
    for chunk in all.chunks(500) {
        let rows: Vec<Uuid> = contacts::Entity::find()
            .select_only()
            .column(contacts::Column::Id)
            .filter(contacts::Column::TenantId.eq(tenant.0))
            .filter(contacts::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    let missing: Vec<Uuid> = wanted.difference(&found).copied().take(10).collect();
    if !missing.is_empty() {
        return Err(AppError::field("audience.contactIds", format!("no such contacts: {missing:?}")));
    }
    Ok(())
}

/// The tenant's campaign (404 for another tenant's).
pub async fn get<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<campaigns::Model> {
    campaigns::Entity::secure_find(db, tenant, id).await?.ok_or_else(|| AppError::not_found("campaign"))
}

/// The tenant's campaigns, newest first.
pub async fn list(db: &DatabaseConnection, tenant: TenantId, limit: u64) -> AppResult<Vec<campaigns::Model>> {
    Ok(campaigns::Entity::of(tenant).order_by_desc(campaigns::Column::CreatedAt).limit(limit).all(db).await?)
}

/// What may be done to a campaign in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    Cancel,
}

impl Action {
    fn from_states(self) -> &'static [CampaignState] {
        use CampaignState::*;
        match self {
            Action::Start => &[Draft],
            Action::Pause => &[Running, Scheduled],
            Action::Resume => &[Paused],
            Action::Cancel => &[Draft, Scheduled, Running, Paused],
        }
    }
}

/// Applies an action: one conditional update, so of two concurrent clicks one wins and the other
/// finds the new state (and, for the same action, the campaign as the first left it: 200).
/// Starting or resuming enqueues the run job in the same transaction.
pub async fn act(
    db: &DatabaseConnection,
    events: &crate::events::EventBus,
    tenant: TenantId,
    id: Uuid,
    action: Action,
    reason: Option<String>,
    start_key: Option<String>,
) -> AppResult<campaigns::Model> {
    let c = get(db, tenant, id).await?;
    // A start retried with its `Idempotency-Key`: the campaign as it is now, whatever its state.
    if action == Action::Start && start_key.is_some() && c.start_key == start_key {
        return Ok(c);
    }
    if action == Action::Start || action == Action::Resume {
        let t = template_of(db, tenant, c.template_id).await?;
        if !t.status.eq_ignore_ascii_case("APPROVED") {
            return Err(AppError::conflict(
                "template_not_approved",
                format!("the template is {}; only an approved template can be sent", t.status),
            ));
        }
    }
    let now = crate::db::now();
    let target = match action {
        Action::Start if c.scheduled_at.is_some_and(|t| t > now) => CampaignState::Scheduled,
        Action::Start | Action::Resume => CampaignState::Running,
        Action::Pause => CampaignState::Paused,
        Action::Cancel => CampaignState::Cancelled,
    };
    let from: Vec<&str> = action.from_states().iter().map(|s| s.as_str()).collect();
    let starts = matches!(target, CampaignState::Running | CampaignState::Scheduled);
    let txn = db.begin().await?;
    let mut q = campaigns::Entity::update_many()
        .col_expr(campaigns::Column::State, Expr::value(target.as_str()))
        .col_expr(campaigns::Column::StateReason, Expr::value(reason))
        .col_expr(campaigns::Column::UpdatedAt, Expr::value(now))
        .filter(campaigns::Column::Id.eq(c.id))
        .filter(campaigns::Column::State.is_in(from));
    if starts {
        q = q.col_expr(campaigns::Column::RunGeneration, Expr::col(campaigns::Column::RunGeneration).add(1));
    }
    if action == Action::Start {
        q = q
            .col_expr(campaigns::Column::StartedAt, Expr::value(Some(now)))
            .col_expr(campaigns::Column::StartKey, Expr::value(start_key));
    }
    if target == CampaignState::Cancelled {
        q = q.col_expr(campaigns::Column::CompletedAt, Expr::value(Some(now)));
    }
    let changed = q.exec(&txn).await?.rows_affected == 1;
    if !changed {
        txn.rollback().await?;
        let now_is = get(db, tenant, id).await?;
        // The same action again (a double click, a retry): the campaign as it is.
        let same = match action {
            Action::Start => matches!(now_is.state, CampaignState::Running | CampaignState::Scheduled),
            Action::Resume => now_is.state == CampaignState::Running,
            Action::Pause => now_is.state == CampaignState::Paused,
            Action::Cancel => now_is.state == CampaignState::Cancelled,
        };
        if same {
            return Ok(now_is);
        }
        return Err(AppError::conflict(
            "campaign_state",
            format!("a {} campaign cannot be {}", now_is.state, past(action)),
        ));
    }
    let c = get(&txn, tenant, id).await?;
    if starts {
        let at = if target == CampaignState::Scheduled { c.scheduled_at } else { None };
        enqueue_run(&txn, &c, at).await?;
    }
    txn.commit().await?;
    announce(events, &c);
    Ok(c)
}

fn past(a: Action) -> &'static str {
    match a {
        Action::Start => "started",
        Action::Pause => "paused",
        Action::Resume => "resumed",
        Action::Cancel => "cancelled",
    }
}

/// The run job of the campaign's current generation (one per start or resume).
pub async fn enqueue_run<C: ConnectionTrait>(
    db: &C,
    c: &campaigns::Model,
    at: Option<DateTime<Utc>>,
) -> Result<bool, sea_orm::DbErr> {
    let p = crate::jobs::payloads::RunCampaign { campaign_id: c.id, generation: c.run_generation };
    let mut job =
        crate::jobs::Job::job(&p).unique(format!("{}:{}", c.id, c.run_generation)).tenant(c.tenant_id).attempts(20);
    if let Some(at) = at {
        job = job.at(at);
    }
    crate::jobs::enqueue(db, job).await
}

/// Sets a running campaign's state from the run job (paused by a rule, completed), only if it is
/// still running in the same generation.
pub async fn settle<C: ConnectionTrait>(
    db: &C,
    events: &crate::events::EventBus,
    c: &campaigns::Model,
    to: CampaignState,
    reason: Option<String>,
) -> Result<bool, sea_orm::DbErr> {
    let now = crate::db::now();
    let announced = campaigns::Model { state: to, state_reason: reason.clone(), updated_at: now, ..c.clone() };
    let mut q = campaigns::Entity::update_many()
        .col_expr(campaigns::Column::State, Expr::value(to.as_str()))
        .col_expr(campaigns::Column::StateReason, Expr::value(reason))
        .col_expr(campaigns::Column::UpdatedAt, Expr::value(now))
        .filter(campaigns::Column::Id.eq(c.id))
        .filter(campaigns::Column::State.is_in([CampaignState::Running.as_str(), CampaignState::Scheduled.as_str()]))
        .filter(campaigns::Column::RunGeneration.eq(c.run_generation));
    if to == CampaignState::Completed {
        q = q.col_expr(campaigns::Column::CompletedAt, Expr::value(Some(now)));
    }
    let changed = q.exec(db).await?.rows_affected == 1;
    if changed {
        announce(events, &announced);
    }
    Ok(changed)
}

/// Meta held a template (a status other than approved, or a RED quality rating): its running and
/// scheduled campaigns pause at once, "held by Meta", in the caller's transaction (the webhook's).
/// Returns their `campaign.updated` events, for the caller to publish after its commit. A
/// campaign's run job sees the pause at its next round and stops; resuming checks the template.
pub async fn hold_for_template<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    meta_template_id: &str,
    why: &str,
) -> Result<Vec<crate::events::DomainEvent>, sea_orm::DbErr> {
    use crate::events::{DomainEvent, Event};
    let ids: Vec<Uuid> = templates::Entity::of(tenant)
        .select_only()
        .column(templates::Column::Id)
        .filter(templates::Column::MetaTemplateId.eq(meta_template_id))
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let held = [CampaignState::Running.as_str(), CampaignState::Scheduled.as_str()];
    let affected = campaigns::Entity::of(tenant)
        .filter(campaigns::Column::TemplateId.is_in(ids))
        .filter(campaigns::Column::State.is_in(held))
        .all(db)
        .await?;
    let reason = format!("held by Meta: {why}");
    let now = crate::db::now();
    let mut out = Vec::new();
    for c in affected {
        let r = campaigns::Entity::update_of(tenant)
            .col_expr(campaigns::Column::State, Expr::value(CampaignState::Paused.as_str()))
            .col_expr(campaigns::Column::StateReason, Expr::value(Some(reason.clone())))
            .col_expr(campaigns::Column::UpdatedAt, Expr::value(now))
            .filter(campaigns::Column::Id.eq(c.id))
            .filter(campaigns::Column::State.is_in(held))
            .exec(db)
            .await?;
        if r.rows_affected == 1 {
            let paused = campaigns::Model {
                state: CampaignState::Paused,
                state_reason: Some(reason.clone()),
                updated_at: now,
                ..c
            };
            out.push(DomainEvent::new(tenant.0, Event::CampaignUpdated((&paused).into())));
        }
    }
    Ok(out)
}

/// `campaign.progress` with the funnel now, at most once a second per campaign on this node
/// (`force`: regardless, e.g. at completion).
pub async fn progress<C: ConnectionTrait>(
    db: &C,
    events: &crate::events::EventBus,
    c: &campaigns::Model,
    force: bool,
) -> Result<(), sea_orm::DbErr> {
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};
    static LAST: OnceLock<Mutex<std::collections::HashMap<Uuid, Instant>>> = OnceLock::new();
    {
        let mut last = LAST.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if !force && last.get(&c.id).is_some_and(|t| now.duration_since(*t) < Duration::from_secs(1)) {
            return Ok(());
        }
        if last.len() > 10_000 {
            last.retain(|_, t| now.duration_since(*t) < Duration::from_secs(60));
        }
        last.insert(c.id, now);
    }
    let f = funnel(db, c).await?;
    let p = crate::events::CampaignProgress {
        id: c.id,
        recipients: f.recipients,
        pending: f.pending,
        skipped: f.skipped,
        failed_before_send: f.failed_before_send,
        queued: f.queued,
        sent: f.sent,
        delivered: f.delivered,
        read: f.read,
        failed: f.failed,
        limited_by_meta: f.limited_by_meta,
    };
    events.publish(crate::events::DomainEvent::new(c.tenant_id, crate::events::Event::CampaignProgress(p)));
    Ok(())
}

/// `campaign.updated` for realtime clients and outgoing webhooks.
pub fn announce(events: &crate::events::EventBus, c: &campaigns::Model) {
    use crate::events::{DomainEvent, Event};
    events.publish(DomainEvent::new(c.tenant_id, Event::CampaignUpdated(c.into())));
}

/// The audience's contacts, `(id, admitted)` in id order, a page at a time from `after`.
pub async fn audience_page(
    db: &DatabaseConnection,
    tenant: TenantId,
    audience: &Audience,
    after: Option<Uuid>,
    limit: u64,
) -> Result<(Vec<contacts::Model>, Option<Uuid>), sea_orm::DbErr> {
    if let Some(ids) = &audience.contact_ids {
        // Named contacts: the page is the next `limit` of them.
        let mut ids: Vec<Uuid> = ids.iter().copied().filter(|i| after.is_none_or(|a| *i > a)).collect();
        ids.sort();
        ids.dedup();
        ids.truncate(limit as usize);
        let last = ids.last().copied();
        if ids.is_empty() {
            return Ok((Vec::new(), None));
        }
        let rows = contacts::Entity::of(tenant)
            .filter(contacts::Column::Id.is_in(ids))
            .order_by_asc(contacts::Column::Id)
            .all(db)
            .await?;
        return Ok((rows, last));
    }
    crate::segments::service::scan_page(db, tenant, after, limit, audience.needs_facts(), |c, f, now| {
        audience.admits(c, f, now)
    })
    .await
}

/// How many marketing campaign messages each of `contacts` was given since `since` (recipients
/// marked `queued` then, of campaigns whose template is MARKETING), in one query.
pub async fn recent_marketing<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    contacts: &[Uuid],
    since: DateTime<Utc>,
) -> Result<std::collections::HashMap<Uuid, u64>, sea_orm::DbErr> {
    if contacts.is_empty() {
        return Ok(Default::default());
    }
    let r = Alias::new("r");
    let (c, t) = (Alias::new("c"), Alias::new("t"));
    let q = Query::select()
        .expr_as(Expr::col((r.clone(), campaign_recipients::Column::ContactId)), Alias::new("contact"))
        .expr_as(Expr::col((r.clone(), campaign_recipients::Column::Id)).count(), Alias::new("n"))
        .from_as(campaign_recipients::Entity, r.clone())
        .join_as(
            JoinType::InnerJoin,
            campaigns::Entity,
            c.clone(),
            Expr::col((c.clone(), campaigns::Column::Id)).equals((r.clone(), campaign_recipients::Column::CampaignId)),
        )
        .join_as(
            JoinType::InnerJoin,
            templates::Entity,
            t.clone(),
            Expr::col((t.clone(), templates::Column::Id)).equals((c.clone(), campaigns::Column::TemplateId)),
        )
        .and_where(Expr::col((r.clone(), campaign_recipients::Column::TenantId)).eq(tenant.0))
        .and_where(Expr::col((r.clone(), campaign_recipients::Column::ContactId)).is_in(contacts.iter().copied()))
        .and_where(Expr::col((r.clone(), campaign_recipients::Column::State)).eq(RecipientState::Queued.as_str()))
        .and_where(Expr::col((r.clone(), campaign_recipients::Column::UpdatedAt)).gte(since))
        .and_where(Expr::col((t.clone(), templates::Column::Category)).eq("MARKETING"))
        .group_by_col((r.clone(), campaign_recipients::Column::ContactId))
        .to_owned();
    let mut out = std::collections::HashMap::new();
    for row in db.query_all(&q).await? {
        let id: Uuid = row.try_get("", "contact")?;
        let n: i64 = row.try_get("", "n")?;
        out.insert(id, u64::try_from(n).unwrap_or(0));
    }
    Ok(out)
}

/// Writes the audience as recipient rows (`pending`), a page at a time; rows already there stay
/// as they are (unique per campaign and contact). Returns how many were added.
pub async fn plan(db: &DatabaseConnection, c: &campaigns::Model) -> Result<u64, sea_orm::DbErr> {
    let audience: Audience = serde_json::from_value(c.audience.clone()).unwrap_or_default();
    let tenant = TenantId(c.tenant_id);
    let (mut after, mut added) = (None, 0);
    loop {
        let (page, last) = audience_page(db, tenant, &audience, after, 1_000).await?;
        let now = crate::db::now();
        let rows: Vec<campaign_recipients::ActiveModel> = page
            .iter()
            .map(|k| campaign_recipients::ActiveModel {
                id: Set(crate::db::new_id()),
                tenant_id: Set(c.tenant_id),
                campaign_id: Set(c.id),
                contact_id: Set(k.id),
                state: Set(RecipientState::Pending),
                reason: Set(None),
                detail: Set(None),
                message_id: Set(None),
                attempt: Set(0),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect();
        if !rows.is_empty() {
            let keys = [
                campaign_recipients::Column::TenantId,
                campaign_recipients::Column::CampaignId,
                campaign_recipients::Column::ContactId,
            ];
            let r = campaign_recipients::Entity::insert_many(rows)
                .on_conflict(OnConflict::columns(keys).do_nothing().to_owned())
                .exec_without_returning(db)
                .await;
            added += match r {
                Ok(n) => n,
                Err(sea_orm::DbErr::RecordNotInserted) => 0,
                Err(e) => return Err(e),
            };
        }
        match last {
            Some(l) => after = Some(l),
            None => break,
        }
    }
    campaigns::Entity::update_many()
        .col_expr(campaigns::Column::Planned, Expr::value(true))
        .filter(campaigns::Column::Id.eq(c.id))
        .exec(db)
        .await?;
    Ok(added)
}

/// How many contacts an audience has now, and a few of them.
pub async fn preview(
    db: &DatabaseConnection,
    tenant: TenantId,
    audience: &Audience,
) -> AppResult<(u64, Vec<contacts::Model>)> {
    let audience = &resolve(db, tenant, audience.clone()).await?;
    let pages = |after| audience_page(db, tenant, audience, after, crate::segments::service::PAGE);
    Ok(crate::segments::service::count_and_sample(pages).await?)
}

/// How many contacts a campaign's own audience (its copy of the rules) has now, and a few.
pub async fn audience_now(db: &DatabaseConnection, c: &campaigns::Model) -> AppResult<(u64, Vec<contacts::Model>)> {
    let audience: Audience = serde_json::from_value(c.audience.clone()).unwrap_or_default();
    let tenant = TenantId(c.tenant_id);
    let pages = |after| audience_page(db, tenant, &audience, after, crate::segments::service::PAGE);
    Ok(crate::segments::service::count_and_sample(pages).await?)
}

/// The alias of `campaign_recipients` in [`with_messages`].
const RECIPIENTS: &str = "r";

/// `FROM campaign_recipients r JOIN messages m ON m.id = r.message_id` for one campaign, both
/// sides scoped to its tenant: the base of the queries over a campaign's messages. Returns the
/// statement and the messages' alias.
fn with_messages(c: &campaigns::Model) -> (sea_orm::sea_query::SelectStatement, Alias) {
    let r = Alias::new(RECIPIENTS);
    let m = Alias::new("m");
    let q = Query::select()
        .from_as(campaign_recipients::Entity, r.clone())
        .join_as(
            JoinType::InnerJoin,
            messages::Entity,
            m.clone(),
            Expr::col((m.clone(), messages::Column::Id)).equals((r.clone(), campaign_recipients::Column::MessageId)),
        )
        .and_where(Expr::col((r.clone(), campaign_recipients::Column::TenantId)).eq(c.tenant_id))
        .and_where(Expr::col((r, campaign_recipients::Column::CampaignId)).eq(c.id))
        .and_where(Expr::col((m.clone(), messages::Column::TenantId)).eq(c.tenant_id))
        .to_owned();
    (q, m)
}

/// Meta's code for a message held back "to maintain healthy ecosystem engagement".
pub const LIMITED_BY_META: i32 = 131049;

/// A campaign's funnel: recipients by state, and the statuses of the messages created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Funnel {
    pub recipients: u64,
    pub pending: u64,
    pub skipped: u64,
    /// Failed before sending (a parameter could not be filled, …).
    pub failed_before_send: u64,
    /// Messages created, by their status now.
    pub queued: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    /// Held back by Meta (131049, a per-user marketing limit): tried again after the retry delay
    /// while attempts are left (docs/CAMPAIGNS.md).
    pub limited_by_meta: u64,
    /// Skips and failures by reason (`opted_out`, `missing_variable`, Meta's error codes).
    pub reasons: BTreeMap<String, u64>,
}

pub async fn funnel<C: ConnectionTrait>(db: &C, c: &campaigns::Model) -> Result<Funnel, sea_orm::DbErr> {
    let mut f = Funnel::default();
    let by_state: Vec<(RecipientState, Option<String>, i64)> = campaign_recipients::Entity::find()
        .select_only()
        .column(campaign_recipients::Column::State)
        .column(campaign_recipients::Column::Reason)
        .column_as(campaign_recipients::Column::Id.count(), "n")
        .filter(campaign_recipients::Column::TenantId.eq(c.tenant_id))
        .filter(campaign_recipients::Column::CampaignId.eq(c.id))
        .group_by(campaign_recipients::Column::State)
        .group_by(campaign_recipients::Column::Reason)
        .into_tuple()
        .all(db)
        .await?;
    for (state, reason, n) in by_state {
        let n = n as u64;
        f.recipients += n;
        match state {
            RecipientState::Pending => f.pending += n,
            RecipientState::Skipped => f.skipped += n,
            RecipientState::Failed => f.failed_before_send += n,
            RecipientState::Queued => {}
        }
        if let Some(r) = reason {
            *f.reasons.entry(r).or_default() += n;
        }
    }
    let (mut q, m) = with_messages(c);
    let q = q
        .expr_as(Expr::col((m.clone(), messages::Column::Status)), Alias::new("status"))
        .expr_as(Expr::col((m.clone(), messages::Column::ErrorCode)), Alias::new("code"))
        .expr_as(Expr::col((m.clone(), messages::Column::Id)).count(), Alias::new("n"))
        .add_group_by([Expr::col((m.clone(), messages::Column::Status)), Expr::col((m, messages::Column::ErrorCode))])
        .to_owned();
    let rows = db.query_all(&q).await?;
    for row in rows {
        let status: String = row.try_get("", "status")?;
        let code: Option<i32> = row.try_get("", "code")?;
        let n: i64 = row.try_get("", "n")?;
        let n = n as u64;
        match status.as_str() {
            "queued" => f.queued += n,
            "sent" => f.sent += n,
            "delivered" => f.delivered += n,
            "read" | "played" => f.read += n,
            _ => {
                // 131049 is Meta holding the message back ("healthy ecosystem"), not a failure of
                // the number or the recipient: its own figure, tried again later.
                if code == Some(LIMITED_BY_META) {
                    f.limited_by_meta += n;
                } else {
                    f.failed += n;
                }
                let key = code.map_or_else(|| "send_failed".to_string(), |c| c.to_string());
                *f.reasons.entry(key).or_default() += n;
            }
        }
    }
    Ok(f)
}

/// A campaign's recipients, in id order from `after`, optionally of one state.
pub async fn recipients(
    db: &DatabaseConnection,
    tenant: TenantId,
    campaign: Uuid,
    state: Option<RecipientState>,
    after: Option<Uuid>,
    limit: u64,
) -> AppResult<Vec<Recipient>> {
    let c = get(db, tenant, campaign).await?;
    let mut q = campaign_recipients::Entity::find()
        .filter(campaign_recipients::Column::TenantId.eq(tenant.0))
        .filter(campaign_recipients::Column::CampaignId.eq(c.id));
    if let Some(s) = state {
        q = q.filter(campaign_recipients::Column::State.eq(s));
    }
    if let Some(a) = after {
        q = q.filter(campaign_recipients::Column::Id.gt(a));
    }
    let rows = q.order_by_asc(campaign_recipients::Column::Id).limit(limit).all(db).await?;
    with_contacts_and_messages(db, tenant, rows).await
}

/// A recipient row with its contact and its message (when they exist).
pub struct Recipient {
    pub row: campaign_recipients::Model,
    pub contact: Option<contacts::Model>,
    pub message: Option<messages::Model>,
}

/// Loads the contacts and messages of a page of recipients, two queries.
async fn with_contacts_and_messages(
    db: &DatabaseConnection,
    tenant: TenantId,
    rows: Vec<campaign_recipients::Model>,
) -> AppResult<Vec<Recipient>> {
    use std::collections::HashMap;
    let contact_ids: Vec<Uuid> = rows.iter().map(|r| r.contact_id).collect();
    let message_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.message_id).collect();
    let mut people: HashMap<Uuid, contacts::Model> = HashMap::new();
    if !contact_ids.is_empty() {
        for c in contacts::Entity::of(tenant).filter(contacts::Column::Id.is_in(contact_ids)).all(db).await? {
            people.insert(c.id, c);
        }
    }
    let mut sent: HashMap<Uuid, messages::Model> = HashMap::new();
    if !message_ids.is_empty() {
        for m in messages::Entity::of(tenant).filter(messages::Column::Id.is_in(message_ids)).all(db).await? {
            sent.insert(m.id, m);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| Recipient {
            contact: people.remove(&row.contact_id),
            message: row.message_id.and_then(|m| sent.remove(&m)),
            row,
        })
        .collect())
}

/// Messages created for the campaign and not yet handed to Meta (its pacing window).
pub async fn in_flight<C: ConnectionTrait>(db: &C, c: &campaigns::Model) -> Result<u64, sea_orm::DbErr> {
    campaign_recipients::Entity::find()
        .filter(campaign_recipients::Column::TenantId.eq(c.tenant_id))
        .filter(campaign_recipients::Column::CampaignId.eq(c.id))
        .filter(campaign_recipients::Column::State.eq(RecipientState::Queued))
        .filter(
            campaign_recipients::Column::MessageId.in_subquery(
                Query::select()
                    .column(messages::Column::Id)
                    .from(messages::Entity)
                    .and_where(Expr::col(messages::Column::TenantId).eq(c.tenant_id))
                    .and_where(Expr::col(messages::Column::Status).eq("queued"))
                    .and_where(Expr::col(messages::Column::SendStartedAt).is_null())
                    .to_owned(),
            ),
        )
        .count(db)
        .await
}

/// Marks a recipient, only while it is `pending` (a second run finds it done and moves on). A
/// recipient queued without a detail keeps the one it had (why it was sent again).
pub async fn mark<C: ConnectionTrait>(
    db: &C,
    recipient: Uuid,
    state: RecipientState,
    reason: Option<&str>,
    detail: Option<String>,
    message: Option<Uuid>,
) -> Result<bool, sea_orm::DbErr> {
    let mut q = campaign_recipients::Entity::update_many();
    if state != RecipientState::Queued || detail.is_some() {
        q = q.col_expr(campaign_recipients::Column::Detail, Expr::value(detail));
    }
    let r = q
        .col_expr(campaign_recipients::Column::State, Expr::value(state.as_str()))
        .col_expr(campaign_recipients::Column::Reason, Expr::value(reason.map(str::to_string)))
        .col_expr(campaign_recipients::Column::MessageId, Expr::value(message))
        .col_expr(campaign_recipients::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(campaign_recipients::Column::Id.eq(recipient))
        .filter(campaign_recipients::Column::State.eq(RecipientState::Pending))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// The outcomes of the campaign's last `n` messages created since `since` (its current run):
/// how many Meta decided (sent, delivered, read or failed), how many of those failed (131049 is
/// not a failure), and the most common failure code.
pub async fn recent_outcomes<C: ConnectionTrait>(
    db: &C,
    c: &campaigns::Model,
    since: DateTime<Utc>,
    n: u64,
) -> Result<(u64, u64, Option<i32>), sea_orm::DbErr> {
    let (mut q, m) = with_messages(c);
    let q = q
        .expr_as(Expr::col((m.clone(), messages::Column::Status)), Alias::new("status"))
        .expr_as(Expr::col((m.clone(), messages::Column::ErrorCode)), Alias::new("code"))
        .and_where(Expr::col((m.clone(), messages::Column::CreatedAt)).gte(since))
        .order_by((m, messages::Column::CreatedAt), sea_orm::Order::Desc)
        .limit(n)
        .to_owned();
    let (mut decided, mut failed) = (0u64, 0u64);
    let mut codes: BTreeMap<i32, u64> = BTreeMap::new();
    for row in db.query_all(&q).await? {
        let status: String = row.try_get("", "status")?;
        let code: Option<i32> = row.try_get("", "code")?;
        match status.as_str() {
            "sent" | "delivered" | "read" | "played" => decided += 1,
            "failed" if code == Some(LIMITED_BY_META) => decided += 1,
            "failed" => {
                decided += 1;
                failed += 1;
                *codes.entry(code.unwrap_or(0)).or_default() += 1;
            }
            _ => {}
        }
    }
    let top = codes.into_iter().max_by_key(|(_, n)| *n).map(|(c, _)| c).filter(|c| *c != 0);
    Ok((decided, failed, top))
}

/// Recipients whose message Meta limited (131049) and that have attempts left (`attempt < max`).
pub async fn limited_recipients<C: ConnectionTrait>(
    db: &C,
    c: &campaigns::Model,
    max: i32,
) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let (mut q, m) = with_messages(c);
    let r = Alias::new(RECIPIENTS);
    let q = q
        .expr_as(Expr::col((r.clone(), campaign_recipients::Column::Id)), Alias::new("id"))
        .and_where(Expr::col((r.clone(), campaign_recipients::Column::State)).eq(RecipientState::Queued.as_str()))
        .and_where(Expr::col((r, campaign_recipients::Column::Attempt)).lt(max))
        .and_where(Expr::col((m.clone(), messages::Column::Status)).eq("failed"))
        .and_where(Expr::col((m, messages::Column::ErrorCode)).eq(LIMITED_BY_META))
        .to_owned();
    let mut out = Vec::new();
    for row in db.query_all(&q).await? {
        out.push(row.try_get("", "id")?);
    }
    Ok(out)
}

/// Pending recipients of a campaign, up to `limit`, in id order.
pub async fn pending<C: ConnectionTrait>(
    db: &C,
    c: &campaigns::Model,
    limit: u64,
) -> Result<Vec<campaign_recipients::Model>, sea_orm::DbErr> {
    campaign_recipients::Entity::find()
        .filter(campaign_recipients::Column::TenantId.eq(c.tenant_id))
        .filter(campaign_recipients::Column::CampaignId.eq(c.id))
        .filter(campaign_recipients::Column::State.eq(RecipientState::Pending))
        .order_by_asc(campaign_recipients::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
