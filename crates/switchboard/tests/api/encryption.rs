use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use switchboard::entities::enums::AccountStatus;
use switchboard::entities::whatsapp_accounts;
use switchboard::secrets::{self, Purpose};
use switchboard_crypto::aead::Keyring;
use uuid::Uuid;

use crate::helpers::spawn_app;

async fn insert_account(
    app: &crate::helpers::TestApp,
    keys: &Keyring,
    tenant: Uuid,
    phone_number_id: &str,
    token: &str,
) -> whatsapp_accounts::Model {
    let id = switchboard::db::new_id();
    let now = switchboard::db::now();
    whatsapp_accounts::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant),
        name: Set("Main".into()),
        waba_id: Set("WABA1".into()),
        phone_number_id: Set(phone_number_id.into()),
        display_phone_number: Set("+1 555 0100".into()),
        access_token_enc: Set(secrets::encrypt(keys, tenant, id, Purpose::AccessToken, token)),
        access_token_last4: Set(token[token.len() - 4..].into()),
        app_secret_enc: Set(Some(secrets::encrypt(keys, tenant, id, Purpose::AppSecret, "app-secret"))),
        verify_token: Set("verify".into()),
        status: Set(AccountStatus::Active),
        throughput_mps: Set(80),
        is_sandbox: Set(false),
        quality_rating: Set(None),
        messaging_limit: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.state.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn stored_tokens_round_trip_and_do_not_move_between_rows_or_tenants() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let b = app.register("B", "b@b.test").await;
    let (ta, tb): (Uuid, Uuid) = (a.tenant_id.parse().unwrap(), b.tenant_id.parse().unwrap());
    let keys = &app.config.encryption_keys;
    let acc_a = insert_account(&app, keys, ta, "111", "EAAG-token-of-a-1234").await;
    let acc_b = insert_account(&app, keys, tb, "222", "EAAG-token-of-b-5678").await;

    assert!(!acc_a.access_token_enc.contains("token-of-a"), "stored encrypted");
    let plain = secrets::decrypt(keys, ta, acc_a.id, Purpose::AccessToken, &acc_a.access_token_enc).unwrap();
    assert_eq!(plain, "EAAG-token-of-a-1234");

    // A's ciphertext copied into B's row (another tenant and row) does not decrypt there.
    assert!(secrets::decrypt(keys, tb, acc_b.id, Purpose::AccessToken, &acc_a.access_token_enc).is_err());
    // Nor as another purpose of the same row.
    assert!(secrets::decrypt(keys, ta, acc_a.id, Purpose::AppSecret, &acc_a.access_token_enc).is_err());
    // A flipped character is detected.
    let mut tampered = acc_a.access_token_enc.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(secrets::decrypt(keys, ta, acc_a.id, Purpose::AccessToken, &tampered).is_err());
}

fn entry(kid: &str) -> String {
    let generated = Keyring::generate_spec_entry();
    format!("{kid}:{}", generated.split_once(':').unwrap().1)
}

#[tokio::test]
async fn rotate_keys_reencrypts_with_the_newest_key() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let ta: Uuid = a.tenant_id.parse().unwrap();
    let (old_entry, new_entry) = (entry("old"), entry("new"));
    let old = Keyring::parse(&old_entry).unwrap();
    let acc = insert_account(&app, &old, ta, "333", "EAAG-rotating-9999").await;

    // Both keys configured, newest last: the old one still decrypts, the new one encrypts.
    let both = Keyring::parse(&format!("{old_entry},{new_entry}")).unwrap();
    assert_eq!(both.current_kid(), "new");
    assert!(both.needs_rotation(&acc.access_token_enc));
    let n = secrets::rotate_keys(&app.state.db, &both).await.unwrap();
    assert_eq!(n, 2, "access token and app secret");
    let after = whatsapp_accounts::Entity::find_by_id(acc.id).one(&app.state.db).await.unwrap().unwrap();
    assert!(!both.needs_rotation(&after.access_token_enc));
    let only_new = Keyring::parse(&new_entry).unwrap();
    assert_eq!(
        secrets::decrypt(&only_new, ta, acc.id, Purpose::AccessToken, &after.access_token_enc).unwrap(),
        "EAAG-rotating-9999"
    );
    assert!(secrets::decrypt(&old, ta, acc.id, Purpose::AccessToken, &after.access_token_enc).is_err());
    assert_eq!(secrets::rotate_keys(&app.state.db, &both).await.unwrap(), 0, "idempotent");
}
