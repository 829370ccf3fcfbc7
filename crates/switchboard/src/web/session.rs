//! The browser session: tokens in HttpOnly cookies, CSRF by double submit, transparent refresh.
//!
//! - `sb_access`: the 15-minute access token (HttpOnly, SameSite=Lax, Secure over TLS).
//! - `sb_refresh`: the rotating refresh token (HttpOnly, SameSite=Lax, Secure over TLS).
//! - `sb_csrf`: a random token readable by the page's script; every unsafe request authenticated by
//!   cookie must repeat it in `X-CSRF-Token` (or the form field `_csrf`). Another site can make the
//!   browser send the cookies but cannot read this one, so it cannot forge the header.
//!
//! [`refresh_layer`] renews the access cookie before it expires, on any request (page, API call,
//! event stream), so the user never sees the 15-minute lifetime. Concurrent requests presenting the
//! same refresh token share one rotation (a second use would otherwise look like token theft and
//! revoke the session).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use switchboard_crypto::jwt::Validation;
use switchboard_crypto::token::{random_token, sha256_hex};

use crate::access::extract::{ACCESS_TTL_SECS, ACCESS_TYP, AUDIENCE, AccessClaims};
use crate::auth::service::{REFRESH_TTL_DAYS, Session};
use crate::state::AppState;

pub use crate::access::cookies::{
    ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, REFRESH_COOKIE, access_from_cookies, check_csrf, cookie, csrf_matches,
};

/// Renew the access token when it has less than this left.
const RENEW_BEFORE_SECS: i64 = 120;

fn secure(state: &AppState) -> bool {
    state.public_url().starts_with("https://")
}

fn set_cookie(name: &str, value: &str, max_age: i64, http_only: bool, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are token characters")
}

/// `Set-Cookie` headers that sign the browser in with `session` (and give it a CSRF token).
pub fn session_cookies(state: &AppState, access: &str, refresh: &str, csrf: &str) -> Vec<HeaderValue> {
    let s = secure(state);
    let refresh_age = REFRESH_TTL_DAYS * 24 * 3600;
    vec![
        set_cookie(ACCESS_COOKIE, access, ACCESS_TTL_SECS, true, s),
        set_cookie(REFRESH_COOKIE, refresh, refresh_age, true, s),
        set_cookie(CSRF_COOKIE, csrf, refresh_age, false, s),
    ]
}

/// `Set-Cookie` headers that sign the browser out.
pub fn clear_cookies(state: &AppState) -> Vec<HeaderValue> {
    let s = secure(state);
    vec![set_cookie(ACCESS_COOKIE, "", 0, true, s), set_cookie(REFRESH_COOKIE, "", 0, true, s)]
}

/// A CSRF cookie for a browser that has none yet (the sign-in and sign-up forms need one).
pub fn new_csrf() -> String {
    random_token("", 24)
}

pub fn csrf_cookie(state: &AppState, csrf: &str) -> HeaderValue {
    set_cookie(CSRF_COOKIE, csrf, REFRESH_TTL_DAYS * 24 * 3600, false, secure(state))
}

pub fn signed_in_cookies(state: &AppState, session: &Session, headers: &HeaderMap) -> Vec<HeaderValue> {
    let csrf = cookie(headers, CSRF_COOKIE).map(str::to_string).unwrap_or_else(new_csrf);
    session_cookies(state, &session.access_token, &session.refresh_token, &csrf)
}

fn access_fresh(state: &AppState, token: &str) -> bool {
    let validation = Validation {
        audience: AUDIENCE.into(),
        typ: ACCESS_TYP.into(),
        now: chrono::Utc::now().timestamp() + RENEW_BEFORE_SECS,
        leeway_secs: 0,
    };
    state.jwt.decode::<AccessClaims>(token, &validation).is_ok()
}

/// Recent rotations by old refresh token hash: (when, new access, new refresh).
type Rotations = HashMap<String, (Instant, String, String)>;

fn rotations() -> &'static tokio::sync::Mutex<Rotations> {
    static R: OnceLock<tokio::sync::Mutex<Rotations>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// How long a rotation's result is handed to other requests that raced with it.
const ROTATION_GRACE: Duration = Duration::from_secs(30);

async fn rotate(state: &AppState, refresh: &str, ip: &str) -> Option<(String, String)> {
    let key = sha256_hex(refresh.as_bytes());
    let mut map = rotations().lock().await;
    map.retain(|_, (at, _, _)| at.elapsed() < ROTATION_GRACE);
    if let Some((_, a, r)) = map.get(&key) {
        return Some((a.clone(), r.clone()));
    }
    match crate::auth::service::refresh(state, refresh, ip).await {
        Ok(s) => {
            map.insert(key, (Instant::now(), s.access_token.clone(), s.refresh_token.clone()));
            Some((s.access_token, s.refresh_token))
        }
        Err(e) => {
            tracing::debug!(error = %e.message, "browser session could not be renewed");
            None
        }
    }
}

/// Renews the browser's access cookie before it expires (see the module docs).
pub async fn refresh_layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    if headers.contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let Some(refresh) = cookie(headers, REFRESH_COOKIE).map(str::to_string) else {
        return next.run(req).await;
    };
    if cookie(headers, ACCESS_COOKIE).is_some_and(|a| access_fresh(&state, a)) {
        return next.run(req).await;
    }
    let ip = crate::access::extract::client_ip(req.headers(), req.extensions(), &state.config.trusted_proxies);
    let set = match rotate(&state, &refresh, &ip).await {
        Some((access, new_refresh)) => {
            // The handler sees the new access token as if the browser had sent it.
            let others: Vec<String> = req
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .map(str::trim)
                .filter(|kv| !kv.starts_with("sb_access=") && !kv.is_empty())
                .map(str::to_string)
                .collect();
            let mut all = others.join("; ");
            all.push_str(&format!("; {ACCESS_COOKIE}={access}"));
            req.headers_mut().remove(header::COOKIE);
            if let Ok(v) = HeaderValue::from_str(&all) {
                req.headers_mut().insert(header::COOKIE, v);
            }
            let s = secure(&state);
            vec![
                set_cookie(ACCESS_COOKIE, &access, ACCESS_TTL_SECS, true, s),
                set_cookie(REFRESH_COOKIE, &new_refresh, REFRESH_TTL_DAYS * 24 * 3600, true, s),
            ]
        }
        None => clear_cookies(&state),
    };
    let mut res = next.run(req).await;
    for c in set {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn reads_cookies_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; sb_access=tok; sb_csrf=xyz"));
        assert_eq!(cookie(&h, ACCESS_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "sb_refresh"), None);
        assert!(csrf_matches(&h, Some("xyz")).is_ok());
        assert!(csrf_matches(&h, Some("xy")).is_err());
        assert!(csrf_matches(&h, None).is_err());
        assert!(check_csrf(&Method::GET, &h).is_ok());
        assert!(check_csrf(&Method::POST, &h).is_err());
    }
}
