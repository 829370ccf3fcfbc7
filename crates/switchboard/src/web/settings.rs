//! `GET /settings/*`: the tenant's settings in sections (WhatsApp accounts, team, theme, plan and
//! usage, API keys, outgoing webhooks, profile). Each section admits the roles its REST API admits;
//! the sub-navigation shows only those, and another role opening the URL gets the 403 page.
//! Pages read through the services; changes go through the REST API from the page's forms, except
//! Profile's name and password forms, which post to this module and work without script.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::charts;
use super::layout::{self, FormUser, Shell, WebUser};
use crate::access::extract::ClientIp;
use crate::domain::{NewPassword, parse_name};
use crate::entities::enums::{AccountStatus, Role};
use crate::ids::TenantId;
use crate::state::AppState;

/// A settings section and the roles that may use it.
pub struct Section {
    pub slug: &'static str,
    pub label: &'static str,
    pub roles: &'static [Role],
}

const ADMIN: &[Role] = &[Role::TenantAdmin];

/// In sub-navigation order; `/settings` opens the first one the role may see.
pub const SECTIONS: &[Section] = &[
    Section { slug: "accounts", label: "WhatsApp accounts", roles: &[Role::TenantAdmin, Role::Agent] },
    Section { slug: "team", label: "Team", roles: ADMIN },
    Section { slug: "workspace", label: "Workspace", roles: ADMIN },
    Section { slug: "theme", label: "Theme", roles: ADMIN },
    Section { slug: "plan", label: "Plan and usage", roles: &[Role::TenantAdmin, Role::BillingAdmin] },
    Section { slug: "api-keys", label: "API keys", roles: ADMIN },
    Section { slug: "webhooks", label: "Webhooks", roles: ADMIN },
    Section { slug: "profile", label: "Profile", roles: &[Role::TenantAdmin, Role::Agent, Role::BillingAdmin] },
];

pub struct NavItem {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// The sections `role` may see.
pub fn visible(role: Role) -> impl Iterator<Item = &'static Section> {
    SECTIONS.iter().filter(move |s| s.roles.contains(&role))
}

/// Admits the user to a section: its tenant and the sub-navigation, or the 403 page.
#[allow(clippy::result_large_err)] // a page, returned at once like layout's checks
fn enter(user: &WebUser, slug: &str) -> Result<(TenantId, Vec<NavItem>), Response> {
    let tenant = user.tenant_id()?;
    let section = SECTIONS.iter().find(|s| s.slug == slug).map(|s| s.roles).unwrap_or(&[]);
    user.require(section)?;
    let nav = visible(user.role())
        .map(|s| NavItem { href: format!("/settings/{}", s.slug), label: s.label, current: s.slug == slug })
        .collect();
    Ok((tenant, nav))
}

/// `2026-11-25 14:03 UTC`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn when_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(when).unwrap_or_else(|| "—".into())
}

pub fn role_label(r: Role) -> &'static str {
    match r {
        Role::TenantAdmin => "Admin",
        Role::Agent => "Agent",
        Role::BillingAdmin => "Billing admin",
        Role::SystemAdmin => "System admin",
    }
}

/// `GET /settings`: the first section the role may see.
pub async fn index(user: WebUser) -> Response {
    if let Err(r) = user.tenant_id() {
        return r;
    }
    match visible(user.role()).next() {
        Some(s) => Redirect::to(&format!("/settings/{}", s.slug)).into_response(),
        None => user.forbidden("Your role has no settings."),
    }
}

macro_rules! try_page {
    ($user:expr, $e:expr) => {
        match $e {
            Ok(x) => x,
            Err(e) => return layout::app_error_page(&$user, e),
        }
    };
}

macro_rules! enter {
    ($user:expr, $slug:expr) => {
        match enter(&$user, $slug) {
            Ok(x) => x,
            Err(r) => return r,
        }
    };
}

// ---------------------------------------------------------------- WhatsApp accounts

pub struct AccountRow {
    pub id: Uuid,
    pub name: String,
    pub display_phone_number: String,
    pub phone_number_id: String,
    pub waba_id: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub active: bool,
    pub is_sandbox: bool,
    pub token_last4: String,
    pub verify_token: String,
    pub throughput: i32,
    pub quality_rating: Option<String>,
    pub messaging_limit: Option<String>,
}

#[derive(Template)]
#[template(path = "settings_accounts.html")]
struct AccountsPage {
    shell: Shell,
    nav: Vec<NavItem>,
    accounts: Vec<AccountRow>,
    callback_url: String,
    welcome: bool,
    can_manage: bool,
    sandbox: bool,
    max_numbers: i32,
}

#[derive(Deserialize, Default)]
pub struct WelcomeQuery {
    welcome: Option<String>,
}

pub async fn accounts(State(state): State<AppState>, user: WebUser, Query(q): Query<WelcomeQuery>) -> Response {
    let (tenant, nav) = enter!(user, "accounts");
    let rows = try_page!(user, crate::accounts::service::list(&state.db, tenant).await);
    let accounts = rows
        .into_iter()
        .map(|a| AccountRow {
            id: a.id,
            status: a.status.as_str(),
            status_class: match a.status {
                AccountStatus::Active => "ok",
                AccountStatus::NeedsReauth => "warn",
                AccountStatus::Disabled => "danger",
            },
            active: a.status == AccountStatus::Active,
            name: a.name,
            display_phone_number: a.display_phone_number,
            phone_number_id: a.phone_number_id,
            waba_id: a.waba_id,
            is_sandbox: a.is_sandbox,
            token_last4: a.access_token_last4,
            verify_token: a.verify_token,
            throughput: a.throughput_mps,
            quality_rating: a.quality_rating,
            messaging_limit: a.messaging_limit,
        })
        .collect();
    let page = AccountsPage {
        shell: user.shell("settings"),
        nav,
        accounts,
        callback_url: format!("{}/api/webhooks/whatsapp", state.public_url()),
        welcome: q.welcome.as_deref().is_some_and(|w| w == "1"),
        can_manage: user.role() == Role::TenantAdmin,
        sandbox: state.sandbox.is_some(),
        max_numbers: user.tenant.as_ref().map(|t| t.limit_max_numbers).unwrap_or(0),
    };
    layout::render(&page)
}

// ---------------------------------------------------------------- Team

pub struct RoleOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

fn role_options(current: Role) -> Vec<RoleOption> {
    [Role::TenantAdmin, Role::Agent, Role::BillingAdmin]
        .into_iter()
        .map(|r| RoleOption { value: r.as_str(), label: role_label(r), selected: r == current })
        .collect()
}

pub struct MemberRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub roles: Vec<RoleOption>,
    pub status: &'static str,
    pub status_class: &'static str,
    pub active: bool,
    pub last_login: String,
    pub is_me: bool,
    /// Inbox roles: presence and capacity.
    pub agent: Option<AgentInfo>,
}

pub struct AgentInfo {
    pub id: Uuid,
    pub status: &'static str,
    pub status_class: &'static str,
    pub open: i64,
    pub max_concurrent: i32,
}

#[derive(Template)]
#[template(path = "settings_team.html")]
struct TeamPage {
    shell: Shell,
    nav: Vec<NavItem>,
    members: Vec<MemberRow>,
    invite_roles: Vec<RoleOption>,
    seats_used: i64,
    max_agents: i32,
}

pub async fn team(State(state): State<AppState>, user: WebUser) -> Response {
    let (tenant, nav) = enter!(user, "team");
    let list = try_page!(user, crate::team::service::list(&state.db, tenant).await);
    let seats_used = try_page!(user, crate::team::service::seats_used(&state.db, tenant).await);
    let agents = try_page!(user, crate::agents::service::list(&state, tenant).await);
    let members = list
        .into_iter()
        .map(|m| MemberRow {
            agent: agents.iter().find(|a| a.user_id == m.id).map(|a| AgentInfo {
                id: a.id,
                status: a.status.as_str(),
                status_class: match a.status {
                    crate::entities::enums::AgentStatus::Online => "ok",
                    crate::entities::enums::AgentStatus::Away => "warn",
                    crate::entities::enums::AgentStatus::Offline => "",
                },
                open: a.open_conversations,
                max_concurrent: a.max_concurrent,
            }),
            is_me: m.id == user.user.id,
            id: m.id,
            role: role_label(m.role),
            roles: role_options(m.role),
            status_class: match m.status {
                "active" => "ok",
                "invited" => "warn",
                _ => "danger",
            },
            status: m.status,
            active: m.active,
            last_login: when_opt(m.last_login_at),
            name: m.name,
            email: m.email,
        })
        .collect();
    let page = TeamPage {
        shell: user.shell("settings"),
        nav,
        members,
        invite_roles: role_options(Role::Agent),
        seats_used,
        max_agents: user.tenant.as_ref().map(|t| t.limit_max_agents).unwrap_or(0),
    };
    layout::render(&page)
}

// ---------------------------------------------------------------- Workspace

pub struct HoursRow {
    pub day: &'static str,
    pub label: &'static str,
    pub open: String,
    pub close: String,
}

#[derive(Template)]
#[template(path = "settings_workspace.html")]
struct WorkspacePage {
    shell: Shell,
    nav: Vec<NavItem>,
    s: crate::settings::service::SettingsDto,
    keywords: String,
    billing_email: String,
    hours: Vec<HoursRow>,
}

pub async fn workspace(State(state): State<AppState>, user: WebUser) -> Response {
    let (tenant, nav) = enter!(user, "workspace");
    let s = try_page!(user, crate::settings::service::get(&state, tenant).await);
    let h = s.business_hours.clone().unwrap_or_default();
    let days = [
        ("monday", "Monday", &h.monday),
        ("tuesday", "Tuesday", &h.tuesday),
        ("wednesday", "Wednesday", &h.wednesday),
        ("thursday", "Thursday", &h.thursday),
        ("friday", "Friday", &h.friday),
        ("saturday", "Saturday", &h.saturday),
        ("sunday", "Sunday", &h.sunday),
    ];
    let hours = days
        .into_iter()
        .map(|(day, label, d)| HoursRow {
            day,
            label,
            open: d.as_ref().map(|d| d.open.clone()).unwrap_or_default(),
            close: d.as_ref().map(|d| d.close.clone()).unwrap_or_default(),
        })
        .collect();
    let page = WorkspacePage {
        shell: user.shell("settings"),
        nav,
        keywords: s.opt_out_keywords.join(", "),
        billing_email: s.billing_email.clone().unwrap_or_default(),
        hours,
        s,
    };
    layout::render(&page)
}

// ---------------------------------------------------------------- Theme

#[derive(Template)]
#[template(path = "settings_theme.html")]
struct ThemePage {
    shell: Shell,
    nav: Vec<NavItem>,
    color: String,
    name: String,
    logo_url: String,
}

pub async fn theme(user: WebUser) -> Response {
    let (_, nav) = enter!(user, "theme");
    let (color, name, logo_url) = match &user.tenant {
        Some(t) => {
            (layout::safe_color(&t.theme_color), t.theme_name.clone(), t.theme_logo_url.clone().unwrap_or_default())
        }
        None => (layout::DEFAULT_COLOR.to_string(), String::new(), String::new()),
    };
    layout::render(&ThemePage { shell: user.shell("settings"), nav, color, name, logo_url })
}

// ---------------------------------------------------------------- Plan and usage

pub struct UsageRow {
    pub label: &'static str,
    pub used: i64,
    pub limit: i64,
    pub percent: String,
    pub meter: String,
}

pub struct PlanRow {
    pub name: &'static str,
    pub current: bool,
    pub messages_per_minute: i32,
    pub monthly_messages: i64,
    pub max_agents: i32,
    pub max_numbers: i32,
}

#[derive(Template)]
#[template(path = "settings_plan.html")]
struct PlanPage {
    shell: Shell,
    nav: Vec<NavItem>,
    plan: String,
    messages_per_minute: i32,
    usage: Vec<UsageRow>,
    month_from: NaiveDate,
    month_to: NaiveDate,
    totals: crate::usage::report::UsageTotals,
    plans: Vec<PlanRow>,
}

fn usage_row(key: &str, label: &'static str, used: i64, limit: i64) -> UsageRow {
    UsageRow {
        label,
        used,
        limit,
        percent: format!("{:.1}%", crate::usage::report::percent(used, limit)),
        meter: charts::meter(&format!("meter-{key}"), label, used, limit),
    }
}

pub async fn plan(State(state): State<AppState>, user: WebUser) -> Response {
    let (tenant, nav) = enter!(user, "plan");
    let Some(t) = user.tenant.clone() else { return user.forbidden("This page belongs to a tenant account.") };
    let to = Utc::now().date_naive();
    let from = NaiveDate::from_ymd_opt(to.year(), to.month(), 1).unwrap_or(to);
    let mtd = try_page!(user, crate::usage::report::month_to_date(&state.db, &t).await);
    let days = try_page!(user, crate::usage::report::daily(&state.db, tenant, from, to).await);
    let seats = try_page!(user, crate::team::service::seats_used(&state.db, tenant).await);
    let numbers = try_page!(user, crate::accounts::service::list(&state.db, tenant).await).len() as i64;
    let usage = vec![
        usage_row("messages", "Messages sent this month", mtd.messages_out, mtd.limit),
        usage_row("seats", "Team seats (admins and agents)", seats, t.limit_max_agents as i64),
        usage_row("numbers", "WhatsApp numbers", numbers, t.limit_max_numbers as i64),
    ];
    let plans = crate::tenants::plans::PLANS
        .iter()
        .map(|p| PlanRow {
            name: p.name,
            current: p.name == t.plan,
            messages_per_minute: p.messages_per_minute,
            monthly_messages: p.monthly_messages,
            max_agents: p.max_agents,
            max_numbers: p.max_numbers,
        })
        .collect();
    let page = PlanPage {
        shell: user.shell("settings"),
        nav,
        plan: t.plan.clone(),
        messages_per_minute: t.limit_messages_per_minute,
        usage,
        month_from: from,
        month_to: to,
        totals: crate::usage::report::totals(&days),
        plans,
    };
    layout::render(&page)
}

// ---------------------------------------------------------------- API keys

pub struct KeyRow {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub last_used: String,
    pub created: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "settings_api_keys.html")]
struct ApiKeysPage {
    shell: Shell,
    nav: Vec<NavItem>,
    keys: Vec<KeyRow>,
}

pub async fn api_keys(State(state): State<AppState>, user: WebUser) -> Response {
    let (tenant, nav) = enter!(user, "api-keys");
    let keys = try_page!(user, crate::apikeys::service::list(&state, tenant).await)
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.join(", "),
            last_used: when_opt(k.last_used_at),
            created: when(k.created_at),
            revoked: k.revoked_at.map(when),
        })
        .collect();
    layout::render(&ApiKeysPage { shell: user.shell("settings"), nav, keys })
}

// ---------------------------------------------------------------- Outgoing webhooks

pub struct EndpointRow {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: String,
    pub enabled: bool,
    pub failures: i32,
    pub disabled_reason: String,
    pub created: String,
}

impl From<crate::outhooks::service::EndpointDto> for EndpointRow {
    fn from(e: crate::outhooks::service::EndpointDto) -> Self {
        EndpointRow {
            id: e.id,
            url: e.url,
            description: e.description.unwrap_or_default(),
            events: e.events.join(", "),
            enabled: e.enabled,
            failures: e.consecutive_failures,
            disabled_reason: e.disabled_reason.unwrap_or_default(),
            created: when(e.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "settings_webhooks.html")]
struct WebhooksPage {
    shell: Shell,
    nav: Vec<NavItem>,
    endpoints: Vec<EndpointRow>,
    event_types: String,
}

pub async fn webhooks(State(state): State<AppState>, user: WebUser) -> Response {
    let (tenant, nav) = enter!(user, "webhooks");
    let endpoints =
        try_page!(user, crate::outhooks::service::list(&state, tenant).await).into_iter().map(Into::into).collect();
    let page = WebhooksPage {
        shell: user.shell("settings"),
        nav,
        endpoints,
        event_types: crate::outhooks::EVENT_TYPES.join(", "),
    };
    layout::render(&page)
}

pub struct DeliveryRow {
    pub at: String,
    pub event_type: String,
    pub event_id: String,
    pub attempt: i32,
    pub status_code: String,
    pub duration_ms: i64,
    pub error: String,
    pub success: bool,
}

#[derive(Template)]
#[template(path = "settings_webhook_detail.html")]
struct WebhookDetailPage {
    shell: Shell,
    nav: Vec<NavItem>,
    ep: EndpointRow,
    deliveries: Vec<DeliveryRow>,
}

/// One endpoint and its latest deliveries (another tenant's id is a 404 page).
pub async fn webhook_detail(State(state): State<AppState>, user: WebUser, Path(id): Path<String>) -> Response {
    let (tenant, nav) = enter!(user, "webhooks");
    let Ok(id) = id.parse::<Uuid>() else {
        return layout::app_error_page(&user, crate::error::AppError::not_found("webhook endpoint"));
    };
    let ep = try_page!(user, crate::outhooks::service::get(&state, tenant, id).await);
    let deliveries = try_page!(user, crate::outhooks::service::deliveries(&state, tenant, id, 100).await)
        .into_iter()
        .map(|d| DeliveryRow {
            at: when(d.created_at),
            event_type: d.event_type,
            event_id: d.event_id,
            attempt: d.attempt,
            status_code: d.status_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
            duration_ms: d.duration_ms,
            error: d.error.unwrap_or_default(),
            success: d.success,
        })
        .collect();
    layout::render(&WebhookDetailPage { shell: user.shell("settings"), nav, ep: ep.into(), deliveries })
}

// ---------------------------------------------------------------- Profile

pub struct StatusOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "settings_profile.html")]
struct ProfilePage {
    shell: Shell,
    nav: Vec<NavItem>,
    name: String,
    email: String,
    role: &'static str,
    tenant_name: String,
    last_login: String,
    /// Presence choices for inbox roles (TENANT_ADMIN, AGENT); none for others.
    statuses: Vec<StatusOption>,
    /// What the forms show: a success notice, values typed back, errors by field.
    form: ProfileForm,
}

/// The state of the profile's two forms after a post (empty on a plain visit).
#[derive(Default)]
pub struct ProfileForm {
    pub notice: Option<&'static str>,
    /// The name as typed, when the name form was refused.
    pub name: Option<String>,
    pub name_error: Option<String>,
    pub password_error: Option<String>,
    pub current_error: Option<String>,
    pub new_error: Option<String>,
    pub confirm_error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn profile(State(state): State<AppState>, user: WebUser, Query(q): Query<SavedQuery>) -> Response {
    let notice = match q.saved.as_deref() {
        Some("name") => Some("Your name was saved."),
        Some("password") => Some("Your password was changed. Your other sessions have been signed out."),
        _ => None,
    };
    profile_page(&state, &user, StatusCode::OK, ProfileForm { notice, ..Default::default() }).await
}

async fn profile_page(state: &AppState, user: &WebUser, status: StatusCode, form: ProfileForm) -> Response {
    let (tenant, nav) = enter!(user, "profile");
    let mut statuses = vec![];
    if matches!(user.role(), Role::TenantAdmin | Role::Agent) {
        let agents = try_page!(user, crate::agents::service::list(state, tenant).await);
        let mine = agents.iter().find(|a| a.user_id == user.user.id).map(|a| a.status.as_str());
        statuses = [("online", "Online"), ("away", "Away"), ("offline", "Offline")]
            .into_iter()
            .map(|(value, label)| StatusOption { value, label, selected: mine == Some(value) })
            .collect();
    }
    let page = ProfilePage {
        shell: user.shell("settings"),
        nav,
        name: user.user.name.clone(),
        email: user.user.email.clone(),
        role: role_label(user.role()),
        tenant_name: user.tenant.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
        last_login: when_opt(user.user.last_login_at),
        statuses,
        form,
    };
    layout::render_status(status, &page)
}

/// The form's CSRF field and the section check every profile post makes first.
#[allow(clippy::result_large_err)] // a page, returned at once like layout's checks
fn check_profile_post(user: &WebUser, headers: &HeaderMap, csrf: &str) -> Result<(), Response> {
    enter(user, "profile")?;
    if super::session::csrf_matches(headers, Some(csrf)).is_err() || user.principal.person().is_err() {
        return Err(user.forbidden("Your session form expired. Reload the page and try again."));
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /settings/profile/name`: changes the user's own name (plain form, works without script).
pub async fn profile_name(
    State(state): State<AppState>,
    FormUser(user): FormUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<NameForm>,
) -> Response {
    if let Err(r) = check_profile_post(&user, &headers, &f.csrf) {
        return r;
    }
    let name = match parse_name(&f.name, 100) {
        Ok(n) => n,
        Err(m) => {
            let form =
                ProfileForm { name: Some(f.name), name_error: Some(format!("The name {m}.")), ..Default::default() };
            return profile_page(&state, &user, StatusCode::UNPROCESSABLE_ENTITY, form).await;
        }
    };
    try_page!(user, crate::auth::service::update_profile(&state, user.user.id, name, &ip).await);
    Redirect::to("/settings/profile?saved=name").into_response()
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /settings/profile/password`: changes the user's own password. Every session of the user
/// ends (as with the API); this browser is signed in again with a fresh session, so the user stays
/// on the page while their other devices must sign in with the new password.
pub async fn profile_password(
    State(state): State<AppState>,
    FormUser(user): FormUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Err(r) = check_profile_post(&user, &headers, &f.csrf) {
        return r;
    }
    let mut form = ProfileForm::default();
    if f.current_password.is_empty() {
        form.current_error = Some("Enter your current password.".into());
    }
    let new = NewPassword::parse(&f.new_password).map_err(|m| form.new_error = Some(format!("The new password {m}.")));
    if new.is_ok() && f.confirm_password != f.new_password {
        form.confirm_error = Some("The two new passwords do not match.".into());
    }
    let (Ok(new), None, None) = (new, &form.current_error, &form.confirm_error) else {
        return profile_page(&state, &user, StatusCode::UNPROCESSABLE_ENTITY, form).await;
    };
    match crate::auth::service::change_password(&state, user.user.id, &f.current_password, &new, &ip).await {
        Ok(u) => {
            let mut res = Redirect::to("/settings/profile?saved=password").into_response();
            match crate::auth::service::new_session(&state, u).await {
                Ok(s) => {
                    for c in super::session::signed_in_cookies(&state, &s, &headers) {
                        res.headers_mut().append(header::SET_COOKIE, c);
                    }
                }
                Err(e) => {
                    // The password changed; this browser is simply signed out like the others.
                    tracing::warn!(error = %e.message, "could not sign the browser in again after a password change");
                    res = Redirect::to("/login").into_response();
                    for c in super::session::clear_cookies(&state) {
                        res.headers_mut().append(header::SET_COOKIE, c);
                    }
                }
            }
            res
        }
        Err(e) if e.code == "invalid_current_password" => {
            form.current_error = Some("This is not your current password.".into());
            profile_page(&state, &user, e.status, form).await
        }
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            form.password_error = Some("Too many wrong passwords. Wait a few minutes and try again.".into());
            profile_page(&state, &user, e.status, form).await
        }
        Err(e) => layout::app_error_page(&user, e),
    }
}
