//! Account-level webhooks kept for the tenant (`account_events`): `account_update`, `value.errors`,
//! group lifecycle/settings/participants and any other field the webhook processor keeps raw.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

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
    let mut q = account_events::Entity::find()
        .filter(account_events::Column::TenantId.eq(tenant.0))
        .filter(account_events::Column::WabaId.eq(account.waba_id.as_str()));
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
