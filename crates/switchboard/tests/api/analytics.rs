//! Analytics on a known fixture: rows inserted directly, figures checked exactly.

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use switchboard::entities::enums::{ConversationStatus, Direction, MessageStatus, Role};
use switchboard::entities::{contacts, conversations, users};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, spawn_app};

fn at(day: (u32, u32), h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, day.0, day.1, h, m, s).unwrap()
}

struct Fixture {
    tenant: Uuid,
    account: Uuid,
}

impl Fixture {
    async fn new(app: &TestApp, token: &str, tenant: &str) -> Self {
        let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(token)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let account: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
        let tenant: Uuid = tenant.parse().unwrap();
        Self { tenant, account }
    }

    async fn conversation(
        &self,
        app: &TestApp,
        created: DateTime<Utc>,
        assignee: Option<Uuid>,
        first_response: Option<DateTime<Utc>>,
        resolved: Option<DateTime<Utc>>,
    ) -> Uuid {
        let now = switchboard::db::now();
        let contact = contacts::ActiveModel {
            id: Set(switchboard::db::new_id()),
            tenant_id: Set(self.tenant),
            wa_id: Set(Some(format!("1555{}", &Uuid::new_v4().simple().to_string()[..7]))),
            user_id: Set(None),
            profile_name: Set(None),
            username: Set(None),
            name: Set(Some("Customer".into())),
            opted_out: Set(false),
            opted_out_at: Set(None),
            opt_out_source: Set(None),
            tags: Set(json!([])),
            attributes: Set(json!({})),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(app.state.writer())
        .await
        .unwrap();
        conversations::ActiveModel {
            id: Set(switchboard::db::new_id()),
            tenant_id: Set(self.tenant),
            contact_id: Set(contact.id),
            whatsapp_account_id: Set(self.account),
            status: Set(if resolved.is_some() { ConversationStatus::Resolved } else { ConversationStatus::Open }),
            assignee_id: Set(assignee),
            tags: Set(json!([])),
            last_inbound_at: Set(Some(created)),
            last_message_at: Set(created),
            last_message_preview: Set(None),
            unread_count: Set(0),
            first_response_at: Set(first_response),
            resolved_at: Set(resolved),
            created_at: Set(created),
            updated_at: Set(created),
        }
        .insert(app.state.writer())
        .await
        .unwrap()
        .id
    }

    #[allow(clippy::too_many_arguments)]
    async fn message(
        &self,
        app: &TestApp,
        conv: Uuid,
        dir: Direction,
        status: MessageStatus,
        created: DateTime<Utc>,
        sender: Option<Uuid>,
        sent: bool,
        error: Option<i32>,
    ) {
        let mut m =
            switchboard::messages::new_row(self.tenant, conv, dir, "text", json!({"body": "x"}), status, created);
        m.sender_user_id = Set(sender);
        m.sent_at = Set(sent.then_some(created));
        m.error_code = Set(error);
        m.insert(app.state.writer()).await.unwrap();
    }
}

async fn user_id(app: &TestApp, email: &str) -> Uuid {
    users::Entity::find().filter(users::Column::Email.eq(email)).one(&app.state.db).await.unwrap().unwrap().id
}

const RANGE: &str = "from=2026-03-01&to=2026-03-31";

#[tokio::test]
async fn summary_and_agent_figures_on_a_known_fixture() {
    use Direction::{Inbound, Outbound};
    use MessageStatus as S;
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let billing = app.user_with_role(&admin.tenant_id, "bill@acme.test", Role::BillingAdmin).await;
    app.user_with_role(&admin.tenant_id, "bob@acme.test", Role::Agent).await;
    let ana = user_id(&app, "ana@acme.test").await;
    let bob = user_id(&app, "bob@acme.test").await;
    let f = Fixture::new(&app, &admin.access, &admin.tenant_id).await;

    // Opened in March: first responses 60 s, 150 s (from the first inbound, 30 s after creation), 300 s; one none.
    let c1 = f
        .conversation(&app, at((3, 2), 10, 0, 0), Some(ana), Some(at((3, 2), 10, 1, 0)), Some(at((3, 2), 11, 0, 0)))
        .await;
    let c2 = f
        .conversation(&app, at((3, 3), 9, 0, 0), Some(bob), Some(at((3, 3), 9, 3, 0)), Some(at((3, 3), 11, 0, 0)))
        .await;
    let c3 = f.conversation(&app, at((3, 4), 8, 0, 0), Some(bob), Some(at((3, 4), 8, 5, 0)), None).await;
    let c4 = f.conversation(&app, at((3, 5), 12, 0, 0), None, None, None).await;
    // Opened in February, resolved on March 1st (two days): counts as resolved, not opened.
    let c0 = f
        .conversation(&app, at((2, 27), 0, 0, 0), Some(ana), Some(at((2, 27), 0, 0, 10)), Some(at((3, 1), 0, 0, 0)))
        .await;
    // Opened at the end bound: outside.
    let c5 = f.conversation(&app, at((4, 1), 0, 0, 0), Some(bob), Some(at((4, 1), 0, 0, 1)), None).await;

    f.message(&app, c1, Inbound, S::Received, at((3, 2), 10, 0, 0), None, false, None).await;
    f.message(&app, c2, Inbound, S::Received, at((3, 3), 9, 0, 30), None, false, None).await;
    f.message(&app, c3, Inbound, S::Received, at((3, 4), 8, 0, 0), None, false, None).await;
    f.message(&app, c4, Inbound, S::Received, at((3, 5), 12, 0, 0), None, false, None).await;
    f.message(&app, c0, Inbound, S::Received, at((2, 27), 0, 0, 0), None, false, None).await;
    f.message(&app, c5, Inbound, S::Received, at((4, 1), 0, 0, 0), None, false, None).await;

    f.message(&app, c1, Outbound, S::Read, at((3, 2), 10, 1, 0), Some(ana), true, None).await;
    f.message(&app, c1, Outbound, S::Failed, at((3, 2), 10, 2, 0), Some(ana), false, Some(131047)).await;
    f.message(&app, c2, Outbound, S::Delivered, at((3, 3), 9, 3, 0), Some(bob), true, None).await;
    f.message(&app, c2, Outbound, S::Failed, at((3, 3), 9, 4, 0), Some(bob), false, Some(131047)).await;
    f.message(&app, c3, Outbound, S::Sent, at((3, 4), 8, 5, 0), Some(bob), true, None).await;
    f.message(&app, c3, Outbound, S::Failed, at((3, 4), 8, 6, 0), Some(bob), true, Some(131026)).await;
    f.message(&app, c4, Outbound, S::Queued, at((3, 5), 12, 1, 0), None, false, None).await;
    f.message(&app, c5, Outbound, S::Read, at((4, 1), 0, 0, 1), Some(bob), true, None).await;

    // Another tenant's rows in the same range are not counted.
    let other = app.register("Globex", "gus@globex.test").await;
    let g = Fixture::new(&app, &other.access, &other.tenant_id).await;
    let gc = g.conversation(&app, at((3, 2), 10, 0, 0), None, Some(at((3, 2), 10, 0, 5)), None).await;
    g.message(&app, gc, Inbound, S::Received, at((3, 2), 10, 0, 0), None, false, None).await;
    g.message(&app, gc, Outbound, S::Read, at((3, 2), 10, 0, 5), None, true, None).await;

    let expected = json!({
        "from": "2026-03-01", "to": "2026-03-31",
        "messagesIn": 4, "messagesOut": 7,
        "conversationsOpened": 4, "conversationsResolved": 3,
        "medianFirstResponseSecs": 150.0, "p90FirstResponseSecs": 270.0,
        "medianResolutionSecs": 7200.0,
        "outboundSent": 4, "outboundDelivered": 2, "outboundRead": 1,
        "deliveryRate": 0.5, "readRate": 0.25,
        "failures": [{"errorCode": 131047, "count": 2}, {"errorCode": 131026, "count": 1}],
    });
    for token in [&admin.access, &billing] {
        let res = app.get(&format!("/api/analytics/summary?{RANGE}"), Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), expected);
    }

    let res = app.get(&format!("/api/analytics/agents?{RANGE}"), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let agents: Value = res.json().await.unwrap();
    // A billing admin reads the same per-agent figures.
    let res = app.get(&format!("/api/analytics/agents?{RANGE}"), Some(&billing)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), agents);
    let figures: Vec<(String, i64, i64, Value)> = agents["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["email"].as_str().unwrap().to_string(),
                a["conversationsHandled"].as_i64().unwrap(),
                a["messagesSent"].as_i64().unwrap(),
                a["medianFirstResponseSecs"].clone(),
            )
        })
        .collect();
    assert_eq!(
        figures,
        vec![("bob@acme.test".into(), 2, 4, json!(225.0)), ("ana@acme.test".into(), 1, 2, json!(60.0))]
    );

    let res = app.get(&format!("/api/analytics/summary?{RANGE}"), Some(&other.access)).await;
    let theirs: Value = res.json().await.unwrap();
    assert_eq!((theirs["messagesIn"].as_i64(), theirs["messagesOut"].as_i64()), (Some(1), Some(1)));
    assert_eq!(theirs["medianFirstResponseSecs"], 5.0);
    let res = app.get(&format!("/api/analytics/agents?{RANGE}"), Some(&other.access)).await;
    let theirs: Value = res.json().await.unwrap();
    assert!(theirs["data"].as_array().unwrap().iter().all(|a| a["email"] == "gus@globex.test"), "{theirs}");
}

#[tokio::test]
async fn an_empty_range_has_no_rates_and_roles_are_enforced() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&admin.tenant_id, "agent@acme.test", Role::Agent).await;
    let root = app.system_admin().await;

    let empty: Value =
        app.get(&format!("/api/analytics/summary?{RANGE}"), Some(&admin.access)).await.json().await.unwrap();
    assert_eq!(empty["messagesIn"], 0);
    assert!(empty["deliveryRate"].is_null() && empty["medianFirstResponseSecs"].is_null());
    assert_eq!(empty["failures"], json!([]));

    for path in ["/api/analytics/summary", "/api/analytics/agents"] {
        assert_error(app.get(path, Some(&agent)).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(app.get(path, Some(&root)).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(app.get(path, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let res = app.get(&format!("{path}?from=2026-13-01&to=2026-01-01"), Some(&admin.access)).await;
        let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(b["error"]["details"]["fields"][0]["field"], "from");
        let res = app.get(&format!("{path}?from=2026-03-02&to=2026-03-01"), Some(&admin.access)).await;
        let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(b["error"]["details"]["fields"][0]["field"], "to");
    }
}
