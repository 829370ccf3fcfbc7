//! The inbound invariant as a property (issue #13): random valid webhook bodies — customers with
//! and without phone numbers and user ids, number changes, edits, echoes, reactions, statuses
//! before their message, duplicates inside a body and redeliveries of whole bodies, two tenants
//! with colliding wamids — go through the real HTTP endpoint, and then: every acknowledged event
//! is in a terminal state, every message is stored exactly once in its own tenant, and no job is
//! dead without its event failed.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::enums::{JobState, WebhookState};
use switchboard::entities::{contacts, conversations, jobs, messages, webhook_events};

use crate::helpers::spawn_app_with;

const SECRET: &str = "platform-app-secret";
const NUMBERS: [&str; 2] = ["1001", "2002"];

/// A customer: up to two phone numbers (a number change) and maybe a BSUID.
#[derive(Debug, Clone)]
struct Person {
    phones: Vec<String>,
    user_id: Option<String>,
}

#[derive(Debug, Clone)]
enum Op {
    /// A text from `person` (phone number `phone`, or none; user id sent or not).
    Text { tenant: usize, person: usize, phone: Option<usize>, send_user: bool, wamid: usize },
    /// The same, but the `from` differs from the contact block (an edit seen by pywa).
    Edit { tenant: usize, person: usize, wamid: usize },
    /// A message the business sent from the Business app.
    Echo { tenant: usize, person: usize, wamid: usize },
    /// A reaction to an earlier (or unknown) wamid.
    Reaction { tenant: usize, person: usize, wamid: usize, target: usize },
    /// A status for an outbound wamid nobody sent (kept for later).
    Status { tenant: usize, wamid: usize },
}

fn person() -> impl Strategy<Value = Person> {
    (0u8..3, 1usize..=2, any::<u16>()).prop_map(|(kind, n, seed)| {
        let phones: Vec<String> = (0..n).map(|i| format!("1555{:03}{:04}", seed % 1000, i)).collect();
        match kind {
            0 => Person { phones, user_id: None },
            1 => Person { phones, user_id: Some(format!("US.{seed}")) },
            _ => Person { phones: Vec::new(), user_id: Some(format!("US.{seed}")) },
        }
    })
}

fn op(people: usize) -> impl Strategy<Value = Op> {
    let t = 0..NUMBERS.len();
    let p = 0..people;
    prop_oneof![
        4 => (t.clone(), p.clone(), proptest::option::of(0usize..2), any::<bool>(), 0usize..12)
            .prop_map(|(tenant, person, phone, send_user, wamid)| Op::Text { tenant, person, phone, send_user, wamid }),
        1 => (t.clone(), p.clone(), 0usize..12).prop_map(|(tenant, person, wamid)| Op::Edit { tenant, person, wamid }),
        1 => (t.clone(), p.clone(), 12usize..16).prop_map(|(tenant, person, wamid)| Op::Echo { tenant, person, wamid }),
        1 => (t.clone(), p, 16usize..20, 0usize..14)
            .prop_map(|(tenant, person, wamid, target)| Op::Reaction { tenant, person, wamid, target }),
        1 => (t, 20usize..24).prop_map(|(tenant, wamid)| Op::Status { tenant, wamid }),
    ]
}

/// Bodies (each 1–3 ops of one tenant's number) and how many times each is delivered.
fn scenario() -> impl Strategy<Value = (Vec<Person>, Vec<(Vec<Op>, usize)>)> {
    proptest::collection::vec(person(), 2..5).prop_flat_map(|people| {
        let n = people.len();
        let bodies = proptest::collection::vec((proptest::collection::vec(op(n), 1..4), 1usize..=3), 1..10);
        (Just(people), bodies)
    })
}

fn wamid(n: usize) -> String {
    format!("wamid.P{n}")
}

/// The `(contact, message)` JSON of an op, and the wamid it stores (statuses store none).
fn render(people: &[Person], op: &Op) -> (Option<Value>, Value, &'static str, Option<String>) {
    let contact = |p: &Person, phone: Option<&String>, send_user: bool| {
        let mut c = json!({"profile": {"name": "Customer"}});
        if let Some(ph) = phone {
            c["wa_id"] = json!(ph);
        }
        if send_user && let Some(u) = &p.user_id {
            c["user_id"] = json!(u);
        }
        if c.get("wa_id").is_none() && c.get("user_id").is_none() {
            c["user_id"] = json!(p.user_id.clone().unwrap_or_default());
        }
        c
    };
    let sender = |c: &Value, m: &mut Value| {
        if let Some(w) = c.get("wa_id") {
            m["from"] = w.clone();
        }
        if let Some(u) = c.get("user_id") {
            m["from_user_id"] = u.clone();
        }
    };
    match op {
        Op::Text { person, phone, send_user, wamid: w, .. } => {
            let p = &people[*person];
            let phone =
                phone.and_then(|i| p.phones.get(i)).or(if p.user_id.is_none() { p.phones.first() } else { None });
            let c = contact(p, phone, *send_user || phone.is_none());
            let mut m = json!({"id": wamid(*w), "timestamp": "1750000000", "type": "text", "text": {"body": "hi"}});
            sender(&c, &mut m);
            (Some(c), m, "messages", Some(wamid(*w)))
        }
        Op::Edit { person, wamid: w, .. } => {
            let p = &people[*person];
            let c = contact(p, p.phones.first(), true);
            let mut m = json!({"id": wamid(*w), "timestamp": "1750000001", "type": "edit",
                "edit": {"original_message_id": wamid(0), "message": {"type": "text", "text": {"body": "edited"}}}});
            sender(&c, &mut m);
            if let Some(other) = p.phones.get(1) {
                m["from"] = json!(other); // `from` differs from the contact block
            }
            (Some(c), m, "messages", Some(wamid(*w)))
        }
        Op::Echo { person, wamid: w, .. } => {
            let p = &people[*person];
            let c = contact(p, p.phones.first(), true);
            let mut m = json!({"from": "15550100", "id": wamid(*w), "timestamp": "1750000002", "type": "text",
                "text": {"body": "from the app"}});
            if let Some(ph) = c.get("wa_id") {
                m["to"] = ph.clone();
            }
            if let Some(u) = c.get("user_id") {
                m["to_user_id"] = u.clone();
            }
            (Some(c), m, "smb_message_echoes", Some(wamid(*w)))
        }
        Op::Reaction { person, wamid: w, target, .. } => {
            let p = &people[*person];
            let c = contact(p, p.phones.first(), true);
            let mut m = json!({"id": wamid(*w), "timestamp": "1750000003", "type": "reaction",
                "reaction": {"message_id": wamid(*target), "emoji": "👍"}});
            sender(&c, &mut m);
            (Some(c), m, "messages", Some(wamid(*w)))
        }
        Op::Status { wamid: w, .. } => {
            let s = json!({"id": wamid(*w), "status": "delivered", "timestamp": "1750000004", "recipient_id": "15550000000"});
            (None, s, "statuses", None)
        }
    }
}

fn tenant_of(op: &Op) -> usize {
    match op {
        Op::Text { tenant, .. }
        | Op::Edit { tenant, .. }
        | Op::Echo { tenant, .. }
        | Op::Reaction { tenant, .. }
        | Op::Status { tenant, .. } => *tenant,
    }
}

/// One webhook body with every op (a change per op, under the op's number and WABA).
fn body(people: &[Person], ops: &[Op]) -> Vec<u8> {
    let entries: Vec<Value> = ops
        .iter()
        .map(|op| {
            let pn = NUMBERS[tenant_of(op)];
            let (contact, item, kind, _) = render(people, op);
            let mut value = json!({"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550100", "phone_number_id": pn}});
            if let Some(c) = contact {
                value["contacts"] = json!([c]);
            }
            let field = match kind {
                "smb_message_echoes" => {
                    value["message_echoes"] = json!([item]);
                    "smb_message_echoes"
                }
                "statuses" => {
                    value["statuses"] = json!([item]);
                    "messages"
                }
                _ => {
                    value["messages"] = json!([item]);
                    "messages"
                }
            };
            json!({"id": format!("9{pn}"), "changes": [{"field": field, "value": value}]})
        })
        .collect();
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": entries})).unwrap()
}

async fn check(people: Vec<Person>, bodies: Vec<(Vec<Op>, usize)>) -> Result<(), TestCaseError> {
    let mut app =
        spawn_app_with(&[("SWITCHBOARD_META_APP_SECRET", SECRET), ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1")])
            .await;
    let a = app.register("A", "a@a.test").await;
    let b = app.register("B", "b@b.test").await;
    app.create_account(&a.access, NUMBERS[0], None).await;
    app.create_account(&b.access, NUMBERS[1], None).await;
    let tenants = [a.tenant_id.parse::<uuid::Uuid>().unwrap(), b.tenant_id.parse::<uuid::Uuid>().unwrap()];

    // (tenant, wamid) of every message that must be stored exactly once.
    let mut want: HashSet<(usize, String)> = HashSet::new();
    let mut posts = 0;
    for (ops, times) in &bodies {
        let raw = body(&people, ops);
        for op in ops {
            if let (_, _, _, Some(w)) = render(&people, op) {
                want.insert((tenant_of(op), w));
            }
        }
        for _ in 0..*times {
            let res = app.post_webhook(&raw, SECRET).await;
            prop_assert_eq!(res.status(), reqwest::StatusCode::OK);
            posts += 1;
        }
    }
    // Up to a minute: a retried batch backs off, and CI runs many apps at once on two cores.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let events = loop {
        let all = webhook_events::Entity::find().all(&app.state.db).await.unwrap();
        if all.len() == posts && all.iter().all(|e| e.state != WebhookState::Pending) {
            break all;
        }
        if std::time::Instant::now() >= deadline {
            // What their jobs were doing, for the report.
            let jobs = jobs::Entity::find().all(&app.state.db).await.unwrap();
            prop_assert!(false, "events still pending: {:?}\njobs: {:?}", all, jobs);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    for e in &events {
        prop_assert_eq!(e.state, WebhookState::Processed, "event {:?}", e);
    }
    let stored = messages::Entity::find().all(&app.state.db).await.unwrap();
    let mut seen: HashMap<(uuid::Uuid, String), usize> = HashMap::new();
    for m in &stored {
        *seen.entry((m.tenant_id, m.wa_message_id.clone().unwrap_or_default())).or_default() += 1;
    }
    for (t, w) in &want {
        prop_assert_eq!(seen.get(&(tenants[*t], w.clone())).copied(), Some(1), "{} in tenant {}", w, t);
    }
    prop_assert_eq!(stored.len(), want.len(), "no message beyond those sent, none in the wrong tenant");
    // Each message's conversation and contact belong to its tenant.
    let convs: HashMap<uuid::Uuid, conversations::Model> =
        conversations::Entity::find().all(&app.state.db).await.unwrap().into_iter().map(|c| (c.id, c)).collect();
    let people_rows: HashMap<uuid::Uuid, contacts::Model> =
        contacts::Entity::find().all(&app.state.db).await.unwrap().into_iter().map(|c| (c.id, c)).collect();
    for m in &stored {
        let c = &convs[&m.conversation_id];
        prop_assert_eq!(c.tenant_id, m.tenant_id);
        prop_assert_eq!(people_rows[&c.contact_id].tenant_id, m.tenant_id);
    }
    // No dead job without its event failed (none failed here at all).
    let dead = jobs::Entity::find().filter(jobs::Column::State.eq(JobState::Dead)).all(&app.state.db).await.unwrap();
    prop_assert!(dead.is_empty(), "dead jobs: {:?}", dead);
    // Each case is a fresh app: give its connections back before the next one.
    app.stop().await;
    let _ = app.state.db.clone().close().await;
    Ok(())
}

#[test]
fn every_acknowledged_message_is_stored_once_in_its_tenant() {
    let cases = std::env::var("SWITCHBOARD_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runner.run(&scenario(), |(people, bodies)| rt.block_on(check(people, bodies))).unwrap_or_else(|e| panic!("{e}"));
}
