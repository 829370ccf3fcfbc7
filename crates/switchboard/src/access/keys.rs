//! Authenticating requests that carry an API key (`Authorization: Bearer sk_…`): the key's
//! SHA-256 is looked up (live, its tenant not suspended, its creator still active), its scope
//! checked against the request's method and path, and it becomes a tenant principal.
//!
//! Lookups are cached in memory for [`CACHE_TTL`]: a revocation takes effect at once on the node
//! that revoked the key ([`forget`]) and within the TTL on the others. `last_used_at` is written at
//! most once a minute per key, off the request path. Creating and revoking keys is the `apikeys`
//! feature's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use switchboard_crypto::token::sha256_hex;
use uuid::Uuid;

use super::principal::{KeyScope, Principal};
use crate::entities::api_keys;
use crate::entities::enums::{Role, TenantStatus};
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::state::AppState;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "sk_";

/// How long a lookup (hit or miss) is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;

/// Forgets cached lookups of these keys (after their revocation committed).
pub fn forget(hashes: &[String]) {
    if hashes.is_empty() {
        return;
    }
    REVOCATIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut g = cache().lock().unwrap_or_else(|e| e.into_inner());
    for h in hashes {
        g.remove(h);
    }
}

/// Forgets cached lookups of the tenant's keys (after its status changed).
pub fn forget_tenant(tenant: Uuid) {
    REVOCATIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    cache().lock().unwrap_or_else(|e| e.into_inner()).retain(|_, c| c.key.is_some_and(|k| k.tenant_id != tenant));
}

/// A live key as cached.
#[derive(Clone, Copy)]
struct LiveKey {
    id: Uuid,
    tenant_id: Uuid,
    created_by: Option<Uuid>,
    scope: KeyScope,
}

struct Cached {
    fetched: Instant,
    key: Option<LiveKey>,
    touched: Option<Instant>,
}

/// Counts revocations on this node, so a lookup that overlapped one is not cached.
static REVOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn cache() -> &'static Mutex<HashMap<String, Cached>> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<String, Cached>>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Turns an `sk_` bearer into a tenant principal, or 401 (unknown or revoked) / 403 (scope).
pub async fn authenticate(state: &AppState, token: &str, method: &http::Method, path: &str) -> AppResult<Principal> {
    let hash = sha256_hex(token.as_bytes());
    let now = Instant::now();
    let hit = {
        let g = cache().lock().unwrap_or_else(|e| e.into_inner());
        g.get(&hash).filter(|c| now.duration_since(c.fetched) < CACHE_TTL).map(|c| c.key)
    };
    let key = match hit {
        Some(k) => k,
        None => {
            let generation = REVOCATIONS.load(std::sync::atomic::Ordering::SeqCst);
            let k = lookup(state, &hash).await?;
            let mut g = cache().lock().unwrap_or_else(|e| e.into_inner());
            // A revocation that happened while this lookup ran may not be in its result: do not
            // cache it (this request already raced the revocation; the next one reads again).
            if k.is_some() && REVOCATIONS.load(std::sync::atomic::Ordering::SeqCst) != generation {
                g.remove(&hash);
                drop(g);
                return finish(state, &hash, k, method, path, now);
            }
            if g.len() >= CACHE_MAX {
                g.retain(|_, c| now.duration_since(c.fetched) < CACHE_TTL);
                if g.len() >= CACHE_MAX {
                    g.clear();
                }
            }
            let touched = g.get(&hash).and_then(|c| c.touched);
            g.insert(hash.clone(), Cached { fetched: now, key: k, touched });
            k
        }
    };
    finish(state, &hash, key, method, path, now)
}

fn finish(
    state: &AppState,
    hash: &str,
    key: Option<LiveKey>,
    method: &http::Method,
    path: &str,
    now: Instant,
) -> AppResult<Principal> {
    let key = key.ok_or_else(|| AppError::unauthorized("invalid or revoked API key"))?;
    if !key.scope.allows(method, path) {
        return Err(AppError::forbidden(format!("this API key's scope ({}) does not allow this", key.scope.as_str())));
    }
    touch(state, hash, key.id, now);
    Ok(Principal {
        user_id: UserId(key.created_by.unwrap_or(Uuid::nil())),
        tenant_id: Some(TenantId(key.tenant_id)),
        // Scopes are enforced above; as a principal a key sees the whole tenant like an admin.
        role: Role::TenantAdmin,
        api_key: Some(key.scope),
    })
}

async fn lookup(state: &AppState, hash: &str) -> AppResult<Option<LiveKey>> {
    let Some(k) = api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(hash))
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    let tenant = crate::entities::tenants::Entity::find_by_id(k.tenant_id).one(&state.db).await?;
    if tenant.is_none_or(|t| t.status == TenantStatus::Suspended) {
        return Ok(None);
    }
    // A key whose creator has since been removed or deactivated is refused (and revoked at that
    // moment; this covers keys of creators who lost access before that rule existed).
    if let Some(creator) = k.created_by {
        let user = crate::entities::users::Entity::find_by_id(creator).one(&state.db).await?;
        if user.is_none_or(|u| !u.active) {
            return Ok(None);
        }
    }
    Ok(Some(LiveKey {
        id: k.id,
        tenant_id: k.tenant_id,
        created_by: k.created_by,
        scope: KeyScope::effective(&k.scopes),
    }))
}

/// Records the use at most once a minute per key (per node; the update's condition also keeps
/// nodes from writing more often than that together), in the background.
fn touch(state: &AppState, hash: &str, id: Uuid, now: Instant) {
    {
        let mut g = cache().lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = g.get_mut(hash) else { return };
        if c.touched.is_some_and(|t| now.duration_since(t) < TOUCH_EVERY) {
            return;
        }
        c.touched = Some(now);
    }
    let state = state.clone();
    tokio::spawn(async move {
        let at = crate::db::now();
        let before = at - chrono::Duration::from_std(TOUCH_EVERY).unwrap_or(chrono::Duration::minutes(1));
        let res = api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, Expr::value(at))
            .filter(api_keys::Column::Id.eq(id))
            .filter(
                Condition::any()
                    .add(api_keys::Column::LastUsedAt.is_null())
                    .add(api_keys::Column::LastUsedAt.lt(before)),
            )
            .exec(state.writer())
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not record an API key's use");
        }
    });
}
