//! What Meta's webhooks say about contacts beyond their messages: marketing preferences
//! (`user_preferences`) and the WhatsApp Business app's contact book (`smb_app_state_sync`).

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;

use super::identity::{self, Sighting, Source};
use crate::events::{DomainEvent, Event};
use crate::ids::TenantId;

/// `user_preferences`: a customer stopped or resumed marketing messages.
pub async fn apply_user_preferences(
    txn: &DatabaseTransaction,
    events: &mut Vec<DomainEvent>,
    tenant: TenantId,
    value: &Value,
) -> Result<(), DbErr> {
    for p in value.get("user_preferences").and_then(Value::as_array).into_iter().flatten() {
        let category = p.get("category").and_then(Value::as_str).unwrap_or_default();
        let opted_out = match p.get("value").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("stop") => true,
            Some("resume") => false,
            _ => continue, // an unknown preference: stored, not acted on
        };
        if category != "marketing_messages" {
            continue;
        }
        let who =
            Sighting::new(tenant.0, p.get("wa_id").and_then(Value::as_str), p.get("user_id").and_then(Value::as_str));
        if !who.identifies() {
            continue;
        }
        let Some(c) = identity::resolve(txn, None, &[who]).await?.contacts.pop().flatten() else { continue };
        let detail = p.get("detail").cloned().unwrap_or(Value::Null);
        if super::service::set_marketing_opt_out(txn, &c, opted_out, "user_preferences", detail).await? {
            events.push(super::service::opt_event(&c, opted_out, "user_preferences"));
        }
    }
    Ok(())
}

/// `smb_app_state_sync`: the Business app's contact book. An added or edited contact is created
/// or updated (its name is the business's name for them); a removal changes nothing here (the
/// contact keeps its history) and is only stored.
pub async fn apply_app_state_sync(
    txn: &DatabaseTransaction,
    events: &mut Vec<DomainEvent>,
    tenant: TenantId,
    value: &Value,
) -> Result<(), DbErr> {
    for item in value.get("state_sync").and_then(Value::as_array).into_iter().flatten() {
        if item.get("type").and_then(Value::as_str) != Some("contact")
            || item.get("action").and_then(Value::as_str) != Some("add")
        {
            continue;
        }
        let Some(c) = item.get("contact") else { continue };
        let phone = c.get("phone_number").and_then(Value::as_str).map(|p| p.trim_start_matches('+'));
        let who = Sighting::new(tenant.0, phone, c.get("user_id").and_then(Value::as_str))
            .profile(None, c.get("username").and_then(Value::as_str))
            .source(Source::AppStateSync);
        if !who.identifies() {
            continue;
        }
        let Some(contact) = identity::resolve(txn, None, &[who]).await?.contacts.pop().flatten() else { continue };
        let name = c.get("full_name").or_else(|| c.get("first_name")).and_then(Value::as_str).map(str::trim);
        let mut now = contact.clone();
        if let Some(name) = name.filter(|n| !n.is_empty())
            && contact.name.as_deref() != Some(name)
        {
            now.name = Some(name.to_string());
            crate::entities::contacts::Entity::update_many()
                .col_expr(crate::entities::contacts::Column::Name, Expr::value(name))
                .col_expr(crate::entities::contacts::Column::UpdatedAt, Expr::value(crate::db::now()))
                .filter(crate::entities::contacts::Column::Id.eq(contact.id))
                .exec(txn)
                .await?;
        }
        events.push(DomainEvent::new(tenant.0, Event::ContactUpdated(now.into())));
    }
    Ok(())
}
