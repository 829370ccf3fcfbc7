//! `GET /admin`: the platform operator's landing page (SYSTEM_ADMIN): platform totals, queues and
//! the tenants with plan, status and month-to-date usage; suspend, reactivate and plan changes go
//! through `PATCH /api/admin/tenants/{id}`.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::charts;
use super::layout::{self, Shell, WebUser};
use crate::admin::service::PlatformStats;
use crate::entities::enums::{Role, TenantStatus};
use crate::state::AppState;

pub const PAGE_SIZE: u64 = 50;

pub struct PlanOption {
    pub name: &'static str,
    pub selected: bool,
}

pub struct TenantRow {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub plan: String,
    pub plans: Vec<PlanOption>,
    pub active: bool,
    pub users: i64,
    pub numbers: i64,
    pub used: i64,
    pub limit: i64,
    pub percent: String,
    pub meter: String,
    pub created: String,
}

pub struct QueueRow {
    pub queue: String,
    pub pending: i64,
    pub running: i64,
    pub failed: i64,
    pub dead: i64,
    pub oldest: String,
}

#[derive(Template)]
#[template(path = "admin_tenants.html")]
struct AdminPage {
    shell: Shell,
    stats: PlatformStats,
    queues: Vec<QueueRow>,
    tenants: Vec<TenantRow>,
    status: String,
    page: u64,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    status: Option<String>,
    page: Option<u64>,
}

fn link(status: &str, page: u64) -> String {
    match (status.is_empty(), page) {
        (true, 1) => "/admin".into(),
        (true, p) => format!("/admin?page={p}"),
        (false, p) => format!("/admin?status={status}&page={p}"),
    }
}

pub async fn page(State(state): State<AppState>, user: WebUser, Query(q): Query<AdminQuery>) -> Response {
    if let Err(r) = user.require(&[Role::SystemAdmin]) {
        return r;
    }
    let status = q.status.as_deref().and_then(TenantStatus::parse);
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let loaded = async {
        let stats = crate::admin::service::stats(&state).await?;
        // One more than a page tells whether there is a next page.
        let rows = crate::admin::service::list(&state.db, status, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE).await?;
        Ok::<_, crate::error::AppError>((stats, rows))
    };
    let (stats, mut rows) = match loaded.await {
        Ok(x) => x,
        Err(e) => return layout::app_error_page(&user, e),
    };
    let has_next = rows.len() as u64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let tenants = rows
        .into_iter()
        .map(|t| TenantRow {
            id: t.tenant.id,
            plans: crate::tenants::plans::PLANS
                .iter()
                .map(|p| PlanOption { name: p.name, selected: p.name == t.tenant.plan })
                .collect(),
            active: t.tenant.status == TenantStatus::Active,
            users: t.users,
            numbers: t.numbers,
            used: t.month_to_date.messages_out,
            limit: t.month_to_date.limit,
            percent: format!("{:.1}%", t.month_to_date.percent),
            meter: charts::meter(
                &format!("meter-{}", t.tenant.id),
                &format!("{} messages this month", t.tenant.name),
                t.month_to_date.messages_out,
                t.month_to_date.limit,
            ),
            created: super::settings::when(t.tenant.created_at),
            name: t.tenant.name,
            slug: t.tenant.slug,
            plan: t.tenant.plan,
        })
        .collect();
    let queues = stats
        .queues
        .iter()
        .map(|q| QueueRow {
            queue: q.queue.clone(),
            pending: q.pending,
            running: q.running,
            failed: q.failed,
            dead: q.dead,
            oldest: super::dashboard::duration(q.oldest_pending_age_secs),
        })
        .collect();
    let status = status.map(|s| s.as_str().to_string()).unwrap_or_default();
    let page = AdminPage {
        shell: user.shell("admin"),
        stats,
        queues,
        prev: (page > 1).then(|| link(&status, page - 1)),
        next: has_next.then(|| link(&status, page + 1)),
        tenants,
        status,
        page,
    };
    layout::render(&page)
}
