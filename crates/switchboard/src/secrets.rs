//! Encrypted columns: AES-256-GCM whose AAD binds table, column, tenant and row, so a ciphertext
//! copied to another row, tenant or purpose does not decrypt.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use switchboard_crypto::aead::Keyring;
use uuid::Uuid;

use crate::entities::whatsapp_accounts;
use crate::error::{AppError, AppResult};

/// What a ciphertext is for; part of the AAD.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    AccessToken,
    AppSecret,
    WebhookSecret,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::AccessToken => "whatsapp_accounts.access_token",
            Purpose::AppSecret => "whatsapp_accounts.app_secret",
            Purpose::WebhookSecret => "webhook_endpoints.secret",
        }
    }
}

fn aad(tenant: Uuid, row: Uuid, purpose: Purpose) -> Vec<u8> {
    format!("switchboard/v1|tenant={tenant}|row={row}|{}", purpose.as_str()).into_bytes()
}

pub fn encrypt(keys: &Keyring, tenant: Uuid, row: Uuid, purpose: Purpose, plaintext: &str) -> String {
    keys.encrypt(plaintext.as_bytes(), &aad(tenant, row, purpose))
}

pub fn decrypt(keys: &Keyring, tenant: Uuid, row: Uuid, purpose: Purpose, ciphertext: &str) -> AppResult<String> {
    let bytes = keys
        .decrypt(ciphertext, &aad(tenant, row, purpose))
        .map_err(|e| AppError::internal(anyhow::anyhow!("cannot decrypt {}: {e}", purpose.as_str())))?;
    String::from_utf8(bytes).map_err(AppError::internal)
}

/// Re-encrypts every stored secret that was not written with the newest key. Returns how many
/// values were rewritten. Safe to run repeatedly and while the server runs.
pub async fn rotate_keys<C: ConnectionTrait>(db: &C, keys: &Keyring) -> AppResult<u64> {
    let mut rewritten = 0;
    for acct in whatsapp_accounts::Entity::find().all(db).await? {
        let mut am: whatsapp_accounts::ActiveModel = acct.clone().into();
        let mut changed = false;
        if keys.needs_rotation(&acct.access_token_enc) {
            let plain = decrypt(keys, acct.tenant_id, acct.id, Purpose::AccessToken, &acct.access_token_enc)?;
            am.access_token_enc = Set(encrypt(keys, acct.tenant_id, acct.id, Purpose::AccessToken, &plain));
            changed = true;
            rewritten += 1;
        }
        if let Some(enc) = &acct.app_secret_enc
            && keys.needs_rotation(enc)
        {
            let plain = decrypt(keys, acct.tenant_id, acct.id, Purpose::AppSecret, enc)?;
            am.app_secret_enc = Set(Some(encrypt(keys, acct.tenant_id, acct.id, Purpose::AppSecret, &plain)));
            changed = true;
            rewritten += 1;
        }
        if changed {
            am.updated_at = Set(crate::db::now());
            am.update(db).await?;
        }
    }
    // Outgoing-webhook signing secrets.
    use crate::entities::webhook_endpoints;
    for ep in webhook_endpoints::Entity::find().all(db).await? {
        if keys.needs_rotation(&ep.secret_enc) {
            let plain = decrypt(keys, ep.tenant_id, ep.id, Purpose::WebhookSecret, &ep.secret_enc)?;
            let mut am: webhook_endpoints::ActiveModel = ep.clone().into();
            am.secret_enc = Set(encrypt(keys, ep.tenant_id, ep.id, Purpose::WebhookSecret, &plain));
            am.update(db).await?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}
