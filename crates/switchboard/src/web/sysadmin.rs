//! `GET /admin`: the platform operator's landing page (SYSTEM_ADMIN): platform totals, queues and
//! the tenants with plan, status and month-to-date usage; suspend, reactivate and plan changes go
//! through `PATCH /api/admin/tenants/{id}`. Below, the latest platform-wide audit entries (read
//! only; the full log with filters is `GET /api/admin/audit`).

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
/// Audit entries shown on the page.
pub const AUDIT_ROWS: u64 = 50;

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

pub struct AuditRow {
    pub time: String,
    /// The tenant's name; `None` for the platform's own entries.
    pub tenant: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
}

#[derive(Template)]
#[template(path = "admin_tenants.html")]
struct AdminPage {
    shell: Shell,
    stats: PlatformStats,
    queues: Vec<QueueRow>,
    tenants: Vec<TenantRow>,
    audit: Vec<AuditRow>,
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
        let audit = latest_audit(&state).await?;
        Ok::<_, crate::error::AppError>((stats, rows, audit))
    };
    let (stats, mut rows, audit) = match loaded.await {
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
        audit,
        status,
        page,
    };
    layout::render(&page)
}

/// The newest audit entries across tenants and the platform, through the same query as
/// `GET /api/admin/audit`.
async fn latest_audit(state: &AppState) -> Result<Vec<AuditRow>, crate::error::AppError> {
    use crate::audit::service::{ListFilter, Scope};
    let filter = ListFilter { scope: Scope::AdminAll, action: None, actor_user_id: None };
    let (rows, _) = crate::audit::service::list(&state.db, &filter, None, AUDIT_ROWS).await?;
    let mut ids: Vec<Uuid> = rows.iter().filter_map(|r| r.tenant_id).collect();
    ids.sort();
    ids.dedup();
    let names = crate::admin::service::tenant_names(&state.db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let e = r.entry;
            AuditRow {
                time: super::settings::when(e.created_at),
                // A removed tenant keeps its entries: show its id.
                tenant: r.tenant_id.map(|t| names.get(&t).cloned().unwrap_or_else(|| t.to_string())),
                actor: match (e.actor_email, e.actor_user_id) {
                    (Some(email), _) => email,
                    (None, Some(id)) => id.to_string(),
                    (None, None) => "—".into(),
                },
                target: match (e.target_type, e.target_id) {
                    (Some(t), Some(id)) => format!("{t} {id}"),
                    (Some(t), None) => t,
                    (None, Some(id)) => id,
                    (None, None) => "—".into(),
                },
                action: e.action,
            }
        })
        .collect())
}
