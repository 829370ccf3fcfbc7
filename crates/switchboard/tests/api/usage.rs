//! Plans and usage: the catalogue, daily rows on a known data set, month-to-date against the plan,
//! the CSV export, roles and tenant isolation.

use chrono::{Datelike, NaiveDate, Utc};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use switchboard::entities::daily_usage;
use switchboard::entities::enums::Role;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, spawn_app};

/// Inserts a day row: (in, out, marketing, utility, authentication, service, billable, opened, agents).
async fn day(app: &TestApp, tenant: &str, date: NaiveDate, v: [i64; 9]) {
    daily_usage::ActiveModel {
        tenant_id: Set(tenant.parse::<Uuid>().unwrap()),
        day: Set(date),
        messages_in: Set(v[0]),
        messages_out: Set(v[1]),
        marketing: Set(v[2]),
        utility: Set(v[3]),
        authentication: Set(v[4]),
        service: Set(v[5]),
        billable: Set(v[6]),
        conversations_opened: Set(v[7]),
        active_agents: Set(v[8]),
    }
    .insert(app.state.writer())
    .await
    .unwrap();
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn the_plan_catalogue() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let root = app.system_admin().await;
    for token in [&a.access, &agent, &billing, &root] {
        let res = app.get("/api/plans", Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let b: Value = res.json().await.unwrap();
        let names: Vec<&str> = b["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["free", "starter", "pro", "enterprise"]);
        assert_eq!(
            b["data"][1],
            json!({"name": "starter", "messagesPerMinute": 600, "monthlyMessages": 50000, "maxAgents": 10,
                   "maxNumbers": 3, "default": true})
        );
    }
    assert_error(app.get("/api/plans", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn daily_rows_totals_and_month_to_date_on_a_known_data_set() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    day(&app, &a.tenant_id, d("2026-01-01"), [10, 20, 5, 3, 2, 10, 10, 4, 2]).await;
    day(&app, &a.tenant_id, d("2026-01-03"), [1, 2, 0, 1, 0, 1, 1, 1, 3]).await;
    day(&app, &a.tenant_id, d("2026-01-04"), [100, 100, 100, 0, 0, 0, 100, 9, 9]).await;
    day(&app, &b.tenant_id, d("2026-01-02"), [7, 7, 7, 0, 0, 0, 7, 7, 7]).await;
    // This month: 500 of the starter plan's 50,000 (the first of the month is always this month).
    let today = Utc::now().date_naive();
    let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    day(&app, &a.tenant_id, first, [0, 500, 0, 0, 0, 0, 0, 0, 1]).await;
    day(&app, &b.tenant_id, today, [0, 9999, 0, 0, 0, 0, 0, 0, 1]).await;

    let res = app.get("/api/usage?from=2026-01-01&to=2026-01-03", Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["from"], "2026-01-01");
    assert_eq!(r["to"], "2026-01-03");
    assert_eq!(r["plan"], "starter");
    let days = r["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(
        days[0],
        json!({"date": "2026-01-01", "messagesIn": 10, "messagesOut": 20, "marketing": 5, "utility": 3,
               "authentication": 2, "service": 10, "billable": 10, "conversationsOpened": 4, "activeAgents": 2})
    );
    // B's row on the 2nd is not A's: a day without traffic is zeros.
    assert_eq!(days[1]["date"], "2026-01-02");
    assert_eq!(days[1]["messagesIn"], 0);
    assert_eq!(days[1]["activeAgents"], 0);
    assert_eq!(days[2]["messagesOut"], 2);
    assert_eq!(
        r["totals"],
        json!({"messagesIn": 11, "messagesOut": 22, "marketing": 5, "utility": 4, "authentication": 2,
               "service": 11, "billable": 11, "conversationsOpened": 5, "activeAgents": 3})
    );
    assert_eq!(r["monthToDate"], json!({"messagesOut": 500, "limit": 50000, "percent": 1.0}));

    // The default range is this month up to today.
    let r: Value = app.get("/api/usage", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(r["from"], first.to_string());
    assert_eq!(r["to"], today.to_string());
    assert_eq!(r["totals"]["messagesOut"], 500);
    let r: Value = app.get("/api/usage", Some(&b.access)).await.json().await.unwrap();
    assert_eq!(r["totals"]["messagesOut"], 9999);
    assert_eq!(r["monthToDate"]["percent"], 20.0);
}

#[tokio::test]
async fn csv_export_has_a_header_and_every_day() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    day(&app, &a.tenant_id, d("2026-02-28"), [1, 2, 3, 4, 5, 6, 7, 8, 9]).await;
    day(&app, &b.tenant_id, d("2026-03-01"), [9, 9, 9, 9, 9, 9, 9, 9, 9]).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let res = app.get("/api/usage.csv?from=2026-02-28&to=2026-03-01", Some(&billing)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(
        res.headers()["content-disposition"].to_str().unwrap(),
        "attachment; filename=\"usage-2026-02-28-2026-03-01.csv\""
    );
    let body = res.text().await.unwrap();
    assert_eq!(
        body,
        "date,messages_in,messages_out,marketing,utility,authentication,service,billable,conversations_opened,active_agents\n\
         2026-02-28,1,2,3,4,5,6,7,8,9\n\
         2026-03-01,0,0,0,0,0,0,0,0,0\n"
    );
    let res = app.get("/api/usage.csv?from=2026-03-02&to=2026-03-01", Some(&billing)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn usage_is_for_admins_and_billing_admins_with_checked_dates() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let root = app.system_admin().await;
    for path in ["/api/usage", "/api/usage.csv"] {
        assert_eq!(app.get(path, Some(&a.access)).await.status(), StatusCode::OK);
        assert_eq!(app.get(path, Some(&billing)).await.status(), StatusCode::OK);
        assert_error(app.get(path, Some(&agent)).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(app.get(path, Some(&root)).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(app.get(path, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let field = |b: Value| b["error"]["details"]["fields"].clone();
    let cases = [
        ("from=2026-13-01&to=2026-01-01", json!(["from"])),
        ("from=2026-1-1", json!(["from"])),
        ("from=x&to=y", json!(["from", "to"])),
        ("from=2026-02-02&to=2026-02-01", json!(["to"])),
        ("from=2026-01-01&to=2027-01-02", json!(["to"])),
    ];
    for (q, want) in cases {
        let res = app.get(&format!("/api/usage?{q}"), Some(&a.access)).await;
        let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        let got: Vec<Value> = field(b).as_array().unwrap().iter().map(|f| f["field"].clone()).collect();
        assert_eq!(Value::Array(got), want, "{q}");
    }
    // 366 days is the most.
    let res = app.get("/api/usage?from=2026-01-01&to=2027-01-02", Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app.get("/api/usage?from=2024-01-01&to=2024-12-31", Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["days"].as_array().unwrap().len(), 366);
}

#[tokio::test]
async fn active_agents_are_the_users_who_sent_that_day() {
    use switchboard::entities::enums::{Direction, MessageStatus};
    use switchboard::entities::messages;
    const SECRET: &str = "usage-secret";
    let app = crate::helpers::spawn_app_with(&[
        ("SWITCHBOARD_META_APP_SECRET", SECRET),
        ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1"),
    ])
    .await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Beta", "ben@beta.test").await;
    app.create_account(&a.access, "7001", None).await;
    app.create_account(&b.access, "7002", None).await;
    let conv_a = app.inbound_conversation("7001", SECRET, "15550000301", "wamid.use1").await;
    let conv_b = app.inbound_conversation("7002", SECRET, "15550000302", "wamid.use2").await;
    let (u1, u2) = (Uuid::now_v7(), Uuid::now_v7());
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    // (tenant, conversation, sender, time): Jan 1 two senders, Jan 2 one sender twice and an
    // automated send, Jan 3 only B's.
    let sends = [
        (&a.tenant_id, conv_a, Some(u1), "2026-01-01T00:00:00Z"),
        (&a.tenant_id, conv_a, Some(u2), "2026-01-01T23:59:59Z"),
        (&a.tenant_id, conv_a, Some(u1), "2026-01-02T08:00:00Z"),
        (&a.tenant_id, conv_a, Some(u1), "2026-01-02T09:00:00Z"),
        (&a.tenant_id, conv_a, None, "2026-01-02T10:00:00Z"),
        (&b.tenant_id, conv_b, Some(u2), "2026-01-03T10:00:00Z"),
        (&a.tenant_id, conv_a, Some(u2), "2026-01-04T00:00:00Z"),
    ];
    for (tenant, conv, sender, t) in sends {
        messages::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.parse().unwrap()),
            conversation_id: Set(conv),
            direction: Set(Direction::Outbound),
            msg_type: Set("text".into()),
            content: Set(json!({"body": "hi"})),
            raw: Set(None),
            wa_message_id: Set(None),
            client_message_id: Set(None),
            status: Set(MessageStatus::Sent),
            sent_at: Set(None),
            delivered_at: Set(None),
            read_at: Set(None),
            played_at: Set(None),
            failed_at: Set(None),
            error_code: Set(None),
            error_title: Set(None),
            error_details: Set(None),
            reply_to_id: Set(None),
            reply_to_wa_id: Set(None),
            reply_to_from: Set(None),
            origin: Set(None),
            sender_user_id: Set(sender),
            billed: Set(false),
            send_started_at: Set(None),
            created_at: Set(at(t)),
            updated_at: Set(at(t)),
        }
        .insert(app.state.writer())
        .await
        .unwrap();
    }
    let r: Value = app.get("/api/usage?from=2026-01-01&to=2026-01-03", Some(&a.access)).await.json().await.unwrap();
    let agents: Vec<i64> = r["days"].as_array().unwrap().iter().map(|d| d["activeAgents"].as_i64().unwrap()).collect();
    assert_eq!(agents, vec![2, 1, 0]);
    assert_eq!(r["totals"]["activeAgents"], 2);
    let csv = app.get("/api/usage.csv?from=2026-01-02&to=2026-01-02", Some(&a.access)).await.text().await.unwrap();
    assert!(csv.ends_with("\n2026-01-02,0,0,0,0,0,0,0,0,1\n"), "{csv}");
}
