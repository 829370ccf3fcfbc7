//! What a conversation's page shows beside each message: the messages it quotes and the
//! reactions to it (read by the web inbox through here, not by querying the tables itself).

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::messages;
use crate::ids::TenantId;

/// The tenant's messages with these ids.
pub async fn by_ids<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    ids: Vec<Uuid>,
) -> Result<Vec<messages::Model>, DbErr> {
    messages::Entity::of(tenant).filter(messages::Column::Id.is_in(ids)).all(db).await
}

/// Reactions to these messages, oldest first (the latest of each side wins).
pub async fn reactions_to<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    ids: Vec<Uuid>,
) -> Result<Vec<messages::Model>, DbErr> {
    messages::Entity::of(tenant)
        .filter(messages::Column::MsgType.eq("reaction"))
        .filter(messages::Column::ReplyToId.is_in(ids))
        .order_by_asc(messages::Column::CreatedAt)
        .order_by_asc(messages::Column::Id)
        .all(db)
        .await
}
