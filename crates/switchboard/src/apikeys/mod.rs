//! API keys for integrations: `Authorization: Bearer sk_…`, created by a TENANT_ADMIN with scopes,
//! shown once and stored as a SHA-256 hash. The extractor in `auth::extract` hands `sk_` bearers to
//! [`service::authenticate`], which turns a live key into a tenant principal and checks its scope
//! against the request's method and path.

pub mod routes;
pub mod service;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "sk_";

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
