//! The batch path and the one-event path produce the same rows (issue #15): the same inbound
//! payloads — many senders, messages out of order, replies within the set and to unknown
//! messages, reactions, a number change by system message, a user id from a new number, a
//! message with only a user id, echoes and history, statuses before their message, a STOP,
//! marketing preferences, account-level events, redeliveries — go once through one claimed
//! batch and once event by event (`webhooks::processor::process_event`, a batch of one each), in
//! two fresh apps; every row they write is compared, ids replaced by natural keys.

use std::collections::{BTreeMap, HashMap};

use sea_orm::EntityTrait;
use serde_json::{Value, json};
use switchboard::entities::{
    account_events, contact_identity_changes, contacts, conversations, daily_usage, messages, pending_statuses,
    webhook_events,
};

use crate::helpers::{TestApp, app_without_workers, run_one_batch};

const SECRET: &str = "platform-app-secret";

fn body(pnid: &str, field: &str, extra: Value) -> Vec<u8> {
    let mut value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100", "phone_number_id": pnid}});
    for (k, x) in extra.as_object().unwrap() {
        value[k] = x.clone();
    }
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": format!("9{pnid}"), "time": 1_750_000_000, "changes": [{"field": field, "value": value}]}]}))
    .unwrap()
}

fn text(from: &str, user: Option<&str>, wamid: &str, ts: i64, text: &str) -> Value {
    let mut m = json!({"from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": {"body": text}});
    if let Some(u) = user {
        m["from_user_id"] = json!(u);
    }
    m
}

fn contact(wa: Option<&str>, user: Option<&str>, name: &str) -> Value {
    let mut c = json!({"profile": {"name": name}});
    if let Some(w) = wa {
        c["wa_id"] = json!(w);
    }
    if let Some(u) = user {
        c["user_id"] = json!(u);
    }
    c
}

/// The payloads, in the order they are posted.
fn bodies(t0: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // Eight senders, three messages each, half of them newest first.
    for s in 0..8 {
        let from = format!("1555000{s:04}");
        let order: Vec<i64> = if s % 2 == 0 { vec![0, 1, 2] } else { vec![2, 1, 0] };
        for i in order {
            let m = text(&from, None, &format!("wamid.p{s}.{i}"), t0 + i, &format!("msg {i} from {s}"));
            out.push(body(
                "1001",
                "messages",
                json!({"contacts": [contact(Some(&from), None, &format!("C{s}"))], "messages": [m]}),
            ));
        }
    }
    // Several messages in one body; a reply to one of them, redelivered; a reply to an unknown
    // message; a reaction to a message of the set.
    let many = "15559990000";
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some(many), None, "Many")],
               "messages": [text(many, None, "wamid.m1", t0 + 10, "first"), text(many, None, "wamid.m2", t0 + 11, "second")]}),
    ));
    let mut reply = text(many, None, "wamid.m3", t0 + 12, "reply");
    reply["context"] = json!({"from": "15550100", "id": "wamid.m1"});
    let reply = body("1001", "messages", json!({"contacts": [contact(Some(many), None, "Many")], "messages": [reply]}));
    out.push(reply.clone());
    out.push(reply);
    let mut orphan = text(many, None, "wamid.m4", t0 + 13, "about that");
    orphan["context"] = json!({"from": "15550100", "id": "wamid.never-stored"});
    out.push(body("1001", "messages", json!({"contacts": [contact(Some(many), None, "Many")], "messages": [orphan]})));
    let reaction = json!({"from": many, "id": "wamid.m5", "timestamp": (t0 + 14).to_string(), "type": "reaction",
        "reaction": {"message_id": "wamid.m2", "emoji": "👍"}});
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some(many), None, "Many")], "messages": [reaction]}),
    ));
    // Identity: a customer known by user id writes, changes number by system message, writes
    // from the new number; another known user id arrives from a new number; one has only a
    // user id; a recycled number (another user id takes it).
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some("16505551234"), Some("US.1"), "Sheena")],
               "messages": [text("16505551234", Some("US.1"), "wamid.i1", t0 + 20, "hello")]}),
    ));
    out.push(body(
        "1001",
        "messages",
        json!({"messages": [{"from": "16505551234", "id": "wamid.i2", "timestamp": (t0 + 21).to_string(), "type": "system",
            "system": {"body": "User Sheena changed from 16505551234 to 12195555358", "wa_id": "12195555358",
                       "user_id": "US.1", "type": "user_changed_number"}}]}),
    ));
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some("12195555358"), Some("US.1"), "Sheena")],
               "messages": [text("12195555358", Some("US.1"), "wamid.i3", t0 + 22, "new phone")]}),
    ));
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some("15550000001"), Some("US.7"), "C1")],
               "messages": [text("15550000001", Some("US.7"), "wamid.i4", t0 + 23, "now with a user id")]}),
    ));
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some("15550000077"), Some("US.7"), "C1")],
               "messages": [text("15550000077", Some("US.7"), "wamid.i5", t0 + 24, "moved")]}),
    ));
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(None, Some("US.9"), "Hidden")],
               "messages": [{"from_user_id": "US.9", "id": "wamid.i6", "timestamp": (t0 + 25).to_string(), "type": "text", "text": {"body": "no number"}}]}),
    ));
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some("15550000002"), Some("US.8"), "New owner")],
               "messages": [text("15550000002", Some("US.8"), "wamid.i7", t0 + 26, "recycled")]}),
    ));
    // Echoes and history on a coexistence number.
    let pn = json!({"display_phone_number": "15550100", "phone_number_id": "1001"});
    let echo = json!({"metadata": pn, "message_echoes": [{"from": "15550100", "to": "15550000003", "id": "wamid.e1",
        "timestamp": (t0 + 30).to_string(), "type": "text", "text": {"body": "from the app"}}]});
    out.push(body("1001", "smb_message_echoes", echo.clone()));
    out.push(body("1001", "smb_message_echoes", echo));
    let history = json!({"metadata": pn, "history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
        "threads": [{"id": "15550000004", "messages": [
            {"from": "15550100", "to": "15550000004", "id": "wamid.h1", "timestamp": (t0 - 100).to_string(), "type": "text", "text": {"body": "earlier"}, "history_context": {"status": "READ"}},
            {"from": "15550000004", "id": "wamid.h2", "timestamp": (t0 - 90).to_string(), "type": "text", "text": {"body": "thanks"}, "history_context": {"status": "READ"}}]}]}]});
    out.push(body("1001", "history", history));
    // Statuses of messages the platform does not know (yet): pending.
    let status = |w: &str, s: &str, ts: i64| {
        json!({"id": w, "status": s, "timestamp": ts.to_string(), "recipient_id": "15550000005",
               "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}})
    };
    out.push(body(
        "1001",
        "messages",
        json!({"statuses": [status("wamid.out1", "delivered", t0 + 40), status("wamid.out1", "read", t0 + 41)]}),
    ));
    out.push(body("1001", "messages", json!({"statuses": [status("wamid.out2", "sent", t0 + 42)]})));
    // A STOP, and marketing preferences stop then resume.
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some("15550000006"), None, "C6")], "messages": [text("15550000006", None, "wamid.stop", t0 + 50, "STOP")]}),
    ));
    let pref = |v: &str, ts: i64| {
        json!({"contacts": [{"wa_id": "15550000005"}], "user_preferences": [{"wa_id": "15550000005",
            "detail": format!("User requested to {v} marketing messages"), "category": "marketing_messages", "value": v, "timestamp": ts}]})
    };
    out.push(body("1001", "user_preferences", pref("stop", t0 + 60)));
    out.push(body("1001", "user_preferences", pref("resume", t0 + 61)));
    // Account-level events, one delivered twice.
    let quality = json!({"display_phone_number": "15550100", "event": "FLAGGED", "current_limit": "TIER_1K"});
    let quality = serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": "91001", "time": 1_750_000_000, "changes": [{"field": "phone_number_quality_update", "value": quality}]}]}))
    .unwrap();
    out.push(quality.clone());
    out.push(quality);
    let update =
        json!({"phone_number": "15550100", "event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}});
    out.push(
        serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": "91001", "time": 1_750_000_001, "changes": [{"field": "account_update", "value": update}]}]}))
        .unwrap(),
    );
    // Messages and errors in one change.
    out.push(body(
        "1001",
        "messages",
        json!({"contacts": [contact(Some("15550000007"), None, "C7")],
               "messages": [{"from": "15550000007", "id": "wamid.u1", "timestamp": (t0 + 70).to_string(), "type": "unsupported",
                             "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                                         "error_data": {"details": "Message type is currently not supported."}}]}]}),
    ));
    out
}

/// Every row the processing wrote, ids replaced by natural keys, sorted.
async fn snapshot(app: &TestApp) -> BTreeMap<&'static str, Vec<String>> {
    let db = &app.state.db;
    let contacts = contacts::Entity::find().all(db).await.unwrap();
    let who: HashMap<_, _> = contacts
        .iter()
        .map(|c| (c.id, format!("{}|{}", c.wa_id.as_deref().unwrap_or("-"), c.user_id.as_deref().unwrap_or("-"))))
        .collect();
    let convs = conversations::Entity::find().all(db).await.unwrap();
    let conv: HashMap<_, _> = convs.iter().map(|c| (c.id, who[&c.contact_id].clone())).collect();
    let msgs = messages::Entity::find().all(db).await.unwrap();
    let wamid: HashMap<_, _> = msgs.iter().map(|m| (m.id, m.wa_message_id.clone().unwrap_or_default())).collect();
    let mut out: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    out.insert(
        "contacts",
        contacts
            .iter()
            .map(|c| {
                format!(
                    "{} name={:?} username={:?} opted_out={} source={:?} tags={} attributes={}",
                    who[&c.id], c.profile_name, c.username, c.opted_out, c.opt_out_source, c.tags, c.attributes
                )
            })
            .collect(),
    );
    out.insert(
        "conversations",
        convs
            .iter()
            .map(|c| {
                format!(
                    "{} status={:?} unread={} preview={:?} last={} inbound={:?} assigned={} tags={} resolved={:?}",
                    conv[&c.id],
                    c.status,
                    c.unread_count,
                    c.last_message_preview,
                    c.last_message_at.timestamp(),
                    c.last_inbound_at.map(|t| t.timestamp()),
                    c.assignee_id.is_some(),
                    c.tags,
                    c.resolved_at.map(|t| t.timestamp()),
                )
            })
            .collect(),
    );
    out.insert(
        "messages",
        msgs.iter()
            .map(|m| {
                format!(
                    "{} in={} {:?} {} {} status={:?} sent={:?} delivered={:?} read={:?} failed={:?} error={:?}/{:?} \
                     reply_to={:?} reply_wa={:?} reply_from={:?} origin={:?} billed={}",
                    wamid[&m.id],
                    conv[&m.conversation_id],
                    m.direction,
                    m.msg_type,
                    m.content,
                    m.status,
                    m.sent_at.map(|t| t.timestamp()),
                    m.delivered_at.map(|t| t.timestamp()),
                    m.read_at.map(|t| t.timestamp()),
                    m.failed_at.map(|t| t.timestamp()),
                    m.error_code,
                    m.error_title,
                    m.reply_to_id.map(|r| wamid[&r].clone()),
                    m.reply_to_wa_id,
                    m.reply_to_from,
                    m.origin,
                    m.billed,
                )
            })
            .collect(),
    );
    out.insert(
        "pending_statuses",
        pending_statuses::Entity::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|p| format!("{} {}", p.wa_message_id, p.status))
            .collect(),
    );
    out.insert(
        "daily_usage",
        daily_usage::Entity::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|u| {
                format!(
                    "{} in={} out={} m={} u={} a={} s={} billable={} opened={} agents={}",
                    u.day,
                    u.messages_in,
                    u.messages_out,
                    u.marketing,
                    u.utility,
                    u.authentication,
                    u.service,
                    u.billable,
                    u.conversations_opened,
                    u.active_agents
                )
            })
            .collect(),
    );
    out.insert(
        "account_events",
        account_events::Entity::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|e| format!("{} {:?} {}", e.field, e.dedup_key, e.payload))
            .collect(),
    );
    out.insert(
        "contact_identity_changes",
        contact_identity_changes::Entity::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|h| {
                format!("{} {} {:?} -> {:?} ({})", who[&h.contact_id], h.field, h.old_value, h.new_value, h.source)
            })
            .collect(),
    );
    out.insert(
        "webhook_events",
        webhook_events::Entity::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|e| format!("{:?} {:?}", e.state, e.last_error))
            .collect(),
    );
    for rows in out.values_mut() {
        rows.sort();
    }
    out
}

async fn setup(bodies: &[Vec<u8>]) -> TestApp {
    let app = app_without_workers().await;
    let a = app.register("A", "a@a.test").await;
    app.create_account(&a.access, "1001", None).await;
    for b in bodies {
        assert_eq!(app.post_webhook(b, SECRET).await.status(), reqwest::StatusCode::OK);
    }
    app
}

#[tokio::test]
async fn the_batch_path_and_the_one_event_path_write_the_same_rows() {
    // An hour ago: the customer-service windows are open; the same bodies for both apps.
    let bodies = bodies(chrono::Utc::now().timestamp() - 3_600);
    // One claimed batch.
    let batched = setup(&bodies).await;
    let results = run_one_batch(&batched).await;
    assert_eq!(results.len(), bodies.len());
    for (job, r) in results {
        assert!(matches!(r, Ok(switchboard::jobs::runner::Done::Recorded)), "job {}: {r:?}", job.id);
    }
    // Event by event, in the order received.
    let single = setup(&bodies).await;
    let mut events = webhook_events::Entity::find().all(&single.state.db).await.unwrap();
    events.sort_by_key(|e| (e.received_at, e.id));
    for e in &events {
        switchboard::webhooks::processor::process_event(&single.state, e.id).await.unwrap();
    }

    let (a, b) = (snapshot(&batched).await, snapshot(&single).await);
    assert!(a["messages"].len() >= 40, "the scenario stores its messages: {:?}", a["messages"]);
    assert!(!a["pending_statuses"].is_empty() && !a["contact_identity_changes"].is_empty());
    assert!(a["webhook_events"].iter().all(|e| e.starts_with("Processed")), "{:?}", a["webhook_events"]);
    for (table, rows) in &a {
        let other = &b[table];
        let only_batch: Vec<&String> = rows.iter().filter(|r| !other.contains(r)).collect();
        let only_single: Vec<&String> = other.iter().filter(|r| !rows.contains(r)).collect();
        assert!(
            only_batch.is_empty() && only_single.is_empty() && rows.len() == other.len(),
            "{table} differs\n batch only: {only_batch:#?}\n one-event only: {only_single:#?}"
        );
    }
}
