use sea_orm::entity::prelude::*;

use super::enums::CampaignState;

/// A bulk send of one approved template from one number to an audience (`campaigns`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub whatsapp_account_id: Uuid,
    pub template_id: Uuid,
    /// Template parameter → where its value comes from (`campaigns::Variables`).
    pub variables: Json,
    /// Who receives it (`campaigns::Audience`).
    pub audience: Json,
    pub state: CampaignState,
    /// Why it is paused, failed or cancelled, in words.
    pub state_reason: Option<String>,
    /// Each start or resume: the run job's key, so two clicks start one run.
    pub run_generation: i32,
    /// The audience was written into `campaign_recipients`.
    pub planned: bool,
    pub scheduled_at: Option<DateTimeUtc>,
    /// The daily send window (`campaigns::window::SendWindow`), or none.
    pub send_window: Option<Json>,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub created_by: Option<Uuid>,
    /// The `Idempotency-Key` it was created with (unique per tenant).
    pub idempotency_key: Option<String>,
    /// The `Idempotency-Key` it was started with.
    pub start_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
