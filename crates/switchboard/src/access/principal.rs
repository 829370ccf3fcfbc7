//! Who the caller is, independent of how the request carried it: the access token's claims and
//! format, the authenticated principal, and an API key's scope. The HTTP extractors
//! (`access::extract`) produce these; services take them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entities::enums::Role;
use crate::error::AppError;
use crate::ids::{TenantId, UserId};

pub const AUDIENCE: &str = "switchboard";
pub const ACCESS_TYP: &str = "access";
/// Access tokens live 15 minutes; refresh tokens renew them.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;

/// Claims of an access token (HS256).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub tenant: Option<Uuid>,
    pub role: Role,
    pub typ: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    pub user_id: UserId,
    pub tenant_id: Option<TenantId>,
    pub role: Role,
    /// Set when the caller used an API key (`sk_…`): its scope, already checked against the request.
    pub api_key: Option<KeyScope>,
}

impl Principal {
    /// The caller's tenant; policies that admit tenant roles guarantee it exists.
    pub fn tenant(&self) -> Result<TenantId, AppError> {
        self.tenant_id.ok_or_else(|| AppError::forbidden("this endpoint needs a tenant account"))
    }

    /// The signed-in person. An API key acts for its tenant, not for the user who created it, so it
    /// may not change that user's own account (name, password): 403.
    pub fn person(&self) -> Result<UserId, AppError> {
        if self.api_key.is_some() {
            return Err(AppError::forbidden("an API key cannot change a user's own account; sign in as the user"));
        }
        Ok(self.user_id)
    }
}

/// What a key may do; each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// GET and HEAD requests only.
    Read,
    /// Read, plus sending messages, uploading media and marking conversations read.
    Send,
    /// Everything a TENANT_ADMIN can do.
    Admin,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Read => "read",
            KeyScope::Send => "send",
            KeyScope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(KeyScope::Read),
            "send" => Some(KeyScope::Send),
            "admin" => Some(KeyScope::Admin),
            _ => None,
        }
    }

    /// The highest scope of a stored comma-separated list (`read` when none is recognised).
    pub fn effective(stored: &str) -> Self {
        stored.split(',').filter_map(|s| Self::parse(s.trim())).max().unwrap_or(KeyScope::Read)
    }

    /// Whether a key with this scope may make a request with this method to this path.
    pub fn allows(self, method: &http::Method, path: &str) -> bool {
        if self == KeyScope::Admin {
            return true;
        }
        // Managing keys and webhook endpoints is for admin keys only, even to read.
        if path.starts_with("/api/api-keys") || path.starts_with("/api/webhook-endpoints") {
            return false;
        }
        if method == http::Method::GET || method == http::Method::HEAD {
            return true;
        }
        self == KeyScope::Send && method == http::Method::POST && is_send_path(path)
    }
}

/// POST /api/messages, /api/media, /api/conversations/{id}/messages and /api/conversations/{id}/read.
fn is_send_path(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    if path == "/api/messages" || path == "/api/media" {
        return true;
    }
    match path.strip_prefix("/api/conversations/").map(|rest| rest.split('/').collect::<Vec<_>>()) {
        Some(segs) => segs.len() == 2 && !segs[0].is_empty() && matches!(segs[1], "messages" | "read"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn scopes_gate_methods_and_paths() {
        let c = "/api/conversations/0199/messages";
        assert!(KeyScope::Read.allows(&Method::GET, c));
        assert!(!KeyScope::Read.allows(&Method::POST, c));
        assert!(KeyScope::Send.allows(&Method::POST, c));
        assert!(KeyScope::Send.allows(&Method::POST, "/api/conversations/x/read"));
        assert!(KeyScope::Send.allows(&Method::POST, "/api/messages"));
        assert!(KeyScope::Send.allows(&Method::POST, "/api/media"));
        assert!(!KeyScope::Send.allows(&Method::POST, "/api/whatsapp-accounts"));
        assert!(!KeyScope::Send.allows(&Method::POST, "/api/conversations/x/assign"));
        assert!(!KeyScope::Send.allows(&Method::DELETE, "/api/messages"));
        assert!(!KeyScope::Send.allows(&Method::GET, "/api/api-keys"));
        assert!(KeyScope::Admin.allows(&Method::DELETE, "/api/api-keys/x"));
        assert_eq!(KeyScope::effective("read,send"), KeyScope::Send);
        assert_eq!(KeyScope::effective("admin,read"), KeyScope::Admin);
    }
}
