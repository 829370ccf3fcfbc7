//! Issue #16: processing must not collapse when the planner's statistics are stale (PostgreSQL
//! with autovacuum off, or a table that grew by an import before autovacuum ran): the maintenance
//! task analyses hot tables that changed by more than 10 %, and the contact lookup is then an
//! index lookup on `(tenant_id, wa_id)`.

use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{spawn_app_with, wait_for};

#[tokio::test]
async fn stale_statistics_of_hot_tables_are_refreshed() {
    let app = spawn_app_with(&[("SWITCHBOARD_RUN_WORKERS", "false"), ("SWITCHBOARD_SANDBOX", "false")]).await;
    let a = app.register("Acme", "ana@acme.test").await;
    let db = app.state.writer();
    if !app.config.is_postgres() {
        // SQLite: `PRAGMA optimize` runs, and says nothing.
        assert!(switchboard::db::refresh_statistics(db).await.unwrap().is_empty());
        return;
    }
    // 20,000 contacts in one statement, no ANALYZE since: the statistics say the table is empty.
    db.execute_unprepared(&format!(
        "INSERT INTO contacts (id, tenant_id, wa_id, user_id, opted_out, tags, attributes, created_at, updated_at) \
         SELECT gen_random_uuid(), '{}', '1555' || lpad(g::text, 7, '0'), 'US.' || g, false, '[]', '{{}}', now(), now() \
         FROM generate_series(1, 20000) g",
        a.tenant_id
    ))
    .await
    .unwrap();
    // The cumulative statistics reach pg_stat_user_tables within a second or so.
    let analysed = wait_for("contacts analysed", || async {
        let t = switchboard::db::refresh_statistics(db).await.unwrap();
        t.contains(&"contacts".to_string()).then_some(t)
    })
    .await;
    assert!(analysed.contains(&"contacts".to_string()));
    // Fresh now: nothing more to do, and the lookup the batch path runs uses the wa_id index.
    assert!(!switchboard::db::refresh_statistics(db).await.unwrap().contains(&"contacts".to_string()));
    let plan = db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "EXPLAIN SELECT * FROM contacts WHERE tenant_id = '{}' AND wa_id IN ('15550000001', '15550000002')",
                a.tenant_id
            ),
        ))
        .await
        .unwrap();
    let text: Vec<String> = plan.iter().map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap()).collect();
    assert!(text.iter().any(|l| l.contains("ux_contacts_tenant_wa_id")), "{text:#?}");
}
