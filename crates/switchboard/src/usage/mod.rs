//! Daily usage counters per tenant, incremented atomically with an upsert on both backends.

pub mod report;
pub mod routes;

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Func, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::daily_usage;
use crate::ids::TenantId;

/// Amounts to add to a day's row.
#[derive(Debug, Default, Clone, Copy)]
pub struct Delta {
    pub messages_in: i64,
    pub messages_out: i64,
    pub marketing: i64,
    pub utility: i64,
    pub authentication: i64,
    pub service: i64,
    pub billable: i64,
    pub conversations_opened: i64,
}

/// Deltas gathered by one transaction, per (tenant, day).
pub type Deltas = HashMap<(Uuid, NaiveDate), Delta>;

impl std::ops::AddAssign for Delta {
    fn add_assign(&mut self, o: Self) {
        self.messages_in += o.messages_in;
        self.messages_out += o.messages_out;
        self.marketing += o.marketing;
        self.utility += o.utility;
        self.authentication += o.authentication;
        self.service += o.service;
        self.billable += o.billable;
        self.conversations_opened += o.conversations_opened;
    }
}

/// Applies a transaction's deltas, one upsert per (tenant, day), in key order: call it as the
/// transaction's last statement, so that the day rows (the most contended of a busy tenant) stay
/// locked only until the commit, and two transactions lock them in the same order.
pub async fn add_all<C: ConnectionTrait>(db: &C, deltas: Deltas) -> Result<(), DbErr> {
    let mut rows: Vec<_> = deltas.into_iter().collect();
    rows.sort_by_key(|(k, _)| *k);
    for ((tenant, day), d) in rows {
        add(db, tenant, day, d).await?;
    }
    Ok(())
}

impl Delta {
    /// Counts one priced message in its category.
    pub fn priced(category: &str, billable: bool) -> Self {
        let mut d = Delta { billable: billable as i64, ..Default::default() };
        match category {
            "marketing" | "marketing_lite" => d.marketing = 1,
            "utility" => d.utility = 1,
            "authentication" | "authentication_international" => d.authentication = 1,
            _ => d.service = 1,
        }
        d
    }
}

pub async fn add<C: ConnectionTrait>(db: &C, tenant_id: Uuid, day: NaiveDate, d: Delta) -> Result<(), DbErr> {
    use daily_usage::Column as C_;
    let row = daily_usage::ActiveModel {
        tenant_id: Set(tenant_id),
        day: Set(day),
        messages_in: Set(d.messages_in),
        messages_out: Set(d.messages_out),
        marketing: Set(d.marketing),
        utility: Set(d.utility),
        authentication: Set(d.authentication),
        service: Set(d.service),
        billable: Set(d.billable),
        conversations_opened: Set(d.conversations_opened),
        active_agents: Set(0),
    };
    let mut on = OnConflict::columns([C_::TenantId, C_::Day]);
    for (col, name) in [
        (C_::MessagesIn, "messages_in"),
        (C_::MessagesOut, "messages_out"),
        (C_::Marketing, "marketing"),
        (C_::Utility, "utility"),
        (C_::Authentication, "authentication"),
        (C_::Service, "service"),
        (C_::Billable, "billable"),
        (C_::ConversationsOpened, "conversations_opened"),
    ] {
        // `excluded` is the proposed row on both PostgreSQL and SQLite.
        on.value(col, Expr::cust(format!("daily_usage.{name} + excluded.{name}")));
    }
    daily_usage::Entity::insert(row).on_conflict(on).exec_without_returning(db).await?;
    Ok(())
}

/// Messages sent so far this month (counted when queued): the monthly plan limit's measure.
pub async fn month_to_date_out<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<i64, DbErr> {
    let today = Utc::now().date_naive();
    let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    let sum: Option<Option<i64>> = daily_usage::Entity::of(tenant)
        .select_only()
        .expr_as(Func::cast_as(Func::sum(Expr::col(daily_usage::Column::MessagesOut)), "bigint"), "s")
        .filter(daily_usage::Column::Day.gte(first))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.flatten().unwrap_or(0))
}
