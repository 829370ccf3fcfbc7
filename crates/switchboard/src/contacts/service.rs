//! Contact queries and changes. Every function takes the caller's tenant.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::csv::{self, ImportRow};
use crate::audit;
use crate::db::Scoped;
use crate::entities::contacts;
use crate::error::{AppError, AppResult};
use crate::events::DomainEvent;
use crate::ids::{TenantId, UserId};
use crate::state::AppState;

pub use crate::events::{ContactDto, tags_of};

/// A position in the (updated_at desc, id desc) order; opaque to clients (base64url).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub updated_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// The shared keyset cursor format (`crate::pagination`).
    pub fn encode(&self) -> String {
        crate::pagination::encode(self.updated_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        crate::pagination::decode(s).ok().map(|(updated_at, id)| Cursor { updated_at, id })
    }
}

/// Escapes LIKE wildcards; patterns use `\` as the escape character.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn contains(pattern: &str) -> LikeExpr {
    LikeExpr::new(format!("%{}%", like_escape(pattern))).escape('\\')
}

/// Parsed list parameters.
pub struct ListQuery {
    pub search: Option<String>,
    pub tag: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: u64,
}

/// One page of contacts and the cursor of the next (if any).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    q: &ListQuery,
) -> AppResult<(Vec<contacts::Model>, Option<Cursor>)> {
    let mut base = contacts::Entity::of(tenant);
    if let Some(s) = q.search.as_deref() {
        let lower = s.to_lowercase();
        let phone: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '+')).collect();
        let mut any = Condition::any()
            .add(Expr::expr(Func::lower(Expr::col(contacts::Column::Name))).like(contains(&lower)))
            .add(Expr::expr(Func::lower(Expr::col(contacts::Column::ProfileName))).like(contains(&lower)));
        if !phone.is_empty() {
            any = any.add(Expr::col(contacts::Column::WaId).like(contains(&phone)));
        }
        base = base.filter(any);
    }
    if let Some(t) = q.tag.as_deref() {
        // The JSON text of the array holds `"tag"` (both backends print strings the same way);
        // the exact element check happens below, so LIKE only narrows.
        let quoted = serde_json::to_string(t).unwrap_or_default();
        base = base.filter(Expr::col(contacts::Column::Tags).cast_as("TEXT").like(contains(&quoted)));
    }
    let want = q.limit as usize;
    let mut out: Vec<contacts::Model> = Vec::with_capacity(want + 1);
    let mut after = q.cursor;
    // With a tag filter some fetched rows may fail the exact check: fetch until the page is full.
    loop {
        let mut page = base.clone();
        if let Some(c) = after {
            page = page.filter(crate::pagination::before(
                (contacts::Entity, contacts::Column::UpdatedAt),
                (contacts::Entity, contacts::Column::Id),
                c.updated_at,
                c.id,
            ));
        }
        let batch_size = (want + 1 - out.len()) as u64;
        let batch = page
            .order_by_desc(contacts::Column::UpdatedAt)
            .order_by_desc(contacts::Column::Id)
            .limit(batch_size)
            .all(db)
            .await?;
        let exhausted = (batch.len() as u64) < batch_size;
        if let Some(last) = batch.last() {
            after = Some(Cursor { updated_at: last.updated_at, id: last.id });
        }
        out.extend(batch.into_iter().filter(|c| match q.tag.as_deref() {
            Some(t) => tags_of(&c.tags).iter().any(|x| x == t),
            None => true,
        }));
        if exhausted || out.len() > want {
            break;
        }
    }
    let next = if out.len() > want {
        out.truncate(want);
        out.last().map(|c| Cursor { updated_at: c.updated_at, id: c.id })
    } else {
        None
    };
    Ok((out, next))
}

/// The tenant's contact, or 404 (also for another tenant's id).
pub async fn get<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<contacts::Model> {
    contacts::Entity::secure_find(db, tenant, id).await?.ok_or_else(|| AppError::not_found("contact"))
}

/// Parsed changes to a contact.
#[derive(Default)]
pub struct ContactChanges {
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub attributes: Option<Value>,
    pub opted_out: Option<bool>,
}

pub async fn update(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    id: Uuid,
    ch: ContactChanges,
) -> AppResult<contacts::Model> {
    let txn = state.writer().begin().await?;
    let current = get(&txn, tenant, id).await?;
    let now = crate::db::now();
    let mut am: contacts::ActiveModel = current.clone().into();
    if let Some(n) = ch.name {
        am.name = Set(n);
    }
    if let Some(t) = ch.tags {
        am.tags = Set(json!(t));
    }
    if let Some(a) = ch.attributes {
        am.attributes = Set(a);
    }
    let opt_change = ch.opted_out.filter(|o| *o != current.opted_out);
    if let Some(o) = opt_change {
        am.opted_out = Set(o);
        am.opted_out_at = Set(o.then_some(now));
        am.opt_out_source = Set(o.then(|| "agent".to_string()));
    }
    am.updated_at = Set(now);
    let updated = am.update(&txn).await?;
    if let Some(o) = opt_change {
        audit::record(
            &txn,
            audit::Entry {
                tenant_id: Some(tenant.0),
                actor_user_id: Some(actor.0),
                action: if o { "contact.opt_out" } else { "contact.opt_in" },
                target_type: Some("contact"),
                target_id: Some(id.to_string()),
                details: json!({ "waId": updated.wa_id }),
                ip: None,
            },
        )
        .await?;
    }
    txn.commit().await?;
    state.events.publish(DomainEvent::new(tenant.0, crate::events::Event::ContactUpdated(updated.clone().into())));
    Ok(updated)
}

/// Sets or clears a contact's marketing opt-out on the customer's or Meta's word (`source`:
/// `keyword`, `user_preferences`, `meta_131050`), audited with `details`. `false` when it was
/// already so.
pub async fn set_marketing_opt_out<C: ConnectionTrait>(
    db: &C,
    c: &contacts::Model,
    opted_out: bool,
    source: &str,
    details: Value,
) -> Result<bool, sea_orm::DbErr> {
    let now = crate::db::now();
    let r = contacts::Entity::update_many()
        .col_expr(contacts::Column::OptedOut, Expr::value(opted_out))
        .col_expr(contacts::Column::OptedOutAt, Expr::value(opted_out.then_some(now)))
        .col_expr(contacts::Column::OptOutSource, Expr::value(opted_out.then(|| source.to_string())))
        .col_expr(contacts::Column::UpdatedAt, Expr::value(now))
        .filter(contacts::Column::Id.eq(c.id))
        .filter(contacts::Column::OptedOut.eq(!opted_out))
        .exec(db)
        .await?;
    if r.rows_affected == 0 {
        return Ok(false);
    }
    audit::record_db(
        db,
        audit::Entry {
            tenant_id: Some(c.tenant_id),
            actor_user_id: None,
            action: if opted_out { "contact.opt_out" } else { "contact.opt_in" },
            target_type: Some("contact"),
            target_id: Some(c.id.to_string()),
            details: json!({ "waId": c.wa_id, "userId": c.user_id, "source": source, "detail": details }),
            ip: None,
        },
    )
    .await?;
    Ok(true)
}

/// Meta refused a marketing message with 131050 ("user stopped marketing messages from you"): the
/// message's contact is opted out (audited), as if the `user_preferences` stop had arrived.
/// Returns the contact when this changed it.
pub async fn opted_out_by_meta<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
) -> Result<Option<contacts::Model>, sea_orm::DbErr> {
    use crate::entities::conversations;
    let Some(conv) = conversations::Entity::secure_find(db, TenantId(tenant), conversation_id).await? else {
        return Ok(None);
    };
    let Some(c) = contacts::Entity::secure_find(db, TenantId(tenant), conv.contact_id).await? else {
        return Ok(None);
    };
    let changed = set_marketing_opt_out(db, &c, true, "meta_131050", json!({ "messageId": message_id })).await?;
    Ok(changed.then_some(c))
}

/// `contact.updated` for a contact whose marketing opt-out was just set or cleared by `source`.
pub fn opt_event(c: &crate::entities::contacts::Model, opted_out: bool, source: &str) -> crate::events::DomainEvent {
    let mut now = c.clone();
    now.opted_out = opted_out;
    now.opted_out_at = opted_out.then(crate::db::now);
    now.opt_out_source = opted_out.then(|| source.to_string());
    crate::events::DomainEvent::new(c.tenant_id, crate::events::Event::ContactUpdated(now.into()))
}

/// Meta's code for a marketing message refused because the customer stopped marketing messages.
pub const STOPPED_MARKETING: i32 = 131050;

/// A data row the import did not apply, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefusedRow {
    /// Record number in the file; the header is row 1.
    pub row: usize,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    /// New contacts.
    pub imported: usize,
    /// Existing contacts (same phone) updated.
    pub updated: usize,
    pub refused: Vec<RefusedRow>,
}

/// Parses the file and applies the rules to every row; file-level problems are errors.
/// `country`: how phones without `+` are read (`domain::parse_phone`).
pub fn parse_import(
    text: &str,
    country: Option<crate::domain::Country>,
) -> AppResult<(Vec<ImportRow>, Vec<RefusedRow>)> {
    let invalid = |m: String| AppError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv", m);
    let records = csv::parse(text).map_err(invalid)?;
    let Some((head, rows)) = records.split_first() else {
        return Err(invalid("the file is empty; expected a header row with a phone column".into()));
    };
    if rows.len() > csv::MAX_ROWS {
        return Err(AppError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_rows",
            format!("the file has {} rows; at most {} per import", rows.len(), csv::MAX_ROWS),
        ));
    }
    let header = csv::Header::parse(&head.fields).map_err(invalid)?;
    let mut good: Vec<ImportRow> = Vec::new();
    let mut refused = Vec::new();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    for r in rows {
        match csv::row(&header, r, country) {
            Ok(row) => {
                if let Some(first) = first_row.get(&row.wa_id) {
                    refused.push(RefusedRow { row: r.row, reason: format!("duplicate phone: same as row {first}") });
                } else {
                    first_row.insert(row.wa_id.clone(), r.row);
                    good.push(row);
                }
            }
            Err(reason) => refused.push(RefusedRow { row: r.row, reason }),
        }
    }
    Ok((good, refused))
}

/// Upserts the rows by (tenant, wa_id) in one transaction. Existing contacts keep their fields
/// unless the row sets them: a non-empty name replaces the name, tags are added, attributes merged.
pub async fn import(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    rows: Vec<ImportRow>,
    mut refused: Vec<RefusedRow>,
) -> AppResult<ImportReport> {
    let txn = state.writer().begin().await?;
    let now = crate::db::now();
    let mut existing: HashMap<String, contacts::Model> = HashMap::new();
    for chunk in rows.chunks(500) {
        let found = contacts::Entity::of(tenant)
            .filter(contacts::Column::WaId.is_in(chunk.iter().map(|r| r.wa_id.clone())))
            .all(&txn)
            .await?;
        for c in found {
            if let Some(w) = c.wa_id.clone() {
                existing.insert(w, c);
            }
        }
    }
    let mut inserts = Vec::new();
    let mut updated = 0usize;
    for r in rows {
        match existing.remove(&r.wa_id) {
            None => inserts.push({
                let mut row = super::identity::new_row(tenant.0, Some(r.wa_id), None);
                row.name = Set(r.name);
                row.tags = Set(json!(r.tags));
                row.attributes = Set(Value::Object(r.attributes));
                row
            }),
            Some(c) => {
                let tags = match csv::clean_tags(tags_of(&c.tags).into_iter().chain(r.tags)) {
                    Ok(t) => t,
                    Err(reason) => {
                        refused.push(RefusedRow { row: r.row, reason });
                        continue;
                    }
                };
                let mut attributes: Map<String, Value> = c.attributes.as_object().cloned().unwrap_or_default();
                attributes.extend(r.attributes);
                let attributes = Value::Object(attributes);
                if let Err(e) = csv::check_attributes(&attributes) {
                    refused.push(RefusedRow {
                        row: r.row,
                        reason: format!("attributes {e} (merged with the existing ones)"),
                    });
                    continue;
                }
                let mut am: contacts::ActiveModel = c.into();
                if let Some(n) = r.name {
                    am.name = Set(Some(n));
                }
                am.tags = Set(json!(tags));
                am.attributes = Set(attributes);
                am.updated_at = Set(now);
                am.update(&txn).await?;
                updated += 1;
            }
        }
    }
    // 12 columns a row: 100 rows stay far below every backend's bind-parameter limit. A contact
    // created meanwhile by an inbound message wins (the row is then neither imported nor updated).
    let mut imported = 0usize;
    let mut batches = Vec::new();
    let mut it = inserts.into_iter().peekable();
    while it.peek().is_some() {
        batches.push(it.by_ref().take(100).collect::<Vec<_>>());
    }
    for batch in batches {
        imported += contacts::Entity::insert_many(batch)
            .on_conflict(
                OnConflict::columns([contacts::Column::TenantId, contacts::Column::WaId]).do_nothing().to_owned(),
            )
            .exec_without_returning(&txn)
            .await? as usize;
    }
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "contact.import",
            target_type: Some("contact"),
            target_id: None,
            details: json!({ "imported": imported, "updated": updated, "refused": refused.len() }),
            ip: None,
        },
    )
    .await?;
    txn.commit().await?;
    refused.sort_by_key(|r| r.row);
    Ok(ImportReport { imported, updated, refused })
}
