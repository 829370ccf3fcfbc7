use sea_orm::entity::prelude::*;

use super::enums::AccountStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "whatsapp_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    /// AES-256-GCM ciphertext; AAD binds tenant and purpose.
    pub access_token_enc: String,
    pub access_token_last4: String,
    pub app_secret_enc: Option<String>,
    pub verify_token: String,
    pub status: AccountStatus,
    pub throughput_mps: i32,
    pub is_sandbox: bool,
    /// Meta's quality rating for the number (`GREEN`, `YELLOW`, `RED`, …), from webhooks.
    pub quality_rating: Option<String>,
    /// The messaging limit tier Meta reports (`TIER_1K`, `TIER_UNLIMITED`, …), from webhooks.
    pub messaging_limit: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
