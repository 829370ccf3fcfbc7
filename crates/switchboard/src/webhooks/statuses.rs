//! Statuses for known outbound messages, applied set-based inside a webhook batch: a few
//! statements per chunk of messages instead of three or four per status (the status `UPDATE`, the
//! billing claim and a re-read each). Every sent message brings Meta's `sent`, `delivered` and
//! `read` back, so this is most of the processing a campaign causes.
//!
//! The rules are those of [`crate::messages::status::apply`], evaluated against the row as it is
//! when the `UPDATE` locks it (not as it was read), so a concurrent sender or batch cannot be
//! overwritten: for each message the statement holds, for every status the row may be in, the
//! status the batch's statuses lead to from there (`CASE WHEN id = … AND status IN (…) THEN …`).
//! Failed statuses (their error fields depend on the step at which they apply) go through the
//! one-status path, in order, with every other status of the same message.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use meta_cloud::webhook as mw;
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::processor::Ctx;
use crate::entities::enums::{Direction, MessageStatus as S};
use crate::entities::messages;
use crate::events::DomainEvent;
use crate::messages::status;

/// Rows per statement (each row brings a handful of `CASE` arms).
const CHUNK: usize = 100;

const ALL: [S; 7] = [S::Queued, S::Sent, S::Delivered, S::Read, S::Played, S::Failed, S::Received];

/// One status for a known message, with its parsed kind and time.
struct Step<'a> {
    incoming: S,
    at: DateTime<Utc>,
    s: &'a mw::MessageStatus,
}

/// Applies `list` (in arrival order) to the messages it names; see the module documentation.
pub(super) async fn apply_known(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    list: Vec<(messages::Model, &mw::MessageStatus)>,
) -> Result<(), DbErr> {
    // Per message, its statuses in order; messages with a failed status take the one-status path.
    let mut per_msg: BTreeMap<Uuid, (messages::Model, Vec<Step<'_>>)> = BTreeMap::new();
    let mut slow: Vec<Uuid> = Vec::new();
    for (msg, s) in list {
        if msg.direction != Direction::Outbound {
            continue;
        }
        let Some(incoming) = crate::messages::status::to_status(&s.status) else {
            continue;
        };
        if incoming == S::Failed {
            slow.push(msg.id);
        }
        let at = crate::messages::status::secs_to_time(s.timestamp_secs());
        per_msg.entry(msg.id).or_insert_with(|| (msg, Vec::new())).1.push(Step { incoming, at, s });
    }
    for id in slow {
        if let Some((msg, steps)) = per_msg.remove(&id) {
            for st in steps {
                crate::messages::status::apply_status_counted(txn, &mut ctx.events, &msg, st.s, Some(&mut ctx.usage))
                    .await?;
            }
        }
    }
    let all: Vec<(Uuid, (messages::Model, Vec<Step<'_>>))> = per_msg.into_iter().collect();
    for chunk in all.chunks(CHUNK) {
        apply_chunk(txn, ctx, chunk).await?;
    }
    Ok(())
}

async fn apply_chunk(
    txn: &DatabaseTransaction,
    ctx: &mut Ctx,
    chunk: &[(Uuid, (messages::Model, Vec<Step<'_>>))],
) -> Result<(), DbErr> {
    use messages::Column as C;
    let now = crate::db::now();
    let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();

    // Status: for each message and each status the row may be in, where its steps lead.
    let mut status_case = CaseStatement::new();
    let mut any_status = false;
    // Timestamps: the first step of each kind, as `COALESCE(col, at)` does one status at a time.
    let mut ts_cases: HashMap<S, CaseStatement> = HashMap::new();
    for (id, (_, steps)) in chunk {
        let mut to: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
        for from in ALL {
            let end = steps.iter().fold(from, |cur, st| status::next(cur, st.incoming));
            if end != from {
                to.entry(end.as_str()).or_default().push(from.as_str());
            }
        }
        for (end, froms) in to {
            status_case =
                status_case.case(Expr::col(C::Id).eq(*id).and(Expr::col(C::Status).is_in(froms)), Expr::val(end));
            any_status = true;
        }
        let mut seen: Vec<S> = Vec::new();
        for st in steps {
            if seen.contains(&st.incoming) || status::ts_column(st.incoming).is_none() {
                continue;
            }
            seen.push(st.incoming);
            let col = status::ts_column(st.incoming).expect("checked above");
            let case = ts_cases.remove(&st.incoming).unwrap_or_default();
            let case = case.case(Expr::col(C::Id).eq(*id), Func::coalesce([Expr::col(col), Expr::val(st.at)]));
            ts_cases.insert(st.incoming, case);
        }
    }
    let mut upd = messages::Entity::update_many().col_expr(C::UpdatedAt, Expr::value(now));
    if any_status {
        upd = upd.col_expr(C::Status, status_case.finally(Expr::col(C::Status)).into());
    }
    for (kind, case) in ts_cases {
        let col = status::ts_column(kind).expect("only kinds with a column are collected");
        upd = upd.col_expr(col, case.finally(Expr::col(col)).into());
    }
    upd.filter(C::Id.is_in(ids.iter().copied())).exec(txn).await?;

    // The rows are locked by that UPDATE until the commit, so this read is what they now are.
    let rows: HashMap<Uuid, messages::Model> = messages::Entity::find()
        .filter(C::Id.is_in(ids.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();

    // Billing: the first priced status of a message not billed yet counts it once.
    let mut claims: Vec<Uuid> = Vec::new();
    for (id, (_, steps)) in chunk {
        if let Some(row) = rows.get(id)
            && !row.billed
            && let Some(st) = steps.iter().find(|st| st.s.pricing.is_some())
        {
            claims.push(*id);
            let p = st.s.pricing.as_ref().expect("found by pricing");
            let cat = p.normalized_category().unwrap_or_else(|| "service".into());
            *ctx.usage.entry((row.tenant_id, st.at.date_naive())).or_default() +=
                crate::usage::Delta::priced(&cat, p.billable.unwrap_or(false));
        }
    }
    if !claims.is_empty() {
        messages::Entity::update_many()
            .col_expr(C::Billed, Expr::value(true))
            .filter(C::Id.is_in(claims))
            .exec(txn)
            .await?;
    }

    for (id, (_, steps)) in chunk {
        let Some(now) = rows.get(id) else { continue };
        for st in steps {
            let ev = crate::events::MessageStatusChanged::of(now, Some(st.incoming));
            ctx.events.push(DomainEvent::new(now.tenant_id, crate::events::Event::MessageStatus(ev)));
        }
    }
    Ok(())
}
