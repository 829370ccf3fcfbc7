use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub wa_id: Option<String>,
    /// Meta's business-scoped user id, for users with usernames.
    pub user_id: Option<String>,
    pub profile_name: Option<String>,
    /// The user's WhatsApp username, when they set one (`contacts[].profile.username`).
    pub username: Option<String>,
    pub name: Option<String>,
    pub opted_out: bool,
    pub opted_out_at: Option<DateTimeUtc>,
    /// Why the contact is opted out of marketing: `keyword`, `user_preferences`, `meta_131050`, `agent`.
    pub opt_out_source: Option<String>,
    pub tags: Json,
    pub attributes: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
