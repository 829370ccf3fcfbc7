//! Browser tests: the real app on port 0 (SQLite, in-process meta-sim as the sandbox) driven in real
//! headless Chromium through chromedriver (W3C WebDriver, Debian's packages; nothing downloaded).
//!
//! Without chromium and chromedriver installed these tests say so and pass, so that `cargo test
//! --workspace` works on a machine with nothing but Rust; `.ci/run` installs both and sets
//! `SWITCHBOARD_BROWSER_TESTS=1`, which turns a missing browser into a failure.
//!
//! Screenshots of the main pages are written to `target/tmp/browser-screenshots/` (the path is
//! printed): they are the test's artefacts.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod webdriver;

use std::path::PathBuf;

use serde_json::json;
use webdriver::{Driver, Session};

fn required() -> bool {
    std::env::var("SWITCHBOARD_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

/// The browser, or `None` (and a note) when it is not installed and not required.
async fn browser(width: u32, height: u32) -> Option<(Driver, Session)> {
    let Some((browser, driver)) = webdriver::find_binaries() else {
        assert!(!required(), "SWITCHBOARD_BROWSER_TESTS=1 but chromium/chromedriver are not installed");
        eprintln!("browser tests skipped: install chromium and chromium-driver to run them");
        return None;
    };
    let d = Driver::start(&driver).await;
    let s = d.session(&browser, width, height).await;
    Some((d, s))
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(s: &Session, name: &str) {
    let p = shots().join(format!("{name}.png"));
    s.screenshot(&p).await;
    eprintln!("screenshot: {}", p.display());
}

/// Fills and submits the sign-up form, then signs in; lands on the accounts settings.
async fn sign_up(s: &Session, base: &str, company: &str, email: &str) {
    s.goto(&format!("{base}/signup")).await;
    for (name, value) in
        [("tenant_name", company), ("name", "Ana Admin"), ("email", email), ("password", helpers::PASSWORD)]
    {
        let e = s.wait(&format!("input[name=\"{name}\"]"), 10).await;
        s.type_text(&e, value).await;
    }
    let submit = s.wait("form[action=\"/signup\"] button[type=\"submit\"]", 5).await;
    s.click(&submit).await;
    // Sign-up answers alike for new and taken emails: the sign-in form, the email filled in.
    s.wait("[data-testid=\"form-notice\"]", 15).await;
    s.type_text(&s.wait("form[action=\"/login\"] input[name=\"password\"]", 5).await, helpers::PASSWORD).await;
    s.click(&s.wait("form[action=\"/login\"] button[type=\"submit\"]", 5).await).await;
    s.wait_js("the accounts page after sign-up", "return location.pathname === '/settings/accounts'", 15).await;
}

#[tokio::test]
async fn sign_up_sign_out_and_back_in() {
    let app = helpers::spawn_app().await;
    let Some((_d, s)) = browser(1280, 800).await else { return };
    let base = &app.base;

    // Signed out, the app sends the browser to the sign-in page, keeping where it wanted to go.
    s.goto(&format!("{base}/inbox")).await;
    s.wait("form[action=\"/login\"]", 10).await;
    let url = s.current_url().await;
    assert!(url.contains("/login?next=") && url.ends_with("inbox"), "{url}");
    shot(&s, "01-sign-in").await;

    // Wrong input is explained next to the field.
    s.goto(&format!("{base}/signup")).await;
    let email = s.wait("input[name=\"email\"]", 10).await;
    s.type_text(&email, "not-an-email").await;
    s.click(&s.wait("form[action=\"/signup\"] button[type=\"submit\"]", 5).await).await;
    let err = s.wait("#err-email", 10).await;
    assert!(s.text(&err).await.to_lowercase().contains("email"));

    sign_up(&s, base, "Browser Bakery", "ana@bakery.test").await;
    // The session lives in HttpOnly cookies: the page's script cannot read the tokens.
    let visible = s.script("return document.cookie", json!([])).await;
    let visible = visible.as_str().unwrap_or("");
    assert!(!visible.contains("sb_access") && !visible.contains("sb_refresh"), "tokens visible to script: {visible}");
    assert!(visible.contains("sb_csrf"));

    // Sign out, then back in.
    s.click(&s.wait("[data-testid=\"sign-out\"]", 5).await).await;
    s.wait("form[action=\"/login\"]", 10).await;
    s.goto(&format!("{base}/inbox")).await;
    s.wait("form[action=\"/login\"]", 10).await;
    s.type_text(&s.wait("input[name=\"email\"]", 5).await, "ana@bakery.test").await;
    s.type_text(&s.wait("input[name=\"password\"]", 5).await, helpers::PASSWORD).await;
    s.click(&s.wait("form[action=\"/login\"] button[type=\"submit\"]", 5).await).await;
    s.wait_js("the inbox after sign-in", "return location.pathname === '/inbox'", 15).await;
    s.quit().await;
}

#[tokio::test]
async fn sandbox_customer_to_live_inbox_and_back_with_ticks_and_theme() {
    let app = helpers::spawn_app().await;
    let Some((_d, s)) = browser(1280, 800).await else { return };
    let base = &app.base;
    sign_up(&s, base, "Live Coffee", "ana@coffee.test").await;
    shot(&s, "02-accounts-welcome").await;

    // A sandbox number in one click.
    s.click(&s.wait("[data-testid=\"add-sandbox\"]", 10).await).await;
    s.wait("[data-testid=\"account-row\"]", 15).await;
    shot(&s, "03-accounts-sandbox").await;

    // The inbox is open in this tab, the simulated customer in another.
    s.goto(&format!("{base}/inbox")).await;
    s.wait("main", 10).await;
    let inbox_tab = s.window().await;
    let sim_tab = s.new_tab().await;
    s.switch_to(&sim_tab).await;
    s.goto(&format!("{base}/sandbox")).await;
    s.wait("[data-testid=\"sim-number\"]", 10).await;
    let from = s.wait("[data-testid=\"sim-from\"]", 5).await;
    s.clear(&from).await;
    s.type_text(&from, "15550001111").await;
    s.type_text(&s.wait("[data-testid=\"sim-text\"]", 5).await, "Hello! Do you deliver oat milk lattes?").await;
    s.click(&s.wait("[data-testid=\"sim-send\"]", 5).await).await;

    // The message appears live in the inbox (no reload), with an unread badge.
    s.switch_to(&inbox_tab).await;
    let conv = s.wait("[data-testid=\"conversation\"]", 20).await;
    s.wait_js(
        "the unread badge",
        "const b = document.querySelector('[data-testid=\"conversation\"] [data-testid=\"unread\"]'); \
         return b && b.textContent.trim() === '1'",
        10,
    )
    .await;
    assert!(s.text(&conv).await.contains("oat milk"), "list item: {}", s.text(&conv).await);
    shot(&s, "04-inbox-new-conversation").await;

    // Open it, reply, and watch the ticks go to read.
    s.click(&conv).await;
    s.wait("[data-testid=\"message\"][data-direction=\"inbound\"]", 10).await;
    let composer = s.wait("[data-testid=\"composer\"]", 10).await;
    s.type_text(&composer, "Yes we do! Delivery in 20 minutes ☕").await;
    s.click(&s.wait("[data-testid=\"send\"]", 5).await).await;
    s.wait("[data-testid=\"message\"][data-direction=\"outbound\"]", 10).await;
    s.wait_js(
        "the reply's ticks to reach read",
        "const m = [...document.querySelectorAll('[data-testid=\"message\"][data-direction=\"outbound\"]')].pop(); \
         return m && m.dataset.status === 'read' && m.querySelector('[data-testid=\"ticks\"]') !== null",
        40,
    )
    .await;
    shot(&s, "05-inbox-conversation-read").await;

    // The customer received the reply.
    s.switch_to(&sim_tab).await;
    s.wait_js(
        "the reply in the customer's chat",
        "const t = document.querySelector('[data-testid=\"sim-thread\"]'); return t && t.innerText.includes('Delivery in 20 minutes')",
        20,
    )
    .await;
    shot(&s, "06-sandbox-customer").await;
    s.switch_to(&inbox_tab).await;

    // A theme change shows across the app.
    s.goto(&format!("{base}/settings/theme")).await;
    let color = s.wait("[data-testid=\"theme-color\"]", 10).await;
    s.script(
        "arguments[0].value = '#7c3aed'; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        json!([color.arg()]),
    )
    .await;
    let name = s.wait("input[name=\"theme.name\"]", 5).await;
    s.clear(&name).await;
    s.type_text(&name, "Coffee Desk").await;
    s.click(&s.wait("[data-testid=\"save-theme\"]", 5).await).await;
    s.wait_js(
        "the new brand color on the top bar",
        "return getComputedStyle(document.querySelector('.topbar')).backgroundColor === 'rgb(124, 58, 237)'",
        15,
    )
    .await;
    s.goto(&format!("{base}/inbox")).await;
    let bar = s.wait(".topbar", 10).await;
    let bg = s.css(&bar, "background-color").await;
    assert!(bg == "rgb(124, 58, 237)" || bg == "rgba(124, 58, 237, 1)", "top bar background {bg}");
    assert!(s.text(&s.wait("[data-testid=\"brand\"]", 5).await).await.contains("Coffee Desk"));
    shot(&s, "07-inbox-themed").await;

    // The other main pages render, and the inbox works at phone width.
    s.goto(&format!("{base}/dashboard")).await;
    s.wait("[data-testid=\"chart-messages\"]", 10).await;
    shot(&s, "08-dashboard").await;
    s.goto(&format!("{base}/templates")).await;
    s.wait("main h1", 10).await;
    shot(&s, "09-templates").await;
    s.goto(&format!("{base}/settings/plan")).await;
    s.wait("main h1", 10).await;
    shot(&s, "10-settings-plan").await;
    s.set_size(390, 844).await;
    s.goto(&format!("{base}/inbox")).await;
    s.wait("[data-testid=\"conversation\"]", 10).await;
    let overflow = s.script("return document.documentElement.scrollWidth <= window.innerWidth + 1", json!([])).await;
    assert_eq!(overflow, json!(true), "the inbox scrolls sideways at phone width");
    shot(&s, "11-inbox-phone").await;
    s.quit().await;
}

/// The element's value set by script, with the events a person's choice fires.
async fn choose(s: &Session, css: &str, value: &str) {
    let e = s.wait(css, 10).await;
    s.script(
        "arguments[0].value = arguments[1]; \
         arguments[0].dispatchEvent(new Event('input', {bubbles: true})); \
         arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
        json!([e.arg(), value]),
    )
    .await;
}

#[tokio::test]
async fn a_segment_then_a_campaign_to_sandbox_customers_with_a_live_funnel_paused_and_resumed() {
    let app = helpers::spawn_app().await;
    let Some((_d, s)) = browser(1280, 900).await else { return };
    let base = &app.base;
    sign_up(&s, base, "Campaign Cafe", "ana@cafe.test").await;
    s.click(&s.wait("[data-testid=\"add-sandbox\"]", 10).await).await;
    s.wait("[data-testid=\"account-row\"]", 15).await;

    // Through the API: a slow number (2 messages a second, so the campaign runs long enough to
    // pause), an approved utility template and 60 customers, 50 of them gold.
    let login =
        app.post("/api/auth/login", &json!({"email": "ana@cafe.test", "password": helpers::PASSWORD}), None).await;
    let token = login.json::<serde_json::Value>().await.unwrap()["accessToken"].as_str().unwrap().to_string();
    let accounts: serde_json::Value = app.get("/api/whatsapp-accounts", Some(&token)).await.json().await.unwrap();
    let account = accounts["data"][0].clone();
    let account_id = account["id"].as_str().unwrap().to_string();
    let res =
        app.patch(&format!("/api/whatsapp-accounts/{account_id}"), &json!({"throughputMps": 2}), Some(&token)).await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let tpl = json!({
        "whatsappAccountId": account_id, "name": "table_ready", "category": "UTILITY", "language": "en_US",
        "components": [{"type": "BODY", "text": "Hi {{1}}, your table is ready.", "example": {"body_text": [["Ann"]]}}]
    });
    let res = app.post("/api/templates", &tpl, Some(&token)).await;
    assert!(res.status().is_success());
    let template_id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    helpers::wait_for("the template approved", || async {
        let t: serde_json::Value =
            app.get(&format!("/api/templates/{template_id}"), Some(&token)).await.json().await.unwrap();
        (t["status"] == "APPROVED").then_some(())
    })
    .await;
    let mut csv = String::from("phone,name,tier\n");
    for i in 0..60 {
        csv.push_str(&format!("+491511000{i:04},Guest {i},{}\n", if i < 50 { "gold" } else { "silver" }));
    }
    let res = app.post_raw("/api/contacts/import", "text/csv", csv, Some(&token)).await;
    assert!(res.status().is_success());

    // A segment built in the page, counted before it is saved.
    s.goto(&format!("{base}/campaigns")).await;
    s.click(&s.wait("[data-testid=\"segments-link\"]", 10).await).await;
    s.type_text(&s.wait("[data-testid=\"segment-name\"]", 10).await, "Gold guests").await;
    choose(&s, ".seg-row [data-seg-field]", "attribute").await;
    s.type_text(&s.wait(".seg-row [data-seg-name]", 5).await, "tier").await;
    choose(&s, ".seg-row [data-seg-op]", "equals").await;
    s.type_text(&s.wait(".seg-row [data-seg-value]", 5).await, "gold").await;
    s.click(&s.wait("[data-testid=\"segment-preview\"]", 5).await).await;
    s.wait_js(
        "the live count",
        "const o = document.querySelector('[data-testid=\"segment-count\"]'); return o && o.dataset.count === '50'",
        10,
    )
    .await;
    shot(&s, "12-segment-builder").await;
    s.click(&s.wait("[data-testid=\"save-segment\"]", 5).await).await;
    s.wait("[data-testid=\"segment-row\"]", 10).await;

    // The campaign: template, values, the segment; the draft shows its audience before starting.
    s.goto(&format!("{base}/campaigns/new")).await;
    s.type_text(&s.wait("[data-testid=\"campaign-name\"]", 10).await, "Tables tonight").await;
    choose(&s, "[data-testid=\"campaign-template\"]", &template_id).await;
    let segment = s
        .script(
            "return document.querySelector('[data-testid=\"campaign-segment\"] option:last-child').value",
            json!([]),
        )
        .await;
    choose(&s, "[data-testid=\"campaign-segment\"]", segment.as_str().unwrap()).await;
    shot(&s, "13-campaign-new").await;
    s.click(&s.wait("[data-testid=\"create-campaign\"]", 5).await).await;
    let count = s.wait("[data-testid=\"audience-count\"]", 15).await;
    assert_eq!(s.text(&count).await, "50");
    assert_eq!(s.text(&s.wait("[data-testid=\"campaign-state\"]", 5).await).await, "draft");

    // Start, pause while it runs, resume; the funnel follows the statuses without a reload.
    s.script("window.confirm = () => true", json!([])).await;
    s.click(&s.wait("[data-testid=\"campaign-start\"]", 5).await).await;
    s.wait_js(
        "running",
        "const b = document.querySelector('[data-testid=\"campaign-state\"]'); return b && b.textContent === 'running'",
        15,
    )
    .await;
    s.click(&s.wait("[data-testid=\"campaign-pause\"]", 5).await).await;
    s.wait_js(
        "paused",
        "const b = document.querySelector('[data-testid=\"campaign-state\"]'); return b && b.textContent === 'paused'",
        15,
    )
    .await;
    let pending = s.text(&s.wait("[data-testid=\"funnel-pending\"]", 5).await).await;
    assert!(pending.parse::<u64>().unwrap() > 0, "paused with recipients still pending: {pending}");
    shot(&s, "14-campaign-paused").await;
    s.click(&s.wait("[data-testid=\"campaign-resume\"]", 5).await).await;
    s.wait_js(
        "every gold guest's message read, live",
        "const n = document.querySelector('[data-testid=\"funnel-read\"]'); return n && n.textContent.trim() === '50'",
        90,
    )
    .await;
    s.wait_js(
        "completed",
        "const b = document.querySelector('[data-testid=\"campaign-state\"]'); return b && b.textContent === 'completed'",
        15,
    )
    .await;
    shot(&s, "15-campaign-read").await;
    // meta-sim got exactly one message for each of the 50, none for the silver guests.
    let sim = &app.state.sandbox.as_ref().unwrap().sim;
    let mut per: std::collections::HashMap<String, usize> = Default::default();
    for m in sim.sent_messages(account["phoneNumberId"].as_str().unwrap()) {
        *per.entry(m.wa_id.clone()).or_default() += 1;
    }
    assert_eq!(per.len(), 50, "{per:?}");
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    assert!(per.keys().all(|w| w[9..].parse::<u32>().unwrap() < 50), "{per:?}");
    // Completed: nothing failed, so "Retry failed" retries nothing; "Duplicate" opens a new draft.
    s.wait("[data-testid=\"campaign-retry-failed\"]", 5).await;
    s.click(&s.wait("[data-testid=\"campaign-duplicate\"]", 5).await).await;
    s.wait_js(
        "the copy's page, a draft",
        "const b = document.querySelector('[data-testid=\"campaign-state\"]'); \
         return b && b.textContent === 'draft' && document.title.includes('(copy)')",
        15,
    )
    .await;
    shot(&s, "16-campaign-duplicated").await;
    let pn = account["phoneNumberId"].as_str().unwrap();
    assert_eq!(sim.sent_messages(pn).len(), 50, "a copy sends nothing");
    // A test of the draft copy to the first contact of its audience: one message, not a recipient.
    s.click(&s.wait("[data-testid=\"test-send\"] button[type=submit]", 5).await).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while sim.sent_messages(pn).len() < 51 {
        assert!(std::time::Instant::now() < deadline, "the test message was not sent");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sim.sent_messages(pn).len(), 51);
    s.quit().await;
}
