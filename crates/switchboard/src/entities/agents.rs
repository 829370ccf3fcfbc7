use sea_orm::entity::prelude::*;

use super::enums::AgentStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub status: AgentStatus,
    pub max_concurrent: i32,
    pub status_changed_at: DateTimeUtc,
    /// Round-robin position: the agent assigned longest ago goes next.
    pub last_assigned_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
