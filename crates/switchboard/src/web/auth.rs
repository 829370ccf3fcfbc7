//! Sign-up, sign-in and sign-out pages: plain HTML forms (they work without script) that set the
//! session cookies.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::layout::{FormUser, WebUser, render_status};
use super::session;
use crate::access::extract::ClientIp;
use crate::domain::{Email, NewPassword, parse_name};
use crate::entities::enums::Role;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only local paths: `/inbox`, never `//evil.example` or `https://…`.
fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).map(str::to_string)
}

/// Where a user lands after signing in.
pub fn landing(role: Role) -> &'static str {
    match role {
        Role::TenantAdmin | Role::Agent => "/inbox",
        Role::BillingAdmin => "/dashboard",
        Role::SystemAdmin => "/admin",
    }
}

pub async fn home(user: Result<WebUser, Response>) -> Response {
    match user {
        Ok(u) => Redirect::to(landing(u.role())).into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
    asset_version: &'static str,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    csrf: String,
    tenant_name: String,
    name: String,
    email: String,
    errors: Vec<(String, String)>,
    error: Option<String>,
    asset_version: &'static str,
}

impl SignupPage {
    fn field_error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

/// The CSRF token of this browser, minting one (and its cookie) when it has none.
fn csrf_for(state: &AppState, headers: &HeaderMap) -> (String, Option<axum::http::HeaderValue>) {
    match session::cookie(headers, session::CSRF_COOKIE) {
        Some(c) => (c.to_string(), None),
        None => {
            let c = session::new_csrf();
            let h = session::csrf_cookie(state, &c);
            (c, Some(h))
        }
    }
}

fn with_cookies(mut res: Response, cookies: impl IntoIterator<Item = axum::http::HeaderValue>) -> Response {
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let (csrf, cookie) = csrf_for(&state, &headers);
    let page = LoginPage {
        csrf,
        email: String::new(),
        next: safe_next(q.next.as_deref()).unwrap_or_default(),
        error: None,
        notice: None,
        asset_version: super::assets::version(),
    };
    with_cookies(render_status(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

pub async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let (csrf, cookie) = csrf_for(&state, &headers);
    let again = |status: StatusCode, error: String| {
        let page = LoginPage {
            csrf: csrf.clone(),
            email: f.email.clone(),
            next: safe_next(Some(&f.next)).unwrap_or_default(),
            error: Some(error),
            notice: None,
            asset_version: super::assets::version(),
        };
        with_cookies(render_status(status, &page), cookie.clone())
    };
    if session::csrf_matches(&headers, Some(&f.csrf)).is_err() {
        return again(StatusCode::FORBIDDEN, "Your session form expired. Please try again.".into());
    }
    match crate::auth::service::login(&state, &f.email, &f.password, &ip).await {
        Ok(s) => {
            let to = safe_next(Some(&f.next)).unwrap_or_else(|| landing(s.user.role).to_string());
            with_cookies(Redirect::to(&to).into_response(), session::signed_in_cookies(&state, &s, &headers))
        }
        Err(e) if e.status.is_server_error() => {
            tracing::error!(error = %e.message, "sign-in failed");
            again(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Please try again.".into())
        }
        Err(e) => again(e.status, sentence(&e.message)),
    }
}

fn sentence(m: &str) -> String {
    let mut c = m.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str().trim_end_matches('.')),
        None => String::new(),
    }
}

pub async fn signup_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, cookie) = csrf_for(&state, &headers);
    let page = SignupPage {
        csrf,
        tenant_name: String::new(),
        name: String::new(),
        email: String::new(),
        errors: vec![],
        error: None,
        asset_version: super::assets::version(),
    };
    with_cookies(render_status(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    tenant_name: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

const SIGNED_UP: &str =
    "If this email had no account yet, your workspace is ready. Sign in with the password you chose.";

pub async fn signup_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<SignupForm>,
) -> Response {
    let (csrf, cookie) = csrf_for(&state, &headers);
    let again = |status: StatusCode, errors: Vec<(String, String)>, error: Option<String>| {
        let page = SignupPage {
            csrf: csrf.clone(),
            tenant_name: f.tenant_name.clone(),
            name: f.name.clone(),
            email: f.email.clone(),
            errors,
            error,
            asset_version: super::assets::version(),
        };
        with_cookies(render_status(status, &page), cookie.clone())
    };
    if session::csrf_matches(&headers, Some(&f.csrf)).is_err() {
        return again(StatusCode::FORBIDDEN, vec![], Some("Your session form expired. Please try again.".into()));
    }
    let mut errors = vec![];
    let mut check =
        |field: &str, r: Result<_, String>| r.map_err(|m| errors.push((field.to_string(), sentence(&m)))).ok();
    let tenant_name = check("tenant_name", parse_name(&f.tenant_name, 100));
    let name = check("name", parse_name(&f.name, 100));
    let email = check("email", Email::parse(&f.email).map(|e| e.as_str().to_string()));
    let password = check("password", NewPassword::parse(&f.password).map(|_| String::new()));
    let (Some(tenant_name), Some(name), Some(email), Some(_)) = (tenant_name, name, email, password) else {
        return again(StatusCode::UNPROCESSABLE_ENTITY, errors, None);
    };
    let (Ok(email), Ok(password)) = (Email::parse(&email), NewPassword::parse(&f.password)) else {
        return again(StatusCode::UNPROCESSABLE_ENTITY, errors, None);
    };
    let r = crate::auth::service::Registration { tenant_name, name, email, password };
    match crate::auth::service::register(&state, r, &ip).await {
        // New or already registered, the page is the same (sign-up must not tell which emails have
        // an account): the sign-in form, the email filled in, landing on the accounts page.
        Ok(_) => {
            let page = LoginPage {
                csrf: csrf.clone(),
                email: f.email.trim().to_string(),
                next: "/settings/accounts?welcome=1".into(),
                error: None,
                notice: Some(SIGNED_UP.into()),
                asset_version: super::assets::version(),
            };
            with_cookies(render_status(StatusCode::OK, &page), cookie.clone())
        }
        Err(e) if e.status.is_server_error() => {
            tracing::error!(error = %e.message, "sign-up failed");
            again(StatusCode::INTERNAL_SERVER_ERROR, vec![], Some("Something went wrong. Please try again.".into()))
        }
        Err(e) => again(e.status, vec![], Some(sentence(&e.message))),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// Ends this browser's session (its refresh token family) and clears the cookies.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    // The form's `_csrf` field is checked below (a plain form sends no CSRF header).
    user: Result<FormUser, Response>,
    Form(f): Form<LogoutForm>,
) -> Response {
    if session::csrf_matches(&headers, Some(&f.csrf)).is_err() {
        return Redirect::to("/").into_response();
    }
    if let Ok(FormUser(u)) = user {
        let refresh = session::cookie(&headers, session::REFRESH_COOKIE);
        if let Err(e) = crate::auth::service::logout(&state, u.user.id, refresh).await {
            tracing::warn!(error = %e.message, "sign-out could not revoke the session");
        }
    }
    with_cookies(Redirect::to("/login").into_response(), session::clear_cookies(&state))
}
