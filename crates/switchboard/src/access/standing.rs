//! Access that ends when an account does: every request authenticated by an access token (bearer
//! or cookie) checks that its user still exists and is active and that its tenant is not
//! suspended, so a 15-minute token stops working at once instead of at its expiry.
//!
//! The answer is cached per user for [`TTL`]; deactivating or removing a user and suspending a
//! tenant forget the cached answers on this node at once ([`forget_user`], [`forget_tenant`]), so
//! there the change applies to the next request, and within [`TTL`] on other nodes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::entities::enums::TenantStatus;
use crate::entities::{tenants, users};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How long a user's standing is trusted without reading it again.
pub const TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 50_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Standing {
    Active,
    /// Deleted or deactivated.
    Gone,
    /// The user's tenant is suspended.
    Suspended,
}

struct Cached {
    fetched: Instant,
    tenant: Option<Uuid>,
    standing: Standing,
    /// Tokens issued (unix seconds) before this are refused.
    revoked_at: Option<i64>,
}

/// Bumped by every local change, so a lookup that overlapped one is not cached.
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn cache() -> &'static Mutex<HashMap<Uuid, Cached>> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<Uuid, Cached>>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// `Ok` while `user` may act with a token issued at `issued_at` (unix seconds); 401 when they are
/// deleted or deactivated or the token predates their last deactivation, 403 `tenant_suspended`
/// when their tenant is suspended (as sign-in and refresh answer).
pub async fn check(state: &AppState, user: Uuid, issued_at: i64) -> AppResult<()> {
    let now = Instant::now();
    let hit = {
        let g = cache().lock().unwrap_or_else(|e| e.into_inner());
        g.get(&user).filter(|c| now.duration_since(c.fetched) < TTL).map(|c| (c.standing, c.revoked_at))
    };
    let (standing, revoked_at) = match hit {
        Some(s) => s,
        None => {
            let generation = GENERATION.load(Ordering::SeqCst);
            let (tenant, standing, revoked_at) = lookup(state, user).await?;
            let mut g = cache().lock().unwrap_or_else(|e| e.into_inner());
            if GENERATION.load(Ordering::SeqCst) == generation {
                if g.len() >= CACHE_MAX {
                    g.retain(|_, c| now.duration_since(c.fetched) < TTL);
                    if g.len() >= CACHE_MAX {
                        g.clear();
                    }
                }
                g.insert(user, Cached { fetched: now, tenant, standing, revoked_at });
            }
            (standing, revoked_at)
        }
    };
    match standing {
        Standing::Active if revoked_at.is_some_and(|r| issued_at < r) => {
            Err(AppError::unauthorized("this session ended when the account was disabled; sign in again"))
        }
        Standing::Active => Ok(()),
        Standing::Gone => Err(AppError::unauthorized("this account no longer exists or is disabled")),
        Standing::Suspended => Err(AppError::new(
            StatusCode::FORBIDDEN,
            "tenant_suspended",
            "this workspace is suspended; contact the platform operator",
        )),
    }
}

async fn lookup(state: &AppState, user: Uuid) -> AppResult<(Option<Uuid>, Standing, Option<i64>)> {
    let Some(u) = users::Entity::find_by_id(user).one(&state.db).await? else {
        return Ok((None, Standing::Gone, None));
    };
    let revoked_at = u.sessions_revoked_at.map(|t| t.timestamp());
    if !u.active {
        return Ok((u.tenant_id, Standing::Gone, revoked_at));
    }
    let Some(tid) = u.tenant_id else {
        return Ok((None, Standing::Active, revoked_at));
    };
    let standing = match tenants::Entity::find_by_id(tid).one(&state.db).await? {
        None => Standing::Gone,
        Some(t) if t.status == TenantStatus::Suspended => Standing::Suspended,
        Some(_) => Standing::Active,
    };
    Ok((Some(tid), standing, revoked_at))
}

/// Call after committing a change to the user's activation or existence.
pub fn forget_user(user: Uuid) {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    cache().lock().unwrap_or_else(|e| e.into_inner()).remove(&user);
}

/// Call after committing a change to the tenant's status (with `access::keys::forget_tenant`
/// for its keys).
pub fn forget_tenant(tenant: Uuid) {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    cache().lock().unwrap_or_else(|e| e.into_inner()).retain(|_, c| c.tenant != Some(tenant));
}
