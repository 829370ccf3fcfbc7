//! Meta's template webhooks applied to the tenant's templates: review status (with reason and
//! details), category and quality. Matched by Meta's id, or by name and language when the status
//! beat the create's Graph answer.

use meta_cloud::webhook as mw;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::templates;
use crate::events::{DomainEvent, Event};
use crate::ids::TenantId;

/// The number a template webhook is for.
pub struct Account<'a> {
    pub tenant: Uuid,
    pub waba_id: &'a str,
    pub id: Uuid,
}

/// One of Meta's template changes.
pub enum Change<'a> {
    Status(&'a mw::TemplateStatusUpdate),
    Category(&'a mw::TemplateCategoryUpdate),
    Quality(&'a mw::TemplateQualityUpdate),
}

/// Applies `change` to the matching template(s); the `template.updated` event goes to `events`.
pub async fn apply(
    txn: &DatabaseTransaction,
    events: &mut Vec<DomainEvent>,
    acct: &Account<'_>,
    change: Change<'_>,
) -> Result<(), DbErr> {
    match change {
        Change::Status(update) => {
            // A status that beat the create's Graph answer: adopt Meta's id by name and language.
            if let (Some(id), Some(name), Some(lang)) = (
                update.message_template_id,
                update.message_template_name.as_deref(),
                update.message_template_language.as_deref(),
            ) {
                templates::Entity::update_many()
                    .col_expr(templates::Column::MetaTemplateId, Expr::value(id.to_string()))
                    .filter(super::service::adopt_condition(TenantId(acct.tenant), acct.waba_id, name, lang))
                    .exec(txn)
                    .await?;
            }
            let mut changes = vec![(templates::Column::Status, Value::from(update.event.to_ascii_uppercase()))];
            // Each status replaces the previous one's reason and details (`NONE` is no reason):
            // `rejection_info {reason, recommendation}`, `other_info` (pauses), `disable_info`.
            let reason = update.reason.as_ref().filter(|r| !r.is_empty() && r.as_str() != "NONE");
            changes
                .push((templates::Column::RejectionReason, reason.map(|r| Value::from(r.clone())).unwrap_or_default()));
            let details = update
                .rejection_info
                .clone()
                .or_else(|| update.other_info.clone())
                .or_else(|| update.disable_info.clone());
            changes.push((templates::Column::StatusDetails, details.unwrap_or_default()));
            update_(txn, events, acct, update.message_template_id, changes).await
        }
        Change::Category(update) => {
            let cat = update.new_category.clone().or(update.correct_category.clone()).unwrap_or_default();
            update_(txn, events, acct, update.message_template_id, vec![(templates::Column::Category, cat.into())])
                .await
        }
        Change::Quality(update) => {
            let q = update.new_quality_score.clone().unwrap_or_default();
            update_(txn, events, acct, update.message_template_id, vec![(templates::Column::QualityScore, q.into())])
                .await
        }
    }
}

async fn update_(
    txn: &DatabaseTransaction,
    events: &mut Vec<DomainEvent>,
    acct: &Account<'_>,
    meta_id: Option<i64>,
    changes: Vec<(templates::Column, Value)>,
) -> Result<(), DbErr> {
    let Some(meta_id) = meta_id else {
        return Ok(());
    };
    let mut q = templates::Entity::update_of(TenantId(acct.tenant))
        .col_expr(templates::Column::UpdatedAt, Expr::value(crate::db::now()));
    for (col, v) in changes {
        q = match col {
            // The JSON column takes the value itself (null clears it).
            templates::Column::StatusDetails => q.col_expr(col, Expr::value((!Value::is_null(&v)).then_some(v))),
            _ => q.col_expr(col, Expr::value(v.as_str().map(str::to_string))),
        };
    }
    q.filter(templates::Column::MetaTemplateId.eq(meta_id.to_string())).exec(txn).await?;
    events.push(DomainEvent::new(
        acct.tenant,
        Event::TemplateUpdated(crate::events::TemplateUpdated {
            whatsapp_account_id: Some(acct.id),
            template_ids: Vec::new(),
            meta_template_id: Some(meta_id.to_string()),
            status: None,
            deleted: false,
        }),
    ));
    Ok(())
}
