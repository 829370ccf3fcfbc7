//! Note queries and changes. Access follows the conversation's visibility.

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, Set, TransactionTrait};
use uuid::Uuid;

use crate::access::principal::Principal;
use crate::conversations::service::get_visible;
use crate::db::Scoped;
use crate::entities::{conversation_notes, users};
use crate::error::AppResult;
use crate::events::DomainEvent;
use crate::ids::TenantId;
use crate::state::AppState;

pub use crate::events::NoteDto;

/// Checks a note body: 1 to 4096 characters, not only spaces.
pub fn parse_body(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("is required".into());
    }
    if raw.chars().count() > 4096 {
        return Err("must be at most 4096 characters".into());
    }
    Ok(raw.to_string())
}

/// The conversation's notes, oldest first; 404 when the caller may not see the conversation.
pub async fn list<C: ConnectionTrait>(db: &C, who: &Principal, conversation: Uuid) -> AppResult<Vec<NoteDto>> {
    let c = get_visible(db, who, conversation).await?;
    let notes = conversation_notes::Entity::of(TenantId(c.tenant_id))
        .filter(conversation_notes::Column::ConversationId.eq(c.id))
        .order_by_asc(conversation_notes::Column::CreatedAt)
        .order_by_asc(conversation_notes::Column::Id)
        .all(db)
        .await?;
    let mut author_ids: Vec<Uuid> = notes.iter().filter_map(|n| n.author_user_id).collect();
    author_ids.sort();
    author_ids.dedup();
    let names: HashMap<Uuid, String> = if author_ids.is_empty() {
        HashMap::new()
    } else {
        users::Entity::of(TenantId(c.tenant_id))
            .filter(users::Column::Id.is_in(author_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect()
    };
    Ok(notes
        .into_iter()
        .map(|n| {
            let name = n.author_user_id.and_then(|a| names.get(&a).cloned());
            NoteDto::new(n, name)
        })
        .collect())
}

/// Adds a note and publishes `note.created`; 404 when the caller may not see the conversation.
pub async fn create(state: &AppState, who: &Principal, conversation: Uuid, body: String) -> AppResult<NoteDto> {
    let txn = state.writer().begin().await?;
    let c = get_visible(&txn, who, conversation).await?;
    let note = conversation_notes::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(c.tenant_id),
        conversation_id: Set(c.id),
        author_user_id: Set(Some(who.user_id.0)),
        body: Set(body),
        created_at: Set(crate::db::now()),
    }
    .insert(&txn)
    .await?;
    let author = users::Entity::secure_find(&txn, TenantId(c.tenant_id), who.user_id.0).await?.map(|u| u.name);
    txn.commit().await?;
    let dto = NoteDto::new(note, author);
    state.events.publish(DomainEvent::new(c.tenant_id, crate::events::Event::NoteCreated(dto.clone())));
    Ok(dto)
}
