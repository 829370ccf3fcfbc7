use sea_orm::entity::prelude::*;

use super::enums::ConversationStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    pub whatsapp_account_id: Uuid,
    pub status: ConversationStatus,
    pub assignee_id: Option<Uuid>,
    pub tags: Json,
    /// Drives the 24-hour customer-service window.
    pub last_inbound_at: Option<DateTimeUtc>,
    pub last_message_at: DateTimeUtc,
    pub last_message_preview: Option<String>,
    pub unread_count: i32,
    pub first_response_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
