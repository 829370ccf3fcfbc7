//! Campaigns end to end against meta-sim (issue #17, first part): an approved template to a tagged
//! audience with per-recipient parameters, opted-out contacts skipped, exactly one send per
//! recipient — also after a crash between creating a message and marking its recipient — state
//! changes that are safe to repeat, scheduling, and tenant isolation.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::{campaign_recipients, campaigns};

use crate::helpers::{Account, TestApp, wait_for};

struct Setup {
    app: TestApp,
    admin: Account,
    account_id: String,
    phone_number_id: String,
    template_id: String,
}

impl Setup {
    fn sim(&self) -> &meta_sim::MetaSim {
        &self.app.state.sandbox.as_ref().unwrap().sim
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app.post(path, &body, Some(&self.admin.access)).await
    }

    async fn campaign(&self, id: &str) -> Value {
        let res = self.app.get(&format!("/api/campaigns/{id}"), Some(&self.admin.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    async fn wait_state(&self, id: &str, state: &str) -> Value {
        wait_for(&format!("campaign {state}"), || async {
            let c = self.campaign(id).await;
            (c["state"] == state).then_some(c)
        })
        .await
    }

    /// meta-sim's accepted sends on the number, per recipient.
    fn sends(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for s in self.sim().sent_messages(&self.phone_number_id) {
            *out.entry(s.wa_id.clone()).or_default() += 1;
        }
        out
    }

    async fn create(&self, audience: Value, extra: Value) -> Value {
        let mut body = json!({
            "name": "Spring sale", "whatsappAccountId": self.account_id, "templateId": self.template_id,
            "variables": {"1": {"from": "name", "fallback": "there"}, "2": {"from": "constant", "value": "20"}},
            "audience": audience,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = self.post("/api/campaigns", body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

async fn setup_with(extra: &[(&str, &str)]) -> Setup {
    let app = crate::helpers::spawn_app_with(extra).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let acct: Value = res.json().await.unwrap();
    let sim = &app.state.sandbox.as_ref().unwrap().sim;
    sim.update_config(|c| c.template_review_delay = Duration::from_millis(30));
    let tpl = json!({
        "whatsappAccountId": acct["id"], "name": "spring_sale", "category": "MARKETING", "language": "en_US",
        "components": [{"type": "BODY", "text": "Hi {{1}}, {{2}}% off everything this week.",
                        "example": {"body_text": [["Ann", "20"]]}}]
    });
    let res = app.post("/api/templates", &tpl, Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let t: Value = res.json().await.unwrap();
    let template_id = t["id"].as_str().unwrap().to_string();
    wait_for("template approved", || async {
        let t: Value =
            app.get(&format!("/api/templates/{template_id}"), Some(&admin.access)).await.json().await.unwrap();
        (t["status"] == "APPROVED").then_some(())
    })
    .await;
    Setup {
        account_id: acct["id"].as_str().unwrap().into(),
        phone_number_id: acct["phoneNumberId"].as_str().unwrap().into(),
        template_id,
        app,
        admin,
    }
}

/// `n` contacts `+1555010{i:04}` named `Customer {i}`, tagged as given.
async fn import(s: &Setup, from: usize, n: usize, tags: &str) {
    let mut csv = String::from("phone,name,tags\n");
    for i in from..from + n {
        csv.push_str(&format!("+1555010{i:04},Customer {i},{tags}\n"));
    }
    let res = s.app.post_raw("/api/contacts/import", "text/csv", csv, Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn contact_id(s: &Setup, wa_id: &str) -> String {
    let res = s.app.get(&format!("/api/contacts?search={wa_id}"), Some(&s.admin.access)).await;
    let page: Value = res.json().await.unwrap();
    page["data"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_campaign_reaches_its_audience_once_each_with_their_own_values() {
    let s = setup().await;
    import(&s, 0, 25, "vip;spring").await;
    import(&s, 25, 5, "other").await;
    // Two of the audience opted out of marketing.
    for wa in ["15550100003", "15550100007"] {
        let id = contact_id(&s, wa).await;
        let res = s.app.patch(&format!("/api/contacts/{id}"), &json!({"optedOut": true}), Some(&s.admin.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let audience = json!({"tagsAny": ["VIP"], "tagsNone": ["other"]});
    let preview: Value = s.post("/api/campaigns/audience-preview", audience.clone()).await.json().await.unwrap();
    assert_eq!(preview["count"], 25, "{preview}");
    assert_eq!(preview["sample"].as_array().unwrap().len(), 10);

    let c = s.create(audience, json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["state"], "draft");
    // Two clicks on Start: one run.
    for _ in 0..2 {
        let res = s.post(&format!("/api/campaigns/{id}/start"), json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let done = s.wait_state(&id, "completed").await;
    let f = &done["funnel"];
    assert_eq!(f["recipients"], 25, "{done}");
    assert_eq!(f["skipped"], 2);
    assert_eq!(f["reasons"]["opted_out"], 2);
    // Every other recipient's message reaches meta-sim exactly once.
    let sends = wait_for("23 sends accepted", || async {
        let m = s.sends();
        (m.values().sum::<usize>() >= 23).then_some(m)
    })
    .await;
    assert_eq!(sends.len(), 23, "{sends:?}");
    assert!(sends.values().all(|n| *n == 1), "{sends:?}");
    assert!(!sends.contains_key("15550100003") && !sends.contains_key("15550100007"), "opted out");
    // The recipients as CSV, with their outcomes.
    let res = s.app.get(&format!("/api/campaigns/{id}/recipients.csv"), Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 26, "header + 25: {text}");
    assert!(lines[0].starts_with("contact_id,phone,name,state,reason"));
    assert_eq!(lines.iter().filter(|l| l.contains(",skipped,opted_out,")).count(), 2, "{text}");
    assert_eq!(lines.iter().filter(|l| l.contains(",queued,")).count(), 23, "{text}");
    assert!(!sends.contains_key("15550100026"), "not in the audience");
    // Each with its own name in the parameters.
    let sent = s.sim().sent_messages(&s.phone_number_id);
    let one = sent.iter().find(|m| m.wa_id == "15550100012").unwrap();
    let params = one.body["template"]["components"][0]["parameters"].to_string();
    assert!(params.contains("Customer 12") && params.contains("\"20\""), "{params}");
    // The funnel follows the messages: all accepted by Meta.
    let f = wait_for("funnel past queued", || async {
        let c = s.campaign(&id).await;
        (c["funnel"]["queued"] == 0).then_some(c["funnel"].clone())
    })
    .await;
    let past = f["sent"].as_u64().unwrap() + f["delivered"].as_u64().unwrap() + f["read"].as_u64().unwrap();
    assert_eq!(past, 23, "{f}");
    // The recipients list says why each was skipped.
    let skipped: Value = s
        .app
        .get(&format!("/api/campaigns/{id}/recipients?state=skipped"), Some(&s.admin.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(skipped["data"].as_array().unwrap().len(), 2);
    assert_eq!(skipped["data"][0]["reason"], "opted_out");

    // A crash after messages were created but before their recipients were marked: five of them
    // are pending again and a new run starts. It finds their messages and sends nothing more.
    let db = &s.app.state.db;
    let cid: uuid::Uuid = id.parse().unwrap();
    let queued = campaign_recipients::Entity::find()
        .filter(campaign_recipients::Column::CampaignId.eq(cid))
        .filter(campaign_recipients::Column::State.eq(switchboard::entities::enums::RecipientState::Queued))
        .all(db)
        .await
        .unwrap();
    let before: Vec<Option<uuid::Uuid>> = queued.iter().take(5).map(|r| r.message_id).collect();
    for r in queued.iter().take(5) {
        campaign_recipients::Entity::update_many()
            .col_expr(campaign_recipients::Column::State, sea_orm::sea_query::Expr::value("pending"))
            .col_expr(
                campaign_recipients::Column::MessageId,
                sea_orm::sea_query::Expr::value(Option::<uuid::Uuid>::None),
            )
            .filter(campaign_recipients::Column::Id.eq(r.id))
            .exec(db)
            .await
            .unwrap();
    }
    let mut c = campaigns::Entity::find_by_id(cid).one(db).await.unwrap().unwrap();
    campaigns::Entity::update_many()
        .col_expr(campaigns::Column::State, sea_orm::sea_query::Expr::value("running"))
        .col_expr(campaigns::Column::RunGeneration, sea_orm::sea_query::Expr::value(c.run_generation + 1))
        .filter(campaigns::Column::Id.eq(cid))
        .exec(db)
        .await
        .unwrap();
    c.run_generation += 1;
    switchboard::campaigns::service::enqueue_run(db, &c, None).await.unwrap();
    s.app.state.jobs_wakeup.wake(switchboard::jobs::queues::CAMPAIGN_RUN);
    s.wait_state(&id, "completed").await;
    let again = campaign_recipients::Entity::find()
        .filter(campaign_recipients::Column::CampaignId.eq(cid))
        .all(db)
        .await
        .unwrap();
    for (r, m) in queued.iter().take(5).zip(&before) {
        let now = again.iter().find(|x| x.id == r.id).unwrap();
        assert_eq!((now.state, &now.message_id), (switchboard::entities::enums::RecipientState::Queued, m));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.sends().values().sum::<usize>(), 23, "nothing sent twice");
}

#[tokio::test]
async fn states_change_safely_and_other_tenants_see_nothing() {
    let s = setup().await;
    import(&s, 0, 4, "vip").await;
    // Scheduled an hour ahead: started means scheduled; pause, resume runs it now.
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let c = s.create(json!({}), json!({"scheduledAt": at})).await;
    let id = c["id"].as_str().unwrap().to_string();
    let mut stream = s.app.subscribe(&s.admin.access, None).await;
    let started: Value = s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.json().await.unwrap();
    assert_eq!(started["state"], "scheduled");
    // Realtime (and outgoing webhooks): campaign.updated with the state.
    let e = stream.expect("campaign.updated", |d| d["state"] == "scheduled").await;
    assert_eq!(e.data["id"], id.as_str());
    assert!(s.sends().is_empty(), "not before its time");
    let res = s.post(&format!("/api/campaigns/{id}/pause?reason=checking%20the%20copy"), json!({})).await;
    let paused: Value = res.json().await.unwrap();
    assert_eq!((paused["state"].as_str(), paused["stateReason"].as_str()), (Some("paused"), Some("checking the copy")));
    // Resume twice: one run, everyone once.
    for _ in 0..2 {
        assert_eq!(s.post(&format!("/api/campaigns/{id}/resume"), json!({})).await.status(), StatusCode::OK);
    }
    s.wait_state(&id, "completed").await;
    stream.expect("campaign.updated", |d| d["state"] == "completed").await;
    let sends = wait_for("4 sends", || async {
        let m = s.sends();
        (m.values().sum::<usize>() >= 4).then_some(m)
    })
    .await;
    assert_eq!(sends.len(), 4);
    assert!(sends.values().all(|n| *n == 1));
    // A completed campaign cannot be paused or resumed: 409 with the reason.
    let res = s.post(&format!("/api/campaigns/{id}/pause"), json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "campaign_state");

    // A draft cancelled cannot start.
    let d = s.create(json!({"tagsAll": ["nobody"]}), json!({})).await;
    let did = d["id"].as_str().unwrap();
    assert_eq!(s.post(&format!("/api/campaigns/{did}/cancel"), json!({})).await.status(), StatusCode::OK);
    assert_eq!(s.post(&format!("/api/campaigns/{did}/start"), json!({})).await.status(), StatusCode::CONFLICT);

    // Bad input: a clear 422.
    let res = s.post("/api/campaigns", json!({"name": "x", "whatsappAccountId": s.account_id})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = s
        .post(
            "/api/campaigns",
            json!({"name": "x", "whatsappAccountId": s.account_id, "templateId": s.template_id,
                   "variables": {"1": {"from": "nowhere"}}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Another tenant: 404 on every id, and its own list is empty.
    let other = s.app.register("Other", "o@other.test").await;
    for path in [format!("/api/campaigns/{id}"), format!("/api/campaigns/{id}/recipients")] {
        assert_eq!(s.app.get(&path, Some(&other.access)).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for action in ["start", "pause", "resume", "cancel"] {
        let res = s.app.post(&format!("/api/campaigns/{id}/{action}"), &json!({}), Some(&other.access)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action}");
    }
    let list: Value = s.app.get("/api/campaigns", Some(&other.access)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let res = s.app.get(&format!("/api/campaigns/{id}/recipients.csv"), Some(&other.access)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Its contacts cannot be named in a campaign of the other tenant.
    let mine = contact_id(&s, "15550100001").await;
    let res = s.app.post("/api/campaigns/audience-preview", &json!({"contactIds": [mine]}), Some(&other.access)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn segments_pick_contacts_by_attribute_country_activity_and_conversation() {
    let s = setup().await;
    // Four German numbers and three US ones, with a tier and points.
    let csv = "phone,name,tags,tier,points\n\
               +4915110000001,Anna,vip,gold,150\n\
               +4915110000002,Ben,,silver,90\n\
               +4915110000003,Clara,vip,gold,40\n\
               +4915110000004,Dirk,,,\n\
               +12125550101,Ed,vip,gold,500\n\
               +12125550102,Fay,,silver,100\n\
               +12125550103,Gus,,,\n";
    let res = s.app.post_raw("/api/contacts/import", "text/csv", csv.to_string(), Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Anna and Ed write in (a conversation, an inbound message now); Ed's conversation is resolved.
    for (wa, name) in [("4915110000001", "Anna"), ("12125550101", "Ed")] {
        let res = s
            .post(
                &format!("/api/whatsapp-accounts/{}/sandbox/messages", s.account_id),
                json!({"from": wa, "name": name, "message": {"type": "text", "body": "hello"}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let convs = wait_for("two conversations", || async {
        let v: Value = s.app.get("/api/conversations?status=open", Some(&s.admin.access)).await.json().await.unwrap();
        (v["data"].as_array().unwrap().len() == 2).then_some(v)
    })
    .await;
    let ed = convs["data"].as_array().unwrap().iter().find(|c| c["contact"]["waId"] == "12125550101").unwrap();
    let res = s
        .app
        .patch(
            &format!("/api/conversations/{}", ed["id"].as_str().unwrap()),
            &json!({"status": "resolved"}),
            Some(&s.admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let count = |rules: Value| {
        let s = &s;
        async move {
            let res = s.post("/api/campaigns/audience-preview", json!({"rules": rules})).await;
            assert_eq!(res.status(), StatusCode::OK, "{rules}");
            let v: Value = res.json().await.unwrap();
            let mut names: Vec<String> =
                v["sample"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
            names.sort();
            (v["count"].as_u64().unwrap(), names)
        }
    };
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(count(json!({"field": "country", "op": "in", "value": ["DE"]})).await.0, 4);
    assert_eq!(
        count(json!({"all": [{"field": "country", "op": "in", "value": ["DE"]},
                             {"field": "attribute", "name": "points", "op": "gte", "value": 90}]}))
        .await,
        (2, names(&["Anna", "Ben"]))
    );
    assert_eq!(
        count(json!({"any": [{"field": "attribute", "name": "tier", "op": "equals", "value": "GOLD"},
                             {"field": "attribute", "name": "points", "op": "exists"}]}))
        .await
        .0,
        5
    );
    assert_eq!(
        count(json!({"field": "lastInboundAt", "op": "withinDays", "value": 1})).await,
        (2, names(&["Anna", "Ed"]))
    );
    assert_eq!(
        count(json!({"field": "conversationStatus", "op": "in", "value": ["resolved"]})).await,
        (1, names(&["Ed"]))
    );
    assert_eq!(count(json!({"field": "conversationStatus", "op": "in", "value": ["none"]})).await.0, 5);
    assert_eq!(
        count(json!({"all": [{"field": "tag", "op": "has", "value": "VIP"},
                             {"not": {"field": "country", "op": "in", "value": ["US"]}}]}))
        .await,
        (2, names(&["Anna", "Clara"]))
    );
    // Tag rules and a segment together: both hold.
    let res = s
        .post(
            "/api/campaigns/audience-preview",
            json!({"tagsAny": ["vip"], "rules": {"field": "attribute", "name": "points", "op": "lt", "value": 100}}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["count"], 1);

    // A wrong segment is a 422 that says where.
    let res = s
        .post(
            "/api/campaigns/audience-preview",
            json!({"rules": {"all": [{"field": "country", "op": "in", "value": ["DE"]},
                                     {"field": "attribute", "name": "points", "op": "gte", "value": "many"}]}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = res.json().await.unwrap();
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("all[1]: op \"gte\" needs a number"), "{e}");
    // Named contacts are instead of rules, not beside them.
    let anna = contact_id(&s, "4915110000001").await;
    let res = s
        .post(
            "/api/campaigns/audience-preview",
            json!({"contactIds": [anna], "rules": {"field": "optedOut", "op": "is", "value": false}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A campaign to a segment reaches exactly its members, and keeps the segment as written.
    let rules = json!({"all": [{"field": "country", "op": "in", "value": ["DE"]},
                               {"field": "attribute", "name": "points", "op": "gte", "value": 90}]});
    let c = s.create(json!({"rules": rules}), json!({})).await;
    assert_eq!(c["audience"]["rules"], rules);
    let id = c["id"].as_str().unwrap().to_string();
    let res = s.post(&format!("/api/campaigns/{id}/start"), json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let done = s.wait_state(&id, "completed").await;
    assert_eq!(done["funnel"]["recipients"], 2, "{done}");
    let sends = wait_for("2 sends", || async {
        let m = s.sends();
        (m.values().sum::<usize>() >= 2).then_some(m)
    })
    .await;
    let mut to: Vec<&String> = sends.keys().collect();
    to.sort();
    assert_eq!(to, vec!["4915110000001", "4915110000002"]);
}

#[tokio::test]
async fn saved_segments_are_the_tenants_and_a_campaign_keeps_a_copy_of_one() {
    let s = setup().await;
    import(&s, 1, 6, "").await;
    let csv = "phone,name,tier\n+15550109001,Vera,gold\n+15550109002,Walt,gold\n";
    let res = s.app.post_raw("/api/contacts/import", "text/csv", csv.to_string(), Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let gold = json!({"field": "attribute", "name": "tier", "op": "equals", "value": "gold"});
    // A live count before saving.
    let res = s.post("/api/segments/preview", json!({"rules": gold})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["count"], 2);
    let res = s.post("/api/segments", json!({"name": "Gold", "rules": gold})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let seg: Value = res.json().await.unwrap();
    let seg_id = seg["id"].as_str().unwrap().to_string();
    assert_eq!(seg["rules"], gold);
    // Names are unique in the workspace; bad rules are a 422 naming them.
    let res = s.post("/api/segments", json!({"name": "gold", "rules": gold})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "names compare exactly");
    let res = s.post("/api/segments", json!({"name": "Gold", "rules": gold})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = s.post("/api/segments", json!({"name": "Bad", "rules": {"field": "tier"}})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["details"]["fields"][0]["field"], "rules", "{e}");
    let list: Value = s.app.get("/api/segments", Some(&s.admin.access)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    // A campaign from the saved segment keeps a copy: editing or deleting the segment afterwards
    // changes nothing for it.
    let c = s.create(json!({"segmentId": seg_id}), json!({})).await;
    assert_eq!(c["audience"]["rules"], gold);
    assert_eq!(c["audience"]["segmentId"], seg_id.as_str());
    let everyone = json!({"field": "optedOut", "op": "is", "value": false});
    let res = s.app.patch(&format!("/api/segments/{seg_id}"), &json!({"rules": everyone}), Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = s.post("/api/campaigns/audience-preview", json!({"segmentId": seg_id})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["count"], 8, "a preview reads the segment as it is now");
    let id = c["id"].as_str().unwrap().to_string();
    let res = s.app.delete(&format!("/api/segments/{seg_id}"), Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = s.post(&format!("/api/campaigns/{id}/start"), json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let done = s.wait_state(&id, "completed").await;
    assert_eq!(done["funnel"]["recipients"], 2, "{done}");
    // A deleted or unknown segment cannot be used.
    let res = s.post("/api/campaigns/audience-preview", json!({"segmentId": seg_id})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = s.post("/api/campaigns/audience-preview", json!({"segmentId": seg_id, "rules": gold})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Another tenant sees none of it.
    let other = s.app.register("Other", "olga@other.test").await;
    let second: Value = s.app.get("/api/segments", Some(&s.admin.access)).await.json().await.unwrap();
    let second_id = second["data"][0]["id"].as_str().unwrap().to_string();
    for res in [
        s.app.get(&format!("/api/segments/{second_id}"), Some(&other.access)).await,
        s.app.patch(&format!("/api/segments/{second_id}"), &json!({"name": "Mine"}), Some(&other.access)).await,
        s.app.delete(&format!("/api/segments/{second_id}"), Some(&other.access)).await,
    ] {
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let res =
        s.app.post("/api/campaigns/audience-preview", &json!({"segmentId": second_id}), Some(&other.access)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let list: Value = s.app.get("/api/segments", Some(&other.access)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let res = s.app.post("/api/segments/preview", &json!({"rules": gold}), Some(&other.access)).await;
    assert_eq!(res.json::<Value>().await.unwrap()["count"], 0);
}

#[tokio::test]
async fn marketing_skips_us_numbers_and_contacts_at_the_frequency_cap() {
    let s = setup().await;
    let csv =
        "phone,name\n+12125550101,Ann\n+13105550102,Bob\n+14165550103,Cat\n+4915110000001,Dan\n+4915110000002,Eve\n";
    let res = s.app.post_raw("/api/contacts/import", "text/csv", csv.to_string(), Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // At most one marketing message per contact in any 7 days.
    for bad in [json!({"messages": 0, "days": 7}), json!({"messages": 2}), json!("often")] {
        let res = s.app.patch("/api/settings", &json!({"marketingCap": bad}), Some(&s.admin.access)).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let res =
        s.app.patch("/api/settings", &json!({"marketingCap": {"messages": 1, "days": 7}}), Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["marketingCap"], json!({"messages": 1, "days": 7}));

    let run = |name: &'static str| {
        let s = &s;
        async move {
            let c = s.create(json!({}), json!({"name": name})).await;
            let id = c["id"].as_str().unwrap().to_string();
            assert_eq!(s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.status(), StatusCode::OK);
            let done = s.wait_state(&id, "completed").await;
            let page: Value = s
                .app
                .get(&format!("/api/campaigns/{id}/recipients?limit=100"), Some(&s.admin.access))
                .await
                .json()
                .await
                .unwrap();
            let mut reasons: Vec<(String, String)> = page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["contact"]["waId"].as_str().unwrap_or("").to_string(),
                        r["reason"].as_str().unwrap_or("-").to_string(),
                    )
                })
                .collect();
            reasons.sort();
            (done["funnel"].clone(), reasons)
        }
    };
    let (f, reasons) = run("First").await;
    assert_eq!(f["recipients"], 5, "{f}");
    assert_eq!(f["reasons"]["us_marketing"], 2, "the two US numbers; Canada's +1 is not the US: {f}");
    let expect = |other: &str| {
        vec![
            ("12125550101".to_string(), "us_marketing".to_string()),
            ("13105550102".to_string(), "us_marketing".to_string()),
            ("14165550103".to_string(), other.to_string()),
            ("4915110000001".to_string(), other.to_string()),
            ("4915110000002".to_string(), other.to_string()),
        ]
    };
    assert_eq!(reasons, expect("-"));
    // A second marketing campaign within the week: everyone else is at the cap.
    let (f, reasons) = run("Second").await;
    assert_eq!(f["reasons"]["frequency_cap"], 3, "{f}");
    assert_eq!(reasons, expect("frequency_cap"));
    // meta-sim got one message for each of the three, none for the US numbers.
    let sends = wait_for("3 sends", || async {
        let m = s.sends();
        (m.values().sum::<usize>() >= 3).then_some(m)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sends = if s.sends().values().sum::<usize>() > 3 { s.sends() } else { sends };
    let mut to: Vec<&String> = sends.keys().collect();
    to.sort();
    assert_eq!(to, vec!["14165550103", "4915110000001", "4915110000002"]);
    assert!(sends.values().all(|n| *n == 1), "{sends:?}");
    // Without the cap, a third campaign reaches them again.
    let res = s.app.patch("/api/settings", &json!({"marketingCap": null}), Some(&s.admin.access)).await;
    assert_eq!(res.json::<Value>().await.unwrap()["marketingCap"], Value::Null);
    let (f, _) = run("Third").await;
    assert_eq!(f["reasons"].get("frequency_cap"), None, "{f}");
    assert_eq!(f["skipped"], 2, "{f}");
}

#[tokio::test]
async fn the_campaign_pages_show_the_tenants_campaign_and_hide_it_from_others() {
    let s = setup().await;
    import(&s, 1, 3, "vip").await;
    let c = s.create(json!({"tagsAny": ["vip"]}), json!({"name": "Page test"})).await;
    let id = c["id"].as_str().unwrap().to_string();
    let page = |path: String, access: String| {
        let app = &s.app;
        async move {
            let res = reqwest::Client::new()
                .get(app.url(&path))
                .header(reqwest::header::COOKIE, format!("sb_access={access}; sb_csrf=x"))
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let (status, body) = page("/campaigns".into(), s.admin.access.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Page test") && body.contains(&id), "the list shows it");
    let (status, body) = page(format!("/campaigns/{id}"), s.admin.access.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-testid=\"audience-count\">3<"), "a draft shows its audience now");
    assert!(body.contains("campaign-start"), "and can be started");
    let (status, body) = page(format!("/campaigns/{id}/funnel"), s.admin.access.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-testid=\"funnel-recipients\">0<"), "{body}");
    let other = s.app.register("Other", "olga@other.test").await;
    for path in [format!("/campaigns/{id}"), format!("/campaigns/{id}/funnel")] {
        let (status, body) = page(path.clone(), other.access.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.contains("Page test"));
    }
    let (_, body) = page("/campaigns".into(), other.access.clone()).await;
    assert!(!body.contains("Page test"));
}

#[tokio::test]
async fn a_template_meta_pauses_or_rates_red_pauses_its_running_campaign_at_once() {
    let s = setup().await;
    // A slow number: the campaign is still running when Meta pauses the template.
    let res = s
        .app
        .patch(&format!("/api/whatsapp-accounts/{}", s.account_id), &json!({"throughputMps": 1}), Some(&s.admin.access))
        .await;
    assert!(res.status().is_success());
    import(&s, 1, 40, "vip").await;
    let c = s.create(json!({"tagsAny": ["vip"]}), json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.status(), StatusCode::OK);
    wait_for("some sends", || async { (s.sends().values().sum::<usize>() >= 2).then_some(()) }).await;
    let acct: Value = s
        .app
        .get(&format!("/api/whatsapp-accounts/{}", s.account_id), Some(&s.admin.access))
        .await
        .json()
        .await
        .unwrap();
    let waba = acct["wabaId"].as_str().unwrap().to_string();
    // Rated RED: the template still sends, but the campaign holds (its rounds check only the
    // status, so this is the webhook's doing); a person may resume it.
    assert!(s.sim().set_template_quality(&waba, "spring_sale", None, "RED"));
    let held = s.wait_state(&id, "paused").await;
    assert_eq!(held["stateReason"], "held by Meta: the template's quality is rated RED", "{held}");
    assert_eq!(s.post(&format!("/api/campaigns/{id}/resume"), json!({})).await.status(), StatusCode::OK);
    s.wait_state(&id, "running").await;
    // Paused by Meta: the campaign pauses with the reason.
    assert!(s.sim().set_template_status(&waba, "spring_sale", None, "PAUSED", Some("LOW_QUALITY")));
    let paused = s.wait_state(&id, "paused").await;
    assert_eq!(paused["stateReason"], "held by Meta: the template is PAUSED", "{paused}");
    assert!(paused["funnel"]["pending"].as_u64().unwrap() > 0, "paused mid-run: {paused}");
    // It stays paused (no new messages are created), and cannot resume while the template is held.
    let before = paused["funnel"]["pending"].clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.campaign(&id).await["funnel"]["pending"], before);
    let res = s.post(&format!("/api/campaigns/{id}/resume"), json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "template_not_approved");
}

#[tokio::test]
async fn outside_its_send_window_a_campaign_waits_and_says_until_when() {
    use chrono::Timelike;
    let s = setup().await;
    import(&s, 1, 5, "vip").await;
    let h = chrono::Utc::now().hour();
    let at = |d: u32| format!("{:02}:00", (h + d) % 24);
    // The workspace's clock is UTC (the default): a window two hours from now excludes now.
    let later = json!({"start": at(2), "end": at(3)});
    let c = s.create(json!({"tagsAny": ["vip"]}), json!({"name": "Later", "sendWindow": later})).await;
    assert_eq!(c["sendWindow"], later);
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.status(), StatusCode::OK);
    let waiting = wait_for("the waiting reason", || async {
        let c = s.campaign(&id).await;
        c["stateReason"].as_str().is_some_and(|r| r.starts_with("waiting for the send window")).then_some(c)
    })
    .await;
    assert_eq!(waiting["state"], "running");
    assert!(waiting["stateReason"].as_str().unwrap().contains(&format!("{}–{} (UTC)", at(2), at(3))), "{waiting}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.campaign(&id).await["funnel"]["pending"], 5, "nothing is sent outside the window");
    assert_eq!(s.sends().len(), 0);
    // A window around now sends at once.
    let now = json!({"start": at(23), "end": at(2)});
    let c = s.create(json!({"tagsAny": ["vip"]}), json!({"name": "Now", "sendWindow": now})).await;
    let id2 = c["id"].as_str().unwrap().to_string();
    assert_eq!(s.post(&format!("/api/campaigns/{id2}/start"), json!({})).await.status(), StatusCode::OK);
    let done = s.wait_state(&id2, "completed").await;
    assert_eq!(
        done["funnel"]["queued"].as_u64().unwrap()
            + done["funnel"]["sent"].as_u64().unwrap()
            + done["funnel"]["delivered"].as_u64().unwrap()
            + done["funnel"]["read"].as_u64().unwrap(),
        5,
        "{done}"
    );
    // Bad windows are named.
    for bad in [json!({"start": "9", "end": "20:00"}), json!({"start": "10:00", "end": "10:00"})] {
        let body = json!({"name": "Bad", "whatsappAccountId": s.account_id, "templateId": s.template_id,
                          "variables": {"1": {"from": "name", "fallback": "x"}, "2": {"from": "constant", "value": "1"}},
                          "sendWindow": bad});
        let res = s.post("/api/campaigns", body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["details"]["fields"][0]["field"], "sendWindow");
    }
}

#[tokio::test]
async fn recipients_meta_limits_are_tried_again_once_after_the_delay() {
    let s = setup_with(&[("SWITCHBOARD_CAMPAIGN_LIMITED_RETRY_SECS", "2")]).await;
    import(&s, 1, 10, "vip").await;
    // Meta accepts the next three sends, then reports them failed with 131049.
    s.sim().inject_async_failures(&s.phone_number_id, 3, 131049);
    let c = s.create(json!({"tagsAny": ["vip"]}), json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.status(), StatusCode::OK);
    let first = wait_for("three limited by Meta, seven read", || async {
        let c = s.campaign(&id).await;
        let f = &c["funnel"];
        (c["state"] == "completed" && f["limitedByMeta"] == 3 && f["read"] == 7).then_some(c)
    })
    .await;
    assert_eq!(first["funnel"]["failed"], 0, "131049 is not a failure: {first}");
    assert_eq!(first["funnel"]["reasons"]["131049"], 3);
    // After the delay the campaign runs again for those three only, and completes with all read.
    let again = wait_for("all ten read after the retry", || async {
        let c = s.campaign(&id).await;
        let f = &c["funnel"];
        (c["state"] == "completed" && f["read"] == 10 && f["limitedByMeta"] == 0).then_some(c)
    })
    .await;
    assert_eq!(again["funnel"]["recipients"], 10, "{again}");
    let sends = s.sends();
    assert_eq!(sends.len(), 10, "{sends:?}");
    let mut counts: Vec<usize> = sends.values().copied().collect();
    counts.sort();
    assert_eq!(counts, [1, 1, 1, 1, 1, 1, 1, 2, 2, 2], "the three limited got one more message each");
    let page: Value =
        s.app.get(&format!("/api/campaigns/{id}/recipients"), Some(&s.admin.access)).await.json().await.unwrap();
    let retried: Vec<&Value> = page["data"].as_array().unwrap().iter().filter(|r| r["attempt"] == 1).collect();
    assert_eq!(retried.len(), 3, "{page}");
    assert!(retried.iter().all(|r| r["messageStatus"] == "read"));
    // One retry by default: no further run is scheduled for this campaign.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(s.sends().values().sum::<usize>(), 13);
}

#[tokio::test]
async fn a_campaign_whose_sends_keep_failing_pauses_itself_with_the_reason() {
    let s = setup().await;
    let res = s
        .app
        .patch(&format!("/api/whatsapp-accounts/{}", s.account_id), &json!({"throughputMps": 5}), Some(&s.admin.access))
        .await;
    assert!(res.status().is_success());
    import(&s, 1, 80, "vip").await;
    // The first 20 sends are accepted, then fail: the recipient is not on WhatsApp (131026).
    s.sim().inject_async_failures(&s.phone_number_id, 20, 131026);
    let c = s.create(json!({"tagsAny": ["vip"]}), json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.status(), StatusCode::OK);
    let paused = s.wait_state(&id, "paused").await;
    let why = paused["stateReason"].as_str().unwrap();
    assert!(why.starts_with("paused: ") && why.contains("sends failed") && why.contains("most with 131026"), "{why}");
    assert!(paused["funnel"]["pending"].as_u64().unwrap() > 0, "the rest of the audience waits: {paused}");
    // Resumed (the cause dealt with; the number back at full speed), only this run's sends count:
    // it completes.
    let res = s
        .app
        .patch(
            &format!("/api/whatsapp-accounts/{}", s.account_id),
            &json!({"throughputMps": 80}),
            Some(&s.admin.access),
        )
        .await;
    assert!(res.status().is_success());
    assert_eq!(s.post(&format!("/api/campaigns/{id}/resume"), json!({})).await.status(), StatusCode::OK);
    let done = s.wait_state(&id, "completed").await;
    assert_eq!(done["funnel"]["recipients"], 80);
    // Every status in (processing may trail the sends on a loaded machine: up to a minute).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let f = loop {
        let f = s.campaign(&id).await["funnel"].clone();
        if f["read"].as_u64().unwrap() + f["failed"].as_u64().unwrap() == 80 {
            break f;
        }
        assert!(std::time::Instant::now() < deadline, "statuses still missing: {f}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(f["failed"], 20, "{f}");
    assert_eq!(f["reasons"]["131026"], 20);
}

#[tokio::test]
async fn progress_events_follow_the_funnel_while_a_campaign_runs() {
    let s = setup().await;
    let res = s
        .app
        .patch(
            &format!("/api/whatsapp-accounts/{}", s.account_id),
            &json!({"throughputMps": 10}),
            Some(&s.admin.access),
        )
        .await;
    assert!(res.status().is_success());
    import(&s, 1, 60, "vip").await;
    let mut rx = s.app.state.events.subscribe();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let sink = seen.clone();
    let listen = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) if e.event.kind() == "campaign.progress" => sink.lock().unwrap().push(e.event.data()),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    });
    let c = s.create(json!({"tagsAny": ["vip"]}), json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.status(), StatusCode::OK);
    s.wait_state(&id, "completed").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    listen.abort();
    let seen: Vec<Value> = seen.lock().unwrap().iter().filter(|d| d["id"] == id.as_str()).cloned().collect();
    // Several while it ran (at most one a second, plus the last), the last with nobody pending.
    assert!(seen.len() >= 2, "{seen:?}");
    let last = seen.last().unwrap();
    assert_eq!(last["recipients"], 60);
    assert_eq!(last["pending"], 0, "{last}");
    assert!(
        seen.first().unwrap()["pending"].as_u64().unwrap() > 0,
        "an early one while recipients were pending: {seen:?}"
    );
}

impl Setup {
    async fn post_keyed(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.admin.access)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn retry_failed_sends_again_only_what_can_succeed_and_only_once() {
    let s = setup().await;
    import(&s, 1, 10, "vip").await;
    // Meta accepts the first five sends and then fails them: three "something went wrong"
    // (131000, retry later), two "not on WhatsApp" (131026, permanent).
    s.sim().inject_async_failures(&s.phone_number_id, 3, 131000);
    s.sim().inject_async_failures(&s.phone_number_id, 2, 131026);
    let c = s.create(json!({"tagsAny": ["vip"]}), json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    // Only a completed or paused campaign's failures can be retried.
    let res = s.post(&format!("/api/campaigns/{id}/retry-failed"), json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.status(), StatusCode::OK);
    let first = wait_for("five failed, five read", || async {
        let c = s.campaign(&id).await;
        let f = &c["funnel"];
        (c["state"] == "completed" && f["failed"] == 5 && f["read"] == 5).then_some(c)
    })
    .await;
    assert_eq!(first["funnel"]["reasons"]["131000"], 3, "{first}");
    // Another tenant cannot.
    let other = s.app.register("Other", "olga@other.test").await;
    let res = s.app.post(&format!("/api/campaigns/{id}/retry-failed"), &json!({}), Some(&other.access)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = s.post(&format!("/api/campaigns/{id}/retry-failed"), json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["retried"], 3, "only the 131000 ones: {r}");
    assert_eq!(r["campaign"]["state"], "running");
    let again = wait_for("the three read on their second attempt", || async {
        let c = s.campaign(&id).await;
        let f = &c["funnel"];
        (c["state"] == "completed" && f["read"] == 8 && f["failed"] == 2).then_some(c)
    })
    .await;
    assert_eq!(again["funnel"]["recipients"], 10, "{again}");
    // Nothing left that can succeed: a second click retries nothing and sends nothing.
    let res = s.post(&format!("/api/campaigns/{id}/retry-failed"), json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["retried"], 0);
    assert_eq!(r["campaign"]["state"], "completed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sends = s.sends();
    assert_eq!(sends.values().sum::<usize>(), 13, "ten first messages and three retries: {sends:?}");
    let page: Value =
        s.app.get(&format!("/api/campaigns/{id}/recipients"), Some(&s.admin.access)).await.json().await.unwrap();
    let rows = page["data"].as_array().unwrap();
    let retried: Vec<&Value> = rows.iter().filter(|r| r["attempt"] == 1).collect();
    assert_eq!(retried.len(), 3, "{page}");
    assert!(retried.iter().all(|r| r["messageStatus"] == "read" && r["detail"] == "sent again by \"retry failed\""));
    assert_eq!(rows.iter().filter(|r| r["errorCode"] == 131026).count(), 2);
}

#[tokio::test]
async fn create_and_start_are_safe_to_retry_and_a_campaign_can_be_duplicated_and_tested() {
    let s = setup().await;
    import(&s, 1, 3, "vip").await;
    let body = json!({
        "name": "Spring sale", "whatsappAccountId": s.account_id, "templateId": s.template_id,
        "variables": {"1": {"from": "name", "fallback": "there"}, "2": {"from": "constant", "value": "20"}},
        "audience": {"tagsAny": ["vip"]}, "sendWindow": {"start": "00:00", "end": "23:59"},
    });
    // Create, retried with the same key: one campaign.
    let res = s.post_keyed("/api/campaigns", "create-1", body.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let c: Value = res.json().await.unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    let res = s.post_keyed("/api/campaigns", "create-1", body.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], c["id"]);
    let res = s.post_keyed("/api/campaigns", "", body.clone()).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let list: Value = s.app.get("/api/campaigns", Some(&s.admin.access)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // Start with a key; once it has completed, the same start again is the campaign as it is, and
    // a start without the key is refused.
    let res = s.post_keyed(&format!("/api/campaigns/{id}/start"), "start-1", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    s.wait_state(&id, "completed").await;
    let res = s.post_keyed(&format!("/api/campaigns/{id}/start"), "start-1", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "completed");
    assert_eq!(s.post(&format!("/api/campaigns/{id}/start"), json!({})).await.status(), StatusCode::CONFLICT);
    assert_eq!(s.sends().values().sum::<usize>(), 3);

    // Duplicate: a draft with the same number, template, values, audience and window.
    let res = s.app.post(&format!("/api/campaigns/{id}/duplicate"), &json!({}), Some(&s.admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let copy: Value = res.json().await.unwrap();
    assert_ne!(copy["id"], c["id"]);
    assert_eq!(copy["name"], "Spring sale (copy)");
    assert_eq!(copy["state"], "draft");
    for k in ["whatsappAccountId", "templateId", "variables", "audience", "sendWindow"] {
        assert_eq!(copy[k], c[k], "{k}");
    }
    assert!(copy["startedAt"].is_null() && copy["scheduledAt"].is_null());
    let res = s.post(&format!("/api/campaigns/{id}/duplicate"), json!({"name": "Autumn sale"})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Autumn sale");
    let res = s.post(&format!("/api/campaigns/{id}/duplicate"), json!({"name": ""})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let other = s.app.register("Other", "olga@other.test").await;
    let res = s.app.post(&format!("/api/campaigns/{id}/duplicate"), &json!({}), Some(&other.access)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A test send of the draft copy to one contact, with its values; retried with its key, once.
    let copy_id = copy["id"].as_str().unwrap().to_string();
    let ann = contact_id(&s, "15550100001").await;
    let res = s.post_keyed(&format!("/api/campaigns/{copy_id}/test"), "test-1", json!({"contactId": ann})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let m: Value = res.json().await.unwrap();
    let res = s.post_keyed(&format!("/api/campaigns/{copy_id}/test"), "test-1", json!({"contactId": ann})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], m["id"]);
    wait_for("the test message sent", || async { (s.sends().get("15550100001") == Some(&2)).then_some(()) }).await;
    let sent = s.sim().sent_messages(&s.phone_number_id);
    let last = sent.iter().rev().find(|x| x.wa_id == "15550100001").unwrap();
    assert!(format!("{:?}", last.body).contains("Customer 1"), "the contact's own values: {:?}", last.body);
    let draft = s.campaign(&copy_id).await;
    assert_eq!(draft["state"], "draft");
    assert_eq!(draft["funnel"]["recipients"], 0, "a test is not a recipient");
    // Someone else's contact, or none.
    let theirs = {
        let csv = "phone,name\n+15550109999,Theirs\n".to_string();
        let res = s.app.post_raw("/api/contacts/import", "text/csv", csv, Some(&other.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value =
            s.app.get("/api/contacts?search=15550109999", Some(&other.access)).await.json().await.unwrap();
        page["data"][0]["id"].as_str().unwrap().to_string()
    };
    let res = s.post(&format!("/api/campaigns/{copy_id}/test"), json!({"contactId": theirs})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = s.post(&format!("/api/campaigns/{copy_id}/test"), json!({})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
