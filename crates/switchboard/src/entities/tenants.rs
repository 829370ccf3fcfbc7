use sea_orm::entity::prelude::*;

use super::enums::TenantStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub status: TenantStatus,
    pub plan: String,
    pub limit_messages_per_minute: i32,
    pub limit_monthly_messages: i64,
    pub limit_max_agents: i32,
    pub limit_max_numbers: i32,
    pub theme_color: String,
    pub theme_name: String,
    pub theme_logo_url: Option<String>,
    pub billing_email: Option<String>,
    pub settings: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
