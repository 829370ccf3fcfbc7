//! The web app: server-rendered pages (askama templates under `crates/switchboard/web/templates`)
//! and a small vanilla script, all compiled into the binary. Pages read through the same domain
//! services as the REST API; the script calls the REST API with the session cookie (plus the CSRF
//! header) and follows `GET /api/events` for live updates.

pub mod assets;
pub mod auth;
pub mod layout;
pub mod session;

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
        .route("/static/{file}", get(assets::serve))
}
