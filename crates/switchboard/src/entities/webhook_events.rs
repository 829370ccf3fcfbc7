use sea_orm::entity::prelude::*;

use super::enums::WebhookState;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub received_at: DateTimeUtc,
    pub body: Vec<u8>,
    pub headers: Json,
    pub tenant_id: Option<Uuid>,
    pub phone_number_id: Option<String>,
    pub state: WebhookState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub processed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
