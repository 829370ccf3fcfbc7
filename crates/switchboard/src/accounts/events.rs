//! Account-level webhooks kept for the tenant (`account_events`): `account_update`, `value.errors`,
//! group lifecycle/settings/participants and any other field the webhook processor keeps raw.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::{account_events, whatsapp_accounts};
use crate::error::AppResult;
use crate::ids::TenantId;

/// One stored account-level webhook change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountEventDto {
    pub id: Uuid,
    /// The number the processor routed the event to. A WABA-level event (`account_update`, …) names
    /// no number and is routed to one number of its WABA.
    pub whatsapp_account_id: Option<Uuid>,
    pub waba_id: String,
    /// Meta's webhook field: `account_update`, `errors`, `group_lifecycle_update`, …
    pub field: String,
    /// The change's `value` as Meta sent it (for `errors`, the error object).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// When it was processed.
    pub created_at: DateTime<Utc>,
}

impl From<account_events::Model> for AccountEventDto {
    fn from(e: account_events::Model) -> Self {
        AccountEventDto {
            id: e.id,
            whatsapp_account_id: e.whatsapp_account_id,
            waba_id: e.waba_id,
            field: e.field,
            payload: e.payload,
            created_at: e.created_at,
        }
    }
}

/// The account events of `account`'s WABA in its tenant, newest first, keyset-paginated on
/// (created_at, id). Scoped by tenant and WABA rather than by number: Meta sends WABA-level events
/// without a phone number id and the processor stores them against whichever number of the WABA it
/// resolves first, so every number of the WABA lists them (each row says which number it was
/// routed to).
pub async fn page<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    account: &whatsapp_accounts::Model,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> AppResult<Vec<account_events::Model>> {
    let mut q = account_events::Entity::of(tenant).filter(account_events::Column::WabaId.eq(account.waba_id.as_str()));
    if let Some((ts, id)) = cursor {
        q = q.filter(crate::pagination::before(
            (account_events::Entity, account_events::Column::CreatedAt),
            (account_events::Entity, account_events::Column::Id),
            ts,
            id,
        ));
    }
    Ok(q.order_by_desc(account_events::Column::CreatedAt)
        .order_by_desc(account_events::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

// ---- storing account-level webhooks (webhook processing calls these) --------------------------

use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseTransaction, DbErr, Set};
use sha2::{Digest, Sha256};

use crate::directory::RoutedAccount;
use crate::events::{DomainEvent, Event};

/// Meta's own ids for a change, where it has them (calls): the deduplication key.
pub fn meta_key(field: &str, value: &Value) -> Option<String> {
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
pub fn change_hash(waba: &str, field: &str, value: &Value) -> String {
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
pub async fn store(
    txn: &DatabaseTransaction,
    events: &mut Vec<DomainEvent>,
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
        return Ok(false);
    }
    events.push(DomainEvent::new(
        acct.tenant_id,
        Event::AccountEvent(crate::events::AccountEvent {
            whatsapp_account_id: acct.id,
            field: field.to_string(),
            payload,
        }),
    ));
    Ok(true)
}
