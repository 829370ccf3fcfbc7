use sea_orm::entity::prelude::*;

use super::enums::{Direction, MessageStatus};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Direction,
    pub msg_type: String,
    pub content: Json,
    pub raw: Option<Json>,
    pub wa_message_id: Option<String>,
    pub client_message_id: Option<String>,
    pub status: MessageStatus,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub read_at: Option<DateTimeUtc>,
    pub played_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
    pub error_code: Option<i32>,
    pub error_title: Option<String>,
    pub error_details: Option<String>,
    pub reply_to_id: Option<Uuid>,
    pub reply_to_wa_id: Option<String>,
    /// The sender of the quoted message as Meta reported it (`context.from`).
    pub reply_to_from: Option<String>,
    /// Outbound messages Switchboard did not send: `business_app` (coexistence echo), `history`.
    pub origin: Option<String>,
    pub sender_user_id: Option<Uuid>,
    /// Pricing was counted into daily usage (once per message).
    pub billed: bool,
    /// Set (and committed) just before the request to Meta: a send found with this set and no
    /// wamid has an unknown outcome and is never repeated.
    pub send_started_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
