//! The Inbox and Sandbox pages (server-rendered, cookie session), their fragments, and the
//! customer's side of a sandbox chat (`GET /api/whatsapp-accounts/{id}/sandbox/messages`).

use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;
use switchboard::entities::{conversations, messages};

use crate::helpers::{TestApp, spawn_app, wait_for};

/// A browser: the access token in the `sb_access` cookie, redirects not followed.
struct Browser {
    client: reqwest::Client,
    base: String,
    access: Option<String>,
}

impl Browser {
    fn new(app: &TestApp, access: Option<&str>) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { client, base: app.base.clone(), access: access.map(str::to_string) }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let mut r = self.client.get(format!("{}{path}", self.base));
        if let Some(a) = &self.access {
            r = r.header("cookie", format!("sb_access={a}; sb_csrf=test-csrf"));
        }
        r.send().await.expect("request")
    }

    async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.text().await.unwrap()
    }
}

/// A sandbox number of the tenant; returns its id.
async fn sandbox_number(app: &TestApp, token: &str) -> String {
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(token)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

/// The simulated customer writes; returns the conversation id once the message is stored.
async fn customer_writes(app: &TestApp, token: &str, account: &str, from: &str, message: Value) -> String {
    let res = app
        .post(
            &format!("/api/whatsapp-accounts/{account}/sandbox/messages"),
            &json!({"from": from, "name": "Sam Sandbox", "message": message}),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let wamid = res.json::<Value>().await.unwrap()["waMessageId"].as_str().unwrap().to_string();
    wait_for("inbound message stored", || async {
        messages::Entity::find()
            .filter(messages::Column::WaMessageId.eq(wamid.as_str()))
            .one(&app.state.db)
            .await
            .unwrap()
    })
    .await
    .conversation_id
    .to_string()
}

#[tokio::test]
async fn inbox_and_sandbox_pages_are_for_admins_and_agents() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;

    // Signed out: to the sign-in page, coming back afterwards.
    for path in ["/inbox", "/sandbox", "/inbox/01900000-0000-7000-8000-000000000000"] {
        let res = Browser::new(&app, None).get(path).await;
        assert!(res.status().is_redirection(), "{path}: {}", res.status());
        let to = res.headers()["location"].to_str().unwrap();
        assert_eq!(to, format!("/login?next={path}"));
    }

    let page = Browser::new(&app, Some(&admin.access)).page("/inbox").await;
    assert!(page.contains(r#"id="inbox""#));
    assert!(page.contains("/static/inbox.js"));
    assert!(page.contains("No conversations yet"));
    // No sandbox number yet: one click creates one.
    let page = Browser::new(&app, Some(&admin.access)).page("/sandbox").await;
    assert!(page.contains(r#"data-testid="create-sandbox" data-action="POST /api/whatsapp-accounts/sandbox""#));

    let agent = app.user_with_role(&admin.tenant_id, "agent@acme.test", Role::Agent).await;
    let b = Browser::new(&app, Some(&agent));
    assert!(b.page("/inbox").await.contains(r#"id="inbox""#));
    // Agents cannot create numbers: the button is there but disabled, with the reason.
    let page = b.page("/sandbox").await;
    assert!(page.contains(r#"data-testid="create-sandbox" disabled"#));

    let billing = app.user_with_role(&admin.tenant_id, "bill@acme.test", Role::BillingAdmin).await;
    let b = Browser::new(&app, Some(&billing));
    for path in ["/inbox", "/sandbox", "/inbox/conversations/01900000-0000-7000-8000-000000000000/fragment"] {
        assert_eq!(b.get(path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn a_simulated_customer_appears_in_the_inbox_with_bubbles_and_fragments() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let account = sandbox_number(&app, &admin.access).await;
    let from = "15550001234";
    let conv = customer_writes(
        &app,
        &admin.access,
        &account,
        from,
        json!({"type": "text", "body": "Where is my <b>order</b>?"}),
    )
    .await;
    customer_writes(
        &app,
        &admin.access,
        &account,
        from,
        json!({"type": "location", "latitude": 38.7, "longitude": -9.1, "name": "HQ"}),
    )
    .await;
    customer_writes(
        &app,
        &admin.access,
        &account,
        from,
        json!({"type": "button_reply", "id": "yes", "title": "Yes please"}),
    )
    .await;
    let browser = Browser::new(&app, Some(&admin.access));

    // The list: the conversation with its unread badge, text escaped.
    let page = browser.page("/inbox").await;
    assert!(page.contains(&format!(r#"data-testid="conversation" data-id="{conv}""#)), "{page}");
    assert!(page.contains(r#"data-testid="unread" title="3 unread">3<"#), "{page}");
    assert!(page.contains("Sam Sandbox"));

    // The conversation: a bubble per message, the composer, the contact panel.
    let page = browser.page(&format!("/inbox/{conv}")).await;
    assert_eq!(page.matches(r#"data-testid="message""#).count(), 3);
    assert!(page.contains(r#"data-direction="inbound" data-status="received" data-kind="text""#));
    assert!(page.contains("Where is my &#60;b&#62;order&#60;/b&#62;?"), "customer text is escaped");
    assert!(!page.contains("<b>order</b>"));
    assert!(page.contains("https://www.openstreetmap.org/?mlat=38.7"), "location links to a map");
    assert!(page.contains("Yes please"), "interactive reply shown");
    assert!(page.contains(r#"data-testid="composer""#) && page.contains(r#"data-testid="send""#));
    assert!(!page.contains(r#"data-testid="window-closed""#), "the window is open");
    assert!(page.contains(r#"id="contact-form""#) && page.contains(r#"id="note-form""#));
    assert!(page.contains(&format!(r#"data-conversation="{conv}""#)));

    // The agent replies (the API); the bubble fragment has ticks and a status.
    let res = app
        .post(
            &format!("/api/conversations/{conv}/messages"),
            &json!({"type": "text", "text": {"body": "On its way!"}}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let reply = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let frag = browser.page(&format!("/inbox/{conv}/messages/{reply}/fragment")).await;
    assert!(frag.trim_start().starts_with("<li"), "{frag}");
    assert!(frag.contains(&format!(r#"data-testid="message" data-id="{reply}" data-direction="outbound""#)));
    assert!(frag.contains(r#"data-testid="ticks""#));
    assert!(["queued", "sent", "delivered", "read"].iter().any(|s| frag.contains(&format!(r#"data-status="{s}""#))));
    assert!(frag.contains("On its way!") && frag.contains("Ana Admin"));

    // The list item fragment, which answers 204 when the conversation is outside the filters.
    let item = browser.page(&format!("/inbox/conversations/{conv}/fragment?active={conv}")).await;
    assert!(item.contains(&format!(r#"data-testid="conversation" data-id="{conv}""#)));
    assert!(item.contains(r#"aria-current="true""#));
    let res = browser.get(&format!("/inbox/conversations/{conv}/fragment?status=resolved")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = browser.get(&format!("/inbox/conversations/{conv}/fragment?view=mine")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "unassigned is not mine");
    assert_eq!(browser.get(&format!("/inbox/conversations/{conv}/fragment?q=sam")).await.status(), StatusCode::OK);
    // Filters reach the list query too.
    assert!(!browser.page("/inbox?status=resolved").await.contains(&conv));
    assert!(browser.page("/inbox?view=unassigned&q=15550001").await.contains(&conv));

    // The customer's side: their messages, then the business's reply once the simulator got it.
    let api = format!("/api/whatsapp-accounts/{account}/sandbox/messages?waId={from}");
    let thread: Value = wait_for("the reply reaches the simulated customer", || async {
        let v: Value = app.get(&api, Some(&admin.access)).await.json().await.unwrap();
        v["data"].as_array().unwrap().iter().any(|i| i["from"] == "business").then_some(v)
    })
    .await;
    let items = thread["data"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{thread}");
    assert_eq!(items[0]["from"], "customer");
    assert_eq!(items[0]["text"], "Where is my <b>order</b>?");
    assert_eq!(items[1]["type"], "location");
    assert!(items[1]["link"].as_str().unwrap().contains("mlat=38.7"));
    assert_eq!(items[3]["from"], "business");
    assert_eq!(items[3]["text"], "On its way!");
    assert!(items[3]["waMessageId"].as_str().unwrap().starts_with("wamid."));

    // The sandbox page shows the same chat.
    let page = browser.page(&format!("/sandbox?account={account}&from={from}")).await;
    assert!(page.contains(r#"data-testid="sim-thread""#));
    assert!(page.contains(r#"select name="account" data-testid="sim-number""#));
    assert!(page.contains(r#"data-testid="sim-from" value="15550001234""#));
    assert!(page.contains(r#"<option value="15550001234" label="Sam Sandbox">"#), "known customers to pick");
    assert!(page.contains(r#"data-testid="sim-text""#) && page.contains(r#"data-testid="sim-send""#));
    assert!(page.contains("On its way!") && page.contains("Where is my &#60;b&#62;order"));
    let frag = browser.page(&format!("/sandbox/thread?account={account}&from={from}")).await;
    assert_eq!(frag.matches(r#"data-testid="sim-message""#).count(), 4);
    // Once the 24-hour window has closed, the page says why free text is disabled.
    conversations::Entity::update_many()
        .col_expr(conversations::Column::LastInboundAt, Expr::value(chrono::Utc::now() - chrono::Duration::hours(30)))
        .filter(conversations::Column::Id.eq(conv.parse::<uuid::Uuid>().unwrap()))
        .exec(app.state.writer())
        .await
        .unwrap();
    let page = browser.page(&format!("/inbox/{conv}")).await;
    assert!(
        page.contains(r#"data-testid="window-closed""#) && page.contains("24-hour customer-service window is closed")
    );
    assert!(page.contains(r#"data-testid="composer" rows="2""#));
    assert!(page.contains(r#"disabled aria-describedby="window-note""#));
    assert!(page.contains(r#"id="template-form" class="template-form" aria-label"#), "the template form is open");

    // A different customer has an empty chat.
    let frag = browser.page(&format!("/sandbox/thread?account={account}&from=15559999999")).await;
    assert!(frag.contains("No messages yet"));

    // The customer reacts to the reply: the reply's bubble shows it.
    let wamid = items[3]["waMessageId"].as_str().unwrap();
    customer_writes(
        &app,
        &admin.access,
        &account,
        from,
        json!({"type": "reaction", "message_id": wamid, "emoji": "👍"}),
    )
    .await;
    let frag = browser.page(&format!("/inbox/{conv}/messages/{reply}/fragment")).await;
    assert!(frag.contains(r#"data-testid="reactions""#) && frag.contains("👍"), "{frag}");
}

#[tokio::test]
async fn other_tenants_and_agents_get_404_for_conversations_they_cannot_see() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let account = sandbox_number(&app, &a.access).await;
    let conv = customer_writes(&app, &a.access, &account, "15550001111", json!({"type": "text", "body": "hi"})).await;
    let msg = messages::Entity::find()
        .filter(messages::Column::ConversationId.eq(conv.parse::<uuid::Uuid>().unwrap()))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let b = app.register("B", "b@b.test").await;
    let browser = Browser::new(&app, Some(&b.access));
    for path in [
        format!("/inbox/{conv}"),
        format!("/inbox/conversations/{conv}/fragment"),
        format!("/inbox/{conv}/messages/{msg}/fragment"),
        format!("/sandbox/thread?account={account}&from=15550001111"),
        "/inbox/not-a-uuid".to_string(),
    ] {
        assert_eq!(browser.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // B's own inbox does not list A's conversation, nor B's sandbox page A's number.
    assert!(!browser.page("/inbox").await.contains(&conv));
    assert!(!browser.page(&format!("/sandbox?account={account}")).await.contains(&account));
    // The customer's side over the API: 404 for B, 422 for a bad number.
    let api = format!("/api/whatsapp-accounts/{account}/sandbox/messages?waId=15550001111");
    let res = app.get(&api, Some(&b.access)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.get(&format!("/api/whatsapp-accounts/{account}/sandbox/messages?waId=12ab"), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = app.get(&api, Some(&a.access)).await.json().await.unwrap();
    assert_eq!(v["data"][0]["text"], "hi");
    // A real (non-sandbox) number has no simulated customer.
    let real = app.create_account(&a.access, "777000111", None).await;
    let res = app
        .get(
            &format!("/api/whatsapp-accounts/{}/sandbox/messages?waId=1555", real["id"].as_str().unwrap()),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A message of another conversation of the same tenant is not this conversation's.
    let other = customer_writes(&app, &a.access, &account, "15550002222", json!({"type": "text", "body": "yo"})).await;
    let mine = Browser::new(&app, Some(&a.access));
    assert_eq!(mine.get(&format!("/inbox/{other}/messages/{msg}/fragment")).await.status(), StatusCode::NOT_FOUND);

    // An agent does not see a conversation assigned to someone else.
    let agent = app.user_with_role(&a.tenant_id, "agent@a.test", Role::Agent).await;
    let res =
        app.patch(&format!("/api/conversations/{conv}"), &json!({"assigneeId": a.user_id}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let ab = Browser::new(&app, Some(&agent));
    assert_eq!(ab.get(&format!("/inbox/{conv}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(ab.get(&format!("/inbox/conversations/{conv}/fragment")).await.status(), StatusCode::NOT_FOUND);
    assert!(!ab.page("/inbox").await.contains(&conv));
    assert!(ab.page("/inbox").await.contains(&other));
}

#[tokio::test]
async fn earlier_messages_load_a_page_at_a_time() {
    use sea_orm::ActiveModelTrait;
    use switchboard::entities::enums::{Direction, MessageStatus};
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let account = sandbox_number(&app, &admin.access).await;
    let conv =
        customer_writes(&app, &admin.access, &account, "15550003333", json!({"type": "text", "body": "first"})).await;
    let tenant: uuid::Uuid = admin.tenant_id.parse().unwrap();
    let conv_id: uuid::Uuid = conv.parse().unwrap();
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    for i in 0..119 {
        let at = start + chrono::Duration::seconds(i);
        switchboard::messages::new_row(
            tenant,
            conv_id,
            Direction::Inbound,
            "text",
            json!({"body": format!("msg {i}")}),
            MessageStatus::Received,
            at,
        )
        .insert(app.state.writer())
        .await
        .unwrap();
    }
    let browser = Browser::new(&app, Some(&admin.access));
    let page = browser.page(&format!("/inbox/{conv}")).await;
    assert_eq!(page.matches(r#"data-testid="message""#).count(), 100);
    let cursor = page.split(r#"id="load-older" data-cursor=""#).nth(1).expect("an Earlier messages button");
    let cursor = &cursor[..cursor.find('"').unwrap()];
    let res = browser.get(&format!("/inbox/{conv}/messages/fragment?before={cursor}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-next-cursor").is_none(), "the last page");
    let frag = res.text().await.unwrap();
    assert_eq!(frag.matches(r#"data-testid="message""#).count(), 20);
    assert!(frag.contains("msg 0") && frag.contains("msg 19") && !frag.contains("msg 20<"));
    // Another tenant cannot page through it.
    let b = app.register("B", "b@b.test").await;
    let res =
        Browser::new(&app, Some(&b.access)).get(&format!("/inbox/{conv}/messages/fragment?before={cursor}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
