//! What every page shares: the signed-in user ([`WebUser`]), the shell around the page
//! ([`Shell`]: navigation, theme, CSRF token) and rendering with security headers.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::access::extract::Principal;
use crate::entities::enums::Role;
use crate::entities::{tenants, users};
use crate::ids::TenantId;
use crate::state::AppState;

use super::session;

/// The signed-in browser user. Pages that take it redirect to `/login` when nobody is signed in.
pub struct WebUser {
    pub principal: Principal,
    pub user: users::Model,
    pub tenant: Option<tenants::Model>,
    pub csrf: String,
}

impl WebUser {
    pub fn role(&self) -> Role {
        self.principal.role
    }

    /// The tenant of a tenant member (SYSTEM_ADMIN has none: the page answers 403).
    pub fn tenant_id(&self) -> Result<TenantId, Response> {
        self.principal.tenant_id.ok_or_else(|| self.forbidden("This page belongs to a tenant account."))
    }

    /// Admits only the given roles; others see a 403 page.
    pub fn require(&self, roles: &[Role]) -> Result<(), Response> {
        if roles.contains(&self.role()) { Ok(()) } else { Err(self.forbidden("Your role cannot open this page.")) }
    }

    /// The tenant, for a member whose role is one of `roles` (others see a 403 page).
    pub fn tenant_with(&self, roles: &[Role]) -> Result<TenantId, Response> {
        self.require(roles)?;
        self.tenant_id()
    }

    /// The workspace's clock (`settings::service::SettingsDto::zone`; UTC without a tenant).
    pub fn zone(&self) -> crate::domain::TimeZone {
        match &self.tenant {
            Some(t) => crate::settings::service::dto(t).zone(),
            None => crate::domain::TimeZone(chrono_tz::UTC),
        }
    }

    pub fn shell(&self, active: &'static str) -> Shell {
        let (color, name, logo) = match &self.tenant {
            Some(t) => (safe_color(&t.theme_color), t.theme_name.clone(), t.theme_logo_url.clone()),
            None => (DEFAULT_COLOR.to_string(), "Switchboard".to_string(), None),
        };
        let role = self.role();
        Shell {
            active,
            user_name: self.user.name.clone(),
            user_email: self.user.email.clone(),
            role: role.as_str(),
            tenant_name: self.tenant.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
            ink: ink_for(&color),
            color,
            brand: name,
            logo_url: logo.filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            csrf: self.csrf.clone(),
            can_inbox: matches!(role, Role::TenantAdmin | Role::Agent),
            can_admin: role == Role::TenantAdmin,
            can_billing: matches!(role, Role::TenantAdmin | Role::BillingAdmin),
            asset_version: super::assets::version(),
        }
    }

    pub fn forbidden(&self, message: &str) -> Response {
        error_page(Some(self.shell("")), StatusCode::FORBIDDEN, "Not allowed", message)
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        WebUser::load(parts, state, true).await
    }
}

/// The signed-in user of a plain HTML form post (`<form method="post">`, no script): the CSRF token
/// travels in the form's `_csrf` field, not in `X-CSRF-Token`, so the handler must check it with
/// [`session::csrf_matches`] before acting. Nobody signed in: a redirect to `/login`.
pub struct FormUser(pub WebUser);

impl FromRequestParts<AppState> for FormUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        WebUser::load(parts, state, false).await.map(FormUser)
    }
}

impl WebUser {
    async fn load(parts: &mut Parts, state: &AppState, header_csrf: bool) -> Result<Self, Response> {
        // After signing in the browser GETs `next`: a form's address is not a page.
        let next = header_csrf.then(|| parts.uri.path_and_query().map(|p| p.as_str().to_string())).flatten();
        let to_login = || match &next {
            Some(n) => Redirect::to(&format!("/login?next={}", urlencode(n))).into_response(),
            None => Redirect::to("/login").into_response(),
        };
        let principal =
            crate::access::extract::authenticate(parts, state, header_csrf).await.map_err(|_| to_login())?;
        let user = crate::users::find(&state.db, principal.user_id.0).await.ok().flatten().filter(|u| u.active);
        let Some(user) = user else { return Err(to_login()) };
        let tenant = match principal.tenant_id {
            Some(t) => crate::tenants::find(&state.db, t).await.ok().flatten(),
            None => None,
        };
        let csrf = session::cookie(&parts.headers, session::CSRF_COOKIE).unwrap_or_default().to_string();
        Ok(WebUser { principal, user, tenant, csrf })
    }
}

/// The frame around every signed-in page.
pub struct Shell {
    /// Which navigation entry is current ("inbox", "dashboard", …).
    pub active: &'static str,
    pub user_name: String,
    pub user_email: String,
    pub role: &'static str,
    pub tenant_name: String,
    /// The tenant's theme: brand color, text color on it, product name, logo.
    pub color: String,
    pub ink: &'static str,
    pub brand: String,
    pub logo_url: Option<String>,
    pub csrf: String,
    pub can_inbox: bool,
    pub can_admin: bool,
    pub can_billing: bool,
    pub asset_version: &'static str,
}

pub const DEFAULT_COLOR: &str = "#0f766e";

/// Only `#rrggbb` reaches the style sheet (the settings API checks it too; this is defence in depth).
pub fn safe_color(c: &str) -> String {
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    if ok { c.to_ascii_lowercase() } else { DEFAULT_COLOR.to_string() }
}

/// Black or white text, whichever contrasts more with the brand color (WCAG relative luminance).
pub fn ink_for(color: &str) -> &'static str {
    let ch = |i: usize| u8::from_str_radix(&color[i..i + 2], 16).unwrap_or(0) as f64 / 255.0;
    let lin = |c: f64| if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) };
    let l = 0.2126 * lin(ch(1)) + 0.7152 * lin(ch(3)) + 0.0722 * lin(ch(5));
    // Contrast with white = 1.05 / (l + 0.05); with black = (l + 0.05) / 0.05.
    if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 { "#ffffff" } else { "#111111" }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Renders a page with the headers every page carries.
pub fn render<T: Template>(t: &T) -> Response {
    render_status(StatusCode::OK, t)
}

pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            secure_headers(res.headers_mut());
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<h1>Something went wrong</h1>".to_string())).into_response()
        }
    }
}

pub fn secure_headers(h: &mut axum::http::HeaderMap) {
    // No inline script anywhere: page data travels in data- attributes.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; \
             media-src 'self' https: http:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    shell: Option<Shell>,
    title: String,
    message: String,
    asset_version: &'static str,
}

pub fn error_page(shell: Option<Shell>, status: StatusCode, title: &str, message: &str) -> Response {
    render_status(
        status,
        &ErrorPage { shell, title: title.into(), message: message.into(), asset_version: super::assets::version() },
    )
}

/// A page's answer to a failed domain call: not found → 404 page, anything else → a generic page.
pub fn app_error_page(user: &WebUser, e: crate::error::AppError) -> Response {
    if e.status.is_server_error() {
        tracing::error!(error = %e.message, code = e.code, "page failed");
        return error_page(Some(user.shell("")), e.status, "Something went wrong", "Please try again.");
    }
    error_page(Some(user.shell("")), e.status, "Cannot show this page", &e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ink_contrasts_with_the_brand() {
        assert_eq!(ink_for("#ffffff"), "#111111");
        assert_eq!(ink_for("#0f766e"), "#ffffff");
        assert_eq!(ink_for("#facc15"), "#111111");
        assert_eq!(safe_color("red; background:url(x)"), DEFAULT_COLOR);
        assert_eq!(safe_color("#ABCDEF"), "#abcdef");
    }
}
