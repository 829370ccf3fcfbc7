//! `GET /dashboard`: today and the last 30 days (UTC) from the analytics and usage services, with
//! the daily messages and the delivery/read rates drawn as server-side SVG (plus a data table).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{Days, NaiveDate, Utc};

use super::charts::{self, Rate, Series};
use super::layout::{self, Shell, WebUser};
use crate::analytics::service::{self as analytics, Summary};
use crate::entities::enums::Role;
use crate::state::AppState;

/// Every tenant role sees the dashboard.
/// The roles `GET /api/analytics/*` admits: agents see their own work in the inbox, not tenant-wide figures.
pub const ROLES: &[Role] = &[Role::TenantAdmin, Role::BillingAdmin];

/// How many days the charts cover, today included.
pub const DAYS: u64 = 30;

/// A summary formatted for the page.
pub struct Figures {
    pub messages_in: i64,
    pub messages_out: i64,
    pub opened: i64,
    pub resolved: i64,
    pub first_response: String,
    pub delivery_rate: String,
    pub read_rate: String,
    pub sent: i64,
}

impl From<&Summary> for Figures {
    fn from(s: &Summary) -> Self {
        Figures {
            messages_in: s.messages_in,
            messages_out: s.messages_out,
            opened: s.conversations_opened,
            resolved: s.conversations_resolved,
            first_response: duration(s.median_first_response_secs),
            delivery_rate: rate(s.delivery_rate),
            read_rate: rate(s.read_rate),
            sent: s.outbound_sent,
        }
    }
}

/// `42s`, `3m 5s`, `2h 10m`, `1d 4h`; `—` when there is no value.
pub fn duration(secs: Option<f64>) -> String {
    let Some(s) = secs.filter(|s| s.is_finite() && *s >= 0.0) else { return "—".into() };
    let s = s.round() as i64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

pub fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

pub struct DayRow {
    pub date: NaiveDate,
    pub messages_in: i64,
    pub messages_out: i64,
    pub opened: i64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    shell: Shell,
    today: Figures,
    month: Figures,
    from: NaiveDate,
    to: NaiveDate,
    chart_messages: String,
    chart_rates: String,
    days: Vec<DayRow>,
    /// Per agent over the 30 days (for the roles the analytics API admits).
    agents: Option<Vec<AgentRow>>,
    /// No WhatsApp number yet: the page says where to start.
    no_numbers: bool,
    can_add_number: bool,
}

pub struct AgentRow {
    pub name: String,
    pub email: String,
    pub handled: i64,
    pub sent: i64,
    pub first_response: String,
}

pub async fn page(State(state): State<AppState>, user: WebUser) -> Response {
    if let Err(r) = user.require(ROLES) {
        return r;
    }
    let tenant = match user.tenant_id() {
        Ok(t) => t,
        Err(r) => return r,
    };
    let to = Utc::now().date_naive();
    let from = to - Days::new(DAYS - 1);
    let figures = async {
        let today = analytics::summary(&state.db, tenant, to, to).await?;
        let month = analytics::summary(&state.db, tenant, from, to).await?;
        let days = crate::usage::report::daily(&state.db, tenant, from, to).await?;
        let agents = match user.role() {
            Role::TenantAdmin | Role::BillingAdmin => Some(analytics::agents(&state.db, tenant, from, to).await?),
            _ => None,
        };
        let numbers = crate::accounts::service::list(&state.db, tenant).await?.len();
        Ok::<_, crate::error::AppError>((today, month, days, agents, numbers))
    };
    let (today, month, days, agents, numbers) = match figures.await {
        Ok(x) => x,
        Err(e) => return layout::app_error_page(&user, e),
    };
    let dates: Vec<NaiveDate> = days.iter().map(|d| d.date).collect();
    let total_in: i64 = days.iter().map(|d| d.messages_in).sum();
    let total_out: i64 = days.iter().map(|d| d.messages_out).sum();
    let chart_messages = charts::daily_bars(
        "chart-messages",
        &format!(
            "Messages per day, {} to {}: {total_in} received and {total_out} sent",
            from.format("%b %-d"),
            to.format("%b %-d")
        ),
        &dates,
        &[
            Series { key: "in", label: "received", values: days.iter().map(|d| d.messages_in).collect() },
            Series { key: "out", label: "sent", values: days.iter().map(|d| d.messages_out).collect() },
        ],
    );
    let chart_rates = charts::rate_bars(
        "chart-rates",
        &format!(
            "Delivery and read rates: today {} delivered and {} read; last {DAYS} days {} delivered and {} read",
            rate(today.delivery_rate),
            rate(today.read_rate),
            rate(month.delivery_rate),
            rate(month.read_rate)
        ),
        &[
            Rate { key: "delivered", label: "Delivered today", value: today.delivery_rate },
            Rate { key: "read", label: "Read today", value: today.read_rate },
            Rate { key: "delivered", label: &format!("Delivered, {DAYS} days"), value: month.delivery_rate },
            Rate { key: "read", label: &format!("Read, {DAYS} days"), value: month.read_rate },
        ],
    );
    let page = DashboardPage {
        shell: user.shell("dashboard"),
        today: (&today).into(),
        month: (&month).into(),
        from,
        to,
        chart_messages,
        chart_rates,
        no_numbers: numbers == 0,
        can_add_number: user.role() == Role::TenantAdmin,
        agents: agents.map(|list| {
            list.into_iter()
                .map(|a| AgentRow {
                    name: a.name,
                    email: a.email,
                    handled: a.conversations_handled,
                    sent: a.messages_sent,
                    first_response: duration(a.median_first_response_secs),
                })
                .collect()
        }),
        days: days
            .iter()
            .rev()
            .map(|d| DayRow {
                date: d.date,
                messages_in: d.messages_in,
                messages_out: d.messages_out,
                opened: d.conversations_opened,
            })
            .collect(),
    };
    layout::render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(None), "—");
        assert_eq!(duration(Some(42.4)), "42s");
        assert_eq!(duration(Some(185.0)), "3m 5s");
        assert_eq!(duration(Some(7800.0)), "2h 10m");
        assert_eq!(duration(Some(100_800.0)), "1d 4h");
        assert_eq!(rate(Some(0.5)), "50.0%");
    }
}
