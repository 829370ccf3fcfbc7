use sea_orm::entity::prelude::*;

use super::enums::RecipientState;

/// One recipient of a campaign: unique per (campaign, contact).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaign_recipients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    pub contact_id: Uuid,
    pub state: RecipientState,
    /// Why it was skipped or failed before sending: a code (`opted_out`, `no_phone_number`, …).
    pub reason: Option<String>,
    pub detail: Option<String>,
    /// Its message, once created.
    pub message_id: Option<Uuid>,
    /// 0 for the first message; each retry after Meta limited it (131049) adds one.
    pub attempt: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
