//! The delivery-status state machine: `queued → sent → delivered → read → played`, and `failed`.
//! Statuses arrive out of order and more than once; a status never moves a message back.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::enums::MessageStatus as S;
use crate::entities::messages;

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
    let mut q = messages::Entity::update_many()
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
    let r =
        q.filter(messages::Column::Id.eq(message_id)).filter(messages::Column::TenantId.eq(tenant_id)).exec(db).await?;
    Ok(r.rows_affected > 0)
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
