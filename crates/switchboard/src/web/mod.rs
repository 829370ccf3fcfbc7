//! The web app: server-rendered pages (askama templates under `crates/switchboard/web/templates`)
//! and a small vanilla script, all compiled into the binary. Pages read through the same domain
//! services as the REST API; the script calls the REST API with the session cookie (plus the CSRF
//! header) and follows `GET /api/events` for live updates.

// Page guards return the page to show instead (a 403 or 404 page), which is a whole `Response`.
#![allow(clippy::result_large_err)]

pub mod assets;
pub mod auth;
pub mod campaigns_page;
pub mod charts;
pub mod dashboard;
pub mod inbox;
pub mod layout;
pub mod sandbox;
pub mod session;
pub mod settings;
pub mod settings_invite;
pub mod sysadmin;
pub mod templates_page;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// Every page and asset of the web app (the API lives under `/api`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/signup", get(auth::signup_page).post(auth::signup_submit))
        .route("/logout", axum::routing::post(auth::logout))
        .route("/inbox", get(inbox::inbox_page))
        .route("/inbox/{id}", get(inbox::conversation_page))
        .route("/inbox/conversations/{id}/fragment", get(inbox::conversation_fragment))
        .route("/inbox/{id}/messages/fragment", get(inbox::older_messages))
        .route("/inbox/{id}/messages/{message_id}/fragment", get(inbox::message_fragment))
        .route("/sandbox", get(sandbox::sandbox_page))
        .route("/sandbox/thread", get(sandbox::thread_fragment))
        .route("/static/{file}", get(assets::serve))
        .route("/dashboard", get(dashboard::page))
        .route("/templates", get(templates_page::list))
        .route("/templates/new", get(templates_page::new))
        .route("/campaigns", get(campaigns_page::list))
        .route("/campaigns/new", get(campaigns_page::new))
        .route("/campaigns/segments", get(campaigns_page::segments))
        .route("/campaigns/{id}", get(campaigns_page::detail))
        .route("/campaigns/{id}/funnel", get(campaigns_page::funnel))
        .route("/settings", get(settings::index))
        .route("/settings/accounts", get(settings::accounts))
        .route("/settings/team", get(settings::team))
        .route("/settings/workspace", get(settings::workspace))
        .route("/settings/theme", get(settings::theme))
        .route("/settings/plan", get(settings::plan))
        .route("/settings/api-keys", get(settings::api_keys))
        .route("/settings/webhooks", get(settings::webhooks))
        .route("/settings/webhooks/{id}", get(settings::webhook_detail))
        .route("/settings/profile", get(settings::profile))
        .route("/settings/profile/name", axum::routing::post(settings::profile_name))
        .route("/settings/profile/password", axum::routing::post(settings::profile_password))
        .route("/invite/{token}", get(settings_invite::invite_page).post(settings_invite::invite_submit))
        .route("/admin", get(sysadmin::page))
}
