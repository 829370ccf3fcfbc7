//! Webhook processing of the kinds a batch does not do set-based: account-level changes (kept in
//! `account_events`, deduplicated), template updates, marketing preferences, quality and
//! capability updates, the Business app's contact sync. Also the one-event entry point: an event
//! on its own is a batch of one ([`super::batch::process_one`]), so both paths share every rule.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use meta_cloud::webhook::{MessageKind, WebhookEvent};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::directory::RoutedAccount;
use crate::entities::enums::WebhookState;
use crate::entities::{conversations, messages, tenants, webhook_events};
use crate::events::{DomainEvent, Event};
use crate::ids::TenantId;
use crate::jobs::runner::Handler;
use crate::jobs::{NewJob, Outcome};
use crate::settings::service::SettingsDto;
use crate::state::AppState;
use crate::templates::webhook::Change as TChange;
use crate::usage;

/// The job handler for `webhook-processor` one job at a time (the queue normally runs batches).
pub fn handler() -> Handler<AppState> {
    Arc::new(|state, job| {
        Box::pin(async move {
            let p = <crate::jobs::payloads::ProcessWebhook as crate::jobs::Job>::of(&job)?;
            process_event(&state, p.event_id).await
        })
    })
}

pub(crate) fn retry(e: DbErr) -> Outcome {
    Outcome::Retry { error: e.to_string(), after: None }
}

/// Everything one transaction changed, to publish after the commit.
pub(crate) struct Ctx {
    pub(crate) events: Vec<DomainEvent>,
    pub(crate) routed: usize,
    pub(crate) unroutable: Vec<String>,
    pub(crate) tenants: HashMap<Uuid, Option<tenants::Model>>,
    pub(crate) jobs: Vec<NewJob>,
    pub(crate) tenant_id: Option<Uuid>,
    /// Usage counted by this transaction, applied once per (tenant, day) just before its commit.
    pub(crate) usage: usage::Deltas,
    /// The conversations this transaction stored messages in.
    pub(crate) conversations: HashSet<Uuid>,
    /// Why some of an event's content was not stored (e.g. a message already stored), per event.
    pub(crate) notes: HashMap<Uuid, Vec<String>>,
    /// The event being applied (for [`Ctx::note`]).
    pub(crate) event: Option<Uuid>,
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
            conversations: HashSet::new(),
            notes: HashMap::new(),
            event: None,
        }
    }

    /// Says on `event` what of it was not stored, and why.
    pub(crate) fn note(&mut self, event: Uuid, what: String) {
        self.notes.entry(event).or_default().push(what);
    }
}

/// Processes one stored webhook on its own (a batch of one, the same rules as a batch).
pub async fn process_event(state: &AppState, id: Uuid) -> Result<(), Outcome> {
    super::batch::process_one(state, None, id, "", &mut HashSet::new()).await.map(|_| ())
}

pub(crate) fn event_ids<'a>(ev: &WebhookEvent<'a>) -> (&'a str, Option<&'a str>) {
    match *ev {
        WebhookEvent::Message { waba_id, phone_number_id, .. }
        | WebhookEvent::Status { waba_id, phone_number_id, .. }
        | WebhookEvent::Echo { waba_id, phone_number_id, .. }
        | WebhookEvent::History { waba_id, phone_number_id, .. }
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

/// A processing attempt that failed: counted on the event, with its error, while its job retries
/// (the event stays `pending`; it turns `failed` when the job dies, see `webhooks::dead_job`).
pub(crate) async fn note_failed_attempt<C: ConnectionTrait>(db: &C, id: Uuid, error: &str) -> Result<(), DbErr> {
    webhook_events::Entity::update_many()
        .col_expr(webhook_events::Column::Attempts, Expr::col(webhook_events::Column::Attempts).add(1))
        .col_expr(webhook_events::Column::LastError, Expr::value(crate::jobs::truncate(error, 2000)))
        .filter(webhook_events::Column::Id.eq(id))
        .filter(webhook_events::Column::State.eq(WebhookState::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// Applies one event of the kinds the batch does not do set-based.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    ev: WebhookEvent<'_>,
) -> Result<(), DbErr> {
    match ev {
        // Messages with a customer and an id are stored by the batch; these name no one.
        WebhookEvent::Message { message: m, .. }
        | WebhookEvent::Echo { message: m, .. }
        | WebhookEvent::History { message: m, .. } => {
            // Without a customer or an id there is nothing to thread or deduplicate: keep it visible.
            account_event(txn, ctx, acct, "unattributable_message", m.raw.clone(), None).await.map(|_| ())
        }
        // Statuses are applied by the batch (`batch::apply_statuses`).
        WebhookEvent::Status { .. } => Ok(()),
        WebhookEvent::TemplateStatus { update, .. } => templates_change(txn, ctx, acct, TChange::Status(update)).await,
        WebhookEvent::TemplateCategory { update, .. } => {
            templates_change(txn, ctx, acct, TChange::Category(update)).await
        }
        WebhookEvent::TemplateQuality { update, .. } => {
            templates_change(txn, ctx, acct, TChange::Quality(update)).await
        }
        WebhookEvent::Error { error, .. } => {
            account_event(txn, ctx, acct, "errors", serde_json::to_value(error).unwrap_or(Value::Null), None)
                .await
                .map(|_| ())
        }
        WebhookEvent::Other { field, value, .. } => {
            let key = crate::accounts::events::meta_key(field, value);
            if !account_event(txn, ctx, acct, field, value.clone(), key).await? {
                return Ok(()); // a redelivery: it was acted on the first time
            }
            let events = &mut ctx.events;
            match field {
                "user_preferences" => {
                    crate::contacts::webhook::apply_user_preferences(txn, events, TenantId(acct.tenant_id), value).await
                }
                "phone_number_quality_update" | "business_capability_update" => {
                    crate::accounts::service::apply_limits(txn, events, acct, field, value).await
                }
                "smb_app_state_sync" => {
                    crate::contacts::webhook::apply_app_state_sync(txn, events, TenantId(acct.tenant_id), value).await
                }
                _ => Ok(()),
            }
        }
    }
}

/// Stores an account-level change once (`accounts::events::store`); a redelivery is noted on the
/// event. Returns whether it was new.
async fn account_event(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    field: &str,
    payload: Value,
    key: Option<String>,
) -> Result<bool, DbErr> {
    let stored = crate::accounts::events::store(txn, &mut ctx.events, acct, field, payload, key).await?;
    if !stored && let Some(e) = ctx.event {
        ctx.note(e, format!("{field} already stored"));
    }
    Ok(stored)
}

async fn templates_change(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    change: TChange<'_>,
) -> Result<(), DbErr> {
    let at = crate::templates::webhook::Account { tenant: acct.tenant_id, waba_id: &acct.waba_id, id: acct.id };
    let held = held_by_meta(&change);
    crate::templates::webhook::apply(txn, &mut ctx.events, &at, change).await?;
    // A template Meta held stops its running campaigns now, not at their next round.
    if let Some((meta_id, why)) = held {
        let events =
            crate::campaigns::service::hold_for_template(txn, TenantId(acct.tenant_id), &meta_id, &why).await?;
        ctx.events.extend(events);
    }
    Ok(())
}

/// The template and the reason when a change means Meta will not send it: a status other than
/// approved (paused, disabled, rejected, …; flagged templates still send), or a RED quality rating.
fn held_by_meta(change: &TChange<'_>) -> Option<(String, String)> {
    match change {
        TChange::Status(u) => {
            let status = u.event.to_ascii_uppercase();
            let sends = ["APPROVED", "FLAGGED", "REINSTATED"].contains(&status.as_str());
            let id = u.message_template_id?;
            (!sends).then(|| (id.to_string(), format!("the template is {status}")))
        }
        TChange::Quality(u) => {
            let q = u.new_quality_score.as_deref()?.to_ascii_uppercase();
            let id = u.message_template_id?;
            (q == "RED").then(|| (id.to_string(), "the template's quality is rated RED".to_string()))
        }
        TChange::Category(_) => None,
    }
}

/// The tenant's settings, read once per transaction (typed: `settings::service::dto`).
pub(crate) async fn settings_of(txn: &DatabaseTransaction, ctx: &mut Ctx, tenant: Uuid) -> Result<SettingsDto, DbErr> {
    let t = match ctx.tenants.get(&tenant) {
        Some(t) => t.clone(),
        None => {
            let t = tenants::Entity::find_by_id(tenant).one(txn).await?;
            ctx.tenants.insert(tenant, t.clone());
            t
        }
    };
    let t = t.ok_or_else(|| DbErr::RecordNotFound(format!("tenant {tenant}")))?;
    Ok(crate::settings::service::dto(&t))
}

/// Opts the contact out when the whole message is one of the tenant's opt-out keywords
/// (case-insensitive). Returns whether it did.
pub(crate) async fn opt_out_on_keyword(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    contact: &crate::entities::contacts::Model,
    body: &str,
) -> Result<bool, DbErr> {
    let keywords = settings_of(txn, ctx, contact.tenant_id).await?.opt_out_keywords;
    let said = body.trim().trim_end_matches(['.', '!']).to_uppercase();
    if !keywords.iter().any(|k| k.trim().to_uppercase() == said) {
        return Ok(false);
    }
    let changed =
        crate::contacts::service::set_marketing_opt_out(txn, contact, true, "keyword", json!({ "keyword": said }))
            .await?;
    if changed {
        ctx.events.push(crate::contacts::service::opt_event(contact, true, "keyword"));
    }
    Ok(changed)
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
            crate::jobs::Job::job(&crate::jobs::payloads::DownloadMedia {
                tenant_id: tenant,
                message_id: msg.id,
                account_id,
                media_id: x.id.clone(),
                url: x.url.clone(),
            })
            .unique(format!("media:{}", msg.id))
            .tenant(tenant),
        );
    }
    ctx.events.push(DomainEvent::new(tenant, Event::MessageCreated(msg.into())));
    ctx.events.push(DomainEvent::new(
        tenant,
        Event::ConversationUpdated(crate::events::ConversationUpdated::of(conv, None, opened)),
    ));
}
