//! The figures behind `/api/analytics/*`.
//!
//! Definitions (all times UTC, the range is `[from 00:00, to + 1 day 00:00)`):
//! - messages in/out: messages created in the range, by direction;
//! - conversations opened: created in the range; resolved: `resolved_at` in the range;
//! - first response time: `first_response_at` − the conversation's first inbound message (or its
//!   `created_at` when it has none), over conversations opened in the range that got a response;
//! - resolution time: `resolved_at` − `created_at`, over conversations resolved in the range;
//! - delivery rate: outbound messages delivered (or read/played) ÷ outbound messages that reached
//!   Meta (sent, delivered, read, played, or failed after being sent); read rate likewise;
//! - percentiles interpolate linearly between the two nearest ranks (the median of 2, 4 is 3).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::enums::{Direction, MessageStatus, Role};
use crate::entities::{conversations, messages, users};
use crate::error::AppResult;
use crate::ids::TenantId;

/// Rows fetched per query to compute durations; a wider range is computed on its first rows.
pub const MAX_ROWS: u64 = 200_000;

/// The tenant's figures over a range.
#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub messages_in: i64,
    pub messages_out: i64,
    pub conversations_opened: i64,
    pub conversations_resolved: i64,
    /// Seconds; null when no conversation of the range got a response.
    pub median_first_response_secs: Option<f64>,
    pub p90_first_response_secs: Option<f64>,
    pub median_resolution_secs: Option<f64>,
    /// Outbound messages that reached Meta (the rates' denominator).
    pub outbound_sent: i64,
    pub outbound_delivered: i64,
    pub outbound_read: i64,
    /// 0 to 1; null when nothing was sent.
    pub delivery_rate: Option<f64>,
    pub read_rate: Option<f64>,
    /// Failed outbound messages by Meta error code (null code: failed without one), most first.
    pub failures: Vec<FailureCount>,
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct FailureCount {
    pub error_code: Option<i32>,
    pub count: i64,
}

/// One agent's figures over a range.
#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AgentFigures {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    /// Conversations opened in the range and assigned to the agent.
    pub conversations_handled: i64,
    /// Outbound messages the agent sent in the range.
    pub messages_sent: i64,
    pub median_first_response_secs: Option<f64>,
}

fn bounds(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let end = (to + chrono::Days::new(1)).and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    (start, end)
}

/// The `q`-quantile (0..=1) with linear interpolation; `None` for no values.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    match sorted.len() {
        0 => None,
        1 => Some(sorted[0]),
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
        }
    }
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

/// A conversation opened in the range, with its first response time when it has one.
struct Opened {
    assignee: Option<Uuid>,
    first_response: Option<f64>,
}

async fn opened<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> AppResult<Vec<Opened>> {
    type Row = (Uuid, Option<Uuid>, DateTime<Utc>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = conversations::Entity::of(tenant)
        .select_only()
        .column(conversations::Column::Id)
        .column(conversations::Column::AssigneeId)
        .column(conversations::Column::CreatedAt)
        .column(conversations::Column::FirstResponseAt)
        .filter(conversations::Column::CreatedAt.gte(start))
        .filter(conversations::Column::CreatedAt.lt(end))
        .limit(MAX_ROWS)
        .into_tuple()
        .all(db)
        .await?;
    // First inbound message per conversation (conversations opened in the range start no earlier).
    let firsts: Vec<(Uuid, Option<DateTime<Utc>>)> = messages::Entity::of(tenant)
        .select_only()
        .column(messages::Column::ConversationId)
        .column_as(messages::Column::CreatedAt.min(), "first_at")
        .filter(messages::Column::Direction.eq(Direction::Inbound))
        .filter(messages::Column::CreatedAt.gte(start))
        .group_by(messages::Column::ConversationId)
        .limit(MAX_ROWS)
        .into_tuple()
        .all(db)
        .await?;
    let firsts: HashMap<Uuid, DateTime<Utc>> = firsts.into_iter().filter_map(|(c, t)| t.map(|t| (c, t))).collect();
    Ok(rows
        .into_iter()
        .map(|(id, assignee, created, responded)| {
            let began = firsts.get(&id).copied().filter(|f| *f <= responded.unwrap_or(*f)).unwrap_or(created);
            Opened { assignee, first_response: responded.map(|r| secs(began, r)).filter(|s| *s >= 0.0) }
        })
        .collect())
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

pub async fn summary<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Summary> {
    let (start, end) = bounds(from, to);
    let by_status: Vec<(Direction, MessageStatus, i64)> = messages::Entity::of(tenant)
        .select_only()
        .column(messages::Column::Direction)
        .column(messages::Column::Status)
        .column_as(messages::Column::Id.count(), "n")
        .filter(messages::Column::CreatedAt.gte(start))
        .filter(messages::Column::CreatedAt.lt(end))
        .group_by(messages::Column::Direction)
        .group_by(messages::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let (mut messages_in, mut messages_out, mut sent, mut delivered, mut read) = (0, 0, 0, 0, 0);
    for (dir, status, n) in by_status {
        match dir {
            Direction::Inbound => messages_in += n,
            Direction::Outbound => {
                messages_out += n;
                match status {
                    MessageStatus::Sent => sent += n,
                    MessageStatus::Delivered => {
                        sent += n;
                        delivered += n
                    }
                    MessageStatus::Read | MessageStatus::Played => {
                        sent += n;
                        delivered += n;
                        read += n
                    }
                    _ => {}
                }
            }
        }
    }
    let failed_after_send: Vec<i64> = messages::Entity::of(tenant)
        .select_only()
        .column_as(messages::Column::Id.count(), "n")
        .filter(messages::Column::Direction.eq(Direction::Outbound))
        .filter(messages::Column::Status.eq(MessageStatus::Failed))
        .filter(messages::Column::SentAt.is_not_null())
        .filter(messages::Column::CreatedAt.gte(start))
        .filter(messages::Column::CreatedAt.lt(end))
        .into_tuple()
        .all(db)
        .await?;
    sent += failed_after_send.first().copied().unwrap_or(0);

    let failures: Vec<(Option<i32>, i64)> = messages::Entity::of(tenant)
        .select_only()
        .column(messages::Column::ErrorCode)
        .column_as(messages::Column::Id.count(), "n")
        .filter(messages::Column::Direction.eq(Direction::Outbound))
        .filter(messages::Column::Status.eq(MessageStatus::Failed))
        .filter(messages::Column::CreatedAt.gte(start))
        .filter(messages::Column::CreatedAt.lt(end))
        .group_by(messages::Column::ErrorCode)
        .into_tuple()
        .all(db)
        .await?;
    let mut failures: Vec<FailureCount> =
        failures.into_iter().map(|(error_code, count)| FailureCount { error_code, count }).collect();
    failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.error_code.cmp(&b.error_code)));

    let opened = opened(db, tenant, start, end).await?;
    let first = sorted(opened.iter().filter_map(|o| o.first_response).collect());

    let resolved: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = conversations::Entity::of(tenant)
        .select_only()
        .column(conversations::Column::CreatedAt)
        .column(conversations::Column::ResolvedAt)
        .filter(conversations::Column::ResolvedAt.gte(start))
        .filter(conversations::Column::ResolvedAt.lt(end))
        .limit(MAX_ROWS)
        .into_tuple()
        .all(db)
        .await?;
    let resolution =
        sorted(resolved.iter().filter_map(|(c, r)| r.map(|r| secs(*c, r))).filter(|s| *s >= 0.0).collect());
    let rate = |n: i64| (sent > 0).then(|| n as f64 / sent as f64);
    Ok(Summary {
        from,
        to,
        messages_in,
        messages_out,
        conversations_opened: opened.len() as i64,
        conversations_resolved: resolved.len() as i64,
        median_first_response_secs: percentile(&first, 0.5),
        p90_first_response_secs: percentile(&first, 0.9),
        median_resolution_secs: percentile(&resolution, 0.5),
        outbound_sent: sent,
        outbound_delivered: delivered,
        outbound_read: read,
        delivery_rate: rate(delivered),
        read_rate: rate(read),
        failures,
    })
}

/// Per agent (TENANT_ADMIN and AGENT users, plus anyone who sent or was assigned in the range).
pub async fn agents<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<AgentFigures>> {
    let (start, end) = bounds(from, to);
    let sent: Vec<(Option<Uuid>, i64)> = messages::Entity::of(tenant)
        .select_only()
        .column(messages::Column::SenderUserId)
        .column_as(messages::Column::Id.count(), "n")
        .filter(messages::Column::Direction.eq(Direction::Outbound))
        .filter(messages::Column::SenderUserId.is_not_null())
        .filter(messages::Column::CreatedAt.gte(start))
        .filter(messages::Column::CreatedAt.lt(end))
        .group_by(messages::Column::SenderUserId)
        .into_tuple()
        .all(db)
        .await?;
    let sent: HashMap<Uuid, i64> = sent.into_iter().filter_map(|(u, n)| u.map(|u| (u, n))).collect();
    let mut handled: HashMap<Uuid, (i64, Vec<f64>)> = HashMap::new();
    for o in opened(db, tenant, start, end).await? {
        if let Some(a) = o.assignee {
            let e = handled.entry(a).or_default();
            e.0 += 1;
            e.1.extend(o.first_response);
        }
    }
    let people = users::Entity::of(tenant).all(db).await?;
    let people: Vec<users::Model> = people
        .into_iter()
        .filter(|u| {
            matches!(u.role, Role::TenantAdmin | Role::Agent) || sent.contains_key(&u.id) || handled.contains_key(&u.id)
        })
        .collect();
    let mut out: Vec<AgentFigures> = people
        .into_iter()
        .map(|u| {
            let (n, times) = handled.remove(&u.id).unwrap_or_default();
            AgentFigures {
                user_id: u.id,
                name: u.name,
                email: u.email,
                conversations_handled: n,
                messages_sent: sent.get(&u.id).copied().unwrap_or(0),
                median_first_response_secs: percentile(&sorted(times), 0.5),
            }
        })
        .collect();
    out.sort_by(|a, b| b.conversations_handled.cmp(&a.conversations_handled).then(a.name.cmp(&b.name)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
        assert_eq!(percentile(&[2.0, 4.0], 0.5), Some(3.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9), Some(9.1));
        assert_eq!(percentile(&[60.0, 120.0, 300.0], 0.5), Some(120.0));
    }
}
