use sea_orm::entity::prelude::*;

/// A media file stored locally (downloaded from Meta or uploaded by an agent).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "media")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub message_id: Option<Uuid>,
    pub meta_media_id: Option<String>,
    pub mime_type: String,
    pub filename: Option<String>,
    pub size_bytes: i64,
    pub sha256: String,
    /// Relative to the media directory.
    pub path: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
