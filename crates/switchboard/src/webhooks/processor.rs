//! Webhook processing of the kinds a batch does not do set-based: account-level changes (kept in
//! `account_events`, deduplicated), template updates, marketing preferences, quality and
//! capability updates, the Business app's contact sync. Also the one-event entry point: an event
//! on its own is a batch of one ([`super::batch::process_one`]), so both paths share every rule.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use meta_cloud::webhook::{MessageKind, WebhookEvent};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::accounts::directory::RoutedAccount;
use crate::contacts::identity::{self, Sighting, Source};
use crate::entities::enums::WebhookState;
use crate::entities::{account_events, conversations, messages, templates, tenants, webhook_events, whatsapp_accounts};
use crate::events::{DomainEvent, Event};
use crate::jobs::runner::Handler;
use crate::jobs::{NewJob, Outcome};
use crate::settings::service::SettingsDto;
use crate::state::AppState;
use crate::usage;

/// The job handler for `webhook-processor` one job at a time (the queue normally runs batches).
pub fn handler() -> Handler {
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
            account_event(txn, ctx, acct, "errors", serde_json::to_value(error).unwrap_or(Value::Null), None)
                .await
                .map(|_| ())
        }
        WebhookEvent::Other { field, value, .. } => {
            let stored = account_event(txn, ctx, acct, field, value.clone(), meta_key(field, value)).await?;
            if !stored {
                return Ok(()); // a redelivery: it was acted on the first time
            }
            match field {
                "user_preferences" => user_preferences(txn, ctx, acct, value).await,
                "phone_number_quality_update" | "business_capability_update" => {
                    number_limits(txn, ctx, acct, field, value).await
                }
                "smb_app_state_sync" => app_state_sync(txn, ctx, acct, value).await,
                _ => Ok(()),
            }
        }
    }
}

/// Meta's own ids for a change, where it has them (calls): the deduplication key.
fn meta_key(field: &str, value: &Value) -> Option<String> {
    if field != "calls" {
        return None;
    }
    let mut ids: Vec<String> = Vec::new();
    for (list, what) in [("calls", "event"), ("statuses", "status")] {
        for c in value.get(list).and_then(Value::as_array).into_iter().flatten() {
            if let Some(id) = c.get("id").and_then(Value::as_str) {
                ids.push(format!("{id}/{}", c.get(what).and_then(Value::as_str).unwrap_or_default()));
            }
        }
    }
    (!ids.is_empty()).then(|| format!("calls:{}", ids.join(",")))
}

/// The deduplication key of a change without Meta ids: a hash of its canonical JSON (object keys
/// sorted), its field and its WABA. A redelivered body hashes the same.
pub(crate) fn change_hash(waba: &str, field: &str, value: &Value) -> String {
    fn canon(v: &Value, out: &mut String) {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                out.push('{');
                for k in keys {
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push(':');
                    canon(&o[k], out);
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for x in a {
                    canon(x, out);
                    out.push(',');
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    canon(value, &mut s);
    let digest = Sha256::new()
        .chain_update(waba)
        .chain_update([0])
        .chain_update(field)
        .chain_update([0])
        .chain_update(s)
        .finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{field}:{hex}")
}

/// Stores an account-level change once per tenant (`dedup_key` unique); `false` when it was
/// already stored (a redelivery).
async fn account_event(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    field: &str,
    payload: Value,
    key: Option<String>,
) -> Result<bool, DbErr> {
    let key = key.unwrap_or_else(|| change_hash(&acct.waba_id, field, &payload));
    let res = account_events::Entity::insert(account_events::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(acct.tenant_id),
        whatsapp_account_id: Set(Some(acct.id)),
        waba_id: Set(acct.waba_id.clone()),
        field: Set(field.to_string()),
        payload: Set(payload.clone()),
        dedup_key: Set(Some(key)),
        created_at: Set(crate::db::now()),
    })
    .on_conflict(
        OnConflict::columns([account_events::Column::TenantId, account_events::Column::DedupKey])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await;
    let inserted = match res {
        Ok(n) => n > 0,
        Err(DbErr::RecordNotInserted) => false,
        Err(e) => return Err(e),
    };
    if !inserted {
        if let Some(e) = ctx.event {
            ctx.note(e, format!("{field} already stored"));
        }
        return Ok(false);
    }
    ctx.events.push(DomainEvent::new(
        acct.tenant_id,
        Event::AccountEvent(crate::events::AccountEvent {
            whatsapp_account_id: acct.id,
            field: field.to_string(),
            payload,
        }),
    ));
    Ok(true)
}

/// `user_preferences`: a customer stopped or resumed marketing messages.
async fn user_preferences(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    value: &Value,
) -> Result<(), DbErr> {
    for p in value.get("user_preferences").and_then(Value::as_array).into_iter().flatten() {
        let category = p.get("category").and_then(Value::as_str).unwrap_or_default();
        let opted_out = match p.get("value").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("stop") => true,
            Some("resume") => false,
            _ => continue, // an unknown preference: stored, not acted on
        };
        if category != "marketing_messages" {
            continue;
        }
        let who = Sighting::new(
            acct.tenant_id,
            p.get("wa_id").and_then(Value::as_str),
            p.get("user_id").and_then(Value::as_str),
        );
        if !who.identifies() {
            continue;
        }
        let Some(c) = identity::resolve(txn, None, &[who]).await?.contacts.pop().flatten() else { continue };
        let detail = p.get("detail").cloned().unwrap_or(Value::Null);
        if crate::contacts::service::set_marketing_opt_out(txn, &c, opted_out, "user_preferences", detail).await? {
            ctx.events.push(crate::contacts::service::opt_event(&c, opted_out, "user_preferences"));
        }
    }
    Ok(())
}

/// `phone_number_quality_update` (the number's messaging limit, flagged or not) and
/// `business_capability_update` (the portfolio's daily limit, for every number of the WABA).
async fn number_limits(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    field: &str,
    value: &Value,
) -> Result<(), DbErr> {
    let tier = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(match n.as_i64()? {
                -1 => "TIER_UNLIMITED".into(),
                250 => "TIER_250".into(),
                1000 => "TIER_1K".into(),
                2000 => "TIER_2K".into(),
                10000 => "TIER_10K".into(),
                100000 => "TIER_100K".into(),
                n => format!("TIER_{n}"),
            }),
            _ => None,
        }
    };
    let limit = tier(value.get("current_limit"))
        .or_else(|| tier(value.get("max_daily_conversations_per_business")))
        .or_else(|| tier(value.get("max_daily_conversation_per_phone")));
    let quality = value.get("quality_rating").and_then(Value::as_str).map(str::to_string).or_else(|| {
        match value.get("event").and_then(Value::as_str) {
            Some("FLAGGED") => Some("FLAGGED".into()),
            Some("UNFLAGGED") => Some("GREEN".into()),
            _ => None,
        }
    });
    if limit.is_none() && quality.is_none() {
        return Ok(());
    }
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let number = value.get("display_phone_number").and_then(Value::as_str).map(digits);
    let accounts = whatsapp_accounts::Entity::find()
        .filter(whatsapp_accounts::Column::TenantId.eq(acct.tenant_id))
        .filter(whatsapp_accounts::Column::WabaId.eq(acct.waba_id.as_str()))
        .all(txn)
        .await?;
    for a in accounts {
        // A quality update names its number; a capability update is for the whole WABA.
        if field == "phone_number_quality_update"
            && number.as_deref().is_some_and(|n| digits(&a.display_phone_number) != n)
            && a.id != acct.id
        {
            continue;
        }
        let mut q = whatsapp_accounts::Entity::update_many()
            .col_expr(whatsapp_accounts::Column::UpdatedAt, Expr::value(crate::db::now()))
            .filter(whatsapp_accounts::Column::Id.eq(a.id));
        if let Some(l) = &limit {
            q = q.col_expr(whatsapp_accounts::Column::MessagingLimit, Expr::value(l.clone()));
        }
        if let Some(r) = &quality {
            q = q.col_expr(whatsapp_accounts::Column::QualityRating, Expr::value(r.clone()));
        }
        q.exec(txn).await?;
        ctx.events.push(DomainEvent::new(
            acct.tenant_id,
            Event::AccountUpdated(crate::events::AccountUpdated {
                whatsapp_account_id: a.id,
                quality_rating: quality.clone().or(a.quality_rating.clone()),
                messaging_limit: limit.clone().or(a.messaging_limit.clone()),
            }),
        ));
    }
    Ok(())
}

/// `smb_app_state_sync`: the Business app's contact book. An added or edited contact is created
/// or updated (its name is the business's name for them); a removal changes nothing here (the
/// contact keeps its history) and is only stored.
async fn app_state_sync(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    acct: &RoutedAccount,
    value: &Value,
) -> Result<(), DbErr> {
    for item in value.get("state_sync").and_then(Value::as_array).into_iter().flatten() {
        if item.get("type").and_then(Value::as_str) != Some("contact")
            || item.get("action").and_then(Value::as_str) != Some("add")
        {
            continue;
        }
        let Some(c) = item.get("contact") else { continue };
        let phone = c.get("phone_number").and_then(Value::as_str).map(|p| p.trim_start_matches('+'));
        let who = Sighting::new(acct.tenant_id, phone, c.get("user_id").and_then(Value::as_str))
            .profile(None, c.get("username").and_then(Value::as_str))
            .source(Source::AppStateSync);
        if !who.identifies() {
            continue;
        }
        let Some(contact) = identity::resolve(txn, None, &[who]).await?.contacts.pop().flatten() else { continue };
        let name = c.get("full_name").or_else(|| c.get("first_name")).and_then(Value::as_str).map(str::trim);
        let mut now = contact.clone();
        if let Some(name) = name.filter(|n| !n.is_empty())
            && contact.name.as_deref() != Some(name)
        {
            now.name = Some(name.to_string());
            crate::entities::contacts::Entity::update_many()
                .col_expr(crate::entities::contacts::Column::Name, Expr::value(name))
                .col_expr(crate::entities::contacts::Column::UpdatedAt, Expr::value(crate::db::now()))
                .filter(crate::entities::contacts::Column::Id.eq(contact.id))
                .exec(txn)
                .await?;
        }
        ctx.events.push(DomainEvent::new(acct.tenant_id, Event::ContactUpdated(now.into())));
    }
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
    ctx.events.push(DomainEvent::new(
        acct.tenant_id,
        Event::TemplateUpdated(crate::events::TemplateUpdated {
            whatsapp_account_id: Some(acct.id),
            template_ids: Vec::new(),
            meta_template_id: Some(meta_id.to_string()),
            status: None,
            deleted: false,
        }),
    ));
    Ok(())
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
