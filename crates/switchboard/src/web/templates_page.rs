//! `GET /templates` (the tenant's message templates with status, category, language and rejection
//! reasons; TENANT_ADMIN manages them, AGENT reads) and `GET /templates/new` (TENANT_ADMIN: a form
//! with a live WhatsApp preview, drawn by admin.js, that posts to `POST /api/templates`).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::layout::{self, Shell, WebUser};
use crate::entities::enums::{AccountStatus, Role};
use crate::state::AppState;
use crate::templates::service::{self, Filter};

pub const READ_ROLES: &[Role] = &[Role::TenantAdmin, Role::Agent];
pub const MANAGE_ROLES: &[Role] = &[Role::TenantAdmin];

pub struct TemplateRow {
    pub id: Uuid,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub status_class: &'static str,
    pub body: String,
    pub rejection: String,
    pub quality: String,
    pub account: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "templates_list.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<TemplateRow>,
    can_manage: bool,
    has_accounts: bool,
    statuses: Vec<Choice>,
    search: String,
    filtered: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    search: Option<String>,
}

fn status_class(s: &str) -> &'static str {
    match s {
        "APPROVED" => "ok",
        "PENDING" | "IN_APPEAL" | "PENDING_DELETION" => "warn",
        "REJECTED" | "DISABLED" | "PAUSED" | "LIMIT_EXCEEDED" => "danger",
        _ => "",
    }
}

/// The text of a component of the given type.
fn component_text(components: &Value, kind: &str) -> Option<String> {
    components
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind)))?
        .get("text")?
        .as_str()
        .map(str::to_string)
}

/// Every string in Meta's status details (reason, recommendation, …), joined.
fn detail_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.trim().is_empty() => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| detail_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| detail_strings(x, out)),
        _ => {}
    }
}

fn rejection(reason: Option<&str>, details: Option<&Value>) -> String {
    let mut parts: Vec<String> =
        reason.filter(|r| !r.is_empty() && *r != "NONE").map(str::to_string).into_iter().collect();
    if let Some(d) = details {
        detail_strings(d, &mut parts);
    }
    parts.dedup();
    parts.join(" · ")
}

pub async fn list(State(state): State<AppState>, user: WebUser, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = user.require(READ_ROLES) {
        return r;
    }
    let tenant = match user.tenant_id() {
        Ok(t) => t,
        Err(r) => return r,
    };
    let status = q.status.as_deref().map(str::to_ascii_uppercase).filter(|s| service::STATUSES.contains(&s.as_str()));
    let search = q.search.unwrap_or_default();
    let filter = Filter {
        status: status.clone(),
        search: Some(search.clone()).filter(|s| !s.trim().is_empty()),
        ..Default::default()
    };
    let loaded = async {
        let rows = service::list(&state.db, tenant, &filter).await?;
        let accounts = crate::accounts::service::list(&state.db, tenant).await?;
        Ok::<_, crate::error::AppError>((rows, accounts))
    };
    let (rows, accounts) = match loaded.await {
        Ok(x) => x,
        Err(e) => return layout::app_error_page(&user, e),
    };
    let rows = rows
        .into_iter()
        .map(|t| TemplateRow {
            id: t.id,
            body: component_text(&t.components, "BODY").unwrap_or_default(),
            rejection: rejection(t.rejection_reason.as_deref(), t.status_details.as_ref()),
            quality: t.quality_score.clone().unwrap_or_default(),
            account: accounts
                .iter()
                .find(|a| a.id == t.whatsapp_account_id)
                .map(|a| format!("{} ({})", a.name, a.display_phone_number))
                .unwrap_or_default(),
            status_class: status_class(&t.status),
            name: t.name,
            language: t.language,
            category: t.category,
            status: t.status,
        })
        .collect();
    let statuses = service::STATUSES
        .iter()
        .map(|s| Choice { value: s.to_string(), label: s.to_string(), selected: status.as_deref() == Some(*s) })
        .collect();
    let page = ListPage {
        shell: user.shell("templates"),
        rows,
        can_manage: user.role() == Role::TenantAdmin,
        has_accounts: !accounts.is_empty(),
        statuses,
        filtered: status.is_some() || !search.trim().is_empty(),
        search,
    };
    layout::render(&page)
}

#[derive(Template)]
#[template(path = "templates_new.html")]
struct NewPage {
    shell: Shell,
    accounts: Vec<Choice>,
    language: String,
}

pub async fn new(State(state): State<AppState>, user: WebUser) -> Response {
    if let Err(r) = user.require(MANAGE_ROLES) {
        return r;
    }
    let tenant = match user.tenant_id() {
        Ok(t) => t,
        Err(r) => return r,
    };
    let accounts = match crate::accounts::service::list(&state.db, tenant).await {
        Ok(a) => a,
        Err(e) => return layout::app_error_page(&user, e),
    };
    let accounts = accounts
        .into_iter()
        .filter(|a| a.status == AccountStatus::Active)
        .enumerate()
        .map(|(i, a)| Choice {
            value: a.id.to_string(),
            label: format!("{} ({}){}", a.name, a.display_phone_number, if a.is_sandbox { " · sandbox" } else { "" }),
            selected: i == 0,
        })
        .collect();
    let language = user
        .tenant
        .as_ref()
        .and_then(|t| t.settings.get("defaultLanguage").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "en_US".into());
    layout::render(&NewPage { shell: user.shell("templates"), accounts, language })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejection_reasons_read_as_one_line() {
        let d = json!({"rejection_info": {"reason": "Abusive content", "recommendation": "Remove the offer"}});
        let r = rejection(Some("INVALID_FORMAT"), Some(&d));
        assert!(r.starts_with("INVALID_FORMAT · "));
        assert!(r.contains("Abusive content") && r.contains("Remove the offer"));
        assert_eq!(rejection(Some("NONE"), None), "");
        let c = json!([{"type": "HEADER", "text": "h"}, {"type": "BODY", "text": "Hi {{1}}"}]);
        assert_eq!(component_text(&c, "BODY").as_deref(), Some("Hi {{1}}"));
    }
}
