//! Authentication extractors: a handler states the roles it admits in its signature.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use switchboard_crypto::jwt::Validation;

use crate::entities::enums::Role;
use crate::error::AppError;
use crate::ids::{TenantId, UserId};
use crate::state::AppState;

pub use super::principal::{ACCESS_TTL_SECS, ACCESS_TYP, AUDIENCE, AccessClaims, Principal};

/// Authenticates a request. With `header_csrf` false a cookie session's CSRF token is not looked
/// for in `X-CSRF-Token`: the caller (a plain HTML form) must check its `_csrf` field instead.
pub async fn authenticate(parts: &mut Parts, state: &AppState, header_csrf: bool) -> Result<Principal, AppError> {
    let cookie_token;
    let token = match bearer(parts) {
        Some(t) => t,
        None => {
            // The web app's session: the access token in an HttpOnly cookie. Unsafe methods must
            // also carry the CSRF token (double submit), which another site cannot read.
            cookie_token = super::cookies::access_from_cookies(&parts.headers)
                .ok_or_else(|| AppError::unauthorized("missing bearer token"))?;
            if header_csrf {
                super::cookies::check_csrf(&parts.method, &parts.headers)?;
            }
            cookie_token.as_str()
        }
    };
    if token.starts_with(crate::access::keys::KEY_PREFIX) {
        let path = match parts.extensions.get::<axum::extract::OriginalUri>() {
            Some(o) => o.0.path().to_string(),
            None => parts.uri.path().to_string(),
        };
        return crate::access::keys::authenticate(state, token, &parts.method, &path).await;
    }
    let validation = Validation {
        audience: AUDIENCE.into(),
        typ: ACCESS_TYP.into(),
        now: chrono::Utc::now().timestamp(),
        leeway_secs: 0,
    };
    let claims: AccessClaims =
        state.jwt.decode(token, &validation).map_err(|_| AppError::unauthorized("invalid or expired access token"))?;
    // A tenant role without a tenant (or SYSTEM_ADMIN with one) is a forged or stale token.
    if (claims.role == Role::SystemAdmin) != claims.tenant.is_none() {
        return Err(AppError::unauthorized("invalid access token"));
    }
    // The token is genuine; its user must still be allowed in (not removed, deactivated or
    // suspended since it was issued).
    super::standing::check(state, claims.sub, claims.iat).await?;
    Ok(Principal {
        user_id: UserId(claims.sub),
        tenant_id: claims.tenant.map(TenantId),
        role: claims.role,
        api_key: None,
    })
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, true).await
    }
}

/// Which roles an endpoint admits.
pub trait Policy: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

/// A caller whose role the policy `P` admits; any other role gets 403.
pub struct Authed<P: Policy> {
    pub principal: Principal,
    _policy: PhantomData<P>,
}

impl<P: Policy> Authed<P> {
    pub fn user_id(&self) -> UserId {
        self.principal.user_id
    }
    pub fn role(&self) -> Role {
        self.principal.role
    }
    /// The caller's tenant (always present for tenant policies).
    pub fn tenant(&self) -> Result<TenantId, AppError> {
        self.principal.tenant()
    }
}

impl<P: Policy> FromRequestParts<AppState> for Authed<P> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        if !P::ROLES.contains(&principal.role) {
            return Err(AppError::forbidden(format!("role {} may not do this", principal.role.as_str())));
        }
        Ok(Self { principal, _policy: PhantomData })
    }
}

macro_rules! policy {
    ($(#[$m:meta])* $name:ident = [$($role:ident),+]) => {
        $(#[$m])*
        pub struct $name;
        impl Policy for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),+];
        }
    };
}

policy!(
    /// Any signed-in user.
    AnyRole = [SystemAdmin, TenantAdmin, Agent, BillingAdmin]
);
policy!(
    /// Any member of a tenant.
    TenantMember = [TenantAdmin, Agent, BillingAdmin]
);
policy!(
    /// Those who work the inbox.
    InboxRole = [TenantAdmin, Agent]
);
policy!(
    /// Tenant administrators.
    TenantAdminRole = [TenantAdmin]
);
policy!(
    /// Usage and billing readers.
    BillingRole = [TenantAdmin, BillingAdmin]
);
policy!(
    /// The platform operator.
    SystemAdminRole = [SystemAdmin]
);

/// The client's address, for throttling and the audit log: the socket's peer, or, when that peer
/// is a trusted reverse proxy (`SWITCHBOARD_TRUSTED_PROXIES`), the address it names in
/// `X-Forwarded-For`.
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.headers, &parts.extensions, &state.config.trusted_proxies)))
    }
}

/// See [`ClientIp`]. `X-Forwarded-For` is read from the right (each proxy appends the address it
/// received from): the first address that is not itself a trusted proxy is the client. A client
/// cannot forge its way past this: whatever it puts in the header stays left of what the trusted
/// proxy appended.
pub fn client_ip(headers: &http::HeaderMap, extensions: &http::Extensions, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) =
        extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_canonical())
    else {
        return "unknown".into();
    };
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let parsed = hop
            .parse::<std::net::IpAddr>()
            .ok()
            .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
            .map(|ip| ip.to_canonical());
        // Garbage in the header: the last address we could trust is the best we know.
        let Some(ip) = parsed else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_of(peer: &str, xff: &[&str], trusted: &str) -> String {
        let mut headers = http::HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        let mut ext = http::Extensions::new();
        ext.insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(peer.parse().unwrap()));
        let trusted: Vec<ipnet::IpNet> =
            trusted.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
        client_ip(&headers, &ext, &trusted)
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        assert_eq!(ip_of("198.51.100.1:5000", &["203.0.113.9"], ""), "198.51.100.1");
        assert_eq!(ip_of("198.51.100.1:5000", &["203.0.113.9"], "10.0.0.0/8"), "198.51.100.1");
        assert_eq!(ip_of("10.0.0.2:5000", &["203.0.113.9"], "10.0.0.0/8"), "203.0.113.9");
        // A forged entry stays left of what the proxy appended.
        assert_eq!(ip_of("10.0.0.2:5000", &["1.2.3.4, 203.0.113.9"], "10.0.0.0/8"), "203.0.113.9");
        // Chains of trusted proxies are skipped; separate header lines count as one list.
        assert_eq!(ip_of("10.0.0.2:5000", &["203.0.113.9", "10.0.0.7"], "10.0.0.0/8"), "203.0.113.9");
        assert_eq!(ip_of("10.0.0.2:5000", &[], "10.0.0.0/8"), "10.0.0.2");
        assert_eq!(ip_of("10.0.0.2:5000", &["garbage"], "10.0.0.0/8"), "10.0.0.2");
        assert_eq!(ip_of("[::ffff:10.0.0.2]:5000", &["2001:db8::1"], "10.0.0.0/8"), "2001:db8::1");
    }
}
