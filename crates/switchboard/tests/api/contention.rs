//! Issue #16: webhook batches that run at once on PostgreSQL and share customers. A batch locks
//! only the contacts it changes: one that merely reads a contact never waits for another batch's
//! transaction (locking every contact read made concurrent batches queue behind each other, and
//! processing fell to a quarter), and two batches changing one contact still never write back a
//! stale row over each other's change.

use std::time::Duration;

use sea_orm::{EntityTrait, TransactionTrait};
use switchboard::contacts::identity::{Sighting, resolve};
use switchboard::entities::contacts;
use uuid::Uuid;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn batches_sharing_a_customer_wait_only_to_change_it_and_lose_no_change() {
    let app = spawn_app_with(&[("SWITCHBOARD_RUN_WORKERS", "false"), ("SWITCHBOARD_SANDBOX", "false")]).await;
    if !app.config.is_postgres() {
        return; // SQLite has one writer connection: batches never overlap.
    }
    let a = app.register("Acme", "ana@acme.test").await;
    let tenant: Uuid = a.tenant_id.parse().unwrap();
    let db = app.state.writer().clone();
    let wa = "15550001111";

    let t = db.begin().await.unwrap();
    let id = resolve(&t, None, &[Sighting::new(tenant, Some(wa), None)]).await.unwrap().contacts[0].clone().unwrap().id;
    t.commit().await.unwrap();

    // Two open batches that see the customer as it is: neither waits for the other.
    let t1 = db.begin().await.unwrap();
    resolve(&t1, None, &[Sighting::new(tenant, Some(wa), None)]).await.unwrap();
    let t2 = db.begin().await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(3), resolve(&t2, None, &[Sighting::new(tenant, Some(wa), None)]))
        .await
        .expect("a batch that does not change the contact waits for no other batch")
        .unwrap();
    assert_eq!(r.contacts[0].as_ref().unwrap().id, id);
    t2.commit().await.unwrap();
    t1.commit().await.unwrap();

    // Two batches naming it at once (its profile name, its username): each writes only what it
    // changed, so both changes are kept.
    let t1 = db.begin().await.unwrap();
    resolve(&t1, None, &[Sighting::new(tenant, Some(wa), None).profile(Some("Ana"), None)]).await.unwrap();
    let second = {
        let db = db.clone();
        tokio::spawn(async move {
            let t2 = db.begin().await.unwrap();
            resolve(&t2, None, &[Sighting::new(tenant, Some(wa), None).profile(None, Some("ana.b"))]).await.unwrap();
            t2.commit().await.unwrap();
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    t1.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), second).await.expect("not deadlocked").unwrap();
    let row = contacts::Entity::find_by_id(id).one(&db).await.unwrap().unwrap();
    assert_eq!(row.profile_name.as_deref(), Some("Ana"), "the first batch's name survives the second");
    assert_eq!(row.username.as_deref(), Some("ana.b"));

    // Two batches changing its identifiers: the customer changes number in one while the other
    // (which read the old row) gives the old number a user id. The second waits for the first,
    // reads again, and never writes the old number back over the change.
    let wa2 = "15550002222";
    let t1 = db.begin().await.unwrap();
    resolve(&t1, None, &[Sighting::new(tenant, Some(wa), None).changes_to(Some(wa2), None)]).await.unwrap();
    let second = {
        let db = db.clone();
        tokio::spawn(async move {
            let t2 = db.begin().await.unwrap();
            let r = resolve(&t2, None, &[Sighting::new(tenant, Some(wa), Some("US.42"))]).await.unwrap();
            t2.commit().await.unwrap();
            r.contacts[0].clone().unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    t1.commit().await.unwrap();
    let other = tokio::time::timeout(Duration::from_secs(10), second).await.expect("not deadlocked").unwrap();
    let row = contacts::Entity::find_by_id(id).one(&db).await.unwrap().unwrap();
    assert_eq!(row.wa_id.as_deref(), Some(wa2), "the number change survives the other batch");
    assert_ne!(other.id, id, "the old number, seen after the change, belongs to someone new");
    assert_eq!(other.wa_id.as_deref(), Some(wa));
    assert_eq!(other.user_id.as_deref(), Some("US.42"));
}
