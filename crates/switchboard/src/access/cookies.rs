//! Reading the browser's session cookies and checking CSRF (double submit): how a request
//! authenticates by cookie. Setting and renewing the cookies is the web layer's (`web::session`);
//! this part belongs to authentication, so that `auth` does not depend on the web layer.

use axum::http::{HeaderMap, Method, header};
use switchboard_crypto::token::constant_time_eq;

use crate::error::AppError;

pub const ACCESS_COOKIE: &str = "sb_access";
pub const REFRESH_COOKIE: &str = "sb_refresh";
pub const CSRF_COOKIE: &str = "sb_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Reads one cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The access token the browser holds, if any.
pub fn access_from_cookies(headers: &HeaderMap) -> Option<String> {
    cookie(headers, ACCESS_COOKIE).map(str::to_string)
}

/// Unsafe methods authenticated by cookie must carry the CSRF token in `X-CSRF-Token`.
pub fn check_csrf(method: &Method, headers: &HeaderMap) -> Result<(), AppError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    csrf_matches(headers, sent)
}

/// Compares a submitted CSRF token with the cookie, in constant time.
pub fn csrf_matches(headers: &HeaderMap, sent: Option<&str>) -> Result<(), AppError> {
    match (cookie(headers, CSRF_COOKIE), sent) {
        (Some(c), Some(s)) if constant_time_eq(c.as_bytes(), s.as_bytes()) => Ok(()),
        _ => Err(AppError::new(axum::http::StatusCode::FORBIDDEN, "csrf_failed", "missing or wrong CSRF token")),
    }
}
