//! The sandbox: a simulated customer writing to one of the tenant's sandbox numbers (backed by the
//! built-in meta-sim), and the customer's side of the chat including the business's replies.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{Shell, WebUser, app_error_page, render};
use crate::entities::enums::Role;
use crate::error::AppError;
use crate::sandbox::{SimChatItem, customer_view, parse_wa_id};
use crate::state::AppState;

const DEFAULT_FROM: &str = "15550001234";
const DEFAULT_NAME: &str = "Sam Sandbox";

#[derive(Deserialize, Default)]
pub struct SandboxQuery {
    pub account: Option<String>,
    pub from: Option<String>,
    pub name: Option<String>,
}

pub struct NumberOption {
    pub id: Uuid,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "sandbox.html")]
pub struct SandboxPage {
    pub shell: Shell,
    /// The server runs the simulator (SWITCHBOARD_SANDBOX).
    pub enabled: bool,
    pub can_create: bool,
    pub numbers: Vec<NumberOption>,
    pub selected: Option<Uuid>,
    pub from: String,
    pub name: String,
    pub items: Vec<SimChatItem>,
    /// Customers who already wrote to the selected number: (WhatsApp id, name), latest first.
    pub known: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "_sandbox_thread.html")]
pub struct ThreadFragment {
    pub items: Vec<SimChatItem>,
}

/// `GET /sandbox`.
pub async fn sandbox_page(State(state): State<AppState>, user: WebUser, Query(q): Query<SandboxQuery>) -> Response {
    if let Err(r) = user.require(&[Role::TenantAdmin, Role::Agent]) {
        return r;
    }
    let tenant = match user.tenant_id() {
        Ok(t) => t,
        Err(r) => return r,
    };
    let load = async {
        let accounts = crate::accounts::service::list(&state.db, tenant).await?;
        let numbers: Vec<NumberOption> = accounts
            .into_iter()
            .filter(|a| a.is_sandbox)
            .map(|a| NumberOption {
                selected: false,
                id: a.id,
                label: if a.display_phone_number.is_empty() {
                    a.name
                } else {
                    format!("{} ({})", a.display_phone_number, a.name)
                },
            })
            .collect();
        let wanted = q.account.as_deref().and_then(|a| a.parse::<Uuid>().ok());
        let mut numbers = numbers;
        let selected = numbers.iter().find(|n| Some(n.id) == wanted).or(numbers.first()).map(|n| n.id);
        for n in &mut numbers {
            n.selected = Some(n.id) == selected;
        }
        let from = q.from.as_deref().and_then(|f| parse_wa_id(f).ok()).unwrap_or_else(|| DEFAULT_FROM.into());
        let items = match (selected, state.sandbox.is_some()) {
            (Some(acct), true) => customer_view(&state, tenant, acct, &from).await?,
            _ => vec![],
        };
        let known = match selected {
            Some(acct) => crate::sandbox::known_customers(&state.db, tenant, acct).await?,
            None => vec![],
        };
        Ok::<_, AppError>((numbers, selected, from, items, known))
    };
    match load.await {
        Ok((numbers, selected, from, items, known)) => render(&SandboxPage {
            shell: user.shell("sandbox"),
            enabled: state.sandbox.is_some(),
            can_create: user.role() == Role::TenantAdmin,
            numbers,
            selected,
            from,
            name: q.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| DEFAULT_NAME.into()),
            items,
            known,
        }),
        Err(e) => app_error_page(&user, e),
    }
}

/// `GET /sandbox/thread?account=…&from=…`: the customer's chat (the same partial as the page).
pub async fn thread_fragment(State(state): State<AppState>, user: WebUser, Query(q): Query<SandboxQuery>) -> Response {
    if let Err(r) = user.require(&[Role::TenantAdmin, Role::Agent]) {
        return r;
    }
    let tenant = match user.tenant_id() {
        Ok(t) => t,
        Err(r) => return r,
    };
    let load = async {
        let acct = q
            .account
            .as_deref()
            .and_then(|a| a.parse::<Uuid>().ok())
            .ok_or_else(|| AppError::not_found("sandbox number"))?;
        let from = parse_wa_id(q.from.as_deref().unwrap_or_default()).map_err(|m| AppError::field("from", m))?;
        customer_view(&state, tenant, acct, &from).await
    };
    match load.await {
        Ok(items) => render(&ThreadFragment { items }),
        Err(e) => app_error_page(&user, e),
    }
}
