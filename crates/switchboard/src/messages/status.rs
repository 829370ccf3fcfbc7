//! The delivery-status state machine: `queued → sent → delivered → read → played`, and `failed`.
//! Statuses arrive out of order and more than once; a status never moves a message back.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::db::Scoped;
use crate::entities::enums::MessageStatus as S;
use crate::entities::messages;
use crate::ids::TenantId;

/// The statuses from which `incoming` may be reached. `failed` only replaces queued or sent (a
/// message already delivered did not fail); `read` and `played` prove delivery, so they win even
/// over `failed`.
pub fn predecessors(incoming: S) -> &'static [S] {
    match incoming {
        S::Queued | S::Received => &[],
        S::Sent => &[S::Queued],
        S::Delivered => &[S::Queued, S::Sent],
        S::Failed => &[S::Queued, S::Sent],
        S::Read => &[S::Queued, S::Sent, S::Delivered, S::Failed],
        S::Played => &[S::Queued, S::Sent, S::Delivered, S::Read, S::Failed],
    }
}

/// The status after `incoming` arrives at a message in `current`.
pub fn next(current: S, incoming: S) -> S {
    if predecessors(incoming).contains(&current) { incoming } else { current }
}

/// Error fields recorded with a `failed` status.
pub struct Failure {
    pub code: Option<i32>,
    pub title: Option<String>,
    pub details: Option<String>,
}

pub fn ts_column(s: S) -> Option<messages::Column> {
    Some(match s {
        S::Sent => messages::Column::SentAt,
        S::Delivered => messages::Column::DeliveredAt,
        S::Read => messages::Column::ReadAt,
        S::Played => messages::Column::PlayedAt,
        S::Failed => messages::Column::FailedAt,
        S::Queued | S::Received => return None,
    })
}

/// Applies a status in one atomic statement: the status moves only forward (per `next`), and the
/// status's own timestamp is recorded once even when the status itself does not move (a late
/// `delivered` after `read` still tells when it was delivered). Returns whether a row matched.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    tenant_id: uuid::Uuid,
    message_id: uuid::Uuid,
    incoming: S,
    at: DateTime<Utc>,
    failure: Option<Failure>,
) -> Result<bool, DbErr> {
    let preds: Vec<&str> = predecessors(incoming).iter().map(|s| s.as_str()).collect();
    let moves = Expr::col(messages::Column::Status).is_in(preds.clone());
    let mut q = messages::Entity::update_of(TenantId(tenant_id))
        .col_expr(
            messages::Column::Status,
            CaseStatement::new()
                .case(moves.clone(), Expr::val(incoming.as_str()))
                .finally(Expr::col(messages::Column::Status))
                .into(),
        )
        .col_expr(messages::Column::UpdatedAt, Expr::value(crate::db::now()));
    if let Some(col) = ts_column(incoming) {
        q = q.col_expr(col, Func::coalesce([Expr::col(col), Expr::val(at)]).into());
    }
    if let Some(f) = failure {
        // Error fields only when the failure actually takes effect.
        let when = |v: Expr, col: messages::Column| -> Expr {
            CaseStatement::new().case(moves.clone(), v).finally(Expr::col(col)).into()
        };
        q = q
            .col_expr(messages::Column::ErrorCode, when(Expr::val(f.code), messages::Column::ErrorCode))
            .col_expr(messages::Column::ErrorTitle, when(Expr::val(f.title), messages::Column::ErrorTitle))
            .col_expr(messages::Column::ErrorDetails, when(Expr::val(f.details), messages::Column::ErrorDetails));
    }
    let r = q.filter(messages::Column::Id.eq(message_id)).exec(db).await?;
    Ok(r.rows_affected > 0)
}

// ---- Meta's statuses, applied to stored messages (webhook processing and the sender) -----------

use meta_cloud::webhook as mw;
use sea_orm::{DatabaseTransaction, QueryOrder};
use serde_json::json;
use uuid::Uuid;

use crate::entities::enums::{Direction, MessageStatus};
use crate::entities::pending_statuses;
use crate::events::{DomainEvent, Event};
use crate::usage;

/// A status webhook's time (unix seconds), or now when it has none.
pub fn secs_to_time(s: Option<i64>) -> DateTime<Utc> {
    use chrono::TimeZone;
    s.and_then(|s| Utc.timestamp_opt(s, 0).single()).unwrap_or_else(crate::db::now)
}

/// Meta's status kind as ours (`None`: a kind we do not track).
pub fn to_status(k: &mw::StatusKind) -> Option<MessageStatus> {
    Some(match k {
        mw::StatusKind::Sent => MessageStatus::Sent,
        mw::StatusKind::Delivered => MessageStatus::Delivered,
        mw::StatusKind::Read => MessageStatus::Read,
        mw::StatusKind::Played => MessageStatus::Played,
        mw::StatusKind::Failed => MessageStatus::Failed,
        mw::StatusKind::Other(_) => return None,
    })
}

/// Applies one status to a known outbound message, counting its pricing once.
pub async fn apply_status<C: ConnectionTrait>(
    db: &C,
    events: &mut Vec<DomainEvent>,
    msg: &messages::Model,
    s: &mw::MessageStatus,
) -> Result<(), DbErr> {
    apply_status_counted(db, events, msg, s, None).await
}

/// [`apply_status`], adding its pricing to `usage` (applied by the caller before its commit)
/// instead of at once when given.
pub async fn apply_status_counted<C: ConnectionTrait>(
    db: &C,
    events: &mut Vec<DomainEvent>,
    msg: &messages::Model,
    s: &mw::MessageStatus,
    usage: Option<&mut usage::Deltas>,
) -> Result<(), DbErr> {
    if msg.direction != Direction::Outbound {
        return Ok(());
    }
    let Some(incoming) = to_status(&s.status) else {
        return Ok(());
    };
    let at = secs_to_time(s.timestamp_secs());
    let failure = (incoming == MessageStatus::Failed).then(|| {
        let e = s.errors.first();
        Failure {
            code: e.and_then(|e| e.code).map(|c| c as i32),
            title: e.and_then(|e| e.title.clone().or(e.message.clone())),
            details: e.and_then(|e| e.details().map(str::to_string)),
        }
    });
    let stopped_marketing = failure.as_ref().and_then(|f| f.code) == Some(crate::contacts::service::STOPPED_MARKETING);
    apply(db, msg.tenant_id, msg.id, incoming, at, failure).await?;
    if stopped_marketing
        && let Some(c) =
            crate::contacts::service::opted_out_by_meta(db, msg.tenant_id, msg.conversation_id, msg.id).await?
    {
        events.push(crate::contacts::service::opt_event(&c, true, "meta_131050"));
    }

    if let Some(p) = &s.pricing {
        let claimed = messages::Entity::update_many()
            .col_expr(messages::Column::Billed, Expr::value(true))
            .filter(messages::Column::Id.eq(msg.id))
            .filter(messages::Column::Billed.eq(false))
            .exec(db)
            .await?;
        if claimed.rows_affected == 1 {
            let cat = p.normalized_category().unwrap_or_else(|| "service".into());
            let d = usage::Delta::priced(&cat, p.billable.unwrap_or(false));
            match usage {
                Some(u) => *u.entry((msg.tenant_id, at.date_naive())).or_default() += d,
                None => usage::add(db, msg.tenant_id, at.date_naive(), d).await?,
            }
        }
    }
    let now = messages::Entity::find_by_id(msg.id).one(db).await?;
    if let Some(now) = now {
        // `reported`: the status this webhook reported (the message may already be further along).
        let ev = crate::events::MessageStatusChanged::of(&now, Some(incoming));
        events.push(DomainEvent::new(msg.tenant_id, Event::MessageStatus(ev)));
    }
    Ok(())
}

/// Applies statuses that arrived before the message got its wamid (called by the sender).
pub async fn apply_pending_statuses<C: ConnectionTrait>(
    db: &C,
    events: &mut Vec<DomainEvent>,
    msg: &messages::Model,
) -> Result<(), DbErr> {
    let Some(wamid) = &msg.wa_message_id else {
        return Ok(());
    };
    let pending = pending_statuses::Entity::of(TenantId(msg.tenant_id))
        .filter(pending_statuses::Column::WaMessageId.eq(wamid.as_str()))
        .order_by_asc(pending_statuses::Column::ReceivedAt)
        .all(db)
        .await?;
    for p in pending {
        // Re-wrap the stored status in an envelope so the one parser reads it.
        let envelope = json!({"object": "whatsapp_business_account", "entry": [{"id": "0", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [p.status]}}]}]});
        if let Ok(payload) = mw::WebhookPayload::from_value(envelope)
            && let Some(parsed) = payload.statuses().next()
        {
            apply_status(db, events, msg, parsed).await?;
        }
        pending_statuses::Entity::delete_by_id(p.id).exec(db).await?;
    }
    Ok(())
}

/// A status for a wamid we never recorded, carrying our message id in `biz_opaque_callback_data`:
/// the send whose outcome was unknown (a timeout after the request left) did reach Meta. Attach
/// the wamid, and undo the `outcome_unknown` failure so that the status applies.
pub async fn reconcile_by_callback(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    s: &mw::MessageStatus,
) -> Result<Option<messages::Model>, DbErr> {
    let Some(id) = s.biz_opaque_callback_data.as_deref().and_then(|c| c.parse::<Uuid>().ok()) else {
        return Ok(None);
    };
    // The wamid may also have been recorded by the sender after this batch looked it up (a
    // concurrent commit on PostgreSQL): then the message is the one, with that wamid, and the
    // status applies now instead of waiting as a pending status nobody would apply.
    let Some(m) = messages::Entity::by_id(tenant, id)
        .filter(
            sea_orm::Condition::any()
                .add(messages::Column::WaMessageId.is_null())
                .add(messages::Column::WaMessageId.eq(s.id.as_str())),
        )
        .filter(messages::Column::Direction.eq(Direction::Outbound))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    if m.wa_message_id.as_deref() == Some(s.id.as_str()) {
        return Ok(Some(m));
    }
    let mut q = messages::Entity::update_many()
        .col_expr(messages::Column::WaMessageId, Expr::value(s.id.clone()))
        .col_expr(messages::Column::UpdatedAt, Expr::value(crate::db::now()));
    if m.status == MessageStatus::Failed && m.error_title.as_deref() == Some("outcome_unknown") {
        q = q
            .col_expr(messages::Column::Status, Expr::value(MessageStatus::Sent.as_str()))
            .col_expr(messages::Column::FailedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(messages::Column::ErrorTitle, Expr::value(Option::<String>::None))
            .col_expr(messages::Column::ErrorDetails, Expr::value(Option::<String>::None));
    }
    q.filter(messages::Column::Id.eq(m.id)).exec(txn).await?;
    messages::Entity::find_by_id(m.id).one(txn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [S; 7] = [S::Queued, S::Sent, S::Delivered, S::Read, S::Played, S::Failed, S::Received];

    fn rank(s: S) -> u8 {
        match s {
            S::Queued => 0,
            S::Sent => 1,
            S::Delivered | S::Failed => 2,
            S::Read => 3,
            S::Played => 4,
            S::Received => 0,
        }
    }

    #[test]
    fn every_pair_moves_forward_or_stays() {
        for current in ALL {
            for incoming in ALL {
                let n = next(current, incoming);
                assert!(n == current || n == incoming);
                if current == S::Received {
                    assert_eq!(n, S::Received, "inbound messages have no delivery status");
                }
                if n != current {
                    assert!(rank(n) >= rank(current), "{current:?} + {incoming:?} moved back to {n:?}");
                }
            }
        }
    }

    #[test]
    fn out_of_order_and_repeated_statuses() {
        // read, then a late delivered and a repeated sent: stays read.
        let s = [S::Read, S::Delivered, S::Sent, S::Read].iter().fold(S::Sent, |c, i| next(c, *i));
        assert_eq!(s, S::Read);
        // failed after delivered is ignored; failed after sent applies; read after failed wins.
        assert_eq!(next(S::Delivered, S::Failed), S::Delivered);
        assert_eq!(next(S::Sent, S::Failed), S::Failed);
        assert_eq!(next(S::Failed, S::Delivered), S::Failed);
        assert_eq!(next(S::Failed, S::Read), S::Read);
        assert_eq!(next(S::Read, S::Played), S::Played);
        assert_eq!(next(S::Played, S::Read), S::Played);
    }
}
