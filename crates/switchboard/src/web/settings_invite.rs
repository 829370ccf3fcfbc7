//! `GET|POST /invite/{token}`: the page behind a team invitation link (Settings → Team shows the
//! link once): the invitee chooses a password (and a name), which accepts the invitation through
//! the team service and signs the browser in.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::layout::render_status;
use super::session;
use crate::access::extract::ClientIp;
use crate::domain::{NewPassword, parse_name};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "settings_invite.html")]
struct InvitePage {
    csrf: String,
    token: String,
    name: String,
    error: Option<String>,
    password_error: Option<String>,
    name_error: Option<String>,
    asset_version: &'static str,
}

/// This browser's CSRF token, minting one (and its cookie) when it has none.
fn csrf_for(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match session::cookie(headers, session::CSRF_COOKIE) {
        Some(c) => (c.to_string(), None),
        None => {
            let c = session::new_csrf();
            let h = session::csrf_cookie(state, &c);
            (c, Some(h))
        }
    }
}

fn with_cookies(mut res: Response, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

fn page(csrf: String, token: &str) -> InvitePage {
    InvitePage {
        csrf,
        token: token.to_string(),
        name: String::new(),
        error: None,
        password_error: None,
        name_error: None,
        asset_version: super::assets::version(),
    }
}

pub async fn invite_page(State(state): State<AppState>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let (csrf, cookie) = csrf_for(&state, &headers);
    with_cookies(render_status(StatusCode::OK, &page(csrf, &token)), cookie)
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

pub async fn invite_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<InviteForm>,
) -> Response {
    let (csrf, cookie) = csrf_for(&state, &headers);
    let again = |status: StatusCode, p: InvitePage| with_cookies(render_status(status, &p), cookie.clone());
    let mut p = page(csrf.clone(), &token);
    p.name = f.name.clone();
    if session::csrf_matches(&headers, Some(&f.csrf)).is_err() {
        p.error = Some("Your session form expired. Please try again.".into());
        return again(StatusCode::FORBIDDEN, p);
    }
    let name = match f.name.trim() {
        "" => Ok(None),
        n => parse_name(n, 100).map(Some),
    };
    let password = NewPassword::parse(&f.password);
    let (name, password) = match (name, password) {
        (Ok(n), Ok(pw)) => (n, pw),
        (n, pw) => {
            p.name_error = n.err().map(|m| format!("The name {m}."));
            p.password_error = pw.err().map(|m| format!("The password {m}."));
            return again(StatusCode::UNPROCESSABLE_ENTITY, p);
        }
    };
    match crate::team::service::accept(&state, &token, password, name, &ip).await {
        Ok(s) => with_cookies(
            Redirect::to(super::auth::landing(s.user.role)).into_response(),
            session::signed_in_cookies(&state, &s, &headers),
        ),
        Err(e) => {
            p.error = Some(match e.status {
                StatusCode::NOT_FOUND => "This invitation link is not valid or was already used. Sign in, or ask an \
                                          administrator for a new link."
                    .into(),
                s if s.is_server_error() => {
                    tracing::error!(error = %e.message, "accepting an invitation failed");
                    "Something went wrong. Please try again.".into()
                }
                _ => e.message.clone(),
            });
            again(e.status, p)
        }
    }
}
