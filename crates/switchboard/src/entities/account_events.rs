use sea_orm::entity::prelude::*;

/// Account-level webhooks (account_update, value.errors, unknown fields) kept for the tenant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "account_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub whatsapp_account_id: Option<Uuid>,
    pub waba_id: String,
    pub field: String,
    pub payload: Json,
    /// Unique per tenant: Meta's own id for the change where it has one, else a hash of it.
    pub dedup_key: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
