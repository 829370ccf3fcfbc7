//! The platform operator: tenants with usage, plan and limit changes, suspension end to end,
//! platform totals.

use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;
use switchboard::entities::{audit_log, daily_usage, messages};
use uuid::Uuid;

use crate::helpers::{PASSWORD, assert_error, spawn_app, spawn_app_with, wait_for};

async fn usage_today(app: &crate::helpers::TestApp, tenant: &str, messages_in: i64, messages_out: i64) {
    daily_usage::ActiveModel {
        tenant_id: Set(tenant.parse::<Uuid>().unwrap()),
        day: Set(Utc::now().date_naive()),
        messages_in: Set(messages_in),
        messages_out: Set(messages_out),
        marketing: Set(0),
        utility: Set(0),
        authentication: Set(0),
        service: Set(0),
        billable: Set(0),
        conversations_opened: Set(0),
        active_agents: Set(0),
    }
    .insert(app.state.writer())
    .await
    .unwrap();
}

#[tokio::test]
async fn only_system_admins_operate_the_platform() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let one = format!("/api/admin/tenants/{}", a.tenant_id);
    for token in [&a.access, &agent, &billing] {
        for path in ["/api/admin/tenants", one.as_str(), "/api/admin/stats"] {
            assert_error(app.get(path, Some(token)).await, StatusCode::FORBIDDEN, "forbidden").await;
        }
        let res = app.patch(&one, &json!({"status": "suspended"}), Some(token)).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for path in ["/api/admin/tenants", one.as_str(), "/api/admin/stats"] {
        assert_error(app.get(path, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = app.patch(&one, &json!({"status": "suspended"}), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let root = app.system_admin().await;
    let res = app.get(&format!("/api/admin/tenants/{}", Uuid::now_v7()), Some(&root)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res =
        app.patch(&format!("/api/admin/tenants/{}", Uuid::now_v7()), &json!({"status": "active"}), Some(&root)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn tenants_are_listed_with_their_size_and_usage() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    app.create_account(&a.access, "4001", None).await;
    usage_today(&app, &a.tenant_id, 3, 1000).await;
    let root = app.system_admin().await;

    let list: Value = app.get("/api/admin/tenants", Some(&root)).await.json().await.unwrap();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], b.tenant_id.as_str(), "newest first");
    let acme = &data[1];
    assert_eq!(acme["name"], "Acme");
    assert_eq!(acme["plan"], "starter");
    assert_eq!(acme["users"], 2);
    assert_eq!(acme["numbers"], 1);
    assert_eq!(acme["monthToDate"], json!({"messagesOut": 1000, "limit": 50000, "percent": 2.0}));
    assert_eq!(data[0]["users"], 1);
    assert_eq!(data[0]["numbers"], 0);
    assert_eq!(data[0]["monthToDate"]["messagesOut"], 0);

    let one: Value = app.get(&format!("/api/admin/tenants/{}", a.tenant_id), Some(&root)).await.json().await.unwrap();
    assert_eq!(&one, acme);
    let res = app.get("/api/admin/tenants?status=paused", Some(&root)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let active: Value = app.get("/api/admin/tenants?status=active&limit=1", Some(&root)).await.json().await.unwrap();
    assert_eq!(active["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn plans_and_limits_are_changed_validated_and_audited() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let root = app.system_admin().await;
    let path = format!("/api/admin/tenants/{}", a.tenant_id);

    let res = app.patch(&path, &json!({"plan": "pro"}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["plan"], "pro");
    assert_eq!(
        t["limits"],
        json!({"messagesPerMinute": 6000, "monthlyMessages": 1000000, "maxAgents": 50, "maxNumbers": 10})
    );
    let res = app.patch(&path, &json!({"plan": "free", "limits": {"maxAgents": 7}}), Some(&root)).await;
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["limits"], json!({"messagesPerMinute": 60, "monthlyMessages": 1000, "maxAgents": 7, "maxNumbers": 1}));
    let res = app.patch(&path, &json!({"limits": {"monthlyMessages": 5000}}), Some(&root)).await;
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["plan"], "free");
    assert_eq!(t["limits"]["monthlyMessages"], 5000);
    assert_eq!(t["limits"]["maxAgents"], 7);
    // The tenant sees its new limits.
    let me: Value = app.get("/api/auth/me", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(me["tenant"]["limits"]["monthlyMessages"], 5000);

    let res = app
        .patch(
            &path,
            &json!({"plan": "platinum", "limits": {"messagesPerMinute": 0, "monthlyMessages": -1, "maxAgents": 3_000_000_000i64, "maxNumbers": 2}, "status": "paused"}),
            Some(&root),
        )
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields: Vec<&str> =
        b["error"]["details"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        vec!["plan", "limits.messagesPerMinute", "limits.monthlyMessages", "limits.maxAgents", "status"]
    );

    let entries = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("admin.tenant_update"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|e| e.tenant_id == Some(a.tenant_id.parse().unwrap())));
    let first = entries.iter().find(|e| e.details["plan"]["to"] == "pro").unwrap();
    assert_eq!(first.details["plan"]["from"], "starter");
    assert_eq!(first.details["limits"]["to"]["maxAgents"], 50);
    // The tenant's admin sees it in their audit log.
    let log: Value = app.get("/api/audit-log?action=admin.tenant_update", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(log["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn suspension_end_to_end() {
    const SECRET: &str = "suspend-secret";
    let app =
        spawn_app_with(&[("SWITCHBOARD_META_APP_SECRET", SECRET), ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1")])
            .await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    app.create_account(&a.access, "5001", None).await;
    let conv = app.inbound_conversation("5001", SECRET, "15550000201", "wamid.sus1").await;
    let invited = app.invite(&a.access, "cy@acme.test", "AGENT").await;
    let root = app.system_admin().await;
    let path = format!("/api/admin/tenants/{}", a.tenant_id);

    let res = app.patch(&path, &json!({"status": "suspended"}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "suspended");

    // Its users cannot sign in or refresh.
    for email in ["ana@acme.test", "agent@acme.test"] {
        let res = app.post("/api/auth/login", &json!({"email": email, "password": PASSWORD}), None).await;
        assert_error(res, StatusCode::FORBIDDEN, "tenant_suspended").await;
    }
    let res = app.post("/api/auth/refresh", &json!({"refreshToken": a.refresh}), None).await;
    assert_error(res, StatusCode::FORBIDDEN, "tenant_suspended").await;
    // Nor can an invitation be accepted (the link stays valid for after the reactivation).
    assert_error(app.accept_invite(&invited).await, StatusCode::FORBIDDEN, "tenant_suspended").await;
    // Its sends are refused (an access token issued before still authenticates for 15 minutes).
    let text = json!({"type": "text", "text": {"body": "hello"}});
    for token in [&a.access, &agent] {
        let res = app.post(&format!("/api/conversations/{conv}/messages"), &text, Some(token)).await;
        assert_error(res, StatusCode::FORBIDDEN, "tenant_suspended").await;
    }
    // Its webhooks are still stored and processed.
    let body = crate::helpers::envelope(
        "5001",
        crate::helpers::text_message("15550000201", "wamid.sus2", "still there?", Utc::now().timestamp()),
    );
    assert_eq!(app.post_webhook(&body, SECRET).await.status(), StatusCode::OK);
    wait_for("inbound message of a suspended tenant", || async {
        messages::Entity::find()
            .filter(messages::Column::WaMessageId.eq("wamid.sus2"))
            .one(&app.state.db)
            .await
            .unwrap()
    })
    .await;
    // Other tenants are unaffected.
    let res = app.post("/api/auth/login", &json!({"email": "ben@beta.test", "password": PASSWORD}), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let _ = b;
    let stats: Value = app.get("/api/admin/stats", Some(&root)).await.json().await.unwrap();
    assert_eq!(stats["tenants"], json!({"total": 2, "active": 1, "suspended": 1}));

    // Reactivated: signing in and sending work again.
    let res = app.patch(&path, &json!({"status": "active"}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.post("/api/auth/login", &json!({"email": "ana@acme.test", "password": PASSWORD}), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.post(&format!("/api/conversations/{conv}/messages"), &text, Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(app.accept_invite(&invited).await.status(), StatusCode::OK);
    let entries = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("admin.tenant_update"))
        .all(&app.state.db)
        .await
        .unwrap();
    let mut statuses: Vec<String> =
        entries.iter().map(|e| e.details["status"]["to"].as_str().unwrap().to_string()).collect();
    statuses.sort();
    assert_eq!(statuses, vec!["active", "suspended"]);
}

/// A send accepted before the suspension but not yet sent is failed by the sender, not sent.
#[tokio::test]
async fn a_send_queued_before_the_suspension_is_not_sent() {
    let app = spawn_app_with(&[("SWITCHBOARD_RUN_WORKERS", "false")]).await;
    let a = app.register("Acme", "ana@acme.test").await;
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let account_id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let sim = &app.state.sandbox.as_ref().unwrap().sim;

    // The customer writes first (the 24-hour window opens); workers process it, then stop.
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(switchboard::startup::runner(&app.state, &app.ingest).run(cancel.clone()));
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{account_id}/sandbox/messages"),
            &json!({"from": "15551239999", "name": "Customer", "message": {"type": "text", "body": "hi"}}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let wamid = res.json::<Value>().await.unwrap()["waMessageId"].as_str().unwrap().to_string();
    let inbound = wait_for("inbound message", || async {
        messages::Entity::find()
            .filter(messages::Column::WaMessageId.eq(wamid.as_str()))
            .one(&app.state.db)
            .await
            .unwrap()
    })
    .await;
    cancel.cancel();
    run.await.unwrap();

    // Queued while no worker runs, then the tenant is suspended.
    let res = app
        .post(
            &format!("/api/conversations/{}/messages", inbound.conversation_id),
            &json!({"type": "text", "text": {"body": "queued"}}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let root = app.system_admin().await;
    let res =
        app.patch(&format!("/api/admin/tenants/{}", a.tenant_id), &json!({"status": "suspended"}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(switchboard::startup::runner(&app.state, &app.ingest).run(cancel.clone()));
    let failed = wait_for("the queued send failed", || async {
        let m = messages::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
        (m.status == switchboard::entities::enums::MessageStatus::Failed).then_some(m)
    })
    .await;
    cancel.cancel();
    run.await.unwrap();
    assert_eq!(failed.error_title.as_deref(), Some("tenant_suspended"));
    assert!(failed.wa_message_id.is_none());
    assert_eq!(sim.stats().sends_accepted, 0, "nothing reached Meta");
}

/// The plan's messages per minute (here set by the operator to 2) pace the tenant's sends: the
/// third of three goes back to the queue instead of reaching Meta at once.
#[tokio::test]
async fn the_plans_messages_per_minute_pace_the_sends() {
    use switchboard::entities::enums::MessageStatus;
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let root = app.system_admin().await;
    let res = app
        .patch(
            &format!("/api/admin/tenants/{}", a.tenant_id),
            &json!({"limits": {"messagesPerMinute": 2}}),
            Some(&root),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let account_id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{account_id}/sandbox/messages"),
            &json!({"from": "15551239998", "name": "Customer", "message": {"type": "text", "body": "hi"}}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let wamid = res.json::<Value>().await.unwrap()["waMessageId"].as_str().unwrap().to_string();
    let conv = wait_for("inbound message", || async {
        messages::Entity::find()
            .filter(messages::Column::WaMessageId.eq(wamid.as_str()))
            .one(&app.state.db)
            .await
            .unwrap()
    })
    .await
    .conversation_id;

    let mut ids = Vec::new();
    for i in 0..3 {
        let text = json!({"type": "text", "text": {"body": format!("reply {i}")}});
        let res = app.post(&format!("/api/conversations/{conv}/messages"), &text, Some(&a.access)).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    let sim = &app.state.sandbox.as_ref().unwrap().sim;
    wait_for("two sends at Meta", || async { (sim.stats().sends_accepted >= 2).then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(sim.stats().sends_accepted, 2, "the third waits for the plan's next minute cell");
    let mut queued = 0;
    for id in &ids {
        let m = messages::Entity::find_by_id(*id).one(&app.state.db).await.unwrap().unwrap();
        if m.status == MessageStatus::Queued {
            queued += 1;
        }
    }
    assert_eq!(queued, 1);
}

#[tokio::test]
async fn platform_totals() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    app.user_with_role(&b.tenant_id, "agent@beta.test", Role::Agent).await;
    app.create_account(&a.access, "6001", None).await;
    app.create_account(&b.access, "6002", None).await;
    usage_today(&app, &a.tenant_id, 5, 7).await;
    usage_today(&app, &b.tenant_id, 1, 2).await;
    let root = app.system_admin().await;
    let res = app.get("/api/admin/stats", Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["tenants"], json!({"total": 2, "active": 2, "suspended": 0}));
    assert_eq!(s["users"], 3);
    assert_eq!(s["activeUsers"], 3);
    assert_eq!(s["numbers"], 2);
    assert_eq!(s["today"], json!({"messagesIn": 6, "messagesOut": 9}));
    assert_eq!(s["month"], json!({"messagesIn": 6, "messagesOut": 9}));
    assert!(s["queues"].is_array());
}

/// The queue and webhook-event admin routes are the operator's: every tenant role (and a tenant's
/// `admin` API key) gets 403 and changes nothing, while the SYSTEM_ADMIN may use them.
#[tokio::test]
async fn tenant_users_cannot_list_or_retry_jobs_nor_list_or_replay_webhook_events() {
    use std::time::Duration;
    use switchboard::entities::enums::JobState;
    use switchboard::entities::{jobs, webhook_events};
    use switchboard::jobs::{self as q, NewJob, Outcome};
    const SECRET: &str = "ops-secret";
    let app = spawn_app_with(&[("SWITCHBOARD_RUN_WORKERS", "false"), ("SWITCHBOARD_META_APP_SECRET", SECRET)]).await;
    let a = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let res = app.post("/api/api-keys", &json!({"name": "CRM", "scopes": ["admin"]}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let key = res.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_string();

    // A dead job of the tenant, and a stored webhook event of its number.
    let db = app.state.writer();
    let tenant: Uuid = a.tenant_id.parse().unwrap();
    q::enqueue(db, NewJob::new("ops-queue", json!({})).tenant(tenant)).await.unwrap();
    let claimed = q::claim(db, "ops-queue", "w", 1, Duration::from_secs(60)).await.unwrap();
    let dead = Outcome::Dead { error: "bad".into() };
    q::finish_unsuccessfully(db, &claimed[0], "w", dead, Duration::ZERO, Duration::ZERO).await.unwrap();
    let job_id = claimed[0].id;
    app.create_account(&a.access, "8001", None).await;
    let body = crate::helpers::envelope(
        "8001",
        crate::helpers::text_message("15550008001", "wamid.ops", "hi", Utc::now().timestamp()),
    );
    assert_eq!(app.post_webhook(&body, SECRET).await.status(), StatusCode::OK);
    let event_id = webhook_events::Entity::find().one(&app.state.db).await.unwrap().unwrap().id;
    let jobs_before = app.count(jobs::Entity).await;

    let retry = format!("/api/admin/jobs/{job_id}/retry");
    let replay = format!("/api/admin/webhook-events/{event_id}/replay");
    for (who, token) in [("TENANT_ADMIN", &a.access), ("AGENT", &agent), ("BILLING_ADMIN", &billing), ("API key", &key)]
    {
        for path in ["/api/admin/jobs", "/api/admin/webhook-events"] {
            let res = app.get(path, Some(token)).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}: GET {path}");
            assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
        for path in [retry.as_str(), replay.as_str()] {
            let res = app.post(path, &json!({}), Some(token)).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}: POST {path}");
            assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
    }
    for path in ["/api/admin/jobs", "/api/admin/webhook-events"] {
        assert_error(app.get(path, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    for path in [retry.as_str(), replay.as_str()] {
        assert_error(app.post(path, &json!({}), None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // Nothing changed: the job is still dead and no replay was queued.
    let job = jobs::Entity::find_by_id(job_id).one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Dead);
    assert_eq!(app.count(jobs::Entity).await, jobs_before);

    // The same requests succeed for the operator (so the 403s come from the role).
    let root = app.system_admin().await;
    let list: Value = app.get("/api/admin/jobs", Some(&root)).await.json().await.unwrap();
    assert!(list["data"].as_array().unwrap().iter().any(|j| j["id"] == job_id));
    let events: Value = app.get("/api/admin/webhook-events", Some(&root)).await.json().await.unwrap();
    assert_eq!(events["data"][0]["id"], event_id.to_string());
    assert_eq!(app.post(&retry, &json!({}), Some(&root)).await.status(), StatusCode::OK);
    assert_eq!(app.post(&replay, &json!({}), Some(&root)).await.status(), StatusCode::ACCEPTED);
    let job = jobs::Entity::find_by_id(job_id).one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Pending);
    assert_eq!(app.count(jobs::Entity).await, jobs_before + 1, "the replay's job");
}
