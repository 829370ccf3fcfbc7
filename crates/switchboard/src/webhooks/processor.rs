//! The `webhook-processor` job: parses a stored webhook and applies every entry, change, message
//! and status of it in one transaction. Re-running it is harmless: the unique wamid makes a
//! repeated message a no-op and statuses only move forward.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use meta_cloud::webhook::{self as mw, MessageKind, WebhookEvent};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait, TryInsertResult,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::directory::RoutedAccount;
use crate::entities::enums::{ConversationStatus, Direction, MessageStatus, WebhookState};
use crate::entities::{
    account_events, contacts, conversations, messages, pending_statuses, templates, tenants, webhook_events,
};
use crate::events::DomainEvent;
use crate::jobs::runner::Handler;
use crate::jobs::{NewJob, Outcome, queues};
use crate::messages::{MessageDto, status};
use crate::state::AppState;
use crate::usage;

/// The job handler for `webhook-processor`.
pub fn handler() -> Handler {
    Arc::new(|state, job| {
        Box::pin(async move {
            let id = job
                .payload
                .get("eventId")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Uuid>().ok())
                .ok_or_else(|| Outcome::Dead { error: "payload has no eventId".into() })?;
            process_event(&state, id).await
        })
    })
}

pub(crate) fn retry(e: DbErr) -> Outcome {
    Outcome::Retry { error: e.to_string(), after: None }
}

/// Everything one event changed, to publish after the commit.
pub(crate) struct Ctx {
    pub(crate) events: Vec<DomainEvent>,
    pub(crate) routed: usize,
    pub(crate) unroutable: Vec<String>,
    pub(crate) tenants: HashMap<Uuid, Option<tenants::Model>>,
    pub(crate) jobs: Vec<NewJob>,
    pub(crate) tenant_id: Option<Uuid>,
    /// Usage counted by this transaction, applied once per (tenant, day) just before its commit.
    pub(crate) usage: usage::Deltas,
    /// Conversations a failed batch created outside its transaction (PostgreSQL): the first message
    /// stored in each opens it, as it would have in the batch.
    pub(crate) fresh: HashSet<Uuid>,
}

impl Ctx {
    pub(crate) fn new(tenant_id: Option<Uuid>) -> Self {
        Self {
            events: Vec::new(),
            routed: 0,
            unroutable: Vec::new(),
            tenants: HashMap::new(),
            jobs: Vec::new(),
            tenant_id,
            usage: HashMap::new(),
            fresh: HashSet::new(),
        }
    }
}

pub async fn process_event(state: &AppState, id: Uuid) -> Result<(), Outcome> {
    process_event_fresh(state, id, &mut HashSet::new()).await
}

/// [`process_event`] after a failed batch: `fresh` holds the conversations that batch created
/// outside its transaction; those this event's messages open are taken out once committed.
pub(crate) async fn process_event_fresh(state: &AppState, id: Uuid, fresh: &mut HashSet<Uuid>) -> Result<(), Outcome> {
    let Some(event) = webhook_events::Entity::find_by_id(id).one(&state.db).await.map_err(retry)? else {
        return Err(Outcome::Dead { error: format!("webhook event {id} not found") });
    };
    if matches!(event.state, WebhookState::Processed | WebhookState::Unroutable) {
        return Ok(()); // already done (a duplicate job, or a replay that was superseded)
    }
    let payload = match mw::parse_webhook(&event.body) {
        Ok(p) => p,
        Err(e) => {
            mark(state.writer(), id, WebhookState::Failed, Some(format!("unparseable webhook: {e}")), None)
                .await
                .map_err(retry)?;
            return Err(Outcome::Dead { error: format!("unparseable webhook: {e}") });
        }
    };

    // Resolve accounts before the transaction (cached directory, no writer time spent).
    let mut by_phone: HashMap<String, Option<Arc<RoutedAccount>>> = HashMap::new();
    let mut by_waba: HashMap<String, Vec<Arc<RoutedAccount>>> = HashMap::new();
    for ev in payload.events() {
        let (waba, phone) = event_ids(&ev);
        if let Some(p) = phone
            && !by_phone.contains_key(p)
        {
            by_phone.insert(p.to_string(), state.directory.by_phone(state, p).await);
        }
        if !by_waba.contains_key(waba) {
            by_waba.insert(waba.to_string(), state.directory.by_waba(state, waba).await);
        }
    }

    let mut ctx = Ctx::new(event.tenant_id);
    ctx.fresh = fresh.clone();
    let txn = state.writer().begin().await.map_err(retry)?;
    for ev in payload.events() {
        let (waba, phone) = event_ids(&ev);
        let acct = match phone {
            Some(p) => by_phone.get(p).cloned().flatten(),
            None => by_waba.get(waba).and_then(|v| v.first().cloned()),
        };
        let Some(acct) = acct else {
            ctx.unroutable.push(phone.unwrap_or(waba).to_string());
            continue;
        };
        ctx.routed += 1;
        ctx.tenant_id = Some(acct.tenant_id);
        apply(&txn, &mut ctx, &acct, ev).await.map_err(retry)?;
    }
    let (new_state, note) = if ctx.routed == 0 && !ctx.unroutable.is_empty() {
        (WebhookState::Unroutable, Some(format!("unknown phone number or WABA: {}", ctx.unroutable.join(", "))))
    } else if !ctx.unroutable.is_empty() {
        (WebhookState::Processed, Some(format!("skipped unknown: {}", ctx.unroutable.join(", "))))
    } else {
        (WebhookState::Processed, None)
    };
    let queued: Vec<&'static str> = ctx.jobs.iter().map(|j| j.queue).collect();
    crate::jobs::enqueue_many(&txn, std::mem::take(&mut ctx.jobs)).await.map_err(retry)?;
    mark(&txn, id, new_state, note, ctx.tenant_id).await.map_err(retry)?;
    usage::add_all(&txn, std::mem::take(&mut ctx.usage)).await.map_err(retry)?;
    txn.commit().await.map_err(retry)?;
    *fresh = std::mem::take(&mut ctx.fresh);

    for q in queued {
        state.jobs_wakeup.wake(q);
    }
    if new_state == WebhookState::Unroutable {
        crate::metrics::inc(&state.metrics.webhook_events_unroutable_total);
    } else {
        crate::metrics::inc(&state.metrics.webhook_events_processed_total);
    }
    for e in ctx.events {
        state.events.publish(e);
    }
    Ok(())
}

pub(crate) fn event_ids<'a>(ev: &WebhookEvent<'a>) -> (&'a str, Option<&'a str>) {
    match *ev {
        WebhookEvent::Message { waba_id, phone_number_id, .. }
        | WebhookEvent::Status { waba_id, phone_number_id, .. }
        | WebhookEvent::Error { waba_id, phone_number_id, .. } => (waba_id, phone_number_id),
        // Fields this model keeps raw (group events, …) may still name the number.
        WebhookEvent::Other { waba_id, value, .. } => {
            (waba_id, value.get("metadata").and_then(|m| m.get("phone_number_id")).and_then(Value::as_str))
        }
        WebhookEvent::TemplateStatus { waba_id, .. }
        | WebhookEvent::TemplateCategory { waba_id, .. }
        | WebhookEvent::TemplateQuality { waba_id, .. } => (waba_id, None),
    }
}

pub(crate) async fn mark<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    state: WebhookState,
    note: Option<String>,
    tenant_id: Option<Uuid>,
) -> Result<(), DbErr> {
    let mut q = webhook_events::Entity::update_many()
        .col_expr(webhook_events::Column::State, Expr::value(state.as_str()))
        .col_expr(webhook_events::Column::LastError, Expr::value(note))
        .col_expr(webhook_events::Column::Attempts, Expr::col(webhook_events::Column::Attempts).add(1))
        .col_expr(webhook_events::Column::ProcessedAt, Expr::value(crate::db::now()));
    if let Some(t) = tenant_id {
        q = q.col_expr(webhook_events::Column::TenantId, Expr::value(t));
    }
    q.filter(webhook_events::Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

pub(crate) fn secs_to_time(s: Option<i64>) -> DateTime<Utc> {
    s.and_then(|s| Utc.timestamp_opt(s, 0).single()).unwrap_or_else(crate::db::now)
}

pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    ev: WebhookEvent<'_>,
) -> Result<(), DbErr> {
    match ev {
        WebhookEvent::Message { contact, message, .. } => inbound_message(txn, ctx, acct, contact, message).await,
        WebhookEvent::Status { status, .. } => apply_status_event(txn, ctx, acct.tenant_id, status).await,
        WebhookEvent::TemplateStatus { update, .. } => {
            // A status that beat the create's Graph answer: adopt Meta's id by name and language.
            if let (Some(id), Some(name), Some(lang)) = (
                update.message_template_id,
                update.message_template_name.as_deref(),
                update.message_template_language.as_deref(),
            ) {
                templates::Entity::update_many()
                    .col_expr(templates::Column::MetaTemplateId, Expr::value(id.to_string()))
                    .filter(crate::templates::service::adopt_condition(acct.tenant_id, &acct.waba_id, name, lang))
                    .exec(txn)
                    .await?;
            }
            let mut changes = vec![(templates::Column::Status, Value::from(update.event.to_ascii_uppercase()))];
            // Each status replaces the previous one's reason and details (`NONE` is no reason):
            // `rejection_info {reason, recommendation}`, `other_info` (pauses), `disable_info`.
            let reason = update.reason.as_ref().filter(|r| !r.is_empty() && r.as_str() != "NONE");
            changes
                .push((templates::Column::RejectionReason, reason.map(|r| Value::from(r.clone())).unwrap_or_default()));
            let details = update
                .rejection_info
                .clone()
                .or_else(|| update.other_info.clone())
                .or_else(|| update.disable_info.clone());
            changes.push((templates::Column::StatusDetails, details.unwrap_or_default()));
            template_update(txn, ctx, acct, update.message_template_id, changes).await
        }
        WebhookEvent::TemplateCategory { update, .. } => {
            let cat = update.new_category.clone().or(update.correct_category.clone()).unwrap_or_default();
            template_update(txn, ctx, acct, update.message_template_id, vec![(templates::Column::Category, cat.into())])
                .await
        }
        WebhookEvent::TemplateQuality { update, .. } => {
            let q = update.new_quality_score.clone().unwrap_or_default();
            template_update(
                txn,
                ctx,
                acct,
                update.message_template_id,
                vec![(templates::Column::QualityScore, q.into())],
            )
            .await
        }
        WebhookEvent::Error { error, .. } => {
            account_event(txn, ctx, acct, "errors", serde_json::to_value(error).unwrap_or(Value::Null)).await
        }
        WebhookEvent::Other { field, value, .. } => account_event(txn, ctx, acct, field, value.clone()).await,
    }
}

async fn account_event(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    field: &str,
    payload: Value,
) -> Result<(), DbErr> {
    account_events::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(acct.tenant_id),
        whatsapp_account_id: Set(Some(acct.id)),
        waba_id: Set(acct.waba_id.clone()),
        field: Set(field.to_string()),
        payload: Set(payload.clone()),
        created_at: Set(crate::db::now()),
    }
    .insert(txn)
    .await?;
    ctx.events.push(DomainEvent {
        tenant_id: acct.tenant_id,
        kind: "account.event",
        data: json!({ "whatsappAccountId": acct.id, "field": field, "payload": payload }),
    });
    Ok(())
}

async fn template_update(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    meta_id: Option<i64>,
    changes: Vec<(templates::Column, Value)>,
) -> Result<(), DbErr> {
    let Some(meta_id) = meta_id else {
        return Ok(());
    };
    let mut q = templates::Entity::update_many().col_expr(templates::Column::UpdatedAt, Expr::value(crate::db::now()));
    for (col, v) in changes {
        q = match col {
            // The JSON column takes the value itself (null clears it).
            templates::Column::StatusDetails => q.col_expr(col, Expr::value((!Value::is_null(&v)).then_some(v))),
            _ => q.col_expr(col, Expr::value(v.as_str().map(str::to_string))),
        };
    }
    q.filter(templates::Column::TenantId.eq(acct.tenant_id))
        .filter(templates::Column::MetaTemplateId.eq(meta_id.to_string()))
        .exec(txn)
        .await?;
    ctx.events.push(DomainEvent {
        tenant_id: acct.tenant_id,
        kind: "template.updated",
        data: json!({ "metaTemplateId": meta_id.to_string() }),
    });
    Ok(())
}

pub(crate) async fn tenant_settings(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    tenant: Uuid,
) -> Result<Option<tenants::Model>, DbErr> {
    if let Some(t) = ctx.tenants.get(&tenant) {
        return Ok(t.clone());
    }
    let t = tenants::Entity::find_by_id(tenant).one(txn).await?;
    ctx.tenants.insert(tenant, t.clone());
    Ok(t)
}

/// Finds or creates the contact; `ON CONFLICT DO NOTHING` then a read keeps concurrent workers
/// from creating it twice.
pub async fn upsert_contact(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    wa_id: Option<&str>,
    user_id: Option<&str>,
    profile_name: Option<&str>,
) -> Result<contacts::Model, DbErr> {
    let find = || async {
        let mut q = contacts::Entity::find().filter(contacts::Column::TenantId.eq(tenant));
        q = match (wa_id, user_id) {
            (Some(w), _) => q.filter(contacts::Column::WaId.eq(w)),
            (None, Some(u)) => q.filter(contacts::Column::UserId.eq(u)),
            (None, None) => unreachable!("caller checks an id exists"),
        };
        q.one(txn).await
    };
    if let Some(c) = find().await? {
        let name_changed = profile_name.is_some() && c.profile_name.as_deref() != profile_name;
        let user_new = user_id.is_some() && c.user_id.is_none();
        if name_changed || user_new {
            let mut am: contacts::ActiveModel = c.clone().into();
            if name_changed {
                am.profile_name = Set(profile_name.map(str::to_string));
            }
            if user_new {
                am.user_id = Set(user_id.map(str::to_string));
            }
            am.updated_at = Set(crate::db::now());
            return am.update(txn).await;
        }
        return Ok(c);
    }
    let now = crate::db::now();
    contacts::Entity::insert(contacts::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant),
        wa_id: Set(wa_id.map(str::to_string)),
        user_id: Set(user_id.map(str::to_string)),
        profile_name: Set(profile_name.map(str::to_string)),
        name: Set(None),
        opted_out: Set(false),
        opted_out_at: Set(None),
        tags: Set(json!([])),
        attributes: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec(txn)
    .await?;
    find().await?.ok_or_else(|| DbErr::RecordNotFound("contact after upsert".into()))
}

/// The contact's thread on this number: created, or reopened when resolved. Returns whether a
/// conversation was opened (for usage).
pub async fn open_conversation(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    contact: Uuid,
    account: Uuid,
    at: DateTime<Utc>,
) -> Result<(conversations::Model, bool), DbErr> {
    let find = || async {
        conversations::Entity::find()
            .filter(conversations::Column::TenantId.eq(tenant))
            .filter(conversations::Column::ContactId.eq(contact))
            .filter(conversations::Column::WhatsappAccountId.eq(account))
            .one(txn)
            .await
    };
    if let Some(c) = find().await? {
        if c.status == ConversationStatus::Resolved {
            let mut am: conversations::ActiveModel = c.into();
            am.status = Set(ConversationStatus::Open);
            am.resolved_at = Set(None);
            am.first_response_at = Set(None);
            am.updated_at = Set(crate::db::now());
            return Ok((am.update(txn).await?, true));
        }
        return Ok((c, false));
    }
    let now = crate::db::now();
    let inserted = conversations::Entity::insert(conversations::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant),
        contact_id: Set(contact),
        whatsapp_account_id: Set(account),
        status: Set(ConversationStatus::Open),
        assignee_id: Set(None),
        tags: Set(json!([])),
        last_inbound_at: Set(None),
        last_message_at: Set(at),
        last_message_preview: Set(None),
        unread_count: Set(0),
        first_response_at: Set(None),
        resolved_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec(txn)
    .await?;
    let created = matches!(inserted, TryInsertResult::Inserted(_));
    let c = find().await?.ok_or_else(|| DbErr::RecordNotFound("conversation after upsert".into()))?;
    Ok((c, created))
}

/// A short human preview of a message for the conversation list.
pub fn preview(m: &mw::InboundMessage) -> String {
    let text = match &m.kind {
        MessageKind::Text(t) => t.body.clone(),
        MessageKind::Image(x) => x.caption.clone().map(|c| format!("📷 {c}")).unwrap_or_else(|| "📷 Photo".into()),
        MessageKind::Video(x) => x.caption.clone().map(|c| format!("🎥 {c}")).unwrap_or_else(|| "🎥 Video".into()),
        MessageKind::Audio(x) => if x.voice == Some(true) { "🎤 Voice message" } else { "🎵 Audio" }.into(),
        MessageKind::Document(x) => format!("📄 {}", x.filename.clone().unwrap_or_else(|| "Document".into())),
        MessageKind::Sticker(_) => "Sticker".into(),
        MessageKind::Location(l) => {
            format!("📍 {}", l.name.clone().unwrap_or_else(|| "Location".into()))
        }
        MessageKind::Contacts(_) => "👤 Contact".into(),
        MessageKind::Reaction(r) => format!("Reacted {}", r.emoji.clone().unwrap_or_default()),
        MessageKind::Unsupported { .. } => "Unsupported message".into(),
        _ => m.text().map(str::to_string).unwrap_or_else(|| format!("[{}]", m.type_name)),
    };
    let mut s: String = text.chars().take(120).collect();
    if text.chars().count() > 120 {
        s.push('…');
    }
    s
}

pub(crate) fn content_of(m: &mw::InboundMessage) -> Value {
    let mut body = m.raw.get(&m.type_name).cloned().unwrap_or_else(|| json!({}));
    if !body.is_object() {
        // e.g. `contacts` is an array: keep it under its type name.
        let mut wrapped = serde_json::Map::new();
        wrapped.insert(m.type_name.clone(), body);
        body = Value::Object(wrapped);
    }
    if let Some(obj) = body.as_object_mut() {
        if !m.errors.is_empty() {
            obj.insert("errors".into(), serde_json::to_value(&m.errors).unwrap_or(Value::Null));
        }
        if let Some(r) = &m.referral {
            obj.insert("referral".into(), serde_json::to_value(r).unwrap_or(Value::Null));
        }
        if let Some(c) = &m.context {
            if c.forwarded == Some(true) {
                obj.insert("forwarded".into(), Value::Bool(true));
            }
            if c.frequently_forwarded == Some(true) {
                obj.insert("frequentlyForwarded".into(), Value::Bool(true));
            }
            if let Some(p) = &c.referred_product {
                obj.insert("referredProduct".into(), serde_json::to_value(p).unwrap_or(Value::Null));
            }
        }
    }
    body
}

pub(crate) async fn inbound_message(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    contact: Option<&mw::Contact>,
    m: &mw::InboundMessage,
) -> Result<(), DbErr> {
    let tenant = acct.tenant_id;
    let wa_id = m.from.as_deref().or(contact.and_then(|c| c.wa_id.as_deref()));
    let user_id = m.from_user_id.as_deref().or(contact.and_then(|c| c.user_id.as_deref()));
    if (wa_id.is_none() && user_id.is_none()) || m.id.is_empty() {
        // Without a sender or an id there is nothing to thread or deduplicate: keep it visible.
        return account_event(txn, ctx, acct, "unattributable_message", m.raw.clone()).await;
    }
    let at = secs_to_time(m.timestamp_secs());
    let c = upsert_contact(txn, tenant, wa_id, user_id, contact.and_then(|c| c.name())).await?;
    let (mut conv, mut opened) = open_conversation(txn, tenant, c.id, acct.id, at).await?;
    opened |= ctx.fresh.remove(&conv.id);
    // Automatic round-robin assignment of new (or reopened) conversations, when the tenant wants it.
    if opened && conv.assignee_id.is_none() {
        let auto = tenant_settings(txn, ctx, tenant)
            .await?
            .and_then(|t| t.settings.get("autoAssign").and_then(Value::as_bool))
            .unwrap_or(false);
        if auto && let Some(agent) = crate::agents::service::pick_round_robin(txn, tenant).await? {
            conversations::Entity::update_many()
                .col_expr(conversations::Column::AssigneeId, Expr::value(agent))
                .filter(conversations::Column::Id.eq(conv.id))
                .exec(txn)
                .await?;
            conv.assignee_id = Some(agent);
        }
    }

    let quoted_wamid = match &m.kind {
        MessageKind::Reaction(r) => Some(r.message_id.clone()),
        _ => m.context.as_ref().and_then(|c| c.id.clone()),
    };
    let reply_to_id = match &quoted_wamid {
        Some(w) => messages::Entity::find()
            .filter(messages::Column::TenantId.eq(tenant))
            .filter(messages::Column::WaMessageId.eq(w.as_str()))
            .one(txn)
            .await?
            .map(|q| q.id),
        None => None,
    };
    let now = crate::db::now();
    let mut row = crate::messages::new_row(
        tenant,
        conv.id,
        Direction::Inbound,
        &m.type_name,
        content_of(m),
        MessageStatus::Received,
        at,
    );
    row.raw = Set(Some(m.raw.clone()));
    row.wa_message_id = Set(Some(m.id.clone()));
    row.reply_to_id = Set(reply_to_id);
    row.reply_to_wa_id = Set(quoted_wamid);

    // The unique wamid decides: a redelivered message inserts nothing.
    let inserted = messages::Entity::insert(row.clone())
        .on_conflict_do_nothing_on([messages::Column::WaMessageId])
        .exec(txn)
        .await?;
    if !matches!(inserted, TryInsertResult::Inserted(_)) {
        return Ok(());
    }
    let msg: messages::Model = sea_orm::TryIntoModel::try_into_model(row)?;

    let pv = preview(m);
    let mut upd = conversations::Entity::update_many()
        .col_expr(conversations::Column::UnreadCount, Expr::col(conversations::Column::UnreadCount).add(1))
        .col_expr(conversations::Column::UpdatedAt, Expr::value(now))
        .filter(conversations::Column::Id.eq(conv.id));
    // Older messages arriving late must not move the window or the list order backwards.
    if conv.last_inbound_at.is_none_or(|t| t < at) {
        upd = upd.col_expr(conversations::Column::LastInboundAt, Expr::value(at));
    }
    if conv.last_message_at <= at || opened {
        upd = upd
            .col_expr(conversations::Column::LastMessageAt, Expr::value(at))
            .col_expr(conversations::Column::LastMessagePreview, Expr::value(pv));
    }
    if conv.status == ConversationStatus::Pending {
        upd = upd.col_expr(conversations::Column::Status, Expr::value(ConversationStatus::Open.as_str()));
    }
    upd.exec(txn).await?;

    // Counted at the end of the transaction: the tenant's day row is a hot spot under load.
    let d = ctx.usage.entry((tenant, at.date_naive())).or_default();
    d.messages_in += 1;
    d.conversations_opened += opened as i64;

    if let MessageKind::Text(t) = &m.kind
        && !c.opted_out
    {
        opt_out_on_keyword(txn, ctx, tenant, c.id, &t.body).await?;
    }

    stored_inbound(ctx, acct.id, &m.kind, msg, &conv, opened);
    Ok(())
}

/// Opts the contact out when the whole message is one of the tenant's opt-out keywords
/// (case-insensitive). Returns whether it did.
pub(crate) async fn opt_out_on_keyword(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    tenant: Uuid,
    contact_id: Uuid,
    body: &str,
) -> Result<bool, DbErr> {
    let keywords: Vec<String> = tenant_settings(txn, ctx, tenant)
        .await?
        .and_then(|t| t.settings.get("optOutKeywords").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_else(|| vec!["STOP".into(), "UNSUBSCRIBE".into()]);
    let said = body.trim().trim_end_matches(['.', '!']).to_uppercase();
    if !keywords.iter().any(|k| k.trim().to_uppercase() == said) {
        return Ok(false);
    }
    let now = crate::db::now();
    contacts::Entity::update_many()
        .col_expr(contacts::Column::OptedOut, Expr::value(true))
        .col_expr(contacts::Column::OptedOutAt, Expr::value(now))
        .col_expr(contacts::Column::UpdatedAt, Expr::value(now))
        .filter(contacts::Column::Id.eq(contact_id))
        .exec(txn)
        .await?;
    ctx.events.push(DomainEvent {
        tenant_id: tenant,
        kind: "contact.updated",
        data: json!({ "contactId": contact_id, "optedOut": true }),
    });
    Ok(true)
}

/// What follows a stored inbound message (one at a time or in a batch): its media download job and
/// the realtime events.
pub(crate) fn stored_inbound(
    ctx: &mut Ctx,
    account_id: Uuid,
    kind: &MessageKind,
    msg: messages::Model,
    conv: &conversations::Model,
    opened: bool,
) {
    let tenant = msg.tenant_id;
    if let MessageKind::Image(x)
    | MessageKind::Video(x)
    | MessageKind::Audio(x)
    | MessageKind::Document(x)
    | MessageKind::Sticker(x) = kind
        && !x.id.is_empty()
    {
        ctx.jobs.push(
            NewJob::new(
                queues::MEDIA_DOWNLOAD,
                json!({ "tenantId": tenant, "messageId": msg.id, "accountId": account_id, "mediaId": x.id, "url": x.url }),
            )
            .unique(format!("media:{}", msg.id))
            .tenant(tenant),
        );
    }
    ctx.events.push(DomainEvent {
        tenant_id: tenant,
        kind: "message.created",
        data: serde_json::to_value(MessageDto::from(msg)).unwrap_or(Value::Null),
    });
    ctx.events.push(DomainEvent {
        tenant_id: tenant,
        kind: "conversation.updated",
        data: json!({ "id": conv.id, "conversationId": conv.id, "assigneeId": conv.assignee_id, "contactId": conv.contact_id, "opened": opened }),
    });
}

pub(crate) fn to_status(k: &mw::StatusKind) -> Option<MessageStatus> {
    Some(match k {
        mw::StatusKind::Sent => MessageStatus::Sent,
        mw::StatusKind::Delivered => MessageStatus::Delivered,
        mw::StatusKind::Read => MessageStatus::Read,
        mw::StatusKind::Played => MessageStatus::Played,
        mw::StatusKind::Failed => MessageStatus::Failed,
        mw::StatusKind::Other(_) => return None,
    })
}

async fn apply_status_event(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    tenant: Uuid,
    s: &mw::MessageStatus,
) -> Result<(), DbErr> {
    if s.id.is_empty() {
        return Ok(());
    }
    let msg = messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant))
        .filter(messages::Column::WaMessageId.eq(s.id.as_str()))
        .one(txn)
        .await?;
    let msg = match msg {
        Some(m) => Some(m),
        None => reconcile_by_callback(txn, tenant, s).await?,
    };
    let Some(msg) = msg else {
        // The send that produced this wamid is not recorded yet: keep the status for later.
        pending_statuses::ActiveModel {
            id: Set(crate::db::new_id()),
            tenant_id: Set(tenant),
            wa_message_id: Set(s.id.clone()),
            status: Set(s.raw.clone()),
            received_at: Set(crate::db::now()),
        }
        .insert(txn)
        .await?;
        return Ok(());
    };
    apply_status_counted(txn, &mut ctx.events, &msg, s, Some(&mut ctx.usage)).await
}

/// Applies one status to a known outbound message, counting its pricing once.
pub async fn apply_status<C: ConnectionTrait>(
    db: &C,
    events: &mut Vec<DomainEvent>,
    msg: &messages::Model,
    s: &mw::MessageStatus,
) -> Result<(), DbErr> {
    apply_status_counted(db, events, msg, s, None).await
}

/// [`apply_status`], adding its pricing to `usage` (applied by the caller before its commit)
/// instead of at once when given.
pub(crate) async fn apply_status_counted<C: ConnectionTrait>(
    db: &C,
    events: &mut Vec<DomainEvent>,
    msg: &messages::Model,
    s: &mw::MessageStatus,
    usage: Option<&mut usage::Deltas>,
) -> Result<(), DbErr> {
    if msg.direction != Direction::Outbound {
        return Ok(());
    }
    let Some(incoming) = to_status(&s.status) else {
        return Ok(());
    };
    let at = secs_to_time(s.timestamp_secs());
    let failure = (incoming == MessageStatus::Failed).then(|| {
        let e = s.errors.first();
        status::Failure {
            code: e.and_then(|e| e.code).map(|c| c as i32),
            title: e.and_then(|e| e.title.clone().or(e.message.clone())),
            details: e.and_then(|e| e.details().map(str::to_string)),
        }
    });
    status::apply(db, msg.tenant_id, msg.id, incoming, at, failure).await?;

    if let Some(p) = &s.pricing {
        let claimed = messages::Entity::update_many()
            .col_expr(messages::Column::Billed, Expr::value(true))
            .filter(messages::Column::Id.eq(msg.id))
            .filter(messages::Column::Billed.eq(false))
            .exec(db)
            .await?;
        if claimed.rows_affected == 1 {
            let cat = p.normalized_category().unwrap_or_else(|| "service".into());
            let d = usage::Delta::priced(&cat, p.billable.unwrap_or(false));
            match usage {
                Some(u) => *u.entry((msg.tenant_id, at.date_naive())).or_default() += d,
                None => usage::add(db, msg.tenant_id, at.date_naive(), d).await?,
            }
        }
    }
    let now = messages::Entity::find_by_id(msg.id).one(db).await?;
    if let Some(now) = now {
        events.push(DomainEvent {
            tenant_id: msg.tenant_id,
            kind: "message.status",
            data: json!({
                "messageId": now.id,
                "conversationId": now.conversation_id,
                "status": now.status,
                // The status this webhook reported (the message may already be further along).
                "reported": incoming,
                "error": now.error_code.map(|c| json!({"code": c, "title": now.error_title, "details": now.error_details})),
            }),
        });
    }
    Ok(())
}

/// Applies statuses that arrived before the message got its wamid (called by the sender).
pub async fn apply_pending_statuses<C: ConnectionTrait>(
    db: &C,
    events: &mut Vec<DomainEvent>,
    msg: &messages::Model,
) -> Result<(), DbErr> {
    let Some(wamid) = &msg.wa_message_id else {
        return Ok(());
    };
    let pending = pending_statuses::Entity::find()
        .filter(pending_statuses::Column::TenantId.eq(msg.tenant_id))
        .filter(pending_statuses::Column::WaMessageId.eq(wamid.as_str()))
        .order_by_asc(pending_statuses::Column::ReceivedAt)
        .all(db)
        .await?;
    for p in pending {
        // Re-wrap the stored status in an envelope so the one parser reads it.
        let envelope = json!({"object": "whatsapp_business_account", "entry": [{"id": "0", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [p.status]}}]}]});
        if let Ok(payload) = mw::WebhookPayload::from_value(envelope)
            && let Some(parsed) = payload.statuses().next()
        {
            apply_status(db, events, msg, parsed).await?;
        }
        pending_statuses::Entity::delete_by_id(p.id).exec(db).await?;
    }
    Ok(())
}

/// A status for a wamid we never recorded, carrying our message id in `biz_opaque_callback_data`:
/// the send whose outcome was unknown (a timeout after the request left) did reach Meta. Attach
/// the wamid, and undo the `outcome_unknown` failure so that the status applies.
pub(crate) async fn reconcile_by_callback(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    s: &mw::MessageStatus,
) -> Result<Option<messages::Model>, DbErr> {
    let Some(id) = s.biz_opaque_callback_data.as_deref().and_then(|c| c.parse::<Uuid>().ok()) else {
        return Ok(None);
    };
    let Some(m) = messages::Entity::find_by_id(id)
        .filter(messages::Column::TenantId.eq(tenant))
        .filter(messages::Column::WaMessageId.is_null())
        .filter(messages::Column::Direction.eq(Direction::Outbound))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    let mut q = messages::Entity::update_many()
        .col_expr(messages::Column::WaMessageId, Expr::value(s.id.clone()))
        .col_expr(messages::Column::UpdatedAt, Expr::value(crate::db::now()));
    if m.status == MessageStatus::Failed && m.error_title.as_deref() == Some("outcome_unknown") {
        q = q
            .col_expr(messages::Column::Status, Expr::value(MessageStatus::Sent.as_str()))
            .col_expr(messages::Column::FailedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(messages::Column::ErrorTitle, Expr::value(Option::<String>::None))
            .col_expr(messages::Column::ErrorDetails, Expr::value(Option::<String>::None));
    }
    q.filter(messages::Column::Id.eq(m.id)).exec(txn).await?;
    messages::Entity::find_by_id(m.id).one(txn).await
}
