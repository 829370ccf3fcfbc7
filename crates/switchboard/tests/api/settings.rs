//! Tenant settings: read by members, changed by admins, validated field by field, audited, and
//! the keys the webhook processor reads.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;
use switchboard::entities::{audit_log, contacts, tenants};
use uuid::Uuid;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, wait_for};

#[tokio::test]
async fn members_read_and_admins_change_settings() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let root = app.system_admin().await;

    for token in [&a.access, &agent, &billing] {
        let res = app.get("/api/settings", Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let s: Value = res.json().await.unwrap();
        assert_eq!(s["name"], "Acme");
        assert_eq!(s["theme"]["color"], "#0f766e");
        assert_eq!(s["timeZone"], "UTC");
        assert_eq!(s["optOutKeywords"], json!(["STOP", "UNSUBSCRIBE"]));
        assert_eq!(s["autoAssign"], false);
        assert_eq!(s["defaultLanguage"], "en_US");
        assert!(s["businessHours"].is_null());
        assert!(s["billingEmail"].is_null());
    }
    assert_error(app.get("/api/settings", Some(&root)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.get("/api/settings", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.patch("/api/settings", &json!({"autoAssign": true}), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for token in [&agent, &billing, &root] {
        let res = app.patch("/api/settings", &json!({"autoAssign": true}), Some(token)).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }

    let res = app
        .patch(
            "/api/settings",
            &json!({
                "name": "Acme Coffee",
                "theme": {"color": "#FF8800", "name": "Acme Dark", "logoUrl": "https://cdn.acme.test/logo.png"},
                "businessHours": {"monday": {"open": "09:00", "close": "17:30"}, "saturday": null},
                "timeZone": "Europe/Madrid",
                "optOutKeywords": ["baja", " Stop ", "BAJA"],
                "autoAssign": true,
                "defaultLanguage": "es_ES",
                "billingEmail": "Billing@Acme.test"
            }),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["name"], "Acme Coffee");
    assert_eq!(
        s["theme"],
        json!({"color": "#ff8800", "name": "Acme Dark", "logoUrl": "https://cdn.acme.test/logo.png"})
    );
    assert_eq!(s["businessHours"]["monday"], json!({"open": "09:00", "close": "17:30"}));
    assert!(s["businessHours"]["tuesday"].is_null());
    assert_eq!(s["timeZone"], "Europe/Madrid");
    assert_eq!(s["optOutKeywords"], json!(["BAJA", "STOP"]));
    assert_eq!(s["autoAssign"], true);
    assert_eq!(s["defaultLanguage"], "es_ES");
    assert_eq!(s["billingEmail"], "billing@acme.test");
    let again: Value = app.get("/api/settings", Some(&agent)).await.json().await.unwrap();
    assert_eq!(again, s);

    // The stored keys are the ones the webhook processor reads; the tenant view follows.
    let t =
        tenants::Entity::find_by_id(a.tenant_id.parse::<Uuid>().unwrap()).one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(t.settings["optOutKeywords"], json!(["BAJA", "STOP"]));
    assert_eq!(t.settings["autoAssign"], json!(true));
    let me: Value = app.get("/api/auth/me", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(me["tenant"]["name"], "Acme Coffee");
    assert_eq!(me["tenant"]["theme"]["color"], "#ff8800");

    // Partial change; null clears.
    let res = app
        .patch(
            "/api/settings",
            &json!({"theme": {"logoUrl": null}, "businessHours": null, "billingEmail": null}),
            Some(&a.access),
        )
        .await;
    let s: Value = res.json().await.unwrap();
    assert!(s["theme"]["logoUrl"].is_null());
    assert_eq!(s["theme"]["name"], "Acme Dark");
    assert!(s["businessHours"].is_null());
    assert!(s["billingEmail"].is_null());
    assert_eq!(s["timeZone"], "Europe/Madrid");

    // Audited with the keys that changed; a no-op change is not.
    app.patch("/api/settings", &json!({"autoAssign": true}), Some(&a.access)).await;
    let entries = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("settings.update"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    let mut changed: Vec<Value> = entries.iter().map(|e| e.details["changed"].clone()).collect();
    changed.sort_by_key(|c| c.as_array().unwrap().len());
    assert_eq!(changed[0], json!(["theme", "businessHours", "billingEmail"]));
    assert_eq!(
        changed[1],
        json!([
            "name",
            "theme",
            "businessHours",
            "timeZone",
            "optOutKeywords",
            "autoAssign",
            "defaultLanguage",
            "billingEmail"
        ])
    );
}

#[tokio::test]
async fn every_invalid_field_is_named() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let res = app
        .patch(
            "/api/settings",
            &json!({
                "name": " ",
                "theme": {"color": "red", "name": "", "logoUrl": "http://cdn.acme.test/logo.png"},
                "businessHours": {"monday": {"open": "18:00", "close": "09:00"}, "friday": {"open": "9am"}, "someday": null},
                "timeZone": "Mars/Olympus",
                "optOutKeywords": [],
                "defaultLanguage": "english",
                "billingEmail": "nope"
            }),
            Some(&a.access),
        )
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields: Vec<&str> =
        b["error"]["details"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        vec![
            "name",
            "theme.color",
            "theme.name",
            "theme.logoUrl",
            "businessHours.someday",
            "businessHours.monday.close",
            "businessHours.friday.open",
            "businessHours.friday.close",
            "timeZone",
            "optOutKeywords",
            "defaultLanguage",
            "billingEmail",
        ]
    );
    let too_many: Vec<String> = (0..21).map(|i| format!("K{i}")).collect();
    let res = app.patch("/api/settings", &json!({"optOutKeywords": too_many}), Some(&a.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.patch("/api/settings", &json!({"optOutKeywords": ["x".repeat(31)]}), Some(&a.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.patch("/api/settings", &json!({"autoAssign": "yes"}), Some(&a.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    // Nothing was stored.
    let s: Value = app.get("/api/settings", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(s["name"], "Acme");
}

#[tokio::test]
async fn settings_belong_to_one_tenant_and_drive_opt_outs() {
    const SECRET: &str = "settings-secret";
    let app =
        spawn_app_with(&[("SWITCHBOARD_META_APP_SECRET", SECRET), ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1")])
            .await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    let res =
        app.patch("/api/settings", &json!({"name": "Beta Two", "optOutKeywords": ["BAJA"]}), Some(&b.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Value = app.get("/api/settings", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(s["name"], "Acme");
    assert_eq!(s["optOutKeywords"], json!(["STOP", "UNSUBSCRIBE"]));

    // B's keyword opts B's contact out; the same word means nothing to A.
    app.create_account(&b.access, "3001", None).await;
    app.create_account(&a.access, "3002", None).await;
    app.inbound_conversation("3001", SECRET, "15550000101", "wamid.set1").await;
    app.inbound_conversation("3002", SECRET, "15550000102", "wamid.set2").await;
    let body = |pn: &str, from: &str, id: &str| {
        crate::helpers::envelope(pn, crate::helpers::text_message(from, id, "baja", chrono::Utc::now().timestamp()))
    };
    app.post_webhook(&body("3001", "15550000101", "wamid.set3"), SECRET).await;
    app.post_webhook(&body("3002", "15550000102", "wamid.set4"), SECRET).await;
    wait_for("B's contact opted out", || async {
        contacts::Entity::find()
            .filter(contacts::Column::WaId.eq("15550000101"))
            .filter(contacts::Column::OptedOut.eq(true))
            .one(&app.state.db)
            .await
            .unwrap()
    })
    .await;
    wait_for("A's second message stored", || async {
        switchboard::entities::messages::Entity::find()
            .filter(switchboard::entities::messages::Column::WaMessageId.eq("wamid.set4"))
            .one(&app.state.db)
            .await
            .unwrap()
    })
    .await;
    let c = contacts::Entity::find().filter(contacts::Column::WaId.eq("15550000102")).one(&app.state.db).await.unwrap();
    assert!(!c.unwrap().opted_out);
}
