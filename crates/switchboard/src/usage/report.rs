//! Usage reports: daily rows of `daily_usage` over a date range, and month-to-date against the plan.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, FromQueryResult, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Scoped;
use crate::entities::enums::Direction;
use crate::entities::{daily_usage, messages, tenants};
use crate::error::{AppError, AppResult, Validator};
use crate::ids::TenantId;

/// The longest range one report covers.
pub const MAX_DAYS: i64 = 366;

/// One day's counters (UTC days).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageDay {
    /// `YYYY-MM-DD`.
    #[schema(value_type = String)]
    pub date: NaiveDate,
    pub messages_in: i64,
    pub messages_out: i64,
    /// Priced messages by Meta's pricing category.
    pub marketing: i64,
    pub utility: i64,
    pub authentication: i64,
    pub service: i64,
    pub billable: i64,
    pub conversations_opened: i64,
    /// Users who sent messages that day.
    pub active_agents: i64,
}

/// Sums over the range (`activeAgents`: the highest day).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    pub messages_in: i64,
    pub messages_out: i64,
    pub marketing: i64,
    pub utility: i64,
    pub authentication: i64,
    pub service: i64,
    pub billable: i64,
    pub conversations_opened: i64,
    pub active_agents: i64,
}

/// Messages sent this calendar month (UTC) against the plan's monthly messages.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonthToDate {
    pub messages_out: i64,
    pub limit: i64,
    /// `messagesOut / limit` in percent, one decimal.
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    pub plan: String,
    /// Every day of the range, oldest first (days without traffic are zeros).
    pub days: Vec<UsageDay>,
    pub totals: UsageTotals,
    pub month_to_date: MonthToDate,
}

fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let s = raw.trim();
    if s.len() != 10 {
        return Err("must be a date YYYY-MM-DD".into());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "must be a date YYYY-MM-DD".into())
}

/// Parses `from`/`to` (default: the current month up to today), `to ≥ from`, at most 366 days.
pub fn parse_range(from: Option<&str>, to: Option<&str>) -> AppResult<(NaiveDate, NaiveDate)> {
    let today = Utc::now().date_naive();
    let mut v = Validator::new();
    let from = match from.filter(|s| !s.trim().is_empty()) {
        Some(s) => v.check("from", parse_date(s)),
        None => NaiveDate::from_ymd_opt(today.year(), today.month(), 1),
    };
    let to = match to.filter(|s| !s.trim().is_empty()) {
        Some(s) => v.check("to", parse_date(s)),
        None => Some(today),
    };
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            v.push("to", "must not be before from");
        } else if (t - f).num_days() + 1 > MAX_DAYS {
            v.push("to", format!("the range must be at most {MAX_DAYS} days"));
        }
    }
    v.finish()?;
    match (from, to) {
        (Some(f), Some(t)) => Ok((f, t)),
        _ => Err(AppError::internal(anyhow::anyhow!("validated range missing"))),
    }
}

#[derive(FromQueryResult)]
struct AgentsPerDay {
    d: String,
    n: i64,
}

/// Distinct users who sent messages per UTC day, from the messages themselves (`daily_usage`
/// has a column for it that the write path does not fill).
async fn active_agents<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<HashMap<NaiveDate, i64>> {
    let backend = db.get_database_backend();
    // Timestamps are UTC on both backends; SQLite stores them as RFC 3339 text.
    let day = match backend {
        DbBackend::Postgres => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        _ => "substr(created_at, 1, 10)",
    };
    let start = from.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let end = to.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc());
    let (Some(start), Some(end)) = (start, end) else {
        return Ok(HashMap::new());
    };
    let q = Query::select()
        .expr_as(Expr::cust(day), "d")
        .expr_as(Expr::cust("COUNT(DISTINCT sender_user_id)"), "n")
        .from(messages::Entity)
        .and_where(messages::Column::TenantId.eq(tenant.0))
        .and_where(messages::Column::Direction.eq(Direction::Outbound))
        .and_where(messages::Column::SenderUserId.is_not_null())
        .and_where(messages::Column::CreatedAt.gte(start))
        .and_where(messages::Column::CreatedAt.lt(end))
        .add_group_by([Expr::cust(day)])
        .to_owned();
    let rows = AgentsPerDay::find_by_statement(backend.build(&q)).all(db).await?;
    Ok(rows.into_iter().filter_map(|r| Some((NaiveDate::parse_from_str(&r.d, "%Y-%m-%d").ok()?, r.n))).collect())
}

/// Every day in `from..=to` with the tenant's counters.
pub async fn daily<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<UsageDay>> {
    let rows = daily_usage::Entity::of(tenant)
        .filter(daily_usage::Column::Day.gte(from))
        .filter(daily_usage::Column::Day.lte(to))
        .order_by_asc(daily_usage::Column::Day)
        .all(db)
        .await?;
    let agents = active_agents(db, tenant, from, to).await?;
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    let mut day = from;
    while day <= to {
        let mut d = UsageDay { date: day, ..Default::default() };
        while let Some(r) = rows.next_if(|r| r.day <= day) {
            if r.day == day {
                d = UsageDay {
                    date: day,
                    messages_in: r.messages_in,
                    messages_out: r.messages_out,
                    marketing: r.marketing,
                    utility: r.utility,
                    authentication: r.authentication,
                    service: r.service,
                    billable: r.billable,
                    conversations_opened: r.conversations_opened,
                    active_agents: r.active_agents,
                };
            }
        }
        d.active_agents = d.active_agents.max(agents.get(&day).copied().unwrap_or(0));
        out.push(d);
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    Ok(out)
}

pub fn totals(days: &[UsageDay]) -> UsageTotals {
    let mut t = UsageTotals::default();
    for d in days {
        t.messages_in += d.messages_in;
        t.messages_out += d.messages_out;
        t.marketing += d.marketing;
        t.utility += d.utility;
        t.authentication += d.authentication;
        t.service += d.service;
        t.billable += d.billable;
        t.conversations_opened += d.conversations_opened;
        t.active_agents = t.active_agents.max(d.active_agents);
    }
    t
}

pub fn percent(used: i64, limit: i64) -> f64 {
    if limit <= 0 {
        return 0.0;
    }
    (used as f64 * 1000.0 / limit as f64).round() / 10.0
}

pub async fn month_to_date<C: ConnectionTrait>(db: &C, t: &tenants::Model) -> AppResult<MonthToDate> {
    let used = super::month_to_date_out(db, TenantId(t.id)).await?;
    Ok(MonthToDate {
        messages_out: used,
        limit: t.limit_monthly_messages,
        percent: percent(used, t.limit_monthly_messages),
    })
}

pub async fn report<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<UsageReport> {
    let t = crate::tenants::find(db, tenant).await?.ok_or_else(|| AppError::not_found("tenant"))?;
    let days = daily(db, tenant, from, to).await?;
    Ok(UsageReport {
        from,
        to,
        plan: t.plan.clone(),
        totals: totals(&days),
        month_to_date: month_to_date(db, &t).await?,
        days,
    })
}

/// The daily rows as CSV with a header row.
pub fn to_csv(days: &[UsageDay]) -> String {
    let mut s = String::from(
        "date,messages_in,messages_out,marketing,utility,authentication,service,billable,conversations_opened,active_agents\n",
    );
    for d in days {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            d.date,
            d.messages_in,
            d.messages_out,
            d.marketing,
            d.utility,
            d.authentication,
            d.service,
            d.billable,
            d.conversations_opened,
            d.active_agents
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(parse_range(Some("2026-01-01"), Some("2026-12-31")).is_ok());
        assert!(parse_range(Some("2024-01-01"), Some("2024-12-31")).is_ok(), "366 days in a leap year");
        assert!(parse_range(Some("2026-01-01"), Some("2027-01-02")).is_err());
        assert!(parse_range(Some("2026-02-02"), Some("2026-02-01")).is_err());
        assert!(parse_range(Some("2026-2-1"), None).is_err());
        assert!(parse_range(Some("2026-02-30"), None).is_err());
        let (f, t) = parse_range(None, None).unwrap();
        assert_eq!(f.day(), 1);
        assert_eq!(t, Utc::now().date_naive());
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(5, 0), 0.0);
    }
}
