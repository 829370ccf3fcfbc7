use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub whatsapp_account_id: Uuid,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: Json,
    pub meta_template_id: Option<String>,
    pub rejection_reason: Option<String>,
    pub quality_score: Option<String>,
    /// Meta's details of the latest status: `rejection_info`, `other_info` (pause) or `disable_info`.
    pub status_details: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
