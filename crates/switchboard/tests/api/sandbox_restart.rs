//! The sandbox after a restart: the simulator lives in memory, Meta does not forget. A customer who
//! wrote before the restart can still be answered with free text (their 24-hour window is open).

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::db::DbOptions;
use switchboard::entities::messages;
use switchboard::startup::{Application, build_state};

use crate::helpers::*;

#[tokio::test]
async fn a_restarted_sandbox_keeps_the_customers_window_open() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let account = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{account}/sandbox/messages"),
            &json!({"from": "15550009999", "name": "Sam", "message": {"type": "text", "body": "Before the restart"}}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let wamid = res.json::<Value>().await.unwrap()["waMessageId"].as_str().unwrap().to_string();
    let conv = wait_for("the inbound message", || async {
        messages::Entity::find()
            .filter(messages::Column::WaMessageId.eq(wamid.as_str()))
            .one(&app.state.db)
            .await
            .unwrap()
            .map(|m| m.conversation_id)
    })
    .await;

    // The first process stops; a second one on the same database starts with a fresh, empty
    // simulator, restored at start-up.
    app.stop().await;
    let state = build_state(app.config.clone(), true, DbOptions::default()).await.unwrap();
    let mut config = app.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let restarted = Application::with_state(state.clone(), config.listen).await.unwrap();
    let base = format!("http://{}", restarted.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(restarted.run_until(async move {
        let _ = rx.await;
    }));
    let sim = &state.sandbox.as_ref().expect("sandbox on").sim;
    let number = sim.numbers().into_iter().next().expect("the sandbox number is registered again");
    assert!(sim.window_open(&number.phone_number_id, "15550009999"), "the customer's window survived");

    // And a free-text reply through the restarted node is accepted by Meta (no 131047).
    let res = reqwest::Client::new()
        .post(format!("{base}/api/conversations/{conv}/messages"))
        .bearer_auth(&a.access)
        .json(&json!({"type": "text", "text": {"body": "After the restart"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let sent = wait_for("the reply sent", || async {
        let m = messages::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap()).one(&state.db).await.unwrap()?;
        (m.wa_message_id.is_some() || m.error_code.is_some()).then_some(m)
    })
    .await;
    assert!(sent.error_code.is_none(), "reply failed with {:?} {:?}", sent.error_code, sent.error_title);
    let _ = tx.send(());
}
