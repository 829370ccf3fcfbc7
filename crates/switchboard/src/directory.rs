//! An in-memory map from Meta ids to accounts, so the webhook path can pick the signing secret
//! and the tenant without a database round trip. Reloaded when stale or invalidated.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, EntityTrait};
use switchboard_crypto::aead::Keyring;
use switchboard_crypto::secret::SecretString;
use uuid::Uuid;

use crate::entities::enums::AccountStatus;
use crate::entities::whatsapp_accounts;
use crate::secrets::{self, Purpose};

/// What the webhook path needs to know about an account.
#[derive(Debug)]
pub struct RoutedAccount {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub waba_id: String,
    pub phone_number_id: String,
    pub app_secret: Option<SecretString>,
    pub verify_token: SecretString,
    pub status: AccountStatus,
}

#[derive(Default)]
struct Snapshot {
    by_phone: HashMap<String, Arc<RoutedAccount>>,
    by_waba: HashMap<String, Vec<Arc<RoutedAccount>>>,
    loaded_at: Option<Instant>,
}

/// Other nodes' changes are seen within this time.
const MAX_AGE: Duration = Duration::from_secs(30);
/// An unknown id triggers at most one reload per this interval.
const MISS_RELOAD: Duration = Duration::from_secs(1);

/// Holds the handles it loads with (the database, the keys that decrypt app secrets), not the
/// application state.
pub struct Directory {
    db: DatabaseConnection,
    keys: Keyring,
    snap: RwLock<Arc<Snapshot>>,
    reload: tokio::sync::Mutex<()>,
}

impl Directory {
    pub fn new(db: DatabaseConnection, keys: Keyring) -> Self {
        Self { db, keys, snap: Default::default(), reload: Default::default() }
    }

    /// Forget everything (after an account is created, changed or deleted on this node).
    pub fn invalidate(&self) {
        *self.snap.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Snapshot::default());
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snap.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn fresh(&self, miss: bool) -> Arc<Snapshot> {
        let snap = self.current();
        let age = snap.loaded_at.map(|t| t.elapsed());
        let needs = match age {
            None => true,
            Some(a) => a > MAX_AGE || (miss && a > MISS_RELOAD),
        };
        if !needs {
            return snap;
        }
        let _guard = self.reload.lock().await;
        let again = self.current();
        if again.loaded_at != snap.loaded_at {
            return again; // someone else reloaded meanwhile
        }
        match load(&self.db, &self.keys).await {
            Ok(s) => {
                let s = Arc::new(s);
                *self.snap.write().unwrap_or_else(|e| e.into_inner()) = s.clone();
                s
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load the account directory");
                snap
            }
        }
    }

    pub async fn by_phone(&self, phone_number_id: &str) -> Option<Arc<RoutedAccount>> {
        if let Some(a) = self.fresh(false).await.by_phone.get(phone_number_id) {
            return Some(a.clone());
        }
        self.fresh(true).await.by_phone.get(phone_number_id).cloned()
    }

    pub async fn by_waba(&self, waba_id: &str) -> Vec<Arc<RoutedAccount>> {
        if let Some(a) = self.fresh(false).await.by_waba.get(waba_id) {
            return a.clone();
        }
        self.fresh(true).await.by_waba.get(waba_id).cloned().unwrap_or_default()
    }

    /// Every account whose own verify token equals `token` exists?
    pub async fn any_verify_token(&self, token: &str) -> bool {
        let snap = self.fresh(true).await;
        snap.by_phone
            .values()
            .any(|a| switchboard_crypto::token::constant_time_eq(a.verify_token.expose().as_bytes(), token.as_bytes()))
    }
}

async fn load(db: &DatabaseConnection, keys: &Keyring) -> Result<Snapshot, sea_orm::DbErr> {
    let rows = whatsapp_accounts::Entity::find().all(db).await?;
    let mut snap = Snapshot { loaded_at: Some(Instant::now()), ..Default::default() };
    for a in rows {
        let app_secret = match &a.app_secret_enc {
            Some(enc) => match secrets::decrypt(keys, a.tenant_id, a.id, Purpose::AppSecret, enc) {
                Ok(s) => Some(SecretString::new(s)),
                Err(_) => {
                    tracing::error!(account = %a.id, "cannot decrypt the account's app secret");
                    None
                }
            },
            None => None,
        };
        let routed = Arc::new(RoutedAccount {
            id: a.id,
            tenant_id: a.tenant_id,
            waba_id: a.waba_id.clone(),
            phone_number_id: a.phone_number_id.clone(),
            app_secret,
            verify_token: SecretString::new(a.verify_token),
            status: a.status,
        });
        snap.by_waba.entry(a.waba_id).or_default().push(routed.clone());
        snap.by_phone.insert(a.phone_number_id, routed);
    }
    Ok(snap)
}
