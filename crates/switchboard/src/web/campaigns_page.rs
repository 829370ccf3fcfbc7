//! The campaign pages: `GET /campaigns` (the list), `GET /campaigns/new` (TENANT_ADMIN: number,
//! approved template, per-parameter values, audience — everyone, a saved segment or tags — posted
//! to `POST /api/campaigns`), `GET /campaigns/{id}` (state, actions, the live funnel, the audience
//! count of a draft, the recipients with their outcome) and `GET /campaigns/{id}/funnel` (the funnel
//! fragment the page re-fetches as status webhooks arrive). Everything is read through
//! `campaigns::service`; the actions call the REST API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::layout::{self, Shell, WebUser};
use crate::campaigns::Audience;
use crate::campaigns::service::{self as campaigns, Funnel};
use crate::entities::enums::{AccountStatus, CampaignState, RecipientState, Role};
use crate::state::AppState;
use crate::templates::params::Spec;

pub const READ_ROLES: &[Role] = &[Role::TenantAdmin, Role::Agent, Role::BillingAdmin];
pub const MANAGE_ROLES: &[Role] = &[Role::TenantAdmin];

pub struct CampaignRow {
    pub id: Uuid,
    pub name: String,
    pub state: String,
    pub state_class: &'static str,
    pub reason: String,
    pub template: String,
    pub created: String,
}

fn state_class(s: CampaignState) -> &'static str {
    match s {
        CampaignState::Running | CampaignState::Completed => "ok",
        CampaignState::Scheduled | CampaignState::Paused | CampaignState::Draft => "warn",
        CampaignState::Cancelled | CampaignState::Failed => "danger",
    }
}

#[derive(Template)]
#[template(path = "campaigns_list.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<CampaignRow>,
    can_manage: bool,
}

pub async fn list(State(state): State<AppState>, user: WebUser) -> Response {
    let tenant = match user.tenant_with(READ_ROLES) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let loaded = async {
        let rows = campaigns::list(&state.db, tenant, 200).await?;
        let templates = crate::templates::service::list(&state.db, tenant, &Default::default()).await?;
        Ok::<_, crate::error::AppError>((rows, templates))
    };
    let (rows, templates) = match loaded.await {
        Ok(x) => x,
        Err(e) => return layout::app_error_page(&user, e),
    };
    let rows = rows
        .into_iter()
        .map(|c| CampaignRow {
            id: c.id,
            template: templates.iter().find(|t| t.id == c.template_id).map(|t| t.name.clone()).unwrap_or_default(),
            state: c.state.as_str().to_string(),
            state_class: state_class(c.state),
            reason: c.state_reason.unwrap_or_default(),
            created: c.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            name: c.name,
        })
        .collect();
    layout::render(&ListPage { shell: user.shell("campaigns"), rows, can_manage: user.role() == Role::TenantAdmin })
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

pub struct TemplateChoice {
    pub id: Uuid,
    pub label: String,
    pub account: Uuid,
    pub body: String,
    /// The default parameter sources for this template, as the JSON the form submits.
    pub variables: String,
}

#[derive(Template)]
#[template(path = "campaigns_new.html")]
struct NewPage {
    shell: Shell,
    accounts: Vec<Choice>,
    templates: Vec<TemplateChoice>,
    segments: Vec<Choice>,
    first_variables: String,
    time_zone: String,
}

/// A starting point for a template's parameters: the contact's name for the first, a constant
/// for the others (to be filled in).
fn default_variables(keys: &[String]) -> String {
    let mut m = Map::new();
    for (i, k) in keys.iter().enumerate() {
        let v = if i == 0 {
            json!({"from": "name", "fallback": "there"})
        } else {
            json!({"from": "constant", "value": ""})
        };
        m.insert(k.clone(), v);
    }
    serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_else(|_| "{}".into())
}

pub async fn new(State(state): State<AppState>, user: WebUser) -> Response {
    let tenant = match user.tenant_with(MANAGE_ROLES) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let loaded = async {
        let accounts = crate::accounts::service::list(&state.db, tenant).await?;
        let filter = crate::templates::service::Filter { status: Some("APPROVED".into()), ..Default::default() };
        let templates = crate::templates::service::list(&state.db, tenant, &filter).await?;
        let segments = crate::segments::service::list(&state.db, tenant).await?;
        Ok::<_, crate::error::AppError>((accounts, templates, segments))
    };
    let (accounts, templates, segments) = match loaded.await {
        Ok(x) => x,
        Err(e) => return layout::app_error_page(&user, e),
    };
    let accounts: Vec<_> = accounts.into_iter().filter(|a| a.status == AccountStatus::Active).collect();
    let templates: Vec<TemplateChoice> = templates
        .into_iter()
        .filter(|t| accounts.iter().any(|a| a.id == t.whatsapp_account_id))
        .map(|t| {
            let spec = Spec::of(&t);
            TemplateChoice {
                id: t.id,
                label: format!("{} ({}, {})", t.name, t.language, t.category.to_lowercase()),
                account: t.whatsapp_account_id,
                variables: default_variables(&spec.variables().body),
                body: spec.body_text,
            }
        })
        .collect();
    let page = NewPage {
        shell: user.shell("campaigns"),
        accounts: accounts
            .iter()
            .map(|a| Choice {
                value: a.id.to_string(),
                label: format!(
                    "{} ({}){}",
                    a.name,
                    a.display_phone_number,
                    if a.is_sandbox { " · sandbox" } else { "" }
                ),
            })
            .collect(),
        first_variables: templates.first().map(|t| t.variables.clone()).unwrap_or_else(|| "{}".into()),
        templates,
        segments: segments.into_iter().map(|s| Choice { value: s.id.to_string(), label: s.name }).collect(),
        time_zone: user.zone().name().to_string(),
    };
    layout::render(&page)
}

pub struct FunnelBar {
    pub label: &'static str,
    pub key: &'static str,
    pub n: u64,
    /// Of the recipients, 0–100.
    pub pct: u64,
}

#[derive(Template)]
#[template(path = "_campaign_funnel.html")]
struct FunnelFragment {
    bars: Vec<FunnelBar>,
    reasons: Vec<(String, u64)>,
    recipients: u64,
}

fn funnel_fragment(f: &Funnel) -> FunnelFragment {
    let of = |n: u64| if f.recipients == 0 { 0 } else { (n * 100).div_ceil(f.recipients).min(100) };
    let bars = [
        ("Pending", "pending", f.pending),
        ("Queued", "queued", f.queued),
        ("Sent", "sent", f.sent),
        ("Delivered", "delivered", f.delivered),
        ("Read", "read", f.read),
        ("Limited by Meta", "limited", f.limited_by_meta),
        ("Failed", "failed", f.failed + f.failed_before_send),
        ("Skipped", "skipped", f.skipped),
    ]
    .into_iter()
    .map(|(label, key, n)| FunnelBar { label, key, n, pct: of(n) })
    .collect();
    FunnelFragment { bars, reasons: f.reasons.iter().map(|(k, v)| (k.clone(), *v)).collect(), recipients: f.recipients }
}

pub struct RecipientRow {
    pub name: String,
    pub phone: String,
    pub state: String,
    pub outcome: String,
    pub reason: String,
}

pub struct AudienceNow {
    pub count: u64,
    pub names: String,
    /// More contacts than the names shown.
    pub more: bool,
    /// Contacts of the sample a test can go to: (id, name and number).
    pub test_to: Vec<(String, String)>,
}

pub struct Button {
    pub label: &'static str,
    pub action: String,
    pub confirm: &'static str,
    pub testid: &'static str,
    pub danger: bool,
    /// What the page does after the call (`reload`, `go:/campaigns/{id}`).
    pub then: &'static str,
}

#[derive(Template)]
#[template(path = "campaign_detail.html")]
struct DetailPage {
    shell: Shell,
    id: Uuid,
    name: String,
    state: String,
    state_class: &'static str,
    reason: String,
    template: String,
    account: String,
    audience: String,
    /// The daily send window, in words, if any.
    send_window: String,
    /// A draft's audience now: how many contacts, and a few names.
    audience_now: Option<AudienceNow>,
    funnel: FunnelFragment,
    buttons: Vec<Button>,
    recipients: Vec<RecipientRow>,
    filter: String,
    filters: Vec<(&'static str, bool)>,
    live: bool,
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    state: Option<String>,
}

fn describe(a: &Audience, segment_name: Option<String>) -> String {
    if let Some(ids) = &a.contact_ids {
        return format!("{} named contacts", ids.len());
    }
    let mut parts = Vec::new();
    if !a.tags_any.is_empty() {
        parts.push(format!("tagged {}", a.tags_any.join(" or ")));
    }
    if !a.tags_all.is_empty() {
        parts.push(format!("tagged {}", a.tags_all.join(" and ")));
    }
    if !a.tags_none.is_empty() {
        parts.push(format!("not tagged {}", a.tags_none.join(", ")));
    }
    match (segment_name, &a.rules) {
        (Some(n), _) => parts.push(format!("segment “{n}”")),
        (None, Some(r)) => parts.push(format!("rules {}", r.to_json())),
        (None, None) => {}
    }
    if parts.is_empty() { "every contact".into() } else { parts.join("; ") }
}

fn buttons(id: Uuid, s: CampaignState) -> Vec<Button> {
    let b = |label, verb: &str, confirm, testid, danger| Button {
        label,
        action: format!("POST /api/campaigns/{id}/{verb}"),
        confirm,
        testid,
        danger,
        then: "reload",
    };
    let mut out = Vec::new();
    match s {
        CampaignState::Draft => {
            out.push(b("Start", "start", "Send this campaign to its audience now?", "start", false))
        }
        CampaignState::Running | CampaignState::Scheduled => out.push(b("Pause", "pause", "", "pause", false)),
        CampaignState::Paused => out.push(b("Resume", "resume", "", "resume", false)),
        _ => {}
    }
    if !matches!(s, CampaignState::Completed | CampaignState::Cancelled | CampaignState::Failed) {
        out.push(b(
            "Cancel",
            "cancel",
            "Cancel this campaign? Recipients not yet sent to will not be.",
            "cancel",
            true,
        ));
    }
    if matches!(s, CampaignState::Completed | CampaignState::Paused) {
        out.push(b(
            "Retry failed",
            "retry-failed",
            "Send again to the recipients whose message failed for a reason that can pass now?",
            "retry-failed",
            false,
        ));
    }
    out.push(Button { then: "go:/campaigns/{id}", ..b("Duplicate", "duplicate", "", "duplicate", false) });
    out
}

pub async fn detail(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<Uuid>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let tenant = match user.tenant_with(READ_ROLES) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let filter = q.state.as_deref().and_then(RecipientState::parse);
    let loaded = async {
        let c = campaigns::get(&state.db, tenant, id).await?;
        let funnel = campaigns::funnel(&state.db, &c).await?;
        let template = crate::templates::service::get(&state.db, tenant, c.template_id).await.ok();
        let account = crate::accounts::service::get(&state.db, tenant, c.whatsapp_account_id).await.ok();
        let recipients = campaigns::recipients(&state.db, tenant, id, filter, None, 100).await?;
        let audience: Audience = serde_json::from_value(c.audience.clone()).unwrap_or_default();
        let segment = match audience.segment_id {
            Some(s) => crate::segments::service::get(&state.db, tenant, s).await.ok().map(|s| s.name),
            None => None,
        };
        let now = if c.state == CampaignState::Draft {
            let (n, sample) = campaigns::audience_now(&state.db, &c).await?;
            let label = |k: &crate::entities::contacts::Model| {
                k.name.clone().or(k.profile_name.clone()).or(k.wa_id.clone()).unwrap_or_default()
            };
            let names: Vec<String> = sample.iter().take(5).map(label).collect();
            let test_to = sample
                .iter()
                .map(|k| (k.id.to_string(), format!("{} ({})", label(k), k.wa_id.clone().unwrap_or_default())))
                .collect();
            Some(AudienceNow { count: n, more: n > names.len() as u64, names: names.join(", "), test_to })
        } else {
            None
        };
        Ok::<_, crate::error::AppError>((c, funnel, template, account, recipients, audience, segment, now))
    };
    let (c, funnel, template, account, recipients, audience, segment, audience_now) = match loaded.await {
        Ok(x) => x,
        Err(e) => return layout::app_error_page(&user, e),
    };
    let recipients = recipients
        .into_iter()
        .map(|r| {
            let (name, phone) = match &r.contact {
                Some(k) => {
                    (k.name.clone().or(k.profile_name.clone()).unwrap_or_default(), k.wa_id.clone().unwrap_or_default())
                }
                None => (String::new(), String::new()),
            };
            // A recipient with a message is as far as its message got; the others are pending,
            // skipped or failed before sending.
            let outcome = match &r.message {
                Some(m) => match (m.error_code, &m.error_title) {
                    (Some(code), Some(t)) => format!("{} · {code} {t}", m.status.as_str()),
                    _ => m.status.as_str().to_string(),
                },
                None => r.row.state.as_str().to_string(),
            };
            let reason = match (&r.row.reason, &r.row.detail) {
                (Some(code), Some(d)) => format!("{code}: {d}"),
                (Some(code), None) => code.clone(),
                _ => String::new(),
            };
            RecipientRow { name, phone, state: r.row.state.as_str().to_string(), outcome, reason }
        })
        .collect();
    let live = matches!(c.state, CampaignState::Running | CampaignState::Scheduled | CampaignState::Paused)
        || funnel.queued + funnel.sent > 0;
    let page = DetailPage {
        shell: user.shell("campaigns"),
        id: c.id,
        state: c.state.as_str().to_string(),
        state_class: state_class(c.state),
        reason: c.state_reason.clone().unwrap_or_default(),
        template: template.map(|t| format!("{} ({})", t.name, t.language)).unwrap_or_else(|| "(deleted)".into()),
        account: account.map(|a| format!("{} ({})", a.name, a.display_phone_number)).unwrap_or_default(),
        audience: describe(&audience, segment),
        send_window: crate::campaigns::window::SendWindow::of(&c).map(|w| w.describe(user.zone())).unwrap_or_default(),
        audience_now,
        funnel: funnel_fragment(&funnel),
        buttons: if user.role() == Role::TenantAdmin { buttons(c.id, c.state) } else { Vec::new() },
        recipients,
        filter: filter.map(|f| f.as_str().to_string()).unwrap_or_default(),
        filters: ["pending", "queued", "skipped", "failed"]
            .into_iter()
            .map(|s| (s, filter.is_some_and(|f| f.as_str() == s)))
            .collect(),
        live,
        name: c.name,
    };
    layout::render(&page)
}

/// The funnel alone, for the detail page to swap in while status webhooks arrive.
pub async fn funnel(State(state): State<AppState>, user: WebUser, Path(id): Path<Uuid>) -> Response {
    let tenant = match user.tenant_with(READ_ROLES) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let loaded = async {
        let c = campaigns::get(&state.db, tenant, id).await?;
        Ok::<_, crate::error::AppError>(campaigns::funnel(&state.db, &c).await?)
    };
    match loaded.await {
        Ok(f) => layout::render(&funnel_fragment(&f)).into_response(),
        Err(e) => layout::app_error_page(&user, e),
    }
}

pub struct SegmentRow {
    pub id: Uuid,
    pub name: String,
    pub rules: String,
}

#[derive(Template)]
#[template(path = "segments.html")]
struct SegmentsPage {
    shell: Shell,
    rows: Vec<SegmentRow>,
    can_manage: bool,
}

/// `GET /campaigns/segments`: saved segments, and (TENANT_ADMIN) a builder with a live count.
pub async fn segments(State(state): State<AppState>, user: WebUser) -> Response {
    let tenant = match user.tenant_with(READ_ROLES) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let rows = match crate::segments::service::list(&state.db, tenant).await {
        Ok(r) => r,
        Err(e) => return layout::app_error_page(&user, e),
    };
    let rows = rows.into_iter().map(|s| SegmentRow { id: s.id, name: s.name, rules: s.rules.to_string() }).collect();
    layout::render(&SegmentsPage { shell: user.shell("campaigns"), rows, can_manage: user.role() == Role::TenantAdmin })
}
